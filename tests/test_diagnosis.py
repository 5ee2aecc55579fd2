"""Cause labels from the evidence alone: every cause code, with the cases that
must get it and the look-alikes that must not. No TensorFlow: incidents are
built from the values an op received and produced, as the recorder would."""

import math
import re

import numpy as np
import pytest

from tb_nantrace import diagnosis
from tb_nantrace.proto import nantrace_pb2

INF, NAN = math.inf, math.nan
F32_MAX = 3.4028235e38


def tensor_stats(name, values, dtype="float32"):
    """The TensorStats the recorder writes for these values."""
    values = np.asarray(values, dtype=np.float64).ravel()
    stats = nantrace_pb2.TensorStats(name=name, dtype=dtype, shape=[values.size], size=values.size)
    stats.nan_count = int(np.isnan(values).sum())
    stats.posinf_count = int(np.isposinf(values).sum())
    stats.neginf_count = int(np.isneginf(values).sum())
    stats.zero_count = int((values == 0).sum())
    stats.negative_count = int((values < 0).sum())
    not_nan = values[~np.isnan(values)]
    if values.size:
        stats.min = float(not_nan.min()) if not_nan.size else NAN
        stats.max = float(not_nan.max()) if not_nan.size else NAN
    finite = np.abs(values[np.isfinite(values)])
    if finite.size:
        stats.max_abs_finite = float(finite.max())
        if (finite > 0).any():
            stats.min_abs_nonzero = float(finite[finite > 0].min())
    return stats


def make_incident(op, inputs, outputs, dtype="float32", out_dtype=None, phase="forward",
                  chain=(), cause=None):
    """An Incident of `op` whose inputs and outputs held these values.
    `chain`: op types of the origin's producers, nearest first, recorded
    as the incident's graph."""
    kinds = {"nan": any(math.isnan(v) for v in outputs), "inf": any(math.isinf(v) for v in outputs)}
    kind = "nan_and_inf" if all(kinds.values()) else ("inf" if kinds["inf"] else "nan")
    incident = nantrace_pb2.Incident(step=3, phase=phase, kind=kind)
    incident.op.type, incident.op.name = op, f"model/{op}"
    for i, values in enumerate(inputs):
        incident.inputs.append(tensor_stats(f"x{i}", values, dtype))
    incident.outputs.append(tensor_stats("y", outputs, out_dtype or dtype))
    name = incident.op.name
    incident.graph.nodes.add(name=name, type=op, state="origin")
    for i, producer in enumerate(chain):
        incident.graph.nodes.add(name=f"p{i}", type=producer, state="finite")
        incident.graph.edges.add(source=f"p{i}", target=name)
        name = f"p{i}"
    if cause:
        incident.cause.code, incident.cause.summary = cause
    return incident


def diagnosed(*args, **kwargs):
    return diagnosis.diagnose(make_incident(*args, **kwargs))


# (id, op, inputs, outputs, keyword arguments, code, evidence the summary must quote)
POSITIVE = [
    ("log_of_zero", "Log", [[0.5, 0.0]], [-0.69, -INF], {}, "log_of_nonpositive",
     r"input min 0\.0 → log\(0\.0\) = -inf \(1 of 2 values are exactly 0\)"),
    ("log1p_below_minus_one", "Log1p", [[-1.5]], [NAN], {}, "log_of_nonpositive", r"log1p\(-1\.5\) = nan"),
    ("xlogy_of_negative_y", "Xlogy", [[1.0], [-1.0]], [NAN], {}, "log_of_nonpositive", r"log\(-1\) = nan"),
    ("divide_by_zero", "RealDiv", [[1.0, 2.0], [0.0, 1.0]], [INF, 2.0], {}, "division_by_zero",
     r"1 of 2 values exactly 0.*x/0 = inf"),
    ("zero_over_zero", "RealDiv", [[0.0], [0.0]], [NAN], {}, "division_by_zero", r"0/0 = nan"),
    ("floor_division_by_zero", "FloorDiv", [[1.0, 0.0], [0.0, 0.0]], [INF, NAN], {}, "division_by_zero",
     r"2 of 2 values exactly 0.*x/0 = inf, 0/0 = nan"),
    ("sqrt_gradient_at_zero", "SqrtGrad", [[0.0, 1.0], [0.909, 0.5]], [INF, 0.25], {},
     "division_by_zero", r"dy·0\.5/0 = inf"),
    ("reciprocal_of_zero", "Reciprocal", [[0.0, 2.0]], [INF, 0.5], {}, "division_by_zero", r"1/0 = inf"),
    ("rsqrt_of_zero", "Rsqrt", [[0.0]], [INF], {}, "division_by_zero", r"1/sqrt\(0\) = inf"),
    ("xdivy_by_zero", "Xdivy", [[1.0], [0.0]], [INF], {}, "division_by_zero", r"x/0 = inf"),
    ("floormod_by_zero", "FloorMod", [[1.0], [0.0]], [NAN], {}, "division_by_zero", r"x mod 0 = nan"),
    ("acos_gradient_at_one", "Reciprocal", [[0.0]], [INF], {"chain": ["Sqrt", "Sub", "Square"]},
     "division_by_zero", r"1/0 = inf; 1/sqrt\(1 - x²\) is the gradient of acos/asin"),
    ("atanh_gradient_at_one", "Reciprocal", [[0.0]], [INF], {"chain": ["Sub", "Square"]},
     "division_by_zero", r"gradient of atanh"),
    ("zero_to_a_negative_power", "Pow", [[0.0, 4.0], [-0.5]], [INF, 0.5], {"phase": "backward"},
     "division_by_zero", r"0 \*\* -0\.5 = 1/0 = inf \(the gradient"),
    ("mean_of_empty_tensor", "Mean", [[]], [NAN], {}, "division_by_zero", r"empty tensor.*0/0 = nan"),
    ("float16_reciprocal_of_tiny", "Reciprocal", [[1e-5]], [INF], {"dtype": "float16"},
     "division_overflow", r"smallest non-zero \|divisor\| 1e-05 → \|result\| up to 1e\+05, over float16 max 65504"),
    ("divide_by_denormal", "RealDiv", [[2.0], [1e-39]], [INF], {}, "division_overflow",
     r"largest \|numerator\| 2 → \|result\| up to 2e\+39, over float32 max"),
    ("reciprocal_gradient_near_zero", "ReciprocalGrad", [[1e20], [1.0]], [-INF], {}, "division_overflow",
     r"dy·y\^2 with \|y\| up to 1e\+20 \(its x as close to 0 as 1e-20\)"),
    ("rsqrt_gradient_near_zero", "RsqrtGrad", [[1e13], [1.0]], [-INF], {}, "division_overflow",
     r"0\.5·dy·y\^3"),
    ("sqrt_of_negative", "Sqrt", [[-1.0, 4.0]], [NAN, 2.0], {}, "sqrt_of_negative",
     r"input min -1 < 0 → sqrt\(negative\) = nan"),
    ("rsqrt_of_negative", "Rsqrt", [[-4.0]], [NAN], {}, "sqrt_of_negative", r"rsqrt\(negative\)"),
    ("square_root_as_pow", "Pow", [[-2.0], [0.5]], [NAN], {}, "sqrt_of_negative", r"pow\(negative, 0\.5\)"),
    ("acos_above_one", "Acos", [[0.5, 1.5]], [1.05, NAN], {}, "domain_error",
     r"input range \[0\.5, 1\.5\] leaves \[-1, 1\] → acos\(x\) = nan"),
    ("asin_below_minus_one", "Asin", [[-1.2]], [NAN], {}, "domain_error", r"asin\(x\) = nan"),
    ("atanh_at_one", "Atanh", [[1.0]], [INF], {}, "domain_error", r"atanh\(±1\) = ±inf"),
    ("atanh_beyond_one", "Atanh", [[-1.5]], [NAN], {}, "domain_error", r"atanh\(x\) = nan for \|x\| > 1"),
    ("acosh_below_one", "Acosh", [[0.5]], [NAN], {}, "domain_error", r"input min 0\.5 < 1"),
    ("negative_base_fractional_power", "Pow", [[-2.0], [0.3]], [NAN], {}, "domain_error",
     r"base min -2 < 0 with exponent 0\.3"),
    ("negative_base_varying_power", "Pow", [[-2.0, 3.0], [0.5, 2.0]], [NAN, 9.0], {}, "domain_error",
     r"exponent in \[0\.5, 2\]"),
    ("lgamma_at_zero", "Lgamma", [[0.0, 3.0]], [INF, 0.69], {}, "domain_error",
     r"1 of 2 values exactly 0: lgamma has a pole at 0"),
    ("lgamma_at_negative_integer", "Lgamma", [[-2.0, 3.0]], [INF, 0.69], {}, "domain_error", r"pole at -2"),
    ("digamma_at_zero", "Digamma", [[0.0]], [NAN], {}, "domain_error", r"digamma has a pole at 0"),
    ("digamma_of_negatives", "Digamma", [[-3.5, -2.0, 1.0]], [0.3, NAN, -0.58], {}, "domain_error",
     r"2 of 3 values are negative"),
    ("polygamma_at_zero", "Polygamma", [[1.0], [0.0]], [INF], {}, "domain_error", r"pole at 0"),
    ("exp_overflow", "Exp", [[100.0]], [INF], {}, "exp_overflow", r"input max 100 > log\(float32 max\) = 88\.7"),
    ("float16_exp_overflow", "Exp", [[12.0]], [INF], {"dtype": "float16"}, "exp_overflow", r"= 11\.1"),
    ("cosh_of_large_negative", "Cosh", [[-100.0]], [INF], {}, "exp_overflow", r"largest \|x\| 100"),
    ("square_overflow", "Square", [[1.5e21]], [INF], {}, "float_overflow",
     r"largest \|x\| 1\.5e\+21.*squares it → \|result\| up to 2\.25e\+42, over float32 max"),
    ("square_within_rounding_of_the_max", "Square", [[1.5e19]], [INF], {}, "float_overflow",
     r"up to 2\.25e\+38, within rounding of float32 max"),
    ("float16_matmul_overflow", "MatMul", [[200.0] * 64, [100.0] * 32], [INF], {"dtype": "float16"},
     "float_overflow", r"sums up to 32 products.*float16 max 65504"),
    ("add_overflow", "AddV2", [[3e38], [3e38]], [INF], {}, "float_overflow", r"adds them"),
    ("mul_overflow", "Mul", [[1e20], [1e20]], [INF], {}, "float_overflow", r"up to 1e\+40"),
    ("sum_overflow", "Sum", [[1e38] * 10], [INF], {}, "float_overflow", r"sums up to 10 of them"),
    ("cast_to_float16", "Cast", [[1e5]], [INF], {"out_dtype": "float16"}, "float_overflow",
     r"converts it to float16"),
    ("pow_overflow", "Pow", [[1e20], [2.0]], [INF], {}, "float_overflow", r"raises it to the exponent"),
    ("lgamma_of_huge", "Lgamma", [[-2.5, 1e37]], [-0.06, INF], {}, "float_overflow", r"x·log\(x\)"),
    ("matmul_sums_overflowing_both_ways", "MatMul", [[1e30, -1e30], [1e30, 1e30]], [NAN], {},
     "float_overflow", r"sums up to 2 products"),
    ("unmodelled_op_at_the_max", "CustomKernel", [[1e37]], [3e37, INF], {}, "float_overflow",
     r"finite outputs up to 3e\+37.*likely went over it"),
    ("add_of_opposite_infinities", "AddV2", [[INF], [-INF]], [NAN], {}, "inf_minus_inf",
     r"x0 holds 1 \+inf and x1 holds 1 -inf; AddV2 adds them → inf \+ -inf = nan"),
    ("sub_of_equal_infinities", "Sub", [[INF, 1.0], [INF, 0.0]], [NAN, 1.0], {}, "inf_minus_inf",
     r"\+inf - \+inf = nan"),
    ("sum_of_both_infinities", "Sum", [[INF, -INF, 1.0]], [NAN], {}, "inf_minus_inf", r"Sum adds them"),
    ("softmax_of_fully_masked_row", "Softmax", [[-INF, -INF]], [NAN, NAN], {}, "inf_minus_inf",
     r"logits hold 2 -inf.*all -inf"),
    ("zero_times_inf", "Mul", [[0.0, 1.0], [INF, 2.0]], [NAN, 2.0], {}, "zero_times_inf",
     r"x0 holds 1 of 2 values exactly 0, x1 holds 1 inf → 0 \* inf = nan"),
    ("inf_over_inf", "RealDiv", [[INF], [INF]], [NAN], {}, "inf_over_inf", r"inf / inf = nan"),
    ("nan_passed_on", "Relu", [[NAN, 1.0]], [NAN, 1.0], {}, "unknown",
     r"Relu received non-finite inputs \(x0: min 1, max 1, 1 nan, 0 \+inf, 0 -inf\).*not checked"),
    ("inf_passed_on", "AddV2", [[INF], [1.0]], [INF], {}, "unknown", r"received non-finite inputs"),
    ("nonfinite_update", "AssignVariableOp", [], [NAN], {"phase": "optimizer",
     "cause": ("nonfinite_update", "Adam's update at step 3 made w non-finite")}, "nonfinite_update",
     r"Adam's update at step 3"),
    ("nonfinite_initial_state", "ReadVariableOp", [], [NAN], {"cause": (
        "nonfinite_initial_state", diagnosis.initial_state_summary("dense/kernel", "nan"))},
     "nonfinite_initial_state", r"dense/kernel already held nan before this step"),
]


@pytest.mark.parametrize("op, inputs, outputs, options, code, evidence",
                         [case[1:] for case in POSITIVE], ids=[case[0] for case in POSITIVE])
def test_each_mechanism_gets_its_code_and_quotes_the_evidence(op, inputs, outputs, options, code, evidence):
    cause = diagnosed(op, inputs, outputs, **options)
    assert cause.code == code, cause.summary
    assert re.search(evidence, cause.summary), cause.summary
    assert list(cause.fixes) == diagnosis.FIXES[code]


def test_a_nan_in_the_batch_is_blamed_on_the_data():
    incident = make_incident("IteratorGetNext", [], [1.0, NAN], phase="input")
    incident.input_location.tensor, incident.input_location.batch_index = "x", 7
    incident.input_location.feature_index.extend([2])
    cause = diagnosis.diagnose(incident)
    assert cause.code == "nan_in_input"
    assert "(x row 7, feature [2]): it came from the data" in cause.summary


def test_every_cause_code_has_fixes_and_a_positive_case():
    covered = {case[5] for case in POSITIVE} | {"nan_in_input"}
    assert covered == set(diagnosis.FIXES)
    assert all(diagnosis.FIXES[code] for code in covered)


def test_sqrt_gradient_at_zero_is_a_division_not_an_overflow():
    cause = diagnosed("SqrtGrad", [[0.0, 0.25], [0.909, 0.0]], [INF, 0.0])
    assert cause.code == "division_by_zero"
    assert "1 of 2 values exactly 0" in cause.summary


# Ops that got inf although their inputs are far too small to overflow:
# no rule may call that an overflow (and none here knows another mechanism).
SMALL_INPUTS = [
    ("Square", [[0.909]]), ("MatMul", [[0.909] * 4, [0.5] * 4]), ("Mul", [[0.909], [2.0]]),
    ("AddV2", [[0.909], [1.0]]), ("Sum", [[0.909] * 100]), ("Cast", [[0.909]]),
    ("Pow", [[0.909], [3.0]]), ("CustomKernel", [[0.909]]), ("Exp", [[50.0]]),
    ("SqrtGrad", [[1e-3], [0.909]]), ("RealDiv", [[0.909], [1e-3]]), ("ReciprocalGrad", [[1e3], [0.909]]),
    ("Lgamma", [[2.5]]), ("Square", [[1e18]]),
]


@pytest.mark.parametrize("op, inputs", SMALL_INPUTS, ids=[case[0] for case in SMALL_INPUTS])
def test_small_inputs_are_never_called_an_overflow(op, inputs):
    cause = diagnosed(op, inputs, [INF])
    assert cause.code == "unknown", cause.summary
    assert "from finite inputs (x0: min" in cause.summary


def test_an_unknown_cause_says_the_result_could_not_overflow():
    cause = diagnosed("Square", [[0.909]], [INF])
    assert re.search(r"at most 0\.8263, below float32 max .* not an overflow", cause.summary), cause.summary


# Look-alikes: the operand a rule looks for is there, but it cannot have made
# this result, so the rule must not claim it.
LOOK_ALIKES = [
    ("pow_of_negative_base_with_integer_exponent", "Pow", [[-2.0], [3.0]], [NAN], "domain_error"),
    ("acos_inside_its_domain", "Acos", [[-1.0, 1.0]], [NAN], "domain_error"),
    ("atanh_inside_its_domain", "Atanh", [[0.5]], [INF], "domain_error"),
    ("log_of_positive", "Log", [[0.5]], [INF], "log_of_nonpositive"),
    ("log_at_zero_but_result_is_nan", "Log", [[0.0, 1.0]], [NAN, 0.0], "log_of_nonpositive"),
    ("mod_of_infinities", "FloorMod", [[INF], [INF]], [NAN], "inf_over_inf"),
    ("sqrt_of_negative_but_result_is_inf", "Sqrt", [[-1.0]], [INF], "sqrt_of_negative"),
    ("division_by_non_zero", "RealDiv", [[1.0], [0.5]], [INF], "division_by_zero"),
    ("zero_divisor_but_result_is_nan_only", "RealDiv", [[1.0], [0.0]], [NAN], "division_by_zero"),
    ("divisor_not_near_zero", "RealDiv", [[1.0], [1e-3]], [INF], "division_overflow"),
    ("exp_of_moderate_value", "Exp", [[80.0]], [INF], "exp_overflow"),
    ("mul_of_inf_without_zero", "Mul", [[INF], [2.0]], [INF], "zero_times_inf"),
    ("add_of_one_sided_infinity", "AddV2", [[INF], [INF]], [INF], "inf_minus_inf"),
    ("nan_input_beside_infinities", "AddV2", [[NAN, INF], [-INF, 1.0]], [NAN, NAN], "inf_minus_inf"),
    ("inf_over_finite", "RealDiv", [[INF], [2.0]], [INF], "inf_over_inf"),
    ("nan_from_elementwise_add_is_no_overflow", "AddV2", [[3e38], [3e38]], [NAN], "float_overflow"),
]


def test_a_nan_that_an_overflow_cannot_make_is_not_blamed_on_overflow():
    cause = diagnosed("AddV2", [[3e38], [3e38]], [NAN])
    assert cause.code == "unknown"
    assert "can reach 6e+38, but an overflow gives inf, not nan" in cause.summary


@pytest.mark.parametrize("op, inputs, outputs, code", [case[1:] for case in LOOK_ALIKES],
                         ids=[case[0] for case in LOOK_ALIKES])
def test_a_rule_does_not_claim_a_result_its_evidence_cannot_explain(op, inputs, outputs, code):
    assert diagnosed(op, inputs, outputs).code != code


def test_contributing_warnings_are_kept():
    incident = make_incident("Log", [[0.0]], [-INF])
    incident.cause.contributing.extend(["saturated_probability"])
    assert list(diagnosis.diagnose(incident).contributing) == ["saturated_probability"]


@pytest.mark.parametrize("log_value, shown", [(math.log(2.25e42), "2.25e+42"), (math.log(10) * 400, "1e+400"),
                                              (math.log(0.5), "0.5")])
def test_magnitudes_beyond_any_float_are_still_printed(log_value, shown):
    assert diagnosis.fmt_log(log_value) == shown


# (id, producer chain of the Log op, nearest first; text the first fix must
# contain; text it must not contain).
LOG_PRODUCERS = [
    ("log_of_softmax", ("Softmax",), "CategoricalCrossentropy(from_logits=True)", "Binary"),
    ("log_of_clipped_softmax", ("ClipByValue", "Softmax"), "tf.nn.log_softmax(logits)", "Binary"),
    ("log_of_one_minus_sigmoid", ("Sub", "Sigmoid"), "BinaryCrossentropy(from_logits=True)", "Categorical"),
    ("log_of_sigmoid", ("Sigmoid",), "instead of log(sigmoid(x))", "Categorical"),
    # A softmax behind a layer's MatMul did not make the probability that was logged.
    ("softmax_behind_a_matmul", ("MatMul", "Softmax"), "after a softmax", "tf.nn.log_softmax(logits) instead"),
    ("no_graph", (), "BinaryCrossentropy after a sigmoid, CategoricalCrossentropy", "instead of log(sigmoid"),
]


@pytest.mark.parametrize("chain, wanted, unwanted", [case[1:] for case in LOG_PRODUCERS],
                         ids=[case[0] for case in LOG_PRODUCERS])
def test_log_fix_names_the_loss_that_fits_the_activation_before_it(chain, wanted, unwanted):
    cause = diagnosis.diagnose(make_incident("Log", [[0.5, 0.0]], [-0.69, -INF], chain=chain))
    assert cause.code == "log_of_nonpositive"
    assert wanted in cause.fixes[0] and unwanted not in cause.fixes[0], cause.fixes[0]
    assert len(cause.fixes) == len(diagnosis.FIXES["log_of_nonpositive"])


def test_log_summary_names_the_activation_it_found():
    cause = diagnosis.diagnose(make_incident("Log", [[0.0]], [-INF], chain=("Sub", "Sigmoid")))
    assert cause.summary.endswith("; the value comes from sigmoid p1")


def test_sigmoid_and_softmax_equally_near_give_the_fix_for_either():
    incident = make_incident("Log", [[0.0]], [-INF])
    for name, op_type in (("s", "Sigmoid"), ("m", "Softmax")):
        incident.graph.nodes.add(name=name, type=op_type, state="finite")
        incident.graph.edges.add(source=name, target=incident.op.name)
    cause = diagnosis.diagnose(incident)
    assert "BinaryCrossentropy after a sigmoid, CategoricalCrossentropy" in cause.fixes[0]

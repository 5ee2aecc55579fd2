"""The early-warning rules on hand-made health rows: each warning code fires on
the pattern it names and stays quiet on the near misses. No TensorFlow."""

import math

import numpy as np
import pytest

from tb_nantrace import early_warnings

NAN = math.nan


def findings(columns, dtype="float32"):
    """evaluate() on {(metric, layer): series}, steps 100, 101, ..."""
    length = len(next(iter(columns.values())))
    rows = np.array([series for series in columns.values()], dtype=np.float64).T
    metrics = [metric for metric, _ in columns]
    layers = [layer for _, layer in columns]
    return early_warnings.evaluate(metrics, layers, np.arange(100, 100 + length), rows, dtype)


def codes(columns, dtype="float32"):
    return [finding.code for finding in findings(columns, dtype)]


RELU = {("act_zero_frac", "dense"): [0.5] * 8}

# (id, columns, dtype, code, message the finding must contain, its step)
POSITIVE = [
    ("gradient_burst", {("grad_norm", ""): [1, 1, 2, 8, 32, 256]}, "float32",
     "exploding_gradient", "grew 128x in 3 steps (2 at step 102 → 256 at step 105), at least 2x", 105),
    ("gradient_sustained_growth", {("grad_norm", ""): [1.3 ** k for k in range(12)]}, "float32",
     "exploding_gradient", "in 10 steps (1 at step 100 → 10.6 at step 109), rising on 100%", 109),
    ("features_on_different_scales", {("input_scale_spread", ""): [10, 5000], ("input_max_abs", ""): [1, 50]},
     "float32", "unscaled_inputs", "differ in scale by 5e+03x (largest |x| 50)", 101),
    ("large_inputs", {("input_scale_spread", ""): [10, 10], ("input_max_abs", ""): [1, 2000]},
     "float32", "unscaled_inputs", "largest |x| 2e+03", 101),
    ("large_updates", {("update_ratio", "dense"): [0.01, 0.2, 0.3, 0.5, 0.01]}, "float32",
     "high_learning_rate", "layer dense's weights by 0.5 of their norm for 3 steps", 103),
    ("saturated_sigmoid", {("saturated", "out"): [0, NAN, 4]}, "float32",
     "saturated_probability", "4 outputs of layer out are exactly 0 or 1", 102),
    ("dead_relu", {**RELU, ("act_max_abs", "dense"): [1, 0, 0, 0, 0, 0, 1, 1]}, "float32",
     "dead_relu", "ReLU layer dense has been exactly 0 for 5 steps", 105),
    ("activation_near_float32_max", {("act_max_abs", "big"): [1.0, 1e38]}, "float32",
     "approaching_overflow", "largest |activation| of layer big is 1e+38, 29% of the float32 max", 101),
    ("activation_near_float16_max", {("act_max_abs", "big"): [7000.0]}, "float16",
     "approaching_overflow", "11% of the float16 max", 100),
]


@pytest.mark.parametrize("columns, dtype, code, message, step", [case[1:] for case in POSITIVE],
                         ids=[case[0] for case in POSITIVE])
def test_each_warning_fires_on_its_pattern_with_the_numbers(columns, dtype, code, message, step):
    found = [finding for finding in findings(columns, dtype) if finding.code == code]
    assert len(found) == 1, found
    assert message in found[0].message, found[0].message
    assert found[0].step == step
    assert found[0].evidence_steps and found[0].evidence_values


def test_every_warning_code_has_a_positive_case():
    assert {case[3] for case in POSITIVE} == set(early_warnings.CODES)


# (id, columns, dtype): one step short of, or just beside, each pattern.
NEAR_MISSES = [
    ("steady_gradient", {("grad_norm", ""): [1.0] * 20}, "float32"),
    ("burst_of_two_steps", {("grad_norm", ""): [1, 1, 10, 100, 100, 100]}, "float32"),
    ("growth_that_zigzags", {("grad_norm", ""): [1, 3, 2, 4, 3, 5, 4, 6, 5, 12, 11, 10]}, "float32"),
    ("growth_measured_from_zero", {("grad_norm", ""): [0, 0, 0, 10, 1000, 100000]}, "float32"),
    ("growth_of_a_layer_gradient", {("grad_norm", "dense"): [1, 1, 1, 3, 9, 27, 300]}, "float32"),
    ("growth_through_nan", {("grad_norm", ""): [1, 3, NAN, 27, 300]}, "float32"),
    ("scaled_inputs", {("input_scale_spread", ""): [10, 999], ("input_max_abs", ""): [1, 999]}, "float32"),
    ("spread_without_magnitude_column", {("input_scale_spread", ""): [5000.0]}, "float32"),
    ("large_updates_for_two_steps", {("update_ratio", "dense"): [0.2, 0.3, 0.01, 0.2, 0.3]}, "float32"),
    ("no_saturated_outputs", {("saturated", "out"): [0, NAN, 0]}, "float32"),
    ("relu_dead_for_four_steps", {**RELU, ("act_max_abs", "dense"): [1, 0, 0, 0, 0, 1, 0, 1]}, "float32"),
    ("zero_outputs_without_relu", {("act_max_abs", "linear"): [0.0] * 8}, "float32"),
    ("activation_far_from_max", {("act_max_abs", "big"): [1e3, 1e30, NAN]}, "float32"),
    ("activation_below_a_tenth_of_float16_max", {("act_max_abs", "big"): [6000.0]}, "float16"),
]


@pytest.mark.parametrize("columns, dtype", [case[1:] for case in NEAR_MISSES],
                         ids=[case[0] for case in NEAR_MISSES])
def test_no_warning_on_a_near_miss(columns, dtype):
    assert codes(columns, dtype) == []


def test_no_rows_give_no_warnings():
    assert early_warnings.evaluate(["grad_norm"], [""], [], np.zeros((0, 1))) == []

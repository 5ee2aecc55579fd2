"""Why an op produced NaN/Inf, from the recorded evidence alone.

Pure Python on the Incident proto: the recorder calls it for the message it
prints, and it needs nothing the viewer lacks.
"""

import math


from tb_nantrace.proto import nantrace_pb2

LOG_OPS = {"Log", "Log1p", "Xlogy", "Xlog1py", "Lgamma", "Digamma"}
DIV_OPS = {"RealDiv", "Div", "FloorDiv", "TruncateDiv", "Reciprocal", "Inv", "Xdivy",
           "FloorMod", "Mod", "DivNoNan"}
SQRT_OPS = {"Sqrt", "Rsqrt", "Pow"}
EXP_OPS = {"Exp", "Expm1", "Softplus"}

FIXES = {
    "log_of_nonpositive": [
        "Compute the loss from logits: use the built-in loss with from_logits=True "
        "(e.g. keras.losses.BinaryCrossentropy(from_logits=True)) instead of log(sigmoid(x)).",
        "If you must take log(p), clip first: log(clip(p, eps, 1 - eps)) or log(p + eps).",
        "Check the inputs are scaled: saturated probabilities often come from unscaled features.",
    ],
    "division_by_zero": [
        "Guard the divisor: x / (d + eps), tf.math.divide_no_nan, or tf.maximum(d, eps).",
        "Find out why the divisor reaches zero (dead ReLU outputs, an empty batch, a constant feature).",
    ],
    "sqrt_of_negative": [
        "Clamp the argument: sqrt(maximum(x, 0) + eps); the gradient of sqrt at 0 is infinite, so add eps.",
    ],
    "exp_overflow": [
        "Keep the exponent bounded: scale the inputs, lower the learning rate, or clip the pre-activation.",
        "Work in log space (log-link losses on logits, tf.math.reduce_logsumexp, softplus instead of log(1+exp(x))).",
    ],
    "float_overflow": [
        "Lower the learning rate and clip gradients (optimizer clipnorm=1.0).",
        "Scale inputs and targets to unit variance.",
        "Under mixed precision, keep this computation in float32 (dtype='float32' on the layer).",
    ],
    "nan_in_input": [
        "Clean the data: drop or impute NaN/Inf rows before training (np.isfinite(x).all(axis=1)).",
        "Add tf.debugging.assert_all_finite in the input pipeline to catch bad files early.",
    ],
    "nonfinite_update": [
        "Check the optimizer's epsilon: Adam/RMSprop with epsilon=0 divide 0 by 0 wherever a "
        "gradient is exactly 0 (e.g. a dead unit); keep the default 1e-7 or larger.",
        "Lower the learning rate and clip gradients (optimizer clipnorm=1.0): an update can overflow "
        "the weights even when every gradient is finite.",
        "Record with mode=\"exact\" to name the optimizer op (the guard cannot replay an update: "
        "the weights it overwrote are gone).",
    ],
    "nonfinite_initial_state": [
        "The weights were already NaN/Inf before this run: reload a healthy checkpoint or re-initialise.",
        "Find the earlier run that corrupted them (record it with nantrace).",
    ],
    "unknown": [
        "Look at the op's inputs below and at the steps before the incident.",
        "Lower the learning rate and add gradient clipping to see whether the incident moves.",
    ],
}

DTYPE_MAX = {"float16": 65504.0, "bfloat16": 3.3895e38, "float32": 3.4028235e38,
             "float64": 1.7976931348623157e308}


def fmt(value):
    if value is None:
        return "?"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0.0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.3g}"
    return f"{value:.4g}"


def _min(stats):
    return stats.min if stats.HasField("min") else None


def _max(stats):
    return stats.max if stats.HasField("max") else None


def _float_inputs(incident):
    return [s for s in incident.inputs if s.dtype.startswith(("float", "bfloat", "half"))]


def _describe_input(stats):
    return f"{stats.name or 'input'}: min {fmt(_min(stats))}, max {fmt(_max(stats))}"


def nonfinite_update_summary(optimizer, step, learning_rate, settings, variable, bad, size,
                             others=()):
    """The cause of a finite-gradient update that left a weight non-finite."""
    shown = ", ".join(f"{name}={value!r}" for name, value in settings.items())
    return (
        f"{optimizer}'s update at step {step} (learning rate {learning_rate:g}"
        + (f", {shown}" if shown else "") + f") made {variable} non-finite "
        f"({bad} of {size} values) although the loss and every gradient were finite"
        + (f"; also {', '.join(others)}" if others else "")
    )


def initial_state_summary(variable, kind):
    """The cause when a weight was non-finite before recording began."""
    return (f"variable {variable} already held {kind} before this step: "
            "the model's state was corrupted before recording began")


def diagnose(incident):
    """Return a Cause for the incident (code, summary with the evidence, fixes)."""
    code, summary = _classify(incident)
    cause = nantrace_pb2.Cause(code=code, summary=summary)
    cause.contributing.extend(incident.cause.contributing)
    cause.fixes.extend(FIXES.get(code, FIXES["unknown"]))
    return cause


def _classify(incident):
    op_type = incident.op.type
    inputs = _float_inputs(incident)
    if incident.phase == "input":
        loc = incident.input_location
        where = f"row {loc.batch_index}" + (
            f", feature {list(loc.feature_index)}" if len(loc.feature_index) else ""
        )
        return "nan_in_input", (
            f"The input batch already contains {incident.kind.replace('_', ' and ')} "
            f"({loc.tensor or 'x'} {where}): it came from the data, not the model."
        )
    if incident.cause.code in ("nonfinite_initial_state", "nonfinite_update"):
        return incident.cause.code, incident.cause.summary
    nonfinite_inputs = [s for s in inputs if s.nan_count or s.posinf_count or s.neginf_count]
    if nonfinite_inputs:
        return "unknown", (
            f"{op_type} received non-finite inputs ({_describe_input(nonfinite_inputs[0])}); "
            "the value came from an op that was not checked."
        )
    if op_type in LOG_OPS and inputs:
        arg = inputs[-1] if op_type in ("Xlogy", "Xlog1py") else inputs[0]
        low = _min(arg)
        if low is not None and low <= (-1.0 if op_type == "Log1p" else 0.0):
            value = "-inf" if low == (-1.0 if op_type == "Log1p" else 0.0) else "nan"
            shown = "log1p" if op_type == "Log1p" else "log"
            return "log_of_nonpositive", (
                f"input min {fmt(low)} → {shown}({fmt(low)}) = {value}"
                + (f" ({arg.zero_count} of {arg.size} values are exactly 0)" if arg.zero_count else "")
            )
    if op_type in DIV_OPS and len(inputs) >= 1:
        divisor = inputs[-1]
        if divisor.zero_count:
            numerator = inputs[0] if len(inputs) > 1 else None
            zero_over_zero = numerator is not None and numerator.zero_count
            result = "0/0 = nan" if zero_over_zero and incident.kind != "inf" else "x/0 = inf"
            return "division_by_zero", (
                f"divisor {divisor.name or ''} has {divisor.zero_count} of {divisor.size} values "
                f"exactly 0 (min |d| {fmt(divisor.min_abs_nonzero) if divisor.HasField('min_abs_nonzero') else '0.0'}) → {result}"
            )
    if op_type in SQRT_OPS and inputs and (_min(inputs[0]) or 0) < 0:
        return "sqrt_of_negative", (
            f"input min {fmt(_min(inputs[0]))} < 0 → {op_type.lower()}(negative) = nan"
        )
    if op_type in EXP_OPS and inputs:
        high = _max(inputs[0])
        limit = math.log(DTYPE_MAX.get(inputs[0].dtype, DTYPE_MAX["float32"]))
        if high is not None and high > limit:
            return "exp_overflow", (
                f"input max {fmt(high)} > log({inputs[0].dtype} max) = {limit:.1f} → exp overflows to inf"
            )
    outputs_dtype = incident.outputs[0].dtype if incident.outputs else (
        inputs[0].dtype if inputs else "float32")
    if inputs and incident.kind in ("inf", "nan_and_inf", "nan"):
        biggest = max((s.max_abs_finite for s in inputs if s.HasField("max_abs_finite")), default=None)
        limit = DTYPE_MAX.get(outputs_dtype)
        if limit is not None and biggest is not None:
            return "float_overflow", (
                f"all inputs finite (largest |x| {fmt(biggest)}), but {op_type} gives a result beyond "
                f"{outputs_dtype} max {limit:g} → {incident.kind.replace('_', ' and ')}"
            )
    return "unknown", f"{op_type} produced {incident.kind} from finite inputs."




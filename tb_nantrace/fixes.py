"""What to try for each cause code: FIXES maps a Cause.code to the fix texts
the recorder prints and the viewer shows ("unknown" is the fallback), and
fixes_for picks them by the evidence (a log of a softmax output needs the
categorical loss, of a sigmoid output the binary one).

Plain data, no TensorFlow and no other tb_nantrace import: diagnosis.py
attaches these to the Cause it builds.
"""

FIXES = {
    "log_of_nonpositive": [
        "Compute the loss from logits with the built-in loss and from_logits=True: "
        "BinaryCrossentropy after a sigmoid, CategoricalCrossentropy or "
        "SparseCategoricalCrossentropy after a softmax (or log_softmax), instead of log(p).",
        "If you must take log(p), clip first: log(clip(p, eps, 1 - eps)) or log(p + eps).",
        "Check the inputs are scaled: saturated probabilities often come from unscaled features.",
    ],
    "division_by_zero": [
        "Guard the divisor: x / (d + eps), tf.math.divide_no_nan, or tf.maximum(d, eps).",
        "Find out why the divisor reaches zero (dead ReLU outputs, an empty batch, a constant feature).",
        "In a gradient (SqrtGrad, Reciprocal of sqrt(1 - x²)): sqrt, norms, acos and asin have an "
        "infinite slope at 0 or ±1; add eps inside (sqrt(x + eps), clip to [-1 + eps, 1 - eps]).",
    ],
    "division_overflow": [
        "Guard the divisor with an eps large enough for the dtype: x / (d + eps) "
        "(in float16, 1/d overflows for |d| below about 1.5e-5).",
        "Under mixed precision, keep this computation in float32 (dtype='float32' on the layer).",
        "Find out why the divisor gets this close to zero (a vanishing norm or variance).",
    ],
    "sqrt_of_negative": [
        "Clamp the argument: sqrt(maximum(x, 0) + eps); the gradient of sqrt at 0 is infinite, so add eps.",
    ],
    "domain_error": [
        "Keep the argument inside the function's domain: clip acos/asin to [-1 + eps, 1 - eps], "
        "atanh to [-1 + eps, 1 - eps], acosh to [1 + eps, inf).",
        "pow(x, p) with a non-integer p needs x >= 0: pow(maximum(x, 0) + eps, p), "
        "or sign(x) * pow(abs(x), p).",
        "lgamma, digamma and polygamma are infinite at 0 and at the negative integers: "
        "keep their argument positive (e.g. softplus(x) + eps).",
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
    "inf_minus_inf": [
        "Mask with a large finite value (e.g. -1e9, or the dtype's min) instead of -inf: a row "
        "whose every position is masked gives softmax(-inf - -inf) = nan.",
        "Find where the infinities come from (a constant inf, an overflow in an op that was not checked).",
    ],
    "zero_times_inf": [
        "Select instead of multiplying by a mask: tf.where(mask, x, 0) rather than x * mask "
        "when x can be inf (tf.math.multiply_no_nan also gives 0 for 0 * inf).",
        "Find where the infinity comes from (a constant inf, an overflow in an op that was not checked).",
    ],
    "inf_over_inf": [
        "Normalise in log space: softmax or x - reduce_logsumexp(x) instead of exp(x) / sum(exp(x)).",
        "Find where numerator and divisor became inf (an overflow in an op that was not checked).",
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


# The first fix of log_of_nonpositive, by what produced the probability
# (evidence.probability_producer); FIXES has the one for when the graph does
# not say.
FROM_LOGITS = {
    "sigmoid": (
        "Compute the loss from logits: use the built-in loss with from_logits=True "
        "(e.g. keras.losses.BinaryCrossentropy(from_logits=True)) instead of log(sigmoid(x))."),
    "softmax": (
        "Compute the loss from logits: remove the softmax (activation=None) and use "
        "keras.losses.CategoricalCrossentropy(from_logits=True), or "
        "SparseCategoricalCrossentropy(from_logits=True) for integer labels; in a hand-written "
        "loss, tf.nn.log_softmax(logits) instead of log(softmax(logits))."),
}


def fixes_for(code, producer=None):
    """The fix texts for `code`; for log_of_nonpositive the first one fits
    `producer` ("sigmoid", "softmax" or None)."""
    fixes = list(FIXES.get(code, FIXES["unknown"]))
    if code == "log_of_nonpositive" and producer in FROM_LOGITS:
        fixes[0] = FROM_LOGITS[producer]
    return fixes

"""(a) bce_saturation: hand-written binary cross-entropy on a saturated sigmoid.

What goes wrong
    A churn classifier on two raw features: tenure (scale ~1) and monthly spend
    in dollars (scale ~1000, NOT standardized). The loss is binary cross-entropy
    written out by hand, -(y*log(p) + (1-y)*log(1-p)), on a sigmoid output.

    Because spend is in the hundreds, the hidden ReLU units and the logit are
    large: the untrained model is "sure" nobody churns (logits -81..-12, so p
    is tiny but never exactly 0). Adam moves each weight by ~lr=1e-3 per step,
    which, multiplied by a feature in the thousands, moves the logits by whole
    units per step: the batch's largest logit climbs from -12 (step 0) to +1.8
    (step 11), then jumps to 33.2 at step 12 (that batch's logits span 2.2..33.2).

    In float32, sigmoid(z) rounds to exactly 1.0 for z >= 16.64 (and to exactly
    0.0 only for z <= -87.34, which never happens here). So at step 12
    1 - y_pred == 0.0 for some rows and log(0) = -inf. A saturated row with
    label 0 gets loss +inf; one with label 1 would get 0 * -inf = NaN.

Where the first non-finite value appears (TF 2.21 / Keras 3.15, CPU; every run)
    step:   12   (0-based; optimizer.iterations when the step began)
    phase:  forward
    op:     Log  -- graph op "compile_loss/handwritten_bce/Log_1", value -inf
            (Log_1 is the second log; the first, log(y_pred), stays finite)
    where:  the loss function `handwritten_bce` (not a layer)
    source: demo/bce_saturation.py:60   log_not_p = ops.log(1.0 - y_pred)

    What a plain fit shows: per-batch loss 33.3 ... 0.85 for steps 0-11, +inf at
    step 12 (the backward pass of step 12 turns every weight into NaN), NaN
    from step 13 on; History.history["loss"] is NaN for every epoch.

Fix: see healthy.py -- standardize the features and use the built-in
BinaryCrossentropy(from_logits=True) on a linear output.
"""

import numpy as np
import keras
from keras import layers, ops

import tb_nantrace as nantrace
from demo._common import source_ref

NAME = "bce_saturation"
SEED = 21


def make_data(rng, n=512):
    """Churn-style data: tenure (scale ~1) and monthly spend in dollars (scale ~1000)."""
    tenure = rng.normal(0.0, 1.0, size=n)
    spend = rng.normal(1000.0, 300.0, size=n)
    logit = 1.5 * tenure + 0.006 * (spend - 1000.0) + 0.3 * rng.normal(size=n)
    x = np.stack([tenure, spend], axis=1).astype("float32")
    y = (logit > 0).astype("float32").reshape(-1, 1)
    return x, y


def handwritten_bce(y_true, y_pred):
    """-(y*log(p) + (1-y)*log(1-p)), written out by hand: no clipping, no logits."""
    log_p = ops.log(y_pred)
    log_not_p = ops.log(1.0 - y_pred)  # -inf as soon as y_pred rounds to exactly 1.0
    return -(y_true * log_p + (1.0 - y_true) * log_not_p)


def build():
    keras.utils.set_random_seed(SEED)
    rng = np.random.RandomState(SEED)
    x, y = make_data(rng)  # NOT standardized: column 1 is in the hundreds/thousands
    model = keras.Sequential(
        [
            layers.Input(shape=(2,), name="features"),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(1, activation="sigmoid", name="output"),
        ],
        name=NAME,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=handwritten_bce,
        metrics=["accuracy"],
    )
    return model, x, y, dict(batch_size=32, epochs=4, verbose=0)


def main(logdir=f"demo/logs/{NAME}", **record_options):
    model, x, y, fit_kwargs = build()
    with nantrace.record(logdir, **record_options):
        history = model.fit(x, y, **fit_kwargs)
    return history


# Where the first non-finite value appears (see the docstring); tests can
# compare a recorded incident against it.
EXPECTED = {
    "step": 12,
    "phase": "forward",
    "op_type": "Log",
    "op_name": "compile_loss/handwritten_bce/Log_1",
    "layer": None,
    "loss_function": "handwritten_bce",
    "value": "-inf",
    "source": source_ref(__file__, "log_not_p = ops.log(1.0 - y_pred)"),
    # innermost demo/ frame of the op's creation stack when run through main()
    "innermost_demo_frame": source_ref(__file__, "log_not_p = ops.log(1.0 - y_pred)"),
}


if __name__ == "__main__":
    main()

"""(d) mae_div_zero: an MAE normalised by the mean prediction, whose ReLU output dies.

What goes wrong
    Daily rainfall regression: ~70% of the days are dry (exactly 0 mm). The
    model has a ReLU output (rain can't be negative) and a custom "scale-free
    MAE": mean|y_true - y_pred| divided by the batch's mean |y_pred|, the
    divisor wrapped in stop_gradient as a normalising constant.

    MAE is minimised by the median, and the median of a 70%-zero target is 0:
    every dry day pushes its prediction down. The divisor is a constant to the
    gradient, so the gradients grow like 1/mean|y_pred| as the predictions
    shrink (Adam's slowly adapting second moment absorbs only part of that).
    With a ReLU output the predictions do not approach 0, they reach it
    exactly: the number of positive predictions in the batch is 24 of 32 at
    step 0, 15-17 at steps 2-4, 4-10 at steps 5-9, 3 at step 10 and 0 at
    step 11. At step 11 every prediction in the batch is exactly 0.0, the
    divisor is exactly 0.0 and mae / 0 = +inf (mae > 0: the batch has wet
    days).

    (Without the stop_gradient this loss does not fail: the gradient through
    the divisor pushes predictions up, since a larger mean |y_pred| lowers the
    ratio. Detaching the divisor removes that guard.)

Where the first non-finite value appears (TF 2.21 / Keras 3.15, CPU; every run)
    step:   11   (0-based; optimizer.iterations when the step began)
    phase:  forward
    op:     RealDiv -- graph op "compile_loss/relative_mae/truediv", value +inf
    where:  the loss function `relative_mae` (not a layer)
    source: demo/mae_div_zero.py:65   return mae / scale

    What a plain fit shows: per-batch loss rises from 2.2 (step 0) to 7..27
    (steps 7-10) as the divisor shrinks, +inf at step 11. Its backward pass
    divides by the same 0 and yields inf/NaN gradients, so all weights are
    NaN after step 11 and the loss is NaN from step 12 on.
"""

import numpy as np
import keras
from keras import layers, ops

import tb_nantrace as nantrace
from demo._common import source_ref

NAME = "mae_div_zero"
SEED = 1


def make_data(rng, n=512):
    """Daily rainfall: ~70% dry days (exactly 0 mm), wet-day amounts ~ lognormal."""
    x = rng.normal(size=(n, 6))
    wet = rng.uniform(size=n) > 0.7
    amount = np.exp(0.5 + 0.3 * x[:, 0] + 0.5 * rng.normal(size=n))
    y = np.where(wet, amount, 0.0)
    return x.astype("float32"), y.astype("float32").reshape(-1, 1)


def relative_mae(y_true, y_pred):
    """Scale-free MAE: mean |error| divided by the batch's mean |prediction|.

    The divisor is treated as a normalising constant (stop_gradient), the usual
    way to rescale a loss by one of its own batch statistics.
    """
    mae = ops.mean(ops.abs(y_true - y_pred))
    scale = ops.stop_gradient(ops.mean(ops.abs(y_pred)))
    return mae / scale  # scale == 0 once every prediction in the batch is exactly 0


def build():
    keras.utils.set_random_seed(SEED)
    rng = np.random.RandomState(SEED)
    x, y = make_data(rng)
    model = keras.Sequential(
        [
            layers.Input(shape=(6,), name="features"),
            layers.Dense(16, activation="relu", name="hidden"),
            # ReLU output so rainfall can't be negative -- it can be exactly 0, though.
            layers.Dense(1, activation="relu", name="output"),
        ],
        name=NAME,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss=relative_mae)
    return model, x, y, dict(batch_size=32, epochs=4, verbose=0)


def main(logdir=f"demo/logs/{NAME}", **record_options):
    model, x, y, fit_kwargs = build()
    with nantrace.record(logdir, **record_options):
        history = model.fit(x, y, **fit_kwargs)
    return history


# Where the first non-finite value appears (see the docstring); tests can
# compare a recorded incident against it.
EXPECTED = {
    "step": 11,
    "phase": "forward",
    "op_type": "RealDiv",
    "op_name": "compile_loss/relative_mae/truediv",
    "layer": None,
    "loss_function": "relative_mae",
    "value": "+inf",
    "source": source_ref(__file__, "return mae / scale"),
    # innermost demo/ frame of the op's creation stack when run through main()
    "innermost_demo_frame": source_ref(__file__, "return mae / scale"),
}


if __name__ == "__main__":
    main()

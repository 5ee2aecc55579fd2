"""(c) relu_high_lr: a ReLU MLP trained with plain SGD at a far too large learning rate.

What goes wrong
    Standardized inputs, a smooth target of order 1 -- nothing is wrong with
    the data. An 8-64-64-1 ReLU network is trained on it with the MSE loss and
    plain SGD at learning_rate=1.0, several times what this network tolerates
    (with this seed 0.1 trains smoothly, 0.3 is bumpy, 0.5 already diverges).

    Every step overshoots; the overshoot makes the weights larger, larger
    weights make the gradients larger (in a ReLU MLP a layer's gradient scales
    with the product of the other layers' weights), so the blow-up is faster
    than geometric. Per-batch loss: tens at steps 0-2, 1.7e12 at step 3. At
    step 4 the errors y_pred - y_true reach 2.9e21 -- still finite, every
    layer's output is finite -- but their square needs ~8.6e42 > float32 max
    3.4e38 and overflows to +inf. Nothing else in step 4 is non-finite: the
    gradient of the MSE does not use the squared value, so the backward pass
    and the update of step 4 stay finite (the weights are finite after it).

Where the first non-finite value appears (TF 2.21 / Keras 3.15, CPU; every run)
    step:   4    (0-based; optimizer.iterations when the step began)
    phase:  forward
    op:     Square -- graph op "compile_loss/mse/Square", value +inf
    where:  the loss function: Keras' built-in mean_squared_error (loss="mse"),
            not a layer
    source: demo/relu_high_lr.py:70 requests it (model.compile(..., loss="mse"));
            the op is created inside Keras (keras/src/losses/losses.py), so the
            innermost demo frame of its creation stack is the model.fit(...)
            call in main(), demo/relu_high_lr.py:77.

    What a plain fit shows: loss +inf at steps 4 and 5 (at step 5 the errors
    are ~1e37 and Square overflows again), NaN from step 6 on;
    History.history["loss"] is NaN for every epoch. The real cause (the
    learning rate) shows up as weight and gradient norms growing by orders of
    magnitude per step over steps 1-3.
"""

import numpy as np
import keras
from keras import layers

import tb_nantrace as nantrace
from demo._common import source_ref

NAME = "relu_high_lr"
SEED = 3


def make_data(rng, n=512):
    """Standardized inputs, a smooth nonlinear target of order 1 (nothing wrong with the data)."""
    x = rng.normal(size=(n, 8))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 + 0.1 * rng.normal(size=n)
    return x.astype("float32"), y.astype("float32").reshape(-1, 1)


def build():
    keras.utils.set_random_seed(SEED)
    rng = np.random.RandomState(SEED)
    x, y = make_data(rng)
    model = keras.Sequential(
        [
            layers.Input(shape=(8,), name="features"),
            layers.Dense(64, activation="relu", name="hidden1"),
            layers.Dense(64, activation="relu", name="hidden2"),
            layers.Dense(1, name="output"),
        ],
        name=NAME,
    )
    # lr=1.0 is several times what this network tolerates: every step overshoots
    # and the weights (and so the predictions) grow by orders of magnitude per step.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    # shuffle=False: the batches before the incident can be sliced again from
    # x, so nantrace replays from an earlier snapshot and can show that a lower
    # learning rate really keeps the step finite (verified_fixes).
    return model, x, y, dict(batch_size=32, epochs=4, verbose=0, shuffle=False)


def main(logdir=f"demo/logs/{NAME}", **record_options):
    model, x, y, fit_kwargs = build()
    with nantrace.record(logdir, **record_options):
        history = model.fit(x, y, **fit_kwargs)
    return history


# Where the first non-finite value appears (see the docstring); tests can
# compare a recorded incident against it.
EXPECTED = {
    "step": 4,
    "phase": "forward",
    "op_type": "Square",
    "op_name": "compile_loss/mse/Square",
    "layer": None,
    "loss_function": "mean_squared_error",
    "value": "+inf",
    "source": source_ref(__file__, 'loss="mse"'),
    # innermost demo/ frame of the op's creation stack when run through main()
    "innermost_demo_frame": source_ref(__file__, "history = model.fit("),
}


if __name__ == "__main__":
    main()

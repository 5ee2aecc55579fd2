"""(b) unscaled_features: raw dollar amounts + Adam overflow an exponential output.

What goes wrong
    A Poisson (count) regression -- events per customer -- on two raw features:
    tenure (scale ~1) and monthly spend in dollars (scale ~1000, NOT
    standardized). The output layer uses a log link, rate = exp(z)
    (Dense(activation="exponential")), with Keras' built-in "poisson" loss. Its
    kernel starts at zero, so the untrained model predicts exp(0) = 1 event for
    everybody (loss 1.0 at step 0).

    Adam normalises its steps: early on every weight moves by about
    lr = 0.03, whatever the gradient's size. That is a sensible step for a
    weight on a standardized feature; here each output weight multiplies a
    hidden ReLU activation proportional to spend (hundreds), so the single
    update of step 0 moves z by 0.03 x (sum of the active hidden units) ~ +50
    to +160. At step 1 the batch's z spans 46.6..157.9 and exp(z) overflows
    float32 for z > log(float32 max) = 88.72: +inf. The Poisson loss
    y_pred - y*log(y_pred) is then inf - inf = NaN.

    (The built-in loss is not the culprit: it is only the first consumer of
    the inf. With the features standardized, the same first update moves z by
    0.03..0.33.)

Where the first non-finite value appears (TF 2.21 / Keras 3.15, CPU; every run)
    step:   1    (0-based; optimizer.iterations when the step began)
    phase:  forward
    op:     Exp  -- graph op "unscaled_features_1/rate_1/Exp", value +inf
            (TF appended the "_1" uniquifiers to the model/layer name scopes)
    where:  layer "rate" (its "exponential" activation)
    source: demo/unscaled_features.py:83 defines the layer
            (layers.Dense(1, activation="exponential", ..., name="rate"));
            the op itself is created inside Keras, so the innermost demo frame
            of its creation stack is the model.fit(...) call in main(),
            demo/unscaled_features.py:94.

    What a plain fit shows: loss 1.0 at step 0, NaN from step 1 on (all weights
    NaN after step 1); History.history["loss"] is NaN for every epoch.

Notes on the choices (so the failure is one unambiguous op):
    * With Adam(1e-2) the first update lands z at ~50: exp stays finite but
      the gradients reach ~1e23 and Adam's second moment (g*g) overflows in the
      optimizer for several variables in the same step; which of those is
      "first" would then be up to the executor's scheduling. lr=3e-2 makes the
      forward overflow come first, alone.
    * With Keras' default (Glorot) kernel init the unscaled input is just as
      fatal but seed-dependent (10 seeds tried): exp overflows on the very
      first forward pass (4 seeds) or a few steps later (3), or z starts so
      negative that the gradients (~1e-20) vanish under Adam's epsilon and the
      model never moves (3).
"""

import numpy as np
import keras
from keras import layers

import tb_nantrace as nantrace
from demo._common import source_ref

NAME = "unscaled_features"
SEED = 0


def make_data(rng, n=512):
    """Claims-count data: tenure (scale ~1) and monthly spend in dollars (scale ~1000)."""
    tenure = rng.normal(0.0, 1.0, size=n)
    spend = rng.normal(1000.0, 300.0, size=n)
    rate = np.exp(1.0 + 0.4 * tenure + 0.0015 * (spend - 1000.0))  # ~3 events on average
    counts = rng.poisson(rate)
    x = np.stack([tenure, spend], axis=1).astype("float32")
    return x, counts.astype("float32").reshape(-1, 1)


def build():
    keras.utils.set_random_seed(SEED)
    rng = np.random.RandomState(SEED)
    x, y = make_data(rng)  # NOT standardized: column 1 is in the hundreds/thousands
    model = keras.Sequential(
        [
            layers.Input(shape=(2,), name="features"),
            layers.Dense(16, activation="relu", name="hidden"),
            # Log link: rate = exp(z). Zero kernel => the untrained model predicts
            # exp(0) = 1 event for everybody (a neutral GLM-style start).
            layers.Dense(1, activation="exponential", kernel_initializer="zeros", name="rate"),
        ],
        name=NAME,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-2), loss="poisson")
    return model, x, y, dict(batch_size=32, epochs=4, verbose=0)


def main(logdir=f"demo/logs/{NAME}", **record_options):
    model, x, y, fit_kwargs = build()
    with nantrace.record(logdir, **record_options):
        history = model.fit(x, y, **fit_kwargs)
    return history


# Where the first non-finite value appears (see the docstring); tests can
# compare a recorded incident against it.
EXPECTED = {
    "step": 1,
    "phase": "forward",
    "op_type": "Exp",
    "op_name": "unscaled_features_1/rate_1/Exp",
    "layer": "rate",
    "loss_function": None,
    "value": "+inf",
    "source": source_ref(__file__, 'activation="exponential"'),
    # innermost demo/ frame of the op's creation stack when run through main()
    "innermost_demo_frame": source_ref(__file__, "history = model.fit("),
}


if __name__ == "__main__":
    main()

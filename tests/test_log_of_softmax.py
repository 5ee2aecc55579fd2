"""A hand-written categorical cross-entropy, log of a softmax output, trained
for real: the diagnosis finds the Softmax that made the probability and
suggests the categorical losses with from_logits=True (or log_softmax), not
the binary one."""

import keras
import numpy as np
from keras import layers, ops

import tb_nantrace as nantrace


def handwritten_cce(y_true, y_pred):
    return -ops.mean(ops.sum(y_true * ops.log(y_pred), axis=-1))


def test_log_of_a_saturated_softmax_suggests_the_categorical_loss_from_logits(tmp_path):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(64, 4)) * [1.0, 300.0, 1.0, 1.0]).astype("float32")  # one unscaled feature
    y = keras.utils.to_categorical(rng.integers(0, 3, size=64), 3)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                              layers.Dense(3, activation="softmax", name="probabilities")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=handwritten_cce)
    with nantrace.record(str(tmp_path), on_nan="stop") as recording:
        model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    incident = recording.incidents[0]
    assert (incident["op"]["type"], incident["cause"]["code"]) == ("Log", "log_of_nonpositive")
    assert "the value comes from softmax" in incident["cause"]["summary"]
    first_fix = incident["cause"]["fixes"][0]
    assert "CategoricalCrossentropy(from_logits=True)" in first_fix
    assert "SparseCategoricalCrossentropy(from_logits=True)" in first_fix
    assert "log_softmax" in first_fix and "Binary" not in first_fix

"""Guard mode (default) against exact mode, mixed precision, on_nan="skip"."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_nantrace as nantrace
from recorded import origin, read_back


def relu_regressor(seed=2):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.layers.Input((3,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dropout(0.2, name="drop"),
            keras.layers.Dense(1, name="out"),
        ]
    )


def custom_loop(tmp_path, mode, wrap):
    model = relu_regressor()
    optimizer = keras.optimizers.SGD(0.01)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            scale = tf.reduce_mean(tf.abs(y))
            loss = tf.reduce_mean(tf.abs(y - pred)) / scale
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step_function = nantrace.guard(train_step) if wrap else train_step
    x = np.random.RandomState(0).normal(size=(16, 3)).astype("float32")
    with nantrace.record(tmp_path / mode, mode=mode):
        for step in range(8):
            y = np.zeros((16, 1), "float32") if step == 5 else np.ones((16, 1), "float32")
            step_function(x, y)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    return read_back(tmp_path / mode)["."]


def test_custom_loop_guard_wrapper_finds_the_exact_origin(tmp_path):
    guarded = custom_loop(tmp_path, "guard", wrap=True)
    exact = custom_loop(tmp_path, "exact", wrap=False)
    assert origin(guarded) == origin(exact)
    assert origin(exact)["op"] == "RealDiv" and origin(exact)["step"] == 5
    first = guarded["incidents"][0]
    assert first["mode"] == "guard" and first["op"]["name"] == exact["incidents"][0]["op"]["name"]
    # The replay saw the real values: the divisor was exactly zero.
    assert first["inputs"][1]["min"] == 0.0


def fit_with_bad_batch(tmp_path, mode, on_nan):
    model = relu_regressor()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x = np.random.RandomState(1).normal(size=(96, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    x[40, 1] = np.inf  # batch 2 of 6
    with nantrace.record(tmp_path / f"{mode}-{on_nan}", mode=mode, on_nan=on_nan) as recording:
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model, history, recording


@pytest.mark.parametrize("mode", ["guard", "exact"])
def test_skip_continues_training_with_finite_weights(tmp_path, mode):
    model, history, recording = fit_with_bad_batch(tmp_path, mode, "skip")
    assert len(history.history["loss"]) == 2  # both epochs ran
    assert int(model.optimizer.iterations.numpy()) == 10  # 12 steps, 2 skipped
    assert all(np.isfinite(w).all() for w in model.get_weights())
    steps = [i["step"] for i in recording.incidents]
    assert steps == [2, 7]  # the bad batch, once per epoch
    assert {i["phase"] for i in recording.incidents} == {"input"}
    assert recording.incidents[0]["input_location"]["batch_index"] == 8


def test_stop_ends_fit_cleanly(tmp_path):
    model, history, recording = fit_with_bad_batch(tmp_path, "guard", "stop")
    assert len(history.history["loss"]) == 1
    assert int(model.optimizer.iterations.numpy()) == 2
    assert len(recording.incidents) == 1


@pytest.fixture
def mixed_float16():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("mode", ["guard", "exact"])
def test_loss_scale_overflow_is_not_an_incident(tmp_path, mode, mixed_float16):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.layers.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.RandomState(3).normal(size=(64, 4)).astype("float32")
    y = 3000.0 + 100.0 * x[:, :1]  # large targets: scaled gradients overflow float16
    with nantrace.record(tmp_path / mode, mode=mode) as recording:
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert recording.incidents == []
    # The loss scale really did overflow and was lowered by the optimizer.
    assert float(model.optimizer.dynamic_scale.numpy()) < 2.0**15
    assert read_back(tmp_path / mode)["."]["status"] == "healthy"


@pytest.mark.parametrize("mode", ["guard", "exact"])
def test_float16_activation_overflow_is_an_incident(tmp_path, mode, mixed_float16):
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.layers.Input((4,)),
            keras.layers.Dense(8, name="big", kernel_initializer=keras.initializers.Constant(100.0)),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    x = np.full((32, 4), 200.0, "float32")  # 4 * 200 * 100 = 80000 > 65504
    with nantrace.record(tmp_path / mode, mode=mode) as recording:
        model.fit(x, np.zeros((32, 1), "float32"), batch_size=16, verbose=0)
    first = recording.incidents[0]
    assert (first["step"], first["phase"], first["op"]["type"], first["layer"]) == (
        0, "forward", "MatMul", "big"
    )
    assert first["cause"]["code"] == "float_overflow"
    assert "65504" in first["cause"]["summary"]

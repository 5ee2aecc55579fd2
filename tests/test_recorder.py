"""Recorder (exact mode) on real TensorFlow/Keras training, read back from
the event files it wrote."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_nantrace as nantrace
from recorded import origin, read_back


def small_regressor(name="out"):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.layers.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name=name)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def relative_mae_step(model, optimizer):
    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x)
            loss = tf.reduce_mean(tf.abs(y - pred) / tf.reduce_mean(tf.abs(y)))  # LOSS_LINE
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


def line_of(marker):
    with open(__file__) as source:
        for number, line in enumerate(source, 1):
            if marker in line and "def line_of" not in line and "line_of(" not in line:
                return number
    raise AssertionError(marker)


def test_custom_training_loop_origin_and_clean_stop(tmp_path):
    model = small_regressor()
    optimizer = keras.optimizers.SGD(0.01)
    train_step = relative_mae_step(model, optimizer)
    x = np.ones((8, 3), "float32")
    steps_run = []
    with nantrace.record(tmp_path / "custom") as recording:
        for step in range(10):
            y = np.zeros((8, 1), "float32") if step == 4 else np.ones((8, 1), "float32")
            train_step(x, y)
            steps_run.append(step)
    # on_nan="stop": the loop ended at the bad step, the update was not applied.
    assert steps_run == [0, 1, 2, 3]
    assert int(optimizer.iterations.numpy()) == 4
    assert all(np.isfinite(w).all() for w in model.get_weights())
    run = read_back(tmp_path / "custom")["."]
    assert run["status"] == "incident"
    assert origin(run) == {
        "step": 4, "phase": "forward", "op": "RealDiv", "layer": None,
        "line": line_of("LOSS_LINE"), "cause": "division_by_zero",
    }
    first = run["incidents"][0]
    assert first["kind"] == "inf"
    assert first["op"]["name"] == "truediv"
    assert first["source"]["file"].endswith("test_recorder.py")
    assert "tf.abs(y - pred) / tf.reduce_mean" in first["source"]["code"]
    divisor = first["inputs"][1]
    assert divisor["min"] == 0.0 and divisor["zeros"] == 1
    assert recording.incidents[0]["step"] == 4


def test_eager_code_raise_mode(tmp_path):
    model = small_regressor()
    optimizer = keras.optimizers.SGD(0.01)
    x = np.ones((8, 3), "float32")
    with pytest.raises(nantrace.NonFiniteError) as raised:
        with nantrace.record(tmp_path / "eager", on_nan="raise"):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.math.log(model(x) * 0.0))  # EAGER_LOG
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    incident = raised.value.incident
    assert incident["op"]["type"] == "Log" and incident["kind"] == "inf"
    assert incident["source"]["line"] == line_of("EAGER_LOG")
    assert incident["cause"]["code"] == "log_of_nonpositive"
    run = read_back(tmp_path / "eager")["."]
    assert origin(run)["op"] == "Log"


def test_nan_in_input_batch_is_phase_input_with_row_and_column(tmp_path):
    model = small_regressor()
    x = np.ones((64, 3), "float32")
    x[37, 2] = np.nan
    with nantrace.record(tmp_path / "input"):
        model.fit(x, np.ones((64, 1), "float32"), batch_size=16, shuffle=False, verbose=0)
    first = read_back(tmp_path / "input")["."]["incidents"][0]
    assert first["step"] == 2 and first["phase"] == "input" and first["kind"] == "nan"
    assert first["input_location"] == {"tensor": "x", "batch_index": 5, "feature_index": [2]}
    assert first["cause"]["code"] == "nan_in_input"
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_nonfinite_weights_before_recording(tmp_path):
    model = small_regressor()
    model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    weights = model.get_weights()
    weights[2][0, 0] = np.inf
    model.set_weights(weights)
    with nantrace.record(tmp_path / "state"):
        model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    first = read_back(tmp_path / "state")["."]["incidents"][0]
    assert first["cause"]["code"] == "nonfinite_initial_state"
    assert first["variable"].endswith("out/kernel") and first["layer"] == "out"
    assert first["kind"] == "inf"


def test_fit_raise_mode_and_model_left_usable(tmp_path):
    model = small_regressor()
    x = np.ones((32, 3), "float32") * 1e20
    model.fit(x[:8] * 0, np.ones((8, 1)), verbose=0)  # traced before recording
    before = model.train_function
    with pytest.raises(nantrace.NonFiniteError) as raised:
        with nantrace.record(tmp_path / "raise", on_nan="raise"):
            model.fit(x, np.ones((32, 1), "float32") * 1e20, batch_size=8, verbose=0)
    assert raised.value.incident["cause"]["code"] == "float_overflow"
    # The instrumented function is gone: the cached uninstrumented one is back.
    assert model.train_function is before
    assert "train_step" not in model.__dict__
    history = model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_other_exceptions_pass_through_unchanged(tmp_path):
    with pytest.raises(KeyError, match="not a nan"):
        with nantrace.record(tmp_path / "other"):
            raise KeyError("not a nan")
    run = read_back(tmp_path / "other")["."]
    assert run["status"] == "healthy" and run["info"]["status"] == "interrupted"


def test_exact_mode_turns_jit_compile_off_and_says_so(tmp_path, capsys):
    """Exact mode checks every op, which XLA cannot compile; the default mode
    keeps XLA on (tests/test_always_on.py)."""
    model = small_regressor()
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    with nantrace.record(tmp_path / "xla", mode="exact"):
        model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    assert model.jit_compile is True  # restored afterwards
    assert "jit_compile (XLA) turned off" in capsys.readouterr().err
    info = read_back(tmp_path / "xla")["."]["info"]
    assert any("jit_compile" in note for note in info["notes"])


def test_default_logdir_is_dated_and_announced(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with nantrace.record() as recording:
        pass
    assert os.path.dirname(recording.logdir) == "logs"
    assert f"recording to {recording.logdir}" in capsys.readouterr().err
    assert read_back(tmp_path / "logs")[os.path.basename(recording.logdir)]["status"] == "healthy"


def test_two_recordings_into_one_logdir_keep_both(tmp_path):
    """A resumed training records into the same run: nothing collides."""
    model = small_regressor()
    x = np.ones((16, 3), "float32")
    x[3, 0] = np.nan
    for _ in range(2):
        with nantrace.record(tmp_path / "resumed", on_nan="skip"):
            model.fit(x, np.ones((16, 1), "float32"), batch_size=16, verbose=0)
    run = read_back(tmp_path / "resumed")["."]
    assert [i["step"] for i in run["incidents"]] == [0, 0]
    assert run["info"]["status"] == "stopped"

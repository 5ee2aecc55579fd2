"""An optimizer that makes finite weights non-finite: the default mode names
the same op as exact mode.

Finite gradients, then the optimizer's own arithmetic goes non-finite (Adam
with epsilon=0 on a gradient of exactly 0; a learning-rate schedule past its
horizon). Exact mode checks every op of the update; the default mode puts
the update back and replays the step op by op (update_undo.py). Both must
give the same origin: step, phase, op type, layer, variable, source line.
"""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_nantrace as nantrace


def _origin(incident):
    source = incident.get("source") or {}
    return {
        "step": incident["step"],
        "phase": incident["phase"],
        "op": incident["op"]["type"],
        "layer": incident.get("layer"),
        "variable": incident.get("variable"),
        "source": (source.get("file"), source.get("line")),
        "cause": incident["cause"]["code"],
    }


def _adam_without_epsilon(jit_compile=False):
    """The loss sees only the first output: the second output's weights get
    gradients of exactly 0, and Adam(epsilon=0) updates them by 0/0."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")], name="net")

    def first_output_mse(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(y_true[:, :1] - y_pred[:, :1]))

    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=0.0), loss=first_output_mse,
                  jit_compile=jit_compile)
    return model


class SquareRootDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A user's schedule that forgot to clip at its horizon: NaN after step 3."""

    def __call__(self, step):
        remaining = 3.0 - keras.ops.cast(step, "float32")
        return 0.01 * keras.ops.power(remaining, 0.5)


def _line_of(function, text):
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


SCHEDULE_LINE = _line_of(SquareRootDecay.__call__, "keras.ops.power")


def _scheduled_sgd():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="head")], name="net")
    model.compile(optimizer=keras.optimizers.SGD(SquareRootDecay()), loss="mse")
    return model


def _fit(build, tmp_path, mode, outputs=2, on_nan="stop", **compile_options):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((128, 3)).astype("float32")
    y = rng.standard_normal((128, outputs)).astype("float32")
    model = build(**compile_options)
    before = [w.copy() for w in model.get_weights()]
    with nantrace.record(str(tmp_path / mode), mode=mode, on_nan=on_nan) as recording:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    return recording, model, before


def test_adam_with_epsilon_0_gets_the_same_origin_in_the_default_mode_as_in_exact_mode(tmp_path):
    default, model, before = _fit(_adam_without_epsilon, tmp_path, "guard")
    exact, _, _ = _fit(_adam_without_epsilon, tmp_path, "exact")
    (found,), (expected,) = default.incidents, exact.incidents
    assert _origin(found) == _origin(expected)
    assert _origin(found)["step"] == 0 and _origin(found)["op"] == "RealDiv"
    assert (found["phase"], found["layer"]) == ("optimizer", "head")
    assert found["variable"].startswith("net/head/")
    assert found["cause"]["code"] == "division_by_zero"
    # The update was put back: the model is the model before the failing step.
    assert int(model.optimizer.iterations.numpy()) == 0
    for after, initial in zip(model.get_weights(), before):
        np.testing.assert_array_equal(after, initial)


def test_a_learning_rate_schedule_that_goes_nan_gets_the_same_origin_in_both_modes(tmp_path):
    default, model, _ = _fit(_scheduled_sgd, tmp_path, "guard", outputs=1)
    exact, _, _ = _fit(_scheduled_sgd, tmp_path, "exact", outputs=1)
    (found,), (expected,) = default.incidents, exact.incidents
    assert _origin(found) == _origin(expected)
    assert (found["step"], found["phase"], found["op"]["type"]) == (4, "optimizer", "Pow")
    assert found["source"]["file"].endswith("tests/test_optimizer_origin.py")
    assert found["source"]["line"] == SCHEDULE_LINE
    assert int(model.optimizer.iterations.numpy()) == 4
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_under_xla_the_optimizer_op_is_named_too(tmp_path):
    default, model, before = _fit(_adam_without_epsilon, tmp_path, "guard", jit_compile=True)
    (found,) = default.incidents
    assert (found["step"], found["phase"], found["op"]["type"], found["layer"]) == (
        0, "optimizer", "RealDiv", "head")
    for after, initial in zip(model.get_weights(), before):
        np.testing.assert_array_equal(after, initial)


def test_under_skip_a_put_back_update_lets_training_go_on_with_finite_weights(tmp_path):
    """Each later step divides 0 by 0 again and is refused: the weights stay
    those before the first failing step, and fit runs to its end."""
    seen = []

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = rng.standard_normal((64, 2)).astype("float32")
    model = _adam_without_epsilon()
    with nantrace.record(str(tmp_path), on_nan="skip") as recording:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[Batches()])
    assert seen == [0, 1, 2, 3]
    assert recording.incidents[0]["op"]["type"] == "RealDiv"
    assert all(np.isfinite(w).all() for w in model.get_weights())


def _guarded_custom_step(model):
    """A custom training loop's step, wrapped in nantrace.guard."""
    optimizer, loss_fn = model.optimizer, model.loss

    @nantrace.guard
    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


def _loop_batch():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    return (rng.standard_normal((16, 3)).astype("float32"),
            rng.standard_normal((16, 2)).astype("float32"))


def test_a_guarded_custom_loop_names_the_optimizer_op(tmp_path):
    x, y = _loop_batch()
    model = _adam_without_epsilon()
    train_step = _guarded_custom_step(model)
    with nantrace.record(str(tmp_path)) as recording:
        with pytest.raises(nantrace.NonFiniteError):
            train_step(x, y)
    (incident,) = recording.incidents
    assert (incident["step"], incident["phase"], incident["op"]["type"], incident["layer"]) == (
        0, "optimizer", "RealDiv", "head")
    assert all(np.isfinite(w).all() for w in model.get_weights())


# Without memory for the copy (snapshot_memory_mb=0) ------------------------------


def test_without_memory_for_the_pre_update_copy_a_nonfinite_update_is_reported_and_stops(tmp_path):
    """No copy of the optimizer state is held (update_undo.py), so the
    update cannot be put back or replayed: the incident names the update,
    and training stops even under skip."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = rng.standard_normal((64, 2)).astype("float32")
    model = _adam_without_epsilon()
    with nantrace.record(str(tmp_path), on_nan="skip", snapshot_memory_mb=0) as recording:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    (incident,) = recording.incidents
    assert (incident["step"], incident["phase"], incident["layer"]) == (0, "optimizer", "head")
    assert int(model.optimizer.iterations.numpy()) == 1
    assert incident["cause"]["code"] == "nonfinite_update"
    assert "epsilon=0.0" in incident["cause"]["summary"]
    assert incident["variable"].endswith("head/kernel")
    assert any("snapshot_memory_mb=0" in note for note in recording.notes)


def test_guarded_custom_loop_without_memory_for_the_copy_sees_a_nonfinite_update(tmp_path):
    x, y = _loop_batch()
    model = _adam_without_epsilon()
    train_step = _guarded_custom_step(model)
    steps_run = 0
    with nantrace.record(str(tmp_path / "loop"), on_nan="skip", snapshot_memory_mb=0) as recording:
        for _ in range(4):
            train_step(x, y)
            steps_run += 1
    (incident,) = recording.incidents
    assert (incident["step"], incident["phase"], incident["layer"]) == (0, "optimizer", "head")
    assert incident["cause"]["code"] == "nonfinite_update"
    assert steps_run == 0  # the loop ended in step 0's call, even under on_nan="skip"

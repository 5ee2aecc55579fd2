"""nantrace is never the reason a training run fails.

A fault injected into nantrace's own code (tracing the guard, the health row,
the op callback, the end-of-step work, the set-up of the recorded fit) is
said once, on stderr and in the run info, and `fit` completes with exactly
the weights it has without nantrace. The user's own errors still reach the
user unchanged.
"""

import keras
import numpy as np
import pytest

import tb_nantrace as nantrace
from tb_nantrace.recorder import (
    guard, health, instrument, keras_hooks, optimizer_guard, recording, train_step,
)
from recorded import read_back


def make_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def fit(model):
    rng = np.random.RandomState(0)
    x, y = rng.randn(48, 8).astype("float32"), rng.randn(48, 1).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return [w.numpy() for w in model.weights]


def _boom(*args, **kwargs):
    raise RuntimeError("injected fault in nantrace")


# id: (where the fault goes, what the note says it was in)
FAULTS = {
    "fit set-up": ((keras_hooks, "_patch"), "setting up the recorded fit"),
    "step context": ((train_step, "_step_context"), "the guarded train step"),
    "layer observation": ((train_step, "_in_step_graph"), "the health timeline"),
    "health row": ((health.HealthProbe, "observe_activation"), "the step's health row"),
    "finish step": ((guard, "finish_step"), "the step's health row and guard"),
    "optimizer guard": ((optimizer_guard, "_guard_update"), "the optimizer guard"),
    "op callback": ((instrument.OpCallback, "_observe"), "the op callback"),
    "end of step": ((recording.Recording, "_end_of_step"), "the end of a step"),
}


@pytest.fixture(scope="module")
def weights_without_nantrace():
    return fit(make_model())


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_in_nantrace_is_said_once_and_fit_ends_with_the_weights_it_has_without_nantrace(
        tmp_path, monkeypatch, capsys, weights_without_nantrace, fault):
    (owner, name), where = FAULTS[fault]
    monkeypatch.setattr(owner, name, _boom)
    model = make_model()
    with nantrace.record(str(tmp_path)) as recorded:
        weights = fit(model)

    assert len(weights) == len(weights_without_nantrace)
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights_without_nantrace))
    assert recorded.incidents == []
    said = [line for line in capsys.readouterr().err.splitlines() if "internal error" in line]
    assert len(said) == 1 and where in said[0] and "injected fault in nantrace" in said[0]
    notes = read_back(tmp_path)["."]["info"]["notes"]
    assert any(where in note and "injected fault" in note for note in notes)


class _Buggy(keras.layers.Layer):
    """The user's own bug: not nantrace's to swallow."""

    def call(self, x, training=None):
        if training:
            raise ValueError("the user's own bug")
        return x


def test_an_error_of_the_users_code_reaches_the_user_unchanged(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), _Buggy()])
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="the user's own bug"):
        with nantrace.record(str(tmp_path)):
            model.fit(np.ones((8, 8)), np.ones((8, 4)), verbose=0)
    assert "internal error" not in capsys.readouterr().err

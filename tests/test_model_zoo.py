"""Models nantrace did not write train unchanged under the default record():
recurrent layers (their cells run inside a while-loop body, another graph)
and a model nested in a model. Healthy training ends with the same weights,
bit for bit, as without nantrace; a fault injected at a known layer and
step is reported there. Real Keras training, small and seeded."""

import keras
import numpy as np
import pytest

import tb_nantrace as nantrace

BATCH, STEPS, FAULT_STEP = 16, 4, 2


def _data(fault):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, 6, 3)).astype("float32")
    gate = np.zeros((BATCH * STEPS, 1), "float32")
    if fault:
        gate[FAULT_STEP * BATCH + 3] = 100.0  # exp(100) overflows float32 in layer "blowup"
    y = rng.normal(size=(BATCH * STEPS, 1)).astype("float32")
    return [x, gate], y


def _model(kind):
    keras.utils.set_random_seed(0)
    sequence, gate = keras.Input((6, 3)), keras.Input((1,))
    scale = keras.layers.Activation("exponential", name="blowup")
    if kind == "lstm":
        features = keras.layers.LSTM(4)(sequence)
    elif kind == "stacked_gru":
        features = keras.layers.GRU(4, return_sequences=True)(sequence)
        features = keras.layers.GRU(4)(features)
    elif kind == "bidirectional_lstm":
        features = keras.layers.Bidirectional(keras.layers.LSTM(3))(sequence)
    else:  # nested: the faulty layer lives inside the inner model
        inner_sequence, inner_gate = keras.Input((6, 3)), keras.Input((1,))
        inner_features = keras.layers.Flatten()(keras.layers.Dense(4, activation="relu")(inner_sequence))
        inner = keras.Model([inner_sequence, inner_gate],
                            keras.layers.Multiply()([inner_features, scale(inner_gate)]), name="inner")
        features = inner([sequence, gate])
    if kind != "nested":
        features = keras.layers.Multiply()([features, scale(gate)])
    output = keras.layers.Dense(1)(features)
    model = keras.Model([sequence, gate], output)
    model.compile(optimizer="adam", loss="mse")
    return model


KINDS = ["lstm", "stacked_gru", "bidirectional_lstm", "nested"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_healthy_model_trains_to_the_same_weights_under_record(kind, tmp_path):
    x, y = _data(fault=False)
    plain = _model(kind)
    plain.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    recorded = _model(kind)
    with nantrace.record(tmp_path / kind) as recording:
        recorded.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert recording.incidents == []
    assert int(recorded.optimizer.iterations.numpy()) == STEPS
    for before, after in zip(plain.get_weights(), recorded.get_weights(), strict=True):
        assert np.array_equal(before, after)


@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_injected_in_the_model_is_found_at_its_step_and_layer(kind, tmp_path):
    x, y = _data(fault=True)
    model = _model(kind)
    with nantrace.record(tmp_path / kind) as recording:
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    first = recording.incidents[0]
    assert (first["step"], first["phase"], first["op"]["type"], first["layer"]) == (
        FAULT_STEP, "forward", "Exp", "blowup")
    assert first["cause"]["code"] == "exp_overflow"
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the bad update was refused

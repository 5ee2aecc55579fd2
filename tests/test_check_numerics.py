"""Users who already turned on tf.debugging.enable_check_numerics get a
recorded incident with the right origin under record(), no exception of
nantrace's own, and their check_numerics back afterwards."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_nantrace as nantrace


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_check_numerics_enabled_before_record_gives_a_recorded_incident_and_comes_back(tmp_path):
    x = np.ones((32, 3), "float32")
    x[20, 1] = np.nan  # batch 2 (of 8 rows), row 4, feature 1
    y = np.ones((32, 1), "float32")
    model = _model()
    tf.debugging.enable_check_numerics()
    try:
        with nantrace.record(tmp_path / "run") as recording:
            model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
        first = recording.incidents[0]
        assert (first["step"], first["phase"], first["cause"]["code"]) == (2, "input", "nan_in_input")
        assert first["input_location"]["batch_index"] == 4
        assert first["input_location"]["feature_index"] == [1]
        assert any("enable_check_numerics is paused" in note for note in recording.notes)
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
            tf.math.log(tf.constant(-1.0))  # check_numerics is on again
    finally:
        tf.debugging.disable_check_numerics()

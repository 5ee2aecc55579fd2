"""The window written when a recording ends: every step of a short run at
full resolution (its timeline chunks sum up 64 steps each, and TensorBoard's
data server keeps only 100 points of the timeline tag), read back through the
plugin's routes."""

import keras
import numpy as np
from plugin_app import get_json, plugin_client

import tb_nantrace as nantrace
from tb_nantrace import metadata


def fit(logdir, x, y):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    with nantrace.record(str(logdir)):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)


def test_a_healthy_run_keeps_its_last_steps_one_row_each(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype("float32")  # 100 steps
    fit(tmp_path / "run", x, x[:, :1])
    client = plugin_client(tmp_path)
    timeline = get_json(client, "timeline", run="run")
    assert timeline["points"] == 2  # two chunks: 64 steps, then 36
    window = get_json(client, "window", run="run", incident=metadata.END_WINDOW)
    assert window["steps"] == list(range(100))
    loss = next(s["values"] for s in window["series"] if s["metric"] == "loss" and s["layer"] is None)
    assert len(loss) == 100 and all(np.isfinite(loss))


def test_a_run_stopped_at_an_incident_writes_no_second_window_of_the_same_steps(tmp_path):
    x = np.ones((40, 4), "float32")
    x[22] = np.nan  # batch 5 (step 5) holds a NaN
    fit(tmp_path / "run", x, np.ones((40, 1), "float32"))
    client = plugin_client(tmp_path)
    (incident,) = get_json(client, "run", run="run")["incidents"]
    assert incident["step"] == 5
    assert get_json(client, "window", run="run", incident=0)["steps"][-1] == 5
    get_json(client, "window", status=404, run="run", incident=metadata.END_WINDOW)


def test_steps_past_what_float32_holds_exactly_keep_their_own_row(tmp_path):
    # A long or resumed run: the optimizer's step counter starts past 2**24,
    # where float32 would round neighbouring steps together.
    start = 2**24 + 7
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(start)
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")  # 10 steps
    with nantrace.record(str(tmp_path / "run")):
        model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, shuffle=False)
    window = get_json(plugin_client(tmp_path), "window", run="run", incident=metadata.END_WINDOW)
    assert window["steps"] == list(range(start, start + 10))

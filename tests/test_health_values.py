"""The health timeline's numbers are the model's: gradient, weight and
update norms per layer checked against the weights themselves, and a
refused step's non-finite gradient counts against the parameter counts.
Read back through the plugin's routes, as the NaN Trace tab reads them."""

import numpy as np
import pytest

import tb_nantrace as nantrace
from plugin_app import get_json, plugin_client

keras = pytest.importorskip("keras")

LR = 0.05


def linear_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(LR), loss="mse")
    return model


def series(payload, metric, layer):
    return next(s for s in payload["series"] if s["metric"] == metric and s["layer"] == layer)


def test_norms_and_update_ratio_match_the_weights(tmp_path):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")
    model = linear_model()
    before_last = {}

    class KeepWeights(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 8:  # the last of 9 one-step epochs: a step with every column
                before_last.update({v.path: v.numpy().copy() for v in model.trainable_variables})

    with nantrace.record(str(tmp_path / "run")):
        model.fit(x, y, batch_size=16, epochs=9, verbose=0, shuffle=False, callbacks=[KeepWeights()])

    timeline = get_json(plugin_client(tmp_path), "timeline?run=run&stats=last&max_points=100")
    assert timeline["steps"][-1] == 8
    squares = {}
    for layer in ("hidden", "out"):
        new = [v.numpy() for v in model.trainable_variables if v.path.split("/")[-2] == layer]
        old = [before_last[v.path] for v in model.trainable_variables if v.path.split("/")[-2] == layer]
        weight = np.sqrt(sum((w.astype(np.float64) ** 2).sum() for w in new))
        update = np.sqrt(sum(((w - o).astype(np.float64) ** 2).sum() for w, o in zip(new, old)))
        squares[layer] = (update / LR) ** 2  # plain SGD: update = lr * gradient
        assert series(timeline, "weight_norm", layer)["last"][-1] == pytest.approx(weight, rel=1e-4)
        assert series(timeline, "update_ratio", layer)["last"][-1] == pytest.approx(update / weight, rel=1e-3)
        assert series(timeline, "grad_norm", layer)["last"][-1] == pytest.approx(update / LR, rel=1e-3)
        assert series(timeline, "grad_nonfinite", layer)["last"][-1] == 0
    overall = np.sqrt(sum(squares.values()))
    assert series(timeline, "grad_norm", None)["last"][-1] == pytest.approx(overall, rel=1e-3)


def test_refused_step_counts_its_nonfinite_gradients(tmp_path):
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 1.0, (48, 4)).astype("float32")  # no zero input: NaN reaches every weight
    y = rng.standard_normal((48, 1)).astype("float32")
    y[40, 0] = np.nan  # step 2 (batch 16): a NaN target makes the whole gradient NaN
    model = linear_model()
    with nantrace.record(str(tmp_path / "run")):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)

    window = get_json(plugin_client(tmp_path), "window?run=run&incident=0")
    assert window["steps"] == [0, 1, 2]
    # Dense(4 -> 3): 12 + 3 values; Dense(3 -> 1): 3 + 1. Per-layer columns
    # are measured on sampled steps (0) and on the refused step (2), not on 1.
    assert series(window, "grad_nonfinite", "hidden")["values"] == [0, None, 15]
    assert series(window, "grad_nonfinite", "out")["values"] == [0, None, 4]
    assert all(np.isfinite(v.numpy()).all() for v in model.trainable_variables)


def test_relu_statistics_and_a_dead_layer(tmp_path):
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 4)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu", name="alive"),
        # A bias far below anything the kernel can add: every output is 0,
        # so no gradient ever reaches it and it stays dead.
        keras.layers.Dense(8, activation="relu", name="dead", bias_initializer=keras.initializers.Constant(-100.0)),
        keras.layers.Dense(1, name="out"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # weights stay put
    with nantrace.record(str(tmp_path / "run")):
        # Per-layer columns every 8 steps: 5 measurements of the dead layer.
        model.fit(x, y, batch_size=16, epochs=33, verbose=0, shuffle=False)

    alive = np.maximum(x @ model.get_layer("alive").kernel.numpy() + model.get_layer("alive").bias.numpy(), 0)
    client = plugin_client(tmp_path)
    timeline = get_json(client, "timeline?run=run&stats=last,max&max_points=100")
    assert series(timeline, "act_zero_frac", "alive")["last"][-1] == pytest.approx((alive == 0).mean())
    assert series(timeline, "act_max_abs", "alive")["last"][-1] == pytest.approx(alive.max(), rel=1e-6)
    assert series(timeline, "act_zero_frac", "dead")["last"][-1] == 1.0
    assert series(timeline, "act_max_abs", "dead")["max"][-1] == 0.0
    run = get_json(client, "run?run=run")
    warnings = [(w["code"], w["layer"]) for w in run["warnings"]]
    assert warnings == [("dead_relu", "dead")]


def test_health_every_n_steps_keeps_the_failing_step(tmp_path):
    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 1.0, (160, 4)).astype("float32")
    y = rng.standard_normal((160, 1)).astype("float32")
    y[16 * 6 + 3, 0] = np.nan  # step 6: between two sampled steps
    model = linear_model()
    with nantrace.record(str(tmp_path / "run"), health=4):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)

    window = get_json(plugin_client(tmp_path), "window?run=run&incident=0")
    assert window["steps"] == [0, 1, 2, 3, 4, 5, 6]
    assert series(window, "grad_nonfinite", "out")["values"] == [0, None, None, None, 0, None, 4]
    # The loss is measured on every step (finite before the failing one).
    loss = series(window, "loss", None)["values"]
    assert all(isinstance(v, float) for v in loss[:6]) and loss[6] is not None


@pytest.mark.parametrize("health", [0, -2, 1.5, "often"])
def test_health_interval_must_be_a_whole_number_of_steps(tmp_path, health):
    with pytest.raises(ValueError, match="health must be"):
        nantrace.record(str(tmp_path), health=health)


def test_the_models_gradient_norm_counts_weights_of_no_layer_on_sampled_steps_too(tmp_path):
    """A subclassed model's own weight belongs to no layer: the model's
    gradient norm includes it on every step, sampled ones (step 8) too."""

    class Scaled(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, name="dense")
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 4)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")
    model = Scaled()
    model(x[:1])  # built: the health probe knows which layer owns which weight
    model.compile(optimizer=keras.optimizers.SGD(LR), loss="mse")
    before_last = {}

    class KeepWeights(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 8:
                before_last.update({id(v): v.numpy().copy() for v in model.trainable_variables})

    with nantrace.record(str(tmp_path / "run")):
        model.fit(x, y, batch_size=16, epochs=9, verbose=0, shuffle=False, callbacks=[KeepWeights()])

    timeline = get_json(plugin_client(tmp_path), "timeline?run=run&stats=last&max_points=100")
    assert timeline["steps"][-1] == 8
    update = np.sqrt(sum(((v.numpy() - before_last[id(v)]).astype(np.float64) ** 2).sum()
                         for v in model.trainable_variables))
    dense = np.sqrt(sum(((v.numpy() - before_last[id(v)]).astype(np.float64) ** 2).sum()
                        for v in model.dense.trainable_variables))
    assert dense < update * 0.999  # the scale's gradient is not 0
    assert series(timeline, "grad_norm", None)["last"][-1] == pytest.approx(update / LR, rel=1e-3)
    assert series(timeline, "grad_norm", "dense")["last"][-1] == pytest.approx(dense / LR, rel=1e-3)

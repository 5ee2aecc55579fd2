"""The health timeline watches training without changing it (issue 11).

Reading a layer's output adds a consumer to it, and TensorFlow's graph
optimizer only regroups a chain of ops (BatchNorm's adds feeding a residual
`Add`, a bias feeding its activation) while each link has one consumer:
with every BatchNorm output read, MobileNetV3Small ended one Adam step with
150 of its 210 arrays different. The health row now leaves such outputs
alone and says which in the run info. Real Keras training, small and seeded."""

import keras
import numpy as np
import pytest

import tb_nantrace as nantrace
from plugin_app import get_json, plugin_client

BATCH, STEPS, SIZE, CLASSES = 4, 3, 32, 3
# Its output has one consumer, the residual Add that grappler regroups with it.
SPLIT_FROM_ITS_CONSUMER = "expanded_conv_2_project_bn"
# Outputs the next layer and the gradient both read: measured.
MEASURED = ("expanded_conv_2_add", "expanded_conv_3_depthwise")


def _mobilenet():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), weights=None,
                                                classes=CLASSES)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _fit(model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=(BATCH * STEPS,))
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.fixture(scope="module")
def mobilenet_runs(tmp_path_factory):
    """(weights without nantrace, weights under the default record(), its logdir)."""
    plain = _fit(_mobilenet())
    logdir = tmp_path_factory.mktemp("health")
    recorded_model = _mobilenet()
    with nantrace.record(str(logdir / "run")) as recording:
        recorded = _fit(recorded_model)
    assert recording.incidents == []
    assert int(recorded_model.optimizer.iterations.numpy()) == STEPS
    return plain, recorded, logdir


def test_mobilenet_v3_small_ends_bitwise_identical_with_the_health_timeline_on(mobilenet_runs):
    plain, recorded, _ = mobilenet_runs
    assert len(plain) == len(recorded) == 210
    different = [i for i, (a, b) in enumerate(zip(plain, recorded)) if not np.array_equal(a, b)]
    assert different == []


def test_the_run_info_names_the_layers_whose_activation_is_not_measured_and_the_rest_are(mobilenet_runs):
    _, _, logdir = mobilenet_runs
    client = plugin_client(logdir)
    notes = get_json(client, "run?run=run")["info"]["notes"]
    (unmeasured,) = [n for n in notes if "not measured" in n and "graph optimizer" in n]
    assert SPLIT_FROM_ITS_CONSUMER in unmeasured.split(": ")[-1].split(", ")
    assert not any(layer in unmeasured.split(": ")[-1].split(", ") for layer in MEASURED)
    timeline = get_json(client, "timeline?run=run&stats=last,max&max_points=100")
    act = {s["layer"]: s for s in timeline["series"] if s["metric"] == "act_max_abs"}
    for layer in MEASURED:
        assert all(np.isfinite(v) and v > 0 for v in act[layer]["max"])
    missing = act.get(SPLIT_FROM_ITS_CONSUMER, {"max": [None]})["max"]
    assert all(v in (None, "NaN") for v in missing)  # strict JSON: NaN as a string

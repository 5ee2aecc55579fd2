"""Every demo scenario, recorded for real, read back through TensorBoard's
data providers (Python loader in-process, Rust data server and
--load_fast=false in real tensorboard processes) and the plugin's routes.
Guard mode (default) and exact mode must name the same origin."""

import importlib
import re

import keras
import pytest

from demo import SCENARIOS
from plugin_app import get_json, plugin_client
from recorded import read_back
from tensorboard_process import TensorBoardProcess, stop_all

FAILING = [name for name in SCENARIOS if name != "healthy"]


def record_all(root, mode):
    for name in SCENARIOS:
        keras.backend.clear_session()
        importlib.import_module(f"demo.{name}").main(logdir=str(root / name), mode=mode)
    return {run: data for run, data in read_back(root).items()}


@pytest.fixture(scope="module")
def guard_logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_guard")
    return root, record_all(root, "guard")


@pytest.fixture(scope="module")
def exact_runs(tmp_path_factory):
    return record_all(tmp_path_factory.mktemp("demo_exact"), "exact")


def expected_origin(name):
    expected = importlib.import_module(f"demo.{name}").EXPECTED
    layer = expected["layer"] or f"compile_loss/{expected['op_name'].split('/')[1]}"
    return {
        "step": expected["step"],
        "phase": expected["phase"],
        "op": {"type": expected["op_type"], "name": expected["op_name"]},
        "layer": layer,
        "source": expected["source"],  # inside Keras: the line that made the layer / passed the loss
    }


@pytest.mark.parametrize("name", FAILING)
def test_the_call_site_stays_the_innermost_frame_of_the_stack(guard_logdir, name):
    _, runs = guard_logdir
    stack = runs[name]["incidents"][0]["stack"]
    expected = importlib.import_module(f"demo.{name}").EXPECTED["innermost_demo_frame"]
    assert f"{stack[-1]['file']}:{stack[-1]['line']}" == expected


def origin_of(run):
    first = run["incidents"][0]
    source = first["source"]
    return {
        "step": first["step"],
        "phase": first["phase"],
        "op": first["op"],
        "layer": first["layer"],
        "source": f"{source['file']}:{source['line']}" if source else None,
    }


@pytest.mark.parametrize("name", FAILING)
def test_guard_mode_finds_the_documented_origin(guard_logdir, name):
    _, runs = guard_logdir
    run = runs[name]
    assert run["status"] == "incident"
    assert origin_of(run) == expected_origin(name)
    assert run["incidents"][0]["mode"] == "guard"


@pytest.mark.parametrize("name", FAILING)
def test_exact_mode_agrees_with_guard_mode(guard_logdir, exact_runs, name):
    _, runs = guard_logdir
    assert origin_of(exact_runs[name]) == origin_of(runs[name])
    assert exact_runs[name]["incidents"][0]["mode"] == "exact"
    assert exact_runs[name]["incidents"][0]["cause"]["code"] == runs[name]["incidents"][0]["cause"]["code"]


CAUSES = {
    "bce_saturation": ("log_of_nonpositive", r"input min 0\.0 → log\(0\.0\) = -inf"),
    "unscaled_features": ("exp_overflow", r"input max 15\d\.\d > log\(float32 max\) = 88\.7"),
    "relu_high_lr": ("float_overflow", r"largest \|x\| 2\.\d+e\+21.*float32 max"),
    "mae_div_zero": ("division_by_zero", r"1 of 1 values exactly 0.*x/0 = inf"),
}


@pytest.mark.parametrize("name", FAILING)
def test_cause_quotes_the_evidence(guard_logdir, name):
    _, runs = guard_logdir
    cause = runs[name]["incidents"][0]["cause"]
    code, evidence = CAUSES[name]
    assert cause["code"] == code
    assert re.search(evidence, cause["summary"]), cause["summary"]
    assert cause["fixes"]


def test_timeline_warnings_explain_the_incidents(guard_logdir):
    _, runs = guard_logdir
    contributing = {name: runs[name]["incidents"][0]["cause"]["contributing"] for name in FAILING}
    assert "exploding_gradient" in contributing["relu_high_lr"]
    assert "unscaled_inputs" in contributing["unscaled_features"]
    # The flight-recorder window before the incident shows the growth.
    trend = runs["relu_high_lr"]["incidents"][0]["trend"]["grad_norm"]
    values = [v for _, v in trend if isinstance(v, float)]
    assert len(values) >= 3 and all(b > 10 * a for a, b in zip(values, values[1:]))
    healthy = runs["healthy"]
    assert healthy["status"] == "healthy" and healthy["incidents"] == []
    assert healthy["warnings"] == [] and healthy["steps"] == 128


def test_log_of_a_saturated_sigmoid_suggests_the_binary_loss_from_logits(guard_logdir, exact_runs):
    _, runs = guard_logdir
    for run in (runs["bce_saturation"], exact_runs["bce_saturation"]):
        cause = run["incidents"][0]["cause"]
        assert "the value comes from sigmoid" in cause["summary"]
        assert "BinaryCrossentropy(from_logits=True)" in cause["fixes"][0]
        assert "Categorical" not in cause["fixes"][0]


def test_loss_spike_warns_before_the_incident_and_the_lead_time_is_reported(guard_logdir):
    _, runs = guard_logdir
    run = runs["relu_high_lr"]
    spikes = [w for w in run["warnings"] if w["code"] == "loss_spike"]
    assert len(spikes) == 1, run["warnings"]
    assert spikes[0]["step"] < run["incidents"][0]["step"]
    assert spikes[0]["steps_before_incident"] == run["incidents"][0]["step"] - spikes[0]["step"]
    assert re.search(r"loss jumped to 1\.\d+e\+12 at step 3, .*x the median", spikes[0]["message"])
    assert "loss_spike" in run["incidents"][0]["cause"]["contributing"]
    first = min(w["step"] for w in run["warnings"])
    assert run["incidents"][0]["first_warning_steps_before"] == run["incidents"][0]["step"] - first > 0
    assert runs["healthy"]["warnings"] == []


def test_dead_output_relu_contributes_to_the_relative_mae_division(guard_logdir):
    root, runs = guard_logdir
    incident = runs["mae_div_zero"]["incidents"][0]
    assert "dead_relu" in incident["cause"]["contributing"]
    assert not any(w["code"] == "dead_relu" for w in runs["mae_div_zero"]["warnings"])
    # What it rests on: the output ReLU's max |x| is exactly 0 at the incident
    # (in its flight-recorder window), and was not at the measurement before.
    window = get_json(plugin_client(root), "/data/plugin/nantrace/window?run=mae_div_zero&incident=0")
    (output,) = [s["values"] for s in window["series"] if (s["metric"], s["layer"]) == ("act_max_abs", "output")]
    measured = [v for v in output if v is not None]  # per-layer columns are sampled
    assert window["steps"][-1] == incident["step"] and output[-1] == 0.0 < measured[-2]


def check_routes(get_json):
    runs = {r["run"]: r for r in get_json("/data/plugin/nantrace/runs")["runs"]}
    assert set(runs) == set(SCENARIOS)
    assert runs["healthy"]["status"] == "healthy"
    for name in FAILING:
        assert runs[name]["status"] == "incident"
        detail = get_json(f"/data/plugin/nantrace/run?run={name}")
        assert origin_of(detail) == expected_origin(name)
        graph = detail["incidents"][0]["graph"]
        origins = [n for n in graph["nodes"] if n["state"] == "origin"]
        assert [n["name"] for n in origins] == [expected_origin(name)["op"]["name"]]
        timeline = get_json(f"/data/plugin/nantrace/timeline?run={name}")
        assert [i["step"] for i in timeline["incidents"]] == [expected_origin(name)["step"]]
        window = get_json(f"/data/plugin/nantrace/window?run={name}&incident=0")
        assert window["steps"][-1] == expected_origin(name)["step"]


def test_plugin_routes_through_wsgi(guard_logdir):
    root, _ = guard_logdir
    client = plugin_client(root)
    check_routes(lambda path: get_json(client, path))


def test_real_tensorboard_both_loaders(guard_logdir):
    root, _ = guard_logdir
    servers = [TensorBoardProcess(root), TensorBoardProcess(root, ["--load_fast=false"])]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
            server.wait_for(lambda v: len(v["runs"]) == len(SCENARIOS), "/data/plugin/nantrace/runs")
            check_routes(server.get_json)
    finally:
        stop_all(servers)

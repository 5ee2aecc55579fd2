"""Timeline routes on a 1,000,000-step run (synthetic records written with
the real writer on the recorder's chunk schedule). Latency is measured in
benchmarks/timeline_route.py, not here."""

import os

import pytest
from plugin_app import get_json, plugin_client
from synthetic_runs import columns, write_long_run

STEPS = 1_000_000


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    chunks = write_long_run(str(root / "run"), STEPS)
    # TensorBoard's Rust data server keeps 100 points per tensor tag: read the
    # same way here.
    client = plugin_client(root, keep=100)
    return root, chunks, client


def test_bytes_per_step_stay_bounded(long_run):
    root, chunks, _ = long_run
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    assert chunks < 3000  # chunks double in length: O(log steps) x 512
    assert total / STEPS < 4.0  # bytes per step, whole logdir (README states the bound)


def test_timeline_covers_the_run_downsampled_on_the_server(long_run):
    _, _, client = long_run
    timeline = get_json(client, "timeline?run=run")
    assert timeline["points"] <= 500 and timeline["chunks"] <= 100
    assert timeline["steps"] == sorted(timeline["steps"])
    assert timeline["steps"][-1] == STEPS - 1
    metrics, layers = columns()
    assert len(timeline["series"]) == len(metrics)
    grad = next(s for s in timeline["series"] if s["metric"] == "grad_norm" and s["layer"] is None)
    assert set(grad) == {"metric", "layer", "max", "mean"} and len(grad["max"]) == timeline["points"]
    assert [i["step"] for i in timeline["incidents"]] == [STEPS - 1]
    assert [w["step"] for w in timeline["warnings"]] == [1000, STEPS // 2, STEPS - 20]

    coarse = get_json(client, "timeline?run=run&max_points=10&metric=loss&stats=min,max,last")
    assert coarse["points"] == 10 and len(coarse["series"]) == 1
    (loss,) = coarse["series"]
    assert all(lo <= hi for lo, hi in zip(loss["min"], loss["max"]))


def test_window_is_full_resolution(long_run):
    _, _, client = long_run
    window = get_json(client, "window?run=run&incident=0")
    assert window["steps"] == list(range(STEPS - 256, STEPS))
    assert all(len(s["values"]) == 256 for s in window["series"])


@pytest.mark.parametrize(
    "path,status",
    [
        ("timeline", 400),
        ("timeline?run=nope", 404),
        ("timeline?run=run&max_points=0", 400),
        ("timeline?run=run&max_points=x", 400),
        ("timeline?run=run&stats=median", 400),
        ("window?run=run", 400),
        ("window?run=run&incident=7", 404),
        ("window?run=nope&incident=0", 404),
    ],
)
def test_bad_parameters_get_json_errors(long_run, path, status):
    _, _, client = long_run
    assert "error" in get_json(client, path, status)

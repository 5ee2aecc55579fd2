"""The NaN Trace plugin's routes as TensorBoard serves them, in-process over
WSGI: the plugin listing, run list, run detail, strict JSON, errors and the
frontend module, read from the viewer logdir (viewer_runs.py)."""

import pytest

from plugin_app import get_json, plugin_client
from tb_nantrace.plugin import plugin as plugin_module
from tb_nantrace.plugin.loader import NanTracePluginLoader
from tensorboard.plugins import base_plugin
from tensorboard_process import strict_json_loads
from viewer_runs import check_big, check_rich, check_runs


@pytest.fixture(scope="module")
def client(viewer_logdir):
    return plugin_client(viewer_logdir)


def test_plugin_is_listed_as_the_nan_trace_tab(client):
    listing = get_json(client, "/data/plugins_listing")
    entry = listing["nantrace"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "NaN Trace"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/nantrace/index.js",
    }
    plugin = NanTracePluginLoader().load(base_plugin.TBContext())
    assert plugin.is_active() is False
    assert tuple(plugin.data_plugin_names()) == ("nantrace",)


def test_run_list_and_run_detail_hold_every_record(client):
    check_runs(get_json(client, "runs"))
    check_big(get_json(client, "run?run=big"))
    check_rich(get_json(client, "run?run=nested/deep"))
    healthy = get_json(client, "run?run=healthy")
    assert healthy["incidents"] == [] and healthy["steps"] == 50
    assert healthy["info"]["notes"] == ["jit_compile turned off for the recorded run"]


def test_non_finite_numbers_are_strings_in_strict_json(client):
    body = client.get("/data/plugin/nantrace/run?run=nested/deep").get_data(as_text=True)
    for literal in ("NaN,", "Infinity,", ": NaN", ": Infinity", ": -Infinity"):
        assert literal not in body
    assert '"min": "-Infinity"' in body and '"max": "NaN"' in body
    strict_json_loads(body)


def test_missing_or_unknown_runs_get_json_errors(client):
    missing = get_json(client, "run", 400)
    assert "run" in missing["error"]
    get_json(client, "run?run=", 400)
    unknown = get_json(client, "run?run=nope", 404)
    assert "nope" in unknown["error"]
    # A run with data of other plugins only is unknown to nantrace.
    get_json(client, "run?run=other", 404)


def test_frontend_module_is_served_or_a_fallback_that_says_so(client, monkeypatch):
    response = client.get("/data/plugin/nantrace/index.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert "render" in response.get_data(as_text=True)
    monkeypatch.setattr(plugin_module, "INDEX_JS", "/nonexistent/index.js")
    fallback = client.get("/data/plugin/nantrace/index.js")
    assert fallback.status_code == 200
    assert fallback.headers["Content-Type"].startswith("text/javascript")
    assert "export async function render()" in fallback.get_data(as_text=True)

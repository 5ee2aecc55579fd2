"""The viewer on a machine without TensorFlow, or where it is installed but
must not be loaded: `nantrace report` and the plugin's routes, in a fresh
interpreter, over the viewer logdir (viewer_runs.py)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from viewer_runs import BIG, check_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NO_TF_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    BLOCK = sys.argv[2] == "block"
    if BLOCK:
        sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError
    logdir = sys.argv[1]

    from tb_nantrace.report import cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["report", logdir, "--json"])
    report = json.loads(out.getvalue())

    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client
    from tb_nantrace.plugin.loader import NanTracePluginLoader

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={"nantrace": 0})
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    plugin = NanTracePluginLoader().load(
        base_plugin.TBContext(data_provider=provider, logdir=logdir, multiplexer=multiplexer))
    client = Client(application.TensorBoardWSGI([plugin], data_provider=provider))
    runs = client.get("/data/plugin/nantrace/runs")
    run = client.get("/data/plugin/nantrace/run?run=big")
    js = client.get("/data/plugin/nantrace/index.js")
    tensorflow_loaded = sys.modules.get("tensorflow") is not None
    record_error = None
    if BLOCK:
        import tb_nantrace
        try:
            tb_nantrace.record(logdir)
        except ImportError as error:
            record_error = str(error)
    print(json.dumps({
        "record_error": record_error,
        "code": code,
        "report_runs": [r["run"] for r in report["runs"]],
        "runs_status": runs.status_code,
        "runs": runs.get_json(),
        "run_status": run.status_code,
        "incidents": len(run.get_json()["incidents"]),
        "js_status": js.status_code,
        "tensorflow_loaded": tensorflow_loaded,
    }))
    """
)


@pytest.mark.parametrize("mode", ["block", "installed"])
def test_report_and_plugin_read_the_logdir_without_tensorflow(viewer_logdir, tmp_path, mode):
    """block: TensorFlow cannot be imported. installed: it could be, but the
    viewer (plugin, report, reading through TensorBoard) must not load it."""
    script = tmp_path / "no_tf.py"
    script.write_text(NO_TF_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(viewer_logdir), mode],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 1
    assert outcome["report_runs"] == ["big", "healthy", "nested/deep"]
    assert outcome["runs_status"] == 200
    check_runs(outcome["runs"])
    assert (outcome["run_status"], outcome["incidents"]) == (200, BIG)
    assert outcome["js_status"] == 200
    assert outcome["tensorflow_loaded"] is False
    if mode == "block":  # recording needs TensorFlow, and says how to get it
        assert "pip install 'tb-nantrace[tensorflow]'" in outcome["record_error"]

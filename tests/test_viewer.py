"""Viewer side: reader, TensorBoard plugin routes, real TensorBoard processes
(Rust data server and --load_fast=false), `nantrace report`, and all of it
without TensorFlow. Event files are written with the real RecordWriter from
synthetic protos (real training scenarios are tested elsewhere)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.data import provider as provider_lib
from tensorboard.plugins import base_plugin

from plugin_app import plugin_client
from tb_nantrace import metadata, reader, records
from tb_nantrace.plugin import plugin as plugin_module
from tb_nantrace.plugin.loader import NanTracePluginLoader
from tb_nantrace.proto import nantrace_pb2 as pb
from tb_nantrace.report import cli
from tensorboard_process import TensorBoardProcess, stop_all, strict_json_loads

# Imports TensorFlow, here, at collection: the in-process CLI calls below then
# never switch TensorBoard to its TF-free stub for the rest of the session.
from tb_nantrace.writer import RecordWriter  # isort: skip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIG = 150  # more than the Rust server's 100 and the Python loader's 10 per tag
INF = float("inf")
NAN = float("nan")
SESSION = "0001700000000"


# ---------------------------------------------------------------- data


def big_incident(i):
    incident = pb.Incident(
        schema_version=1,
        index=i,
        step=2 * i + 1,
        phase="forward",
        kind="nan",
        mode="exact",
        wall_time=1000.0 + i,
    )
    incident.op.type = "Log"
    incident.op.name = f"model/log_{i}"
    incident.inputs.add(name="x:0", dtype="float32", shape=[4], size=4, min=-1.0, max=2.0)
    incident.cause.code = "log_nonpositive"
    incident.cause.summary = "log of a negative number"
    return incident


def rich_incident():
    incident = pb.Incident(
        schema_version=1,
        index=0,
        step=41,
        phase="backward",
        kind="nan_and_inf",
        layer="dense_1",
        variable="dense_1/kernel",
        mode="exact",
        wall_time=1234.5,
        note="synthetic",
    )
    incident.op.type = "RealDiv"
    incident.op.name = "gradient_tape/model/dense_1/truediv"
    incident.source.file = "train.py"
    incident.source.line = 42
    incident.source.function = "loss_fn"
    incident.source.code = "    return tf.reduce_mean(a / b)"
    incident.source.context_start = 41
    incident.source.context.extend(["def loss_fn(a, b):", "    return tf.reduce_mean(a / b)"])
    incident.source.user = True
    incident.stack.append(incident.source)
    incident.inputs.add(
        name="a:0",
        dtype="float32",
        shape=[32, 10],
        size=320,
        min=-INF,
        max=NAN,
        nan_count=3,
        posinf_count=2,
        neginf_count=1,
        min_abs_nonzero=1e-30,
        max_abs_finite=3.5e38,
    )
    incident.inputs.add(name="b:0", dtype="float32", shape=[32, 10], size=320, min=0.0, max=INF,
                        zero_count=7, posinf_count=1)
    incident.outputs.add(name="truediv:0", dtype="float32", shape=[32, 10], size=320,
                         min=NAN, max=NAN, nan_count=320)
    incident.input_location.tensor = "x"
    incident.input_location.batch_index = 5
    incident.input_location.feature_index.extend([3])
    incident.cause.code = "division_by_zero"
    incident.cause.summary = "division by a tensor that contains zeros"
    incident.cause.contributing.extend(["input_inf", "learning_rate_high"])
    incident.cause.fixes.extend(["use tf.math.divide_no_nan", "clip the denominator"])
    return incident


class _Garbage:
    """Stands in for a proto: an unparseable payload."""

    def SerializeToString(self):
        return b"\x0a\xff\xff\xff\xff"


def _write_run(path, start=None, incidents=(), end=None, garbage=False):
    writer = RecordWriter(str(path), SESSION)
    if start is not None:
        writer.write_run_start(start)
    for incident in incidents:
        writer.write_incident(incident)
    if garbage:
        writer._write(metadata.incident_tag(SESSION, 999), metadata.KIND_INCIDENT, _Garbage(), 7)
    if end is not None:
        writer.write_run_end(end)
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """tb/
         big/          150 incidents (written newest first), finished, 400 steps
         healthy/      no incident, finished, 50 steps
         nested/deep/  killed: run_start only, one rich incident, one corrupt record
         other/        a plain scalar, no nantrace data
    """
    import tensorflow as tf

    root = tmp_path_factory.mktemp("viewer") / "tb"
    _write_run(
        root / "big",
        start=pb.RunInfo(schema_version=1, status="running", mode="exact"),
        incidents=[big_incident(i) for i in reversed(range(BIG))],
        end=pb.RunInfo(schema_version=1, status="finished", steps=400, incident_count=BIG,
                       mode="exact", start_time=10.0, end_time=20.0),
    )
    _write_run(
        root / "healthy",
        start=pb.RunInfo(schema_version=1, status="running"),
        end=pb.RunInfo(schema_version=1, status="finished", steps=50,
                       notes=["jit_compile turned off for the recorded run"]),
    )
    _write_run(
        root / "nested" / "deep",
        start=pb.RunInfo(schema_version=1, status="running", tensorflow_version="2.21.0"),
        incidents=[rich_incident()],
        garbage=True,
    )
    other = tf.summary.create_file_writer(str(root / "other"))
    with other.as_default():
        tf.summary.scalar("loss", 1.0, step=0)
    other.close()
    return root


def _provider(path):
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0}
    )
    multiplexer.AddRunsFromDirectory(str(path))
    multiplexer.Reload()
    return multiplexer, tb_data_provider.MultiplexerDataProvider(multiplexer, str(path))


@pytest.fixture(scope="module")
def client(logdir):
    return plugin_client(logdir)


def _json(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return strict_json_loads(response.get_data(as_text=True))


# ---------------------------------------------------------------- checks shared by
# the WSGI client and the real TensorBoard processes


def check_runs(body):
    assert list(body) == ["runs"]
    runs = {r["run"]: r for r in body["runs"]}
    assert [r["run"] for r in body["runs"]] == ["big", "healthy", "nested/deep"]
    assert runs["big"] == {"run": "big", "status": "incident", "steps": 400,
                           "incident_count": BIG, "warning_count": 0,
                           "run_status": "finished", "skipped": 0}
    assert runs["healthy"] == {"run": "healthy", "status": "healthy", "steps": 50,
                               "incident_count": 0, "warning_count": 0,
                               "run_status": "finished", "skipped": 0}
    # Killed run: no run_end; the incident at step 41 proves 42 steps ran.
    assert runs["nested/deep"] == {"run": "nested/deep", "status": "incident", "steps": 42,
                                   "incident_count": 1, "warning_count": 0,
                                   "run_status": "running", "skipped": 1}


def check_big(detail):
    assert detail["run"] == "big"
    assert detail["status"] == "incident"
    assert detail["steps"] == 400
    assert detail["info"]["status"] == "finished"
    incidents = detail["incidents"]
    assert len(incidents) == BIG, "incidents were dropped"
    assert [i["index"] for i in incidents] == list(range(BIG))  # oldest first
    assert [i["step"] for i in incidents] == [2 * i + 1 for i in range(BIG)]
    assert len({(i["step"], i["index"]) for i in incidents}) == BIG
    assert without_reader_keys(incidents[0]) == records.incident_to_dict(big_incident(0))
    assert incidents[0]["session"] == SESSION


# Added by the reader: the recording session (from the tag) and, in the
# report, the health trend before each incident (None without a window).
READER_KEYS = {"session", "trend"}


def without_reader_keys(incident):
    return {k: v for k, v in incident.items() if k not in READER_KEYS}


def check_rich(detail):
    assert detail["status"] == "incident"
    assert detail["steps"] == 42
    assert detail["skipped"] == 1
    assert detail["info"]["status"] == "running"
    assert detail["info"]["tensorflow_version"] == "2.21.0"
    (incident,) = detail["incidents"]
    assert without_reader_keys(incident) == json.loads(
        reader.dumps(records.incident_to_dict(rich_incident()))
    )
    a, b = incident["inputs"]
    assert (a["min"], a["max"], a["nan"], a["inf"]) == ("-Infinity", "NaN", 3, 3)
    assert (b["min"], b["max"], b["zeros"]) == (0.0, "Infinity", 7)
    assert incident["outputs"][0]["min"] == "NaN"
    assert incident["source"]["file"] == "train.py" and incident["source"]["line"] == 42
    assert incident["cause"]["fixes"] == ["use tf.math.divide_no_nan", "clip the denominator"]
    assert incident["input_location"] == {"tensor": "x", "batch_index": 5, "feature_index": [3]}


# ---------------------------------------------------------------- (a) plugin via WSGI


def test_plugin_metadata(client):
    listing = _json(client.get("/data/plugins_listing"))
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


def test_plugin_runs_and_run_detail(client):
    check_runs(_json(client.get("/data/plugin/nantrace/runs")))
    check_big(_json(client.get("/data/plugin/nantrace/run?run=big")))
    check_rich(_json(client.get("/data/plugin/nantrace/run?run=nested/deep")))
    healthy = _json(client.get("/data/plugin/nantrace/run?run=healthy"))
    assert healthy["incidents"] == [] and healthy["steps"] == 50
    assert healthy["info"]["notes"] == ["jit_compile turned off for the recorded run"]


def test_plugin_strict_json_body(client):
    body = client.get("/data/plugin/nantrace/run?run=nested/deep").get_data(as_text=True)
    for literal in ("NaN,", "Infinity,", ": NaN", ": Infinity", ": -Infinity"):
        assert literal not in body
    assert '"min": "-Infinity"' in body and '"max": "NaN"' in body
    strict_json_loads(body)


def test_plugin_errors(client):
    missing = _json(client.get("/data/plugin/nantrace/run"), status=400)
    assert "run" in missing["error"]
    _json(client.get("/data/plugin/nantrace/run?run="), status=400)
    unknown = _json(client.get("/data/plugin/nantrace/run?run=nope"), status=404)
    assert "nope" in unknown["error"]
    # A run with data of other plugins only is unknown to nantrace.
    _json(client.get("/data/plugin/nantrace/run?run=other"), status=404)


def test_plugin_index_js(client, monkeypatch):
    response = client.get("/data/plugin/nantrace/index.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert "render" in response.get_data(as_text=True)
    monkeypatch.setattr(plugin_module, "INDEX_JS", "/nonexistent/index.js")
    fallback = client.get("/data/plugin/nantrace/index.js")
    assert fallback.status_code == 200
    assert fallback.headers["Content-Type"].startswith("text/javascript")
    assert "export async function render()" in fallback.get_data(as_text=True)


# ---------------------------------------------------------------- reader robustness


class _FakeProvider:
    """A DataProvider returning odd tensors, as a provider might."""

    def __init__(self, data, contents):
        self.data, self.contents = data, contents

    def list_tensors(self, ctx, *, experiment_id, plugin_name, run_tag_filter=None):
        return {
            run: {
                tag: provider_lib.TensorTimeSeries(
                    max_step=0, max_wall_time=0.0,
                    plugin_content=self.contents.get(tag, b""),
                    description="", display_name="",
                )
                for tag in tags
            }
            for run, tags in self.data.items()
            if run_tag_filter is None or run_tag_filter.runs is None or run in run_tag_filter.runs
        }

    def read_tensors(self, ctx, *, experiment_id, plugin_name, downsample=None,
                     run_tag_filter=None):
        assert downsample >= 1000
        return self.data


def test_reader_skips_bad_records():
    def datum(value, step=0):
        return provider_lib.TensorDatum(step=step, wall_time=1.0, numpy=value)

    good = big_incident(3).SerializeToString()
    data = {
        "r": {
            "nantrace/incident/0000": [datum(np.array(b"\x0a\xff\xff"))],  # corrupt
            "nantrace/incident/0001": [datum(np.array([good, good], dtype=object))],  # not scalar
            "nantrace/incident/0002": [datum(np.array(3.0))],  # not a string
            "nantrace/incident/0003": [datum(np.array(good, dtype=object), step=7)],
            "nantrace/future": [datum(np.array(b"whatever"))],  # a newer kind: ignored
            # No plugin_content passed along: the tag says what it is.
            metadata.RUN_START_TAG: [datum(np.array(pb.RunInfo(steps=2).SerializeToString()))],
        }
    }
    fake = _FakeProvider(data, {"nantrace/future": b"something_new"})
    ctx = tb_context.RequestContext()
    (summary,) = reader.list_runs(fake, ctx, "")
    assert summary == {"run": "r", "status": "incident", "steps": 8,
                       "incident_count": 1, "warning_count": 0, "run_status": None,
                       "skipped": 3}
    detail = reader.read_run(fake, ctx, "", "r")
    assert [i["index"] for i in detail["incidents"]] == [3]
    with pytest.raises(reader.UnknownRunError):
        reader.read_run(fake, ctx, "", "missing")
    assert reader.dumps({"x": [NAN, INF, -INF, np.float32(1.5)]}) == (
        '{"x": ["NaN", "Infinity", "-Infinity", 1.5]}'
    )


# ---------------------------------------------------------------- (c) report CLI


def _report(capsys, *args):
    code = cli.main(["report", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


REPORT_KEYS = {"format", "logdir", "runs"}
RUN_KEYS = {"run", "status", "steps", "incidents"}


def test_report_json_nested_runs(logdir, capsys):
    code, out, err = _report(capsys, logdir, "--json")
    assert code == 1, err
    report = strict_json_loads(out)
    assert REPORT_KEYS <= set(report)
    assert report["format"] == "nantrace.report/1"
    assert report["logdir"] == str(logdir)
    assert [r["run"] for r in report["runs"]] == ["big", "healthy", "nested/deep"]
    for run in report["runs"]:
        assert RUN_KEYS <= set(run)
        assert isinstance(run["steps"], int)
        for incident in run["incidents"]:
            assert set(incident) == set(records.incident_to_dict(pb.Incident())) | READER_KEYS
    runs = {r["run"]: r for r in report["runs"]}
    check_big(runs["big"])
    check_rich(runs["nested/deep"])
    assert runs["healthy"]["status"] == "healthy" and runs["healthy"]["incidents"] == []


def test_report_logdir_is_a_run(logdir, capsys):
    code, out, err = _report(capsys, logdir / "healthy", "--json")
    assert code == 0, err
    report = strict_json_loads(out)
    assert report["runs"] == [
        {**report["runs"][0], "run": ".", "status": "healthy", "steps": 50, "incidents": []}
    ]
    code, out, _ = _report(capsys, logdir / "nested" / "deep", "--json")
    assert code == 1
    assert [r["run"] for r in strict_json_loads(out)["runs"]] == ["."]


def test_report_text(logdir, capsys):
    code, out, _ = _report(capsys, logdir / "nested")
    assert code == 1
    for expected in (
        "run deep: INCIDENT  steps 42",
        "#0 ORIGIN  step 41  backward  nan_and_inf  RealDiv (gradient_tape/model/dense_1/truediv)",
        "layer dense_1  variable dense_1/kernel",
        "at train.py:42 in loss_fn",
        "return tf.reduce_mean(a / b)",
        "input  a:0  float32[32,10]  min -Infinity  max NaN  nan 3  inf 3 (+2/-1)",
        "bad input: x batch row 5, feature [3]",
        "cause  division by a tensor that contains zeros [division_by_zero]",
        "contributing: input_inf, learning_rate_high",
        "fix: use tf.math.divide_no_nan",
        "1 unreadable record(s) skipped",
    ):
        assert expected in out, f"{expected!r} not in:\n{out}"
    code, out, _ = _report(capsys, logdir / "big")
    assert code == 1
    assert out.count("ORIGIN") == 1 and "#0 ORIGIN  step 1 " in out
    assert f"... {BIG - cli.DEFAULT_LIMIT} more incident(s)" in out
    assert len(out.splitlines()) < 40
    code, out, _ = _report(capsys, logdir / "healthy")
    assert code == 0 and "run .: healthy  steps 50" in out


def test_report_exit_2(logdir, tmp_path, capsys):
    code, out, err = _report(capsys, tmp_path / "missing")
    assert (code, out) == (2, "") and "does not exist" in err
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", logdir / "other"):
        code, out, err = _report(capsys, path, "--json")
        assert (code, out) == (2, "")
        assert "no nantrace records under" in err and "nantrace.record(" in err
    (tmp_path / "file").write_text("x")
    code, _, err = _report(capsys, tmp_path / "file")
    assert code == 2 and "not a directory" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    capsys.readouterr()


# ---------------------------------------------------------------- (d) no TensorFlow

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
def test_viewer_without_tensorflow(logdir, tmp_path, mode):
    """block: TensorFlow cannot be imported. installed: it could be, but the
    viewer (plugin, report, reading through TensorBoard) must not load it."""
    script = tmp_path / "no_tf.py"
    script.write_text(NO_TF_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(logdir), mode],
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


# ---------------------------------------------------------------- (b) real TensorBoard

MODES = {"rust": [], "python": ["--load_fast=false"]}


def _uses_tensorboards(item):
    return "tensorboards" in getattr(item, "fixturenames", ())


@pytest.fixture(scope="module")
def tensorboards(logdir):
    """Both servers, started at once (each start costs seconds of imports)."""
    servers = {
        mode: TensorBoardProcess(logdir, extra_args=args, timeout=60).start()
        for mode, args in MODES.items()
    }
    try:
        yield servers
    finally:
        stop_all(servers.values())


@pytest.fixture(scope="module", autouse=True)
def _start_tensorboards_early(request):
    """Start the TensorBoard processes before the other tests of this module
    when any selected test needs them: they boot while those tests run."""
    if any(_uses_tensorboards(item) for item in request.session.items
           if item.module is request.module):
        request.getfixturevalue("tensorboards")


@pytest.mark.parametrize("mode", list(MODES))
def test_real_tensorboard(tensorboards, mode):
    tb = tensorboards[mode].wait_ready()

    environment = tb.get_json("/data/environment")
    provider_name = environment.get("debug", {}).get("data_provider", "")
    servers = [argv for _, argv in tb.children()
               if any("tensorboard_data_server" in a for a in argv)]
    if mode == "rust":
        assert provider_name.startswith("GrpcDataProvider"), environment
        assert servers, f"no tensorboard-data-server child:\n{tb.log_tail()}"
    else:
        assert provider_name.startswith("MultiplexerDataProvider"), environment
        assert not servers

    listing = tb.get_json("/data/plugins_listing")
    assert listing["nantrace"]["tab_name"] == "NaN Trace"
    assert listing["nantrace"]["loading_mechanism"]["module_path"] == (
        "/data/plugin/nantrace/index.js"
    )

    # Event files are loaded in the background: wait for all of them.
    def complete(body):
        runs = {r["run"]: r for r in body["runs"]}
        return (runs.get("big", {}).get("incident_count") == BIG
                and "healthy" in runs and "nested/deep" in runs
                and runs["big"]["steps"] == 400)

    body = tb.wait_for(complete, "/data/plugin/nantrace/runs", timeout=60)
    assert tb.wait_for(lambda b: True, "/data/plugins_listing")["nantrace"]["enabled"] is True
    check_runs(body)
    check_big(tb.get_json("/data/plugin/nantrace/run?run=big"))
    check_rich(tb.get_json("/data/plugin/nantrace/run?run=nested%2Fdeep"))
    assert "error" in tb.get_json("/data/plugin/nantrace/run?run=nope", expect_status=404)
    assert "error" in tb.get_json("/data/plugin/nantrace/run", expect_status=400)

    status, headers, js = tb.get("/data/plugin/nantrace/index.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert b"render" in js

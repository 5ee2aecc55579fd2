"""The viewer on hostile or broken logdirs: truncated and corrupt event
files, records from a newer schema, a run with health data only, tensors no
writer produces, an empty logdir, many nested runs, a directory name that is
not UTF-8. For each: the plugin routes (WSGI client on a TBContext with
MultiplexerDataProvider) and `nantrace report` keep working, show everything
readable, and say what they skipped.

Real event files, framed by TensorBoard's own TFRecord writer without
TensorFlow (tests/event_files.py), so the hostile records are exact.
"""

import io
import json
import os
import random
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest

from tensorboard import context as tb_context
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.data import provider as provider_lib

import event_files as ef
from fake_provider import FakeProvider
from plugin_app import get_json, plugin_client
from tb_nantrace import metadata, reader, records
from tb_nantrace.proto import nantrace_pb2 as pb
from tb_nantrace.report import cli, loader
from tensorboard_process import strict_json_loads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S = ef.SESSION
PLUGIN = "/data/plugin/nantrace"
from viewer_runs import READER_KEYS  # noqa: E402  (what the reader adds to a recorded incident)


def tf_free():
    """Read event files the way `nantrace report` does when TensorFlow is
    not loaded yet (and only then): with TensorBoard's TF-free reader. When
    other test modules already loaded TensorFlow, TensorBoard reads with it;
    both readers stop at the same broken records."""
    loader.avoid_tensorflow(".")


def client_for(root):
    tf_free()
    return plugin_client(root)


def report_json(report, path, expect_code=1):
    code, out, err = report(path, "--json")
    assert code == expect_code, err
    body = strict_json_loads(out)
    return {run["run"]: run for run in body["runs"]}, body


def bare(incident):
    return {k: v for k, v in incident.items() if k not in READER_KEYS}


def expected(message):
    return json.loads(json.dumps(records.incident_to_dict(message)))


def tensor(dtype, dims=(), **values):
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


def length_field(number, data):
    """A length-delimited field (a nested message) as bytes."""
    return ef.unknown_length_field(number, data)


# ---------------------------------------------------------------- the hostile logdir

TRUNCATED = [ef.incident(index=i, step=3 + 2 * i) for i in range(4)]
CORRUPT = [ef.incident(index=i, step=2 + 2 * i, op=f"Op{i}") for i in range(4)]
CHUNKS = [ef.timeline_chunk(64 * i, 64 * i + 63) for i in range(5)]
NEWER_INCIDENT = ef.incident(index=0, step=9, op="Exp", layer="rate", cause="exp_overflow")
NEWER_WARNING = pb.Warning(schema_version=2, index=0, step=4, code="future_rule", layer="rate",
                           message="a rule of a newer version", evidence_steps=[3, 4],
                           evidence_values=[1.0, float("inf")])
# A newer writer's window: a third column, and `layer` written for two only.
NEWER_WINDOW = pb.HealthWindow(schema_version=2, incident_index=0,
                               metric=["loss", "grad_norm", "act_max_abs"],
                               layer=["", "rate"], steps=[7, 8],
                               values=[1.0, 2.0, 3.0, 1.5, float("nan"), 4.0])


def newer_incident_payload():
    """The incident as a newer writer would send it: unknown fields at the
    top level (varint 1000, length-delimited 1001) and inside `op`."""
    op = NEWER_INCIDENT.op.SerializeToString() + ef.unknown_varint_field(50, 7)
    return (NEWER_INCIDENT.SerializeToString() + length_field(6, op)
            + ef.unknown_varint_field(1000) + ef.unknown_length_field(1001))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """hostile/
         good/         control: run_start, an incident, run_end (10 steps)
         truncated/    4 incidents, the file cut in the middle of the last one
         corrupt/      3 files: readable; 4 KiB of random bytes; 3 incidents
                       with a flipped bit (bad CRC) in the second
         newer/        records of a newer schema: unknown fields, unknown kinds,
                       a window with fewer layers than metrics
         health_only/  5 timeline chunks: no run_start, no incident
         badtensor/    an incident, and tensors no writer produces
    """
    root = tmp_path_factory.mktemp("robust") / "hostile"
    ef.Run().run_start().incident(ef.incident()).run_end(
        pb.RunInfo(schema_version=1, status="finished", steps=10)).write(root / "good")

    run = ef.Run().run_start()
    for incident in TRUNCATED:
        run.incident(incident)
    offset, last = run.records()[-1]
    run.write(root / "truncated", run.data()[: offset + len(last) // 2])

    first = ef.Run().run_start().incident(CORRUPT[0])
    first.write(root / "corrupt", name="events.out.tfevents.1700000000.h.1.nantrace")
    first.write(root / "corrupt", random.Random(7).randbytes(4096),
                name="events.out.tfevents.1700000001.h.1.nantrace")
    third = ef.Run()
    for incident in CORRUPT[1:]:
        third.incident(incident)
    data = bytearray(third.data())
    offset, record = third.records()[2]  # CORRUPT[2]: a bit of its data flipped
    data[offset + 12 + len(record) // 2] ^= 0x10
    third.write(root / "corrupt", bytes(data), name="events.out.tfevents.1700000002.h.1.nantrace")

    newer = ef.Run()
    newer.run_start(pb.RunInfo(schema_version=2, status="running", mode="guard"))
    newer.events[-1] = ef.event(  # run_start with a field this schema lacks
        metadata.run_info_tag(metadata.RUN_START_TAG, S), metadata.KIND_RUN_INFO,
        pb.RunInfo(schema_version=2, status="running", mode="guard").SerializeToString()
        + ef.unknown_varint_field(1000), 0)
    newer.incident(NEWER_INCIDENT, payload=newer_incident_payload())
    newer.add(metadata.warning_tag(S, 0), metadata.KIND_WARNING,
              NEWER_WARNING.SerializeToString() + ef.unknown_length_field(77), 4)
    newer.window(NEWER_WINDOW, 8)
    newer.add(f"nantrace/graph_v2/{S}/0000", b"graph_v2", b"\x0a\x03abc", 9)
    # An incident tag, but a kind this version does not know: not misread.
    newer.add(metadata.incident_tag(S, 7), b"incident_v2", b"\xff\xfe\x00junk", 11)
    newer.write(root / "newer")

    health = ef.Run()
    for chunk in CHUNKS:
        health.timeline(chunk)
    health.write(root / "health_only")

    bad = ef.Run().run_start().incident(ef.incident())
    tags = [metadata.incident_tag(S, i) for i in range(1, 4)]
    # float tensor whose content is not a whole number of floats
    bad.add(tags[0], metadata.KIND_INCIDENT, b"", 5,
            tensor=tensor(types_pb2.DT_FLOAT, [2], tensor_content=b"abc"))
    # scalar string tensor without a value
    bad.add(tags[1], metadata.KIND_INCIDENT, b"", 6, tensor=tensor(types_pb2.DT_STRING))
    # two strings where one is expected
    two = ef.incident(index=3).SerializeToString()
    bad.add(tags[2], metadata.KIND_INCIDENT, b"", 7,
            tensor=tensor(types_pb2.DT_STRING, [2], string_val=[two, two]))
    bad.add(metadata.window_tag(S, 0), metadata.KIND_WINDOW, b"", 3,
            tensor=tensor(types_pb2.DT_DOUBLE, [3], tensor_content=b"12345"))
    bad.write(root / "badtensor")
    return root


@pytest.fixture(scope="module")
def hostile_client(hostile):
    return client_for(hostile)


RUNS = ["badtensor", "corrupt", "good", "health_only", "newer", "truncated"]


def test_run_list_shows_every_run_and_what_was_skipped(hostile_client):
    body = get_json(hostile_client, "runs")
    runs = {r["run"]: r for r in body["runs"]}
    assert [r["run"] for r in body["runs"]] == RUNS
    assert runs["good"] == {"run": "good", "status": "incident", "steps": 10,
                            "incident_count": 1, "warning_count": 0,
                            "run_status": "finished", "skipped": 0}
    assert runs["truncated"]["incident_count"] == 3
    assert runs["corrupt"]["incident_count"] == 2
    assert runs["newer"]["incident_count"] == 1 and runs["newer"]["skipped"] == 0
    # Timeline up to step 319, nothing else: healthy, 320 steps seen.
    assert runs["health_only"] == {"run": "health_only", "status": "healthy", "steps": 320,
                                   "incident_count": 0, "warning_count": 0, "run_status": None,
                                   "skipped": 0}
    # Three unreadable incident tags; the window is not read for the list.
    assert runs["badtensor"] == {"run": "badtensor", "status": "incident", "steps": 4,
                                 "incident_count": 1, "warning_count": 0,
                                 "run_status": "running", "skipped": 3}


def test_truncated_event_file_keeps_the_records_before_the_cut(hostile_client, hostile,
                                                               report):
    detail = get_json(hostile_client, "run", run="truncated")
    assert [bare(i) for i in detail["incidents"]] == [expected(m) for m in TRUNCATED[:3]]
    assert detail["steps"] == 8 and detail["info"]["status"] == "running"
    runs, _ = report_json(report, hostile / "truncated")
    (run,) = runs.values()
    assert [i["index"] for i in run["incidents"]] == [0, 1, 2]
    (stopped,) = run["load_errors"]
    assert stopped["file"] == ef.FILE_NAME and "truncated" in stopped["error"]
    code, out, _ = report(hostile / "truncated")
    assert code == 1
    assert f"warning: {ef.FILE_NAME}: " in out and "records after it were not read" in out


def test_corrupt_event_files_keep_the_rest_of_the_run(hostile_client, hostile, report):
    detail = get_json(hostile_client, "run", run="corrupt")
    # File 1 whole; file 2 (random bytes) nothing; file 3 up to the bad CRC.
    assert [bare(i) for i in detail["incidents"]] == [expected(m) for m in CORRUPT[:2]]
    runs, _ = report_json(report, hostile / "corrupt")
    assert [i["op"]["type"] for i in runs["."]["incidents"]] == ["Op0", "Op1"]
    assert [e["file"] for e in runs["."]["load_errors"]] == [
        "events.out.tfevents.1700000001.h.1.nantrace",
        "events.out.tfevents.1700000002.h.1.nantrace",
    ]


def test_newer_schema_is_read_and_unknown_kinds_are_said(hostile_client, hostile, report):
    detail = get_json(hostile_client, "run", run="newer")
    (incident,) = detail["incidents"]
    assert bare(incident) == expected(NEWER_INCIDENT)  # unknown fields ignored
    assert [{k: v for k, v in w.items() if k != "session"} for w in detail["warnings"]] == [
        {"index": 0, "step": 4, "code": "future_rule", "layer": "rate", "metric": None,
         "message": "a rule of a newer version", "evidence": [[3, 1.0], [4, "Infinity"]],
         # how early it came: the reader's lead time to the incident after it
         "steps_before_incident": NEWER_INCIDENT.step - 4}]
    assert detail["info"]["status"] == "running"
    assert detail["skipped"] == 0
    assert detail["unknown_kinds"] == {"graph_v2": 1, "incident_v2": 1}

    window = get_json(hostile_client, "window", run="newer", incident=0)
    assert window["steps"] == [7, 8]
    assert [(s["metric"], s["layer"], s["values"]) for s in window["series"]] == [
        ("loss", None, [1.0, 1.5]), ("grad_norm", "rate", [2.0, "NaN"]),
        ("act_max_abs", None, [3.0, 4.0])]

    runs, _ = report_json(report, hostile / "newer")
    run = runs["."]
    assert run["unknown_kinds"] == {"graph_v2": 1, "incident_v2": 1}
    assert run["incidents"][0]["trend"] == {"loss": [[7, 1.0], [8, 1.5]],
                                            "grad_norm[rate]": [[7, 2.0], [8, "NaN"]]}
    code, out, _ = report(hostile / "newer")
    assert code == 1
    assert "does not know were ignored" in out and "graph_v2 (1), incident_v2 (1)" in out


def test_run_with_health_data_only(hostile_client, hostile, report):
    detail = get_json(hostile_client, "run", run="health_only")
    assert (detail["status"], detail["steps"], detail["info"], detail["incidents"]) == (
        "healthy", 320, None, [])
    timeline = get_json(hostile_client, "timeline", run="health_only", stats="min,max,last")
    assert timeline["points"] == 5 and timeline["skipped"] == 0
    assert timeline["steps"] == [63, 127, 191, 255, 319]
    loss = next(s for s in timeline["series"] if s["metric"] == "loss")
    assert loss["max"] == [c.max[0] for c in CHUNKS]
    assert timeline["incidents"] == [] and timeline["warnings"] == []
    assert "error" in get_json(hostile_client, "window", 404, run="health_only", incident=0)
    code, out, _ = report(hostile / "health_only")
    assert code == 0 and "run .: healthy  steps 320" in out


def test_tensors_no_writer_produces_are_skipped_and_counted(hostile_client, hostile, report):
    detail = get_json(hostile_client, "run", run="badtensor")
    assert [bare(i) for i in detail["incidents"]] == [expected(ef.incident())]
    assert detail["skipped"] == 3
    timeline = get_json(hostile_client, "timeline", run="badtensor")
    assert timeline["skipped"] == 3 and timeline["points"] == 0
    # The window's tensor cannot be read: not "no window", but "unreadable".
    missing = get_json(hostile_client, "window", 404, run="badtensor", incident=0)
    assert missing["skipped"] == 1 and "unreadable" in missing["error"]

    runs, _ = report_json(report, hostile / "badtensor")
    assert runs["."]["skipped"] == 4  # + the window, read for the trend
    code, out, _ = report(hostile / "badtensor")
    assert code == 1 and "warning: 4 unreadable record(s) skipped" in out


def test_every_route_of_every_hostile_run_answers_json(hostile_client):
    for run in RUNS:
        for route, params in [("run", {}), ("timeline", {}), ("window", {"incident": 0}),
                              ("timeline", {"metric": "loss", "max_points": 1})]:
            response = hostile_client.get(
                f"{PLUGIN}/{route}?" + urllib.parse.urlencode({"run": run, **params}))
            assert response.status_code in (200, 404), (run, route, response.data[:300])
            strict_json_loads(response.get_data(as_text=True))


def test_report_of_the_whole_hostile_logdir(hostile, report):
    runs, body = report_json(report, hostile)
    assert list(runs) == RUNS
    assert body["skipped_paths"] == []
    assert {run: r["skipped"] for run, r in runs.items()} == {
        "badtensor": 4, "corrupt": 0, "good": 0, "health_only": 0, "newer": 0, "truncated": 0}
    assert {run: len(r["load_errors"]) for run, r in runs.items()} == {
        "badtensor": 0, "corrupt": 2, "good": 0, "health_only": 0, "newer": 0, "truncated": 1}
    assert runs["health_only"]["status"] == "healthy" and runs["health_only"]["steps"] == 320
    code, out, _ = report(hostile)
    assert code == 1 and "(6 runs, 5 with incidents)" in out


# ---------------------------------------------------------------- events TensorBoard's
# loader itself gives up on


def test_report_skips_events_that_are_not_events(tmp_path, report):
    """A record with a right CRC whose bytes are not an Event makes
    EventMultiplexer.Reload() raise: the report skips it and reads on."""
    before = ef.Run().run_start().incident(ef.incident(index=0, step=3))
    after = ef.Run()
    after.events = [ef.event(metadata.incident_tag(S, 1), metadata.KIND_INCIDENT,
                             ef.incident(index=1, step=8), 8)]
    data = before.data() + ef.frame(b"\x0a\xff\xff\xff not an event") + after.data()
    ef.Run().write(tmp_path / "run", data)
    ef.Run().run_start().incident(ef.incident()).write(tmp_path / "other")
    runs, _ = report_json(report, tmp_path)
    assert [i["step"] for i in runs["run"]["incidents"]] == [3, 8]
    assert runs["run"]["skipped"] == 1 and runs["other"]["skipped"] == 0


def test_report_survives_a_record_length_too_large_to_read(tmp_path):
    """A CRC-valid header announcing a 1 TiB record. TensorBoard's TF-free
    reader raises MemoryError; the report keeps what came before. (In a
    subprocess: TensorFlow's own reader, used once TensorFlow is loaded,
    crashes the process on this file.)"""
    header = ef.u64(1 << 40)
    good = ef.Run().run_start().incident(ef.incident())
    good.write(tmp_path / "run", good.data() + header
               + masked_crc32c(header).to_bytes(4, "little") + b"x" * 64)
    result = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.modules['tensorflow'] = None\n"
         "from tb_nantrace.report.cli import main\n"
         "sys.exit(main(['report', sys.argv[1], '--json']))", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    (run,) = strict_json_loads(result.stdout)["runs"]
    assert [i["step"] for i in run["incidents"]] == [3] and run["skipped"] == 1


# ---------------------------------------------------------------- empty and nested logdirs


def test_empty_logdir(tmp_path, report):
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / ef.FILE_NAME).write_bytes(b"")  # an event file, never written
    client = client_for(tmp_path)
    assert get_json(client, "runs") == {"runs": []}
    for route in ("run", "timeline"):
        assert "error" in get_json(client, route, 404, run="empty_run")
    assert "error" in get_json(client, "window", 404, run="zero", incident=0)
    code, out, err = report(tmp_path, "--json")
    assert (code, out) == (2, "") and "no nantrace records under" in err


NESTED = ["alice/exp1", "alice/exp2", "bob/exp1/seed0", "bob/exp1/seed1",
          "carol/über exp #1", "deep/a/b/c/d/e/f/g", "x%2Fy & z=1"]


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    """A run at the root, runs at depths 1 to 7 with awkward names, a run of
    another plugin and an empty directory: each run's incident is its own."""
    root = tmp_path_factory.mktemp("nested")
    ef.Run().run_start().incident(ef.incident(step=1, op="RootOp")).write(root)
    for i, name in enumerate(NESTED):
        ef.Run().run_start().incident(ef.incident(step=10 + i, op=f"Op{i}")).write(root / name)
    scalar = event_pb2.Event(step=1, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag="loss", simple_value=1.0)]))
    ef.Run().write(root / "scalars_only",
                   ef.frame(ef.file_version_event()) + ef.frame(scalar.SerializeToString()))
    (root / "alice" / "empty").mkdir()
    return root


def test_nested_runs_listed_and_read_each_its_own(nested):
    client = client_for(nested)
    names = ["."] + sorted(NESTED)
    assert [r["run"] for r in get_json(client, "runs")["runs"]] == names
    for i, name in enumerate(NESTED):
        detail = get_json(client, "run", run=name)
        assert detail["run"] == name
        assert [(x["op"]["type"], x["step"]) for x in detail["incidents"]] == [(f"Op{i}", 10 + i)]
    assert get_json(client, "run", run=".")["incidents"][0]["op"]["type"] == "RootOp"
    for missing in ("scalars_only", "alice", "alice/empty", "bob/exp1", "../nested/alice/exp1"):
        get_json(client, "run", 404, run=missing)


def test_nested_runs_reported(nested, report):
    runs, body = report_json(report, nested)
    assert list(runs) == ["."] + sorted(NESTED)
    assert [runs[name]["incidents"][0]["op"]["type"] for name in NESTED] == [
        f"Op{i}" for i in range(len(NESTED))]
    code, out, _ = report(nested)
    for name in NESTED:
        assert f"run {name}: INCIDENT  steps " in out
    runs, _ = report_json(report, nested / "bob")
    assert list(runs) == ["exp1/seed0", "exp1/seed1"]


def test_directory_name_that_is_not_utf8(tmp_path, report):
    """TensorBoard's directory walk (TF-free or TensorFlow's) fails on the
    whole logdir at such a name: the report walks it itself and says what
    it skipped."""
    ef.Run().run_start().incident(ef.incident()).write(tmp_path / "good")
    bad = os.fsencode(tmp_path) + b"/caf\xe9"
    try:
        os.mkdir(bad)
    except OSError:
        pytest.skip("this filesystem refuses names that are not UTF-8")
    ef.Run().run_start().incident(ef.incident()).write(os.fsdecode(bad))
    runs, body = report_json(report, tmp_path)
    assert list(runs) == ["good"]
    (skipped,) = body["skipped_paths"]
    assert skipped["path"].endswith("caf\\xe9") and "UTF-8" in skipped["reason"]
    code, out, _ = report(tmp_path)
    assert code == 1 and "warning: skipped " in out and "caf\\xe9" in out


def test_report_text_cannot_drive_the_terminal(tmp_path, report):
    hostile = ef.incident(op="Log\x1b[2J\x1b]0;pwned\x07", layer="dense\r\x9b31m")
    hostile.cause.summary = "fine\x1b[31m red"
    ef.Run().run_start().incident(hostile).write(tmp_path / "run\x1bname")
    code, out, _ = report(tmp_path)
    assert code == 1
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) < 0xa0 for c in out)
    assert "Log\\x1b[2J\\x1b]0;pwned\\x07" in out and "run run\\x1bname" in out
    runs, _ = report_json(report, tmp_path)  # JSON keeps the strings exactly
    assert runs["run\x1bname"]["incidents"][0]["op"]["type"] == "Log\x1b[2J\x1b]0;pwned\x07"


def test_one_unreadable_tag_costs_a_few_reads_not_one_per_tag():
    """A provider read fails as a whole on one bad tensor: the reader
    narrows it down by halves and loses that tag only."""
    pairs = [(run, metadata.incident_tag(S, i)) for run in ("a", "b", "c") for i in range(100)]
    bad = ("b", metadata.incident_tag(S, 37))
    data = {}
    for run, tag in pairs:
        index = int(tag[-4:])
        payload = np.array(ef.incident(index=index, step=index).SerializeToString(), dtype=object)
        data.setdefault(run, {})[tag] = [
            provider_lib.TensorDatum(step=0, wall_time=1.0, numpy=payload)]
    provider = FakeProvider(data, {pair: metadata.KIND_INCIDENT for pair in pairs}, broken=[bad])
    summaries = {s["run"]: s for s in reader.list_runs(provider, tb_context.RequestContext())}
    assert {run: (s["incident_count"], s["skipped"]) for run, s in summaries.items()} == {
        "a": (100, 0), "b": (99, 1), "c": (100, 0)}
    assert len(provider.reads) <= 20, provider.reads  # not 300


def test_report_text_on_an_ascii_terminal(nested, monkeypatch):
    """A non-UTF-8 locale: what stdout cannot encode is escaped, not fatal."""
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer, encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert cli.main(["report", str(nested)]) == 1
    stdout.flush()
    assert "run carol/\\xfcber exp #1: INCIDENT" in buffer.getvalue().decode("ascii")

"""The synthetic logdir the viewer tests read (reader, plugin routes, real
TensorBoard processes, `nantrace report`, all without TensorFlow too), and
the checks they share. Written with the real RecordWriter from synthetic
protos; real training scenarios are tested elsewhere."""

import json

from tb_nantrace import metadata, records
from tb_nantrace.proto import nantrace_pb2 as pb

# Imports TensorFlow when a test module imports this one, at collection: the
# in-process report calls then never switch TensorBoard to its TF-free stub
# for the rest of the session.
from tb_nantrace.recorder.writer import RecordWriter  # isort: skip

BIG = 150  # more than the Rust server's 100 and the Python loader's 10 per tag
INF = float("inf")
NAN = float("nan")
SESSION = "0001700000000"


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

    index = 999  # the incident number its tag carries

    def SerializeToString(self):
        return b"\x0a\xff\xff\xff\xff"


def _write_run(path, start=None, incidents=(), end=None, garbage=False):
    writer = RecordWriter(str(path), SESSION)
    if start is not None:
        writer.write(metadata.RUN_START, start, 0)
    for incident in incidents:
        writer.write(metadata.INCIDENT, incident, incident.step)
    if garbage:
        writer.write(metadata.INCIDENT, _Garbage(), 7)
    if end is not None:
        writer.write(metadata.RUN_END, end, end.steps)
    writer.close()


def write_logdir(root):
    """Writes, under `root`:
         big/          150 incidents (written newest first), finished, 400 steps
         healthy/      no incident, finished, 50 steps
         nested/deep/  killed: run_start only, one rich incident, one corrupt record
         other/        a plain scalar, no nantrace data
    """
    import tensorflow as tf

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


# ---------------------------------------------------------------- checks shared by
# the WSGI client, the report and the real TensorBoard processes


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
READER_KEYS = {"session", "trend", "first_warning_steps_before"}


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
        records.dumps(records.incident_to_dict(rich_incident()))
    )
    a, b = incident["inputs"]
    assert (a["min"], a["max"], a["nan"], a["inf"]) == ("-Infinity", "NaN", 3, 3)
    assert (b["min"], b["max"], b["zeros"]) == (0.0, "Infinity", 7)
    assert incident["outputs"][0]["min"] == "NaN"
    assert incident["source"]["file"] == "train.py" and incident["source"]["line"] == 42
    assert incident["cause"]["fixes"] == ["use tf.math.divide_no_nan", "clip the denominator"]
    assert incident["input_location"] == {"tensor": "x", "batch_index": 5, "feature_index": [3]}

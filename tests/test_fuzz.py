"""Seeded fuzzing of the viewer (a few thousand cases, seconds):

(a) the record parser and the reader on random bytes and on mutated valid
    protos (bit flips, truncations, insertions, deletions, splices, unknown
    fields): a record is read or cleanly skipped, never a crash, and every
    result serializes as strict JSON;
(b) the plugin routes with hostile parameters and paths: always JSON, status
    200/400/404 (never 500, never an HTML or text page), 200 bodies strict
    JSON;
(c) event files with random bytes appended, inserted, overwritten, records
    truncated, duplicated, reordered, CRC-valid garbage records and hostile
    tensors, through `nantrace report --json` in-process: exit 0/1/2 and
    strict JSON on stdout for 0/1.

A failure prints the seed and case number; every case is reproducible from
them. NANTRACE_FUZZ_SCALE=10 runs ten times as many cases.
"""

import os
import random
import re
import urllib.parse

import numpy as np
import pytest
import werkzeug.wrappers
from google.protobuf.message import DecodeError
from werkzeug.test import Client

from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.data import provider as provider_lib
from tensorboard import context as tb_context

import event_files as ef
from fake_provider import FakeProvider
from plugin_app import plugin_app
from tb_nantrace import metadata, reader, records
from tb_nantrace.proto import nantrace_pb2 as pb
from tb_nantrace.report import json_report, loader
from tensorboard_process import strict_json_loads

SCALE = max(1, int(os.environ.get("NANTRACE_FUZZ_SCALE", "1")))
S = ef.SESSION
KINDS = [metadata.KIND_INCIDENT, metadata.KIND_RUN_INFO, metadata.KIND_WINDOW,
         metadata.KIND_TIMELINE, metadata.KIND_WARNING]
INF, NAN = float("inf"), float("nan")


def strict(value):
    """records.dumps must accept it, and the text must be strict JSON."""
    text = records.dumps(value)
    strict_json_loads(text)
    return text


# ---------------------------------------------------------------- valid protos


def rich_incident():
    incident = ef.incident(index=1, step=7, op="RealDiv", layer="dense_1")
    incident.replica = 3
    incident.variable = "dense_1/kernel"
    incident.note = "n\u00f6te \U0001f600"
    incident.stack.append(incident.source)
    incident.inputs.add(name="a", dtype="float32", shape=[2, 3], size=6, min=-INF, max=NAN,
                        nan_count=1, posinf_count=1, neginf_count=1, min_abs_nonzero=1e-38,
                        max_abs_finite=3e38)
    incident.outputs.add(name="y", dtype="float16", shape=[2, 3], size=6, min=NAN, max=NAN)
    incident.input_location.tensor = "x"
    incident.input_location.batch_index = 4
    incident.input_location.feature_index.extend([1, 2])
    incident.cause.contributing.extend(["exploding_gradient"])
    incident.cause.fixes.extend(["clip"])
    for i in range(4):
        incident.graph.nodes.add(name=f"n{i}", type="Mul", layer="dense_1", phase="forward",
                                 state="origin" if i == 0 else "propagated")
    incident.graph.edges.add(source="n0", target="n1")
    incident.graph.truncated = True
    return incident


BASES = {
    metadata.KIND_INCIDENT: [rich_incident(), ef.incident()],
    metadata.KIND_RUN_INFO: [pb.RunInfo(schema_version=1, mode="guard", status="finished",
                                        steps=100, incident_count=2, incidents_capped=True,
                                        tensorflow_version="2.21", start_time=1.0,
                                        end_time=2.0, notes=["a", "b"], hostname="h")],
    metadata.KIND_WINDOW: [pb.HealthWindow(schema_version=1, incident_index=1,
                                           metric=["loss", "grad_norm", "act_max_abs"],
                                           layer=["", "", "dense_1"], steps=[5, 6, 7],
                                           values=[1, 2, 3, 4, NAN, 6, INF, 8, -INF])],
    metadata.KIND_TIMELINE: [ef.timeline_chunk(0, 63), ef.timeline_chunk(64, 127),
                             ef.timeline_chunk(128, 191, metrics=("loss", "grad_norm",
                                                                  "act_max_abs"),
                                               layers=("", "", "dense_1"))],
    metadata.KIND_WARNING: [pb.Warning(schema_version=1, index=0, step=6,
                                       code="exploding_gradient", layer="dense_1",
                                       metric="grad_norm", message="grows",
                                       evidence_steps=[4, 5, 6],
                                       evidence_values=[1.0, 1e30, INF])],
}


def mutate(rng, data, pool=()):
    """One random mutation of `data` (bytes)."""
    data = bytearray(data)
    n = len(data)
    choice = rng.randrange(10)
    if choice == 0 and n:  # bit flips
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif choice == 1:  # truncation
        del data[rng.randint(0, n):]
    elif choice == 2:  # insertion of random bytes
        at = rng.randint(0, n)
        data[at:at] = rng.randbytes(rng.randint(1, 16))
    elif choice == 3 and n:  # deletion
        at = rng.randrange(n)
        del data[at:at + rng.randint(1, 16)]
    elif choice == 4 and n:  # overwrite
        at = rng.randrange(n)
        size = rng.randint(1, 8)
        data[at:at + size] = rng.randbytes(size)
    elif choice == 5:  # unknown fields, as a newer writer adds them
        data += ef.unknown_varint_field(rng.randint(20, 536870911), rng.getrandbits(64))
        if rng.random() < 0.5:
            data += ef.unknown_length_field(rng.randint(20, 100000), rng.randbytes(8))
    elif choice == 6 and pool:  # splice with another record
        other = rng.choice(pool)
        data = data[: rng.randint(0, n)] + other[rng.randint(0, len(other)):]
    elif choice == 7 and n:  # a byte set to an interesting value
        data[rng.randrange(n)] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x08])
    elif choice == 8:  # random bytes
        return rng.randbytes(rng.randint(0, 64))
    elif choice == 9 and n:  # duplicated slice
        at = rng.randrange(n)
        data[at:at] = data[at:at + rng.randint(1, 32)]
    return bytes(data)


def to_dict(message):
    """The message's JSON-ready dict, by the record table; None for windows
    and chunks (only read through the reader)."""
    record = next(r for r in metadata.RECORDS if isinstance(message, r.message))
    return record.to_dict(message) if record.to_dict is not None else None


# ---------------------------------------------------------------- (a) parser and reader


def random_tag(rng, kind):
    session = rng.choice([S, "0001700000001", "", "x/y", "\u00e9\x00"])
    index = rng.choice([0, 1, 2, 7, -1, 2**31 - 1])
    if kind == metadata.KIND_INCIDENT:
        return metadata.incident_tag(session, index) if index >= 0 else "nantrace/incident/"
    if kind == metadata.KIND_WARNING:
        return metadata.warning_tag(session, abs(index))
    if kind == metadata.KIND_WINDOW:
        return metadata.window_tag(session, abs(index))
    if kind == metadata.KIND_TIMELINE:
        return metadata.run_info_tag(metadata.TIMELINE_TAG, session)
    base = rng.choice([metadata.RUN_START_TAG, metadata.RUN_END_TAG])
    return rng.choice([base, metadata.run_info_tag(base, session)])


def random_numpy(rng, payload):
    """The payload as a provider hands it back, or something odder."""
    choice = rng.random()
    if choice < 0.85:
        return np.array(payload, dtype=object)
    return rng.choice([
        np.array([payload, payload], dtype=object),
        np.array(payload.decode("latin-1")),  # a str
        np.array(3.5), np.array([]), np.array(np.nan), None,
        np.array(payload.decode("utf-8", "surrogateescape"), dtype=object),
    ])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_record_parser_and_reader(seed):
    rng = random.Random(seed)
    ctx = tb_context.RequestContext()
    pool = [m.SerializeToString() for ms in BASES.values() for m in ms]
    outcomes = {"read": 0, "skipped": 0, "unknown": 0}
    for case in range(300 * SCALE):
        where = f"seed {seed} case {case}"
        # A run of 1..12 records, mostly mutations of valid ones.
        data, contents, broken = {"r": {}}, {}, set()
        for position in range(rng.randint(1, 12)):
            kind = rng.choice(KINDS)
            base = rng.choice(BASES[kind]).SerializeToString()
            payload = base if rng.random() < 0.3 else mutate(rng, base, pool)
            if rng.random() < 0.1:
                payload = mutate(rng, payload, pool)
            stored_kind = kind if rng.random() < 0.9 else rng.choice(KINDS + [b"future", b""])
            # parse_record alone: a message, None for an unknown kind, or DecodeError.
            try:
                message = metadata.parse_record(stored_kind, payload)
            except DecodeError:
                outcomes["skipped"] += 1
            else:
                if message is None:
                    assert stored_kind not in KINDS, where
                    outcomes["unknown"] += 1
                else:
                    outcomes["read"] += 1
                    as_dict = to_dict(message)
                    if as_dict is not None:
                        strict(as_dict)
            tag = random_tag(rng, kind) + ("" if position == 0 else f"#{position}")
            data["r"][tag] = [provider_lib.TensorDatum(
                step=rng.choice([0, 5, -1, 2**62]), wall_time=rng.choice([1.0, NAN, -INF]),
                numpy=random_numpy(rng, payload))]
            contents[("r", tag)] = stored_kind
            if rng.random() < 0.05:
                broken.add(("r", tag))
        provider = FakeProvider(data, contents, broken)
        try:
            strict(reader.list_runs(provider, ctx, ""))
            strict(reader.read_run(provider, ctx, "", "r"))
            strict(reader.read_all(provider, ctx, "", trends=True))
            stats = tuple(rng.sample(reader.TIMELINE_STATS, rng.randint(1, 4)))
            strict(reader.read_timeline(provider, ctx, "", "r", rng.choice([1, 2, 3, 500]),
                                        stats, rng.choice([None, ["loss"], ["nope"]]),
                                        rng.choice([None, [""], ["dense_1"]])))
            for index in (0, 1, 7):
                try:
                    strict(reader.read_window(provider, ctx, "", "r", index,
                                              rng.choice(["", S, "nope"])))
                except reader.UnreadableRecordsError:
                    pass
        except Exception as error:
            raise AssertionError(f"{where}: {type(error).__name__}: {error}") from error
    assert outcomes["read"] and outcomes["skipped"] and outcomes["unknown"], outcomes


@pytest.mark.parametrize("seed", [11, 12])
def test_fuzz_random_bytes_as_records(seed):
    rng = random.Random(seed)
    for case in range(400 * SCALE):
        payload = rng.randbytes(rng.choice([0, 1, 2, 5, 16, 100, 1000]))
        for kind in KINDS:
            try:
                message = metadata.parse_record(kind, payload)
            except DecodeError:
                continue
            as_dict = to_dict(message)
            if as_dict is not None:
                strict(as_dict)


# ---------------------------------------------------------------- (b) routes


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_routes")
    run = ef.Run().run_start()
    for i in range(3):
        run.incident(ef.incident(index=i, step=10 + i))
    run.window(BASES[metadata.KIND_WINDOW][0], 11)
    for i in range(20):
        run.timeline(ef.timeline_chunk(64 * i, 64 * i + 63))
    run.warning(BASES[metadata.KIND_WARNING][0])
    run.run_end(pb.RunInfo(schema_version=1, status="stopped", steps=13))
    run.write(root / "r")
    health = ef.Run()
    for i in range(3):
        health.timeline(ef.timeline_chunk(64 * i, 64 * i + 63))
    health.write(root / "a" / "b")
    bad = ef.Run().incident(ef.incident())
    bad.add(metadata.incident_tag(S, 1), metadata.KIND_INCIDENT, b"", 1,
            tensor=tensor_pb2.TensorProto(
                dtype=types_pb2.DT_FLOAT, tensor_content=b"abc",
                tensor_shape=tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)])))
    bad.write(root / "c")
    loader.avoid_tensorflow(".")  # as `nantrace report` does, when TF is not loaded yet
    app = EnvironRecorder(plugin_app(root))
    return Client(app), app


class EnvironRecorder:
    """WSGI middleware keeping the last request's environ."""

    def __init__(self, app):
        self.app, self.environ = app, None

    def __call__(self, environ, start_response):
        self.environ = environ
        return self.app(environ, start_response)


PLUGIN_ROOT = "/data/plugin/nantrace"


def routed_to_plugin(environ):
    """Whether TensorBoard hands this request to the plugin at all, by its
    own rules (experiment prefix, `urlparse(request.path).path`, one
    trailing slash dropped). It does not for the plugin root itself
    (`/data/plugin/nantrace/`, `/data/plugin/nantrace/;x`): TensorBoard
    answers those with its own text 404."""
    path = werkzeug.wrappers.Request(environ).path
    prefix = re.match(r"/experiment/[^/]*", path)
    if prefix:
        path = path[prefix.end():]
    path = urllib.parse.urlparse(path).path
    if path != "/" and path.endswith("/"):
        path = path[:-1]
    return path.startswith(PLUGIN_ROOT + "/")


ROUTES = ["runs", "run", "timeline", "window"]
PARAMS = ["run", "incident", "session", "metric", "layer", "stats", "max_points"]
GOOD = {"run": ["r", "a/b", "c"], "incident": ["0", "1", "2"], "session": [S, ""],
        "metric": ["loss", "grad_norm"], "layer": ["", "dense_1"],
        "stats": ["max,mean", "min", "last,max,min,mean"], "max_points": ["1", "7", "500"]}
HOSTILE = [
    "", " ", "..", "../", "../../etc/passwd", "r/../r", "./r", "r/", "/r", "\\r", "%", "%%",
    "%2", "%G1", "%zz", "%00", "%2e%2e%2f", "%252e", "%C3%28", "%FF%FE", "%ED%A0%80",
    "%F4%90%80%80", "%u2028", "+", "&", "=", "#", ";", "?", "NaN", "nan", "Infinity", "-inf",
    "1e309", "-1", "0", "-0", "1.5", "0x10", "1_000", " 7 ", "\u0665", "\uff15", "9" * 5000,
    str(2**63), str(-2**63 - 1), "1" * 20, "true", "null", "[]", "{}", "<script>", "\u202e",
    "\U0001f600", "\ud800", "\x00", "\x1b[2J", "max,,mean", ",", "max,median", "MAX",
]


def hostile_value(rng, name):
    choice = rng.random()
    if choice < 0.25 and name in GOOD:
        return rng.choice(GOOD[name])
    if choice < 0.7:
        return rng.choice(HOSTILE)
    if choice < 0.8:  # huge
        return rng.choice(["a", "\u00e9", "%00", "../", "9"]) * rng.choice([500, 4000])
    length = rng.randint(1, 40)
    return "".join(chr(rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0xFFFF),
                                   rng.randint(0x10000, 0x10FFFF)])) for _ in range(length))


def encode(rng, text):
    """Percent-encode `text` mostly, but let raw %-sequences and ASCII
    separators through at times: the server must cope with either."""
    if rng.random() < 0.3 and all(32 < ord(c) < 127 for c in text):
        return text  # raw: '%zz', '&', '=', '#' as typed
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def random_request(rng):
    prefix = "/data/plugin/nantrace/"
    if rng.random() < 0.05:
        prefix = f"/experiment/{encode(rng, hostile_value(rng, 'x') or 'e')}/data/plugin/nantrace/"
    roll = rng.random()
    if roll < 0.8:
        route = rng.choice(ROUTES)
    elif roll < 0.9:
        route = rng.choice(["nope", "runs/x", "run/", "runs/", "../runs", "%2e%2e/runs", "x/../runs",
                            "index.js/../runs", "run%00", "RUNS", ".", "a" * 3000, "/runs",
                            "window/extra/segments", "%00", "\u00e9"])
        route = encode(rng, route) if rng.random() < 0.3 else route
    else:
        route = encode(rng, hostile_value(rng, "route") or "x")
    names = [n for n in PARAMS if rng.random() < 0.5]
    if rng.random() < 0.1:
        names.append(encode(rng, hostile_value(rng, "name")))
    if rng.random() < 0.1 and names:
        names.append(rng.choice(names))  # repeated
    query = "&".join(
        f"{name}={encode(rng, hostile_value(rng, name))}" if rng.random() < 0.95 else name
        for name in names
    )
    # In a URL a raw "?" or "#" ends the path: the client would split there.
    path = (prefix + route).replace("?", "%3F").replace("#", "%23")
    return path, query


@pytest.mark.parametrize("seed", [21, 22])
def test_fuzz_routes(client, seed):
    client, app = client
    rng = random.Random(seed)
    statuses = {}
    for case in range(700 * SCALE):
        path, query = random_request(rng)
        where = f"seed {seed} case {case}: {path[:200]}?{query[:300]}"
        response = client.get(path, query_string=query)
        body = response.get_data(as_text=True)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if path.endswith("/index.js") and response.status_code == 200:
            continue
        if not routed_to_plugin(app.environ):
            assert (response.status_code, body) == (404, "Not found"), where
            statuses["tensorboard"] = statuses.get("tensorboard", 0) + 1
            continue
        assert response.status_code in (200, 400, 404), f"{where}\n{body[:2000]}"
        assert response.headers["Content-Type"].startswith("application/json"), where
        try:
            value = strict_json_loads(body)
        except ValueError as error:
            raise AssertionError(f"{where}: not strict JSON: {error}: {body[:500]}") from error
        assert isinstance(value, dict), where
        if response.status_code != 200:
            assert isinstance(value.get("error"), str), where
    assert statuses.get(200) and statuses.get(400) and statuses.get(404), statuses


# ---------------------------------------------------------------- (c) report on broken files


def base_run():
    run = ef.Run().run_start()
    for i in range(3):
        run.incident(rich_incident() if i == 0 else ef.incident(index=i, step=10 + i))
    run.window(BASES[metadata.KIND_WINDOW][0], 7)
    for i in range(4):
        run.timeline(ef.timeline_chunk(64 * i, 64 * i + 63))
    run.warning(BASES[metadata.KIND_WARNING][0])
    run.run_end(pb.RunInfo(schema_version=1, status="stopped", steps=13))
    return run


def hostile_tensor(rng, payload):
    dtype = rng.choice([types_pb2.DT_STRING, types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE,
                        types_pb2.DT_INT64, types_pb2.DT_BOOL, types_pb2.DT_HALF,
                        types_pb2.DT_COMPLEX64, 0, 99])
    dims = [rng.choice([-1, 0, 1, 2, 3]) for _ in range(rng.randint(0, 2))]
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))
    roll = rng.random()
    if roll < 0.4:
        proto.string_val.extend([payload] * rng.randint(0, 3))
    elif roll < 0.7:
        proto.tensor_content = rng.randbytes(rng.randint(0, 17))
    else:
        proto.float_val.extend([rng.random()] * rng.randint(0, 3))
    return proto


def broken_file(rng):
    run = base_run()
    frames = [record for _, record in run.records()]
    pool = [m.SerializeToString() for ms in BASES.values() for m in ms]
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        at = rng.randint(0, len(frames))
        if roll < 0.15:  # a CRC-valid record that is not an Event
            frames.insert(at, ef.frame(rng.randbytes(rng.randint(0, 40))))
        elif roll < 0.35:  # a valid Event holding a mutated nantrace payload
            kind = rng.choice(KINDS + [b"future"])
            base = rng.choice(pool)
            frames.insert(at, ef.frame(ef.event(random_tag(rng, rng.choice(KINDS)), kind,
                                                mutate(rng, base, pool), rng.randint(0, 20))))
        elif roll < 0.45:  # a valid Event holding a tensor no writer produces
            frames.insert(at, ef.frame(ef.event(
                metadata.incident_tag(S, rng.randint(3, 9)), metadata.KIND_INCIDENT, b"",
                rng.randint(0, 20), tensor=hostile_tensor(rng, rng.choice(pool)))))
        elif roll < 0.55 and frames:  # a duplicated record
            frames.insert(at, rng.choice(frames))
        elif roll < 0.6:
            rng.shuffle(frames)
    data = bytearray(b"".join(frames))
    for _ in range(rng.randint(0, 2)):
        roll = rng.random()
        at = rng.randint(0, len(data))
        if roll < 0.3:
            data += rng.randbytes(rng.randint(1, 300))  # appended
        elif roll < 0.55:
            data[at:at] = rng.randbytes(rng.randint(1, 64))  # inserted
        elif roll < 0.7:
            del data[at:]  # truncated
        elif roll < 0.85 and data:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            del data[at:at + rng.randint(1, 64)]
    return bytes(data)


@pytest.mark.parametrize("seed", [31, 32])
def test_fuzz_report_on_broken_event_files(tmp_path, report, seed):
    rng = random.Random(seed)
    codes = {}
    for case in range(90 * SCALE):
        where = f"seed {seed} case {case}"
        logdir = tmp_path / f"case{case}"
        ef.Run().write(logdir / "run", broken_file(rng))
        if rng.random() < 0.3:  # a second file in the run, and a second run
            ef.Run().write(logdir / "run", broken_file(rng),
                           name="events.out.tfevents.1700000009.host.2.nantrace")
            ef.Run().write(logdir / "other" / "deep", broken_file(rng))
        as_json = rng.random() < 0.8
        code, out, err = report(logdir, *(["--json"] if as_json else []))
        codes[code] = codes.get(code, 0) + 1
        assert code in (0, 1, 2), f"{where}: exit {code}\n{err[-2000:]}"
        # A readable directory is never "unreadable": exit 2 only when no
        # nantrace record survived the damage.
        assert "cannot read logdir" not in err, f"{where}\n{err[-2000:]}"
        if code == 2:
            assert out == "" and "no nantrace records under" in err, where
            continue
        if as_json:
            try:
                body = strict_json_loads(out)
            except ValueError as error:
                raise AssertionError(f"{where}: {error}\n{out[:1000]}") from error
            assert body["format"] == json_report.FORMAT and body["runs"], where
            assert (code == 1) == any(run["incidents"] for run in body["runs"]), where
            for run in body["runs"]:
                assert isinstance(run["skipped"], int) and run["skipped"] >= 0, where
        else:
            assert out.startswith("nantrace report: "), where
            assert not any(ord(c) < 32 and c not in "\n\t" for c in out), where
    assert codes.get(1), codes

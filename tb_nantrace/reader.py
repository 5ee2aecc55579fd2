"""Reads nantrace records back through a TensorBoard DataProvider.

Shared by the TensorBoard plugin (which gets the Rust data server's or the
Python multiplexer's provider from TensorBoard) and by `nantrace report`
(which builds a MultiplexerDataProvider itself). Never imports TensorFlow.

Shapes returned (all JSON-ready, non-finite floats already strings):

    run summary: {"run", "status": "healthy"|"incident", "steps",
                  "incident_count", "skipped"}
    run detail:  {"run", "status", "steps", "info": run_info dict or None,
                  "incidents": [incident dicts, oldest first], "skipped"}
"""

import json
import logging

from tensorboard.data import provider as provider_lib

from tb_nantrace import metadata, records

logger = logging.getLogger(__name__)

# Every record is one point of its own tag (one tag per incident), but a run
# recorded twice into the same directory can hold several points per tag:
# ask for far more than can exist so that no provider downsamples anything.
DOWNSAMPLE = 1_000_000

STATUS_HEALTHY = "healthy"
STATUS_INCIDENT = "incident"


class UnknownRunError(LookupError):
    """The requested run has no nantrace data (or does not exist)."""


def strict_jsonable(value):
    """Deep copy of `value` where every float is JSON-safe (NaN/Infinity as
    the strings records.json_number uses), bytes are decoded and tuples are
    lists: `json.dumps(..., allow_nan=False)` can never fail on the result."""
    if isinstance(value, float):
        return records.json_number(value)
    if isinstance(value, dict):
        return {str(k): strict_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return strict_jsonable(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


def dumps(value, **kwargs):
    """Strict JSON text (no NaN/Infinity literals) for any reader result."""
    return json.dumps(strict_jsonable(value), allow_nan=False, **kwargs)


def _payload(datum):
    """The serialized proto held by one TensorDatum, or None.

    Both providers hand back the scalar DT_STRING tensor as a 0-d numpy
    object array holding `bytes` (the Rust data server sends the TensorProto
    over gRPC; grpc_provider turns it into numpy with make_ndarray)."""
    array = getattr(datum, "numpy", None)
    if array is None:
        return None
    try:
        if getattr(array, "size", 1) != 1:
            return None
        value = array.item() if hasattr(array, "item") else array
    except (TypeError, ValueError):
        return None
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, (bytes, bytearray)):
        return None
    return bytes(value)


def _kind_of(tag, plugin_content):
    """Which message a tag holds: plugin_data.content, or the tag when a
    provider did not pass the content along."""
    if plugin_content in (metadata.KIND_INCIDENT, metadata.KIND_RUN_INFO):
        return plugin_content
    if plugin_content:
        return None  # a kind from a newer writer: not ours to interpret
    if tag.startswith(metadata.INCIDENT_TAG_PREFIX):
        return metadata.KIND_INCIDENT
    if metadata.is_run_start(tag) or metadata.is_run_end(tag):
        return metadata.KIND_RUN_INFO
    return None


class _RunData:
    def __init__(self, run):
        self.run = run
        self.incidents = []  # (sort key, dict)
        self.run_start = None  # (wall_time, step, RunInfo)
        self.run_end = None
        self.skipped = 0

    def add(self, tag, kind, datum):
        payload = _payload(datum)
        if payload is None:
            self.skipped += 1
            return
        try:
            message = metadata.parse_record(kind, payload)
        except Exception:  # DecodeError, or anything a corrupt payload raises
            logger.warning("nantrace: unreadable record %r in run %r", tag, self.run)
            self.skipped += 1
            return
        if message is None:
            return
        wall_time = float(getattr(datum, "wall_time", 0.0) or 0.0)
        step = int(getattr(datum, "step", 0) or 0)
        if kind == metadata.KIND_INCIDENT:
            try:
                incident = records.incident_to_dict(message)
            except Exception:
                logger.warning("nantrace: bad incident %r in run %r", tag, self.run)
                self.skipped += 1
                return
            # Oldest recording first, then by step within a recording.
            key = (metadata.tag_session(tag), incident["step"], incident["index"], wall_time)
            self.incidents.append((key, incident))
        elif metadata.is_run_end(tag):
            key = (metadata.tag_session(tag), wall_time, step)
            if self.run_end is None or key >= self.run_end[:3]:
                self.run_end = key + (message,)
        elif metadata.is_run_start(tag):
            key = (metadata.tag_session(tag), wall_time, step)
            if self.run_start is None or key >= self.run_start[:3]:
                self.run_start = key + (message,)

    def sorted_incidents(self):
        return [d for _, d in sorted(self.incidents, key=lambda pair: pair[0])]

    def info(self):
        """The latest RunInfo: the end record if written, else the start."""
        # The latest recording's end record, else its start record.
        candidates = [r for r in (self.run_end, self.run_start) if r is not None]
        if not candidates:
            return None
        latest = max(candidates, key=lambda r: (r[0], r is self.run_end))
        return latest[3]

    def steps(self):
        # The end record knows how many steps completed. Without one (still
        # running, or killed) the start record usually says 0, so never
        # report fewer steps than the last incident proves were run.
        info = self.info()
        if info is not None and self.run_end is not None and info is self.run_end[3]:
            return int(info.steps)
        from_incidents = max((d["step"] + 1 for _, d in self.incidents), default=0)
        if self.run_start is not None:
            return max(int(self.run_start[3].steps), from_incidents)
        return from_incidents

    def status(self):
        return STATUS_INCIDENT if self.incidents else STATUS_HEALTHY

    def summary(self):
        return strict_jsonable(
            {
                "run": self.run,
                "status": self.status(),
                "steps": self.steps(),
                "incident_count": len(self.incidents),
                "skipped": self.skipped,
            }
        )

    def detail(self):
        info = self.info()
        return strict_jsonable(
            {
                "run": self.run,
                "status": self.status(),
                "steps": self.steps(),
                "info": records.run_info_to_dict(info) if info is not None else None,
                "incidents": self.sorted_incidents(),
                "skipped": self.skipped,
            }
        )


def _load(data_provider, ctx, experiment_id, runs=None):
    """{run: _RunData} for every run with nantrace data (only `runs` if given)."""
    run_tag_filter = provider_lib.RunTagFilter(runs=runs) if runs is not None else None
    listing = data_provider.list_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        run_tag_filter=run_tag_filter,
    )
    kinds = {}
    result = {}
    for run, tags in listing.items():
        if runs is not None and run not in runs:
            continue
        result[run] = _RunData(run)
        for tag, series in tags.items():
            kinds[(run, tag)] = _kind_of(tag, getattr(series, "plugin_content", b""))
    if not result:
        return result
    data = data_provider.read_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        downsample=DOWNSAMPLE,
        run_tag_filter=provider_lib.RunTagFilter(runs=sorted(result)),
    )
    for run, tags in data.items():
        run_data = result.get(run)
        if run_data is None:
            continue
        for tag, series in tags.items():
            kind = kinds.get((run, tag), _kind_of(tag, b""))
            if kind is None:
                continue
            for datum in series:
                run_data.add(tag, kind, datum)
    return result


def list_runs(data_provider, ctx, experiment_id=""):
    """Summaries of every run holding nantrace records, sorted by run name."""
    loaded = _load(data_provider, ctx, experiment_id)
    return [loaded[run].summary() for run in sorted(loaded)]


def read_run(data_provider, ctx, experiment_id, run):
    """Detail of one run; raises UnknownRunError if it has no nantrace data."""
    loaded = _load(data_provider, ctx, experiment_id, runs=[run])
    if run not in loaded:
        raise UnknownRunError(run)
    return loaded[run].detail()


def read_all(data_provider, ctx, experiment_id=""):
    """Details of every run holding nantrace records, sorted by run name."""
    loaded = _load(data_provider, ctx, experiment_id)
    return [loaded[run].detail() for run in sorted(loaded)]

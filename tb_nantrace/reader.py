"""Reads nantrace records back through a TensorBoard DataProvider.

Shared by the TensorBoard plugin (which gets the Rust data server's or the
Python multiplexer's provider from TensorBoard) and by `nantrace report`
(which builds a MultiplexerDataProvider itself). Never imports TensorFlow.

Shapes returned (all JSON-ready, non-finite floats already strings):

    run summary: {"run", "status": "healthy"|"incident", "steps",
                  "incident_count", "skipped"}
    run detail:  {"run", "status", "steps", "info": run_info dict or None,
                  "incidents": [incident dicts, oldest first], "warnings",
                  "skipped", "unknown_kinds"}

"skipped" counts the records this view read but could not decode (corrupt
payload, a tensor that is not a scalar string, a tag the data provider could
not read at all: one per tag). "unknown_kinds" maps each record kind this
version does not know (a newer writer's) to its number of tags: those are
ignored, not skipped.
"""

import json
import logging

from tensorboard import errors
from tensorboard.data import provider as provider_lib

from tb_nantrace import metadata, records

logger = logging.getLogger(__name__)

# Every record is one point of its own tag (one tag per incident), but a run
# recorded twice into the same directory can hold several points per tag:
# ask for far more than can exist so that no provider downsamples anything.
DOWNSAMPLE = 1_000_000

KNOWN_KINDS = (metadata.KIND_INCIDENT, metadata.KIND_RUN_INFO, metadata.KIND_WARNING,
               metadata.KIND_WINDOW, metadata.KIND_TIMELINE)
# What each view needs: the run list and detail never load the big records.
DETAIL_KINDS = (metadata.KIND_INCIDENT, metadata.KIND_RUN_INFO, metadata.KIND_WARNING)
DEFAULT_TIMELINE_POINTS = 500
TREND_STEPS = 8
TIMELINE_STATS = ("min", "max", "mean", "last")

STATUS_HEALTHY = "healthy"
STATUS_INCIDENT = "incident"


class UnknownRunError(LookupError):
    """The requested run has no nantrace data (or does not exist)."""


class UnreadableRecordsError(LookupError):
    """What was asked for is not there, and records of that kind were
    skipped as unreadable: args are (message, skipped count)."""


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
    if plugin_content in KNOWN_KINDS:
        return plugin_content
    if plugin_content:
        return None  # a kind from a newer writer: not ours to interpret
    if tag.startswith(metadata.INCIDENT_TAG_PREFIX):
        return metadata.KIND_INCIDENT
    if tag.startswith(metadata.WARNING_TAG_PREFIX):
        return metadata.KIND_WARNING
    if tag.startswith(metadata.WINDOW_TAG_PREFIX):
        return metadata.KIND_WINDOW
    if tag == metadata.TIMELINE_TAG or tag.startswith(metadata.TIMELINE_TAG + "/"):
        return metadata.KIND_TIMELINE
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
        self.warnings = []  # (sort key, dict)
        self.windows = {}  # (session, incident index) -> HealthWindow
        self.chunks = []  # (session, TimelineChunk)
        self.unknown_kinds = {}  # kind (str) -> number of tags
        self.timeline_max_step = None  # from the listing: no record read

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
            incident["session"] = metadata.tag_session(tag)
            key = (incident["session"], incident["step"], incident["index"], wall_time)
            self.incidents.append((key, incident))
        elif kind == metadata.KIND_WARNING:
            warning = records.warning_to_dict(message)
            warning["session"] = metadata.tag_session(tag)
            self.warnings.append(((warning["session"], warning["step"], warning["index"]), warning))
        elif kind == metadata.KIND_WINDOW:
            self.windows[(metadata.tag_session(tag), int(message.incident_index))] = message
        elif kind == metadata.KIND_TIMELINE:
            self.chunks.append((metadata.tag_session(tag), message))
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
        # The timeline's last chunk ends at the last sampled step: a lower
        # bound too (a killed run, or one that wrote only health data).
        if self.timeline_max_step is not None:
            from_incidents = max(from_incidents, self.timeline_max_step + 1)
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
                "warning_count": len(self.warnings),
                "run_status": (self.info().status or None) if self.info() is not None else None,
                "skipped": self.skipped,
            }
        )

    def trend(self, incident, last=TREND_STEPS):
        """The steps just before an incident, for the metrics that usually
        tell the story: loss and gradient norm, overall and in its layer."""
        window = self.window(incident.get("session", ""), incident["index"])
        if window is None:
            return None
        wanted = [("loss", None), ("grad_norm", None)]
        if incident.get("layer"):
            wanted += [("act_max_abs", incident["layer"]), ("grad_norm", incident["layer"])]
        steps = window["steps"][-last:]
        trend = {}
        for series in window["series"]:
            if (series["metric"], series["layer"]) in wanted:
                label = series["metric"] + (f"[{series['layer']}]" if series["layer"] else "")
                trend[label] = [[s, v] for s, v in zip(steps, series["values"][-last:])]
        return trend

    def detail(self, trends=False):
        if trends:
            for _, incident in self.incidents:
                incident["trend"] = self.trend(incident)
        info = self.info()
        return strict_jsonable(
            {
                "run": self.run,
                "status": self.status(),
                "steps": self.steps(),
                "info": records.run_info_to_dict(info) if info is not None else None,
                "incidents": self.sorted_incidents(),
                "warnings": [w for _, w in sorted(self.warnings, key=lambda pair: pair[0])],
                "skipped": self.skipped,
                "unknown_kinds": dict(sorted(self.unknown_kinds.items())),
            }
        )

    def window(self, session, index, metrics=None):
        """Full-resolution health before incident `index` of `session`
        (the latest session when `session` is empty), column by column;
        only the `metrics` asked for, if any."""
        if not session:
            matching = sorted(k for k in self.windows if k[1] == index)
            session = matching[-1][0] if matching else ""
        message = self.windows.get((session, index))
        if message is None:
            return None
        columns = len(message.metric)
        steps = [int(s) for s in message.steps]
        values = list(message.values)
        return strict_jsonable({
            "run": self.run,
            "session": session,
            "incident": index,
            "steps": steps,
            "series": [
                {"metric": message.metric[c],
                 "layer": (message.layer[c] if c < len(message.layer) else "") or None,
                 "values": values[c::columns][: len(steps)]}
                for c in range(columns)
                if not metrics or message.metric[c] in metrics
            ],
            "skipped": self.skipped,
        })

    def timeline(self, max_points, stats, metrics=None, layers=None):
        """The sampled long-horizon timeline, downsampled here (not in the
        browser) to at most `max_points` points per series."""
        chunks = sorted(self.chunks, key=lambda pair: (pair[1].last_step, pair[0]))
        columns = []
        for _, chunk in chunks:
            for metric, layer in zip(chunk.metric, chunk.layer):
                if (metric, layer) not in columns:
                    columns.append((metric, layer))
        if metrics:
            columns = [c for c in columns if c[0] in metrics]
        if layers:
            columns = [c for c in columns if (c[1] or "") in layers]
        buckets = _buckets(len(chunks), max_points)
        positions = [
            {key: i for i, key in enumerate(zip(chunk.metric, chunk.layer))} for _, chunk in chunks
        ]
        series = []
        for metric, layer in columns:
            values = {stat: [] for stat in stats}
            for start, end in buckets:
                group = [
                    _column(chunk, positions[start + offset].get((metric, layer)))
                    for offset, (_, chunk) in enumerate(chunks[start:end])
                ]
                for stat in stats:
                    values[stat].append(_combine(stat, [g for g in group if g is not None]))
            series.append({"metric": metric, "layer": layer or None, **values})
        return strict_jsonable({
            "run": self.run,
            "points": len(buckets),
            "chunks": len(chunks),
            "first_steps": [int(chunks[s][1].first_step) for s, _ in buckets],
            "steps": [int(chunks[e - 1][1].last_step) for _, e in buckets],
            "series": series,
            "incidents": [
                {k: i[k] for k in ("index", "session", "step", "kind", "phase")}
                | {"op": i["op"]["type"]}
                for i in self.sorted_incidents()
            ],
            "warnings": [w for _, w in sorted(self.warnings, key=lambda pair: pair[0])],
            "skipped": self.skipped,
        })


def _buckets(count, max_points):
    """Consecutive [start, end) groups of at most ceil(count / max_points)."""
    if count == 0:
        return []
    size = -(-count // max(1, max_points))
    return [(start, min(count, start + size)) for start in range(0, count, size)]


def _column(chunk, i):
    """Column i of a chunk as {stat: value}; None when the chunk lacks it."""
    if i is None:
        return None
    pick = lambda field: field[i] if i < len(field) else float("nan")  # noqa: E731
    return {"min": pick(chunk.min), "max": pick(chunk.max), "mean": pick(chunk.mean),
            "last": pick(chunk.last), "count": int(chunk.count)}


def _finite(values):
    return [v for v in values if v == v and v not in (float("inf"), float("-inf"))]


def _combine(stat, group):
    """One point from consecutive chunks: the extreme of extremes, the
    count-weighted mean, the last value."""
    if not group:
        return None
    if stat == "last":
        return group[-1]["last"]
    if stat == "mean":
        pairs = [(g["mean"], g["count"]) for g in group if g["mean"] == g["mean"]]
        total = sum(c for _, c in pairs)
        return sum(m * c for m, c in pairs) / total if total else float("nan")
    values = [g[stat] for g in group]
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        finite = _finite(values)
        nonfinite = [v for v in values if v not in finite]
        # A non-finite extreme is the news: keep it.
        return nonfinite[0] if nonfinite else float("nan")
    return min(values) if stat == "min" else max(values)


def _load(data_provider, ctx, experiment_id, runs=None, kinds=DETAIL_KINDS):
    """{run: _RunData} for every run with nantrace data (only `runs` if given),
    reading only the tags that hold `kinds`."""
    run_tag_filter = provider_lib.RunTagFilter(runs=runs) if runs is not None else None
    listing = data_provider.list_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        run_tag_filter=run_tag_filter,
    )
    kinds_wanted = kinds
    kinds = {}
    result = {}
    for run, tags in listing.items():
        if runs is not None and run not in runs:
            continue
        run_data = result[run] = _RunData(run)
        for tag, series in tags.items():
            content = getattr(series, "plugin_content", b"") or b""
            kind = kinds[(run, tag)] = _kind_of(tag, content)
            if kind is None:
                name = (content.decode("utf-8", "replace") if isinstance(content, bytes)
                        else str(content))
                run_data.unknown_kinds[name] = run_data.unknown_kinds.get(name, 0) + 1
            elif kind == metadata.KIND_TIMELINE:
                max_step = getattr(series, "max_step", None)
                if isinstance(max_step, int) and max_step >= 0:
                    run_data.timeline_max_step = max(run_data.timeline_max_step or 0, max_step)
    wanted = {(run, tag) for (run, tag), kind in kinds.items() if kind in kinds_wanted}
    if not result or not wanted:
        return result
    for run, tags in _read_tensors(data_provider, ctx, experiment_id, wanted).items():
        run_data = result.get(run)
        if run_data is None:
            continue
        for tag, series in tags.items():
            kind = kinds.get((run, tag), _kind_of(tag, b""))
            if kind is None or kind not in kinds_wanted:
                continue
            if series is None:  # the provider could not read this tag
                run_data.skipped += 1
                continue
            for datum in series:
                run_data.add(tag, kind, datum)
    return result


def _read_tensors(data_provider, ctx, experiment_id, wanted):
    """{run: {tag: [TensorDatum] or None}} for the (run, tag) pairs in
    `wanted`. One hostile record (a tensor the provider cannot turn into an
    array, e.g. a float tensor whose content is not a whole number of floats)
    makes the provider's read fail as a whole: then the read is split in
    halves, by run and then by tag, until only the tags that cannot be read
    are left out (None): a few reads per bad tag. Errors meant for the user
    (PublicError) are raised."""
    tags_of = {}
    for run, tag in wanted:
        tags_of.setdefault(run, set()).add(tag)

    def read(runs, tags):
        return data_provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=DOWNSAMPLE,
            run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=tags),
        )

    def isolating(runs, tags):
        try:
            return read(runs, tags)
        except errors.PublicError:
            raise
        except Exception as error:  # noqa: BLE001 - narrowed down below
            if len(runs) > 1:
                out = {}
                for part in (runs[: len(runs) // 2], runs[len(runs) // 2 :]):
                    out.update(isolating(part, sorted(set().union(*(tags_of[r] for r in part)))))
                return out
            if len(tags) > 1:
                out = isolating(runs, tags[: len(tags) // 2])
                for run, series in isolating(runs, tags[len(tags) // 2 :]).items():
                    out.setdefault(run, {}).update(series)
                return out
            logger.warning("nantrace: unreadable tag %r in run %r: %s: %s",
                           tags[0], runs[0], type(error).__name__, error)
            return {runs[0]: {tags[0]: None}}

    return isolating(sorted(tags_of), sorted(set().union(*tags_of.values())))


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


def read_all(data_provider, ctx, experiment_id="", trends=False):
    """Details of every run holding nantrace records, sorted by run name;
    with `trends`, each incident gets the health trend before it."""
    kinds = DETAIL_KINDS + ((metadata.KIND_WINDOW,) if trends else ())
    loaded = _load(data_provider, ctx, experiment_id, kinds=kinds)
    return [loaded[run].detail(trends=trends) for run in sorted(loaded)]


def _one_run(data_provider, ctx, experiment_id, run, kinds):
    loaded = _load(data_provider, ctx, experiment_id, runs=[run], kinds=kinds)
    if run not in loaded:
        raise UnknownRunError(run)
    return loaded[run]


def read_timeline(data_provider, ctx, experiment_id, run, max_points=DEFAULT_TIMELINE_POINTS,
                  stats=TIMELINE_STATS, metrics=None, layers=None):
    """Timeline of one run: series by metric and layer, incident and warning
    markers. Raises UnknownRunError."""
    kinds = (metadata.KIND_TIMELINE, metadata.KIND_INCIDENT, metadata.KIND_WARNING,
             metadata.KIND_RUN_INFO)
    data = _one_run(data_provider, ctx, experiment_id, run, kinds)
    return data.timeline(max_points, stats, metrics, layers)


def read_window(data_provider, ctx, experiment_id, run, incident, session="", metrics=None):
    """The flight-recorder window of one incident, or None if not recorded.
    Raises UnknownRunError, or UnreadableRecordsError when it may have been
    recorded but windows of this run could not be read."""
    data = _one_run(data_provider, ctx, experiment_id, run, (metadata.KIND_WINDOW,))
    found = data.window(session, incident, metrics)
    if found is None and data.skipped:
        raise UnreadableRecordsError(
            f"run {run!r}: no readable health window for incident {incident} "
            f"({data.skipped} unreadable record(s) skipped)", data.skipped)
    return found

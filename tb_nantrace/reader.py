"""Reads nantrace records back through a TensorBoard DataProvider.

Shared by the TensorBoard plugin (which gets the Rust data server's or the
Python multiplexer's provider from TensorBoard) and by `nantrace report`
(which builds a MultiplexerDataProvider itself). Never imports TensorFlow.

This module talks to the provider: which tags hold which record kinds,
reading only the tags a view needs, and surviving records the provider
cannot read. What the records of a run become (summaries, details, health
windows, the downsampled timeline) is run_data.py's and timeline.py's;
the shapes are documented there.
"""

import logging

from tensorboard import errors
from tensorboard.data import provider as provider_lib

from tb_nantrace import metadata, timeline
from tb_nantrace.run_data import RunData

logger = logging.getLogger(__name__)

# Every record is one point of its own tag (one tag per incident), but a run
# recorded twice into the same directory can hold several points per tag:
# ask for far more than can exist so that no provider downsamples anything.
DOWNSAMPLE = 1_000_000

# What each view needs: the run list and detail never load the big records.
DETAIL_KINDS = (metadata.KIND_INCIDENT, metadata.KIND_RUN_INFO, metadata.KIND_WARNING)
DEFAULT_TIMELINE_POINTS = 500
TIMELINE_STATS = timeline.STATS


class UnknownRunError(LookupError):
    """The requested run has no nantrace data (or does not exist)."""


class UnreadableRecordsError(LookupError):
    """What was asked for is not there, and records of that kind were
    skipped as unreadable: args are (message, skipped count)."""


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


def _load(data_provider, ctx, experiment_id, runs=None, kinds=DETAIL_KINDS):
    """{run: RunData} for every run with nantrace data (only `runs` if given),
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
        run_data = result[run] = RunData(run)
        for tag, series in tags.items():
            content = getattr(series, "plugin_content", b"") or b""
            kind = kinds[(run, tag)] = metadata.kind_of(tag, content)
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
            kind = kinds.get((run, tag), metadata.kind_of(tag, b""))
            if kind is None or kind not in kinds_wanted:
                continue
            if series is None:  # the provider could not read this tag
                run_data.skipped += 1
                continue
            for datum in series:
                run_data.add(tag, kind, _payload(datum),
                              wall_time=float(getattr(datum, "wall_time", 0.0) or 0.0),
                              step=int(getattr(datum, "step", 0) or 0))
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

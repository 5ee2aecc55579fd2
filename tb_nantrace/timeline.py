"""Downsampling of the long-horizon health timeline (pure: no TensorFlow,
no TensorBoard, no I/O).

The recorder writes the timeline as TimelineChunk messages, each the
min/max/mean/last of every (metric, layer) column over consecutive steps.
The viewer asks for at most N points per series: consecutive chunks are
merged here, on the server, so the browser never receives a million steps.
"""

from typing import NamedTuple

STATS = ("min", "max", "mean", "last")


class Bucket(NamedTuple):
    """Chunks [start, end) merged into one point."""

    start: int
    end: int


class SessionChunk(NamedTuple):
    """A timeline chunk and the recording session it belongs to."""

    session: str
    chunk: object  # TimelineChunk


def buckets(count, max_points):
    """Consecutive [start, end) groups of at most ceil(count / max_points)."""
    if count == 0:
        return []
    size = -(-count // max(1, max_points))
    return [Bucket(start, min(count, start + size)) for start in range(0, count, size)]


def _column(chunk, i):
    """Column i of a chunk as {stat: value}; None when the chunk lacks it."""
    if i is None:
        return None
    pick = lambda field: field[i] if i < len(field) else float("nan")  # noqa: E731
    return {"min": pick(chunk.min), "max": pick(chunk.max), "mean": pick(chunk.mean),
            "last": pick(chunk.last), "count": int(chunk.count)}


def _finite(values):
    return [v for v in values if v == v and v not in (float("inf"), float("-inf"))]


def combine(stat, group):
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


def downsample(session_chunks, max_points, stats, metrics=None, layers=None):
    """{"points", "chunks", "first_steps", "steps", "series"} of the chunks
    (SessionChunk, any order), at most `max_points` points per series, only
    the `metrics` and `layers` asked for, if any."""
    ordered = sorted(session_chunks, key=lambda s: (s.chunk.last_step, s.session))
    chunks = [s.chunk for s in ordered]
    columns = []
    for chunk in chunks:
        for metric, layer in zip(chunk.metric, chunk.layer):
            if (metric, layer) not in columns:
                columns.append((metric, layer))
    if metrics:
        columns = [c for c in columns if c[0] in metrics]
    if layers:
        columns = [c for c in columns if (c[1] or "") in layers]
    groups = buckets(len(chunks), max_points)
    positions = [{key: i for i, key in enumerate(zip(chunk.metric, chunk.layer))}
                 for chunk in chunks]
    series = []
    for metric, layer in columns:
        values = {stat: [] for stat in stats}
        for bucket in groups:
            group = [
                _column(chunk, positions[bucket.start + offset].get((metric, layer)))
                for offset, chunk in enumerate(chunks[bucket.start:bucket.end])
            ]
            for stat in stats:
                values[stat].append(combine(stat, [g for g in group if g is not None]))
        series.append({"metric": metric, "layer": layer or None, **values})
    return {
        "points": len(groups),
        "chunks": len(chunks),
        "first_steps": [int(chunks[b.start].first_step) for b in groups],
        "steps": [int(chunks[b.end - 1].last_step) for b in groups],
        "series": series,
    }

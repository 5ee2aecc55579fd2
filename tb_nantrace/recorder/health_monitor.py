"""Host side of a model's health timeline (health.py is the device side).

Every `FLUSH_EVERY` steps, and at an incident, the monitor reads the
probe's ring once (no host sync in between): the rows become timeline
chunks, feed the early-warning rules, and the ring itself is the flight
recorder written with an incident.
"""

import warnings

import numpy as np

from tb_nantrace import early_warnings, metadata
from tb_nantrace.proto import nantrace_pb2

FLUSH_EVERY = 64   # steps between host reads of the ring
CHUNKS_BEFORE_COARSER = 512  # timeline chunks at one size before they double


def chunk_size(chunks_written):
    """Steps per timeline chunk: doubles every CHUNKS_BEFORE_COARSER chunks,
    so a run of S steps writes O(log S) x 512 chunks (about 2,600 at 1e6)."""
    return FLUSH_EVERY * 2 ** (chunks_written // CHUNKS_BEFORE_COARSER)


class HealthMonitor:
    """Host side of one model's health: timeline chunks, warnings and
    flight-recorder windows. `writer` writes the chunks; `on_finding` gets
    each new early-warning finding."""

    def __init__(self, probe, writer, on_finding):
        self.probe = probe
        self.writer = writer
        self.on_finding = on_finding
        self.last_read = -1
        self.calls_since_read = 0
        self.pending_rows = []
        self.chunk_size = FLUSH_EVERY
        self.chunks_written = 0
        self.warned = set()
        self.history_steps = np.zeros([0], np.int64)
        self.history_rows = np.zeros([0, len(probe.metrics)], np.float32)
        self.history_full = np.zeros([0], bool)
        self.corrections = {}  # step -> {column: value} known only on the host

    def note_bad_gradients(self, step, variables, gradients):
        """A refused step's non-finite gradient counts (the device row has 0)."""
        self.corrections.setdefault(step, {}).update(self.probe.nonfinite_counts(variables, gradients))

    def _read(self, **window):
        steps, rows, full = self.probe.read(**window)
        for i, step in enumerate(steps):
            for column, value in self.corrections.get(int(step), {}).items():
                rows[i, column] = value
        return steps, rows, full

    def after_step(self):
        """Called once per training step; reads the ring every FLUSH_EVERY."""
        self.calls_since_read += 1
        if self.calls_since_read >= FLUSH_EVERY:
            self.read_now()

    def read_now(self):
        self.calls_since_read = 0
        steps, rows, full = self._read(after_step=self.last_read)
        if not len(steps):
            return
        self.last_read = int(steps[-1])
        # Rules look across read boundaries: keep a little history.
        self.history_steps = np.concatenate([self.history_steps, steps])[-self.probe.window:]
        self.history_rows = np.concatenate([self.history_rows, rows])[-self.probe.window:]
        self.history_full = np.concatenate([self.history_full, full])[-self.probe.window:]
        self._warn(self.history_steps, self.history_rows, self.history_full)
        self.pending_rows.extend(zip(steps, rows, full))
        while len(self.pending_rows) >= self.chunk_size:
            self._write_chunk(self.pending_rows[: self.chunk_size])
            self.pending_rows = self.pending_rows[self.chunk_size:]

    def close(self):
        self.read_now()
        if self.pending_rows:
            self._write_chunk(self.pending_rows)
            self.pending_rows = []

    def _write_chunk(self, rows):
        steps = np.array([s for s, _, _ in rows])
        values = np.stack([r for _, r, _ in rows])
        full = np.array([f for _, _, f in rows])
        # "last": the last row for the every-step columns, the last row that
        # measured them for the others (NaN if none in this chunk did).
        last = values[-1].copy()
        sampled = ~self.probe.every_step_columns()
        last[sampled] = values[full][-1][sampled] if full.any() else np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            chunk = nantrace_pb2.TimelineChunk(
                schema_version=metadata.SCHEMA_VERSION,
                metric=self.probe.metrics,
                layer=self.probe.layers,
                first_step=int(steps[0]),
                last_step=int(steps[-1]),
                count=len(steps),
                min=np.nanmin(values, axis=0).tolist(),
                max=np.nanmax(values, axis=0).tolist(),
                mean=np.nanmean(values, axis=0).tolist(),
                last=last.tolist(),
            )
        self.writer.write(metadata.TIMELINE, chunk, chunk.last_step)
        self.chunks_written += 1
        self.chunk_size = chunk_size(self.chunks_written)

    def _warn(self, steps, rows, full):
        findings = early_warnings.evaluate(self.probe.metrics, self.probe.layers, steps, rows,
                                           self.probe.dtype, all_measured=full)
        # One read can hold several steps' findings: print and index them in step order.
        for finding in sorted(findings, key=lambda f: f.step):
            key = (finding.code, finding.layer)
            if key in self.warned:
                continue
            self.warned.add(key)
            self.on_finding(finding)

    def window_for(self, incident):
        """Flight-recorder rows up to the incident's step."""
        return self.window(incident.index, up_to_step=incident.step)

    def window(self, index, up_to_step=None):
        """Flight-recorder rows (up to `up_to_step`) as window `index`."""
        self.read_now()
        steps, rows, full = self._read(up_to_step=up_to_step)
        return nantrace_pb2.HealthWindow(
            schema_version=metadata.SCHEMA_VERSION,
            incident_index=index,
            metric=self.probe.metrics,
            layer=self.probe.layers,
            steps=[int(s) for s in steps],
            values=rows.astype(np.float32).ravel().tolist(),
            all_measured=[bool(f) for f in full],
        )

"""The health timelines of a recording (model.fit): one monitor per model,
the early warnings they raise, and what an incident gets from them (its
flight-recorder window and its contributing warnings)."""

import sys

import numpy as np

from tb_nantrace import early_warnings, metadata
from tb_nantrace.proto import nantrace_pb2
from tb_nantrace.recorder import health, health_monitor, instrument, registry


class HealthTimelines:
    def __init__(self, every, writer):
        self.every = every  # per-layer columns every `every` steps; 0: no timeline
        self.writer = writer
        self.warnings = []  # Warning protos, in order
        self._monitors = {}  # id(model) -> health_monitor.HealthMonitor
        self._at_incident = {}  # incident index -> codes that hold at its step
        self._window_ends = set()  # last step of each incident window written

    def monitor(self, model):
        """The model's monitor, made before tracing (its ring buffer is a
        variable); None when the timeline is off."""
        if not self.every:
            return None
        monitor = self._monitors.get(id(model))
        if monitor is None:
            with instrument.uninstrumented():
                probe = health.HealthProbe(model, every=self.every, note=_note)
                monitor = health_monitor.HealthMonitor(probe, self.writer, self._record_warning)
            self._monitors[id(model)] = monitor
        return monitor

    def note_bad_gradients(self, model, step, variables, gradients):
        monitor = self._monitors.get(id(model))
        if monitor is not None and gradients:
            monitor.note_bad_gradients(step, variables, gradients)

    def after_step(self, model, new_incidents):
        """Between steps: read the ring now and then; write each new
        incident's flight-recorder window."""
        monitor = self._monitors.get(id(model))
        if monitor is None:
            return
        with instrument.uninstrumented():
            if not new_incidents:
                monitor.after_step()
                return
            for incident in new_incidents:
                window = monitor.window_for(incident)
                self.writer.write(metadata.WINDOW, window, incident.step)
                self._window_ends.add(window.steps[-1] if window.steps else None)
                rows = np.reshape(window.values, (len(window.steps), len(window.metric)))
                self._at_incident[incident.index] = [f.code for f in early_warnings.at_incident(
                    window.metric, window.layer, window.steps, rows, incident.step,
                    window.all_measured)]

    def contributing(self, incident):
        """The warning codes raised up to the incident's step, and what holds
        at that step in its window (early_warnings.at_incident)."""
        codes = {w.code for w in self.warnings if w.step <= incident.step}
        codes.update(self._at_incident.pop(incident.index, ()))
        return [code for code in sorted(codes) if code not in incident.cause.contributing]

    def close(self, model):
        monitor = self._monitors.get(id(model))
        if monitor is not None:
            with instrument.uninstrumented():
                monitor.close()
                # The last steps at full resolution (a short run's every
                # step: its timeline chunks aggregate 64 steps each), unless
                # an incident's window already ends there.
                end = monitor.window(metadata.END_WINDOW)
                if end.steps and end.steps[-1] not in self._window_ends:
                    self.writer.write(metadata.WINDOW, end, end.steps[-1])

    def _record_warning(self, finding):
        warning = nantrace_pb2.Warning(
            schema_version=metadata.SCHEMA_VERSION,
            index=len(self.warnings),
            step=finding.step,
            code=finding.code,
            layer=finding.layer,
            metric=finding.metric,
            message=finding.message,
            evidence_steps=finding.evidence_steps,
            evidence_values=finding.evidence_values,
        )
        self.warnings.append(warning)
        self.writer.write(metadata.WARNING, warning, warning.step)
        print(f"nantrace: warning at step {finding.step}: {finding.code}: {finding.message}",
              file=sys.stderr)


def _note(text):
    recording = registry.current()
    if recording is not None:
        recording.note(text)

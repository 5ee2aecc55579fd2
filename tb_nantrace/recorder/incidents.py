"""The recording's incidents: build -> diagnose -> write, in that order.

`record()` builds an incident from the evidence (the failing op's site and
its values) and keeps it as a draft; `flush()`, on the host between steps,
finishes each draft (contributing warnings, then the diagnosis) and writes
it. An incident is never changed after it is written.
"""

import sys
import threading
import time

from tb_nantrace import diagnosis, metadata, records
from tb_nantrace.proto import nantrace_pb2
from tb_nantrace.recorder import graph_capture, stats
import tb_nantrace


class AbortStep(tb_nantrace.NonFiniteError):
    """Raised inside the user's step to end a loop at an incident. A
    NonFiniteError, so eager code can catch it inside the `with` block."""


class IncidentLog:
    def __init__(self, writer, sites, max_incidents, logdir):
        self.writer = writer
        self.sites = sites  # SiteRegistry: describes the ops of an incident's graph
        self.max_incidents = max_incidents
        self.logdir = logdir  # named in the announcement
        self.written = []  # Incident protos, in order of occurrence
        self.capped = False  # an incident was left out: max_incidents reached
        self.abort_requested = False  # a step was ended at an incident
        self._drafts = []
        self._steps = set()  # steps with an incident (one each)
        self._lock = threading.Lock()  # checks report from py_function threads
        # place(incident): puts it on another tool's step axis before it is
        # written (keras_hooks: Keras' TensorBoard callback), else None.
        self.place = None

    def has_incident_at(self, step):
        return _step_key(step) in self._steps

    def accepts(self, step):
        """False when `step` already has its incident or the cap is reached."""
        return not (self.has_incident_at(step) or self.capped)

    @property
    def all(self):
        """Every incident recorded, written or not, oldest first."""
        with self._lock:
            return self.written + self._drafts

    def record(self, site, step, inputs, outputs, mode, cause_code=None, cause_summary="",
               replica=None):
        """Keep a draft of the incident at `step` (None when that step has
        one already, or past the cap)."""
        with self._lock:
            key = _step_key(step)
            if key in self._steps:
                return None
            index = len(self.written) + len(self._drafts)
            if index >= self.max_incidents:
                self.capped = True
                return None
            self._steps.add(key)
            incident = build_incident(site, step, inputs, outputs, index, mode,
                                      cause_code, cause_summary, replica)
            self._attach_graph(incident, site)
            self._drafts.append(incident)
            return incident

    @property
    def cap_note(self):
        """What the run info says when the cap left incidents out, else None."""
        if not self.capped:
            return None
        return (f"incident cap reached ({self.max_incidents}): later incidents "
                "were not recorded (record(max_incidents=...) raises it)")

    def drafts(self):
        with self._lock:
            return list(self._drafts)

    def flush(self, contributing=lambda incident: ()):
        """Finish, write and announce the drafts (main thread, between steps).
        `contributing(incident)` gives the warning codes that led up to it."""
        with self._lock:
            drafts, self._drafts = self._drafts, []
        for incident in drafts:
            if self.place is not None:
                self.place(incident)
            incident.cause.contributing.extend(contributing(incident))
            incident.cause.CopyFrom(diagnosis.diagnose(incident))
            self.writer.write(metadata.INCIDENT, incident, incident.step)
            self.written.append(incident)
            print(format_announcement(incident, self.logdir), file=sys.stderr)
        return drafts

    def error(self):
        """The NonFiniteError of the first incident."""
        first = self.written[0]
        return tb_nantrace.NonFiniteError(headline(first), records.incident_to_dict(first))

    def abort(self, message=None):
        """The AbortStep that ends the user's step at the newest written
        incident (or with `message`): raise it."""
        self.abort_requested = True
        if message is not None:
            return AbortStep(message)
        last = self.written[-1]
        return AbortStep(headline(last), records.incident_to_dict(last))

    def _attach_graph(self, incident, site):
        graph = site.graph() if site.graph is not None else None
        if graph is None or not site.op_name:
            return
        captured = graph_capture.capture(
            graph, site.op_name, lambda op: self.sites.describe(graph, op)
        )
        if captured is not None:
            incident.graph.CopyFrom(captured)


def _step_key(step):
    # Without a step counter steps cannot be told apart: keep the first.
    return step if step >= 0 else "unknown step"


def build_incident(site, step, inputs, outputs, index, mode, cause_code=None, cause_summary="",
                   replica=None):
    """The evidence of an incident; its cause is diagnosed when it is finished."""
    incident = nantrace_pb2.Incident(
        schema_version=metadata.SCHEMA_VERSION,
        index=index,
        step=max(step, 0),
        phase=site.phase,
        kind=stats.nonfinite_kind(outputs) or "nan",
        layer=site.layer or "",
        variable=site.variable or "",
        mode=mode,
        wall_time=time.time(),
    )
    incident.op.type = site.op_type
    incident.op.name = site.op_name
    if replica is not None and replica >= 0:
        incident.replica = replica
    if site.note:
        incident.note = site.note
    if step < 0:
        incident.note = "training step unknown: pass optimizer= to nantrace.record()"
    names = site.input_names or []
    for i, array in enumerate(inputs):
        incident.inputs.append(stats.tensor_stats(names[i] if i < len(names) else f"input_{i}", array))
    for i, array in enumerate(outputs):
        name = site.output_names[i] if i < len(site.output_names) else f"output_{i}"
        incident.outputs.append(stats.tensor_stats(name, array))
    frames = site.stack()
    if frames:
        incident.stack.extend(frames)  # innermost last: the call site
        incident.source.CopyFrom(site.source())  # inside a built-in layer/loss: where it was made
    if site.phase == "input" and outputs:
        location = stats.first_nonfinite_location(outputs[0])
        if location is not None:
            incident.input_location.tensor = site.op_name
            incident.input_location.batch_index = location[0]
            incident.input_location.feature_index.extend(location[1])
    if cause_code:
        # Causes only the recorder can know (the state, not an op); diagnose() keeps them.
        incident.cause.code = cause_code
        incident.cause.summary = cause_summary
    return incident


def headline(incident):
    return records.headline(records.incident_to_dict(incident))


def format_announcement(incident, logdir):
    lines = [f"nantrace: {headline(incident)}"]
    if incident.source.file:
        lines.append(f"  at {incident.source.file}:{incident.source.line}: {incident.source.code}")
    lines.append(f"  cause: {incident.cause.code}: {incident.cause.summary}")
    if incident.cause.contributing:
        lines.append(f"  contributing: {', '.join(incident.cause.contributing)}")
    if incident.note:
        lines.append(f"  note: {incident.note}")
    if incident.cause.fixes:
        lines.append(f"  try: {incident.cause.fixes[0]}")
    lines.append(
        f"  details: nantrace report {logdir}   or   tensorboard --logdir {logdir} (NaN Trace tab)"
    )
    return "\n".join(lines)

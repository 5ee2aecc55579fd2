"""`nantrace.record()`: the recording's lifetime, its incidents and on_nan."""

import datetime
import os
import socket
import sys
import threading
import time

import keras
import tensorflow as tf

import tb_nantrace
from tb_nantrace import diagnosis, metadata, records
from tb_nantrace.proto import nantrace_pb2
from tb_nantrace.recorder import instrument, keras_hooks, sites, stats
from tb_nantrace.writer import RecordWriter

ON_NAN_CHOICES = ("stop", "raise")
MODES = ("exact",)
_active = []  # the innermost recording is the one that records


class _AbortStep(tb_nantrace.NonFiniteError):
    """Raised inside the user's step to end a loop at an incident. A
    NonFiniteError, so eager code can catch it inside the `with` block."""


def default_logdir():
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("logs", stamp)


class Recording:
    """Context manager returned by `nantrace.record()`.

    After the block, `incidents` holds the recorded incidents as dicts (the
    `nantrace report --json` shape), oldest first.
    """

    def __init__(self, logdir=None, *, mode="exact", on_nan="stop", optimizer=None,
                 max_incidents=100):
        if on_nan not in ON_NAN_CHOICES:
            raise ValueError(f"on_nan must be one of {ON_NAN_CHOICES}, got {on_nan!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.logdir = os.fspath(logdir) if logdir else default_logdir()
        self.mode = mode
        self.on_nan = on_nan
        self.optimizer = optimizer
        self.max_incidents = max_incidents
        self.registry = sites.SiteRegistry()
        self.notes = []
        self._incidents = []  # protos, in order of occurrence
        self._unwritten = []
        self._steps_with_incident = set()
        self._lock = threading.Lock()
        self._step_tensors = threading.local()
        self._keras_fit_depth = 0
        self.abort_requested = False
        self._capped = False
        self._callback = instrument.OpCallback(self)
        self._writer = None
        self._info = None

    # Lifetime -------------------------------------------------------------

    def __enter__(self):
        self._writer = RecordWriter(self.logdir)
        self._info = nantrace_pb2.RunInfo(
            schema_version=metadata.SCHEMA_VERSION,
            mode=self.mode,
            status="running",
            tensorflow_version=tf.__version__,
            keras_version=keras.__version__,
            nantrace_version=tb_nantrace.__version__,
            start_time=time.time(),
            hostname=socket.gethostname(),
        )
        self._writer.write_run_start(self._info)
        keras_hooks.install(self)
        self._callback.install()
        _active.append(self)
        print(f"nantrace: recording to {self.logdir}", file=sys.stderr)
        return self

    def __exit__(self, exc_type, exc, tb):
        _active.remove(self)
        self._callback.remove()
        keras_hooks.uninstall(self)
        aborted = exc is not None and self.abort_requested
        self.flush()
        self._info.status = "stopped" if self._incidents else "finished"
        if exc is not None and not aborted:
            self._info.status = "interrupted"
        self._info.steps = self._completed_steps()
        self._info.incident_count = len(self._incidents)
        self._info.incidents_capped = self._capped
        self._info.end_time = time.time()
        del self._info.notes[:]
        self._info.notes.extend(self.notes)
        self._writer.write_run_end(self._info)
        self._writer.close()
        if aborted:
            if self.on_nan == "raise":
                raise self.error() from exc
            return True  # "stop": training ended at the incident, cleanly
        return False

    @property
    def incidents(self):
        return [records.incident_to_dict(i) for i in self._incidents]

    def error(self):
        first = self._incidents[0]
        return tb_nantrace.NonFiniteError(headline(first), records.incident_to_dict(first))

    def _completed_steps(self):
        optimizer = self.optimizer or keras_hooks.last_optimizer(self)
        if optimizer is None:
            return max((i.step + 1 for i in self._incidents), default=0)
        with instrument.uninstrumented():
            return int(optimizer.iterations.numpy())

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)
            print(f"nantrace: {text}", file=sys.stderr)

    # Step counter -----------------------------------------------------------

    def set_keras_step(self, tensor):
        self._step_tensors.keras = tensor

    def step_tensor(self):
        """A tensor holding the 0-based training step, read before the step
        changes anything (Keras: optimizer.iterations when the step began)."""
        tensor = getattr(self._step_tensors, "keras", None)
        if tensor is not None:
            return tensor
        graph = tf.compat.v1.get_default_graph()
        cached = getattr(graph, "_nantrace_step", None)
        if cached is not None:
            return cached
        optimizer = self.optimizer or keras_hooks.find_optimizer_in_stack()
        if optimizer is not None:
            self.optimizer = optimizer
            tensor = tf.cast(tf.convert_to_tensor(optimizer.iterations), tf.int64)
        else:
            tensor = tf.constant(-1, tf.int64)
        graph._nantrace_step = tensor
        return tensor

    def eager_step(self):
        optimizer = self.optimizer or keras_hooks.last_optimizer(self)
        if optimizer is None:
            return -1
        return int(optimizer.iterations.numpy())

    # Failures -----------------------------------------------------------------

    def on_site_failed(self, site_id, n_inputs, step, *tensors):
        """Runs (inside a py_function) only when a check failed."""
        with instrument.uninstrumented():
            arrays = [t.numpy() for t in tensors]
            self._record(self.registry.sites[site_id], int(step.numpy()),
                         arrays[:n_inputs], arrays[n_inputs:])

    def on_eager_failure(self, site, inputs, outputs):
        if self._record(site, self.eager_step(), inputs, outputs):
            self.abort_requested = True
            incident = self._incidents[-1]
            raise _AbortStep(headline(incident), records.incident_to_dict(incident))

    def on_bad_update(self, step):
        """The optimizer guard refused a non-finite gradient update."""
        with instrument.uninstrumented():
            step = int(step.numpy()) if hasattr(step, "numpy") else int(step)
            if step not in self._steps_with_incident:
                site = self.registry.add_guard()
                self._record(site, step, [], [])
            if self._keras_fit_depth == 0:
                # A custom loop has no callback to stop it: end it here; the
                # update was not applied.
                self.abort_requested = True
                raise _AbortStep("nantrace: non-finite gradients; update skipped")

    def on_nonfinite_state(self, variable, value, step):
        site = self.registry.add_state(variable)
        incident = self._record(site, step, [], [value], cause_code="nonfinite_initial_state")
        return incident

    def _record(self, site, step, inputs, outputs, cause_code=None):
        with self._lock:
            # Without a step counter steps cannot be told apart: keep the first.
            key = step if step >= 0 else "unknown step"
            if key in self._steps_with_incident:
                return None
            if len(self._incidents) >= self.max_incidents:
                self._capped = True
                return None
            self._steps_with_incident.add(key)
            incident = build_incident(site, step, inputs, outputs, len(self._incidents),
                                      self.mode, cause_code)
            self._incidents.append(incident)
            self._unwritten.append(incident)
            return incident

    def flush(self):
        """Write and announce incidents recorded since the last flush. Called
        from the main thread when a step returns (never inside the graph)."""
        with self._lock:
            pending, self._unwritten = self._unwritten, []
        for incident in pending:
            self._writer.write_incident(incident)
            print(format_announcement(incident, self.logdir), file=sys.stderr)
        return pending

    @property
    def in_keras_fit(self):
        return self._keras_fit_depth > 0

    def enter_keras_fit(self):
        self._keras_fit_depth += 1

    def exit_keras_fit(self):
        self._keras_fit_depth -= 1


def build_incident(site, step, inputs, outputs, index, mode, cause_code=None):
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
    if site.frames:
        incident.stack.extend(site.frames)
        incident.source.CopyFrom(site.frames[-1])
    if site.phase == "input" and outputs:
        location = stats.first_nonfinite_location(outputs[0])
        if location is not None:
            incident.input_location.tensor = site.op_name
            incident.input_location.batch_index = location[0]
            incident.input_location.feature_index.extend(location[1])
    if cause_code:
        incident.cause.code = cause_code
        incident.cause.summary = (
            f"variable {site.variable} already held {incident.kind} before this step: "
            "the model's state was corrupted before recording began"
        )
    incident.cause.CopyFrom(diagnosis.diagnose(incident))
    return incident


def headline(incident):
    what = {"nan": "NaN", "inf": "Inf", "nan_and_inf": "NaN/Inf"}.get(incident.kind, "NaN")
    op = incident.op.type + (f" ({incident.op.name})" if incident.op.name else "")
    text = f"{what} first appeared at step {incident.step}, in the {incident.phase} pass, in op {op}"
    if incident.layer:
        text += f" of layer {incident.layer}"
    if incident.variable:
        text += f", variable {incident.variable}"
    return text


def format_announcement(incident, logdir):
    lines = [f"nantrace: {headline(incident)}"]
    if incident.source.file:
        lines.append(f"  at {incident.source.file}:{incident.source.line}: {incident.source.code}")
    lines.append(f"  cause: {incident.cause.code}: {incident.cause.summary}")
    if incident.cause.fixes:
        lines.append(f"  try: {incident.cause.fixes[0]}")
    lines.append(
        f"  details: nantrace report {logdir}   or   tensorboard --logdir {logdir} (NaN Trace tab)"
    )
    return "\n".join(lines)


def record(logdir=None, **options):
    return Recording(logdir, **options)


def active_recording():
    return _active[-1] if _active else None



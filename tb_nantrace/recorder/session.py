"""`nantrace.record()`: the recording's lifetime, its incidents and on_nan."""

import contextlib
import datetime
import json
import os
import socket
import sys
import threading
import time
import typing

import keras
import numpy as np
import tensorflow as tf

import tb_nantrace
from tb_nantrace import diagnosis, metadata, records
from tb_nantrace.proto import nantrace_pb2
from tb_nantrace.recorder import (
    graph_capture, health, instrument, keras_hooks, replay, sites, stats,
)
from tb_nantrace.writer import RecordWriter

ON_NAN_CHOICES = ("stop", "raise", "skip")
MODES = ("guard", "exact")
_active = []  # the innermost recording is the one that records


class _PendingReplay(typing.NamedTuple):
    """A refused step, from its py_function to the host's next turn."""

    context: typing.Any  # guard.StepContext of a Keras step; None in a guarded loop
    step: int
    batch: typing.Any  # the step's batch arrays (Keras), else None
    replay_wanted: bool  # False past the incident cap or when the step is already pending
    saved: typing.Any  # pre-step values of context.restorable


class _AbortStep(tb_nantrace.NonFiniteError):
    """Raised inside the user's step to end a loop at an incident. A
    NonFiniteError, so eager code can catch it inside the `with` block."""


def worker_logdir(logdir):
    """Under multi-worker training (TF_CONFIG with several tasks) each worker
    records into its own run, `<logdir>/worker-<index>`: workers never write
    the same files, and one logdir shows them side by side."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except ValueError:
        return logdir
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    if sum(len(v) for v in cluster.values() if isinstance(v, list)) < 2 or "index" not in task:
        return logdir
    return os.path.join(logdir, f"{task.get('type', 'worker')}-{task['index']}")


def default_logdir():
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("logs", stamp)


class Recording:
    """Context manager returned by `nantrace.record()`.

    After the block, `incidents` holds the recorded incidents as dicts (the
    `nantrace report --json` shape), oldest first.
    """

    def __init__(self, logdir=None, *, mode="guard", on_nan="stop", optimizer=None,
                 max_incidents=100, health=True, redact=False):
        if on_nan not in ON_NAN_CHOICES:
            raise ValueError(f"on_nan must be one of {ON_NAN_CHOICES}, got {on_nan!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.logdir = worker_logdir(os.fspath(logdir) if logdir else default_logdir())
        self.mode = mode
        self.on_nan = on_nan
        self.optimizer = optimizer
        self.max_incidents = max_incidents
        if isinstance(health, bool) or health is None:
            self.health_every = 1 if health else 0
        elif isinstance(health, int) and health >= 1:
            self.health_every = health
        else:
            raise ValueError(f"health must be True, False or a number of steps >= 1, got {health!r}")
        self.warnings = []  # Warning protos
        self._monitors = {}
        self.redact = redact
        self.registry = sites.SiteRegistry(redact=redact)
        self._outer = None  # set when this record() is nested in another
        self.callback = instrument.OpCallback(self)
        self.notes = []
        self.incident_protos = []  # in order of occurrence
        self.abort_requested = False
        self.loss_scaling = False
        self._unwritten = []
        self._steps_with_incident = set()
        self._pending_replays = []
        self._step_functions = {}
        self._lock = threading.Lock()
        self._trace = threading.local()  # step contexts of the step being traced
        self._keras_fit_depth = 0
        self._guarded_call_depth = 0
        self._unguarded_optimizer_depth = 0
        self._eager_keras_step = False
        self._replay_step = None
        self._replay_counts = {}
        self._capped = False
        self.state_corrupted = False  # an update made the weights non-finite
        self._state_flags = {}  # id(owner) -> tf.Variable: weights finite after the last update
        self._watched_state = {}  # id(owner) -> (optimizer, variables) the flag is about
        self.writer = None
        self._info = None

    # Lifetime -------------------------------------------------------------

    def __enter__(self):
        if _active:
            # One recording at a time: the op callbacks and Keras hooks are
            # process-wide. The block is recorded by the outer recording.
            self._outer = _active[-1]
            print(f"nantrace: already recording to {self._outer.logdir}; the nested "
                  f"record({self.logdir!r}) records nothing of its own", file=sys.stderr)
            return self
        start_time = time.time()
        try:
            tf.io.gfile.makedirs(self.logdir)
            self.writer = RecordWriter(self.logdir, metadata.session_id(start_time))
        except (tf.errors.OpError, OSError) as error:
            raise OSError(
                f"nantrace: cannot write to logdir {self.logdir!r} ({error}); "
                "pass a writable directory to nantrace.record()"
            ) from error
        self._info = nantrace_pb2.RunInfo(
            schema_version=metadata.SCHEMA_VERSION,
            mode=self.mode,
            status="running",
            tensorflow_version=tf.__version__,
            keras_version=keras.__version__,
            nantrace_version=tb_nantrace.__version__,
            start_time=start_time,
            hostname="" if self.redact else socket.gethostname(),
        )
        try:
            self.writer.write_run_start(self._info)
        except (tf.errors.OpError, OSError) as error:
            raise OSError(
                f"nantrace: cannot write to logdir {self.logdir!r} ({error}); "
                "pass a writable directory to nantrace.record()"
            ) from error
        keras_hooks.install(self)
        self.callback.install()
        _active.append(self)
        print(f"nantrace: recording to {self.logdir}", file=sys.stderr)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._outer is not None:
            return False  # the outer recording handles everything
        _active.remove(self)
        self.callback.remove()
        keras_hooks.uninstall(self)
        aborted = exc is not None and self.abort_requested
        self.flush()
        self._info.status = "stopped" if self.incident_protos else "finished"
        if exc is not None and not aborted:
            self._info.status = "interrupted"
        self._info.steps = self._completed_steps()
        self._info.incident_count = len(self.incident_protos)
        self._info.incidents_capped = self._capped
        self._info.end_time = time.time()
        del self._info.notes[:]
        self._info.notes.extend(self.notes)
        self.writer.write_run_end(self._info)
        self.writer.close()
        if aborted:
            if self.on_nan == "raise" and not isinstance(exc, tb_nantrace.NonFiniteError):
                raise self.error() from exc
            return self.on_nan != "raise"  # "stop": training ended at the incident
        return False

    @property
    def incidents(self):
        if self._outer is not None:
            return self._outer.incidents
        return [records.incident_to_dict(i) for i in self.incident_protos]

    def error(self):
        first = self.incident_protos[0]
        return tb_nantrace.NonFiniteError(headline(first), records.incident_to_dict(first))

    def _completed_steps(self):
        if self.optimizer is None:
            return max((i.step + 1 for i in self.incident_protos), default=0)
        with instrument.uninstrumented():
            return int(self.optimizer.iterations.numpy())

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)
            print(f"nantrace: {text}", file=sys.stderr)

    # What gets checked, and where ---------------------------------------------

    def checks_graph_ops(self):
        """Per-op checks in the graph being traced: always in exact mode; in
        guard mode only outside guarded steps (a custom loop without
        `nantrace.guard` falls back to exact checking, as before)."""
        if self.mode == "exact" or keras_hooks.distributed():
            return True
        if self._keras_fit_depth or self._guarded_call_depth:
            return False
        self.note(
            "a step function outside model.fit is checked op by op (exact mode); "
            "wrap it with nantrace.guard(...) for near-zero overhead"
        )
        return True

    def checks_eager_ops(self):
        if self._replay_step is not None:
            return True
        if self._keras_fit_depth:
            return self._eager_keras_step
        return not self._guarded_call_depth

    @property
    def is_replaying(self):
        return self._replay_step is not None

    @contextlib.contextmanager
    def replaying(self, step):
        self._replay_step, self._replay_counts = step, {}
        try:
            yield
        finally:
            self._replay_step = None

    def count_replayed_op(self, site):
        key = site.match_key()
        ordinal = self._replay_counts.get(key, 0)
        self._replay_counts[key] = ordinal + 1
        return ordinal

    @contextlib.contextmanager
    def unguarded_optimizer(self):
        self._unguarded_optimizer_depth += 1
        try:
            yield
        finally:
            self._unguarded_optimizer_depth -= 1

    @property
    def optimizer_unguarded(self):
        return self._unguarded_optimizer_depth > 0

    @contextlib.contextmanager
    def guarded_call(self):
        self._guarded_call_depth += 1
        try:
            yield
        finally:
            self._guarded_call_depth -= 1

    @property
    def in_keras_fit(self):
        return self._keras_fit_depth > 0

    def enter_keras_fit(self):
        self._keras_fit_depth += 1

    def exit_keras_fit(self):
        self._keras_fit_depth -= 1

    @contextlib.contextmanager
    def eager_keras_step(self):
        self._eager_keras_step = True
        try:
            yield
        finally:
            self._eager_keras_step = False

    def register_step_function(self, owner, step_function):
        self._step_functions[id(owner)] = step_function

    # Step counter and step contexts ----------------------------------------------

    def push_step_context(self, context):
        self._trace.__dict__.setdefault("stack", []).append(context)

    def pop_step_context(self):
        self._trace.stack.pop()

    def step_context(self):
        stack = getattr(self._trace, "stack", None)
        return stack[-1] if stack else None

    def remember_optimizer(self, optimizer):
        if self.optimizer is None:
            self.optimizer = optimizer

    def step_tensor(self):
        """A tensor holding the 0-based training step, read before the step
        changes anything (Keras: optimizer.iterations when the step began)."""
        context = self.step_context()
        if context is not None:
            return context.step
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
        if self._replay_step is not None:
            return self._replay_step
        if self.optimizer is None:
            return -1
        with instrument.uninstrumented():
            return int(self.optimizer.iterations.numpy())

    # Failures -----------------------------------------------------------------

    def on_site_failed(self, site_id, n_inputs, step, replica, *tensors):
        """Runs (inside a py_function) only when an op check failed."""
        site = self.registry.sites[site_id]
        if self.loss_scaling and site.phase == "backward":
            return  # loss-scale overflow: the LossScaleOptimizer skips the step
        with instrument.uninstrumented():
            arrays = [t.numpy() for t in tensors]
            # A bad batch is caught by the guard's own input check in both modes.
            mode = self.mode if site.phase == "input" else "exact"
            incident = self._record(site, int(step.numpy()), arrays[:n_inputs],
                                    arrays[n_inputs:], mode)
            if incident is not None and int(replica.numpy()) >= 0:
                incident.replica = int(replica.numpy())

    def on_eager_failure(self, site, ordinal, inputs, outputs):
        if self.is_replaying:
            graph_site = self.registry.graph_site_for(site, ordinal)
            if graph_site is not None:
                site.op_name = graph_site.op_name
                site.layer = site.layer or graph_site.layer
                site.input_names = graph_site.input_names
                site.graph = graph_site.graph
            self._record(site, self._replay_step, inputs, outputs, "guard")
            raise replay.ReplayFound()
        if self._record(site, self.eager_step(), inputs, outputs, "exact"):
            self.abort_requested = True
            incident = self.incident_protos[-1]
            raise _AbortStep(headline(incident), records.incident_to_dict(incident))

    def on_bad_step(self, context, step, *tensors):
        """A guarded Keras step went non-finite (py_function, only then):
        `tensors` are its batch, its state from before the step, then (from
        the optimizer guard) its gradients."""
        step = int(step.numpy())
        arrays = [t.numpy() for t in tensors]
        n_batch, n_saved = len(context.batch_leaves), len(context.saved)
        batch, saved = arrays[:n_batch], arrays[n_batch:n_batch + n_saved]
        gradients = arrays[n_batch + n_saved:]
        monitor = self._monitors.get(id(context.owner))
        if monitor is not None and gradients:
            monitor.note_bad_gradients(step, context.gradient_variables, gradients)
        with self._lock:
            # The state always goes back (skip mode trains on); one replay
            # per step, none past the incident cap.
            replay_wanted = not (
                step in self._steps_with_incident
                or self._capped
                or any(p.step == step for p in self._pending_replays if p.replay_wanted)
            )
            self._pending_replays.append(_PendingReplay(context, step, batch, replay_wanted, saved))

    def on_bad_update(self, step, locally_finite=False):
        """The optimizer guard refused a non-finite update outside model.fit
        (under tf.distribute, `locally_finite` says this replica's own
        gradients were fine: another replica or worker went bad)."""
        with instrument.uninstrumented():
            step = int(step.numpy()) if hasattr(step, "numpy") else int(step)
            locally_finite = bool(getattr(locally_finite, "numpy", lambda: locally_finite)())
        if self._guarded_call_depth:
            with self._lock:
                if step not in self._steps_with_incident and not self._capped:
                    self._pending_replays.append(_PendingReplay(None, step, None, True, []))
            return
        if step not in self._steps_with_incident:
            site = self.registry.add_guard()
            if locally_finite:
                site.note = ("this replica's gradients were finite: another replica or worker's "
                             "were not (see its run); no replica applied the update")
            self._record(site, step, [], [], self.mode)
        if self.on_nan != "skip":
            # A custom loop has no callback to stop it: end it here; the
            # update was not applied.
            self.abort_requested = True
            raise _AbortStep("nantrace: non-finite gradients; the update was not applied")

    def on_nonfinite_update(self, variables, optimizer, step):
        """The update of `step` left a weight non-finite although every check
        before it passed: the optimizer's own arithmetic did it. Weights
        cannot be put back (the update overwrote them), so training stops."""
        with instrument.uninstrumented():
            bad = [(v, np.asarray(v.numpy())) for v in variables]
        bad = [(v, value) for v, value in bad if not np.isfinite(value).all()]
        if not bad:
            return None
        self.state_corrupted = True
        variable, value = bad[0]
        site = self.registry.add_state(variable)
        site.op_type, site.phase = "ApplyGradients", "optimizer"
        settings = {name: getattr(optimizer, name) for name in ("epsilon",) if hasattr(optimizer, name)}
        site.note = diagnosis.nonfinite_update_summary(
            type(optimizer).__name__, step, float(np.asarray(optimizer.learning_rate)), settings,
            variable.path, int(np.size(value) - np.isfinite(value).sum()), int(np.size(value)),
            [v.path for v, _ in bad[1:]])
        return self._record(site, step, [], [value], self.mode, cause_code="nonfinite_update")

    def on_nonfinite_state(self, variable, value, step):
        site = self.registry.add_state(variable)
        return self._record(site, step, [], [value], self.mode, cause_code="nonfinite_initial_state")

    def _record(self, site, step, inputs, outputs, mode, cause_code=None):
        with self._lock:
            # Without a step counter steps cannot be told apart: keep the first.
            key = step if step >= 0 else "unknown step"
            if key in self._steps_with_incident:
                return None
            if len(self.incident_protos) >= self.max_incidents:
                if not self._capped:
                    self._capped = True
                    self.notes.append(
                        f"incident cap reached ({self.max_incidents}): later incidents "
                        "were not recorded (record(max_incidents=...) raises it)"
                    )
                return None
            self._steps_with_incident.add(key)
            incident = build_incident(site, step, inputs, outputs, len(self.incident_protos),
                                      mode, cause_code)
            self._attach_graph(incident, site)
            self.incident_protos.append(incident)
            self._unwritten.append(incident)
            return incident

    # Health timeline (model.fit) ---------------------------------------------------

    def health_monitor(self, model):
        if not self.health_every:
            return None
        monitor = self._monitors.get(id(model))
        if monitor is None:
            with instrument.uninstrumented():
                monitor = health.HealthMonitor(self, health.HealthProbe(model, every=self.health_every))
            self._monitors[id(model)] = monitor
        return monitor

    def state_flag(self, owner, create=True):
        """A variable the guarded step sets to "every weight is finite after
        the update" (`owner`: the Keras model in fit, the optimizer in a
        `nantrace.guard` loop). Made before tracing (a variable made while
        tracing makes tf.function trace twice), so the step only looks it up."""
        flag = self._state_flags.get(id(owner))
        if flag is None and create:
            with instrument.uninstrumented(), tf.init_scope():
                flag = tf.Variable(True, trainable=False, name="nantrace_state_finite")
            self._state_flags[id(owner)] = flag
        return flag

    def watch_state(self, owner, optimizer, variables):
        """Trace time: what `owner`'s flag is about, for check_state."""
        self._watched_state[id(owner)] = (optimizer, list(variables))

    def check_state(self, owner):
        """After a step: one scalar read; on a bad update, an incident."""
        flag = self._state_flags.get(id(owner))
        watched = self._watched_state.get(id(owner))
        if flag is None or watched is None or self.state_corrupted:
            return
        optimizer, variables = watched
        with instrument.uninstrumented():
            if bool(flag.numpy()):
                return
            step = int(optimizer.iterations.numpy()) - 1  # the update just applied
        self.on_nonfinite_update(variables, optimizer, step)

    def after_keras_step(self, model):
        """Between steps: read the health ring now and then; give each new
        incident its flight-recorder window and its contributing warnings."""
        monitor = self._monitors.get(id(model))
        if monitor is None:
            return
        with instrument.uninstrumented():
            with self._lock:
                new = list(self._unwritten)
            if not new:
                monitor.after_step()
                return
            for incident in new:
                window = monitor.window_for(incident)
                self.writer.write_window(window, incident.step)
                codes = sorted({w.code for w in self.warnings if w.step <= incident.step})
                for code in codes:
                    if code not in incident.cause.contributing:
                        incident.cause.contributing.append(code)

    def close_health(self, model):
        monitor = self._monitors.get(id(model))
        if monitor is not None:
            with instrument.uninstrumented():
                monitor.close()

    def record_warning(self, finding):
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
        self.writer.write_warning(warning)
        print(f"nantrace: warning at step {finding.step}: {finding.code}: {finding.message}",
              file=sys.stderr)

    def _attach_graph(self, incident, site):
        graph = site.graph() if site.graph is not None else None
        if graph is None or not site.op_name:
            return
        captured = graph_capture.capture(
            graph, site.op_name, lambda op: self.registry.describe(graph, op)
        )
        if captured is not None:
            incident.graph.CopyFrom(captured)

    # Replays (main thread, between steps) ---------------------------------------

    def replay_pending(self, step_function=None, args=(), kwargs=None):
        """Replay each failed step recorded since the last call. Keras steps
        replay their model's train_step on the kept batch; a `nantrace.guard`
        call replays `step_function(*args, **kwargs)`."""
        with self._lock:
            pending, self._pending_replays = self._pending_replays, []
        for context, step, arrays, replay_wanted, saved in pending:
            if context is not None:
                with instrument.uninstrumented():
                    for variable, value in zip(context.restorable, saved):
                        variable.assign(value)
            if not replay_wanted or self._input_incident(context, step, arrays):
                continue
            if context is not None:
                model = context.owner
                data = _rebuild_batch(context, arrays)
                function, call_args, call_kwargs = self._step_functions[id(model)], (data,), {}
                restorable = context.restorable
            else:
                function, call_args, call_kwargs = step_function, args, kwargs or {}
                restorable = []
            found = replay.run(self, step, function, call_args, call_kwargs, restorable)
            if found is None:
                site = self.registry.add_guard()
                site.note = (
                    "the guard saw a non-finite loss or gradient at this step, but replaying "
                    "the step eagerly did not reproduce it (nondeterministic op or data?)"
                )
                self._record(site, step, [], [], "guard")

    def _input_incident(self, context, step, arrays):
        """A batch that already holds NaN/Inf is the origin (phase "input");
        no replay needed. True when one was recorded."""
        for leaf, site in getattr(context, "input_sites", ()):
            if not np.isfinite(arrays[leaf]).all():
                self._record(site, step, [], [arrays[leaf]], self.mode)
                return True
        return False

    def flush(self):
        """Write and announce incidents recorded since the last flush. Called
        from the main thread when a step returns (never inside the graph)."""
        with self._lock:
            pending, self._unwritten = self._unwritten, []
        for incident in pending:
            self.writer.write_incident(incident)
            print(format_announcement(incident, self.logdir), file=sys.stderr)
        return pending


def _rebuild_batch(context, arrays):
    leaves = tf.nest.flatten(context.batch_structure)
    values = iter(arrays)
    rebuilt = [tf.constant(next(values)) if isinstance(leaf, tf.Tensor) else leaf for leaf in leaves]
    return tf.nest.pack_sequence_as(context.batch_structure, rebuilt)


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
    frames = site.stack()
    if frames:
        incident.stack.extend(frames)
        incident.source.CopyFrom(frames[-1])
    if site.phase == "input" and outputs:
        location = stats.first_nonfinite_location(outputs[0])
        if location is not None:
            incident.input_location.tensor = site.op_name
            incident.input_location.batch_index = location[0]
            incident.input_location.feature_index.extend(location[1])
    if cause_code:
        incident.cause.code = cause_code
        if cause_code == "nonfinite_update":
            incident.cause.summary = site.note  # said once, as the cause
            incident.ClearField("note")
        else:
            incident.cause.summary = diagnosis.initial_state_summary(site.variable, incident.kind)
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


def record(logdir=None, **options):
    return Recording(logdir, **options)


def active_recording():
    return _active[-1] if _active else None


def guard(step_function):
    """Wrap a custom training step (usually a tf.function) once so that, in
    guard mode, it runs without per-op checks and a failed step is replayed
    eagerly to find its origin. Outside `record()` it is a plain call."""

    def guarded(*args, **kwargs):
        session = active_recording()
        if session is None or session.mode != "guard":
            return step_function(*args, **kwargs)
        optimizer = session.optimizer or keras_hooks.find_optimizer_in_stack()
        if optimizer is not None:
            session.remember_optimizer(optimizer)
            session.state_flag(optimizer)  # before the first trace
        with session.guarded_call():
            result = step_function(*args, **kwargs)
        python_function = getattr(step_function, "python_function", step_function)
        session.replay_pending(python_function, args, kwargs)
        if optimizer is not None:
            session.check_state(optimizer)
        if session.flush() and (session.on_nan != "skip" or session.state_corrupted):
            session.abort_requested = True
            raise _AbortStep(headline(session.incident_protos[-1]), session.incidents[-1])
        return result

    guarded.__wrapped__ = step_function
    guarded.__doc__ = getattr(step_function, "__doc__", None)
    return guarded



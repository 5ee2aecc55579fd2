"""`nantrace.record()`: a recording's lifetime, its parts, and the stop rule.

A Recording puts together small parts that each own their state:
  CheckScope     which ops get a check (mode, where the code runs)
  StepCounter    the training step of an op or an incident
  SiteRegistry   what each op is (phase, layer, variable, source line)
  IncidentLog    incidents: build -> diagnose -> write
  Replayer       failed steps, replayed eagerly between steps
  StateGuard     the weights' finiteness, before recording and after updates
  HealthTimelines  per-step health, early warnings, flight-recorder windows
  OpCallback     the TensorFlow op callback that checks (exact) or registers (guard)
and installs the Keras hooks while it is in force (registry.py).
"""

import contextlib
import datetime
import json
import os
import socket
import sys
import time

import keras
import tensorflow as tf

import tb_nantrace
from tb_nantrace import metadata, records
from tb_nantrace.proto import nantrace_pb2
from tb_nantrace.recorder import (
    analysis, check_scope, compat, failsafe, health, incidents, instrument, keras_hooks, registry,
    replay, sites, snapshots, state_guard, step_counter, timelines,
)
from tb_nantrace.recorder.alarm import CAPTURE_BYTES
from tb_nantrace.recorder.writer import RecordWriter

ON_NAN_CHOICES = ("stop", "raise", "skip")
MODES = ("guard", "exact")


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


def _health_every(option):
    """Steps between rows with the per-layer health columns; 0: no timeline."""
    if isinstance(option, bool) or option is None:
        return health.LAYER_EVERY if option else 0
    if isinstance(option, int) and option >= 1:
        return option
    raise ValueError(f"health must be True, False or a number of steps >= 1, got {option!r}")


class Recording:
    """Context manager returned by `nantrace.record()`.

    After the block, `incidents` holds the recorded incidents as dicts (the
    `nantrace report --json` shape), oldest first.
    """

    def __init__(self, logdir=None, *, mode="guard", on_nan="stop", optimizer=None,
                 max_incidents=100, health=True, redact=False, analysis_seconds=30.0,
                 verify_fixes=True, snapshot_every=10, snapshot_memory_mb=256.0):
        if on_nan not in ON_NAN_CHOICES:
            raise ValueError(f"on_nan must be one of {ON_NAN_CHOICES}, got {on_nan!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.logdir = worker_logdir(os.fspath(logdir) if logdir else default_logdir())
        self.mode = mode
        self.on_nan = on_nan
        self.redact = redact
        self.notes = []
        self._options = dict(optimizer=optimizer, max_incidents=max_incidents,
                             health_every=_health_every(health),
                             analysis=(analysis_seconds, verify_fixes, snapshot_every,
                                       snapshot_memory_mb))
        self._outer = None  # the recording this one is nested in
        self._info = None

    # Lifetime -------------------------------------------------------------

    def __enter__(self):
        if registry.current() is not None:
            # One recording at a time: the op callbacks and Keras hooks are
            # process-wide. The block is recorded by the outer recording.
            self._outer = registry.current()
            print(f"nantrace: already recording to {self._outer.logdir}; the nested "
                  f"record({self.logdir!r}) records nothing of its own", file=sys.stderr)
            return self
        start_time = time.time()
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
            started = nantrace_pb2.RunInfo()
            started.CopyFrom(self._info)  # as it is now: _info changes until the end
            self.writer = RecordWriter(self.logdir, metadata.session_id(start_time),
                                       header=(metadata.RUN_START, started, 0))
        except (tf.errors.OpError, OSError) as error:
            raise OSError(
                f"nantrace: cannot write to logdir {self.logdir!r} ({error}); "
                "pass a writable directory to nantrace.record()"
            ) from error
        self._assemble()
        self._paused = contextlib.ExitStack()  # what the recording pauses, resumed at exit
        self._paused.enter_context(compat.check_numerics_paused(self.note))
        keras_hooks.install()
        self.op_callback.install()
        registry.start(self)
        print(f"nantrace: recording to {self.logdir}", file=sys.stderr)
        return self

    def _assemble(self):
        options = self._options
        self.scope = check_scope.CheckScope(self.mode, self.note)
        self.steps = step_counter.StepCounter(self.scope, options["optimizer"])
        self.sites = sites.SiteRegistry(redact=self.redact)
        self.incident_log = incidents.IncidentLog(self.writer, self.sites, options["max_incidents"],
                                               self.logdir)
        self.timelines = timelines.HealthTimelines(options["health_every"], self.writer)
        seconds, verify_fixes, every, memory_mb = options["analysis"]
        self.snapshots = snapshots.SnapshotRing(every if verify_fixes else 0, memory_mb, self.note)
        self.replayer = replay.Replayer(
            self.scope, self.sites, self.incident_log, self.timelines, self.mode,
            analysis.Analyzer(self.scope, self.snapshots, seconds, verify_fixes))
        self.state = state_guard.StateGuard(self.incident_log, self.sites, self.mode)
        self.op_callback = instrument.OpCallback(self.scope, self.sites, self.steps,
                                                 self.incident_log, self.replayer, self.mode)

    def __exit__(self, exc_type, exc, tb):
        if self._outer is not None:
            return False  # the outer recording handles everything
        registry.stop(self)
        self.op_callback.remove()
        keras_hooks.uninstall()
        self._paused.close()
        aborted = exc is not None and self.incident_log.abort_requested
        self.incident_log.flush()
        if self.incident_log.cap_note and self.incident_log.cap_note not in self.notes:
            self.notes.append(self.incident_log.cap_note)
        written = self.incident_log.written
        self._info.status = "stopped" if written else "finished"
        if exc is not None and not aborted:
            self._info.status = "interrupted"
        self._info.steps = self.steps.completed_steps(written)
        self._info.incident_count = len(written)
        self._info.incidents_capped = self.incident_log.capped
        self._info.end_time = time.time()
        del self._info.notes[:]
        self._info.notes.extend(self.notes)
        self.writer.write(metadata.RUN_END, self._info, self._info.steps)
        self.writer.close()
        if aborted:
            if self.on_nan == "raise" and not isinstance(exc, tb_nantrace.NonFiniteError):
                raise self.incident_log.error() from exc
            return self.on_nan != "raise"  # "stop": training ended at the incident
        return False

    @property
    def incidents(self):
        if self._outer is not None:
            return self._outer.incidents
        return [records.incident_to_dict(i) for i in self.incident_log.all]

    def align_run(self, run_dir, why):
        """Record into `run_dir` (e.g. Keras' TensorBoard callback's
        `<log_dir>/train`), so both tools' runs are one; possible until the
        first record is written."""
        if os.path.normpath(run_dir) == os.path.normpath(self.logdir):
            return
        if self.writer.retarget(run_dir):
            print(f"nantrace: recording to {run_dir} ({why})", file=sys.stderr)
            self.logdir = run_dir
        else:
            self.note(f"kept recording to {self.logdir}: {why}, but records were already written")

    def note(self, text):
        """Said once: on stderr now, and in the run info at the end."""
        if text not in self.notes:
            self.notes.append(text)
            print(f"nantrace: {text}", file=sys.stderr)

    # Failures and the stop rule -----------------------------------------------

    def refused_update(self, step, locally_finite=False):
        """The optimizer guard refused a non-finite update outside model.fit
        (under tf.distribute, `locally_finite` says this replica's own
        gradients were fine: another replica or worker went bad)."""
        with instrument.uninstrumented():
            step = int(step.numpy()) if hasattr(step, "numpy") else int(step)
            locally_finite = bool(getattr(locally_finite, "numpy", lambda: locally_finite)())
        if self.scope.in_guarded_call:
            self.replayer.refused_update(step)  # replayed when the call returns
            return
        if not self.incident_log.has_incident_at(step):
            site = self.sites.add_guard()
            if locally_finite:
                site.note = ("this replica's gradients were finite: another replica or worker's "
                             "were not (see its run); no replica applied the update")
            self.incident_log.record(site, step, [], [], self.mode)
        if self.on_nan != "skip":
            # A custom loop has no callback to stop it: end it here; the
            # update was not applied.
            raise self.incident_log.abort("nantrace: non-finite gradients; the update was not applied")

    def end_of_step(self, owner, step_function=None, args=(), kwargs=None, steps=1, last=False):
        """After a call of the step (main thread; `steps` steps ran, `last`:
        the end of fit): replay a failed step, check the updated state, give
        new incidents their health window and write them. True when
        training must stop here. Nothing is read from the device unless a
        step failed, or (XLA) every alarm.POLL_STEPS steps."""
        alarm = self.state.alarm(owner, create=False) if owner is not None else None
        with failsafe.fail_open(self.note, "the end of a step (replay, incident, writing)"):
            return self._end_of_step(alarm, owner, step_function, args, kwargs, steps, last)
        if alarm is not None:
            alarm.reset()  # never leave updates refused because nantrace failed
        return False

    def _end_of_step(self, alarm, owner, step_function, args, kwargs, steps, last):
        if alarm is not None and alarm.compiled and (alarm.due(steps) or last):
            self._read_alarm(alarm)
        self.replayer.replay_pending(step_function, args, kwargs)
        self.snapshots.after_step(owner)
        if owner is not None:
            self.state.check(owner)
        self.timelines.after_step(owner, self.incident_log.drafts())
        written = self.incident_log.flush(self.timelines.contributing)
        # A corrupted state cannot be skipped: the update already happened.
        stop = bool(written) and (self.on_nan != "skip" or self.state.corrupted)
        if alarm is not None and alarm.raised and not stop:
            alarm.reset()  # handled: the next updates may apply
        return stop

    def _read_alarm(self, alarm):
        """XLA-compiled steps cannot call the host: read the alarm, and hand
        a refused step's kept batch to the replayer as the py_function does
        in an ordinary graph."""
        refused, corrupt = alarm.read()
        if corrupt >= 0 and alarm.corrupt_seen is None:
            alarm.corrupt_seen = corrupt
        if refused < 0 or alarm.raised:
            return
        alarm.raised = True
        context, batch = alarm.kept_batch()
        with instrument.uninstrumented():
            if batch is None:
                site = self.sites.add_guard()
                site.note = (f"the batch was larger than the {CAPTURE_BYTES >> 20} MiB kept "
                             "for a replay under XLA: the step was not replayed")
                self.incident_log.record(site, refused, [], [], self.mode)
                return
            # The alarm refused every later step and put back what each
            # changed: the state now is the state before the failed step.
            saved = [tf.identity(v) for v in context.restorable]
            self.replayer.bad_step(context, tf.constant(refused, tf.int64),
                                   *[tf.constant(a) for a in batch], *saved)


def record(logdir=None, **options):
    return Recording(logdir, **options)

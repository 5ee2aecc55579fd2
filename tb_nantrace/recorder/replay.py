"""Replay a failed step eagerly, checking every op's real output.

The guard refused the step's update and handed over its batch and the
values its forward pass may have changed (BatchNorm statistics, RNG seeds,
metrics) from before the step (`Replayer.bad_step`, inside the failing
branch). Between steps the host puts those values back and runs the same
step function eagerly under the op callback: the first op that produced a
NaN/Inf is the origin, matched back to the op of the guarded graph so the
incident names the graph op. Random ops draw from the same Keras
seed-generator state, so dropout masks are the same as in the failed step.

Then (analysis.py, within record(analysis_seconds=...)) the step is
replayed a second time to tell whether the failure reproduces, its culprit
rows are found and fixes are verified by replay. Every variable a replay
can change is put back afterwards. A step the replay does not reproduce
names no op: its incident carries what the guard saw (the non-finite
gradients) and says so.
"""

import threading
import typing

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import analysis, failsafe, instrument, snapshots


class ReplayFound(failsafe.ControlFlow):
    """Stops the replay at the first non-finite op: nothing after it matters."""


class PendingReplay(typing.NamedTuple):
    """A refused step, from its py_function to the host's next turn."""

    context: typing.Any  # guard.StepContext of a Keras step; None in a guarded loop
    step: int
    batch: typing.Any  # the step's batch arrays (Keras), else None
    replay_wanted: bool  # False past the incident cap or when the step is already pending
    saved: typing.Any  # pre-step values of context.restorable
    gradients: typing.Any = ()  # the refused gradients (the guard's evidence), if handed over


class Replayer:
    def __init__(self, scope, sites, incidents, timelines, mode, analyzer=None):
        self.scope = scope            # CheckScope: says "replaying" to the op callback
        self.sites = sites            # SiteRegistry: the guarded graph's ops
        self.incidents = incidents    # IncidentLog
        self.timelines = timelines    # HealthTimelines: a refused step's gradient counts
        self.mode = mode
        self.analyzer = analyzer      # analysis.Analyzer: reproducibility, culprits, fixes
        self._pending = []
        self._step_functions = {}     # id(model) -> its original train_step
        self._lock = threading.Lock()
        self._probing = False         # a second replay: find the origin, record nothing
        self._probe_key = None
        self._found_outputs = None    # the first replay's origin outputs

    def register_step_function(self, owner, step_function):
        self._step_functions[id(owner)] = step_function

    def bad_step(self, context, step, *tensors):
        """A guarded Keras step went non-finite (py_function, only then):
        `tensors` are its batch, its state from before the step, then (from
        the optimizer guard) its gradients."""
        step = int(step.numpy())
        arrays = [t.numpy() for t in tensors]
        n_batch, n_saved = len(context.batch_leaves), len(context.saved)
        batch, saved = arrays[:n_batch], arrays[n_batch:n_batch + n_saved]
        self.timelines.note_bad_gradients(context.owner, step, context.gradient_variables,
                                          arrays[n_batch + n_saved:])
        with self._lock:
            # The state always goes back (skip mode trains on); one replay
            # per step, none past the incident cap.
            replay_wanted = self.incidents.accepts(step) and not any(
                p.step == step for p in self._pending if p.replay_wanted)
            self._pending.append(PendingReplay(context, step, batch, replay_wanted, saved,
                                               arrays[n_batch + n_saved:]))

    def refused_update(self, step):
        """A `nantrace.guard` call's update was refused: replay the call."""
        with self._lock:
            if self.incidents.accepts(step):
                self._pending.append(PendingReplay(None, step, None, True, []))

    def replay_pending(self, step_function=None, args=(), kwargs=None):
        """Replay each failed step recorded since the last call. Keras steps
        replay their model's train_step on the kept batch; a `nantrace.guard`
        call replays `step_function(*args, **kwargs)`."""
        with self._lock:
            pending, self._pending = self._pending, []
        for context, step, arrays, replay_wanted, saved, gradients in pending:
            if context is not None:
                with instrument.uninstrumented():
                    for variable, value in zip(context.restorable, saved):
                        variable.assign(value)
            if not replay_wanted or self._input_incident(context, step, arrays):
                continue
            if context is not None:
                function = self._step_functions[id(context.owner)]
                call_args, call_kwargs = (analysis.rebuild_batch(context, arrays),), {}
                restorable = snapshots.state_variables(context.owner)
            else:
                function, call_args, call_kwargs = step_function, args, kwargs or {}
                restorable = []
            incident = self._run(step, function, call_args, call_kwargs, restorable)
            wanted = self.analyzer is not None and self.analyzer.wanted()

            def second_replay():
                return self._probe(step, function, call_args, call_kwargs, restorable)

            if incident is None:
                self._not_reproduced(context, step, gradients, second_replay() if wanted else None,
                                     wanted)
            elif wanted and context is not None:
                self.analyzer.keras_step(incident, context, step, arrays, function,
                                         self._found_outputs or [], second_replay)
            elif wanted:
                analysis.fill(incident, {"reproducibility": analysis.reproducibility(
                    incident, second_replay())})

    def found(self, site, ordinal, inputs, outputs):
        """The op callback saw the replay's first non-finite op: name it as
        the guarded graph's op, record it (a second replay only notes it),
        and stop the replay."""
        graph_site = self.sites.graph_site_for(site, ordinal)
        if graph_site is not None:
            site.op_name = graph_site.op_name
            site.layer = site.layer or graph_site.layer
            site.input_names = graph_site.input_names
            site.graph = graph_site.graph
        if self._probing:
            self._probe_key = analysis.origin_key(site.op_type, site.op_name, site.layer, site.phase)
        else:
            self._found_outputs = outputs
            self.incidents.record(site, self.scope.replay_step, inputs, outputs, "guard")
        raise ReplayFound()

    def _run(self, step, step_function, args, kwargs, restorable):
        """Re-run `step_function(*args, **kwargs)` eagerly, then put back
        `restorable`; the incident draft it recorded, or None when it did
        not reproduce the failure."""
        before = {id(i) for i in self.incidents.drafts()}
        self._found_outputs = None
        self._replay(step, step_function, args, kwargs, restorable)
        new = [i for i in self.incidents.drafts() if id(i) not in before]
        return new[0] if new else None

    def _probe(self, step, step_function, args, kwargs, restorable):
        """A second op-by-op replay from the same state: its origin key
        (analysis.origin_key), or None when it stayed finite."""
        self._probing, self._probe_key = True, None
        try:
            self._replay(step, step_function, args, kwargs, restorable)
        finally:
            self._probing = False
        return self._probe_key

    def _replay(self, step, step_function, args, kwargs, restorable):
        saved = snapshots.read(restorable)
        try:
            with self.scope.replaying(step), analysis.functions_run_eagerly():
                step_function(*args, **kwargs)
        except ReplayFound:
            pass
        except tf.errors.OpError:
            pass  # a later op failing on NaN input: the first one is already recorded
        finally:
            snapshots.assign(restorable, saved)

    def _not_reproduced(self, context, step, gradients, second, analyzed):
        """The guard refused the step but the replay stayed finite: the
        incident names no op; it carries the guard's evidence instead."""
        site = self.sites.add_guard()
        names = [getattr(v, "path", None) or getattr(v, "name", "") for v in
                 (getattr(context, "gradient_variables", None) or [])]
        bad = [(name, g) for name, g in zip(names, gradients) if not np.isfinite(g).all()]
        site.op_type, site.phase, site.layer = "", "other", None
        site.output_names = [f"gradient of {name}" for name, _ in bad]
        seen = (f"non-finite gradients of {len(bad)} variable(s) ({', '.join(n for n, _ in bad[:3])})"
                if bad else "a non-finite batch, loss or updated weight")
        site.note = (f"not reproduced: the guard saw {seen} at this step, but replaying the step "
                     "eagerly from the restored pre-step state stayed finite (nondeterministic ops, "
                     "state the replay cannot restore, or a hardware fault); no op is named")
        incident = self.incidents.record(site, step, [], [g for _, g in bad], "guard")
        if incident is None:
            return
        if not bad:
            incident.kind = "nan"
        if analyzed:
            note = ("a second replay failed at " + second[0] + " (not the step the guard saw)"
                    if second else "a second replay stayed finite too")
            analysis.fill(incident, {"reproducibility": {
                "reproduced": False, "same_origin": None, "note": f"{site.note}; {note}"}})

    def _input_incident(self, context, step, arrays):
        """A batch that already holds NaN/Inf is the origin (phase "input");
        no replay needed. True when one was recorded."""
        for leaf, site in getattr(context, "input_sites", ()):
            if not np.isfinite(arrays[leaf]).all():
                incident = self.incidents.record(site, step, [], [arrays[leaf]], self.mode)
                if incident is not None and self.analyzer is not None and self.analyzer.wanted():
                    self.analyzer.input_step(incident, context, arrays)
                return True
        return False


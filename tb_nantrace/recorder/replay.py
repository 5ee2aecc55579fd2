"""Replay a failed step eagerly, checking every op's real output.

The guard refused the step's update and handed over its batch and the
values its forward pass may have changed (BatchNorm statistics, RNG seeds,
metrics) from before the step (`Replayer.bad_step`, inside the failing
branch). Between steps the host puts those values back and runs the same
step function eagerly under the op callback: the first op that produced a
NaN/Inf is the origin, matched back to the op of the guarded graph so the
incident names the graph op. Random ops draw from the same Keras
seed-generator state, so dropout masks are the same as in the failed step.
"""

import contextlib
import threading
import typing

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import instrument


class ReplayFound(Exception):
    """Stops the replay at the first non-finite op: nothing after it matters."""


class PendingReplay(typing.NamedTuple):
    """A refused step, from its py_function to the host's next turn."""

    context: typing.Any  # guard.StepContext of a Keras step; None in a guarded loop
    step: int
    batch: typing.Any  # the step's batch arrays (Keras), else None
    replay_wanted: bool  # False past the incident cap or when the step is already pending
    saved: typing.Any  # pre-step values of context.restorable


@contextlib.contextmanager
def _functions_run_eagerly():
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


class Replayer:
    def __init__(self, scope, sites, incidents, timelines, mode):
        self.scope = scope            # CheckScope: says "replaying" to the op callback
        self.sites = sites            # SiteRegistry: the guarded graph's ops
        self.incidents = incidents    # IncidentLog
        self.timelines = timelines    # HealthTimelines: a refused step's gradient counts
        self.mode = mode
        self._pending = []
        self._step_functions = {}     # id(model) -> its original train_step
        self._lock = threading.Lock()

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
            self._pending.append(PendingReplay(context, step, batch, replay_wanted, saved))

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
        for context, step, arrays, replay_wanted, saved in pending:
            if context is not None:
                with instrument.uninstrumented():
                    for variable, value in zip(context.restorable, saved):
                        variable.assign(value)
            if not replay_wanted or self._input_incident(context, step, arrays):
                continue
            if context is not None:
                function = self._step_functions[id(context.owner)]
                call_args, call_kwargs = (_rebuild_batch(context, arrays),), {}
                restorable = context.restorable
            else:
                function, call_args, call_kwargs = step_function, args, kwargs or {}
                restorable = []
            if not self._run(step, function, call_args, call_kwargs, restorable):
                site = self.sites.add_guard()
                site.note = (
                    "the guard saw a non-finite loss or gradient at this step, but replaying "
                    "the step eagerly did not reproduce it (nondeterministic op or data?)"
                )
                self.incidents.record(site, step, [], [], "guard")

    def found(self, site, ordinal, inputs, outputs):
        """The op callback saw the replay's first non-finite op: name it as
        the guarded graph's op, record it, and stop the replay."""
        graph_site = self.sites.graph_site_for(site, ordinal)
        if graph_site is not None:
            site.op_name = graph_site.op_name
            site.layer = site.layer or graph_site.layer
            site.input_names = graph_site.input_names
            site.graph = graph_site.graph
        self.incidents.record(site, self.scope.replay_step, inputs, outputs, "guard")
        raise ReplayFound()

    def _run(self, step, step_function, args, kwargs, restorable):
        """Re-run `step_function(*args, **kwargs)` eagerly; True when it
        reproduced the failure (an incident was recorded)."""
        with instrument.uninstrumented():
            saved = [np.array(v.numpy()) for v in restorable]
        try:
            with self.scope.replaying(step), _functions_run_eagerly():
                step_function(*args, **kwargs)
        except ReplayFound:
            pass
        except tf.errors.OpError:
            pass  # a later op failing on NaN input: the first one is already recorded
        finally:
            with instrument.uninstrumented():
                for variable, value in zip(restorable, saved):
                    variable.assign(value)
        return self.incidents.has_incident_at(step)

    def _input_incident(self, context, step, arrays):
        """A batch that already holds NaN/Inf is the origin (phase "input");
        no replay needed. True when one was recorded."""
        for leaf, site in getattr(context, "input_sites", ()):
            if not np.isfinite(arrays[leaf]).all():
                self.incidents.record(site, step, [], [arrays[leaf]], self.mode)
                return True
        return False


def _rebuild_batch(context, arrays):
    leaves = tf.nest.flatten(context.batch_structure)
    values = iter(arrays)
    rebuilt = [tf.constant(next(values)) if isinstance(leaf, tf.Tensor) else leaf for leaf in leaves]
    return tf.nest.pack_sequence_as(context.batch_structure, rebuilt)

"""The optimizer guard: a non-finite update never stays applied.

Inside a recorded `model.fit`, a Keras optimizer's `apply` holds the values
of the variables it updates from before the update (update_undo.py) and
applies it with no branch; the end of the step (guard.finish_step) checks
the batch, the loss and the updated weights in one reduction, and only a
failure puts the held values back and hands the step to the replay. A
non-finite gradient makes the weights it updates non-finite, so it is seen
there, at its own step. In a `nantrace.guard` loop (no end of a Keras
step to check at), and where no copy can be held (an optimizer state above
the memory budget), the update runs under `cond(all checks finite, apply,
refuse)`; a check after it puts the update back (with a copy) or marks a
corrupted state (state_guard.py).
"""

import contextlib
import functools

import keras
import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import compat, failsafe, guard, instrument, registry, update_undo

_Optimizer = keras.optimizers.Optimizer
_LossScaleOptimizer = keras.optimizers.LossScaleOptimizer
_originals = {}


def install():
    _originals["apply"] = _Optimizer.apply
    _originals["lso_apply"] = _LossScaleOptimizer.__dict__.get("apply")
    _Optimizer.apply = _guarded_apply
    _LossScaleOptimizer.apply = _loss_scaled_apply


def uninstall():
    _Optimizer.apply = _originals["apply"]
    if _originals["lso_apply"] is None:
        del _LossScaleOptimizer.apply
    else:
        _LossScaleOptimizer.apply = _originals["lso_apply"]
    _originals.clear()


def _loss_scaled_apply(self, grads, trainable_variables=None):
    """A LossScaleOptimizer skips overflowing steps on purpose: those are not
    incidents, so its inner optimizer is left unguarded."""
    recording = registry.current()
    original = _originals["lso_apply"] or _originals["apply"]
    if recording is None:
        return original(self, grads, trainable_variables)
    with recording.scope.loss_scaled_update():
        return original(self, grads, trainable_variables)


def _guarded_apply(self, grads, trainable_variables=None):
    recording = registry.current()
    original = _originals["apply"]
    if recording is None or recording.scope.optimizer_unguarded:
        return original(self, grads, trainable_variables)
    update = _Update(original, self)
    with failsafe.fail_open(recording.note, "the optimizer guard"):
        return _guard_update(recording, self, update, grads, trainable_variables)
    if not update.made:  # the guard failed before the update was made: make it unguarded
        return original(self, grads, trainable_variables)
    return None


class _Update:
    """The optimizer's own update (the user's and Keras's code). `made` once
    it is in the step, so a guard that fails afterwards never makes it twice."""

    def __init__(self, original, optimizer):
        self.original = original
        self.optimizer = optimizer
        self.made = False

    def in_branch(self, grads, trainable_variables):
        with failsafe.users_code():
            return self.original(self.optimizer, grads, trainable_variables)

    def __call__(self, grads, trainable_variables):
        result = self.in_branch(grads, trainable_variables)
        self.made = True
        return result


def _guard_update(recording, self, update, grads, trainable_variables):
    recording.steps.remember_optimizer(self)
    grads = list(grads)
    if trainable_variables is not None:
        trainable_variables = list(trainable_variables)
        if not self.built:
            # Variables cannot be created inside the cond below.
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
    present = [g for g in grads if g is not None]
    if not present:
        return update(grads, trainable_variables)
    if tf.executing_eagerly():
        with instrument.uninstrumented():
            finite = all(np.isfinite(instrument.dense_values(g).numpy()).all() for g in present)
        if finite:
            return update(grads, trainable_variables)
        if not recording.scope.is_replaying:
            recording.refused_update(recording.steps.eager_step())
        return None
    if instrument.in_replica():
        result = _apply_across_replicas(recording, self, update.original, present, grads,
                                        trainable_variables)
        update.made = True
        return result
    context = recording.scope.step_context()
    owner = context.owner if context is not None else self
    alarm = recording.state.alarm(owner, create=False)
    variables = trainable_variables or compat.optimizer_variables(self)
    undo = None
    if alarm is not None:
        with instrument.uninstrumented():
            undo = update_undo.UpdateUndo.keep(self, variables, recording.snapshots.memory_bytes,
                                               recording.note)
    if context is not None and undo is not None:
        _update_then_check(recording, context, update, undo, grads, trainable_variables, variables)
        return None
    _check_then_update(recording, self, owner, alarm, context, update, undo, grads,
                       trainable_variables, variables)
    return None


def _update_then_check(recording, context, update, undo, grads, trainable_variables, variables):
    """A Keras step whose update can be put back (update_undo.py): no branch
    and no gradient check before the update. The update is applied; the end
    of the step (guard.finish_step) checks the batch, the loss and the
    updated weights in one reduction, and only a failure puts the state
    before the update back. A non-finite gradient makes the weights it
    updates non-finite, so it is seen there, at its own step."""
    guard_mode = not recording.scope.checks_graph_ops()
    with instrument.unregistered() if guard_mode else contextlib.nullcontext():
        with compat.out_of_place_updates():  # the held values are not copied (compat.py)
            update(grads, trainable_variables)
    present = [(v, g) for v, g in zip(variables, grads) if g is not None]
    with instrument.uninstrumented():
        after = [tf.convert_to_tensor(v) for v in variables]  # ordered after the update
    context.checked.extend(after)
    context.undo = undo
    context.gradients = [g for _, g in present]
    context.gradient_variables = [v for v, _ in present]
    probe = context.probe
    if probe is not None:
        _measure_gradients(context, grads, variables)
        context.measure(functools.partial(probe.observe_weights, variables=variables,
                                          before=undo.before(variables), after=after))


def _measure_gradients(context, grads, variables):
    """The health row's gradient columns: the model's norm on every step,
    the per-layer ones on sampled steps, from the same per-gradient sums
    (the every-step builder runs first and makes them)."""
    probe = context.probe
    halves = {}

    def every_step(values):
        halves.update(probe.gradient_halves(grads, variables))
        probe.observe_gradient_norm(values, halves)

    context.measure(every_step, every_step=True)
    context.measure(functools.partial(probe.observe_gradients, halves=halves))


def _check_then_update(recording, self, owner, alarm, context, update, undo, grads,
                       trainable_variables, variables):
    """A `nantrace.guard` loop, or a model whose optimizer state is above the
    memory budget for a copy: the update runs under `cond(all checks finite,
    apply, refuse)`, so that a non-finite gradient is never applied; then a
    check of the updated weights puts the update back (with a copy) or
    marks the state corrupt (without)."""
    present = [g for g in grads if g is not None]
    with instrument.uninstrumented():
        step = recording.steps.step_tensor()
        # Every op check of this step reports before the guard decides, so
        # the incident names the op, not just "bad gradients".
        with tf.control_dependencies(instrument.OpCallback.checks_done()):
            checked = list(context.checked) if context is not None else []
            finite = instrument.all_finite(checked + present)
        # Sticky: while a refused step is not handled, nothing is applied.
        proceed = finite if alarm is None else tf.logical_and(finite, alarm.clear())
        probe = context.probe if context is not None else None
        if probe is not None:
            _measure_gradients(context, grads, variables)
            before = (undo.before(variables) if undo is not None
                      else [tf.convert_to_tensor(v) for v in variables])

    guard_mode = not recording.scope.checks_graph_ops()

    def apply():
        with instrument.unregistered() if guard_mode else contextlib.nullcontext():
            with compat.out_of_place_updates():  # what is held is not copied (compat.py)
                update.in_branch(grads, trainable_variables)
        return tf.no_op()

    def refuse():
        # The one place a bad step leaves the graph (a py_function that runs
        # only then): the check verdict rides on this cond, no second one.
        with instrument.uninstrumented():
            if context is None:  # a custom loop: nothing else will notice
                report = functools.partial(_report_refused_update, recording, alarm, step)
                if alarm is None:
                    report()
                else:
                    alarm.refuse(None, step, report)
            else:
                context.gradient_variables = [v for v, g in zip(variables, grads) if g is not None]
                guard.report_bad_step(recording.replayer, context, gradients=present)
        return tf.no_op()

    tf.cond(proceed, apply, refuse)
    update.made = True
    if context is not None:
        context.checks_reported = len(context.checked)
        context.verdict = finite
        context.refused = tf.logical_not(proceed)
    if alarm is not None:
        recording.state.watch(owner, self, variables)
        with instrument.uninstrumented():
            # The updated state: finite gradients can still give non-finite
            # weights (Adam with epsilon=0 on a zero gradient, an overflow).
            weights_finite = instrument.all_finite([tf.convert_to_tensor(v) for v in variables])
            notify = functools.partial(tf.py_function, alarm.note_corrupt, [step], Tout=[])
            tf.cond(weights_finite, tf.no_op,
                    functools.partial(_update_failed, alarm, step, notify, undo, refuse))
    if probe is not None:
        # Weights are read when the health row is built, after this cond
        # (automatic control dependencies order it): once, not per branch.
        context.measure(functools.partial(probe.observe_weights, variables=variables, before=before))


def _report_refused_update(recording, alarm, step):
    def refused(step):
        if alarm is not None:
            alarm.raised = True
        recording.refused_update(step)

    tf.py_function(refused, [step], Tout=[])


def _update_failed(alarm, step, notify, undo, refuse):
    """The failing branch of the updated-state check: put the state before
    the update back and refuse the step, whose replay then names the
    optimizer's op (update_undo.py); without a held copy, mark the state
    corrupt (the host reports the update and stops)."""
    if undo is None:
        alarm.mark_corrupt(step, notify)
        return tf.no_op()
    undo.put_back()
    return refuse()


def _apply_across_replicas(recording, optimizer, original, present, grads, trainable_variables):
    """The guard under tf.distribute: a cond cannot hold the update's
    cross-replica merge, so the merge holds the cond (as Keras'
    LossScaleOptimizer does): no replica applies unless all are finite."""
    in_fit = recording.scope.step_context() is not None
    with instrument.uninstrumented():
        finite = instrument.all_finite(present)
        finite_flag = tf.cast(finite, tf.float32)  # per replica, for the reduce below
        step = recording.steps.step_tensor()

    def across(strategy, finite, finite_flag, grads):
        with instrument.uninstrumented():
            # One decision for all workers (an all-reduce of the flags): a
            # worker applying while another refuses would hang the collectives.
            flags = strategy.experimental_local_results(finite)
            local = tf.reduce_all(tf.stack(flags))
            everywhere = strategy.reduce(
                tf.distribute.ReduceOp.MEAN, finite_flag, axis=None
            ) > 0.999  # every replica's flag is 1

        def apply():
            # Back in each replica, where apply() does its own merge_call.
            strategy.extended.call_for_each_replica(
                lambda g: original(optimizer, g, trainable_variables), args=(grads,)
            )
            return tf.no_op()

        def refuse():
            if not in_fit:  # a custom loop: end it on every worker alike
                with instrument.uninstrumented():
                    tf.py_function(recording.refused_update, [step, local], Tout=[])
            return tf.no_op()

        tf.cond(everywhere, apply, refuse)

    tf.distribute.get_replica_context().merge_call(across, args=(finite, finite_flag, grads))
    return None

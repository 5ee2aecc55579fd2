"""Keras integration: inside `record()`, `model.fit` runs a guarded,
instrumented train step, the optimizer never applies a non-finite update,
and training stops (or skips the step) at an incident.

Patches live for the recording's lifetime only, and every model is left as
it was found (same cached train function, train_step, jit_compile).
"""

import contextlib
import functools
import sys

import keras
import numpy as np
import tensorflow as tf
from keras.src.trainers.data_adapters import data_adapter_utils

from tb_nantrace.recorder import guard, instrument

_BaseOptimizer = keras.optimizers.Optimizer
_LossScaleOptimizer = keras.optimizers.LossScaleOptimizer
_originals = {}
_installed_for = []


def _active():
    from tb_nantrace.recorder.session import active_recording

    return active_recording()


def install(session):
    _installed_for.append(session)
    if len(_installed_for) > 1:
        return
    _originals["fit"] = keras.Model.__dict__.get("fit")
    _originals["fit_impl"] = keras.Model.fit
    _originals["apply"] = _BaseOptimizer.apply
    _originals["lso_apply"] = _LossScaleOptimizer.__dict__.get("apply")
    _originals["layer_call"] = keras.layers.Layer.__call__
    keras.Model.fit = _recorded_fit
    keras.layers.Layer.__call__ = _observed_layer_call
    _BaseOptimizer.apply = _guarded_apply
    _LossScaleOptimizer.apply = _loss_scaled_apply


def uninstall(session):
    _installed_for.remove(session)
    if _installed_for:
        return
    if _originals["fit"] is None:
        del keras.Model.fit
    else:
        keras.Model.fit = _originals["fit"]
    _BaseOptimizer.apply = _originals["apply"]
    keras.layers.Layer.__call__ = _originals["layer_call"]
    if _originals["lso_apply"] is None:
        del _LossScaleOptimizer.apply
    else:
        _LossScaleOptimizer.apply = _originals["lso_apply"]
    _originals.clear()


def find_optimizer_in_stack():
    """The Keras optimizer a custom training loop uses, found in the frames
    tracing it (locals and globals first, then `x.optimizer`); None unless
    that is unambiguous."""
    direct, attached = {}, {}
    frame = sys._getframe(1)
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for value in list(scope.values()):
                if isinstance(value, _BaseOptimizer):
                    direct[id(value)] = value
                elif isinstance(getattr(value, "optimizer", None), _BaseOptimizer):
                    attached[id(value.optimizer)] = value.optimizer
        frame = frame.f_back
    for found in (direct, attached):
        if len(found) == 1:
            return next(iter(found.values()))
    return None


def _observed_layer_call(self, *args, **kwargs):
    outputs = _originals["layer_call"](self, *args, **kwargs)
    session = _active()
    context = session.step_context() if session is not None else None
    if context is not None and context.probe is not None and not tf.executing_eagerly():
        context.measure(functools.partial(context.probe.observe_activation, layer=self, outputs=outputs))
    return outputs


# Optimizer guard -------------------------------------------------------------

def _loss_scaled_apply(self, grads, trainable_variables=None):
    """A LossScaleOptimizer skips overflowing steps on purpose: those are not
    incidents, so its inner optimizer is left unguarded."""
    session = _active()
    original = _originals["lso_apply"] or _originals["apply"]
    if session is None:
        return original(self, grads, trainable_variables)
    session.loss_scaling = True
    context = session.step_context()
    if context is not None:
        context.loss_scaled = True
    with session.unguarded_optimizer():
        return original(self, grads, trainable_variables)


def _guarded_apply(self, grads, trainable_variables=None):
    session = _active()
    original = _originals["apply"]
    if session is None or session.optimizer_unguarded:
        return original(self, grads, trainable_variables)
    session.remember_optimizer(self)
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
        return original(self, grads, trainable_variables)
    if tf.executing_eagerly():
        with instrument.uninstrumented():
            finite = all(np.isfinite(g.numpy()).all() for g in present)
        if finite:
            return original(self, grads, trainable_variables)
        if not session.is_replaying:
            session.on_bad_update(session.eager_step())
        return None
    if distributed():
        return _apply_across_replicas(self, original, present, grads, trainable_variables)
    context = session.step_context()
    with instrument.uninstrumented():
        step = session.step_tensor()
        # Every op check of this step reports before the guard decides, so
        # the incident names the op, not just "bad gradients".
        with tf.control_dependencies(instrument.OpCallback.checks_done()):
            checks = list(context.finite_checks) if context is not None else []
            checks.append(instrument.all_finite(present))
            finite = guard.all_checks(checks)
        probe = context.probe if context is not None else None
        variables = trainable_variables or list(self._trainable_variables)
        if probe is not None:
            context.measure(functools.partial(probe.observe_gradients, grads=grads, variables=variables))
            before = [tf.convert_to_tensor(v) for v in variables]

    guard_mode = not session.checks_graph_ops()

    def apply():
        with instrument.unregistered() if guard_mode else contextlib.nullcontext():
            original(self, grads, trainable_variables)
        return tf.no_op()

    def refuse():
        # The one place a bad step leaves the graph (a py_function that runs
        # only then): the check verdict rides on this cond, no second one.
        with instrument.uninstrumented():
            if context is None:  # a custom loop: nothing else will notice
                tf.py_function(session.on_bad_update, [step], Tout=[])
            else:
                context.gradient_variables = [v for v, g in zip(variables, grads) if g is not None]
                guard.report_bad_step(session, context, gradients=present)
        return tf.no_op()

    tf.cond(finite, apply, refuse)
    if context is not None:
        context.checks_reported = len(context.finite_checks)
        context.verdict = finite
    owner = context.owner if context is not None else self
    flag = session.state_flag(owner, create=False)
    if flag is not None:
        session.watch_state(owner, self, variables)
        with instrument.uninstrumented():
            # The updated state: finite gradients can still give non-finite
            # weights (Adam with epsilon=0 on a zero gradient, an overflow).
            flag.assign(instrument.all_finite([tf.convert_to_tensor(v) for v in variables]))
    if probe is not None:
        # Weights are read when the health row is built, after this cond
        # (automatic control dependencies order it): once, not per branch.
        context.measure(functools.partial(probe.observe_weights, variables=variables, before=before))
    return None


def distributed():
    """Inside a replica of a real tf.distribute strategy (not the default)."""
    return tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()


def _apply_across_replicas(optimizer, original, present, grads, trainable_variables):
    """The guard under tf.distribute: a cond cannot hold the update's
    cross-replica merge, so the merge holds the cond (as Keras'
    LossScaleOptimizer does): no replica applies unless all are finite."""
    session = _active()
    in_fit = session.step_context() is not None
    with instrument.uninstrumented():
        finite = instrument.all_finite(present)
        finite_flag = tf.cast(finite, tf.float32)  # per replica, for the reduce below
        step = session.step_tensor()

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
                    tf.py_function(session.on_bad_update, [step, local], Tout=[])
            return tf.no_op()

        tf.cond(everywhere, apply, refuse)

    tf.distribute.get_replica_context().merge_call(across, args=(finite, finite_flag, grads))
    return None


# model.fit -----------------------------------------------------------------------

class _IncidentCallback(keras.callbacks.Callback):
    """After each step: replay a failed step, write its incident at once, and
    end training like TerminateOnNaN ("stop"), raise ("raise") or go on ("skip")."""

    def __init__(self, session):
        super().__init__()
        self.session = session

    def on_train_batch_end(self, batch, logs=None):
        self.session.replay_pending()
        self.session.check_state(self.model)
        self.session.after_keras_step(self.model)
        # A corrupted state cannot be skipped: the update already happened.
        if self.session.flush() and (self.session.on_nan != "skip" or self.session.state_corrupted):
            if self.session.on_nan == "raise":
                raise self.session.error()
            self.model.stop_training = True


def _recorded_fit(model, *args, **kwargs):
    session = _active()
    original_fit = _originals["fit_impl"]
    if session is None:
        return original_fit(model, *args, **kwargs)
    saved = {
        "train_function": model.train_function,
        "train_step": model.__dict__.get("train_step"),
        "_compute_loss": model.__dict__.get("_compute_loss"),
        "jit_compile": model.jit_compile,
    }
    if model.jit_compile:
        model.jit_compile = False
        session.note(
            "jit_compile (XLA) turned off for the recorded fit: XLA-compiled steps "
            "cannot be checked or replayed op by op"
        )
    session.health_monitor(model)  # before tracing: its ring buffer is a variable
    session.state_flag(model)
    _build_optimizer_before_tracing(model)
    model.train_function = None  # Keras caches it: force a guarded trace
    model.train_step = _guarded_train_step(session, model, model.train_step)
    model._compute_loss = _checked_loss(session, model._compute_loss)
    callbacks = list(kwargs.pop("callbacks", None) or [])
    callbacks.append(_IncidentCallback(session))
    session.enter_keras_fit()
    try:
        if _state_is_nonfinite(session, model):
            if session.on_nan == "raise":
                raise session.error()
            if session.on_nan == "stop":
                return keras.callbacks.History()
        return original_fit(model, *args, callbacks=callbacks, **kwargs)
    finally:
        session.exit_keras_fit()
        session.close_health(model)
        session.flush()
        model.train_function = saved["train_function"]
        for name in ("train_step", "_compute_loss"):
            if saved[name] is None:
                model.__dict__.pop(name, None)
            else:
                setattr(model, name, saved[name])
        if saved["jit_compile"]:
            model.jit_compile = True


def _build_optimizer_before_tracing(model):
    """Create the optimizer's variables now, as Keras itself does under a
    distribution strategy (`_symbolic_build`). Otherwise Keras creates them
    inside the first trace of the train step, and a tf.function that
    creates variables is traced a second time: with them built, it is traced
    once. Skipped while the model's own variables do not exist yet."""
    optimizer = model.optimizer
    if optimizer is None or optimizer.built or model._distribute_strategy is not None:
        return
    if not all(layer.built for layer in model._flatten_layers()) or not model.trainable_variables:
        return
    with instrument.uninstrumented():
        optimizer.build(model.trainable_variables)


def _guarded_train_step(session, model, original_train_step):
    session.register_step_function(model, original_train_step)

    def train_step(data):
        if tf.executing_eagerly():  # run_eagerly=True: every op is checked
            with session.eager_keras_step():
                return original_train_step(data)
        if distributed():
            # Replicas: every op is checked (exact) and the update is guarded
            # across replicas; no state snapshot, health row or replay.
            session.note("tf.distribute: steps are checked op by op (exact mode) on every replica")
            with instrument.uninstrumented():
                step = tf.cast(tf.convert_to_tensor(model.optimizer.iterations), tf.int64)
            context = guard.StepContext(step=step, batch_leaves=[], owner=model)
            session.push_step_context(context)
            try:
                _check_batch(session, data)
                return original_train_step(data)
            finally:
                session.pop_step_context()
        restorable = list(model.non_trainable_variables) + list(model.metrics_variables)
        with instrument.uninstrumented():
            step = tf.cast(tf.convert_to_tensor(model.optimizer.iterations), tf.int64)
            saved = guard.snapshot(restorable)
        leaves = tf.nest.flatten(data)
        monitor = session.health_monitor(model)
        context = guard.StepContext(
            step=step,
            batch_leaves=[t for t in leaves if isinstance(t, tf.Tensor)],
            batch_structure=data,
            owner=model,
            probe=monitor.probe if monitor is not None else None,
            restorable=restorable,
            saved=saved,
        )
        session.push_step_context(context)
        try:
            _check_batch(session, data)
            outputs = original_train_step(data)
        finally:
            session.pop_step_context()
        guard.finish_step(session, context, outputs)
        return outputs

    return train_step


def _checked_loss(session, compute_loss):
    def checked(*args, **kwargs):
        loss = compute_loss(*args, **kwargs)
        context = session.step_context()
        if context is not None and not tf.executing_eagerly():
            with instrument.uninstrumented():
                context.finite_checks.append(instrument.all_finite([loss]))
                if context.probe is not None:
                    context.measure(functools.partial(context.probe.put, metric="loss", layer="",
                                                      tensor=loss))
        return loss

    return checked


def _check_batch(session, data):
    """NaN/Inf already in the batch: phase "input", with row and column.

    Guard mode adds the batch to the step's verdict, and the host finds the
    bad tensor in the kept batch; exact mode (and tf.distribute) check each
    tensor in the graph, as every other op is."""
    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    context = session.step_context()
    features = [t for t in tf.nest.flatten(x) if isinstance(t, tf.Tensor) and t.dtype.is_floating]
    if context.probe is not None and features:
        context.measure(functools.partial(context.probe.observe_inputs, x=features[0]))
    graph = tf.compat.v1.get_default_graph()
    session.callback.forget_placeholders(graph)
    in_graph = session.checks_graph_ops()
    checked = []
    for label, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        flat = tf.nest.flatten(part)
        for i, tensor in enumerate(flat):
            if not isinstance(tensor, tf.Tensor) or not tensor.dtype.is_floating:
                continue
            name = label if len(flat) == 1 else f"{label}[{i}]"
            with instrument.uninstrumented():
                site = session.registry.add_input(name, tensor)
                if in_graph:
                    session.callback.emit_check(site, [tensor], [], [tensor])
                    continue
            leaf = next((j for j, t in enumerate(context.batch_leaves) if t is tensor), None)
            if leaf is not None:
                context.input_sites.append((leaf, site))
                checked.append(tensor)
    if checked:
        with instrument.uninstrumented():
            context.finite_checks.append(instrument.all_finite(checked))


def _state_is_nonfinite(session, model):
    """Weights already NaN/Inf when recording starts: nonfinite_initial_state."""
    with instrument.uninstrumented():
        step = int(model.optimizer.iterations.numpy()) if model.optimizer is not None else 0
        for variable in model.weights:
            value = np.asarray(variable.numpy())
            if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                session.on_nonfinite_state(variable, value, step)
                session.flush()
                return True
    return False

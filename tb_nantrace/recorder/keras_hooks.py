"""Keras integration: make `model.fit` inside `record()` run an instrumented
train function, guard the optimizer, and stop training at an incident.

Patches are installed for the recording's lifetime only and every model is
left as it was found (same cached train function, train_step, jit_compile).
"""

import sys

import keras
import numpy as np
import tensorflow as tf
from keras.src.trainers.data_adapters import data_adapter_utils

from tb_nantrace.recorder import instrument

_BaseOptimizer = keras.optimizers.Optimizer
_originals = {}
_installed_for = []
_last_optimizer = {}


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
    keras.Model.fit = _recorded_fit
    _BaseOptimizer.apply = _guarded_apply


def uninstall(session):
    _installed_for.remove(session)
    if _installed_for:
        return
    if _originals["fit"] is None:
        del keras.Model.fit
    else:
        keras.Model.fit = _originals["fit"]
    _BaseOptimizer.apply = _originals["apply"]
    _originals.clear()


def last_optimizer(session):
    return _last_optimizer.get(id(session))


def find_optimizer_in_stack():
    """The Keras optimizer a custom training loop uses, found in the frames
    tracing it (its locals, globals, or `self.optimizer`); None unless unique."""
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


# Optimizer guard -------------------------------------------------------------

def _guarded_apply(self, grads, trainable_variables=None):
    session = _active()
    original = _originals.get("apply") or _BaseOptimizer.apply
    if session is None or isinstance(self, keras.optimizers.LossScaleOptimizer):
        return original(self, grads, trainable_variables)
    _last_optimizer[id(session)] = self
    if session.optimizer is None:
        session.optimizer = self
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
    with instrument.uninstrumented():
        step = session.step_tensor()
        if tf.executing_eagerly():
            if all(np.isfinite(g.numpy()).all() for g in present):
                return original(self, grads, trainable_variables)
            session.on_bad_update(step)
            return None
        # Any op check of this step must report before the guard decides, so
        # that the incident names the op, not just "bad gradients".
        with tf.control_dependencies(session._callback.checks_done()):
            finite = instrument.all_finite(present)

    def apply():
        original(self, grads, trainable_variables)
        return tf.no_op()

    def refuse():
        with instrument.uninstrumented():
            tf.py_function(session.on_bad_update, [step], Tout=[])
        return tf.no_op()

    tf.cond(finite, apply, refuse)
    return None


# model.fit -----------------------------------------------------------------------

class _StopOnIncident(keras.callbacks.Callback):
    """Writes incidents as soon as their step returns; ends training like
    TerminateOnNaN (on_nan="stop") or raises NonFiniteError ("raise")."""

    def __init__(self, session):
        super().__init__()
        self.session = session

    def on_train_batch_end(self, batch, logs=None):
        if self.session.flush():
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
        "jit_compile": model.jit_compile,
    }
    if model.jit_compile:
        model.jit_compile = False
        session.note(
            "jit_compile (XLA) turned off for the recorded fit: XLA-compiled steps "
            "cannot be checked op by op"
        )
    model.train_function = None  # Keras caches it: force an instrumented trace
    model.train_step = _guarded_train_step(session, model, model.train_step)
    callbacks = list(kwargs.pop("callbacks", None) or [])
    callbacks.append(_StopOnIncident(session))
    session.enter_keras_fit()
    try:
        if _state_is_nonfinite(session, model):
            if session.on_nan == "raise":
                raise session.error()
            return keras.callbacks.History()
        return original_fit(model, *args, callbacks=callbacks, **kwargs)
    finally:
        session.exit_keras_fit()
        session.flush()
        model.train_function = saved["train_function"]
        if saved["train_step"] is None:
            model.__dict__.pop("train_step", None)
        else:
            model.train_step = saved["train_step"]
        if saved["jit_compile"]:
            model.jit_compile = True


def _guarded_train_step(session, model, original_train_step):
    def train_step(data):
        with instrument.uninstrumented():
            optimizer = model.optimizer
            step = tf.cast(tf.convert_to_tensor(optimizer.iterations), tf.int64)
        session.set_keras_step(step)
        try:
            _check_batch(session, data)
            return original_train_step(data)
        finally:
            session.set_keras_step(None)

    return train_step


def _check_batch(session, data):
    """NaN/Inf already in the batch: phase "input", with row and column."""
    if tf.executing_eagerly():
        return
    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    graph = tf.compat.v1.get_default_graph()
    session._callback.forget_placeholders(graph)
    for label, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        flat = tf.nest.flatten(part)
        for i, tensor in enumerate(flat):
            if not isinstance(tensor, tf.Tensor) or not tensor.dtype.is_floating:
                continue
            name = label if len(flat) == 1 else f"{label}[{i}]"
            with instrument.uninstrumented():
                site = session.registry.add_input(name, tensor)
                session._callback.emit_check(site, [tensor], [], [tensor])


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

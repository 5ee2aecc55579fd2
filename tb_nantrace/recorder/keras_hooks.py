"""Keras integration: inside `record()`, `model.fit` runs a guarded,
instrumented train step (train_step.py), the optimizer never applies a
non-finite update (optimizer_guard.py), and training stops (or skips the
step) at an incident.

Patches live for the recording's lifetime only, and every model is left as
it was found (same cached train function, train_step, jit_compile).
"""

import contextlib

import keras

from tb_nantrace.recorder import (
    compat, failsafe, instrument, keras_tensorboard, optimizer_guard, registry, train_step,
)

_originals = {}


def install():
    _originals["fit"] = keras.Model.__dict__.get("fit")
    _originals["fit_impl"] = keras.Model.fit
    keras.Model.fit = _recorded_fit
    train_step.install()
    optimizer_guard.install()


def uninstall():
    optimizer_guard.uninstall()
    train_step.uninstall()
    if _originals["fit"] is None:
        del keras.Model.fit
    else:
        keras.Model.fit = _originals["fit"]
    _originals.clear()


def _end_of_step(recording, model, steps=1, last=False):
    """The recording's end_of_step (replay a failed step, write its incident
    at once), then end training like TerminateOnNaN ("stop"), raise
    ("raise") or go on ("skip")."""
    if recording.end_of_step(model, steps=steps, last=last):
        if recording.on_nan == "raise":
            raise recording.incident_log.error()
        model.stop_training = True


def _stepping(recording, model, fit):
    """`model.make_train_function` for the recorded fit: Keras's own, whose
    function is followed by the recording's end of step. It runs on the
    main thread between two executions, where a replay cannot race the next
    step; and, unlike a batch-end callback, it keeps Keras's batch-end
    callbacks asynchronous where Keras dispatches them so (an overridden
    on_train_batch_end makes every step wait for the device)."""
    make_train_function = type(model).make_train_function

    def make(force=False):
        make_train_function(model, force=force)
        function = model.train_function
        if getattr(function, "nantrace_stepping", False):
            return function

        def train_function(iterator):
            try:
                logs = function(iterator)
                fit.after_step()
                _end_of_step(recording, model, steps=model.steps_per_execution or 1)
            except BaseException as error:
                fit.abandoned(error)
                raise
            return logs

        train_function.nantrace_stepping = True
        train_function.__wrapped__ = function  # Keras's own (benchmarks/trace_cost.py reads it)
        model.train_function = train_function
        return train_function

    return make


class RecordedFit:
    """One recorded `model.fit`: `open()` before its first step (False: the
    set-up failed and the fit runs as without nantrace), `finish()` after
    its last, `close()` in every case. `on_error(error)`, if set, is called
    when a step raises (the NanTrace callback closes its recording there:
    Keras calls no callback when fit raises)."""

    def __init__(self, recording, model, callbacks=(), initial_epoch=0):
        self.recording = recording
        self.model = model
        self.saved = {
            "train_function": model.train_function,
            "train_step": model.__dict__.get("train_step"),
            compat.LOSS_METHOD: model.__dict__.get(compat.LOSS_METHOD),
            "jit_compile": model.jit_compile,
            "make_train_function": model.__dict__.get("make_train_function"),
        }
        self.alarm = None
        self.tensorboard = keras_tensorboard.find(callbacks)
        self.tensorboard_steps = None
        self.initial_epoch = initial_epoch
        self.on_error = None
        self._contexts = contextlib.ExitStack()

    def open(self):
        recording, model = self.recording, self.model
        with failsafe.fail_open(recording.note, "setting up the recorded fit") as setup:
            if self.tensorboard is not None:
                recording.align_run(keras_tensorboard.train_run(self.tensorboard),
                                    "the training run of fit's keras.callbacks.TensorBoard")
                self.tensorboard_steps = keras_tensorboard.TensorBoardSteps(
                    self.tensorboard, model, self.initial_epoch)
                with instrument.uninstrumented():
                    self.tensorboard_steps.started(model.optimizer.iterations.numpy())
                recording.incident_log.place = self.tensorboard_steps.place
            self.alarm = _patch(recording, model, self)
        if setup.failed:
            self._restore()
            return False
        self._contexts.enter_context(recording.scope.keras_fit())
        self._contexts.enter_context(compat.check_numerics_paused(recording.note))
        return True

    def after_step(self):
        if self.tensorboard_steps is not None:
            self.tensorboard_steps.remember_epoch_length()

    def initial_state_stops(self):
        """Weights already non-finite: an incident, and True when training
        must not start (raises under on_nan="raise")."""
        recording = self.recording
        if not recording.state.initial_state_is_nonfinite(self.model):
            return False
        recording.incident_log.flush()
        if recording.on_nan == "raise":
            raise recording.incident_log.error()
        return recording.on_nan == "stop"

    def finish(self):
        _end_of_step(self.recording, self.model, steps=0, last=True)  # XLA: what the last poll missed

    def abandoned(self, error):
        if self.on_error is not None:
            self.on_error(error)

    def close(self):
        recording = self.recording
        with failsafe.fail_open(recording.note, "closing the recorded fit"):
            if self.alarm is not None:
                self.alarm.reset()
            recording.timelines.close(self.model)
            recording.incident_log.flush(recording.timelines.contributing)
        recording.incident_log.place = None
        self._restore()
        self._contexts.close()

    def _restore(self):
        """The model as it was found: same cached train function, train_step, jit_compile."""
        model, saved = self.model, self.saved
        model.train_function = saved["train_function"]
        for name in ("train_step", compat.LOSS_METHOD, "make_train_function"):
            if saved[name] is None:
                model.__dict__.pop(name, None)
            else:
                setattr(model, name, saved[name])
        model.jit_compile = saved["jit_compile"]


def _recorded_fit(model, *args, **kwargs):
    recording = registry.current()
    original_fit = _originals["fit_impl"]
    if recording is None:
        return original_fit(model, *args, **kwargs)
    fit = RecordedFit(recording, model, kwargs.get("callbacks"), kwargs.get("initial_epoch", 0))
    if not fit.open():
        return original_fit(model, *args, **kwargs)
    try:
        if fit.initial_state_stops():
            return keras.callbacks.History()
        history = original_fit(model, *args, **kwargs)
        fit.finish()
        return history
    finally:
        fit.close()


def _patch(recording, model, fit):
    """The recorded fit's model: guarded train step, checked loss, stepping
    train function. Returns the model's alarm."""
    if model.jit_compile and recording.mode == "exact":
        model.jit_compile = False
        recording.note(
            "jit_compile (XLA) turned off for the recorded fit: exact mode checks every op, "
            "which XLA cannot compile (the default mode keeps XLA on)"
        )
    recording.timelines.monitor(model)  # before tracing: its ring buffer is a variable
    alarm = recording.state.alarm(model, compiled=bool(model.jit_compile))
    train_step.build_optimizer_before_tracing(model)
    model.train_function = None  # Keras caches it: force a guarded trace
    model.make_train_function = _stepping(recording, model, fit)
    model.train_step = train_step.guarded_train_step(recording, model, model.train_step)
    setattr(model, compat.LOSS_METHOD,
            train_step.checked_loss(recording, getattr(model, compat.LOSS_METHOD)))
    return alarm

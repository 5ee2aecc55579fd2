"""Keras integration: inside `record()`, `model.fit` runs a guarded,
instrumented train step (train_step.py), the optimizer never applies a
non-finite update (optimizer_guard.py), and training stops (or skips the
step) at an incident.

Patches live for the recording's lifetime only, and every model is left as
it was found (same cached train function, train_step, jit_compile).
"""

import keras

from tb_nantrace.recorder import compat, optimizer_guard, registry, train_step

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


class _EndOfStep(keras.callbacks.Callback):
    """After each step: the recording's end_of_step (replay a failed step,
    write its incident at once), then end training like TerminateOnNaN
    ("stop"), raise ("raise") or go on ("skip")."""

    def __init__(self, recording):
        super().__init__()
        self.recording = recording

    def on_train_batch_end(self, batch, logs=None):
        if self.recording.end_of_step(self.model):
            if self.recording.on_nan == "raise":
                raise self.recording.incident_log.error()
            self.model.stop_training = True


def _recorded_fit(model, *args, **kwargs):
    recording = registry.current()
    original_fit = _originals["fit_impl"]
    if recording is None:
        return original_fit(model, *args, **kwargs)
    saved = {
        "train_function": model.train_function,
        "train_step": model.__dict__.get("train_step"),
        compat.LOSS_METHOD: model.__dict__.get(compat.LOSS_METHOD),
        "jit_compile": model.jit_compile,
    }
    if model.jit_compile:
        model.jit_compile = False
        recording.note(
            "jit_compile (XLA) turned off for the recorded fit: XLA-compiled steps "
            "cannot be checked or replayed op by op"
        )
    recording.timelines.monitor(model)  # before tracing: its ring buffer is a variable
    recording.state.flag(model)
    train_step.build_optimizer_before_tracing(model)
    model.train_function = None  # Keras caches it: force a guarded trace
    model.train_step = train_step.guarded_train_step(recording, model, model.train_step)
    setattr(model, compat.LOSS_METHOD,
            train_step.checked_loss(recording, getattr(model, compat.LOSS_METHOD)))
    callbacks = list(kwargs.pop("callbacks", None) or [])
    callbacks.append(_EndOfStep(recording))
    with recording.scope.keras_fit(), compat.check_numerics_paused(recording.note):
        try:
            if recording.state.initial_state_is_nonfinite(model):
                recording.incident_log.flush()
                if recording.on_nan == "raise":
                    raise recording.incident_log.error()
                if recording.on_nan == "stop":
                    return keras.callbacks.History()
            return original_fit(model, *args, callbacks=callbacks, **kwargs)
        finally:
            recording.timelines.close(model)
            recording.incident_log.flush(recording.timelines.contributing)
            model.train_function = saved["train_function"]
            for name in ("train_step", compat.LOSS_METHOD):
                if saved[name] is None:
                    model.__dict__.pop(name, None)
                else:
                    setattr(model, name, saved[name])
            if saved["jit_compile"]:
                model.jit_compile = True

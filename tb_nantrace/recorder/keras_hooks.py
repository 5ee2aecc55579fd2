"""Keras integration: inside `record()`, `model.fit` runs a guarded,
instrumented train step (train_step.py), the optimizer never applies a
non-finite update (optimizer_guard.py), and training stops (or skips the
step) at an incident.

Patches live for the recording's lifetime only, and every model is left as
it was found (same cached train function, train_step, jit_compile).
"""

import keras

from tb_nantrace.recorder import compat, failsafe, optimizer_guard, registry, train_step

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


def _stepping(recording, model):
    """`model.make_train_function` for the recorded fit: Keras's own, whose
    function is followed by the recording's end of step. It runs on the
    main thread between two executions, where a replay cannot race the next
    step; and, unlike a batch-end callback, it keeps Keras's batch-end
    callbacks asynchronous (an overridden on_train_batch_end makes every
    step wait for the device)."""
    make_train_function = type(model).make_train_function

    def make(force=False):
        make_train_function(model, force=force)
        function = model.train_function
        if getattr(function, "nantrace_stepping", False):
            return function

        def train_function(iterator):
            logs = function(iterator)
            _end_of_step(recording, model, steps=model.steps_per_execution or 1)
            return logs

        train_function.nantrace_stepping = True
        model.train_function = train_function
        return train_function

    return make


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
        "make_train_function": model.__dict__.get("make_train_function"),
    }
    with failsafe.fail_open(recording.note, "setting up the recorded fit") as setup:
        alarm = _patch(recording, model)
    if setup.failed:
        _restore(model, saved)
        return original_fit(model, *args, **kwargs)
    with recording.scope.keras_fit(), compat.check_numerics_paused(recording.note):
        try:
            if recording.state.initial_state_is_nonfinite(model):
                recording.incident_log.flush()
                if recording.on_nan == "raise":
                    raise recording.incident_log.error()
                if recording.on_nan == "stop":
                    return keras.callbacks.History()
            history = original_fit(model, *args, **kwargs)
            _end_of_step(recording, model, steps=0, last=True)  # XLA: what the last poll missed
            return history
        finally:
            with failsafe.fail_open(recording.note, "closing the recorded fit"):
                alarm.reset()
                recording.timelines.close(model)
                recording.incident_log.flush(recording.timelines.contributing)
            _restore(model, saved)


def _patch(recording, model):
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
    model.make_train_function = _stepping(recording, model)
    model.train_step = train_step.guarded_train_step(recording, model, model.train_step)
    setattr(model, compat.LOSS_METHOD,
            train_step.checked_loss(recording, getattr(model, compat.LOSS_METHOD)))
    return alarm


def _restore(model, saved):
    """The model as it was found: same cached train function, train_step, jit_compile."""
    model.train_function = saved["train_function"]
    for name in ("train_step", compat.LOSS_METHOD, "make_train_function"):
        if saved[name] is None:
            model.__dict__.pop(name, None)
        else:
            setattr(model, name, saved[name])
    model.jit_compile = saved["jit_compile"]

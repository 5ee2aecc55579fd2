"""`nantrace.guard(train_step)`: a custom loop's step, guarded like fit's.

Inside `record()` the wrapped step runs without per-op checks (its
optimizer's update is guarded), and only a failed step is replayed eagerly
to find its origin. Outside `record()` it is a plain call.
"""

from tb_nantrace.recorder import registry


def guard(step_function):
    def guarded(*args, **kwargs):
        recording = registry.current()
        if recording is None or recording.mode != "guard":
            return step_function(*args, **kwargs)
        optimizer = recording.steps.find_optimizer()
        if optimizer is not None:
            recording.state.alarm(optimizer)  # before the first trace
        with recording.scope.guarded_call():
            result = step_function(*args, **kwargs)
        python_function = getattr(step_function, "python_function", step_function)
        if recording.end_of_step(optimizer, python_function, args, kwargs):
            raise recording.incident_log.abort()
        return result

    guarded.__wrapped__ = step_function
    guarded.__doc__ = getattr(step_function, "__doc__", None)
    return guarded

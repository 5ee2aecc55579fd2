"""Replay one failed step eagerly, checking every op's real output.

The guard kept the model's weights and state as they were before the step,
and its batch. Running the same step function eagerly under the op callback
then finds the first op that produced a NaN/Inf, with its inputs' values.
Random ops draw from the same Keras seed-generator state (restored by the
guard), so dropout masks are the same as in the failed step.
"""

import contextlib

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import instrument


class ReplayFound(Exception):
    """Stops the replay at the first non-finite op: nothing after it matters."""


@contextlib.contextmanager
def _functions_run_eagerly():
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


def run(session, step, step_function, args, kwargs, restorable):
    """Re-run `step_function(*args, **kwargs)` eagerly. Returns the incident
    found, or None when the replay did not reproduce the failure."""
    with instrument.uninstrumented():
        saved = [np.array(v.numpy()) for v in restorable]
    before = len(session.incident_protos)
    try:
        with session.replaying(step), _functions_run_eagerly():
            step_function(*args, **kwargs)
    except ReplayFound:
        pass
    except tf.errors.OpError:
        pass  # a later op failing on NaN input: the first one is already recorded
    finally:
        with instrument.uninstrumented():
            for variable, value in zip(restorable, saved):
                variable.assign(value)
    return session.incident_protos[-1] if len(session.incident_protos) > before else None

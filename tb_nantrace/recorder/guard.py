"""The cheap per-step guard: did anything go non-finite in this step?

Inside the traced step it checks the batch, the loss and the gradients
before they are applied (a few reductions, no host sync). A bad step
applies no update, gets back the state its forward pass changed (BatchNorm
statistics, RNG seeds, metrics) and hands its batch to the Python side,
which then replays exactly that step op by op (replay.py).
"""

import dataclasses
import functools
from typing import Any, List, Optional

import tensorflow as tf

from tb_nantrace.recorder import instrument


@dataclasses.dataclass
class StepContext:
    """Trace-time state of one guarded step."""

    step: Any                      # int64 tensor: the step when it began
    batch_leaves: List[Any]        # tensors of the batch, flattened
    batch_structure: Any = None    # to rebuild the batch for the replay
    finite_checks: List[Any] = dataclasses.field(default_factory=list)
    loss_scaled: bool = False      # a LossScaleOptimizer handles its own skips
    owner: Optional[Any] = None    # the Keras model being stepped
    probe: Optional[Any] = None    # health.HealthProbe of the model, if any
    health: dict = dataclasses.field(default_factory=dict)  # column -> value


def snapshot(variables):
    """Values read before the step writes anything (automatic control
    dependencies order these reads before later assignments)."""
    return [tf.identity(v.value if hasattr(v, "value") else v) for v in variables]


def finish_step(session, context, variables, saved, outputs):
    """After the step: if any check failed, restore `variables` and report
    the batch. Runs after the step's outputs and every op check."""
    with instrument.uninstrumented():
        if context.probe is not None:
            context.probe.write_row(context.health, context.step)
        if not context.finite_checks:
            return
        ok = tf.reduce_all(tf.stack(context.finite_checks))
        report = functools.partial(session.on_bad_step, context)
        waits = [t for t in tf.nest.flatten(outputs) if isinstance(t, (tf.Tensor, tf.Operation))]
        waits += instrument.OpCallback.checks_done()

        def refuse():
            for variable, value in zip(variables, saved):
                variable.assign(value)
            tf.py_function(report, [context.step] + list(context.batch_leaves), Tout=[])
            return tf.no_op()

        with tf.control_dependencies(waits):
            tf.cond(ok, tf.no_op, refuse)

"""The cheap per-step guard: did anything go non-finite in this step?

Inside the traced step it checks the batch, the loss and the gradients
before they are applied (a few reductions, no host sync, no extra branch in
the common case: the verdict rides on the cond the optimizer guard needs
anyway). A bad step applies no update and hands its batch, and the values
its forward pass may have changed (BatchNorm statistics, RNG seeds,
metrics) from before the step, to the Python side, which puts those values
back and then replays exactly that step op by op (replay.py).
"""

import dataclasses
import functools
from typing import Any, List, Optional

import tensorflow as tf

from tb_nantrace.recorder import failsafe, instrument


@dataclasses.dataclass
class StepContext:
    """Trace-time state of one guarded step."""

    step: Any                      # int64 tensor: the step when it began
    batch_leaves: List[Any]        # tensors of the batch, flattened
    batch_structure: Any = None    # to rebuild the batch for the replay
    finite_checks: List[Any] = dataclasses.field(default_factory=list)
    checks_reported: int = 0       # finite_checks already covered by a report
    owner: Optional[Any] = None    # the Keras model being stepped
    probe: Optional[Any] = None    # health.HealthProbe of the model, if any
    health: List[Any] = dataclasses.field(default_factory=list)  # builders of the health row
    verdict: Optional[Any] = None  # the optimizer guard's all-finite, once it has decided
    restorable: List[Any] = dataclasses.field(default_factory=list)  # state a bad step gets back
    saved: List[Any] = dataclasses.field(default_factory=list)       # its values before the step
    input_sites: List[Any] = dataclasses.field(default_factory=list)  # (batch leaf index, OpSite)
    gradient_variables: List[Any] = dataclasses.field(default_factory=list)  # of reported gradients
    alarm: Optional[Any] = None    # alarm.StepAlarm of the owner (sticky refusal)
    capture_index: int = -1        # this trace's slot in the alarm's batch capture
    refused: Optional[Any] = None  # bool tensor: the update was refused

    def measure(self, build):
        """Add `build(values)` to the health row; its ops are made when the
        row is (finish_step), so a sampled row builds them in one branch."""
        self.health.append(build)


def snapshot(variables):
    """Values read before the step writes anything (automatic control
    dependencies order these reads before later assignments)."""
    return [tf.identity(v.value if hasattr(v, "value") else v) for v in variables]


def report_bad_step(replayer, context, gradients=(), updated=False):
    """Graph ops (for a cond's failing branch) that hand the step, its batch,
    the saved state and the gradients (if the optimizer guard has them) to
    `replayer.bad_step`; they run only then. `updated`: the update was
    applied and made the weights non-finite (then put back). With an alarm,
    only the first refused step reports (later ones are refused while it is
    handled)."""

    def report():
        target = functools.partial(_bad_step, replayer, context, updated)
        tensors = [context.step] + list(context.batch_leaves) + list(context.saved)
        tf.py_function(target, tensors + [instrument.dense_values(g) for g in gradients], Tout=[])

    if context.alarm is None:
        report()
    else:
        context.alarm.refuse(context, context.step, report)


def _bad_step(replayer, context, updated, *tensors):
    """py_function target: an error here would fail the user's step."""
    if context.alarm is not None:
        context.alarm.raised = True
    with failsafe.fail_open(replayer.scope.note, "keeping a failed step for its replay"):
        replayer.bad_step(context, *tensors, updated=updated)


def restore(variables, saved):
    """Put back what a refused step's forward pass changed (BatchNorm
    statistics, RNG seeds, metrics), on the device: later steps refused by
    a sticky alarm never reach the host."""
    for variable, value in zip(variables, saved):
        variable.assign(value)
    return tf.no_op()


def all_checks(checks):
    return checks[0] if len(checks) == 1 else tf.reduce_all(tf.stack(checks))


def finish_step(replayer, context, outputs):
    """After the step: write its health row, and report it if a check that
    the optimizer guard did not already cover failed (e.g. a loss under a
    LossScaleOptimizer, which applies its own updates)."""
    with instrument.uninstrumented():
        if context.probe is not None and context.health:
            verdict = context.verdict
            if verdict is None and context.finite_checks:
                verdict = all_checks(context.finite_checks)
            context.probe.write_row(context.health, context.step, verdict)
        unreported = context.finite_checks[context.checks_reported:]
        waits = [t for t in tf.nest.flatten(outputs) if isinstance(t, (tf.Tensor, tf.Operation))]
        waits += instrument.OpCallback.checks_done()
        with tf.control_dependencies(waits):
            if unreported:
                fine = all_checks(unreported)
                if context.alarm is not None:
                    fine = tf.logical_and(fine, context.alarm.clear())

                def refuse():
                    report_bad_step(replayer, context)
                    return tf.no_op()

                tf.cond(fine, tf.no_op, refuse)
                refused = tf.logical_not(fine)
                if context.refused is not None:
                    refused = tf.logical_or(refused, context.refused)
                context.refused = refused
            if context.refused is not None and context.restorable:
                tf.cond(context.refused, functools.partial(restore, context.restorable, context.saved),
                        tf.no_op)

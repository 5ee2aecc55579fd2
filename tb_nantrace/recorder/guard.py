"""The cheap per-step guard: did anything go non-finite in this step?

At the end of the traced step it checks the batch, the loss and the
updated weights with one reduction (a sum: NaN or Inf anywhere makes it
non-finite), and a single cond whose failing branch runs only then: it
confirms with an exact check, puts back the update (update_undo.py) and
the values the forward pass changed (BatchNorm statistics, RNG seeds,
metrics), and hands the step's batch to the Python side, which replays
exactly that step op by op (replay.py). No host sync on a healthy step.
"""

import dataclasses
import functools
from typing import Any, List, Optional

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import compat, failsafe, instrument


@dataclasses.dataclass
class StepContext:
    """Trace-time state of one guarded step."""

    step: Any                      # int64 tensor: the step when it began
    batch_leaves: List[Any]        # tensors of the batch, flattened
    batch_structure: Any = None    # to rebuild the batch for the replay
    checked: List[Any] = dataclasses.field(default_factory=list)  # tensors the step's check covers
    checks_reported: int = 0       # `checked` already covered by the optimizer guard's cond
    owner: Optional[Any] = None    # the Keras model being stepped
    probe: Optional[Any] = None    # health.HealthProbe of the model, if any
    health: List[Any] = dataclasses.field(default_factory=list)  # builders of the sampled columns
    health_every_step: List[Any] = dataclasses.field(default_factory=list)  # of the others
    verdict: Optional[Any] = None  # the optimizer guard's all-finite, once it has decided
    restorable: List[Any] = dataclasses.field(default_factory=list)  # state a bad step gets back
    saved: List[Any] = dataclasses.field(default_factory=list)       # its values before the step
    input_sites: List[Any] = dataclasses.field(default_factory=list)  # (batch leaf index, OpSite)
    gradient_variables: List[Any] = dataclasses.field(default_factory=list)  # of reported gradients
    alarm: Optional[Any] = None    # alarm.StepAlarm of the owner (sticky refusal)
    capture_index: int = -1        # this trace's slot in the alarm's batch capture
    refused: Optional[Any] = None  # bool tensor: the update was refused
    undo: Optional[Any] = None     # update_undo.UpdateUndo: the update, applied unchecked
    gradients: List[Any] = dataclasses.field(default_factory=list)  # handed over with a failure

    def measure(self, build, every_step=False):
        """Add `build(values)` to the health row; its ops are made when the
        row is (finish_step), so sampled columns are built in one branch."""
        (self.health_every_step if every_step else self.health).append(build)


def snapshot(variables):
    """Values read before the step writes anything (automatic control
    dependencies order these reads before later assignments)."""
    return [tf.identity(v.value if hasattr(v, "value") else v) for v in variables]


def report_bad_step(replayer, context, gradients=()):
    """Graph ops (for a cond's failing branch) that hand the step, its batch,
    the saved state and the gradients (if the optimizer guard has them) to
    `replayer.bad_step`; they run only then. With an alarm, only the first
    refused step reports (later ones are refused while it is handled)."""

    def report():
        target = functools.partial(_bad_step, replayer, context)
        tensors = [context.step] + list(context.batch_leaves) + list(context.saved)
        tf.py_function(target, tensors + [instrument.dense_values(g) for g in gradients], Tout=[])

    if context.alarm is None:
        report()
    else:
        context.alarm.refuse(context, context.step, report)


def _bad_step(replayer, context, *tensors):
    """py_function target: an error here would fail the user's step."""
    if context.alarm is not None:
        context.alarm.raised = True
    with failsafe.fail_open(replayer.scope.note, "keeping a failed step for its replay"):
        replayer.bad_step(context, *tensors)


def restore(variables, saved):
    """Put back what a refused step's forward pass changed (BatchNorm
    statistics, RNG seeds, metrics), on the device: later steps refused by
    a sticky alarm never reach the host."""
    for variable, value in zip(variables, saved):
        variable.assign(value)
    return tf.no_op()


def finish_step(replayer, context, outputs):
    """After the step: write its health row, and check what the optimizer
    guard's cond did not cover: the batch, the loss and the updated weights
    of a step updated unchecked (optimizer_guard._update_then_check), or a
    loss under a LossScaleOptimizer, which applies its own updates. One
    reduction on a healthy step; the failing branch confirms and handles
    (under XLA: one fused reduction, and the put-back as selects)."""
    compiled = context.alarm is not None and context.alarm.compiled
    with instrument.uninstrumented():
        unchecked = context.checked[context.checks_reported:]
        # Under XLA the exact check is one kernel (no failing branch to
        # confirm a cheap one in).
        check = instrument.all_finite_fused if compiled else instrument.finite_sum
        fine = check(unchecked) if unchecked else None
        if context.probe is not None and (context.health or context.health_every_step):
            verdict = context.verdict if context.verdict is not None else fine
            context.probe.write_row(context.health_every_step, context.health, context.step,
                                    verdict)
        waits = [t for t in tf.nest.flatten(outputs) if isinstance(t, (tf.Tensor, tf.Operation))]
        waits += instrument.OpCallback.checks_done()
        with tf.control_dependencies(waits):
            if unchecked:
                if context.alarm is not None:
                    fine = tf.logical_and(fine, context.alarm.clear())
                if compiled:
                    _refuse_compiled(replayer, context, fine)
                else:
                    compat.unlowered(tf.cond(
                        fine, tf.no_op, functools.partial(_confirm_failure, replayer, context, unchecked)))
            if context.refused is not None and context.restorable:
                tf.cond(context.refused, functools.partial(restore, context.restorable, context.saved),
                        tf.no_op)


def _confirm_failure(replayer, context, unchecked):
    """The failing branch of the step's check (it runs only then). The
    cheap check is a sum, which finite values can overflow: the exact check
    decides. A real failure (or a step refused while an earlier one is not
    handled) puts back the update and what the forward pass changed, and
    hands the step to the replay. All of it is one py_function (on the
    host: nothing to trace but one op); XLA steps use _refuse_compiled."""
    variables, before = _put_back(context)
    report = ([context.step] + list(context.batch_leaves) + list(context.saved)
              + [instrument.dense_values(g) for g in context.gradients])
    checked = [instrument.dense_values(t) for t in unchecked]
    target = functools.partial(_confirm_on_host, replayer, context, variables,
                               (len(checked), len(before)))
    tf.py_function(target, checked + before + report, Tout=[])
    return tf.no_op()


def _put_back(context):
    """(variables, their values before the step) that a failed step gets
    back: the update's (if held) and what the forward pass changed."""
    undo = context.undo
    variables = (list(undo.variables) if undo is not None else []) + list(context.restorable)
    before = (list(undo.values) if undo is not None else []) + list(context.saved)
    return variables, before


def _confirm_on_host(replayer, context, variables, counts, *tensors):
    """py_function target of the failing branch: the exact check, the
    put-back, the sticky refusal, the report. The alarm's flag is set on the
    device, so a later step sees it without a read."""
    checked, before = tensors[:counts[0]], tensors[counts[0]:counts[0] + counts[1]]
    report = tensors[counts[0] + counts[1]:]
    with failsafe.fail_open(replayer.scope.note, "putting back a failed step"):
        alarm = context.alarm
        with instrument.uninstrumented():
            clear = alarm is None or int(alarm.refused_step.numpy()) < 0
            if clear and all(np.isfinite(t.numpy()).all() for t in checked):
                return  # finite values overflowed the cheap sum: the step stands
            restore(variables, before)
            if not clear:
                return  # refused while an earlier failure is not handled
            if alarm is not None:
                alarm.refused_step.assign(report[0])
        _bad_step(replayer, context, *report)


def _refuse_compiled(replayer, context, fine):
    """An XLA-compiled step cannot call Python, and XLA copies every buffer
    a conditional may write on its branch that does not (here: the whole
    model and optimizer state on every healthy step, seen in the HLO). So
    the put-back is a select per variable, outside any branch, and the
    failure-only branch only sets the alarm and keeps the batch for the
    host's poll."""
    variables, before = _put_back(context)
    for variable, value in zip(variables, before):
        variable.assign(tf.where(fine, tf.convert_to_tensor(variable), value))

    def failed():
        report_bad_step(replayer, context, gradients=context.gradients)
        return tf.no_op()

    tf.cond(fine, tf.no_op, failed)

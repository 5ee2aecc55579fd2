"""Is the model's state still finite? Before recording, and after each update.

Finite gradients can still give non-finite weights (Adam with epsilon=0 on
a gradient of exactly 0, an overflow in the update). The guarded step
checks the updated weights and, only when one is not finite, raises the
owner's alarm (alarm.py), which tells the host. Weights cannot be put back
once the update has overwritten them, so such an incident stops training
even under skip.
"""

import numpy as np

from tb_nantrace import diagnosis
from tb_nantrace.recorder import alarm, instrument, stats


class StateGuard:
    def __init__(self, incidents, sites, mode):
        self.incidents = incidents  # IncidentLog
        self.sites = sites          # SiteRegistry
        self.mode = mode
        self.corrupted = False      # an update made the weights non-finite
        self._alarms = {}           # id(owner) -> alarm.StepAlarm
        self._watched = {}          # id(owner) -> (optimizer, variables) the alarm is about

    def alarm(self, owner, create=True, compiled=False):
        """`owner`'s alarm (the Keras model in fit, the optimizer in a
        `nantrace.guard` loop). Made before tracing (a variable made while
        tracing makes tf.function trace twice), so the step only looks it
        up; `compiled`: its steps run under XLA."""
        found = self._alarms.get(id(owner))
        if found is None and create:
            found = self._alarms[id(owner)] = alarm.StepAlarm(compiled)
        return found

    def watch(self, owner, optimizer, variables):
        """Trace time: what `owner`'s alarm is about, for check()."""
        self._watched[id(owner)] = (optimizer, list(variables))

    def check(self, owner):
        """After a step: on a bad update (the alarm says so; nothing is read
        from the device on a healthy step), an incident."""
        found = self._alarms.get(id(owner))
        watched = self._watched.get(id(owner))
        if found is None or found.corrupt_seen is None or watched is None or self.corrupted:
            return
        optimizer, variables = watched
        self._nonfinite_update(variables, optimizer, found.corrupt_seen)

    def _nonfinite_update(self, variables, optimizer, step):
        """The update of `step` left a weight non-finite although every check
        before it passed: the optimizer's own arithmetic did it."""
        with instrument.uninstrumented():
            bad = [(v, np.asarray(v.numpy())) for v in variables]
        bad = [(v, value) for v, value in bad if not np.isfinite(value).all()]
        if not bad:
            return
        self.corrupted = True
        variable, value = bad[0]
        site = self.sites.add_state(variable)
        site.op_type, site.phase = "ApplyGradients", "optimizer"
        settings = {name: getattr(optimizer, name) for name in ("epsilon",) if hasattr(optimizer, name)}
        summary = diagnosis.nonfinite_update_summary(
            type(optimizer).__name__, step, float(np.asarray(optimizer.learning_rate)), settings,
            variable.path, int(np.size(value) - np.isfinite(value).sum()), int(np.size(value)),
            [v.path for v, _ in bad[1:]])
        self.incidents.record(site, step, [], [value], self.mode,
                              cause_code="nonfinite_update", cause_summary=summary)

    def initial_state_is_nonfinite(self, model):
        """Weights already NaN/Inf when recording starts: an incident
        (nonfinite_initial_state), and True."""
        with instrument.uninstrumented():
            step = int(model.optimizer.iterations.numpy()) if model.optimizer is not None else 0
            for variable in model.weights:
                value = np.asarray(variable.numpy())
                if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                    site = self.sites.add_state(variable)
                    self.incidents.record(
                        site, step, [], [value], self.mode, cause_code="nonfinite_initial_state",
                        cause_summary=diagnosis.initial_state_summary(
                            site.variable, stats.nonfinite_kind([value])))
                    return True
        return False

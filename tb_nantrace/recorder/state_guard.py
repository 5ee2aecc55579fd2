"""Is the model's state still finite? Before recording, and after each update.

Finite gradients can still give non-finite weights (Adam with epsilon=0 on
a gradient of exactly 0, an overflow in the update). The guarded step sets
a flag variable to "every weight is finite after the update"; the host
reads it after the step. Weights cannot be put back once the update has
overwritten them, so such an incident stops training even under skip.
"""

import numpy as np
import tensorflow as tf

from tb_nantrace import diagnosis
from tb_nantrace.recorder import instrument, stats


class StateGuard:
    def __init__(self, incidents, sites, mode):
        self.incidents = incidents  # IncidentLog
        self.sites = sites          # SiteRegistry
        self.mode = mode
        self.corrupted = False      # an update made the weights non-finite
        self._flags = {}            # id(owner) -> tf.Variable
        self._watched = {}          # id(owner) -> (optimizer, variables) the flag is about

    def flag(self, owner, create=True):
        """`owner`'s flag (the Keras model in fit, the optimizer in a
        `nantrace.guard` loop). Made before tracing (a variable made while
        tracing makes tf.function trace twice), so the step only looks it up."""
        flag = self._flags.get(id(owner))
        if flag is None and create:
            with instrument.uninstrumented(), tf.init_scope():
                flag = tf.Variable(True, trainable=False, name="nantrace_state_finite")
            self._flags[id(owner)] = flag
        return flag

    def watch(self, owner, optimizer, variables):
        """Trace time: what `owner`'s flag is about, for check()."""
        self._watched[id(owner)] = (optimizer, list(variables))

    def check(self, owner):
        """After a step: one scalar read; on a bad update, an incident."""
        flag = self._flags.get(id(owner))
        watched = self._watched.get(id(owner))
        if flag is None or watched is None or self.corrupted:
            return
        optimizer, variables = watched
        with instrument.uninstrumented():
            if bool(flag.numpy()):
                return
            step = int(optimizer.iterations.numpy()) - 1  # the update just applied
        self._nonfinite_update(variables, optimizer, step)

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

"""Which ops get a check, decided from where the code is running.

Guard mode checks only inside guarded steps' cheap guard; exact mode (and
any step function nantrace cannot guard) checks every op. The recorder's
hooks say where they are (in `model.fit`, in a `nantrace.guard` call, in
an optimizer a LossScaleOptimizer drives, in a replay) through the context
managers below; the op callback asks `checks_graph_ops()` /
`checks_eager_ops()`.
"""

import contextlib
import threading

from tb_nantrace.recorder import instrument


class _Inside:
    """Whether the code runs inside some block (re-entrant)."""

    def __init__(self):
        self._depth = 0

    @contextlib.contextmanager
    def entered(self):
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def __bool__(self):
        return self._depth > 0


class CheckScope:
    def __init__(self, mode, note):
        self.mode = mode
        self.note = note  # Recording.note: said once, on stderr and in the run info
        self._keras_fit = _Inside()
        self._guarded_call = _Inside()
        self._unguarded_optimizer = _Inside()
        self._eager_keras_step = _Inside()
        self._replay_step = None
        self._replay_counts = {}
        # A LossScaleOptimizer skips overflowing steps on purpose: once one is
        # seen, a failing check in the backward pass is not an incident.
        self.loss_scaling = False
        self._trace = threading.local()  # step contexts of the step being traced

    # Where the code runs ------------------------------------------------------

    def keras_fit(self):
        return self._keras_fit.entered()

    @property
    def in_keras_fit(self):
        return bool(self._keras_fit)

    def guarded_call(self):
        return self._guarded_call.entered()

    @property
    def in_guarded_call(self):
        return bool(self._guarded_call)

    def loss_scaled_update(self):
        """A LossScaleOptimizer's update: its inner optimizer is left
        unguarded (the skips are on purpose)."""
        self.loss_scaling = True
        return self._unguarded_optimizer.entered()

    def unguarded(self):
        """A step traced as without nantrace (its guard failed to trace)."""
        return self._unguarded_optimizer.entered()

    @property
    def optimizer_unguarded(self):
        return bool(self._unguarded_optimizer)

    def eager_keras_step(self):
        return self._eager_keras_step.entered()

    # Replays --------------------------------------------------------------

    @contextlib.contextmanager
    def replaying(self, step):
        self._replay_step, self._replay_counts = step, {}
        try:
            yield
        finally:
            self._replay_step = None

    @property
    def replay_step(self):
        """The step being replayed, or None."""
        return self._replay_step

    @property
    def is_replaying(self):
        return self._replay_step is not None

    def count_replayed_op(self, site):
        """A replay counts ops per (type, phase, layer, line) to find the
        same op in the guarded graph and report its name."""
        key = site.match_key()
        ordinal = self._replay_counts.get(key, 0)
        self._replay_counts[key] = ordinal + 1
        return ordinal

    # The step being traced ------------------------------------------------------

    @contextlib.contextmanager
    def tracing_step(self, context):
        """`context` (guard.StepContext) is the step being traced, for the
        hooks its ops pass through (loss, layers, optimizer)."""
        stack = self._trace.__dict__.setdefault("stack", [])
        stack.append(context)
        try:
            yield context
        finally:
            stack.pop()

    def step_context(self):
        stack = getattr(self._trace, "stack", None)
        return stack[-1] if stack else None

    # The decisions ----------------------------------------------------------------

    def checks_graph_ops(self):
        """Per-op checks in the graph being traced: always in exact mode; in
        guard mode only outside guarded steps (a custom loop without
        `nantrace.guard` falls back to exact checking)."""
        if self.mode == "exact" or instrument.in_replica():
            return True
        if self._keras_fit or self._guarded_call:
            return False
        self.note(
            "a step function outside model.fit is checked op by op (exact mode); "
            "wrap it with nantrace.guard(...) for near-zero overhead"
        )
        return True

    def checks_eager_ops(self):
        if self._replay_step is not None:
            return True
        if self._keras_fit:
            return bool(self._eager_keras_step)
        return not self._guarded_call

"""A bounded ring of the model's state every K steps, for replays from an
earlier step.

A fix that acts through earlier updates (a lower learning rate, gradient
clipping) changes nothing when only the failing step is replayed: by then
the weights have already blown up. So every `every` steps of `model.fit`
the recorder keeps a copy of every variable a step changes (weights,
optimizer slots and step counter, metrics), as device-side reads (no host
copy on a healthy step), the last `KEEP` of them, with where `fit` was in
its data (epoch, batch) so that the batches since can be sliced again from
a NumPy `x` (fix_trials.py). Off, and said once, when `KEEP` copies would
exceed the memory budget.
"""

import dataclasses
import typing

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import compat, instrument

# Snapshots kept per model: 8 every 10 steps reach 80 steps back, beyond
# the 64 steps an XLA-compiled fit may refuse after a failure before the
# host polls its alarm (snapshots taken then hold the pre-failure state:
# their optimizer step is not before the failing one, they are not used).
KEEP = 8


def state_variables(model):
    """Every variable a replayed step can change: the model's (weights,
    BatchNorm statistics, seed-generator states), its optimizer's (slots,
    iterations, learning rate; a LossScaleOptimizer's inner one too) and its
    metrics'. Each once, in a fixed order."""
    optimizer = getattr(model, "optimizer", None)
    found = list(model.variables)
    for owner in (optimizer, getattr(optimizer, "inner_optimizer", None)):
        if owner is not None and getattr(owner, "built", False):
            found += list(owner.variables)
    found += list(model.metrics_variables)
    return unique(found)


def unique(variables):
    """Each variable once, in first-seen order."""
    seen, found = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)
    return found


def _optimizer_variable_count(model):
    optimizer = model.optimizer
    return len(optimizer.variables) if getattr(optimizer, "built", False) else -1


def nbytes(variables):
    return sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size for v in variables)


def read(variables):
    """Host copies (at an incident only)."""
    with instrument.uninstrumented():
        return [np.array(v.numpy()) for v in variables]


def assign(variables, values):
    with instrument.uninstrumented():
        for variable, value in zip(variables, values):
            variable.assign(value)


@dataclasses.dataclass
class Snapshot:
    fit_id: int          # id of the fit's epoch iterator: batches of another fit cannot be re-sliced
    epoch: int           # position of the step that had just ended when it was taken
    batch: int
    variables: typing.List[typing.Any]  # state_variables(model) when it was taken
    values: typing.List[typing.Any]     # their values: device tensors


class _Copier:
    """One model's state and a copy of it: a read per variable, which holds
    the variable's buffer; TensorFlow copies it only when the variable is
    next written in place (copy on write). The reads go straight to each
    handle (compat.read_variables, ~10 µs a variable): less than one call
    of a compiled copier, and nothing to compile."""

    def __init__(self, model):
        self.variables = state_variables(model)
        self.size = nbytes(self.variables)
        self._optimizer_variables = _optimizer_variable_count(model)

    def current(self, model):
        """False once the model's state has other variables (e.g. an
        optimizer built since): make a new copier. (A built model's own
        variables do not change; listing them walks every layer.)"""
        return _optimizer_variable_count(model) == self._optimizer_variables

    def __call__(self):
        with instrument.uninstrumented():
            return compat.read_variables(self.variables)


class SnapshotRing:
    """`after_step(model)` at the end of every step of a recorded fit;
    `oldest(model)` at an incident."""

    def __init__(self, every, memory_mb, note):
        self.every = int(every)
        self.memory_bytes = float(memory_mb) * 2 ** 20
        self._note = note  # Recording.note
        self._counts = {}  # id(model) -> steps seen
        self._rings = {}   # id(model) -> [Snapshot], oldest first
        self._copiers = {}  # id(model) -> _Copier
        self._off = set()  # id(model): over the budget

    def after_step(self, model):
        if self.every <= 0 or model is None or getattr(model, "optimizer", None) is None:
            return
        key = id(model)
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        if count % self.every or key in self._off:
            return
        fit = compat.keras_fit_locals(model)
        if fit is None or fit["epoch"] is None or fit["begin_step"] is None:
            return
        copier = self._copiers.get(key)
        if copier is None or not copier.current(model):
            copier = self._copiers[key] = _Copier(model)
        if copier.size * KEEP > self.memory_bytes:
            self._off.add(key)
            self._note(
                f"snapshots for replays from an earlier step are off for model {model.name!r}: "
                f"{KEEP} copies of its state ({copier.size * KEEP / 2 ** 20:.1f} MB) exceed "
                f"record(snapshot_memory_mb={self.memory_bytes / 2 ** 20:g}); fixes are then "
                "verified on the failing step only")
            return
        ring = self._rings.setdefault(key, [])
        ring.append(Snapshot(id(fit["epoch_iterator"]), int(fit["epoch"]), int(fit["begin_step"]),
                             copier.variables, copier()))
        del ring[:-KEEP]

    def latest(self, model):
        """`model`'s most recent snapshot, or None."""
        ring = self._rings.get(id(model))
        return ring[-1] if ring else None

    def of_fit(self, model, fit_id):
        """`model`'s snapshots taken in the same fit, oldest first."""
        return [s for s in self._rings.get(id(model), []) if s.fit_id == fit_id]

"""Fixes verified by replay: which settings keep the failing step finite.

Each fix is a setting changed for the replay only and changed back after
(the model and optimizer are never left changed): learning rate / 10,
clipnorm=1.0, epsilon=1e-7, float32 for the origin's layer under mixed
precision, and dropping the culprit rows. A fix acting through earlier
updates (learning rate, clipping, epsilon) changes little when only the
failing step is replayed, so the replay starts, where it can, from the
oldest snapshot of the same fit (snapshots.py) and runs every batch since,
sliced again from a NumPy `x` under shuffle=False; otherwise only the
failing step is replayed from its pre-step state, and the note says so.

Before any fix, the same replay runs unchanged (the control): it must fail
at the failing step, else no fix is claimed from it.
"""

import dataclasses
import typing

from tb_nantrace.recorder import compat, culprits, instrument, snapshots


@dataclasses.dataclass
class Plan:
    variables: typing.List[typing.Any]
    values: typing.List[typing.Any]   # the state the replay starts from
    batches: typing.List[typing.Any]  # each a list of arrays (the kept batch's leaves)
    note: str = ""


def _positions(snapshot, steps, count):
    """`steps` (epoch, batch) positions after the snapshot's, `count`
    batches an epoch (shuffle=False)."""
    epoch, batch = snapshot.epoch, snapshot.batch
    found = []
    for _ in range(min(steps, 100_000)):
        batch += 1
        if batch >= count:
            epoch, batch = epoch + 1, 0
        found.append((epoch, batch))
    return found


class FixTrials:
    def __init__(self, model, runner, variables, pre, step, budget):
        self.model = model
        self.runner = runner        # analysis.StepRunner
        self.variables = variables  # snapshots.state_variables(model)
        self.pre = pre              # their values before the failing step
        self.step = step
        self.budget = budget
        optimizer = model.optimizer
        self.optimizer = getattr(optimizer, "inner_optimizer", optimizer)

    def plan(self, fit, position, arrays, ring):
        """From the oldest snapshot of this fit where the batches since can
        be sliced again, else the failing step alone."""
        alone = Plan(self.variables, self.pre, [arrays])
        if ring is None or ring.every <= 0:
            alone.note = "snapshots are off: only the failing step was replayed"
            return alone
        snapshot, done = None, 0
        if fit is not None and position.get("start") is not None:
            snapshot, done = self._usable_snapshot(ring.of_fit(self.model, id(fit["epoch_iterator"])))
        if snapshot is None or position.get("start") is None:
            alone.note = ("only the failing step was replayed (" + (
                "the batches since a snapshot cannot be sliced again from x: " + position["note"]
                if position.get("start") is None
                else "no snapshot of an earlier step of this fit") + ")")
            return alone
        count = int(fit["epoch_iterator"].num_batches)
        leaves = culprits.fit_leaves(fit)
        size = position["batch_size"]
        # One batch per optimizer step since the snapshot (a step refused
        # under on_nan="skip" in between breaks this: the last batch is then
        # not the failing one, and only the failing step is replayed).
        batches = [culprits.batch_at(leaves, b, size, arrays)
                   for _, b in _positions(snapshot, self.step - done + 1, count)]
        if not batches or not culprits.same_batch(batches[-1], arrays):
            alone.note = "only the failing step was replayed (the batches since did not match x)"
            return alone
        return Plan(snapshot.variables, snapshot.values, batches)

    def _usable_snapshot(self, candidates):
        """The oldest snapshot taken before the failing step, with the
        optimizer step it holds."""
        iterations = self.model.optimizer.iterations
        for snapshot in candidates:
            if [id(v) for v in snapshot.variables] != [id(v) for v in self.variables]:
                continue
            slot = next((i for i, v in enumerate(snapshot.variables) if v is iterations), None)
            done = int(snapshot.values[slot].numpy()) if slot is not None else self.step
            if done < self.step:
                return snapshot, done
        return None, 0

    def _replay(self, plan, change=None):
        """(result, from_step, steps replayed, note) of `plan` with `change`
        (a function that makes the change and returns its undo)."""
        snapshots.assign(plan.variables, plan.values)
        with instrument.uninstrumented():
            from_step = int(self.model.optimizer.iterations.numpy())
        undo = change() if change is not None else None
        try:
            for i, batch in enumerate(plan.batches):
                if self.budget.out():
                    return "skipped", from_step, i, "time budget spent"
                what = self.runner.run(batch)
                if what is not None and what.startswith("error"):
                    return "error", from_step, i + 1, what
                if what is not None:
                    return "nonfinite", from_step, i + 1, f"{what} non-finite at step {from_step + i}"
            return "finite", from_step, len(plan.batches), ""
        finally:
            if undo is not None:
                undo()
            snapshots.assign(self.variables, self.pre)

    def _control(self, plan):
        """The replay without a change fails at its last step (True)."""
        result, _, steps, _ = self._replay(plan)
        return result == "nonfinite" and steps == len(plan.batches)

    def verify(self, plan, layer_name, rows, arrays):
        """The verified_fixes entries of the incident (schema13)."""
        alone = Plan(self.variables, self.pre, [arrays])
        if len(plan.batches) > 1 and not self._control(plan):
            plan = alone
            plan.note = ("only the failing step was replayed (replaying from the snapshot without "
                         "a change did not fail at the failing step: the steps since do not "
                         "replay exactly)")
        if not self._control(plan):
            return [_entry("all", "skipped", self.step, 0,
                           "the failing step replayed without a change stayed finite: "
                           "nothing to verify a fix against")]
        trials = [("learning_rate/10", self._lower_learning_rate),
                  ("clipnorm=1.0", self._clipnorm),
                  ("epsilon=1e-7", self._epsilon),
                  (f"float32 for layer {layer_name}" if self._layer(layer_name) is not None
                   else "float32 for the culprit layer", lambda: self._float32(layer_name))]
        entries = []
        for name, prepare in trials:
            change, why = prepare()
            if change is None:
                entries.append(_entry(name, "skipped", self.step, 0, why))
                continue
            result, from_step, steps, note = self._replay(plan, change)
            entries.append(_entry(name, result, from_step, steps, "; ".join(
                n for n in (note, plan.note) if n)))
        entries.append(self._drop_rows(rows, arrays))
        return entries

    # The fixes: each gives (change, None) or (None, why it does not apply) ----

    def _lower_learning_rate(self):
        optimizer = self.optimizer
        if isinstance(optimizer.get_config().get("learning_rate"), dict):
            return None, "the learning rate is a schedule"
        old = float(optimizer.learning_rate.numpy())

        def change():
            optimizer.learning_rate = old / 10
            return lambda: setattr(optimizer, "learning_rate", old)

        return change, None

    def _clipnorm(self):
        optimizer = self.optimizer
        if getattr(optimizer, "global_clipnorm", None) or getattr(optimizer, "clipvalue", None):
            return None, "the optimizer already clips (global_clipnorm or clipvalue)"
        old = getattr(optimizer, "clipnorm", None)
        if old and old <= 1.0:
            return None, f"the optimizer already has clipnorm={old}"
        return _setting(optimizer, "clipnorm", 1.0), None

    def _epsilon(self):
        optimizer = self.optimizer
        if not hasattr(optimizer, "epsilon"):
            return None, f"{type(optimizer).__name__} has no epsilon"
        if optimizer.epsilon >= 1e-7:
            return None, f"epsilon is already {optimizer.epsilon:g}"
        return _setting(optimizer, "epsilon", 1e-7), None

    def _layer(self, name):
        return next((layer for layer in compat.all_layers(self.model, include_self=False)
                     if name and layer.name == name), None)

    def _float32(self, layer_name):
        layer = self._layer(layer_name)
        if layer is None:
            return None, f"the origin ({layer_name or 'no layer'}) is not a layer of the model"
        if layer.dtype_policy.compute_dtype == "float32":
            return None, f"layer {layer_name} already computes in float32 (no mixed precision)"
        return _setting(layer, "dtype_policy", "float32"), None

    def _drop_rows(self, rows, arrays):
        name = "drop culprit rows"
        n = len(arrays[0])
        if not rows or len(rows) >= n:
            return _entry(name, "skipped", self.step, 0,
                          "no culprit rows" if not rows else "every row of the batch is a culprit")
        keep = [r for r in range(n) if r not in set(rows)]
        plan = Plan(self.variables, self.pre, [[a[keep] for a in arrays]])
        result, from_step, steps, note = self._replay(plan)
        return _entry(name, result, from_step, steps,
                      note or f"the failing step without rows {rows[:8]}")


def _setting(owner, name, value):
    def change():
        old = getattr(owner, name)
        setattr(owner, name, value)
        return lambda: setattr(owner, name, old)

    return change


def _entry(fix, result, from_step, steps, note):
    return {"fix": fix, "result": result, "from_step": int(from_step),
            "replayed_steps": int(steps), "note": note}

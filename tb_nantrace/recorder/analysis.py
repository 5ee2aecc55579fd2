"""After the replay found an origin: is it reproducible, which rows of the
batch cause it, which fixes keep the step finite (issue 13).

Everything here runs at an incident, on the host between steps, off the
training path, within a time budget (`record(analysis_seconds=...)`), and
puts back every variable a replay can change (weights, optimizer slots and
step, metrics) when it is done: the user's model is never changed.

  reproducibility  the failing step is replayed a second time, op by op,
                   from the same restored pre-step state: same failure,
                   same origin op?
  culprits         culprits.py: the rows, from the origin's output or by
                   bisection over replays on subsets of the batch
  verified_fixes   fix_trials.py: settings tried by replay
Replays other than the op-by-op one run the step eagerly with no check per
op (StepRunner): a step fails when its loss, its gradients (the optimizer
guard refused the update) or its updated weights are non-finite.
"""

import contextlib
import time

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import compat, culprits, fix_trials, instrument, snapshots

MAX_ANALYZED = 3  # incidents analyzed per recording (under on_nan="skip" there can be many)


@contextlib.contextmanager
def functions_run_eagerly():
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


def rebuild_batch(context, arrays):
    leaves = tf.nest.flatten(context.batch_structure)
    values = iter(arrays)
    rebuilt = [tf.constant(next(values)) if isinstance(leaf, tf.Tensor) else leaf for leaf in leaves]
    return tf.nest.pack_sequence_as(context.batch_structure, rebuilt)


class Budget:
    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def out(self):
        return time.monotonic() > self.deadline


class StepRunner:
    """A Keras train step run eagerly from the current state, unchecked per
    op and unrecorded (the optimizer guard refuses a non-finite update
    silently while the scope says "replaying")."""

    def __init__(self, scope, model, step_function, context, step):
        self.scope, self.model, self.context, self.step = scope, model, context, step
        self.step_function = step_function
        self.optimizer = model.optimizer

    def run(self, arrays):
        """None when the step's loss, gradients and updated weights are
        finite; else which was not ("loss", "gradients", "weights") or
        "error: ..." when the step itself failed."""
        with instrument.uninstrumented():
            self.model.reset_metrics()  # the logged loss is this step's alone
            before = int(self.optimizer.iterations.numpy())
        try:
            with instrument.uninstrumented(), self.scope.replaying(self.step), \
                    functions_run_eagerly():
                logs = self.step_function(rebuild_batch(self.context, arrays))
        except (tf.errors.OpError, ValueError, TypeError) as error:
            return f"error: {type(error).__name__}: {str(error).splitlines()[0][:160]}"
        with instrument.uninstrumented():
            logged = [np.asarray(v) for v in tf.nest.flatten(logs) if hasattr(v, "dtype")]
            if any(np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all() for v in logged):
                return "loss"
            loss_scaled = hasattr(self.optimizer, "inner_optimizer")
            if not loss_scaled and int(self.optimizer.iterations.numpy()) == before:
                return "gradients"
            if not all(np.isfinite(np.asarray(v.numpy())).all() for v in self.model.trainable_variables):
                return "weights"
        return None


class Analyzer:
    def __init__(self, scope, ring, seconds, verify_fixes):
        self.scope = scope          # CheckScope
        self.ring = ring            # snapshots.SnapshotRing
        self.seconds = float(seconds)
        self.verify_fixes = verify_fixes
        self.analyzed = 0

    def wanted(self):
        return self.seconds > 0 and self.analyzed < MAX_ANALYZED

    def keras_step(self, incident, context, step, arrays, step_function, origin_outputs,
                   second_replay):
        """Fill `incident` (the draft the first replay recorded) with its
        reproducibility, culprits and verified fixes. `second_replay()`
        replays the step op by op again and gives its origin key or None."""
        self.analyzed += 1
        budget = Budget(self.seconds)
        model = context.owner
        variables = snapshots.state_variables(model)
        pre = snapshots.read(variables)
        seconds = {"culprits": 0.0, "reproduce": 0.0, "fixes": 0.0}
        result = {"culprits": None, "verified_fixes": [], "analysis_seconds": seconds}
        try:
            self._analyze(result, incident, context, step, arrays, step_function, origin_outputs,
                          second_replay, variables, pre, budget)
        except Exception as error:  # noqa: BLE001 - never let the analysis end the training
            said = f"replay analysis stopped: {type(error).__name__}: {str(error)[:200]}"
            incident.note = f"{incident.note}; {said}" if incident.note else said
        finally:
            snapshots.assign(variables, pre)
        fill(incident, result)

    def _analyze(self, result, incident, context, step, arrays, step_function, origin_outputs,
                 second_replay, variables, pre, budget):
        seconds, model = result["analysis_seconds"], context.owner
        started = time.monotonic()
        result["reproducibility"] = reproducibility(incident, second_replay())
        seconds["reproduce"] = time.monotonic() - started
        snapshots.assign(variables, pre)
        if not result["reproducibility"]["reproduced"]:
            return
        runner = StepRunner(self.scope, model, step_function, context, step)
        fit = compat.keras_fit_locals(model)
        position = culprits.locate(fit, arrays, model)
        started = time.monotonic()
        result["culprits"] = self._culprits(incident, context, arrays, origin_outputs, runner,
                                            variables, pre, position, budget)
        seconds["culprits"] = time.monotonic() - started
        if self.verify_fixes:
            started = time.monotonic()
            rows = result["culprits"]["rows"] if result["culprits"] else []
            trial = fix_trials.FixTrials(model, runner, variables, pre, step, budget)
            plan = trial.plan(fit, position, arrays, self.ring)
            result["verified_fixes"] = trial.verify(plan, incident.layer, rows, arrays)
            seconds["fixes"] = time.monotonic() - started

    def input_step(self, incident, context, arrays):
        """A batch that already held NaN/Inf: its culprits are the rows that
        hold them (no replay)."""
        self.analyzed += 1
        started = time.monotonic()
        n = len(arrays[0]) if arrays and np.ndim(arrays[0]) >= 1 else 0
        if n < 1 or not all(np.ndim(a) >= 1 and len(a) == n for a in arrays):
            return
        floats = [a for a in arrays if np.issubdtype(np.asarray(a).dtype, np.floating)]
        rows = culprits.origin_rows(floats, n, "input")
        if rows is None:
            return
        position = culprits.locate(compat.keras_fit_locals(context.owner), arrays, context.owner)
        found = {"method": "origin_rows", "rows": rows, "complete": True,
                 "examples": culprits.examples(rows, arrays, culprits.leaf_names(context, len(arrays)),
                                               position),
                 "index_note": position["note"]}
        fill(incident, {"culprits": found, "analysis_seconds": {
            "culprits": time.monotonic() - started, "reproduce": 0.0, "fixes": 0.0}})

    def _culprits(self, incident, context, arrays, origin_outputs, runner, variables, pre,
                  position, budget):
        n = len(arrays[0]) if arrays and np.ndim(arrays[0]) >= 1 else 0
        if n < 1 or not all(np.ndim(a) >= 1 and len(a) == n for a in arrays):
            return None
        rows, method, complete = culprits.origin_rows(origin_outputs, n, incident.phase), \
            "origin_rows", True
        if rows is None:
            def fails(subset):
                snapshots.assign(variables, pre)
                what = runner.run([a[subset] for a in arrays])
                return what is not None and not what.startswith("error")

            if n < 2 or not fails(list(range(n))):
                return None
            rows, complete = culprits.minimal_rows(n, fails, budget.out)
            method = "bisection"
            others = [r for r in range(n) if r not in set(rows)]
            if complete and others and fails(others):
                # The rest of the batch fails without them too: no particular
                # rows cause it (e.g. a divisor that is 0 for every row).
                rows = list(range(n))
            snapshots.assign(variables, pre)
        names = culprits.leaf_names(context, len(arrays))
        return {"method": method, "rows": rows, "complete": complete,
                "examples": culprits.examples(rows, arrays, names, position),
                "index_note": position["note"]}


def origin_key(op_type, op_name, layer, phase):
    """What tells two replays' origins apart (eager op types may be bytes)."""
    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "")
                 for v in (op_type, op_name, layer, phase))


def reproducibility(incident, second):
    """The first replay found `incident`'s origin; `second` is the second
    replay's origin key (origin_key) or None."""
    first = origin_key(incident.op.type, incident.op.name, incident.layer, incident.phase)
    what = incident.op.type + (f" ({incident.op.name})" if incident.op.name else "")
    if second is None:
        return {"reproduced": False, "same_origin": None, "note": (
            f"not reproduced: the first replay failed at {what}, a second replay from the same "
            "restored pre-step state stayed finite (nondeterministic ops, state the replay "
            "cannot restore, or a hardware fault)")}
    if second == first:
        return {"reproduced": True, "same_origin": True,
                "note": f"a second replay from the restored pre-step state failed at {what} again"}
    other = second[0] + (f" ({second[1]})" if second[1] else "")
    return {"reproduced": True, "same_origin": False, "note": (
        f"a second replay failed too, but first at {other} instead of {what}: "
        "the order of the first non-finite ops varies between runs")}


def fill(incident, result):
    """Write the analysis into the incident proto (fields 20-23)."""
    found = result.get("culprits")
    if found:
        incident.culprits.method = found["method"]
        incident.culprits.rows.extend(int(r) for r in found["rows"])
        incident.culprits.complete = bool(found["complete"])
        incident.culprits.index_note = found["index_note"] or ""
        for example in found["examples"]:
            message = incident.culprits.examples.add(row=example["row"])
            for name in ("index", "epoch", "batch"):
                if example[name] is not None:
                    setattr(message, name, int(example[name]))
            for feature in example["features"]:
                added = message.features.add(tensor=feature["tensor"],
                                             nan_count=feature["nan_count"],
                                             inf_count=feature["inf_count"])
                for bound in ("min", "max"):
                    if feature[bound] is not None:
                        setattr(added, bound, feature[bound])
    again = result.get("reproducibility")
    if again:
        incident.reproducibility.reproduced = again["reproduced"]
        incident.reproducibility.note = again["note"]
        if again["same_origin"] is not None:
            incident.reproducibility.same_origin = again["same_origin"]
    for fix in result.get("verified_fixes", ()):
        incident.verified_fixes.add(**fix)
    seconds = result.get("analysis_seconds")
    if seconds:
        incident.analysis_seconds.culprits = seconds["culprits"]
        incident.analysis_seconds.reproduce = seconds["reproduce"]
        incident.analysis_seconds.fixes = seconds["fixes"]

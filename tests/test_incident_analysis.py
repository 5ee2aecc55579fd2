"""Issue 13 on real Keras training: the culprit rows of a failing batch and
their index into x, whether a second replay reproduces the failure, and
which fixes keep the step finite when replayed."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_nantrace as nantrace
from tb_nantrace import records
from demo import relu_high_lr


class Exp(keras.layers.Layer):
    """exp of its input: overflows (float32) where an input passes ~88.7."""

    def call(self, x):
        return keras.ops.exp(x)


class BatchTotal(keras.layers.Layer):
    """Adds a tiny multiple of the batch's total of column 0 to the other
    columns: finite unless two rows of ~3e38 meet in one batch."""

    def call(self, x):
        total = keras.ops.sum(x[:, :1])
        return x[:, 1:] + 1e-30 * total


def regressor(*layers, inputs=4, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Input((inputs,)), *layers,
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
    return model


def data(n=256, inputs=4, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, inputs)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def fit_recorded(tmp_path, model, x, y, **options):
    with nantrace.record(tmp_path / "run", **options) as recording:
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert recording.incidents, "the scenario must fail"
    return recording.incidents[0]


def test_one_poisoned_example_is_reported_as_its_row_and_its_index_into_x(tmp_path, report):
    x, y = data()
    x[113, 2] = 200.0  # finite, but exp(200) overflows: batch 3 (step 3), row 17
    incident = fit_recorded(tmp_path, regressor(Exp(name="exp")), x, y, verify_fixes=False)
    assert (incident["step"], incident["op"]["type"], incident["layer"]) == (3, "Exp", "exp")
    culprits = incident["culprits"]
    assert culprits["method"] == "origin_rows"
    assert culprits["rows"] == [17]
    assert culprits["complete"] is True
    [example] = culprits["examples"]
    assert (example["row"], example["index"], example["epoch"], example["batch"]) == (17, 113, 0, 3)
    features = {f["tensor"]: f for f in example["features"]}
    assert features["x"]["max"] == 200.0 and features["x"]["nan_count"] == 0
    assert "shuffle=False" in culprits["index_note"]
    assert incident["reproducibility"]["reproduced"] is True
    assert incident["reproducibility"]["same_origin"] is True
    assert set(incident["analysis_seconds"]) == {"culprits", "reproduce", "fixes"}
    # The report says it in short lines, and its JSON carries the same fields.
    _, text, _ = report(tmp_path / "run")
    assert "culprits: batch row 17 (origin output) = x[113]" in text
    assert "row 17 = x[113]: x min" in text
    assert "reproduced: yes, a second replay failed again, at the same op" in text
    _, out, _ = report(tmp_path / "run", "--json")
    reported = json.loads(out)["runs"][0]["incidents"][0]
    assert reported["culprits"] == culprits
    assert reported["reproducibility"] == incident["reproducibility"]


def test_two_rows_that_fail_only_together_are_both_found_by_bisection(tmp_path):
    x, y = data(inputs=5)
    x[2 * 32 + 5, 0] = x[2 * 32 + 20, 0] = 3e38  # each finite, their sum is not: step 2
    incident = fit_recorded(tmp_path, regressor(BatchTotal(name="total"), inputs=5), x, y,
                            verify_fixes=False)
    assert incident["step"] == 2
    culprits = incident["culprits"]
    assert culprits["method"] == "bisection"
    assert culprits["rows"] == [5, 20]
    assert culprits["complete"] is True
    assert [e["index"] for e in culprits["examples"]] == [69, 84]


def test_a_step_whose_failure_depends_on_state_the_replay_cannot_restore_is_not_reproduced(
        tmp_path):
    calls = tf.Variable(0.0, trainable=False)  # outside the model: never restored

    class Flaky(keras.layers.Layer):
        def call(self, x):
            calls.assign_add(1.0)
            return x + tf.where(tf.equal(calls, 3.0), np.inf, 0.0)

    x, y = data()
    incident = fit_recorded(tmp_path, regressor(Flaky()), x, y)
    assert incident["step"] == 2
    again = incident["reproducibility"]
    assert again["reproduced"] is False and again["same_origin"] is None
    assert "not reproduced" in again["note"]
    # No op is guessed; the guard's evidence (the non-finite gradients) is kept.
    assert incident["op"]["type"] == ""
    assert incident["outputs"] and all(o["name"].startswith("gradient of") for o in incident["outputs"])
    assert "not reproduced" in incident["note"]
    assert incident["culprits"] is None and incident["verified_fixes"] == []
    assert records.headline(incident).startswith(
        ("NaN seen by the guard at step 2", "Inf seen by the guard at step 2"))


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_on_the_high_learning_rate_demo_lowering_the_learning_rate_is_verified_by_replay(
        tmp_path, jit_compile):
    model, x, y, fit_kwargs = relu_high_lr.build()
    model.compile(optimizer=model.optimizer, loss="mse", jit_compile=jit_compile)
    weights = [w.copy() for w in model.get_weights()]
    with nantrace.record(tmp_path / "run") as recording:
        model.fit(x, y, **dict(fit_kwargs, shuffle=False))
    incident = recording.incidents[0]
    assert (incident["step"], incident["op"]["type"]) == (4, "Square")
    fixes = {f["fix"]: f for f in incident["verified_fixes"]}
    assert fixes["learning_rate/10"]["result"] == "finite"
    # Replayed from a snapshot of an earlier step through the failing one.
    assert fixes["learning_rate/10"]["from_step"] < 4
    assert fixes["learning_rate/10"]["replayed_steps"] >= 2
    assert fixes["epsilon=1e-7"]["result"] == "skipped"  # SGD has none
    assert all(f["result"] in ("finite", "nonfinite", "error", "skipped") for f in fixes.values())
    # The model is left as training left it: the failed update was not applied,
    # the trials changed nothing (learning rate, clipnorm, weights).
    assert float(model.optimizer.learning_rate.numpy()) == 1.0
    assert model.optimizer.clipnorm is None
    assert int(model.optimizer.iterations.numpy()) == 4
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_without_a_budget_nothing_is_replayed_beyond_the_origin(tmp_path):
    x, y = data()
    x[113, 2] = 200.0
    incident = fit_recorded(tmp_path, regressor(Exp(name="exp")), x, y, analysis_seconds=0)
    assert incident["op"]["type"] == "Exp"
    assert incident["culprits"] is None and incident["reproducibility"] is None
    assert incident["verified_fixes"] == [] and incident["analysis_seconds"] is None


def test_under_mixed_precision_float32_for_the_overflowing_layer_is_verified_by_replay(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        big = keras.layers.Dense(1, name="big", kernel_initializer=keras.initializers.Constant(100.0))
        model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(4, name="hidden"), big])
        model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
        x, y = data()
        x[100:, :] = 300.0  # from batch 3 on: hidden's output reaches ~1e5 > float16 max 65504
        incident = fit_recorded(tmp_path, model, x, y)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    fixes = {f["fix"]: f for f in incident["verified_fixes"]}
    assert fixes[f"float32 for layer {incident['layer']}"]["result"] == "finite"
    assert model.get_layer(incident["layer"]).dtype_policy.name == "mixed_float16"


def test_a_nan_in_the_batch_names_its_row_and_index_into_x_without_a_replay(tmp_path):
    x, y = data()
    x[70, 1] = np.nan  # batch 2, row 6
    incident = fit_recorded(tmp_path, regressor(), x, y)
    assert (incident["step"], incident["phase"]) == (2, "input")
    culprits = incident["culprits"]
    assert (culprits["method"], culprits["rows"]) == ("origin_rows", [6])
    [example] = culprits["examples"]
    assert example["index"] == 70
    assert {f["tensor"]: f["nan_count"] for f in example["features"]}["x"] == 1


def test_snapshots_over_their_memory_budget_are_off_and_fixes_replay_the_failing_step_only(
        tmp_path):
    model, x, y, fit_kwargs = relu_high_lr.build()
    with nantrace.record(tmp_path / "run", snapshot_memory_mb=0.01) as recording:
        model.fit(x, y, **dict(fit_kwargs, shuffle=False))
    assert any("snapshots for replays from an earlier step are off" in n for n in recording.notes)
    lowered = {f["fix"]: f for f in recording.incidents[0]["verified_fixes"]}["learning_rate/10"]
    assert (lowered["from_step"], lowered["replayed_steps"]) == (4, 1)
    assert "only the failing step was replayed" in lowered["note"]


def test_a_snapshot_keeps_the_state_of_its_step_while_training_goes_on(tmp_path):
    """Snapshots are reads that share the variables' buffers (one read per
    variable, on its handle): the state a fix is replayed from must
    not follow the variables as training updates them, in place (small
    variables) or out of place (large ones)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((200,)), keras.layers.Dense(100),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x, y = data(n=16 * 40, inputs=200)
    taken = []  # (snapshot, its values when it was taken)

    class KeepSnapshots(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            latest = recording.snapshots.latest(model)
            if latest is not None and all(latest is not s for s, _ in taken):
                taken.append((latest, [np.array(v) for v in latest.values]))

    with nantrace.record(tmp_path / "run", snapshot_every=1) as recording:
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                  callbacks=[KeepSnapshots()])
    assert len(taken) == 40
    last_weights = [w.copy() for w in model.get_weights()]
    kernel = next(i for i, v in enumerate(taken[0][0].variables) if v is model.layers[0].kernel)
    for snapshot, values in taken:
        for now, then in zip(snapshot.values, values):
            np.testing.assert_array_equal(np.array(now), then)
    for snapshot, values in taken[:-1]:  # the big kernel moved since every snapshot
        assert not np.array_equal(values[kernel], last_weights[0])
    np.testing.assert_array_equal(np.array(taken[-1][0].values[kernel]), last_weights[0])

"""Models nantrace did not write train unchanged under the default record(),
and a fault deep inside them is found where it is.

The zoo (tests/zoo_models.py): keras.applications families, keras-hub
backbones with task heads, every kind of recurrent layer, attention with
masks, Conv1D/Conv3D, normalization and preprocessing layers, nested and
subclassed models, a user's own train_step, mixed_float16, tf.data with
validation data, sample and class weights. For each one:

* healthy training under `nantrace.record()` completes without an incident
  and ends with the same weights, bit for bit, as the same seeded fit
  without nantrace;
* a layer made to overflow from step k on (zoo_models.inject_fault: its
  output times exp(100)) is reported at step k, in the forward pass, in that
  layer, and the bad update is not applied.

Sizes are the smallest that still build each architecture (2-3 steps of a
few samples); benchmarks/zoo.py also runs the published sizes.
"""

import numpy as np
import pytest

import tb_nantrace as nantrace
import zoo_models

FIT = dict(epochs=1, shuffle=False, verbose=0)

# Known failures, each with its reason: strict, so a fix is noticed.
HEALTHY_XFAIL = {}
FAULT_XFAIL = {}


def _params(known_failures):
    return [
        pytest.param(case, id=case.name, marks=[pytest.mark.xfail(
            strict=True, reason=known_failures[case.name])] if case.name in known_failures else [])
        for case in zoo_models.CASES
    ]


def _build(case):
    if case.needs:
        pytest.importorskip(case.needs)
    return case.build()


def _internal_errors(recording):
    return [note for note in recording.notes if "internal error" in note]


@pytest.mark.parametrize("case", _params(HEALTHY_XFAIL))
def test_a_healthy_model_trains_to_the_same_weights_under_record(case, tmp_path):
    plain = _build(case)
    plain.fit(**case.fit_kwargs(), **FIT)
    recorded = case.build()
    with nantrace.record(tmp_path / case.name) as recording:
        recorded.fit(**case.fit_kwargs(), **FIT)
    assert recording.incidents == []
    assert _internal_errors(recording) == []
    # (mixed_float16: the loss scale optimizer may skip a step on purpose, in both runs)
    assert int(recorded.optimizer.iterations.numpy()) == int(plain.optimizer.iterations.numpy()) > 0
    differ = [variable.path for variable, before, after
              in zip(plain.weights, plain.get_weights(), recorded.get_weights(), strict=True)
              if not np.array_equal(before, after)]
    assert differ == []


@pytest.mark.parametrize("case", _params(FAULT_XFAIL))
def test_a_fault_injected_deep_in_the_model_is_found_at_its_step_phase_and_layer(case, tmp_path):
    model = _build(case)
    zoo_models.inject_fault(model, case)
    with nantrace.record(tmp_path / case.name) as recording:
        model.fit(**case.fit_kwargs(), **FIT)
    assert recording.incidents, "no incident recorded"
    first = recording.incidents[0]
    assert (first["step"], first["phase"], first["op"]["type"], first["layer"]) == (
        case.fault_step, "forward", "Exp", case.fault_layer)
    assert first["cause"]["code"] == "exp_overflow"
    assert _internal_errors(recording) == []
    assert int(model.optimizer.iterations.numpy()) == case.fault_step  # training stopped there
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the bad update was refused

"""The early-warning rules on hand-made health rows: each warning code fires on
the pattern it names and stays quiet on the near misses. No TensorFlow."""

import math

import numpy as np
import pytest

from tb_nantrace import early_warnings

NAN = math.nan


def findings(columns, dtype="float32"):
    """evaluate() on {(metric, layer): series}, steps 100, 101, ..."""
    length = len(next(iter(columns.values())))
    rows = np.array([series for series in columns.values()], dtype=np.float64).T
    metrics = [metric for metric, _ in columns]
    layers = [layer for _, layer in columns]
    return early_warnings.evaluate(metrics, layers, np.arange(100, 100 + length), rows, dtype)


def codes(columns, dtype="float32"):
    return [finding.code for finding in findings(columns, dtype)]


RELU = {("act_zero_frac", "dense"): [0.5] * 8}

# (id, columns, dtype, code, message the finding must contain, its step)
POSITIVE = [
    ("gradient_burst", {("grad_norm", ""): [1, 1, 2, 8, 32, 256]}, "float32",
     "exploding_gradient", "grew 128x in 3 steps (2 at step 102 → 256 at step 105), at least 2x", 105),
    ("gradient_sustained_growth", {("grad_norm", ""): [1.3 ** k for k in range(12)]}, "float32",
     "exploding_gradient", "in 10 steps (1 at step 100 → 10.6 at step 109), rising on 100%", 109),
    ("features_on_different_scales", {("input_scale_spread", ""): [10, 5000], ("input_max_abs", ""): [1, 50]},
     "float32", "unscaled_inputs", "differ in scale by 5e+03x (largest |x| 50)", 101),
    ("large_inputs", {("input_scale_spread", ""): [10, 10], ("input_max_abs", ""): [1, 2000]},
     "float32", "unscaled_inputs", "largest |x| 2e+03", 101),
    ("large_updates", {("update_ratio", "dense"): [0.01, 0.2, 0.3, 0.5, 0.01]}, "float32",
     "high_learning_rate", "layer dense's weights by 0.5 of their norm for 3 steps", 103),
    ("saturated_sigmoid", {("saturated", "out"): [0, NAN, 4]}, "float32",
     "saturated_probability", "4 outputs of layer out are exactly 0 or 1", 102),
    ("dead_relu", {**RELU, ("act_max_abs", "dense"): [1, 0, 0, 0, 0, 0, 1, 1]}, "float32",
     "dead_relu", "ReLU layer dense has been exactly 0 for 5 steps", 105),
    ("loss_jumps_far_above_its_median", {("loss", ""): [1.0, 1.1, 0.9, 1.05, 0.95, 8.0]}, "float32",
     "loss_spike", "loss jumped to 8 at step 105, 8x the median 1 of the 5 steps before", 105),
    ("loss_explodes_after_three_steps", {("loss", ""): [1.68, 46.3, 1.03e5, 2.1e12, NAN]}, "float32",
     "loss_spike", "loss jumped to 2.1e+12 at step 103", 103),
    ("flat_loss_doubles", {("loss", ""): [0.5] * 6 + [1.0]}, "float32",
     "loss_spike", "the last 6 losses were all 0.5", 106),
    ("activation_near_float32_max", {("act_max_abs", "big"): [1.0, 1e38]}, "float32",
     "approaching_overflow", "largest |activation| of layer big is 1e+38, 29% of the float32 max", 101),
    ("activation_near_float16_max", {("act_max_abs", "big"): [7000.0]}, "float16",
     "approaching_overflow", "11% of the float16 max", 100),
]


@pytest.mark.parametrize("columns, dtype, code, message, step", [case[1:] for case in POSITIVE],
                         ids=[case[0] for case in POSITIVE])
def test_each_warning_fires_on_its_pattern_with_the_numbers(columns, dtype, code, message, step):
    found = [finding for finding in findings(columns, dtype) if finding.code == code]
    assert len(found) == 1, found
    assert message in found[0].message, found[0].message
    assert found[0].step == step
    assert found[0].evidence_steps and found[0].evidence_values


def test_every_warning_says_what_it_saw_and_its_threshold():
    """The numbers a user judges a warning by: the values seen (in the
    message and as evidence) and the threshold they were held against."""
    for _, columns, dtype, code, _, _ in POSITIVE:
        (finding,) = [f for f in findings(columns, dtype) if f.code == code]
        assert "threshold" in finding.message, finding.message
        assert any(ch.isdigit() for ch in finding.message.split("threshold")[0]), finding.message
        assert finding.step in finding.evidence_steps
        assert len(finding.evidence_steps) == len(finding.evidence_values)


def test_every_warning_code_has_a_positive_case():
    assert {case[3] for case in POSITIVE} == set(early_warnings.CODES)


# (id, columns, dtype): one step short of, or just beside, each pattern.
NEAR_MISSES = [
    ("steady_gradient", {("grad_norm", ""): [1.0] * 20}, "float32"),
    ("burst_of_two_steps", {("grad_norm", ""): [1, 1, 10, 100, 100, 100]}, "float32"),
    ("growth_that_zigzags", {("grad_norm", ""): [1, 3, 2, 4, 3, 5, 4, 6, 5, 12, 11, 10]}, "float32"),
    ("growth_measured_from_zero", {("grad_norm", ""): [0, 0, 0, 10, 1000, 100000]}, "float32"),
    ("growth_of_a_layer_gradient", {("grad_norm", "dense"): [1, 1, 1, 3, 9, 27, 300]}, "float32"),
    ("growth_through_nan", {("grad_norm", ""): [1, 3, NAN, 27, 300]}, "float32"),
    ("scaled_inputs", {("input_scale_spread", ""): [10, 999], ("input_max_abs", ""): [1, 999]}, "float32"),
    ("spread_without_magnitude_column", {("input_scale_spread", ""): [5000.0]}, "float32"),
    ("large_updates_for_two_steps", {("update_ratio", "dense"): [0.2, 0.3, 0.01, 0.2, 0.3]}, "float32"),
    ("no_saturated_outputs", {("saturated", "out"): [0, NAN, 0]}, "float32"),
    ("relu_dead_for_four_steps", {**RELU, ("act_max_abs", "dense"): [1, 0, 0, 0, 0, 1, 0, 1]}, "float32"),
    ("zero_outputs_without_relu", {("act_max_abs", "linear"): [0.0] * 8}, "float32"),
    ("loss_noisy_within_its_range", {("loss", ""): [2.0, 6.0, 3.0, 5.0, 2.5, 6.5, 3.0, 7.0]}, "float32"),
    ("loss_spike_with_two_steps_of_history", {("loss", ""): [1.0, 1.1, 1e6]}, "float32"),
    ("loss_spike_after_nans", {("loss", ""): [NAN, NAN, NAN, 1.0, 1.2, 50.0]}, "float32"),
    ("loss_rises_six_mads_but_not_double", {("loss", ""): [1.0, 1.01, 0.99, 1.0, 1.02, 1.9]}, "float32"),
    ("loss_doubles_within_six_mads", {("loss", ""): [1.0, 3.0, 0.5, 2.5, 1.5, 1.0, 5.5]}, "float32"),
    ("infinite_loss_is_the_incident_not_a_spike", {("loss", ""): [1.0, 1.0, 1.0, 1.0, math.inf]},
     "float32"),
    ("negative_loss_rising_towards_zero", {("loss", ""): [-10.0, -10.5, -9.8, -10.2, -1.0]}, "float32"),
    ("activation_far_from_max", {("act_max_abs", "big"): [1e3, 1e30, NAN]}, "float32"),
    ("activation_below_a_tenth_of_float16_max", {("act_max_abs", "big"): [6000.0]}, "float16"),
]


@pytest.mark.parametrize("columns, dtype", [case[1:] for case in NEAR_MISSES],
                         ids=[case[0] for case in NEAR_MISSES])
def test_no_warning_on_a_near_miss(columns, dtype):
    assert codes(columns, dtype) == []


def test_no_rows_give_no_warnings():
    assert early_warnings.evaluate(["grad_norm"], [""], [], np.zeros((0, 1))) == []


def at_incident(columns, step):
    """early_warnings.at_incident on {(metric, layer): series}, steps 100, 101, ..."""
    length = len(next(iter(columns.values())))
    rows = np.array([series for series in columns.values()], dtype=np.float64).T
    return early_warnings.at_incident([m for m, _ in columns], [layer for _, layer in columns],
                                      np.arange(100, 100 + length), rows, step)


def test_a_relu_layer_all_zero_at_the_incident_step_is_dead_there():
    # The relative-MAE demo: the output ReLU's max |x| reaches 0 at the
    # incident's step only, too soon for a dead_relu warning (5 steps).
    columns = {("act_zero_frac", "out"): [0.75, 0.81, 0.91, 1.0],
               ("act_max_abs", "out"): [0.36, 0.27, 0.48, 0.0]}
    assert codes(columns) == []
    (finding,) = at_incident(columns, 103)
    assert (finding.code, finding.layer, finding.step) == ("dead_relu", "out", 103)
    assert "exactly 0 at the incident's step 103 (max |x| = 0, zero fraction 1" in finding.message
    assert "at step 102 its max |x| was 0.48" in finding.message
    assert finding.evidence_steps == [102, 103] and finding.evidence_values == [0.48, 0.0]


def test_a_relu_layer_dead_for_several_steps_says_since_when():
    columns = {("act_zero_frac", "out"): [0.5, 1.0, 1.0, 1.0], ("act_max_abs", "out"): [2.0, 0.0, 0.0, 0.0]}
    (finding,) = at_incident(columns, 103)
    assert "since step 101" in finding.message


# (id, columns, incident step): nothing holds at the incident's step.
AT_INCIDENT_NEAR_MISSES = [
    ("relu_zero_before_but_not_at_the_incident",
     {("act_zero_frac", "out"): [1.0, 0.9], ("act_max_abs", "out"): [0.0, 0.01]}, 101),
    ("zero_outputs_of_a_layer_without_relu", {("act_max_abs", "linear"): [1.0, 0.0]}, 101),
    ("relu_with_nan_max_at_the_incident",
     {("act_zero_frac", "out"): [0.5, NAN], ("act_max_abs", "out"): [1.0, NAN]}, 101),
    ("incident_step_not_in_the_window",
     {("act_zero_frac", "out"): [1.0, 1.0], ("act_max_abs", "out"): [0.0, 0.0]}, 105),
]


@pytest.mark.parametrize("columns, step", [case[1:] for case in AT_INCIDENT_NEAR_MISSES],
                         ids=[case[0] for case in AT_INCIDENT_NEAR_MISSES])
def test_nothing_holds_at_the_incident_on_a_near_miss(columns, step):
    assert at_incident(columns, step) == []


def test_per_layer_rules_read_only_the_rows_that_measured_them():
    """By default the per-layer columns are measured every 8 steps (NaN on
    the other rows, all_measured False there); the loss every step. A layer
    dead at 5 measured steps in a row is dead_relu at the 5th, and the
    message says the steps were sampled."""
    steps = np.arange(100, 141)
    measured = (steps - 100) % 8 == 0
    dead = np.where(measured, 0.0, NAN)
    zero_fraction = np.where(measured, 1.0, NAN)
    loss = np.full(len(steps), 0.7)
    rows = np.stack([loss, dead, zero_fraction], axis=1)
    metrics, layers = ["loss", "act_max_abs", "act_zero_frac"], ["", "dense", "dense"]

    (finding,) = early_warnings.evaluate(metrics, layers, steps, rows, all_measured=measured)
    assert (finding.code, finding.step) == ("dead_relu", 132)
    assert "5 measured steps in a row" in finding.message, finding.message
    assert finding.evidence_steps == [100, 108, 116, 124, 132]
    # Without the flags the NaN rows between samples break every run.
    assert early_warnings.evaluate(metrics, layers, steps, rows) == []

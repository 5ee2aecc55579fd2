"""Early warnings from the per-step health timeline (pure numpy, no TF).

Each rule looks at full-resolution rows (steps x columns) and says, with the
numbers, what tends to come before a NaN: gradients growing step after step,
a loss jumping far above its recent range, activations nearing the dtype's
max, probabilities saturated at exactly 0/1, ReLU layers whose outputs are
all zero, inputs on wildly different scales. Every message quotes what the
rule saw and the threshold it was held against, so a reader can judge it.

`at_incident` reads the rows of an incident's own step: what holds there
(a ReLU layer with every output exactly 0) contributes to the incident even
when it has not lasted long enough to be a warning.
"""

import dataclasses
import math
import warnings
from typing import List

import numpy as np

DTYPE_MAX = {"float16": 65504.0, "bfloat16": 3.3895e38, "float32": 3.4028235e38,
             "float64": 1.7976931348623157e308}

GROWTH_STEPS = 10          # look at this many consecutive steps ...
GROWTH_FACTOR = 10.0       # ... over which the gradient norm grows this much
GROWTH_MONOTONE = 0.7      # ... rising on at least this share of steps
BURST_STEPS = 3            # or: this many consecutive steps ...
BURST_RATIO = 2.0          # ... each at least this much larger than the last
BURST_FACTOR = 100.0       # ... and this much growth in all
OVERFLOW_FRACTION = 0.1    # |activation| above this share of the dtype max
UNSCALED_SPREAD = 1000.0   # per-feature scales this far apart
UNSCALED_MAGNITUDE = 1e3   # or inputs this large
UPDATE_RATIO = 0.1         # |update| / |weight|: healthy is ~1e-3
UPDATE_STEPS = 3
DEAD_STEPS = 5
# loss_spike: a finite loss more than SPIKE_MADS robust standard deviations
# (1.4826 x the median absolute deviation) above the median of the previous
# SPIKE_WINDOW steps, and at least SPIKE_RISE x that median above it (so a
# flat loss, whose MAD is ~0, needs to double); judged once at least
# SPIKE_MIN_HISTORY earlier finite losses are known.
SPIKE_WINDOW = 32
SPIKE_MIN_HISTORY = 3
SPIKE_MADS = 6.0
SPIKE_RISE = 1.0
MAD_TO_SIGMA = 1.4826

CODES = (
    "exploding_gradient", "loss_spike", "unscaled_inputs", "high_learning_rate",
    "saturated_probability", "dead_relu", "approaching_overflow",
)


@dataclasses.dataclass
class Finding:
    code: str
    step: int
    layer: str
    metric: str
    message: str
    evidence_steps: List[int]
    evidence_values: List[float]


def _fmt(value):
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


class Columns:
    def __init__(self, metrics, layers):
        self.metrics = list(metrics)
        self.layers = list(layers)

    def find(self, metric):
        return [(i, self.layers[i]) for i, m in enumerate(self.metrics) if m == metric]


def evaluate(metrics, layers, steps, rows, dtype="float32", all_measured=None):
    """Findings in the rows (numpy [n_steps, n_columns], steps ascending).
    `all_measured` (per row; default: all) says which rows measured every
    column: the loss and gradient-norm rules read every row, the per-layer
    and input rules only those (on the others their columns are NaN)."""
    columns = Columns(metrics, layers)
    steps = np.asarray(steps, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or len(steps) == 0:
        return []
    found = []
    for rule in (_exploding_gradient, _loss_spike):
        found.extend(rule(columns, steps, rows, dtype))
    measured_steps, measured_rows = _measured(steps, rows, all_measured)
    for rule in (_unscaled_inputs, _high_learning_rate, _saturated_probability, _dead_relu,
                 _approaching_overflow):
        found.extend(rule(columns, measured_steps, measured_rows, dtype))
    return found


def _measured(steps, rows, all_measured):
    """The rows that measured every column (all rows without `all_measured`)."""
    if all_measured is None or len(all_measured) != len(steps):
        return steps, rows
    full = np.asarray(all_measured, bool)
    return steps[full], rows[full]


def _in_a_row(count, steps):
    """'N steps', or where the rows are sampled, 'N measured steps in a row'."""
    if len(steps) and int(steps[-1]) - int(steps[0]) == count - 1:
        return f"{count} steps"
    return f"{count} measured steps in a row"


def _exploding_gradient(columns, steps, rows, dtype):
    for index, layer in columns.find("grad_norm"):
        if layer:
            continue
        series = rows[:, index]
        burst = _burst(series)
        if burst is not None:
            first, last = burst
            growth = series[last] / series[first]
            return [Finding(
                "exploding_gradient", int(steps[last]), "", "grad_norm",
                f"gradient norm grew {_fmt(growth)}x in {last - first} steps "
                f"({_fmt(series[first])} at step {steps[first]} → {_fmt(series[last])} "
                f"at step {steps[last]}), at least {BURST_RATIO:g}x every step "
                f"(threshold: {BURST_RATIO:g}x a step for {BURST_STEPS} steps, {BURST_FACTOR:g}x in all)",
                [int(s) for s in steps[first:last + 1]], [float(v) for v in series[first:last + 1]])]
        growth = _sustained_growth(series)
        if growth is not None:
            first, rising = growth
            window = series[first:first + GROWTH_STEPS]
            window_steps = steps[first:first + GROWTH_STEPS]
            return [Finding(
                "exploding_gradient", int(window_steps[-1]), "", "grad_norm",
                f"gradient norm grew {_fmt(window[-1] / window[0])}x in {GROWTH_STEPS} steps "
                f"({_fmt(window[0])} at step {window_steps[0]} → {_fmt(window[-1])} "
                f"at step {window_steps[-1]}), rising on {rising:.0%} of them "
                f"(threshold: {GROWTH_FACTOR:g}x, rising on {GROWTH_MONOTONE:.0%})",
                [int(s) for s in window_steps], [float(v) for v in window])]
    return []


# The rules run on the host every FLUSH_EVERY steps over the whole history
# (a few hundred rows): sliding windows in numpy, no Python loop per row.

def _windows(series, length):
    """Rows of `length` consecutive values, with usable = all finite and a
    positive first value (growth is measured from it)."""
    windows = np.lib.stride_tricks.sliding_window_view(series, length)
    usable = np.all(np.isfinite(windows), axis=1) & (windows[:, 0] > 0)
    return windows, usable


def _first(flags):
    hits = np.flatnonzero(flags)
    return int(hits[0]) if len(hits) else None


def _burst(series):
    """(first, last) indices of BURST_STEPS consecutive increases of at least
    BURST_RATIO each, growing BURST_FACTOR in all; None if there is none."""
    if len(series) < BURST_STEPS + 1:
        return None
    windows, usable = _windows(series, BURST_STEPS + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        every_step = np.all(windows[:, 1:] / windows[:, :-1] >= BURST_RATIO, axis=1)
        in_all = windows[:, -1] / windows[:, 0] >= BURST_FACTOR
    first = _first(usable & every_step & in_all)
    return None if first is None else (first, first + BURST_STEPS)


def _sustained_growth(series):
    """(first index, share of rising steps) of the first GROWTH_STEPS window
    that grows GROWTH_FACTOR while mostly rising; None if there is none."""
    if len(series) < GROWTH_STEPS:
        return None
    windows, usable = _windows(series, GROWTH_STEPS)
    rising = np.mean(np.diff(windows, axis=1) > 0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        grows = windows[:, -1] / windows[:, 0] >= GROWTH_FACTOR
    first = _first(usable & grows & (rising >= GROWTH_MONOTONE))
    return None if first is None else (first, float(rising[first]))


def _run_end(flags, length):
    """Index where the first run of `length` consecutive True flags ends."""
    if len(flags) < length:
        return None
    counts = np.convolve(flags.astype(np.int64), np.ones(length, np.int64), "valid")
    start = _first(counts == length)
    return None if start is None else start + length - 1


def _trailing_median(series, length):
    """Per index t: (median, MAD, count) of the finite values among
    series[t-length:t] (NaN median where there are none)."""
    padded = np.concatenate([np.full(length, np.nan), series])
    windows = np.lib.stride_tricks.sliding_window_view(padded, length)[: len(series)]
    count = np.sum(np.isfinite(windows), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window with no finite value
        median = np.nanmedian(windows, axis=1)
        mad = np.nanmedian(np.abs(windows - median[:, None]), axis=1)
    return median, mad, count


def _loss_spike(columns, steps, rows, dtype):
    """A finite loss far above the median of the steps before it."""
    found = columns.find("loss")
    if not found:
        return []
    series = rows[:, found[0][0]].copy()
    series[~np.isfinite(series)] = np.nan  # a refused step's inf is no history
    median, mad, count = _trailing_median(series, SPIKE_WINDOW)
    sigma = MAD_TO_SIGMA * mad
    with np.errstate(invalid="ignore"):
        rise = series - median
        spikes = (np.isfinite(series) & (count >= SPIKE_MIN_HISTORY) & (rise > 0)
                  & (rise > SPIKE_MADS * sigma) & (rise >= SPIKE_RISE * np.abs(median)))
    i = _first(spikes)
    if i is None:
        return []
    first = max(0, i - SPIKE_WINDOW)
    spread = (f"{_fmt(rise[i] / sigma[i])} robust standard deviations above it (1.4826 x MAD "
              f"{_fmt(mad[i])})" if sigma[i] > 0 else f"the last {count[i]} losses were all {_fmt(median[i])}")
    ratio = f"{_fmt(series[i] / median[i])}x " if median[i] > 0 else ""
    window = [(int(s), float(v)) for s, v in zip(steps[first:i + 1], series[first:i + 1])
              if math.isfinite(v)]
    return [Finding(
        "loss_spike", int(steps[i]), "", "loss",
        f"loss jumped to {_fmt(series[i])} at step {steps[i]}, {ratio}the median "
        f"{_fmt(median[i])} of the {count[i]} steps before; {spread} (threshold: median + "
        f"{SPIKE_MADS:g} x 1.4826 x MAD and at least {1 + SPIKE_RISE:g}x the median, "
        f"after {SPIKE_MIN_HISTORY} steps)",
        [s for s, _ in window], [v for _, v in window])]


def _unscaled_inputs(columns, steps, rows, dtype):
    spread = columns.find("input_scale_spread")
    magnitude = columns.find("input_max_abs")
    if not spread or not magnitude:
        return []
    s, m = rows[:, spread[0][0]], rows[:, magnitude[0][0]]
    bad = np.where((s >= UNSCALED_SPREAD) | (m >= UNSCALED_MAGNITUDE))[0]
    if not len(bad):
        return []
    i = bad[0]
    # Evidence pairs (step, value) of the metric that crossed its threshold.
    metric = "input_scale_spread" if s[i] >= UNSCALED_SPREAD else "input_max_abs"
    return [Finding(
        "unscaled_inputs", int(steps[i]), "", metric,
        f"input features differ in scale by {_fmt(s[i])}x (largest |x| {_fmt(m[i])}) "
        f"at step {steps[i]} (threshold: {UNSCALED_SPREAD:g}x apart or |x| >= "
        f"{UNSCALED_MAGNITUDE:g}): standardize them (e.g. keras.layers.Normalization)",
        [int(steps[i])], [float(s[i] if metric == "input_scale_spread" else m[i])])]


def _high_learning_rate(columns, steps, rows, dtype):
    for index, layer in columns.find("update_ratio"):
        series = rows[:, index]
        i = _run_end(np.isfinite(series) & (series >= UPDATE_RATIO), UPDATE_STEPS)
        if i is not None:
            first = i - UPDATE_STEPS + 1
            return [Finding(
                "high_learning_rate", int(steps[i]), layer, "update_ratio",
                f"each update changes layer {layer}'s weights by {_fmt(series[i])} of "
                f"their norm for {_in_a_row(UPDATE_STEPS, steps[first:i + 1])} (steps "
                f"{steps[first]}-{steps[i]}; healthy: ~0.001; threshold: "
                f">= {UPDATE_RATIO:g} for {UPDATE_STEPS} steps): lower the learning rate",
                [int(v) for v in steps[first:i + 1]], [float(v) for v in series[first:i + 1]])]
    return []


def _saturated_probability(columns, steps, rows, dtype):
    found = []
    for index, layer in columns.find("saturated"):
        series = rows[:, index]
        hits = np.where(np.isfinite(series) & (series > 0))[0]
        if len(hits):
            i = hits[0]
            found.append(Finding(
                "saturated_probability", int(steps[i]), layer, "saturated",
                f"{int(series[i])} outputs of layer {layer} are exactly 0 or 1 at step {steps[i]} "
                "(threshold: any): log() of them is -inf; compute the loss from logits",
                [int(steps[i])], [float(series[i])]))
    return found


def _dead_relu(columns, steps, rows, dtype):
    """All outputs exactly 0 (max |x| = 0, which sees the whole batch) for
    DEAD_STEPS steps, in a layer with a ReLU-like activation."""
    found = []
    relu_layers = {layer for _, layer in columns.find("act_zero_frac")}
    for index, layer in columns.find("act_max_abs"):
        if layer not in relu_layers:
            continue
        series = rows[:, index]
        i = _run_end(series == 0.0, DEAD_STEPS)
        if i is not None:
            found.append(Finding(
                "dead_relu", int(steps[i]), layer, "act_max_abs",
                f"every output of ReLU layer {layer} has been exactly 0 for "
                f"{_in_a_row(DEAD_STEPS, steps[i - DEAD_STEPS + 1:i + 1])} "
                f"(max |x| = 0 at steps {steps[i - DEAD_STEPS + 1]}-{steps[i]}; threshold: "
                f"{DEAD_STEPS} steps in a row): "
                "the layer is dead (lower the learning rate, use LeakyReLU/ELU, check init)",
                [int(s) for s in steps[i - DEAD_STEPS + 1:i + 1]],
                [float(v) for v in series[i - DEAD_STEPS + 1:i + 1]]))
    return found


def _approaching_overflow(columns, steps, rows, dtype):
    limit = DTYPE_MAX.get(dtype, DTYPE_MAX["float32"]) * OVERFLOW_FRACTION
    found = []
    for index, layer in columns.find("act_max_abs"):
        series = rows[:, index]
        hits = np.where(np.isfinite(series) & (series >= limit))[0]
        if len(hits):
            i = hits[0]
            found.append(Finding(
                "approaching_overflow", int(steps[i]), layer, "act_max_abs",
                f"largest |activation| of layer {layer} is {_fmt(series[i])}, "
                f"{series[i] / DTYPE_MAX.get(dtype, DTYPE_MAX['float32']):.0%} of the {dtype} max "
                f"(threshold: {OVERFLOW_FRACTION:.0%})",
                [int(steps[i])], [float(series[i])]))
    return found


def at_incident(metrics, layers, steps, rows, step, all_measured=None):
    """Findings that hold at the incident's own step (its row of the
    flight-recorder window): a ReLU layer whose every output is exactly 0
    there (max |x| = 0 sees the whole batch) is dead at the incident, even
    when it died too recently to be a dead_relu warning. Only the rows that
    measured every column are read (`all_measured`, as in evaluate())."""
    columns = Columns(metrics, layers)
    steps = np.asarray(steps, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.float64)
    steps, rows = _measured(steps, rows, all_measured)
    at = np.flatnonzero(steps == step)
    if rows.ndim != 2 or not len(at):
        return []
    r = int(at[-1])
    zero_fraction = {layer: rows[r, index] for index, layer in columns.find("act_zero_frac")}
    found = []
    for index, layer in columns.find("act_max_abs"):
        if layer not in zero_fraction or rows[r, index] != 0.0:
            continue
        start = r
        while start > 0 and rows[start - 1, index] == 0.0:
            start -= 1
        since = (f"since step {steps[start]}" if start < r else "first at this step")
        before = (f"; at step {steps[r - 1]} its max |x| was {_fmt(rows[r - 1, index])}"
                  if start == r and r > 0 else "")
        found.append(Finding(
            "dead_relu", int(step), layer, "act_max_abs",
            f"every output of ReLU layer {layer} is exactly 0 at the incident's step {step} "
            f"(max |x| = 0, zero fraction {_fmt(zero_fraction[layer])}; {since}{before}): "
            "anything computed from it (a mean, a norm, a divisor) is 0",
            [int(s) for s in steps[max(0, start - 1):r + 1]],
            [float(v) for v in rows[max(0, start - 1):r + 1, index]]))
    return found

"""The recorded evidence a cause rule reads, and how numbers are shown.

DTYPE_MAX (each float dtype's largest finite value), fmt / fmt_log (numbers
as the cause summaries quote them), small readers of a TensorStats proto
(min, max, largest finite |x|, counts) and Evidence, the facts every rule in
cause_rules.py reads from one Incident. Pure Python on the proto: no
TensorFlow.
"""

import math

DTYPE_MAX = {"float16": 65504.0, "bfloat16": 3.3895e38, "float32": 3.4028235e38,
             "float64": 1.7976931348623157e308}


def fmt(value):
    if value is None:
        return "?"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0.0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.3g}"
    return f"{value:.4g}"


def fmt_log(log_value):
    """A magnitude given by its natural log, which may be beyond any float."""
    if log_value < 700:
        return fmt(math.exp(log_value))
    exponent = math.floor(log_value / math.log(10))
    return f"{10 ** (log_value / math.log(10) - exponent):.3g}e+{exponent}"


def stat_min(stats):
    return stats.min if stats.HasField("min") else None


def stat_max(stats):
    return stats.max if stats.HasField("max") else None


def largest(stats):
    return stats.max_abs_finite if stats.HasField("max_abs_finite") else 0.0


def safe_log(value):
    return math.log(value) if value > 0 else -math.inf


def inf_count(stats):
    return stats.posinf_count + stats.neginf_count


def float_inputs(incident):
    return [s for s in incident.inputs if s.dtype.startswith(("float", "bfloat", "half"))]


def describe_input(stats):
    return f"{stats.name or 'input'}: min {fmt(stat_min(stats))}, max {fmt(stat_max(stats))}"


def zeros_of(stats):
    return f"{stats.zero_count} of {stats.size} values exactly 0"


# Ops a probability passes through unchanged in kind on its way from the
# activation that made it to a log (1 - p, clipping, casts, slices, ...).
PASS_THROUGH_OPS = {"Identity", "Sub", "Add", "AddV2", "Mul", "Neg", "Cast", "Maximum", "Minimum",
                    "ClipByValue", "Reshape", "Squeeze", "ExpandDims", "StridedSlice", "GatherV2",
                    "Select", "SelectV2", "Transpose", "ConcatV2", "Pack", "Unpack", "Split"}
PROBABILITY_OPS = {"Sigmoid": "sigmoid", "Softmax": "softmax"}
PRODUCER_DEPTH = 8


def probability_producer(incident):
    """("sigmoid" | "softmax", op name) of the activation nearest upstream of
    the origin in the recorded graph, reached through PASS_THROUGH_OPS only
    (log(1 - sigmoid(x)) finds the Sigmoid); None when there is no graph,
    none is found, or both kinds are equally near."""
    types = {node.name: node.type for node in incident.graph.nodes}
    producers = {}
    for edge in incident.graph.edges:
        producers.setdefault(edge.target, []).append(edge.source)
    frontier, seen = [incident.op.name], {incident.op.name}
    for _ in range(PRODUCER_DEPTH):
        upstream = [s for name in frontier for s in producers.get(name, []) if s not in seen]
        seen.update(upstream)
        found = {(PROBABILITY_OPS[types[s]], s) for s in upstream if types.get(s) in PROBABILITY_OPS}
        if found:
            kinds = {kind for kind, _ in found}
            return min(found) if len(kinds) == 1 else None
        frontier = [s for s in upstream if types.get(s) in PASS_THROUGH_OPS]
        if not frontier:
            return None
    return None


class Evidence:
    """The facts every rule reads: op type, float inputs, what came out."""

    def __init__(self, incident):
        self.incident = incident
        self.op = incident.op.type
        self.inputs = float_inputs(incident)
        self.dtype = incident.outputs[0].dtype if incident.outputs else (
            self.inputs[0].dtype if self.inputs else "float32")
        self.limit = DTYPE_MAX.get(self.dtype, DTYPE_MAX["float32"])
        outputs = incident.outputs
        # Output stats are the direct evidence; the kind stands in when absent.
        self.made_nan = (any(s.nan_count for s in outputs) if outputs
                         else incident.kind in ("nan", "nan_and_inf"))
        self.made_inf = (any(inf_count(s) for s in outputs) if outputs
                         else incident.kind in ("inf", "nan_and_inf"))
        self.result = incident.kind.replace("_", " and ")

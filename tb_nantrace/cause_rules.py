"""The per-mechanism cause rules diagnosis.py tries in order (RULES), and
`unexplained`, the evidence quoted when none of them applies.

Each rule reads an Evidence and returns (code, summary) when the statistics
prove its mechanism, else None; the op-type sets below say which ops each
mechanism can happen in. Pure Python on the Incident proto: no TensorFlow.
"""

import math

from tb_nantrace.evidence import (DTYPE_MAX, describe_input, fmt, fmt_log, inf_count, largest,
                                  safe_log, stat_max, stat_min, zeros_of)

LOG_OPS = {"Log", "Log1p", "Xlogy", "Xlog1py"}
# Ops that divide by their last input; Reciprocal/Inv by their only one.
DIV_OPS = {"RealDiv", "Div", "FloorDiv", "TruncateDiv", "Reciprocal", "Inv", "Xdivy",
           "FloorMod", "Mod", "TruncateMod"}
SQRT_OPS = {"Sqrt", "Rsqrt"}
EXP_OPS = {"Exp", "Expm1", "Sinh", "Cosh"}
POLE_OPS = {"Lgamma", "Digamma", "Polygamma"}  # infinite at 0, -1, -2, ...
# Ops whose only way to make NaN out of non-NaN inputs is +inf + -inf
# (softmax: x - max(x) per row); for Mul it is 0 * inf, for divisions inf / inf.
ADDITIVE_OPS = {"Add", "AddV2", "Sub", "AddN", "BiasAdd", "Sum", "Mean", "Cumsum", "BiasAddGrad",
                "SquaredDifference"}
SOFTMAX_OPS = {"Softmax", "LogSoftmax", "SoftmaxCrossEntropyWithLogits",
               "SparseSoftmaxCrossEntropyWithLogits"}
REDUCTION_OPS = {"Sum", "Mean", "Cumsum", "BiasAddGrad"}
# A contraction sums at most min(size) products of its two operands (the
# shared dimension is a factor of both sizes).
CONTRACTION_OPS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "_FusedMatMul",
                   "Einsum", "Conv2D", "Conv3D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
                   "Conv3DBackpropInputV2", "Conv3DBackpropFilterV2", "_FusedConv2D",
                   "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                   "DepthwiseConv2dNativeBackpropFilter"}


def _nonfinite_counts(stats):
    return f"{stats.nan_count} nan, {stats.posinf_count} +inf, {stats.neginf_count} -inf"


def _from_nonfinite_inputs(ev):
    """The origin is the first op with a non-finite output, so a non-finite
    input came from something nantrace does not check (a constant such as a
    -inf mask, a skipped op): either this op turned infinities into NaN, or
    it only passed them on."""
    bad = [s for s in ev.inputs if s.nan_count or inf_count(s)]
    if not bad:
        return None
    if ev.made_nan and not any(s.nan_count for s in ev.inputs):
        found = _nan_from_infinities(ev)
        if found:
            return found
    return "unknown", (
        f"{ev.op} received non-finite inputs ({describe_input(bad[0])}, {_nonfinite_counts(bad[0])}); "
        "the value came from an op that was not checked."
    )


def _holding(stats, what):
    return f"{stats.name or 'an input'} holds {what}"


def _nan_from_infinities(ev):
    """NaN out of non-NaN inputs: for these ops only inf - inf, 0 * inf or
    inf / inf can do it, and the counts show which operand held what."""
    inputs = ev.inputs
    if ev.op in SOFTMAX_OPS:
        logits = inputs[0]
        return "inf_minus_inf", (
            f"logits hold {logits.neginf_count} -inf and {logits.posinf_count} +inf; {ev.op} "
            "subtracts each row's max, so a row that is all -inf (every position masked) or "
            "holds +inf gives inf - inf = nan")
    if ev.op in ("Sub", "SquaredDifference") and len(inputs) == 2:
        a, b = inputs
        same = [sign for sign, count in (("+inf", "posinf_count"), ("-inf", "neginf_count"))
                if getattr(a, count) and getattr(b, count)]
        if same:
            return "inf_minus_inf", (
                f"{_holding(a, same[0])} and {_holding(b, same[0])} → {same[0]} - {same[0]} = nan")
    elif ev.op in ADDITIVE_OPS:
        positive = [s for s in inputs if s.posinf_count]
        negative = [s for s in inputs if s.neginf_count]
        if positive and negative:  # one tensor for reductions, either operand otherwise
            return "inf_minus_inf", (
                f"{_holding(positive[0], f'{positive[0].posinf_count} +inf')} and "
                f"{_holding(negative[0], f'{negative[0].neginf_count} -inf')}; "
                f"{ev.op} adds them → inf + -inf = nan")
    if ev.op == "Mul":
        zeros = [s for s in inputs if s.zero_count]
        infinite = [s for s in inputs if inf_count(s)]
        if zeros and infinite:
            return "zero_times_inf", (
                f"{_holding(zeros[0], zeros_of(zeros[0]))}, {_holding(infinite[0], f'{inf_count(infinite[0])} inf')}"
                f" → 0 * inf = nan")
    if (ev.op in DIV_OPS and not ev.op.endswith("Mod") and len(inputs) >= 2
            and inf_count(inputs[0]) and inf_count(inputs[-1])):
        return "inf_over_inf", (
            f"numerator {_holding(inputs[0], f'{inf_count(inputs[0])} inf')} and divisor "
            f"{_holding(inputs[-1], f'{inf_count(inputs[-1])} inf')} → inf / inf = nan")
    return None


def _log_of_nonpositive(ev):
    if ev.op not in LOG_OPS or not ev.inputs:
        return None
    arg = ev.inputs[-1] if ev.op in ("Xlogy", "Xlog1py") else ev.inputs[0]
    edge = -1.0 if ev.op in ("Log1p", "Xlog1py") else 0.0
    low = stat_min(arg)
    if low is None or low > edge:
        return None
    value = "-inf" if low == edge else "nan"
    if not (ev.made_inf if value == "-inf" else ev.made_nan):
        return None  # the minimum gives a result this op did not produce
    shown = "log1p" if edge else "log"
    return "log_of_nonpositive", (
        f"input min {fmt(low)} → {shown}({fmt(low)}) = {value}"
        + (f" ({arg.zero_count} of {arg.size} values are exactly 0)" if arg.zero_count else "")
    )


def _sqrt_of_negative(ev):
    if not ev.made_nan or not ev.inputs or (stat_min(ev.inputs[0]) or 0) >= 0:
        return None
    low = fmt(stat_min(ev.inputs[0]))
    if ev.op in SQRT_OPS:
        return "sqrt_of_negative", f"input min {low} < 0 → {ev.op.lower()}(negative) = nan"
    if ev.op == "Pow" and len(ev.inputs) > 1 and stat_min(ev.inputs[1]) == stat_max(ev.inputs[1]) == 0.5:
        return "sqrt_of_negative", f"base min {low} < 0 and exponent 0.5 → pow(negative, 0.5) = nan"
    return None


def _domain_error(ev):
    if not ev.inputs:
        return None
    x = ev.inputs[-1] if ev.op == "Polygamma" else ev.inputs[0]
    low, high = stat_min(x), stat_max(x)
    if low is None or math.isnan(low):
        return None
    name, shown = ev.op.lower(), f"input range [{fmt(low)}, {fmt(high)}]"
    if ev.op in ("Acos", "Asin") and ev.made_nan and (low < -1 or high > 1):
        return "domain_error", f"{shown} leaves [-1, 1] → {name}(x) = nan for |x| > 1"
    if ev.op == "Atanh":
        effects = ([f"{name}(±1) = ±inf"] if ev.made_inf and (low == -1 or high == 1) else []) + (
            [f"{name}(x) = nan for |x| > 1"] if ev.made_nan and (low < -1 or high > 1) else [])
        if effects:
            return "domain_error", f"{shown} reaches ±1, the edge of atanh's domain (-1, 1) → " + ", ".join(effects)
    if ev.op == "Acosh" and ev.made_nan and low < 1:
        return "domain_error", f"input min {fmt(low)} < 1 → acosh(x) = nan for x < 1"
    if ev.op == "Pow" and ev.made_nan and len(ev.inputs) > 1 and low < 0:
        e_low, e_high = stat_min(ev.inputs[1]), stat_max(ev.inputs[1])
        if e_low == e_high and float(e_low).is_integer():
            return None
        exponent = fmt(e_low) if e_low == e_high else f"in [{fmt(e_low)}, {fmt(e_high)}]"
        return "domain_error", (
            f"base min {fmt(low)} < 0 with exponent {exponent}: a negative number has no real "
            "non-integer power → nan")
    if ev.op in POLE_OPS:
        return _pole(ev, x, low)
    return None


def _pole(ev, x, low):
    """lgamma/digamma/polygamma are infinite at 0 and the negative integers;
    a negative minimum that is not an integer only suggests one, so it is
    claimed only where overflow cannot explain the result instead."""
    if x.zero_count:
        where, evidence = "0", zeros_of(x)
    elif low < 0 and low.is_integer():
        where, evidence = fmt(low), f"input min {fmt(low)}"
    elif low < 0 and _overflow_bound(ev) is None:
        where, evidence = "a negative integer", f"{x.negative_count} of {x.size} values are negative (min {fmt(low)})"
    else:
        return None
    return "domain_error", (
        f"{evidence}: {ev.op.lower()} has a pole at {where} (it is infinite at 0, -1, -2, ...) → {ev.result}")


def _divisor(ev):
    """(numerator or None, divisor) of an op that divides; None otherwise."""
    if ev.op in ("Reciprocal", "Inv", "Rsqrt") and ev.inputs:
        return None, ev.inputs[0]
    if ev.op == "SqrtGrad" and len(ev.inputs) == 2:
        return ev.inputs[1], ev.inputs[0]  # dy * 0.5 / y, y = sqrt(x)
    if ev.op in DIV_OPS and len(ev.inputs) >= 2:
        return ev.inputs[0], ev.inputs[-1]
    return None


def _division_by_zero(ev):
    if ev.op == "Mean" and ev.inputs and ev.inputs[0].size == 0 and ev.made_nan:
        return "division_by_zero", "Mean of an empty tensor (0 values) divides a sum of 0 by a count of 0 → 0/0 = nan"
    if ev.op == "Pow":
        return _zero_to_negative_power(ev)
    found = _divisor(ev)
    if not found or not found[1].zero_count:
        return None
    numerator, divisor = found
    results = []
    if ev.op in ("FloorMod", "Mod", "TruncateMod"):
        results += ["x mod 0 = nan"] if ev.made_nan else []
    elif ev.made_inf:
        results.append({"Reciprocal": "1/0 = inf", "Inv": "1/0 = inf", "Rsqrt": "1/sqrt(0) = inf",
                        "SqrtGrad": "dy·0.5/0 = inf (sqrt's slope at 0 is infinite)"}.get(ev.op, "x/0 = inf"))
    if ev.made_nan and numerator is not None and numerator.zero_count and ev.op in ("RealDiv", "Div", "FloorDiv", "TruncateDiv"):
        results.append("0/0 = nan")
    if not results:
        return None
    smallest = fmt(divisor.min_abs_nonzero) if divisor.HasField("min_abs_nonzero") else "0.0"
    return "division_by_zero", (
        f"divisor {divisor.name or ''} has {zeros_of(divisor)} (min |d| {smallest}) → "
        + ", ".join(results) + _gradient_hint(ev.incident))


def _zero_to_negative_power(ev):
    if len(ev.inputs) < 2 or not ev.made_inf:
        return None
    base, low = ev.inputs[0], stat_min(ev.inputs[1])
    if not base.zero_count or low is None or low >= 0:
        return None
    return "division_by_zero", (
        f"base has {zeros_of(base)} and exponent min {fmt(low)} < 0 → 0 ** {fmt(low)} = 1/0 = inf"
        + (" (the gradient p·x^(p-1) of x^p at x = 0 for p < 1)" if ev.incident.phase == "backward" else ""))


def _gradient_hint(incident):
    """What a gradient's division computes, recognised from its producers in
    the recorded graph (TF builds acos/asin/atanh gradients from plain ops)."""
    chain = _producer_chain(incident)
    if incident.op.type in ("Reciprocal", "Inv") and chain[:2] == ["Sqrt", "Sub"]:
        return "; 1/sqrt(1 - x²) is the gradient of acos/asin, infinite at x = ±1"
    if incident.op.type in ("Reciprocal", "Inv") and chain[:2] == ["Sub", "Square"]:
        return "; 1/(1 - x²) is the gradient of atanh, infinite at x = ±1"
    return ""


def _producer_chain(incident, depth=3):
    """Op types up the origin's line of sole producers (Identity skipped)."""
    types = {node.name: node.type for node in incident.graph.nodes}
    producers = {}
    for edge in incident.graph.edges:
        producers.setdefault(edge.target, []).append(edge.source)
    name, chain = incident.op.name, []
    for _ in range(4 * depth):  # bounded even if the graph were malformed
        sources = producers.get(name, [])
        if len(sources) != 1 or len(chain) == depth:
            break
        name = sources[0]
        if types.get(name) != "Identity":
            chain.append(types.get(name))
    return chain


def _exp_overflow(ev):
    if ev.op not in EXP_OPS or not ev.inputs or not ev.made_inf:
        return None
    arg = ev.inputs[0]
    high = stat_max(arg) if ev.op in ("Exp", "Expm1") else largest(arg)  # cosh/sinh grow both ways
    limit = math.log(DTYPE_MAX.get(arg.dtype, DTYPE_MAX["float32"]))
    if ev.op in ("Sinh", "Cosh"):
        limit += math.log(2)  # they are exp(|x|) / 2
    if high is None or high <= limit:
        return None
    shown = "input max" if ev.op in ("Exp", "Expm1") else "largest |x|"
    return "exp_overflow", f"{shown} {fmt(high)} > log({arg.dtype} max) = {limit:.1f} → exp overflows to inf"


def _division_overflow(ev):
    """A divisor that is not 0 but so close to it that the quotient exceeds
    the dtype's max (1/x in float16 for |x| < 1.5e-5), including the
    gradients of 1/x and 1/sqrt(x), -dy·y² and -dy·y³/2 with y = 1/x resp.
    1/sqrt(x)."""
    if not ev.made_inf or not ev.inputs:
        return None
    if ev.op in ("ReciprocalGrad", "RsqrtGrad") and len(ev.inputs) == 2:
        y, dy = ev.inputs
        power, scale = (2, 1.0) if ev.op == "ReciprocalGrad" else (3, 0.5)
        bound = safe_log(scale * largest(dy)) + power * safe_log(largest(y))
        how = (f"{ev.op} computes {'' if scale == 1 else '0.5·'}dy·y^{power} with |y| up to {fmt(largest(y))} "
               f"(its x as close to 0 as {fmt(largest(y) ** -(power - 1))}) and |dy| up to {fmt(largest(dy))}")
    else:
        found = _divisor(ev)
        if not found or not found[1].HasField("min_abs_nonzero") or ev.op.endswith("Mod"):
            return None
        numerator, divisor = found
        top = (largest(numerator) if numerator is not None else 1.0) * (0.5 if ev.op == "SqrtGrad" else 1.0)
        bound = safe_log(top) - safe_log(divisor.min_abs_nonzero) * (0.5 if ev.op == "Rsqrt" else 1.0)
        how = (f"smallest non-zero |divisor| {fmt(divisor.min_abs_nonzero)}"
               + (f", largest |numerator| {fmt(top)}" if numerator is not None else ""))
    if bound < math.log(ev.limit) - ROUNDING_SLACK:
        return None
    return "division_overflow", f"{how} → |result| up to {fmt_log(bound)}{_against_max(ev, bound)}"


# Rounding can carry a result whose exact value is a little under the max
# over it (a float16 sum of many terms); a bound within 2x still counts.
ROUNDING_SLACK = math.log(2)
# Without a bound for the op, finite outputs this close to the max make
# overflow the likely reading.
NEAR_MAX = 0.01


def _against_max(ev, log_bound):
    relation = "over" if log_bound >= math.log(ev.limit) else "within rounding of"
    return f", {relation} {ev.dtype} max {ev.limit:g} → {ev.result}"


def _log_sum(logs):
    """log(sum(exp(l))) without overflowing."""
    top = max(logs)
    return top if top == -math.inf else top + math.log(sum(math.exp(v - top) for v in logs))


def _overflow_bound(ev):
    """(log of an upper bound on |result| from the inputs' largest finite
    |x|, how the op combines them), or None for ops with no such bound."""
    op, inputs = ev.op, ev.inputs
    logs = [safe_log(largest(s)) for s in inputs]
    if not inputs:
        return None
    if op in REDUCTION_OPS or op == "L2Loss":
        power = 2 if op == "L2Loss" else 1
        return power * logs[0] + safe_log(inputs[0].size), f"sums up to {inputs[0].size} of them"
    if op in ("Add", "AddV2", "Sub", "AddN", "BiasAdd"):
        return _log_sum(logs), "adds them"
    if op in ("Mul", "MulNoNan") and len(inputs) == 2:
        return sum(logs), "multiplies them"
    if op == "Square":
        return 2 * logs[0], "squares it"
    if op == "SquaredDifference":
        return 2 * _log_sum(logs), "squares their difference"
    if op in CONTRACTION_OPS and len(inputs) >= 2:
        products = logs[0] + logs[1] + safe_log(min(inputs[0].size, inputs[1].size))
        return _log_sum([products] + logs[2:]), f"sums up to {min(inputs[0].size, inputs[1].size)} products"
    if op == "Cast":
        return logs[0], f"converts it to {ev.dtype}"
    if op == "Pow" and len(inputs) == 2:
        base, exponent = inputs
        magnitudes = [logs[0]] + ([safe_log(base.min_abs_nonzero)] if base.HasField("min_abs_nonzero") else [])
        corners = [e * m for e in (stat_min(exponent), stat_max(exponent)) if e is not None for m in magnitudes
                   if e and m != -math.inf]
        return max(corners, default=0.0), "raises it to the exponent"
    if op == "Lgamma":
        return (logs[0] + safe_log(safe_log(largest(inputs[0]))) if logs[0] > 1 else 1.0), "≈ x·log(x) for large x"
    return None


def _float_overflow(ev):
    sums = CONTRACTION_OPS | REDUCTION_OPS  # overflowing partial sums of both signs give nan
    if not ev.inputs or not (ev.made_inf or ev.made_nan and ev.op in sums):
        return None
    biggest = max(largest(s) for s in ev.inputs)
    bound = _overflow_bound(ev)
    if bound is not None:
        log_bound, how = bound
        if log_bound < math.log(ev.limit) - ROUNDING_SLACK:
            return None  # the inputs cannot reach the max: not an overflow
        return "float_overflow", (
            f"all inputs finite (largest |x| {fmt(biggest)}); {ev.op} {how} → |result| up to "
            f"{fmt_log(log_bound)}{_against_max(ev, log_bound)}")
    outputs = max((largest(s) for s in ev.incident.outputs), default=0.0)
    if max(outputs, biggest) >= NEAR_MAX * ev.limit:
        return "float_overflow", (
            f"all inputs finite (largest |x| {fmt(biggest)}), finite outputs up to {fmt(outputs)}: "
            f"{ev.op} works at {max(outputs, biggest) / ev.limit:.0%} of {ev.dtype} max {ev.limit:g}, "
            f"so its other results likely went over it → {ev.result}")
    return None


def unexplained(ev):
    """The summary for `unknown`: what the op received, and why overflow is ruled out."""
    described = "; ".join(describe_input(s) for s in ev.inputs) or "no float inputs"
    bound = _overflow_bound(ev) if ev.inputs else None
    why_not = ""
    if bound and bound[0] < math.log(ev.limit) - ROUNDING_SLACK:
        why_not = (f"; its result is at most {fmt_log(bound[0])}, below {ev.dtype} max {ev.limit:g}, "
                   "so it is not an overflow")
    elif bound:
        why_not = f"; its result can reach {fmt_log(bound[0])}, but an overflow gives inf, not nan"
    return f"{ev.op} produced {ev.result} from finite inputs ({described}){why_not}."


# Tried in this order; the first that claims the incident names its cause.
RULES = (_from_nonfinite_inputs, _log_of_nonpositive, _sqrt_of_negative, _domain_error,
         _division_by_zero, _exp_overflow, _division_overflow, _float_overflow)

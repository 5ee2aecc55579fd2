"""Which layer outputs the health row may read without changing training.

TensorFlow's graph optimizer (grappler) rewrites a producer together with
its consumer only while the producer's output has that one consumer: the
arithmetic optimizer regroups chains of adds and multiplies (BatchNorm's
`x * inv + (offset - mean * inv)` feeding a residual `Add`), constant
folding pushes constants down such chains, the remapper fuses convolution,
bias, batch norm and activation. Each regrouping rounds differently. A
reduction the health row adds to such an output is a second consumer: the
rewrite no longer happens and the weights end different (MobileNetV3Small:
150 of 210 arrays after one Adam step; all equal with grappler's
arithmetic optimization and constant folding off in both runs).

So an output is read only where another consumer cannot change what the
optimizer does with it: it already has two or more consumers (most layer
outputs in training: the next layer and the gradient op that needs them),
or its one consumer is an op no rewrite merges with its input's producer.
"""

# Ops whose use of a tensor the optimizer removes: a static shape is folded
# to a constant, an identity is forwarded to its consumers.
SHAPE_READERS = frozenset({"Shape", "ShapeN", "Size", "Rank"})
FORWARDING = frozenset({"Identity", "Snapshot", "StopGradient"})
# Single consumers that are never rewritten together with their input's
# producer: matrix products read it whole, reductions and concatenation
# only gather it.
SAFE_SOLE_CONSUMERS = frozenset({
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Mean", "Sum", "Max", "Min",
    "ConcatV2", "Pack", "GatherV2", "Einsum",
})


def _live(op):
    """Whether `op` can matter to the step: it writes state or has a consumer
    (an op whose outputs nobody reads is pruned before optimization)."""
    return not op.outputs or any(t.consumers() for t in op.outputs)


def consumers(tensor, ignore_prefix):
    """Distinct live consumer ops of `tensor`, identities looked through,
    shape reads and ops named under `ignore_prefix` (the health row) left
    out. A lower bound of what the optimizer sees, never a higher one."""
    found = {}
    for op in tensor.consumers():
        if ignore_prefix and op.name.startswith(ignore_prefix) or op.type in SHAPE_READERS or not _live(op):
            continue
        if op.type in FORWARDING:
            inner = [c for t in op.outputs for c in consumers(t, ignore_prefix)]
            if len(inner) == 1:
                found[inner[0].name] = inner[0]
            elif inner:
                found[op.name] = op  # at least this one edge
            continue
        found[op.name] = op
    return list(found.values())


def readable(tensor, ignore_prefix):
    """Whether one more consumer of `tensor` leaves the optimizer's rewrites
    of the step as they are."""
    ops = consumers(tensor, ignore_prefix)
    return len(ops) >= 2 or (len(ops) == 1 and ops[0].type in SAFE_SOLE_CONSUMERS)

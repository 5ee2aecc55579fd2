"""The failing step's graph around the origin op, for the viewer's graph.

Walks the traced FuncGraph from the origin: upstream to the batch and the
variables (all finite: the origin is the first non-finite op), downstream
along every consumer (where the NaN/Inf propagated: loss, gradients,
updates). nantrace's own ops live under the `nantrace` name scope and are
left out.
"""

import re
from collections import deque

from tb_nantrace.proto import nantrace_pb2

MAX_UPSTREAM = 2500
MAX_DOWNSTREAM = 2500
OWN_SCOPE = "nantrace"  # instrument.OWN_SCOPE
_OWN = re.compile(OWN_SCOPE + r"(_\d+)?")
INPUT_OPS = {"Placeholder", "IteratorGetNext", "IteratorGetNextSync", "OptionalGetValue",
             "MultiDeviceIteratorGetNextFromShard"}
VARIABLE_OPS = {"ReadVariableOp", "VarHandleOp", "ResourceGather"}
STOP_OPS = {"Const"}  # not worth a node


def _own(op):
    # Re-entered name scopes get suffixes: nantrace, nantrace_1, ...
    return any(_OWN.fullmatch(part) for part in op.name.split("/"))


def _producers(op):
    return [t.op for t in op.inputs]


def _consumers(op):
    return [consumer for t in op.outputs for consumer in t.consumers()]


def _walk(start, neighbours, limit):
    """Breadth-first from `start`, not past inputs and variables; at most
    `limit` ops. Returns ({name: op}, truncated)."""
    seen, queue, truncated = {start.name: start}, deque([start]), False
    while queue:
        op = queue.popleft()
        for other in neighbours(op):
            if _own(other) or other.type in STOP_OPS or other.name in seen:
                continue
            if len(seen) >= limit:
                truncated = True
                continue
            seen[other.name] = other
            if other.type not in INPUT_OPS and other.type not in VARIABLE_OPS:
                queue.append(other)
    return seen, truncated


def _state(op):
    if op.type in INPUT_OPS:
        return "input"
    return "variable" if op.type in VARIABLE_OPS else "finite"


def capture(graph, origin_name, describe):
    """IncidentGraph around `origin_name` in `graph`; `describe(op)` gives
    (layer, phase) for an op. None if the op is not in the graph."""
    try:
        origin = graph.get_operation_by_name(origin_name)
    except (KeyError, ValueError):
        return None
    upstream, up_cut = _walk(origin, _producers, MAX_UPSTREAM)
    downstream, down_cut = _walk(origin, _consumers, MAX_DOWNSTREAM)
    states = {name: _state(op) for name, op in upstream.items()}
    states.update({name: "propagated" for name in downstream})
    states[origin.name] = "origin"
    ops = {**upstream, **downstream}
    result = nantrace_pb2.IncidentGraph(truncated=up_cut or down_cut)
    for name, state in states.items():
        layer, phase = describe(ops[name])
        result.nodes.add(name=name, type=ops[name].type, layer=layer or "", phase=phase or "",
                         state=state)
    edges = {(t.op.name, name) for name, op in ops.items() for t in op.inputs if t.op.name in ops}
    for source, target in sorted(edges):
        result.edges.add(source=source, target=target)
    return result

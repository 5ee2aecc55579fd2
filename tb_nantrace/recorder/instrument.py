"""The op callback: a cheap finiteness check after every floating-point op.

Graph mode (tf.function, Keras fit): at trace time every float output gets
`cond(all_finite(y), no-op, report)`, where `report` is a py_function that
only runs when the check fails, so healthy steps never leave the graph. The
conds are stateful ops without resource inputs, which TensorFlow's automatic
control dependencies run in program order; program order is a topological
order, so the first check that fails belongs to the first op that produced
a NaN/Inf from finite inputs: the origin.

Eager mode: the callback sees real values and checks them directly.
"""

import contextlib
import functools
import threading
import traceback
import weakref

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import compat, failsafe

# Ops that cannot create a non-finite value from finite inputs, or that TF's
# op callbacks cannot instrument (control flow, function calls).
SKIPPED_OPS = frozenset(
    {
        "Enter", "Exit", "Identity", "IdentityN", "If", "StatelessIf", "LoopCond",
        "Merge", "NextIteration", "Switch", "While", "StatelessWhile",
        "StatefulPartitionedCall", "PartitionedCall", "RemoteCall", "NoOp", "Const",
        "DestroyResourceOp", "Concat", "ConcatV2", "ExpandDims", "Fill", "Gather",
        "GatherV2", "Reshape", "Slice", "Squeeze", "Pack", "Unpack", "StridedSlice",
        "StridedSliceGrad", "Transpose", "Shape", "ShapeN", "Size", "Rank", "ZerosLike",
        "OnesLike", "BroadcastTo", "Tile", "StopGradient", "PreventGradient",
        "EagerPyFunc", "PyFunc", "CheckNumerics", "CheckNumericsV2",
        "TensorListConcatV2", "TensorListGather", "TensorListStack",
        "TensorListFromTensor", "TensorListGetItem", "TensorListSetItem",
        "VarHandleOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    }
)
# FusedBatchNorm's batch statistics are NaN for an empty batch by design.
IGNORED_OUTPUTS = frozenset(
    (op, slot)
    for op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
    for slot in range(1, 6)
)
# Ops that bring a batch into a graph: their outputs are the data ("input").
ITERATOR_OPS = frozenset(
    {"IteratorGetNext", "IteratorGetNextSync", "OptionalGetValue", "IteratorGetNextAsOptional",
     "MultiDeviceIteratorGetNextFromShard"}
)
# tf.data and variable initialisation graphs are not training computation.
SKIPPED_GRAPH_PREFIXES = ("Dataset_", "initialize_variables", "__inference_Dataset")

_thread = threading.local()
OWN_SCOPE = "nantrace"
# graph -> its last check op: the checks of a graph form one chain in
# program order, so waiting for the last one waits for them all.
_last_check = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def uninstrumented():
    """Ops created inside are nantrace's own: never instrumented, and named
    under a `nantrace` scope so the incident graph can leave them out."""
    previous = getattr(_thread, "inside", False)
    _thread.inside = True
    try:
        if tf.executing_eagerly():
            yield
        else:
            with tf.name_scope(OWN_SCOPE):
                yield
    finally:
        _thread.inside = previous


def is_uninstrumented():
    return getattr(_thread, "inside", False)


@contextlib.contextmanager
def unregistered():
    """Guard mode, inside the optimizer guard's apply branch: the update only
    runs after every check passed, so a replay never has to name one of its
    ops, and registering them would only lengthen the trace."""
    previous = getattr(_thread, "unregistered", False)
    _thread.unregistered = True
    try:
        yield
    finally:
        _thread.unregistered = previous


def _is_numeric(dtype):
    return (dtype.is_floating or dtype.is_integer or dtype.is_bool) and dtype != tf.resource


def _checked_outputs(op_type, outputs):
    return [
        o
        for slot, o in enumerate(outputs)
        if getattr(o, "dtype", None) is not None
        and o.dtype.is_floating
        and (op_type, slot) not in IGNORED_OUTPUTS
    ]


def dense_values(tensor):
    """The values of a gradient, also when it is sparse (an embedding's)."""
    return tensor.values if isinstance(tensor, tf.IndexedSlices) else tensor


def finite_sum(tensors):
    """One cheap verdict over many tensors: is the float32 sum of all their
    values finite? A NaN or Inf anywhere makes it non-finite (one reduction
    per tensor, where all_finite makes two and a boolean copy). Finite
    values can also overflow the sum: a False must be confirmed with
    all_finite before acting on it."""
    sums = []
    for tensor in tensors:
        tensor = dense_values(tensor)
        if tensor.dtype in (tf.float16, tf.bfloat16):
            tensor = tf.cast(tensor, tf.float32)  # a float16 sum overflows at 65504
        total = tf.reduce_sum(tensor)
        sums.append(total if total.dtype == tf.float32 else tf.cast(total, tf.float32))
    return tf.math.is_finite(sums[0] if len(sums) == 1 else tf.add_n(sums))


def all_finite_fused(tensors):
    """all_finite for an XLA-compiled step: one reduction over the values of
    every tensor, which XLA compiles into one kernel (the concat and casts
    fuse into it) where a reduction per tensor is a kernel each."""
    flat = [tf.reshape(tf.cast(dense_values(t), tf.float32), [-1]) for t in tensors]
    return tf.reduce_all(tf.math.is_finite(flat[0] if len(flat) == 1 else tf.concat(flat, 0)))


def all_finite(tensors):
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors]
    return checks[0] if len(checks) == 1 else tf.reduce_all(tf.stack(checks))


def in_replica():
    """Inside a replica of a real tf.distribute strategy (not the default)."""
    return tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()


def replica_id():
    """This replica's index under tf.distribute, else -1 (as an int32 tensor)."""
    if in_replica():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.cast(replica, tf.int32)
    return tf.constant(-1, tf.int32)


class OpCallback:
    """Installed as a TensorFlow op callback for the recording's life."""

    def __init__(self, scope, sites, steps, incidents, replayer, mode):
        self.scope = scope          # CheckScope: which ops get a check
        self.sites = sites          # SiteRegistry: what each op is
        self.steps = steps          # StepCounter
        self.incidents = incidents  # IncidentLog
        self.replayer = replayer    # Replayer: an eager op failing during a replay
        self.mode = mode
        self._pending_placeholders = {}  # graph -> [placeholder tensors]

    def install(self):
        compat.add_op_callback(self)

    def remove(self):
        compat.remove_op_callback(self)

    def __call__(self, op_type, inputs, attrs, outputs, op_name=None, graph=None):
        if is_uninstrumented() or op_type in SKIPPED_OPS:
            return None
        if graph is None and not self.scope.checks_eager_ops():
            # Keras's own eager ops between guarded steps (several a step):
            # returned before the fail-open context manager, which costs more
            # than the decision.
            return None
        with failsafe.fail_open(self.scope.note, "the op callback"):
            return self._observe(op_type, inputs, outputs, op_name, graph)
        return None  # failed: the op stays as TensorFlow made it

    def _observe(self, op_type, inputs, outputs, op_name, graph):
        if outputs is None:
            # Ops another op callback creates from inside its own callback
            # (tf.debugging.enable_check_numerics' checks) come without outputs.
            return None
        if graph is not None and getattr(_thread, "unregistered", False):
            return None
        if graph is None:  # an eager op that __call__ found checked
            with uninstrumented():
                self._check_eager(op_type, inputs, outputs)
            return None
        graph_name = getattr(graph, "name", "") or ""
        if graph_name.startswith(SKIPPED_GRAPH_PREFIXES):
            return None
        if op_type == "Placeholder":
            self._remember_placeholder(graph, outputs)
            return None
        if op_type in ITERATOR_OPS:
            # Keras fit checks its batch where the step is known (keras_hooks).
            if not self.scope.in_keras_fit:
                self._remember_input(graph, outputs)
            return None
        checked = _checked_outputs(op_type, outputs)
        if not checked:
            return None
        with uninstrumented():
            op = outputs[0].op
            raw = lambda: [(f.filename, f.lineno, f.name) for f in op.traceback]  # noqa: E731
            site = self.sites.add(
                op_type, op_name or outputs[0].op.name, list(inputs), list(outputs), raw, graph,
            )
            if not self.scope.checks_graph_ops():
                # Guarded step: the site is only remembered, so that a replay
                # can name the graph op; the running graph gets no extra op.
                site.graph_only = True
                return None
            self._flush_placeholder_checks(graph)
            numeric_inputs = [t for t in inputs if _is_numeric(t.dtype)]
            self.emit_check(site, checked, numeric_inputs, checked)
        return None

    # Graph mode ---------------------------------------------------------

    def emit_check(self, site, predicate_tensors, inputs, outputs):
        step = self.steps.step_tensor()
        replica = replica_id()
        fire = functools.partial(self._check_failed, site.id, len(inputs))

        def report():
            tf.py_function(fire, [step, replica] + list(inputs) + list(outputs), Tout=[])
            return tf.no_op()

        check = tf.cond(all_finite(predicate_tensors), tf.no_op, report)
        # Remembered so the optimizer guard can run after every check.
        _last_check[tf.compat.v1.get_default_graph()] = (
            check if isinstance(check, tf.Operation) else check.op)

    def _check_failed(self, site_id, n_inputs, step, replica, *tensors):
        """Runs (inside a py_function) only when an op check failed."""
        with failsafe.fail_open(self.scope.note, "recording a failed op check"):
            self._record_failed_check(site_id, n_inputs, step, replica, *tensors)

    def _record_failed_check(self, site_id, n_inputs, step, replica, *tensors):
        site = self.sites.sites[site_id]
        if self.scope.loss_scaling and site.phase == "backward":
            return  # loss-scale overflow: the LossScaleOptimizer skips the step
        with uninstrumented():
            arrays = [t.numpy() for t in tensors]
            # A bad batch is caught by the guard's own input check in both modes.
            mode = self.mode if site.phase == "input" else "exact"
            self.incidents.record(site, int(step.numpy()), arrays[:n_inputs], arrays[n_inputs:],
                                  mode, replica=int(replica.numpy()))

    def _remember_placeholder(self, graph, outputs):
        # Function arguments (the batch, in a custom loop) are checked once the
        # function body starts, where the step counter can be read.
        if type(graph).__name__ != "FuncGraph":
            return
        self._remember_input(graph, outputs)

    def _remember_input(self, graph, outputs):
        floats = [o for o in outputs if o.dtype.is_floating]
        if floats:
            self._pending_placeholders.setdefault(graph, []).extend(floats)

    def _flush_placeholder_checks(self, graph):
        for tensor in self._pending_placeholders.pop(graph, []):
            site = self.sites.add_input(tensor.op.name, tensor)
            self.emit_check(site, [tensor], [], [tensor])

    @staticmethod
    def checks_done():
        """Control dependency that holds until every check emitted so far in
        this graph has run (they form one chain in program order)."""
        last = _last_check.get(tf.compat.v1.get_default_graph())
        return [last] if last is not None else []

    def forget_placeholders(self, graph):
        self._pending_placeholders.pop(graph, None)

    # Eager mode ---------------------------------------------------------

    def _check_eager(self, op_type, inputs, outputs):
        checked = _checked_outputs(op_type, outputs)
        if not checked:
            return
        replaying = self.scope.is_replaying
        failed = not all(np.isfinite(o.numpy()).all() for o in checked)
        if not (failed or replaying):
            return
        raw = [(f.filename, f.lineno, f.name) for f in traceback.extract_stack()[:-3]]
        site = self.sites.build(op_type, "", [], list(outputs), raw, depth=4)
        ordinal = self.scope.count_replayed_op(site) if replaying else 0
        if not failed:
            return
        numeric_inputs = [t for t in inputs if _is_numeric(t.dtype)]
        site.input_names = [f"input_{i}" for i in range(len(numeric_inputs))]
        input_values = [t.numpy() for t in numeric_inputs]
        output_values = [o.numpy() for o in outputs]
        if replaying:
            self.replayer.found(site, ordinal, input_values, output_values)
        # Exact checking of eager code: the error is raised from the user's line.
        if self.incidents.record(site, self.steps.eager_step(), input_values, output_values,
                                 "exact"):
            self.incidents.flush()
            raise self.incidents.abort()

"""Every private Keras / TensorFlow access of the recorder, in one place.

When a Keras or TensorFlow release moves something, this is the file to
look at. Each entry says what it is for and the versions it was checked
against (TensorFlow 2.16-2.21, Keras 3.x up to 3.15). The patches of public
classes (`Model.fit`, `Layer.__call__`, `Optimizer.apply`) live with the
hooks that install them, in keras_hooks.py and optimizer_guard.py.
"""

import contextlib

import tensorflow as tf
from tensorflow.python.framework import op_callbacks as _op_callbacks
from tensorflow.python.ops import gen_summary_ops as _gen_summary_ops
from tensorflow.python.ops import resource_variable_ops as _resource_variable_ops

# Trainer._compute_loss(x, y, y_pred, sample_weight, training): the loss of
# one batch, called by every built-in train_step (Keras 3.0-3.15). The
# recorder wraps it per model to check the loss where it is made.
LOSS_METHOD = "_compute_loss"


def add_op_callback(callback):
    """The mechanism behind tf.debugging.enable_check_numerics: `callback`
    sees every op as it is created in a graph, or run eagerly (TF 2.16-2.21)."""
    _op_callbacks.add_op_callback(callback)


def remove_op_callback(callback):
    _op_callbacks.remove_op_callback(callback)


def all_layers(model, include_self=True):
    """Every layer of `model`, nested models included (Keras 3.0-3.15:
    Layer._flatten_layers; there is no public equivalent that recurses)."""
    return list(model._flatten_layers(include_self=include_self, recursive=True))


def distribute_strategy(model):
    """The strategy the model was compiled under, or None (Keras 3.x:
    Trainer._distribute_strategy)."""
    return model._distribute_strategy


def optimizer_variables(optimizer):
    """The variables a built optimizer updates (Keras 3.x:
    BaseOptimizer._trainable_variables)."""
    return list(optimizer._trainable_variables)


def read_variables(variables):
    """Eager reads of `variables`, one ReadVariableOp on each handle: a
    third of what tf.convert_to_tensor costs per variable (~10 vs ~26 µs:
    no Keras / tf.Variable layers, no gradient-tape bookkeeping), and
    cheaper than one compiled call that reads them all. A Keras variable's
    `value` is its tf.Variable outside an autocast scope (TF backend,
    checked on Keras 3.15); a plain tf.Variable is read on its own handle;
    anything else (a distributed variable, an autocast value, another
    Keras) is read the usual way. Like any read, the result shares the
    variable's buffer until the variable is next written (copy on write)."""
    values = []
    for variable in variables:
        inner = variable if _is_plain(variable) else getattr(variable, "value", None)
        if _is_plain(inner):
            values.append(tf.raw_ops.ReadVariableOp(resource=inner.handle, dtype=inner.dtype))
        else:
            values.append(tf.convert_to_tensor(variable))
    return values


def write_summary(writer, tag, payload, step, metadata):
    """What tf.summary.write records, as its one WriteSummary op on
    `writer` (a tf.summary file writer: its `_resource`, TF 2.16-2.21):
    the same event, without the wrapper's identity, cond and constant ops,
    which cost ~3 ms between two steps of a fit (each eager op there can
    wait for a CPU thread). `payload` and `metadata` are serialized protos."""
    with tf.device("cpu:0"):
        _gen_summary_ops.write_summary(
            writer._resource, tf.constant(step, tf.int64), tf.constant(payload, tf.string),
            tag, metadata)


def _is_plain(variable):
    return type(variable) is _resource_variable_ops.ResourceVariable


@contextlib.contextmanager
def check_numerics_paused(note):
    """tf.debugging.enable_check_numerics uses the same op-callback mechanism
    and raises at the first NaN/Inf, before nantrace's guard has seen the
    step. While nantrace records, it checks the same ops: check_numerics is
    paused (and `note` says so), then enabled again with its own limits
    (TF 2.16-2.21: check_numerics_callback._state.check_numerics_callback)."""
    from tensorflow.python.debug.lib import check_numerics_callback

    active = getattr(check_numerics_callback._state, "check_numerics_callback", None)
    if active is None:
        yield
        return
    check_numerics_callback.disable_check_numerics()
    note("tf.debugging.enable_check_numerics is paused while nantrace records "
         "(nantrace checks the same ops and records the origin); it is enabled again afterwards")
    try:
        yield
    finally:
        check_numerics_callback.enable_check_numerics(
            stack_height_limit=active._stack_height_limit,
            path_length_limit=active._path_length_limit)


def keras_fit_locals(model):
    """Where Keras's `fit` is in its loop while one of its steps ends: the
    arguments it slices batches from and its position (Keras 3.x TensorFlow
    trainer: the locals `x`, `y`, `sample_weight`, `batch_size`, `shuffle`,
    `epoch`, `begin_step`, `epoch_iterator` of Trainer.fit, read from its
    frame up the stack). None outside `model.fit`. Used only off the
    training path (at an incident, or every few steps for a snapshot)."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        f_locals = frame.f_locals if frame.f_code.co_name == "fit" else {}
        if f_locals.get("self") is model and "epoch_iterator" in f_locals:
            names = ("x", "y", "sample_weight", "batch_size", "shuffle", "epoch", "begin_step",
                     "epoch_iterator")
            return {name: f_locals.get(name) for name in names}
        frame = frame.f_back
    return None


def unlowered(cond_result):
    """Keep a failure-only `tf.cond` as one If op. TensorFlow lowers a cond
    into Switch/Merge nodes (cond_v2 sets `_lower_using_switch_merge`):
    cheap for a branch taken every step, but one Switch node runs per input
    the branches capture, on every step, taken or not. A branch that runs
    only on failure and captures many tensors (the state a failed step puts
    back) costs less as one If op (TF 2.16-2.21; XLA compiles either)."""
    from tensorflow.core.framework import attr_value_pb2

    op = getattr(cond_result, "op", cond_result)
    while op.type not in ("If", "StatelessIf") and op.inputs:
        op = op.inputs[0].op
    if op.type in ("If", "StatelessIf"):
        op._set_attr("_lower_using_switch_merge", attr_value_pb2.AttrValue(b=False))
    return cond_result


# Variables at least this large are updated out of place (out_of_place_updates).
OUT_OF_PLACE_ELEMENTS = 1 << 14


@contextlib.contextmanager
def out_of_place_updates():
    """While the guarded update is traced, the TensorFlow optimizer's dense
    `assign_add` / `assign_sub` (keras.src.backend.tensorflow.optimizer.
    TFOptimizer, Keras 3.0-3.15; every built-in optimizer updates through
    them) write `v + delta` into a new buffer that the variable adopts,
    instead of adding in place. Same values, same passes over memory; but
    the update guard holds every updated variable's value from before the
    update, and an in-place add into a held buffer copies the whole buffer
    first (copy on write): one extra pass over the optimizer state per step,
    measured at ~5% of a small MLP's step. Sparse updates, and variables
    under OUT_OF_PLACE_ELEMENTS, stay in place: out of place costs two more
    ops (a read and an add), more than copying a small buffer."""
    try:
        from keras.src import backend
        from keras.src.backend.tensorflow.optimizer import TFOptimizer
    except ImportError:  # another Keras layout: in place, as before
        yield
        return
    import tensorflow as tf

    originals = {name: TFOptimizer.__dict__.get(name) for name in ("assign_add", "assign_sub")}
    if None in originals.values():
        yield
        return

    def out_of_place(name, combine):
        def assign(self, variable, value):
            target = variable.value if isinstance(variable, backend.Variable) else variable
            if (isinstance(value, tf.IndexedSlices) or not isinstance(target, tf.Variable)
                    or (target.shape.num_elements() or 0) < OUT_OF_PLACE_ELEMENTS):
                return originals[name](self, variable, value)
            target.assign(combine(target, tf.cast(value, target.dtype)))
        return assign

    TFOptimizer.assign_add = out_of_place("assign_add", lambda v, d: v + d)
    TFOptimizer.assign_sub = out_of_place("assign_sub", lambda v, d: v - d)
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(TFOptimizer, name, original)

"""Per-step health of a Keras model, computed inside the traced step.

Each step writes one row into a ring buffer on the device: no host sync.
The loss and the gradient norm (metadata.EVERY_STEP_COLUMNS) are measured
on every step: they are what moves first before a NaN, and cost a few ops. The per-layer
columns (activation extremes, per-layer gradient and weight norms, update
ratios, input scales: several ops per layer, some passing over a whole
activation) are measured every `every` steps (LAYER_EVERY by default) and on
a step the guard refuses, inside one If op; on the other rows they are NaN
and the row's `all_measured` flag is 0. The host side (health_monitor.py)
reads the ring now and then: the rows feed the sampled long-horizon
timeline and the early warnings, and the ring itself is the flight
recorder written with an incident.
"""

import keras
import numpy as np
import tensorflow as tf

from tb_nantrace import metadata
from tb_nantrace.recorder import compat, instrument, observation

WINDOW = 256       # steps of full-resolution history kept (flight recorder)
LAYER_EVERY = 8    # default steps between rows with the per-layer columns
# A ring row: [metric columns..., all_measured flag, step // STEP_RADIX,
# step % STEP_RADIX]. The step rides in the row as two float32 values that
# hold it exactly (float32 holds every integer below 2**24), so a row is
# one scatter on the device and the whole ring one read on the host.
STEP_RADIX = 2 ** 24
TRAILING_COLUMNS = 3

RELU_LIKE = {"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu"}
PROBABILITY = {"sigmoid", "softmax", "hard_sigmoid"}
NON_NEGATIVE = {"relu", "relu6"} | PROBABILITY  # max |x| is max x
# ReLU zero fraction: measured on the batch's first rows, up to this many
# values (exact for small layers; an estimate for big conv outputs, where a
# full pass costs as much as a layer). "Dead" is judged from max |x| = 0,
# which sees every value.
ZERO_FRACTION_SAMPLE = 16384
# Layers whose outputs are values of their input (moved, picked or padded
# with zeros): nothing new to see, so no ops are spent on them.
SHAPE_ONLY = tuple(
    getattr(keras.layers, name) for name in (
        "Flatten", "Reshape", "Permute", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Cropping1D",
        "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    ) if hasattr(keras.layers, name)
)
# Columns the device stores in the form cheapest to compute there, and what
# the host turns them into: tf.nn.l2_loss gives sum(x^2) / 2.
FROM_HALF_SQUARES = {"grad_norm", "weight_norm"}   # stored sum(x^2)/2 -> norm
FROM_SQUARED_RATIO = {"update_ratio"}              # stored (u/w)^2 -> u/w


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) or type(layer).__name__.lower()
    return name.lower()


def _leading_rows(tensor, elements):
    """The first rows of a batch holding at least `elements` values (all of
    it when it is smaller, or when its row size is not known at trace time)."""
    shape = tensor.shape
    if shape.rank is None or shape.rank < 2 or not shape[1:].is_fully_defined():
        return tensor
    rows = -(-elements // max(1, shape[1:].num_elements()))
    if shape[0] is not None and rows >= shape[0]:
        return tensor
    return tensor[:rows]


def _sum(tensors):
    return tensors[0] if len(tensors) == 1 else tf.add_n(tensors)


class HealthProbe:
    """Column layout and device ring buffer of one model."""

    def __init__(self, model, window=WINDOW, every=LAYER_EVERY, note=None):
        self.window = window
        self.every = every  # all columns every `every` steps, EVERY_STEP_COLUMNS always
        self.note = note  # says which layers are not measured, and why
        self.unmeasured = {}  # layer name -> None, in order
        self._scope = None  # name scope of the row's ops while they are built
        self.metrics, self.layers = [], []
        self._index = {}
        for metric in ("loss", "grad_norm", "input_max_abs", "input_scale_spread"):
            self._add(metric, "")
        self._observed = {}
        self.variable_layer = {}
        for layer in compat.all_layers(model, include_self=False):
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if isinstance(layer, SHAPE_ONLY) and not layer.trainable_weights:
                continue
            kind = _activation_name(layer)
            columns = ["act_max_abs"]
            if kind in RELU_LIKE:
                columns.append("act_zero_frac")
            if kind in PROBABILITY:
                columns.append("saturated")
            if layer.trainable_weights:
                columns += ["grad_norm", "grad_nonfinite", "weight_norm", "update_ratio"]
                for variable in layer.trainable_weights:
                    self.variable_layer[id(variable)] = layer.name
            self._observed[id(layer)] = (layer.name, kind)
            for metric in columns:
                self._add(metric, layer.name)
        self.dtype = str(getattr(model, "compute_dtype", "float32"))
        empty = np.zeros([window, len(self.metrics) + TRAILING_COLUMNS], np.float32)
        empty[:, -2] = -1  # an empty slot's step is negative
        with tf.init_scope():
            self.ring = tf.Variable(empty, trainable=False, name="nantrace_health")

    def _add(self, metric, layer):
        self._index[(metric, layer)] = len(self.metrics)
        self.metrics.append(metric)
        self.layers.append(layer)

    def put(self, values, metric, layer, tensor):
        index = self._index.get((metric, layer))
        if index is not None:
            if tensor.shape.rank != 0:
                tensor = tf.reshape(tensor, [])
            values[index] = tf.cast(tensor, tf.float32)

    # Trace time -----------------------------------------------------------
    # Every op here runs on every step and is built at trace time: the row
    # is kept to a few ops per layer (no copies, no per-op Python loops).

    def observe_activation(self, values, layer, outputs):
        known = self._observed.get(id(layer))
        if known is None:
            return
        name, kind = known
        tensors = [t for t in tf.nest.flatten(outputs) if isinstance(t, tf.Tensor) and t.dtype.is_floating]
        if not tensors:
            return
        out = tensors[0]
        if not observation.readable(out, self._scope):
            self.unmeasured[name] = None
            return
        # A conv layer's output is the largest tensor of a small model: each
        # full pass over it costs about as much as a layer (~0.1-0.5 ms on
        # CPU), so one reduction where the sign is known, two otherwise.
        largest = tf.reduce_max(out)
        if kind not in NON_NEGATIVE:
            largest = tf.maximum(largest, -tf.reduce_min(out))
        self.put(values, "act_max_abs", name, largest)
        if kind in RELU_LIKE:
            sample = _leading_rows(out, ZERO_FRACTION_SAMPLE)
            # Not tf.math.zero_fraction: it builds a cond (int32 or int64
            # count) per call, a branch function to trace and run.
            zeros = tf.cast(tf.equal(sample, 0), tf.float32)
            self.put(values, "act_zero_frac", name, tf.reduce_mean(zeros))
        if kind in PROBABILITY:
            saturated = tf.logical_or(tf.equal(out, 0), tf.equal(out, 1))
            self.put(values, "saturated", name, tf.reduce_sum(tf.cast(saturated, tf.float32)))

    def observe_inputs(self, values, x):
        x = tf.cast(x, tf.float32)
        magnitude = tf.abs(tf.reshape(x, [tf.shape(x)[0], -1]))
        per_feature = tf.reduce_max(magnitude, axis=0)
        largest = tf.reduce_max(per_feature)
        smallest = tf.reduce_min(tf.where(per_feature > 0, per_feature, np.inf))
        spread = tf.where(tf.math.is_finite(smallest) & (smallest > 0), largest / smallest, 1.0)
        self.put(values, "input_max_abs", "", largest)
        self.put(values, "input_scale_spread", "", spread)

    def gradient_halves(self, grads, variables):
        """{layer: [sum(g^2) / 2 per gradient]} of a step ("" for variables
        of no observed layer): built once, read by both columns below."""
        halves = {}
        for grad, variable in zip(grads, variables):
            if grad is not None:
                layer = self.variable_layer.get(id(variable), "")
                halves.setdefault(layer, []).append(
                    tf.nn.l2_loss(tf.cast(instrument.dense_values(grad), tf.float32)))
        return halves

    def observe_gradient_norm(self, values, halves):
        """The gradient norm of the whole model (measured on every step)."""
        parts = [half for layer_parts in halves.values() for half in layer_parts]
        if parts:
            self.put(values, "grad_norm", "", _sum(parts))

    def observe_gradients(self, values, halves):
        """Gradient norms per layer. The non-finite counts are 0 whenever the
        guard lets a step through; a refused step's real counts come from
        the host (HealthMonitor.note_bad_gradients)."""
        zero = tf.constant(0.0)
        for layer, parts in halves.items():
            if layer:  # "" is the whole model's column: observe_gradient_norm
                self.put(values, "grad_norm", layer, _sum(parts))
                self.put(values, "grad_nonfinite", layer, zero)

    def observe_weights(self, values, variables, before, after=None):
        """Weight norm and update/weight ratio per layer after an update,
        from the values `before` it (both as l2_loss halves; see read()) and
        `after` it (read here if not given)."""
        per_layer = {}
        after = after or [None] * len(variables)
        for variable, old, new in zip(variables, before, after):
            layer = self.variable_layer.get(id(variable))
            if layer is None:
                continue
            new = tf.cast(tf.convert_to_tensor(variable) if new is None else new, tf.float32)
            weights, updates = per_layer.setdefault(layer, ([], []))
            weights.append(tf.nn.l2_loss(new))
            updates.append(tf.nn.l2_loss(new - tf.cast(old, tf.float32)))
        for layer, (weights, updates) in per_layer.items():
            weight = _sum(weights)
            self.put(values, "weight_norm", layer, weight)
            self.put(values, "update_ratio", layer, _sum(updates) / tf.maximum(weight, 1e-30))

    def write_row(self, every_step, sampled, step, verdict=None):
        """Build the row and write it: the `every_step` builders' columns on
        every step, the `sampled` builders' on sampled steps and on a step
        the guard refused (verdict False), so an incident's row has them."""
        with tf.name_scope("nantrace_health") as self._scope:
            self._write_row(every_step, sampled, step, verdict)
        self._scope = None
        if self.unmeasured and self.note is not None:
            count = f"{len(self.unmeasured)} layer" + ("s are" if len(self.unmeasured) > 1 else " is")
            self.note(f"health timeline: the activations of {count} not measured: each one's "
                      "output has a single consumer that TensorFlow's graph "
                      "optimizer may rewrite together with it, and reading it would change the "
                      "rounding of training: " + ", ".join(self.unmeasured))

    def _write_row(self, every_step, sampled, step, verdict):
        values = {}
        for build in every_step:
            build(values)
        if self.every == 1:
            for build in sampled:
                build(values)
            self._write(values, step, all_measured=True)
            return
        self._write(values, step, all_measured=False)
        due = tf.equal(tf.math.floormod(step, self.every), 0)
        if verdict is not None:
            due = tf.logical_or(due, tf.logical_not(verdict))

        def write_all():
            row = dict(values)
            for build in sampled:
                build(row)
            self._write(row, step, all_measured=True)  # the same slot, after the first write
            return tf.no_op()

        # One If op: a lowered cond would run a Switch per captured tensor
        # (every activation, gradient and weight the row reads) on every step.
        compat.unlowered(tf.cond(due, write_all, tf.no_op))

    def _write(self, values, step, all_measured):
        missing = tf.constant(np.nan, tf.float32)
        flag = tf.constant(1.0 if all_measured else 0.0)
        high = tf.cast(tf.math.floordiv(step, STEP_RADIX), tf.float32)
        low = tf.cast(tf.math.floormod(step, STEP_RADIX), tf.float32)
        row = tf.stack([values.get(i, missing) for i in range(len(self.metrics))]
                       + [flag, high, low])
        slot = tf.math.floormod(step, self.window)
        return self.ring.scatter_nd_update([[slot]], [row])

    # Host --------------------------------------------------------------------

    def read(self, after_step=-1, up_to_step=None):
        """(steps, rows of metric values, all_measured flags) recorded after
        `after_step`, oldest first."""
        # One device-to-host read, and no eager op but the read: between
        # steps of a fit each eager op can wait ~0.4 ms for a CPU thread.
        packed = compat.read_variables([self.ring])[0].numpy()
        steps = packed[:, -2].astype(np.int64) * STEP_RADIX + packed[:, -1].astype(np.int64)
        rows, full = packed[:, :-TRAILING_COLUMNS], packed[:, -TRAILING_COLUMNS] > 0
        keep = steps > after_step
        if up_to_step is not None:
            keep &= steps <= up_to_step
        order = np.argsort(steps[keep], kind="stable")
        steps, rows, full = steps[keep][order], rows[keep][order], full[keep][order]
        metrics = np.array(self.metrics)
        with np.errstate(invalid="ignore"):
            halves = np.isin(metrics, list(FROM_HALF_SQUARES))
            rows[:, halves] = np.sqrt(2.0 * rows[:, halves])
            ratios = np.isin(metrics, list(FROM_SQUARED_RATIO))
            rows[:, ratios] = np.sqrt(rows[:, ratios])
        return steps, rows, full

    def every_step_columns(self):
        """Boolean mask of the columns measured on every row."""
        return np.array(metadata.measured_every_step(self.metrics, self.layers))

    def nonfinite_counts(self, variables, gradients):
        """{column: NaN/Inf count} of a step's gradients (host arrays)."""
        counts = {}
        for variable, grad in zip(variables, gradients):
            index = self._index.get(("grad_nonfinite", self.variable_layer.get(id(variable))))
            if index is not None:
                counts[index] = counts.get(index, 0) + int(np.size(grad) - np.isfinite(grad).sum())
        return counts

"""A model's failure alarm, kept on the device, so healthy steps never sync.

The guarded step refuses a non-finite update; the alarm makes that sticky:
  refused_step  the first step the guard refused (-1: none). While it is
                set every later update is refused too, so the model stays as
                it was before that step until the host has handled it, even
                when the host learns of it late (several steps per
                execution, async dispatch, XLA).
  corrupt_step  the first step whose update left a weight non-finite.

How the host learns of a failure without reading anything on healthy steps:
in an ordinary graph the failing branch calls a py_function (it runs only
then). An XLA-compiled step cannot call Python, so there the failing branch
copies the batch into a fixed-size byte buffer on the device, and the host
polls the alarm every POLL_STEPS steps (one read) and at the end of fit.
"""

import dataclasses
from typing import Any, List

import numpy as np
import tensorflow as tf

from tb_nantrace.recorder import instrument

POLL_STEPS = 64              # XLA: steps between the host's reads of the alarm
CAPTURE_BYTES = 32 * 2**20   # XLA: the largest batch kept for the replay
_META = 64                   # [trace, batch bytes, dims of every leaf...]


@dataclasses.dataclass
class _Capture:
    """What the host needs to read one traced step's batch back."""

    context: Any              # guard.StepContext of that trace
    leaves: List[Any]         # the batch tensors (for dtypes and ranks)


class StepAlarm:
    def __init__(self, compiled):
        self.compiled = compiled  # the step runs under XLA (jit_compile=True)
        with instrument.uninstrumented(), tf.init_scope():
            self.refused_step = tf.Variable(tf.constant(-1, tf.int64), trainable=False,
                                            name="nantrace_refused_step")
            self.corrupt_step = tf.Variable(tf.constant(-1, tf.int64), trainable=False,
                                            name="nantrace_corrupt_step")
            if compiled:
                self._bytes = tf.Variable(tf.zeros([CAPTURE_BYTES], tf.uint8), trainable=False,
                                          name="nantrace_capture")
                self._meta = tf.Variable(tf.zeros([_META], tf.int64), trainable=False,
                                         name="nantrace_capture_meta")
        self._captures = []      # _Capture per traced step, by trace index
        self._steps_since_poll = 0
        self.raised = False      # host: a refusal is known and not yet handled
        self.corrupt_seen = None  # host: the step whose update corrupted the weights

    # Inside the traced step ------------------------------------------------

    def clear(self):
        """True while no step has been refused (a graph tensor)."""
        return self.refused_step < 0

    def refuse(self, context, step, report):
        """The failing branch: the first refusal sets the alarm and reports
        (`report()` makes the failure-only py_function; under XLA the batch
        of `context`'s step is kept on the device instead); later ones only
        refuse."""

        def first():
            self.refused_step.assign(step)
            if self.compiled:
                self._keep_batch(context.capture_index)
            else:
                report()
            return tf.no_op()

        tf.cond(self.clear(), first, tf.no_op)

    def mark_corrupt(self, step, notify):
        """After an update left a weight non-finite (the failing branch of
        the state check): the first time, set corrupt_step and `notify()`
        the host (a py_function; under XLA the host polls)."""

        def first():
            self.corrupt_step.assign(step)
            if not self.compiled:
                notify()
            return tf.no_op()

        tf.cond(self.corrupt_step < 0, first, tf.no_op)

    def register(self, context):
        """Trace time: remember the step's batch tensors; returns the index
        its failing branch writes into the capture, for kept_batch()."""
        self._captures.append(_Capture(context, list(context.batch_leaves)))
        return len(self._captures) - 1

    def _keep_batch(self, trace):
        leaves = self._captures[trace].leaves
        data = tf.concat([_as_bytes(t) for t in leaves] or [tf.zeros([0], tf.uint8)], 0)
        size = tf.cast(tf.size(data), tf.int64)
        kept = data[:CAPTURE_BYTES]
        self._bytes.assign(tf.pad(kept, [[0, CAPTURE_BYTES - tf.size(kept)]]))
        dims = [tf.cast(tf.shape(t), tf.int64) for t in leaves]
        meta = tf.concat([tf.stack([tf.constant(trace, tf.int64), size])] + dims, 0)[:_META]
        self._meta.assign(tf.pad(meta, [[0, _META - tf.size(meta)]]))

    # Host ------------------------------------------------------------------

    def due(self, steps):
        """Compiled steps: True every POLL_STEPS steps (then the host reads)."""
        if not self.compiled:
            return False
        self._steps_since_poll += steps
        if self._steps_since_poll < POLL_STEPS:
            return False
        self._steps_since_poll = 0
        return True

    def read(self):
        """(refused_step, corrupt_step), one device-to-host read."""
        with instrument.uninstrumented():
            both = tf.stack([self.refused_step, self.corrupt_step]).numpy()
        return int(both[0]), int(both[1])

    def kept_batch(self):
        """The batch the failing compiled step kept: (context, arrays), or
        (context, None) when it was larger than CAPTURE_BYTES."""
        with instrument.uninstrumented():
            meta = self._meta.numpy()
        capture = self._captures[int(meta[0])]
        size, dims, position = int(meta[1]), meta[2:], 0
        if size > CAPTURE_BYTES:
            return capture.context, None
        with instrument.uninstrumented():
            data = self._bytes[:size].numpy()
        arrays, offset = [], 0
        for leaf in capture.leaves:
            rank = leaf.shape.rank
            shape = [int(d) for d in dims[position:position + rank]]
            position += rank
            dtype = np.dtype(leaf.dtype.as_numpy_dtype)
            count = int(np.prod(shape)) * dtype.itemsize
            raw = data[offset:offset + count]
            offset += count
            value = raw.astype(bool) if dtype == np.bool_ else raw.view(dtype)
            arrays.append(value.reshape(shape))
        return capture.context, arrays

    def note_corrupt(self, step):
        """py_function target of mark_corrupt's notification."""
        self.corrupt_seen = int(step.numpy()) if hasattr(step, "numpy") else int(step)

    def reset(self):
        """The host has handled the failure: updates may go on."""
        self.raised = False
        with instrument.uninstrumented():
            self.refused_step.assign(-1)


def _as_bytes(tensor):
    """A tensor's bytes, flat (bool as one byte per value)."""
    if tensor.dtype == tf.bool:
        tensor = tf.cast(tensor, tf.uint8)
    elif tensor.dtype != tf.uint8:
        tensor = tf.bitcast(tensor, tf.uint8)
    return tf.reshape(tensor, [-1])

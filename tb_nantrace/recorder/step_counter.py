"""The 0-based training step an op or an incident belongs to.

Keras' `optimizer.iterations` when the step began; a custom loop's
optimizer is found in the calling code when not given to `record()`.
"""

import sys
import weakref

import keras
import tensorflow as tf

from tb_nantrace.recorder import instrument


def find_optimizer_in_stack():
    """The Keras optimizer a custom training loop uses, found in the frames
    tracing it (locals and globals first, then `x.optimizer`); None unless
    that is unambiguous."""
    direct, attached = {}, {}
    frame = sys._getframe(1)
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for value in list(scope.values()):
                if isinstance(value, keras.optimizers.Optimizer):
                    direct[id(value)] = value
                elif isinstance(getattr(value, "optimizer", None), keras.optimizers.Optimizer):
                    attached[id(value.optimizer)] = value.optimizer
        frame = frame.f_back
    for found in (direct, attached):
        if len(found) == 1:
            return next(iter(found.values()))
    return None


class StepCounter:
    def __init__(self, scope, optimizer=None):
        self.scope = scope  # CheckScope: the step being traced or replayed
        self.optimizer = optimizer
        self._per_graph = weakref.WeakKeyDictionary()  # graph -> its step tensor

    def remember_optimizer(self, optimizer):
        if self.optimizer is None:
            self.optimizer = optimizer

    def find_optimizer(self):
        """The optimizer given to record(), else the one the calling code holds."""
        if self.optimizer is None:
            self.optimizer = find_optimizer_in_stack()
        return self.optimizer

    def step_tensor(self):
        """A tensor holding the step, read before the step changes anything."""
        context = self.scope.step_context()
        if context is not None:
            return context.step
        graph = tf.compat.v1.get_default_graph()
        tensor = self._per_graph.get(graph)
        if tensor is None:
            optimizer = self.find_optimizer()
            if optimizer is not None:
                tensor = tf.cast(tf.convert_to_tensor(optimizer.iterations), tf.int64)
            else:
                tensor = tf.constant(-1, tf.int64)
            self._per_graph[graph] = tensor
        return tensor

    def eager_step(self):
        if self.scope.is_replaying:
            return self.scope.replay_step
        if self.optimizer is None:
            return -1
        with instrument.uninstrumented():
            return int(self.optimizer.iterations.numpy())

    def completed_steps(self, incidents):
        """Training steps done: the optimizer's count, else the last incident's."""
        if self.optimizer is None:
            return max((i.step + 1 for i in incidents), default=0)
        with instrument.uninstrumented():
            return int(self.optimizer.iterations.numpy())

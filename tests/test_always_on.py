"""Always on where people train: XLA stays on, healthy steps never wait for
the device because of nantrace, and several steps per execution work.

Real Keras training (small, seeded). A fault is injected by a layer that
overflows from a known step on (`Blowup`), so the expected origin is known.
"""

import os
import sys
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

import tb_nantrace as nantrace

BATCH = 16
_TENSORFLOW = os.path.dirname(tf.__file__) + os.sep


class Blowup(keras.layers.Layer):
    """Identity until its `at`-th call in training (0-based step `at`), then
    x * 1e30 * 1e30: an overflow to Inf in the forward pass."""

    def __init__(self, at=None, **kwargs):
        super().__init__(**kwargs)
        self.at = at
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, x, training=None):
        if self.at is None or not training:
            return x
        self.calls.assign_add(1.0)
        scale = tf.where(self.calls > self.at, 1e30, 1.0)
        return x * scale * scale


def make_model(jit_compile, blowup_at=None, steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(32, activation="gelu"),
        keras.layers.LayerNormalization(),
        Blowup(blowup_at, name="blowup"),
        keras.layers.Dense(32, activation="tanh"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    return model


def data(steps):
    rng = np.random.RandomState(0)
    return (rng.randn(steps * BATCH, 16).astype("float32"),
            rng.randn(steps * BATCH, 1).astype("float32"))


def fit(model, steps, logdir=None, callbacks=None, **options):
    x, y = data(steps)
    kwargs = dict(batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    if logdir is None:
        model.fit(x, y, **kwargs)
        return None
    with nantrace.record(str(logdir), **options) as recording:
        model.fit(x, y, **kwargs)
    return recording


def trainable_arrays(model):
    return [v.numpy() for v in model.trainable_variables]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


def test_a_jit_compiled_model_trains_under_xla_with_the_same_weights_as_without_nantrace(tmp_path):
    without = make_model(jit_compile=True)
    fit(without, 16)
    recorded = make_model(jit_compile=True)
    recording = fit(recorded, 16, tmp_path)
    plain = make_model(jit_compile=False)
    fit(plain, 16)

    assert recording.incidents == []
    assert recorded.jit_compile is True
    assert same(trainable_arrays(recorded), trainable_arrays(without))
    # XLA fuses and rounds differently: had nantrace turned it off, the
    # weights would be those of the uncompiled run.
    assert not same(trainable_arrays(recorded), trainable_arrays(plain))


def test_a_nan_under_xla_is_reported_at_its_step_phase_and_layer_and_training_stops(tmp_path):
    model = make_model(jit_compile=True, blowup_at=5)
    recording = fit(model, 12, tmp_path)

    [incident] = recording.incidents
    assert (incident["step"], incident["phase"], incident["layer"]) == (5, "forward", "blowup")
    assert incident["op"]["type"] == "Mul"
    # The refused step and every step after it (the alarm is sticky until
    # the host reads it) applied nothing: 5 updates happened.
    assert int(model.optimizer.iterations.numpy()) == 5
    assert model.jit_compile is True and model.__dict__.get("train_step") is None


class _DeviceReads:
    """Counts reads of device values into Python (EagerTensor._numpy: used by
    .numpy(), bool(), int(), np.asarray()) made by nantrace's own code: the
    innermost caller outside TensorFlow is in tb_nantrace (Keras's own reads,
    e.g. of its iterator, are Keras's). TensorFlow's summary writer reads its
    record-or-not switch, a host-side boolean, not a device value: not counted."""

    def __init__(self):
        self.count = 0
        self.counting = False

    def __enter__(self):
        self._original = tf_ops._EagerTensorBase._numpy
        reads = self

        def counted(tensor):
            if reads.counting and threading.current_thread() is threading.main_thread():
                frame = sys._getframe(1)
                host_switch = False
                while frame is not None and frame.f_code.co_filename.startswith(_TENSORFLOW):
                    host_switch |= frame.f_code.co_filename.endswith("summary_ops_v2.py")
                    frame = frame.f_back
                if (not host_switch and frame is not None
                        and "/tb_nantrace/" in frame.f_code.co_filename):
                    reads.count += 1
            return reads._original(tensor)

        tf_ops._EagerTensorBase._numpy = counted
        return self

    def __exit__(self, *exc):
        tf_ops._EagerTensorBase._numpy = self._original


class _AfterFirstStep(keras.callbacks.Callback):
    """Starts counting after the first step; async-safe, so it does not
    itself turn Keras's asynchronous batch-end dispatch off."""

    async_safe = True

    def __init__(self, reads):
        super().__init__()
        self.reads = reads
        self.threads = set()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:
            self.reads.counting = True

    def on_train_batch_end(self, batch, logs=None):
        self.threads.add(threading.current_thread() is threading.main_thread())

    def on_train_end(self, logs=None):
        self.reads.counting = False


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_a_healthy_recorded_fit_reads_the_device_at_most_once_per_32_steps_and_keeps_async_dispatch(
        tmp_path, jit_compile, monkeypatch):
    # Keras 3.15 dispatches batch-end callbacks to a thread pool only on a
    # backend it calls thread-safe (JAX; its TensorFlow backend says False,
    # and runs them in the training thread). Said thread-safe here, Keras
    # dispatches asynchronously unless a callback overrides a batch-end hook
    # without async_safe: nantrace adds no such callback.
    monkeypatch.setattr(keras.src.backend, "IS_THREAD_SAFE", True)
    steps = 129
    model = make_model(jit_compile=jit_compile)
    with _DeviceReads() as reads:
        watcher = _AfterFirstStep(reads)
        recording = fit(model, steps, tmp_path, callbacks=[watcher])

    assert recording.incidents == []
    assert reads.count <= (steps - 1) // 32, f"{reads.count} reads in {steps - 1} steps"
    # Batch-end callbacks ran on Keras's thread pool, not on the training thread.
    assert watcher.threads == {False}


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_with_several_steps_per_execution_the_incident_is_at_its_step_and_training_stops_there(
        tmp_path, jit_compile):
    model = make_model(jit_compile=jit_compile, blowup_at=6, steps_per_execution=4)
    recording = fit(model, 16, tmp_path)

    [incident] = recording.incidents
    assert (incident["step"], incident["phase"], incident["layer"]) == (6, "forward", "blowup")
    # Steps 6 and 7 ran in the same execution but applied nothing: the model
    # is the model after 6 steps.
    assert int(model.optimizer.iterations.numpy()) == 6
    reference = make_model(jit_compile=jit_compile, steps_per_execution=1)
    x, y = data(16)
    reference.fit(x[:6 * BATCH], y[:6 * BATCH], batch_size=BATCH, verbose=0, shuffle=False)
    assert same(trainable_arrays(model), trainable_arrays(reference))


def test_under_skip_training_goes_on_after_the_incident_and_later_updates_apply(tmp_path):
    model = make_model(jit_compile=False)
    x, y = data(10)
    x[3 * BATCH:4 * BATCH] = 1e38  # finite, but the forward pass overflows on step 3's batch
    with nantrace.record(str(tmp_path), on_nan="skip") as recording:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)

    assert [(i["step"], i["phase"]) for i in recording.incidents] == [(3, "forward")]
    # The alarm was reset once the host handled step 3: the 9 other updates applied.
    assert int(model.optimizer.iterations.numpy()) == 9


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_a_finite_batch_that_overflows_the_guards_sum_is_no_incident_and_its_update_stands(
        tmp_path, jit_compile):
    """The guard screens a step with one float32 sum; finite values can
    overflow it (here 256 inputs of 1e38 that the model scales to 0). The
    failing branch's exact check (on the host, or on the device under XLA)
    lets such a step stand: no incident, the same weights as without nantrace."""

    def model_and_data():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((16,)), keras.layers.Rescaling(0.0, offset=1.0),
                                  keras.layers.Dense(4), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=jit_compile)
        x, y = data(4)
        x[2 * BATCH:3 * BATCH] = 1e38
        return model, x, y

    without, x, y = model_and_data()
    without.fit(x, y, batch_size=BATCH, verbose=0, shuffle=False)
    model, x, y = model_and_data()
    with nantrace.record(str(tmp_path)) as recording:
        model.fit(x, y, batch_size=BATCH, verbose=0, shuffle=False)

    assert recording.incidents == []
    assert int(model.optimizer.iterations.numpy()) == 4
    assert same(trainable_arrays(model), trainable_arrays(without))

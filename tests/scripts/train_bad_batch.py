"""A user's training script, run by tests in its own directory: records a
run whose batch 2 has all-zero targets, which its relative loss divides by;
optionally interrupted with SIGINT later."""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tb_nantrace as nantrace  # noqa: E402


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def relative_error(y_true, y_pred):
    return tf.reduce_mean(tf.abs(y_true - y_pred)) / tf.reduce_mean(tf.abs(y_true))  # LOSS_LINE


def main(logdir, redact, interrupt_at):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss=relative_error)
    x = np.ones((160, 3), "float32")
    y = np.ones((160, 1), "float32")
    y[32:48] = 0.0  # batch 2: the divisor is exactly 0
    callbacks = [InterruptAt(interrupt_at)] if interrupt_at >= 0 else []
    with nantrace.record(logdir, on_nan="skip", redact=redact):
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0, callbacks=callbacks)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "redact", int(sys.argv[3]))

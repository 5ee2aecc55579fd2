"""Sharing a run with Keras' TensorBoard callback.

`keras.callbacks.TensorBoard(log_dir)` writes a fit's training scalars into
`<log_dir>/train`. When such a callback is in the recorded fit, nantrace
records into that same run, so the NaN Trace tab and the Scalars tab show
one run, and each incident also gets its step on that callback's axis: the
epoch (update_freq="epoch", the default) or its batch counter, which starts
at 1 in every fit (update_freq=N).
"""

import os

import keras

from tb_nantrace.recorder import compat


def find(callbacks):
    """The TensorBoard callback among a fit's `callbacks`, or None."""
    for callback in callbacks or ():
        if isinstance(callback, keras.callbacks.TensorBoard):
            return callback
    return None


def train_run(callback):
    return os.path.join(os.fspath(callback.log_dir), "train")


class TensorBoardSteps:
    """Places one fit's incidents on the callback's step axis."""

    def __init__(self, callback, model, initial_epoch=0):
        self.unit = "epoch" if callback.update_freq == "epoch" else "batch"
        self.model = model
        self.initial_epoch = int(initial_epoch or 0)
        self.first_step = None      # the optimizer step the fit started at
        self.steps_per_epoch = None

    def started(self, first_step):
        """Before the fit's first step: where its step counter is."""
        self.first_step = int(first_step)

    def remember_epoch_length(self):
        """During the fit (its frame is on the stack): batches per epoch."""
        if self.steps_per_epoch is None:
            found = compat.keras_fit_locals(self.model)
            batches = getattr((found or {}).get("epoch_iterator"), "num_batches", None)
            if batches:
                self.steps_per_epoch = int(batches)

    def place(self, incident):
        if self.first_step is None:
            return
        done = max(int(incident.step) - self.first_step, 0)
        if self.unit == "batch":
            incident.tensorboard_step = done + 1
        elif self.steps_per_epoch:
            incident.tensorboard_step = self.initial_epoch + done // self.steps_per_epoch
        else:
            return
        incident.tensorboard_step_unit = self.unit

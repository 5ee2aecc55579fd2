"""`nantrace.NanTrace`: `record()` as a Keras callback, for one `model.fit`.

    model.fit(x, y, callbacks=[nantrace.NanTrace("logs/run1")])

records the fit exactly as `with nantrace.record(...)` around it does
(options included), into `<log_dir>/train`: the run Keras' own
`TensorBoard("logs/run1")` callback writes its training scalars to.

What it cannot do that `record()` can: a callback only sees `fit`, so
custom training loops (`nantrace.guard`), eager code, `evaluate` and
`predict` are not recorded; and Keras calls no callback when `fit` raises,
so the recording is closed from the step that raised (nantrace's own
NonFiniteError under on_nan="raise" included).
"""

import os
import sys
from typing import Literal

import keras

from tb_nantrace.recorder import keras_hooks, recording, registry


class NanTrace(keras.callbacks.Callback):
    """Find the first op that produced a NaN/Inf in this fit, and record it
    (with the health timeline and early warnings) for TensorBoard's NaN
    Trace tab. The options are `nantrace.record()`'s; see its docstring."""

    def __init__(
        self,
        log_dir: "str | os.PathLike | None" = None,
        *,
        mode: Literal["guard", "exact"] = "guard",
        on_nan: Literal["stop", "raise", "skip"] = "stop",
        max_incidents: int = 100,
        health: "bool | int" = True,
        redact: bool = False,
        analysis_seconds: float = 30.0,
        verify_fixes: bool = True,
        snapshot_every: int = 10,
        snapshot_memory_mb: float = 256.0,
    ):
        super().__init__()
        self.log_dir = os.fspath(log_dir) if log_dir else recording.default_logdir()
        self._options = dict(mode=mode, on_nan=on_nan, max_incidents=max_incidents, health=health,
                             redact=redact, analysis_seconds=analysis_seconds,
                             verify_fixes=verify_fixes, snapshot_every=snapshot_every,
                             snapshot_memory_mb=snapshot_memory_mb)
        recording.Recording(self.log_dir, **self._options)  # the options' errors, now
        self.recording = None  # the Recording of the fit in progress
        self._fit = None

    @property
    def incidents(self):
        """The last fit's incidents, as dicts (the `nantrace report --json` shape)."""
        return self.recording.incidents if self.recording is not None else []

    def on_train_begin(self, logs=None):
        if registry.current() is not None:
            print("nantrace: NanTrace inside record(): the fit is recorded by record() "
                  f"({registry.current().logdir})", file=sys.stderr)
            return
        self.recording = recording.Recording(os.path.join(self.log_dir, "train"), **self._options)
        self.recording.__enter__()
        self._fit = keras_hooks.RecordedFit(self.recording, self.model)
        self._fit.on_error = self._close
        if not self._fit.open():
            self._close()
            return
        if self._fit.initial_state_stops():
            self.model.stop_training = True
        # Keras made the train function before calling on_train_begin: make
        # it again, guarded (fit calls whatever model.train_function is).
        self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        if self._fit is None:
            return
        try:
            self._fit.finish()
        except BaseException as error:
            self._close(error)
            raise
        self._close()

    def _close(self, error=None):
        fit, self._fit = self._fit, None
        if fit is None:
            return
        fit.close()
        if error is None:
            self.recording.__exit__(None, None, None)
        else:
            self.recording.__exit__(type(error), error, error.__traceback__)

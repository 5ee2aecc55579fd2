"""tb-nantrace: find the first op that produced a NaN or Inf, in TensorBoard.

    import tb_nantrace as nantrace
    with nantrace.record("logs/run1"):
        model.fit(x, y)

Importing this package never imports TensorFlow: the viewer side (plugin,
`nantrace report`) must work on a machine without it.
"""

import os
from typing import Any, Callable, Literal

__version__ = "0.1.0"

__all__ = ["record", "guard", "NanTrace", "NonFiniteError", "__version__"]


class NonFiniteError(ArithmeticError):
    """Raised by `record(on_nan="raise")`: carries the incident that was recorded.

    `incident` is the JSON-ready dict described in the README (same shape as
    `nantrace report --json`).
    """

    def __init__(self, message: str, incident: "dict | None" = None):
        super().__init__(message)
        self.incident = incident


def _recorder():
    try:
        from tb_nantrace.recorder import custom_loop, recording
    except ImportError as error:
        if "tensorflow" not in str(error).lower() and "keras" not in str(error).lower():
            raise
        raise ImportError(
            "nantrace.record() needs TensorFlow, which is not installed here. "
            "Install it with: pip install 'tb-nantrace[tensorflow]' "
            "(viewing a logdir with TensorBoard or `nantrace report` works without it)."
        ) from error
    return recording, custom_loop


def record(
    logdir: "str | os.PathLike | None" = None,
    *,
    mode: Literal["guard", "exact"] = "guard",
    on_nan: Literal["stop", "raise", "skip"] = "stop",
    optimizer: Any = None,
    max_incidents: int = 100,
    health: "bool | int" = True,
    redact: bool = False,
    analysis_seconds: float = 30.0,
    verify_fixes: bool = True,
    snapshot_every: int = 10,
    snapshot_memory_mb: float = 256.0,
):
    """Record NaN/Inf origins of the training in the `with` block.

    Args:
      logdir: where the event files go (default: ./logs/<date-time>, printed).
      mode: "guard" (default): a cheap check per step, and a failed step is
        replayed op by op to find its origin; "exact": every op is checked.
      on_nan: "stop" (default): end training cleanly at the first incident;
        "raise": raise NonFiniteError; "skip": drop the bad update and go on.
      optimizer: the Keras optimizer of a custom loop (its step counter),
        when nantrace cannot find it.
      max_incidents: incidents recorded at most (later ones are counted in
        the run info, not recorded).
      health: the health timeline and early warnings (model.fit): the loss
        and gradient norm every step, and the per-layer columns every 8
        steps (True), every N steps (N; 1: every step), and on a refused
        step; False: off.
      redact: True leaves code text, absolute paths and the host name out
        of the logdir.
      analysis_seconds: time budget per incident (the first 3) for replaying
        the failing step again (reproducible?), finding its culprit rows and
        verifying fixes by replay; 0 turns all three off.
      verify_fixes: try learning rate / 10, clipnorm=1.0, epsilon=1e-7,
        float32 for the origin's layer and dropping the culprit rows by
        replay (the model is put back afterwards).
      snapshot_every: keep a device-side copy of the model's and optimizer's
        state every N steps of model.fit (the last 8), so fixes acting
        through earlier updates are replayed from an earlier step; 0: off.
      snapshot_memory_mb: the snapshots' memory budget: above it they are
        off (and the run info says so). It also bounds the pre-update copy
        of the optimizer state that lets the default mode put back and
        replay an update that made the weights non-finite.

    Returns:
      A context manager; after the block its `incidents` are the recorded
      incidents as dicts (the `nantrace report --json` shape).
    """
    recording, _ = _recorder()
    return recording.record(logdir, mode=mode, on_nan=on_nan, optimizer=optimizer,
                            max_incidents=max_incidents, health=health, redact=redact,
                            analysis_seconds=analysis_seconds, verify_fixes=verify_fixes,
                            snapshot_every=snapshot_every, snapshot_memory_mb=snapshot_memory_mb)


def guard(step_function: Callable) -> Callable:
    """Wrap a custom training step once (`train_step = nantrace.guard(train_step)`)
    so that inside `record()` it runs unchecked and only a failed step is
    replayed op by op. Outside `record()` it is a plain call."""
    _, custom_loop = _recorder()
    return custom_loop.guard(step_function)


def __getattr__(name):
    # nantrace.NanTrace is a keras.callbacks.Callback: made on first use, so
    # that importing this package never imports TensorFlow or Keras.
    if name == "NanTrace":
        _recorder()
        from tb_nantrace.recorder.callback import NanTrace

        return NanTrace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""tb-nantrace: find the first op that produced a NaN or Inf, in TensorBoard.

    import tb_nantrace as nantrace
    with nantrace.record("logs/run1"):
        model.fit(x, y)

Importing this package never imports TensorFlow: the viewer side (plugin,
`nantrace report`) must work on a machine without it.
"""

__version__ = "0.1.0"

__all__ = ["record", "guard", "NonFiniteError", "__version__"]


class NonFiniteError(ArithmeticError):
    """Raised by `record(on_nan="raise")`: carries the incident that was recorded.

    `incident` is the JSON-ready dict described in the README (same shape as
    `nantrace report --json`).
    """

    def __init__(self, message, incident=None):
        super().__init__(message)
        self.incident = incident


def _recorder():
    try:
        from tb_nantrace.recorder import session
    except ImportError as error:
        if "tensorflow" not in str(error).lower() and "keras" not in str(error).lower():
            raise
        raise ImportError(
            "nantrace.record() needs TensorFlow, which is not installed here. "
            "Install it with: pip install 'tb-nantrace[tensorflow]' "
            "(viewing a logdir with TensorBoard or `nantrace report` works without it)."
        ) from error
    return session


def record(logdir=None, **options):
    """Record NaN/Inf origins into `logdir` (default: ./logs/<date-time>).

    Options: mode="guard" (default: cheap per-step guard, failed steps are
    replayed op by op) or "exact" (every op checked); on_nan="stop" (default,
    end training cleanly), "raise" (NonFiniteError) or "skip" (drop the bad
    update and go on); optimizer= (the step counter of a custom loop, when
    it cannot be found); max_incidents=100; health=True (per-step health
    timeline and early warnings); redact=False (True leaves code text,
    absolute paths and the host name out of the logdir).
    """
    return _recorder().record(logdir, **options)


def guard(step_function):
    """Wrap a custom training step once (`train_step = nantrace.guard(train_step)`)
    so that inside `record()` it runs unchecked and only a failed step is
    replayed op by op. Outside `record()` it is a plain call."""
    return _recorder().guard(step_function)

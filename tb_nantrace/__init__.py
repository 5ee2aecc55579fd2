"""tb-nantrace: find the first op that produced a NaN or Inf, in TensorBoard.

    import tb_nantrace as nantrace
    with nantrace.record("logs/run1"):
        model.fit(x, y)

Importing this package never imports TensorFlow: the viewer side (plugin,
`nantrace report`) must work on a machine without it.
"""

__version__ = "0.1.0"

__all__ = ["record", "NonFiniteError", "__version__"]


class NonFiniteError(ArithmeticError):
    """Raised by `record(on_nan="raise")`: carries the incident that was recorded.

    `incident` is the JSON-ready dict described in the README (same shape as
    `nantrace report --json`).
    """

    def __init__(self, message, incident=None):
        super().__init__(message)
        self.incident = incident


def record(logdir=None, **kwargs):
    """Record NaN/Inf origins and training health into `logdir`.

    See `tb_nantrace.recorder.session.record` for the options.
    """
    try:
        from tb_nantrace.recorder.session import record as _record
    except ImportError as error:
        if "tensorflow" not in str(error).lower():
            raise
        raise ImportError(
            "nantrace.record() needs TensorFlow, which is not installed here. "
            "Install it with: pip install 'tb-nantrace[tensorflow]' "
            "(viewing a logdir with TensorBoard or `nantrace report` works without it)."
        ) from error
    return _record(logdir, **kwargs)

"""The recording in force, if any.

Op callbacks and Keras patches are process-wide, so one recording records
at a time; a `record()` nested in another records nothing of its own. The
hooks look the recording up here at call time, which keeps imports one-way:
recording.py imports the hooks, the hooks import only this module.
"""

_current = None


def current():
    """The recording that records now, or None."""
    return _current


def start(recording):
    global _current
    if _current is not None:
        raise RuntimeError("nantrace: a recording is already in force")
    _current = recording


def stop(recording):
    global _current
    if _current is recording:
        _current = None

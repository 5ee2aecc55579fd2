"""TensorFlow imported without its C++ startup log, so a demo prints our report only.

At import TensorFlow's native libraries log (oneDNN notice, CUDA driver
probe) through absl before absl logging is set up; those lines go straight
to file descriptor 2 and TF_CPP_MIN_LOG_LEVEL does not reach them. So the
import runs with descriptor 2 sent to a temporary file, and what it caught
is passed on except those informational lines (I/W severity in absl's
format, and absl's "before InitializeLog" banner): errors still show.
TF_CPP_MIN_LOG_LEVEL=3 (unless set) keeps later C++ log lines out.
"""

import os
import re
import sys
import tempfile

_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} \S+\s+\d+ \S+:\d+\] .*)$"
)


def import_tensorflow_quietly():
    """Import TensorFlow (a no-op when it is already imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no descriptor 2 to redirect
        import tensorflow  # noqa: F401
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", "replace")
    kept = [line for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)

"""Which stack frames are the user's own code, with the code text kept.

The viewer has no source files (a teammate opens a logdir someone sent them),
so the line and a few lines around it are stored in the record.
"""

import linecache
import os
import sysconfig

from tb_nantrace.proto import nantrace_pb2

CONTEXT_LINES = 3
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple(
    os.path.abspath(p) + os.sep
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def is_user_file(filename):
    if not filename or filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):
        return False
    if "site-packages" in path or "dist-packages" in path:
        return False
    if "__autograph_generated_file" in path:
        return False
    return not path.startswith(_LIBRARY_DIRS)


def display_path(filename, redact=False):
    """Relative to the working directory (the project root, usually) when
    the file lives under it; absolute otherwise, or just the file name when
    redacting."""
    path = os.path.abspath(filename)
    root = os.getcwd()
    if path.startswith(root + os.sep):
        return os.path.relpath(path, root)
    return os.path.basename(path) if redact else path


def make_frame(filename, lineno, function, user=True, redact=False):
    frame = nantrace_pb2.StackFrame(
        file=display_path(filename, redact), line=int(lineno or 0), function=function or "",
        user=user,
    )
    if redact or not lineno:
        return frame
    lines = linecache.getlines(filename)
    if not lines:
        return frame
    start = max(1, lineno - CONTEXT_LINES)
    end = min(len(lines), lineno + CONTEXT_LINES)
    frame.context_start = start
    frame.context.extend(line.rstrip("\n") for line in lines[start - 1 : end])
    if lineno <= len(lines):
        frame.code = lines[lineno - 1].strip()
    return frame


def user_frames(raw_frames, limit=8, redact=False):
    """Keep the user's frames, outermost first; `raw_frames` yields
    (filename, lineno, function) outermost first. `redact` leaves out the
    code and absolute paths."""
    kept = [
        make_frame(filename, lineno, function, redact=redact)
        for filename, lineno, function in raw_frames
        if is_user_file(filename)
    ]
    return kept[-limit:]

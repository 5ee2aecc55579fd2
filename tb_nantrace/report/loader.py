"""Loads a logdir for `nantrace report`: TensorBoard's own Python data
provider over every run below it, read with tb_nantrace.reader (the reader
the TensorBoard plugin uses), never with TensorFlow.

Tests use `load_logdir` as a library: the runs as
`nantrace report --json` describes them.
"""

import logging
import os
import sys
import types
from typing import NamedTuple


class ReportError(Exception):
    """A problem with the logdir itself (exit status 2)."""


def _is_remote(path):
    return "://" in path and not path.startswith("file://")


def avoid_tensorflow(logdir):
    """Make TensorBoard's event reader use its TF-free stub.

    `tensorboard.compat.tf` imports TensorFlow whenever it is installed
    (seconds of start-up, and this command must work without it); the
    marker module `tensorboard.compat.notf` selects the stub, which reads
    local files (and s3:// / fsspec URLs). Process-wide, hence only when
    TensorFlow is not loaded yet, TensorBoard has not resolved its choice
    yet, and the logdir is local (TensorFlow's gfile knows gs:// etc.)."""
    if _is_remote(logdir) or "tensorflow" in sys.modules:
        return
    if "tensorboard.compat.notf" in sys.modules:
        return
    from tensorboard import compat

    lazy = sys.modules.get("tensorboard.compat.tf") or getattr(compat, "tf", None)
    if lazy is not None and "__version__" in getattr(lazy, "__dict__", {}):
        return  # already resolved (to TensorFlow or to the stub)
    marker = types.ModuleType("tensorboard.compat.notf")
    marker.__doc__ = "Set by tb_nantrace.report: read event files without TensorFlow."
    sys.modules["tensorboard.compat.notf"] = marker


def load_logdir(logdir, problems=None):
    """[run detail, ...] sorted by run name, for every run under `logdir`
    holding nantrace records. Raises ReportError for a bad logdir.

    What could not be read is left out and said: a run's unreadable records
    in its "skipped" count, directories that cannot be read at all as
    {"path", "reason"} appended to `problems` (a list) when one is given."""
    if problems is None:
        problems = []
    local = None
    if not _is_remote(logdir):
        local = logdir[len("file://") :] if logdir.startswith("file://") else logdir
        if not os.path.exists(local):
            raise ReportError(f"logdir does not exist: {logdir}")
        if not os.path.isdir(local):
            raise ReportError(f"logdir is not a directory: {logdir}")
        if not os.access(local, os.R_OK | os.X_OK):
            raise ReportError(f"logdir is not readable: {logdir}")
    avoid_tensorflow(logdir)

    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer

    from tb_nantrace import metadata, reader

    try:
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            # Other plugins' data is of no interest: keep 1 point per tag.
            size_guidance={"tensors": 1},
            # 0 = keep every record (the default keeps 10 tensors per tag).
            tensor_size_guidance={metadata.PLUGIN_NAME: 0},
            max_reload_threads=1,
        )
        try:
            multiplexer.AddRunsFromDirectory(logdir)
        except Exception:
            # TensorBoard's walk gives up on the whole logdir at one
            # directory it cannot handle (a name that is not UTF-8, one it
            # may not list): walk it here instead, skipping those.
            if local is None:
                raise
            problems.extend(_add_runs_walking(multiplexer, local))
        with _StoppedFiles() as stopped:
            unreadable = _reload(multiplexer)
        provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
        runs = reader.read_all(provider, context.RequestContext(), "", trends=True)
    except Exception as error:  # gfile errors are not all OSErrors
        raise ReportError(
            f"cannot read logdir {logdir}: {type(error).__name__}: {error}"
        ) from error
    run_paths = {os.path.normpath(str(path)): run
                 for run, path in multiplexer.RunPaths().items()}
    listed = {run["run"]: run for run in runs}
    for run in runs:
        run["skipped"] = run.get("skipped", 0) + unreadable.pop(run["run"], NOTHING_SKIPPED).events
        run["load_errors"] = []
    for path, error in stopped.files:
        run = run_paths.get(os.path.dirname(os.path.normpath(path)))
        if run in listed:
            listed[run]["load_errors"].append(
                {"file": _display_path(os.path.basename(path)), "error": error})
        elif path.endswith(".nantrace"):  # nothing of that run could be shown
            problems.append({"path": _display_path(path), "reason": error})
    # Runs that failed before any nantrace record was read: say so too.
    for run, skipped in sorted(unreadable.items()):
        path = multiplexer.RunPaths().get(run) or run
        problems.append({"path": _display_path(path), "reason": skipped.reason})
    return runs


class _StoppedFiles(logging.Handler):
    """Collects the event files TensorBoard's loader stopped reading early.

    At a truncated or corrupt record (bad CRC) the loader stops reading that
    file, keeps what came before, and only says so at debug level: "Truncated
    record in PATH (ERROR)". Listen for that while loading, so the report can
    say which records it could not show. (Without that message, say nothing.)"""

    LOGGER = "tensorboard"  # tb_logging.get_logger(), used by event_file_loader

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.files = []  # (path, error)

    def emit(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("Truncated record in") and len(args) == 2:
            path = str(args[0])
            error = str(args[1])
            for spelling in (repr(os.fsencode(path)), path):  # TF-free reader: b'PATH'
                error = error.replace(spelling, "")
            error = error.strip(" :'") or "truncated or corrupt record"
            if (path, error) not in self.files:
                self.files.append((path, error))
        elif record.levelno >= logging.WARNING and not logging.getLogger().handlers:
            logging.lastResort.handle(record)  # what would have been printed anyway

    def __enter__(self):
        logger = logging.getLogger(self.LOGGER)
        self._level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        logger = logging.getLogger(self.LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._level)
        return False


def _display_path(path):
    """A path as text that any output accepts (undecodable bytes as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _add_runs_walking(multiplexer, root):
    """AddRunsFromDirectory's job (a run per directory holding an event
    file, named by its path relative to `root`), skipping the directories
    that cannot be read or named. Returns [{"path", "reason"}] skipped."""
    skipped = []

    def unreadable(error):
        skipped.append({"path": _display_path(error.filename or "?"),
                        "reason": f"{type(error).__name__}: {error.strerror}"})

    for directory, subdirectories, files in os.walk(root, onerror=unreadable):
        kept = []
        for name in sorted(subdirectories):
            try:
                name.encode("utf-8")
                kept.append(name)
            except UnicodeEncodeError:
                skipped.append({"path": _display_path(os.path.join(directory, name)),
                                "reason": "directory name is not valid UTF-8"})
        subdirectories[:] = kept
        if any("tfevents" in name for name in files):  # io_wrapper.IsSummaryEventsFile
            multiplexer.AddRun(directory, name=os.path.relpath(directory, root))
    return skipped


# Unparseable events of one run skipped before that run is given up.
MAX_UNREADABLE_EVENTS = 100


class SkippedEvents(NamedTuple):
    """The events of one run that could not be loaded."""

    events: int
    reason: str  # the last error


NOTHING_SKIPPED = SkippedEvents(0, "")


def _reload(multiplexer):
    """Load every run, one by one; returns {run: SkippedEvents}.

    TensorBoard's loader stops at a truncated or corrupt (bad CRC) record by
    itself, but an exception from a record whose CRC is right and whose bytes
    are not an Event (or that its compat layers cannot migrate) escapes
    `EventMultiplexer.Reload()` and would end the whole report. The event
    was consumed when that happens, so reloading the run resumes after it.
    Errors that consume nothing (a file that cannot be opened or named, a
    record length too large to allocate) end that run's loading only."""
    log = logging.getLogger(__name__)
    unreadable = {}
    for run in sorted(multiplexer.Runs()):
        accumulator = multiplexer.GetAccumulator(run)
        for _ in range(MAX_UNREADABLE_EVENTS + 1):
            try:
                accumulator.Reload()
                break
            except Exception as error:  # noqa: BLE001
                reason = f"{type(error).__name__}: {error}"
                unreadable[run] = SkippedEvents(
                    unreadable.get(run, NOTHING_SKIPPED).events + 1, reason)
                log.warning("nantrace: run %r: unreadable event skipped (%s)", run, reason)
                if isinstance(error, (OSError, MemoryError, OverflowError, UnicodeError)):
                    break
        else:
            log.warning("nantrace: run %r: gave up after %d unreadable events",
                        run, MAX_UNREADABLE_EVENTS)
    return unreadable

"""`nantrace report LOGDIR [--json]`: where did the first NaN/Inf appear?

Reads the logdir with TensorBoard's own Python data provider (the same
reader the TensorBoard plugin uses), never with TensorFlow.

Exit status: 0 no incident in any run, 1 at least one incident,
2 the logdir is missing, unreadable or holds no nantrace records.
"""

import argparse
import json
import logging
import os
import sys
import types
import unicodedata

from tb_nantrace import __version__

FORMAT = "nantrace.report/1"

EXIT_HEALTHY = 0
EXIT_INCIDENT = 1
EXIT_ERROR = 2

# Full detail for this many incidents per run; the rest are counted.
DEFAULT_LIMIT = 10


class ReportError(Exception):
    """A problem with the logdir itself (exit status 2)."""


def _is_remote(path):
    return "://" in path and not path.startswith("file://")


def _avoid_tensorflow(logdir):
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
    _avoid_tensorflow(logdir)

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
        run["skipped"] = run.get("skipped", 0) + unreadable.pop(run["run"], (0, ""))[0]
        run["load_errors"] = []
    for path, error in stopped.files:
        run = run_paths.get(os.path.dirname(os.path.normpath(path)))
        if run in listed:
            listed[run]["load_errors"].append(
                {"file": _display_path(os.path.basename(path)), "error": error})
        elif path.endswith(".nantrace"):  # nothing of that run could be shown
            problems.append({"path": _display_path(path), "reason": error})
    # Runs that failed before any nantrace record was read: say so too.
    for run, (_, reason) in sorted(unreadable.items()):
        path = multiplexer.RunPaths().get(run) or run
        problems.append({"path": _display_path(path), "reason": reason})
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


def _reload(multiplexer):
    """Load every run, one by one; returns {run: (events skipped, last error)}.

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
                unreadable[run] = (unreadable.get(run, (0, ""))[0] + 1, reason)
                log.warning("nantrace: run %r: unreadable event skipped (%s)", run, reason)
                if isinstance(error, (OSError, MemoryError, OverflowError, UnicodeError)):
                    break
        else:
            log.warning("nantrace: run %r: gave up after %d unreadable events",
                        run, MAX_UNREADABLE_EVENTS)
    return unreadable


# ---------------------------------------------------------------- JSON


def first_incident(runs):
    """Across runs (workers, teammates): the incident that happened first."""
    candidates = [
        (incident.get("wall_time") or 0.0, run["run"], incident)
        for run in runs
        for incident in run["incidents"][:1]
    ]
    if not candidates:
        return None
    wall_time, run, incident = min(candidates, key=lambda c: c[0])
    return {"run": run, "step": incident["step"], "replica": incident.get("replica"),
            "wall_time": wall_time}


def report_json(logdir, runs, problems=()):
    return {
        "format": FORMAT,
        "logdir": logdir,
        "nantrace_version": __version__,
        "first_incident": first_incident(runs),
        # Directories that could not be read at all: [{"path", "reason"}].
        "skipped_paths": list(problems),
        "runs": [
            {
                "run": run["run"],
                "status": run["status"],
                "steps": run["steps"],
                "incident_count": len(run["incidents"]),
                "incidents": run["incidents"],
                "warnings": run.get("warnings", []),
                "info": run["info"],
                "skipped": run.get("skipped", 0),
                "unknown_kinds": run.get("unknown_kinds", {}),
                # Event files whose reading stopped early: [{"file", "error"}].
                "load_errors": run.get("load_errors", []),
            }
            for run in runs
        ],
    }


# ---------------------------------------------------------------- text


def _num(value):
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _shape(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _stats_line(stats):
    parts = [stats.get("name") or "?"]
    if stats.get("dtype"):
        parts.append(f"{stats['dtype']}{_shape(stats.get('shape') or [])}")
    parts.append(f"min {_num(stats.get('min'))}")
    parts.append(f"max {_num(stats.get('max'))}")
    parts.append(f"nan {stats.get('nan', 0)}")
    inf = stats.get("inf", 0)
    if inf:
        parts.append(f"inf {inf} (+{stats.get('posinf', 0)}/-{stats.get('neginf', 0)})")
    else:
        parts.append("inf 0")
    if stats.get("zeros"):
        parts.append(f"zeros {stats['zeros']}")
    if stats.get("negative"):
        parts.append(f"neg {stats['negative']}")
    if stats.get("min_abs_nonzero") is not None:
        parts.append(f"min|x|>0 {_num(stats['min_abs_nonzero'])}")
    return "  ".join(parts)


def _op_text(incident):
    op = incident.get("op") or {}
    text = op.get("type") or "?"
    if op.get("name"):
        text += f" ({op['name']})"
    return text


def _where(incident):
    source = incident.get("source")
    if not source:
        return None
    text = f"{source['file']}:{source['line']}"
    if source.get("function"):
        text += f" in {source['function']}"
    return text


def _incident_lines(incident, origin):
    label = f"#{incident['index']}" + (" ORIGIN" if origin else "")
    head = (
        f"  {label}  step {incident['step']}  {incident['phase']}  "
        f"{incident['kind']}  {_op_text(incident)}"
    )
    lines = [head]
    pad = "      "
    where = []
    if incident.get("layer"):
        where.append(f"layer {incident['layer']}")
    if incident.get("variable"):
        where.append(f"variable {incident['variable']}")
    if incident.get("replica") is not None:
        where.append(f"replica {incident['replica']}")
    if where:
        lines.append(pad + "  ".join(where))
    location = _where(incident)
    if location:
        lines.append(f"{pad}at {location}")
        code = (incident["source"].get("code") or "").strip()
        if code:
            lines.append(f"{pad}   {code}")
    for stats in incident.get("inputs") or []:
        lines.append(f"{pad}input  {_stats_line(stats)}")
    if not incident.get("inputs"):
        for stats in incident.get("outputs") or []:
            lines.append(f"{pad}output {_stats_line(stats)}")
    loc = incident.get("input_location")
    if loc and loc.get("tensor"):
        features = loc.get("feature_index") or []
        text = f"{loc['tensor']} batch row {loc['batch_index']}"
        if features:
            text += f", feature {_shape(features)}"
        lines.append(f"{pad}bad input: {text}")
    cause = incident.get("cause") or {}
    if cause.get("summary") or cause.get("code") not in (None, "unknown"):
        lines.append(f"{pad}cause  {cause.get('summary') or ''} [{cause.get('code')}]")
    if cause.get("contributing"):
        lines.append(f"{pad}contributing: {', '.join(cause['contributing'])}")
    for fix in cause.get("fixes") or []:
        lines.append(f"{pad}fix: {fix}")
    if incident.get("note"):
        lines.append(f"{pad}note: {incident['note']}")
    if origin and incident.get("trend"):
        lines.append(f"{pad}before it:")
        for label, points in incident["trend"].items():
            values = "  ".join(f"{step}:{_num(value)}" for step, value in points)
            lines.append(f"{pad}  {label:<24} {values}")
    return lines


def report_text(logdir, runs, limit=DEFAULT_LIMIT, problems=()):
    bad = [run for run in runs if run["status"] != "healthy"]
    lines = [
        f"nantrace report: {logdir}  "
        f"({len(runs)} run{'s' if len(runs) != 1 else ''}, "
        f"{len(bad)} with incidents)"
    ]
    first = first_incident(runs)
    if first is not None and len(bad) > 1:
        replica = f", replica {first['replica']}" if first.get("replica") is not None else ""
        lines.append(f"first incident: run {first['run']} at step {first['step']}{replica}")
    for problem in problems:
        lines.append(f"warning: skipped {problem['path']}: {problem['reason']}")
    for run in runs:
        incidents = run["incidents"]
        status = "INCIDENT" if incidents else "healthy"
        head = f"run {run['run']}: {status}  steps {run['steps']}"
        if incidents:
            head += f"  incidents {len(incidents)}"
        info = run.get("info") or {}
        if info.get("status"):
            head += f"  ({info['status']})"
        lines.append("")
        lines.append(head)
        shown = incidents[:limit] if limit else incidents
        for position, incident in enumerate(shown):
            lines.extend(_incident_lines(incident, origin=position == 0))
        rest = incidents[len(shown) :]
        if rest:
            lines.append(
                f"  ... {len(rest)} more incident(s), steps {rest[0]['step']}"
                f"..{rest[-1]['step']} (--limit 0 shows all)"
            )
        for warning in run.get("warnings") or []:
            lines.append(f"  warning at step {warning['step']}: {warning['code']}: {warning['message']}")
        if info.get("incidents_capped"):
            lines.append("  (incident cap reached: later incidents were not recorded)")
        for note in info.get("notes") or []:
            lines.append(f"  note: {note}")
        if run.get("skipped"):
            lines.append(f"  warning: {run['skipped']} unreadable record(s) skipped")
        for stopped in run.get("load_errors") or []:
            lines.append(
                f"  warning: {stopped['file']}: {stopped['error']}: the records after it "
                "were not read (cut off, corrupt, or still being written)"
            )
        unknown = run.get("unknown_kinds") or {}
        if unknown:
            kinds = ", ".join(f"{kind or '(none)'} ({count})" for kind, count in unknown.items())
            lines.append(
                f"  note: records of kinds this nantrace {__version__} does not know were "
                f"ignored (written by a newer version?): {kinds}"
            )
    return "\n".join(lines)


def _terminal_safe(text):
    """`text` with control characters other than newline and tab escaped:
    the strings come from event files, possibly someone else's, and must not
    drive the terminal (ANSI escape sequences, carriage returns, ...)."""
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) != "Cc" else repr(c)[1:-1]
        for c in text
    )


# ---------------------------------------------------------------- main


def _parser():
    parser = argparse.ArgumentParser(
        prog="nantrace",
        description="Find where the first NaN/Inf appeared in recorded training runs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    report = commands.add_parser(
        "report",
        help="summarise the nantrace records under a logdir",
        description="Summarise the nantrace records under LOGDIR. Exit status: "
        "0 no incident, 1 at least one incident, 2 no nantrace data / bad logdir.",
    )
    report.add_argument("logdir", metavar="LOGDIR")
    report.add_argument(
        "--json", action="store_true", help=f"print one JSON object ({FORMAT})"
    )
    report.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show full detail for the first N incidents per run "
        f"(default {DEFAULT_LIMIT}, 0 = all)",
    )
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logdir = args.logdir
    problems = []
    try:
        runs = load_logdir(logdir, problems)
    except ReportError as error:
        print(f"nantrace: {error}", file=sys.stderr)
        return EXIT_ERROR
    if not runs:
        for problem in problems:
            print(f"nantrace: skipped {problem['path']}: {problem['reason']}", file=sys.stderr)
        print(
            f"nantrace: no nantrace records under {logdir}: record a run with "
            f"`with nantrace.record({json.dumps(logdir)}): ...` "
            "(import tb_nantrace as nantrace), "
            "then run this again on that directory.",
            file=sys.stderr,
        )
        return EXIT_ERROR

    from tb_nantrace import reader

    if args.json:
        text = reader.dumps(report_json(logdir, runs, problems), indent=2)
    else:
        text = _terminal_safe(report_text(logdir, runs, limit=max(args.limit, 0),
                                          problems=problems))
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    # Escape what stdout cannot carry (a non-UTF-8 locale, a lone surrogate
    # from a file name) rather than die in print().
    text = text.encode(encoding, "backslashreplace").decode(encoding, "replace")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `nantrace report ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_INCIDENT if any(run["incidents"] for run in runs) else EXIT_HEALTHY


if __name__ == "__main__":
    sys.exit(main())

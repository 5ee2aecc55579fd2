"""`nantrace report LOGDIR [--json]`: where did the first NaN/Inf appear?

Reads the logdir with TensorBoard's own Python data provider (the same
reader the TensorBoard plugin uses), never with TensorFlow.

Exit status: 0 no incident in any run, 1 at least one incident,
2 the logdir is missing, unreadable or holds no nantrace records.
"""

import argparse
import json
import os
import sys
import types

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


def load_logdir(logdir):
    """[run detail, ...] sorted by run name, for every run under `logdir`
    holding nantrace records. Raises ReportError for a bad logdir."""
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
        multiplexer.AddRunsFromDirectory(logdir)
        multiplexer.Reload()
        provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
        return reader.read_all(provider, context.RequestContext(), "", trends=True)
    except Exception as error:  # gfile errors are not all OSErrors
        raise ReportError(
            f"cannot read logdir {logdir}: {type(error).__name__}: {error}"
        ) from error


# ---------------------------------------------------------------- JSON


def report_json(logdir, runs):
    return {
        "format": FORMAT,
        "logdir": logdir,
        "nantrace_version": __version__,
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


def report_text(logdir, runs, limit=DEFAULT_LIMIT):
    bad = [run for run in runs if run["status"] != "healthy"]
    lines = [
        f"nantrace report: {logdir}  "
        f"({len(runs)} run{'s' if len(runs) != 1 else ''}, "
        f"{len(bad)} with incidents)"
    ]
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
    return "\n".join(lines)


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
    try:
        runs = load_logdir(logdir)
    except ReportError as error:
        print(f"nantrace: {error}", file=sys.stderr)
        return EXIT_ERROR
    if not runs:
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
        text = reader.dumps(report_json(logdir, runs), indent=2)
    else:
        text = report_text(logdir, runs, limit=max(args.limit, 0))
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `nantrace report ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_INCIDENT if any(run["incidents"] for run in runs) else EXIT_HEALTHY


if __name__ == "__main__":
    sys.exit(main())

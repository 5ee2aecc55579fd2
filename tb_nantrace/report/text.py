"""The text of `nantrace report` (without --json): one block per run, full
detail for the first incidents, and nothing that could drive a terminal.
No TensorFlow."""

import unicodedata

from tb_nantrace import __version__
from tb_nantrace.records import KIND_WORDS
from tb_nantrace.report.analysis_text import analysis_lines
from tb_nantrace.report.json_report import first_incident

# Full detail for this many incidents per run; the rest are counted.
DEFAULT_LIMIT = 10


def _num(value):
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _steps(count):
    return f"{count} step{'s' if count != 1 else ''}"


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
    board = incident.get("tensorboard_step")
    if board:
        lines.append(f"{pad}on the Scalars tab (Keras' TensorBoard callback): "
                     f"{board['unit']} {board['step']}")
    location = _where(incident)
    if location:
        lines.append(f"{pad}at {location}")
        code = (incident["source"].get("code") or "").strip()
        if code:
            lines.append(f"{pad}   {code}")
        call = (incident.get("stack") or [None])[-1]
        source = incident["source"]
        if call and (call.get("file"), call.get("line")) != (source.get("file"), source.get("line")):
            lines.append(f"{pad}called from {call['file']}:{call['line']}"
                         + (f": {call['code'].strip()}" if call.get("code") else ""))
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
    lead = incident.get("first_warning_steps_before")
    if lead is not None:
        what = KIND_WORDS.get(incident.get("kind"), "NaN")
        lines.append(f"{pad}first warning {_steps(lead)} before the {what}" if lead
                     else f"{pad}first warning at the step of the {what}")
    for fix in cause.get("fixes") or []:
        lines.append(f"{pad}fix: {fix}")
    if incident.get("note"):
        lines.append(f"{pad}note: {incident['note']}")
    lines.extend(analysis_lines(incident, pad))
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
            lead = warning.get("steps_before_incident")
            when = f" ({_steps(lead)} before the incident)" if lead else ""
            lines.append(f"  warning at step {warning['step']}{when}: {warning['code']}: {warning['message']}")
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


def terminal_safe(text):
    """`text` with control characters other than newline and tab escaped:
    the strings come from event files, possibly someone else's, and must not
    drive the terminal (ANSI escape sequences, carriage returns, ...)."""
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) != "Cc" else repr(c)[1:-1]
        for c in text
    )

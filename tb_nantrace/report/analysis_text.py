"""The report's lines for an incident's replay analysis (issue 13):
reproduced or not, culprit rows, fixes verified by replay, time spent.
Short lines, from the incident dict (records.incident_to_dict). No
TensorFlow."""

from tb_nantrace.records import KIND_WORDS

EXAMPLES_SHOWN = 3


def _num(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _rows(rows, limit=12):
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f", ... ({len(rows)} rows)" if len(rows) > limit else "")


def _reproduced(again):
    if again["reproduced"]:
        same = "the same op" if again["same_origin"] else "a different first op"
        return f"reproduced: yes, a second replay failed again, at {same}"
    return f"reproduced: NO: {again['note']}"


def _culprit_lines(culprits, pad):
    rows = culprits["rows"]
    method = "origin output" if culprits["method"] == "origin_rows" else "bisection"
    head = f"culprits: batch row{'s' if len(rows) != 1 else ''} {_rows(rows)} ({method}"
    head += ")" if culprits["complete"] else ", stopped at the time budget)"
    indexes = [e["index"] for e in culprits["examples"] if e["index"] is not None]
    if indexes and len(indexes) == len(rows):
        head += " = x[" + "], x[".join(str(i) for i in indexes[:12]) + "]"
    lines = [pad + head]
    if not indexes:
        lines.append(f"{pad}  index into x: {culprits['index_note']}")
    for example in culprits["examples"][:EXAMPLES_SHOWN]:
        where = f"x[{example['index']}]" if example["index"] is not None else (
            f"epoch {example['epoch']} batch {example['batch']}" if example["batch"] is not None
            else "")
        features = "; ".join(
            f"{f['tensor']} min {_num(f['min'])} max {_num(f['max'])}"
            + (f" nan {f['nan_count']}" if f["nan_count"] else "")
            + (f" inf {f['inf_count']}" if f["inf_count"] else "")
            for f in example["features"])
        lines.append(f"{pad}  row {example['row']}{' = ' + where if where else ''}: {features}")
    return lines


def _fix_lines(fixes, kind, pad):
    tried = [f for f in fixes if f["result"] != "skipped"]
    if not tried:
        return []
    still = f"still {KIND_WORDS.get(kind, 'NaN')}"
    words = {"finite": "finite", "nonfinite": still, "error": "error"}
    text = "; ".join(f"{f['fix']} -> {words.get(f['result'], f['result'])}" for f in tried)
    lines = [f"{pad}verified by replay: {text}"]
    first = tried[0]
    span = (f"from step {first['from_step']}, {first['replayed_steps']} step(s)"
            if first["replayed_steps"] > 1 else "the failing step only")
    lines.append(f"{pad}  (replayed {span}; skipped: "
                 + (", ".join(f["fix"] for f in fixes if f["result"] == "skipped") or "none") + ")")
    return lines


def analysis_lines(incident, pad):
    lines = []
    again = incident.get("reproducibility")
    if again:
        lines.append(pad + _reproduced(again))
    if incident.get("culprits"):
        lines.extend(_culprit_lines(incident["culprits"], pad))
    lines.extend(_fix_lines(incident.get("verified_fixes") or [], incident.get("kind"), pad))
    seconds = incident.get("analysis_seconds")
    if seconds:
        lines.append(f"{pad}analysis took {seconds['reproduce']:.2f} s second replay, "
                     f"{seconds['culprits']:.2f} s culprits, {seconds['fixes']:.2f} s fixes")
    return lines

"""Protos <-> plain JSON-ready dicts, in the shape `nantrace report --json`
documents, strict JSON text of them, and the one-sentence headline of an
incident. Shared by the recorder, the plugin and the report so all say the
same thing; never imports TensorFlow (nor anything of tb_nantrace: the
record table in metadata.py builds on this module)."""

import json
import math

PHASES = ("input", "forward", "backward", "optimizer", "other")
KINDS = ("nan", "inf", "nan_and_inf")


def json_number(value):
    """JSON has no NaN/Infinity: encode them as the strings the README names."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def strict_jsonable(value):
    """Deep copy of `value` where every float is JSON-safe (NaN/Infinity as
    the strings json_number uses), bytes are decoded and tuples are lists:
    `json.dumps(..., allow_nan=False)` can never fail on the result."""
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {str(k): strict_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return strict_jsonable(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


def dumps(value, **kwargs):
    """Strict JSON text (no NaN/Infinity literals) of any reader result."""
    return json.dumps(strict_jsonable(value), allow_nan=False, **kwargs)


def tensor_stats_to_dict(stats):
    return {
        "name": stats.name,
        "dtype": stats.dtype,
        "shape": [int(d) for d in stats.shape],
        "min": json_number(stats.min) if stats.HasField("min") else None,
        "max": json_number(stats.max) if stats.HasField("max") else None,
        "nan": int(stats.nan_count),
        "inf": int(stats.posinf_count + stats.neginf_count),
        "posinf": int(stats.posinf_count),
        "neginf": int(stats.neginf_count),
        "zeros": int(stats.zero_count),
        "negative": int(stats.negative_count),
        "size": int(stats.size),
        "min_abs_nonzero": json_number(stats.min_abs_nonzero)
        if stats.HasField("min_abs_nonzero")
        else None,
        "max_abs_finite": json_number(stats.max_abs_finite)
        if stats.HasField("max_abs_finite")
        else None,
    }


def frame_to_dict(frame):
    return {
        "file": frame.file,
        "line": int(frame.line),
        "function": frame.function,
        "code": frame.code,
        "context_start": int(frame.context_start),
        "context": list(frame.context),
        "user": bool(frame.user),
    }


def incident_to_dict(incident):
    """The report's incident object (README: "JSON format"), plus extras
    (stack, outputs, mode, note, wall_time) that the viewer uses."""
    has_source = incident.HasField("source") and bool(incident.source.file)
    has_location = incident.HasField("input_location")
    return {
        "index": int(incident.index),
        "step": int(incident.step),
        "phase": incident.phase or "other",
        "kind": incident.kind or "nan",
        "op": {"type": incident.op.type, "name": incident.op.name or None},
        "layer": incident.layer or None,
        "variable": incident.variable or None,
        "replica": int(incident.replica) if incident.HasField("replica") else None,
        "source": frame_to_dict(incident.source) if has_source else None,
        "inputs": [tensor_stats_to_dict(s) for s in incident.inputs],
        "outputs": [tensor_stats_to_dict(s) for s in incident.outputs],
        "input_location": {
            "tensor": incident.input_location.tensor,
            "batch_index": int(incident.input_location.batch_index),
            "feature_index": [int(i) for i in incident.input_location.feature_index],
        }
        if has_location
        else None,
        "cause": {
            "code": incident.cause.code or "unknown",
            "summary": incident.cause.summary,
            "contributing": list(incident.cause.contributing),
            "fixes": list(incident.cause.fixes),
        },
        "stack": [frame_to_dict(f) for f in incident.stack],
        "graph": graph_to_dict(incident.graph) if incident.HasField("graph") else None,
        "mode": incident.mode or None,
        "note": incident.note or None,
        "wall_time": incident.wall_time,
        # On the step axis of Keras' TensorBoard callback, when it was in the fit.
        "tensorboard_step": {"step": int(incident.tensorboard_step),
                             "unit": incident.tensorboard_step_unit or "batch"}
        if incident.HasField("tensorboard_step") else None,
        **analysis_to_dict(incident),
    }


def _optional(message, name, kind=int):
    return kind(getattr(message, name)) if message.HasField(name) else None


def analysis_to_dict(incident):
    """Issue 13's fields of an incident (null or [] when not analyzed)."""
    culprits = None
    if incident.HasField("culprits"):
        found = incident.culprits
        culprits = {
            "method": found.method, "rows": [int(r) for r in found.rows],
            "complete": bool(found.complete), "index_note": found.index_note,
            "examples": [{
                "row": int(e.row), "index": _optional(e, "index"), "epoch": _optional(e, "epoch"),
                "batch": _optional(e, "batch"),
                "features": [{"tensor": f.tensor, "min": json_number(_optional(f, "min", float)),
                              "max": json_number(_optional(f, "max", float)),
                              "nan_count": int(f.nan_count), "inf_count": int(f.inf_count)}
                             for f in e.features]} for e in found.examples],
        }
    again = incident.reproducibility
    seconds = incident.analysis_seconds
    return {
        "culprits": culprits,
        "reproducibility": {"reproduced": bool(again.reproduced),
                            "same_origin": _optional(again, "same_origin", bool), "note": again.note}
        if incident.HasField("reproducibility") else None,
        "verified_fixes": [{"fix": f.fix, "result": f.result, "from_step": int(f.from_step),
                            "replayed_steps": int(f.replayed_steps), "note": f.note}
                           for f in incident.verified_fixes],
        "analysis_seconds": {"culprits": seconds.culprits, "reproduce": seconds.reproduce,
                             "fixes": seconds.fixes}
        if incident.HasField("analysis_seconds") else None,
    }


def run_info_to_dict(info):
    return {
        "mode": info.mode or None,
        "status": info.status or None,
        "steps": int(info.steps),
        "incident_count": int(info.incident_count),
        "incidents_capped": bool(info.incidents_capped),
        "tensorflow_version": info.tensorflow_version or None,
        "keras_version": info.keras_version or None,
        "nantrace_version": info.nantrace_version or None,
        "start_time": info.start_time or None,
        "end_time": info.end_time or None,
        "notes": list(info.notes),
    }


def warning_to_dict(warning):
    return {
        "index": int(warning.index),
        "step": int(warning.step),
        "code": warning.code,
        "layer": warning.layer or None,
        "metric": warning.metric or None,
        "message": warning.message,
        "evidence": [
            [int(step), json_number(value)]
            for step, value in zip(warning.evidence_steps, warning.evidence_values)
        ],
    }


def graph_to_dict(graph):
    return {
        "nodes": [
            {"name": n.name, "type": n.type, "layer": n.layer or None, "phase": n.phase or None,
             "state": n.state or "finite"}
            for n in graph.nodes
        ],
        "edges": [[e.source, e.target] for e in graph.edges],
        "truncated": bool(graph.truncated),
    }


KIND_WORDS = {"nan": "NaN", "inf": "Inf", "nan_and_inf": "NaN/Inf"}


def headline(incident):
    """One sentence saying where the first NaN/Inf appeared, from the
    incident dict (incident_to_dict): "NaN first appeared at step 12, in the
    forward pass, in op Log (model/log) of layer dense, variable dense/bias"."""
    what = KIND_WORDS.get(incident["kind"], "NaN")
    op = incident["op"]
    if not op["type"]:  # the guard saw it, the replay did not reproduce it: no op is named
        return (f"{what} seen by the guard at step {incident['step']}; replaying the step did "
                "not reproduce it (no op named)")
    op_text = op["type"] + (f" ({op['name']})" if op["name"] else "")
    text = (f"{what} first appeared at step {incident['step']}, "
            f"in the {incident['phase']} pass, in op {op_text}")
    if incident["layer"]:
        text += f" of layer {incident['layer']}"
    if incident["variable"]:
        text += f", variable {incident['variable']}"
    return text

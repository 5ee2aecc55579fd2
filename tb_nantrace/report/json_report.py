"""The `nantrace report --json` object (format nantrace.report/1) of the
runs load_logdir returns. No TensorFlow."""

from tb_nantrace import __version__

FORMAT = "nantrace.report/1"


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

"""The nantrace records of one run, gathered and shaped for the viewer
(no TensorFlow, and no data provider either: reader.py reads the records
and hands each one here as (tag, kind, payload bytes, wall time, step)).

Shapes returned (all JSON-ready, non-finite floats already strings):

    summary: {"run", "status": "healthy"|"incident", "steps",
              "incident_count", "warning_count", "run_status", "skipped"}
    detail:  {"run", "status", "steps", "info": run_info dict or None,
              "incidents": [incident dicts, oldest first], "warnings",
              "skipped", "unknown_kinds"}

Lead times (how early we knew): each warning of the detail carries
"steps_before_incident", the steps from it to the first incident of its
recording at or after its step (None when none followed), and each incident
"first_warning_steps_before", the largest of those among the warnings that
lead up to it (None when no warning did).

"skipped" counts the records this view read but could not decode (corrupt
payload, a tensor that is not a scalar string, a tag the data provider could
not read at all: one per tag). "unknown_kinds" maps each record kind this
version does not know (a newer writer's) to its number of tags: those are
ignored, not skipped.
"""

import logging
from operator import attrgetter
from typing import NamedTuple

from tb_nantrace import metadata, records, timeline

logger = logging.getLogger(__name__)

TREND_STEPS = 8

STATUS_HEALTHY = "healthy"
STATUS_INCIDENT = "incident"


class Sorted(NamedTuple):
    """A record dict and the key it is listed by: oldest recording first,
    then by step within a recording."""

    key: tuple
    record: dict


class RunInfoRecord(NamedTuple):
    """A run start or run end record and when it was written."""

    session: str
    wall_time: float
    step: int
    info: object  # RunInfo

    def order(self):
        return (self.session, self.wall_time, self.step)


class WindowKey(NamedTuple):
    session: str
    incident: int


def _in_order(keyed):
    return [item.record for item in sorted(keyed, key=attrgetter("key"))]


def lead_times(incidents, warnings):
    """Set warning["steps_before_incident"] and
    incident["first_warning_steps_before"] (see the module docstring), within
    each recording session. Incidents sorted by step within a session."""
    for incident in incidents:
        incident["first_warning_steps_before"] = None
    by_session = {}
    for incident in incidents:
        by_session.setdefault(incident.get("session", ""), []).append(incident)
    for warning in warnings:
        following = [i for i in by_session.get(warning.get("session", ""), [])
                     if i["step"] >= warning["step"]]
        warning["steps_before_incident"] = None
        if not following:
            continue
        incident = following[0]
        lead = incident["step"] - warning["step"]
        warning["steps_before_incident"] = lead
        if incident["first_warning_steps_before"] is None or lead > incident["first_warning_steps_before"]:
            incident["first_warning_steps_before"] = lead


class RunData:
    def __init__(self, run):
        self.run = run
        self.incidents = []  # [Sorted]
        self.run_start = None  # RunInfoRecord
        self.run_end = None
        self.skipped = 0
        self.warnings = []  # [Sorted]
        self.windows = {}  # WindowKey -> HealthWindow
        self.chunks = []  # [timeline.SessionChunk]
        self.unknown_kinds = {}  # kind (str) -> number of tags
        self.timeline_max_step = None  # from the listing: no record read

    def add(self, tag, kind, payload, wall_time, step):
        """One stored record; `payload` None when the tensor held none."""
        if payload is None:
            self.skipped += 1
            return
        try:
            message = metadata.parse_record(kind, payload)
        except Exception:  # DecodeError, or anything a corrupt payload raises
            logger.warning("nantrace: unreadable record %r in run %r", tag, self.run)
            self.skipped += 1
            return
        record = metadata.record_of(kind, tag)
        if message is None or record is None:
            return
        self._ADD[record.name](self, tag, record, message, wall_time, step)

    def _add_incident(self, tag, record, message, wall_time, step):
        try:
            incident = record.to_dict(message)
        except Exception:
            logger.warning("nantrace: bad incident %r in run %r", tag, self.run)
            self.skipped += 1
            return
        incident["session"] = metadata.tag_session(tag)
        key = (incident["session"], incident["step"], incident["index"], wall_time)
        self.incidents.append(Sorted(key, incident))

    def _add_warning(self, tag, record, message, wall_time, step):
        warning = record.to_dict(message)
        warning["session"] = metadata.tag_session(tag)
        self.warnings.append(Sorted((warning["session"], warning["step"], warning["index"]),
                                    warning))

    def _add_window(self, tag, record, message, wall_time, step):
        self.windows[WindowKey(metadata.tag_session(tag), int(message.incident_index))] = message

    def _add_chunk(self, tag, record, message, wall_time, step):
        self.chunks.append(timeline.SessionChunk(metadata.tag_session(tag), message))

    def _add_run_info(self, tag, record, message, wall_time, step):
        # Of several recordings into one run, the latest one's record counts.
        added = RunInfoRecord(metadata.tag_session(tag), wall_time, step, message)
        latest = getattr(self, record.name)
        if latest is None or added.order() >= latest.order():
            setattr(self, record.name, added)

    _ADD = {
        metadata.INCIDENT.name: _add_incident,
        metadata.WARNING.name: _add_warning,
        metadata.WINDOW.name: _add_window,
        metadata.TIMELINE.name: _add_chunk,
        metadata.RUN_START.name: _add_run_info,
        metadata.RUN_END.name: _add_run_info,
    }

    def sorted_incidents(self):
        return _in_order(self.incidents)

    def sorted_warnings(self):
        return _in_order(self.warnings)

    def info(self):
        """The latest recording's RunInfo: its end record if written, else
        its start record."""
        candidates = [r for r in (self.run_end, self.run_start) if r is not None]
        if not candidates:
            return None
        latest = max(candidates, key=lambda r: (r.session, r is self.run_end))
        return latest.info

    def steps(self):
        # The end record knows how many steps completed. Without one (still
        # running, or killed) the start record usually says 0, so never
        # report fewer steps than the last incident proves were run.
        info = self.info()
        if info is not None and self.run_end is not None and info is self.run_end.info:
            return int(info.steps)
        from_incidents = max((item.record["step"] + 1 for item in self.incidents), default=0)
        # The timeline's last chunk ends at the last sampled step: a lower
        # bound too (a killed run, or one that wrote only health data).
        if self.timeline_max_step is not None:
            from_incidents = max(from_incidents, self.timeline_max_step + 1)
        if self.run_start is not None:
            return max(int(self.run_start.info.steps), from_incidents)
        return from_incidents

    def status(self):
        return STATUS_INCIDENT if self.incidents else STATUS_HEALTHY

    def summary(self):
        return records.strict_jsonable(
            {
                "run": self.run,
                "status": self.status(),
                "steps": self.steps(),
                "incident_count": len(self.incidents),
                "warning_count": len(self.warnings),
                "run_status": (self.info().status or None) if self.info() is not None else None,
                "skipped": self.skipped,
            }
        )

    def trend(self, incident, last=TREND_STEPS):
        """The steps just before an incident, for the metrics that usually
        tell the story: loss and gradient norm, overall and in its layer."""
        window = self.window(incident.get("session", ""), incident["index"])
        if window is None:
            return None
        wanted = [("loss", None), ("grad_norm", None)]
        if incident.get("layer"):
            wanted += [("act_max_abs", incident["layer"]), ("grad_norm", incident["layer"])]
        steps = window["steps"][-last:]
        trend = {}
        for series in window["series"]:
            if (series["metric"], series["layer"]) in wanted:
                label = series["metric"] + (f"[{series['layer']}]" if series["layer"] else "")
                trend[label] = [[s, v] for s, v in zip(steps, series["values"][-last:])]
        return trend

    def detail(self, trends=False):
        if trends:
            for item in self.incidents:
                item.record["trend"] = self.trend(item.record)
        lead_times(self.sorted_incidents(), self.sorted_warnings())
        info = self.info()
        return records.strict_jsonable(
            {
                "run": self.run,
                "status": self.status(),
                "steps": self.steps(),
                "info": records.run_info_to_dict(info) if info is not None else None,
                "incidents": self.sorted_incidents(),
                "warnings": self.sorted_warnings(),
                "skipped": self.skipped,
                "unknown_kinds": dict(sorted(self.unknown_kinds.items())),
            }
        )

    def window(self, session, index, metrics=None):
        """Full-resolution health before incident `index` of `session`
        (the latest session when `session` is empty), column by column;
        only the `metrics` asked for, if any."""
        if not session:
            matching = sorted(key for key in self.windows if key.incident == index)
            session = matching[-1].session if matching else ""
        message = self.windows.get(WindowKey(session, index))
        if message is None:
            return None
        columns = len(message.metric)
        steps = [int(s) for s in message.steps]
        values = list(message.values)
        if len(message.all_measured) == len(steps):
            # A sampled column on a row that did not measure it: null (a gap
            # in the chart), where a NaN that was measured stays "NaN".
            every_step = metadata.measured_every_step(message.metric, message.layer)
            sampled = [c for c, always in enumerate(every_step) if not always]
            for row, measured in enumerate(message.all_measured):
                if measured:
                    continue
                for c in sampled:
                    if row * columns + c < len(values):
                        values[row * columns + c] = None
        return records.strict_jsonable({
            "run": self.run,
            "session": session,
            "incident": index,
            "steps": steps,
            "series": [
                {"metric": message.metric[c],
                 "layer": (message.layer[c] if c < len(message.layer) else "") or None,
                 "values": values[c::columns][: len(steps)]}
                for c in range(columns)
                if not metrics or message.metric[c] in metrics
            ],
            "skipped": self.skipped,
        })

    def timeline(self, max_points, stats, metrics=None, layers=None):
        """The sampled long-horizon timeline, downsampled here (not in the
        browser) to at most `max_points` points per series, with incident
        and warning markers."""
        lead_times(self.sorted_incidents(), self.sorted_warnings())
        return records.strict_jsonable({
            "run": self.run,
            **timeline.downsample(self.chunks, max_points, stats, metrics, layers),
            "incidents": [
                {k: i[k] for k in ("index", "session", "step", "kind", "phase")}
                | {"op": i["op"]["type"]}
                for i in self.sorted_incidents()
            ],
            "warnings": self.sorted_warnings(),
            "skipped": self.skipped,
        })

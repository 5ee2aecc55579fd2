"""What identifies nantrace data inside TensorBoard event files.

Owned here so the writer (TensorFlow side) and the readers (plugin, report;
no TensorFlow) can never disagree about tags, plugin name or versions.

`RECORDS` is the one table of record kinds: for each record (incident,
health window, warning, timeline chunk, run start, run end) the content
string that names its message, the message class, how its tag is built from
the recording session and the message, and its JSON-ready dict. The writer
asks it for tag and SummaryMetadata, the reader for the message class, the
session a tag belongs to and which record a tag holds.
"""

from typing import Callable, NamedTuple, Optional

from tensorboard.compat.proto import summary_pb2

from tb_nantrace import records
from tb_nantrace.proto import nantrace_pb2

PLUGIN_NAME = "nantrace"
SCHEMA_VERSION = 1

# One tag per incident: a tag holding a single point is never downsampled
# (Rust data server keeps 100 points per tensor tag, the Python loader 10)
# and two incidents can never collapse into one event at the same step.
# Every tag carries the recording's session id, so two recordings into the
# same logdir (a resumed training) never collide either.
INCIDENT_TAG_PREFIX = "nantrace/incident/"
RUN_START_TAG = "nantrace/run_start"
RUN_END_TAG = "nantrace/run_end"

# Content of SummaryMetadata.plugin_data.content: which message the string
# tensor of this tag holds.
KIND_INCIDENT = b"incident"
KIND_RUN_INFO = b"run_info"
KIND_WINDOW = b"health_window"
KIND_TIMELINE = b"timeline"
KIND_WARNING = b"warning"

# The flight-recorder window of incident i, and warning i: one point per tag,
# like incidents. The timeline is one tag of many points, and TensorBoard's
# sampling of it is fine: the windows keep full resolution where it matters.
WINDOW_TAG_PREFIX = "nantrace/window/"
# The window written when a recording ends: its last steps (every step of a
# short run), under this incident index.
END_WINDOW = -1
# Health columns (metric, layer) measured on every row of a window; the
# others only on rows whose HealthWindow.all_measured is true.
EVERY_STEP_COLUMNS = frozenset({("loss", ""), ("grad_norm", "")})
WARNING_TAG_PREFIX = "nantrace/warning/"
TIMELINE_TAG = "nantrace/timeline"


def measured_every_step(metrics, layers):
    """Per health column: True if it is in EVERY_STEP_COLUMNS (measured on
    every row), False if sampled. `layers` may be shorter than `metrics` in
    a damaged file: a missing layer is the model's own ("")."""
    return [(metric, layers[i] if i < len(layers) else "") in EVERY_STEP_COLUMNS
            for i, metric in enumerate(metrics)]


def summary_metadata(kind, description=""):
    """SummaryMetadata for a nantrace record: a scalar string tensor holding
    one serialized proto. DATA_CLASS_TENSOR makes the data visible to both
    data providers; without a data class events are silently ignored."""
    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=kind
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def _tag(base, session, number=None):
    return f"{base}/{session}" if number is None else f"{base}/{session}/{number:04d}"


class Record(NamedTuple):
    """One kind of record.

    Its tag is `base/SESSION` (one tag per recording: run start and end,
    the timeline), or `base/SESSION/NNNN` numbered by the message field
    `numbered_by` (one tag per incident, window, warning)."""

    name: str
    kind: bytes  # SummaryMetadata.plugin_data.content
    message: type  # the proto class the string tensor holds
    base: str
    numbered_by: Optional[str]
    # Message -> JSON-ready dict; None where the reader reshapes the
    # message itself (windows and timeline chunks are read column-wise).
    to_dict: Optional[Callable] = None

    def tag(self, session, message):
        """The tag this record is written under in recording `session`."""
        number = None if self.numbered_by is None else getattr(message, self.numbered_by)
        return _tag(self.base, session, number)

    def summary_metadata(self):
        return summary_metadata(self.kind)

    def holds(self, tag):
        """Whether `tag` is one of this record's tags (with or without a
        session: tags written before sessions existed had none)."""
        return tag.startswith(self.base + "/") or (self.numbered_by is None and tag == self.base)

    def session_of(self, tag):
        """The session id in one of this record's tags ("" if it has none)."""
        if not tag.startswith(self.base + "/"):
            return ""
        rest = tag[len(self.base) + 1 :]
        if self.numbered_by is None:
            return rest
        return rest.split("/", 1)[0] if "/" in rest else ""


INCIDENT = Record("incident", KIND_INCIDENT, nantrace_pb2.Incident,
                  INCIDENT_TAG_PREFIX.rstrip("/"), "index", records.incident_to_dict)
WINDOW = Record("window", KIND_WINDOW, nantrace_pb2.HealthWindow,
                WINDOW_TAG_PREFIX.rstrip("/"), "incident_index")
WARNING = Record("warning", KIND_WARNING, nantrace_pb2.Warning,
                 WARNING_TAG_PREFIX.rstrip("/"), "index", records.warning_to_dict)
TIMELINE = Record("timeline", KIND_TIMELINE, nantrace_pb2.TimelineChunk, TIMELINE_TAG, None)
RUN_START = Record("run_start", KIND_RUN_INFO, nantrace_pb2.RunInfo, RUN_START_TAG, None,
                   records.run_info_to_dict)
RUN_END = Record("run_end", KIND_RUN_INFO, nantrace_pb2.RunInfo, RUN_END_TAG, None,
                 records.run_info_to_dict)

RECORDS = (INCIDENT, WINDOW, WARNING, TIMELINE, RUN_START, RUN_END)
# Run start and end share one kind: their tags tell them apart.
MESSAGE_OF_KIND = {record.kind: record.message for record in RECORDS}
KNOWN_KINDS = tuple(MESSAGE_OF_KIND)


def session_id(start_time):
    """Sortable id of one recording: its start time in milliseconds."""
    return f"{int(start_time * 1000):013d}"


def incident_tag(session, index):
    return _tag(INCIDENT.base, session, index)


def window_tag(session, incident_index):
    return _tag(WINDOW.base, session, incident_index)


def warning_tag(session, index):
    return _tag(WARNING.base, session, index)


def run_info_tag(base, session):
    return _tag(base, session)


def record_of_tag(tag):
    """The record whose tags include `tag`, or None."""
    return next((record for record in RECORDS if record.holds(tag)), None)


def record_of(kind, tag):
    """The record a stored (kind, tag) pair is: the kind decides, and for
    the kind of run start and run end, the tag (None if it is neither)."""
    matching = [record for record in RECORDS if record.kind == kind]
    if len(matching) == 1:
        return matching[0]
    return next((record for record in matching if record.holds(tag)), None)


def kind_of(tag, plugin_content):
    """Which message a tag holds: plugin_data.content, or the tag when a
    provider did not pass the content along. None for a kind from a newer
    writer: not ours to interpret."""
    if plugin_content in KNOWN_KINDS:
        return plugin_content
    if plugin_content:
        return None
    record = record_of_tag(tag)
    return record.kind if record is not None else None


def tag_session(tag):
    """The session id in a nantrace tag ("" for tags written without one)."""
    record = record_of_tag(tag)
    return record.session_of(tag) if record is not None else ""


def is_run_start(tag):
    return RUN_START.holds(tag)


def is_run_end(tag):
    return RUN_END.holds(tag)


def parse_record(kind, payload):
    """Decode one stored record. Unknown fields from newer writers are
    ignored by protobuf; an unknown kind returns None."""
    message = MESSAGE_OF_KIND.get(kind)
    return message.FromString(payload) if message is not None else None

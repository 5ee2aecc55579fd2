"""What identifies nantrace data inside TensorBoard event files.

Owned here so the writer (TensorFlow side) and the readers (plugin, report;
no TensorFlow) can never disagree about tags, plugin name or versions.
"""

from tensorboard.compat.proto import summary_pb2

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
WARNING_TAG_PREFIX = "nantrace/warning/"
TIMELINE_TAG = "nantrace/timeline"


def session_id(start_time):
    """Sortable id of one recording: its start time in milliseconds."""
    return f"{int(start_time * 1000):013d}"


def incident_tag(session, index):
    return f"{INCIDENT_TAG_PREFIX}{session}/{index:04d}"


def window_tag(session, incident_index):
    return f"{WINDOW_TAG_PREFIX}{session}/{incident_index:04d}"


def warning_tag(session, index):
    return f"{WARNING_TAG_PREFIX}{session}/{index:04d}"


def run_info_tag(base, session):
    return f"{base}/{session}"


def tag_session(tag):
    """The session id in a nantrace tag ("" for tags written without one)."""
    for base in (RUN_START_TAG, RUN_END_TAG, TIMELINE_TAG):
        if tag.startswith(base + "/"):
            return tag[len(base) + 1 :]
    for prefix in (INCIDENT_TAG_PREFIX, WINDOW_TAG_PREFIX, WARNING_TAG_PREFIX):
        if tag.startswith(prefix):
            rest = tag[len(prefix) :]
            return rest.split("/", 1)[0] if "/" in rest else ""
    return ""


def is_run_start(tag):
    return tag == RUN_START_TAG or tag.startswith(RUN_START_TAG + "/")


def is_run_end(tag):
    return tag == RUN_END_TAG or tag.startswith(RUN_END_TAG + "/")


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


def parse_record(kind, payload):
    """Decode one stored record. Unknown fields from newer writers are
    ignored by protobuf; an unknown kind returns None."""
    if kind == KIND_INCIDENT:
        return nantrace_pb2.Incident.FromString(payload)
    if kind == KIND_RUN_INFO:
        return nantrace_pb2.RunInfo.FromString(payload)
    if kind == KIND_WINDOW:
        return nantrace_pb2.HealthWindow.FromString(payload)
    if kind == KIND_TIMELINE:
        return nantrace_pb2.TimelineChunk.FromString(payload)
    if kind == KIND_WARNING:
        return nantrace_pb2.Warning.FromString(payload)
    return None

"""Event files for the robustness and fuzz tests, written without TensorFlow.

`tb_nantrace.recorder.writer.RecordWriter` needs TensorFlow (seconds to import) and
can only write well-formed records. These tests need hostile ones too:
payloads a newer writer might produce, tensors no writer produces, bytes
that are not records at all. So the records are framed here, with
TensorBoard's own TFRecord writer (length, masked CRC32C, data, CRC), in
exactly the shape `tf.summary.write` gives them: an Event holding one
Summary.Value with the tag, nantrace's SummaryMetadata and a scalar
DT_STRING tensor holding the serialized proto.
"""

import io
import os
import struct

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_nantrace import metadata
from tb_nantrace.proto import nantrace_pb2 as pb

SESSION = "0001700000000"
FILE_NAME = "events.out.tfevents.1700000000.host.1.nantrace"


def frame(data):
    """One TFRecord: what RecordWriter writes for `data`."""
    buffer = io.BytesIO()
    RecordWriter(buffer).write(data)
    return buffer.getvalue()


def string_tensor(payload):
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[payload],
    )


def event(tag, kind, payload, step, wall_time=1_700_000_000.0, tensor=None):
    """Serialized Event of one nantrace record (`payload`: bytes or a proto)."""
    if not isinstance(payload, (bytes, bytearray)):
        payload = payload.SerializeToString()
    value = summary_pb2.Summary.Value(
        tag=tag,
        metadata=metadata.summary_metadata(kind),
        tensor=tensor if tensor is not None else string_tensor(bytes(payload)),
    )
    return event_pb2.Event(
        wall_time=wall_time, step=int(step), summary=summary_pb2.Summary(value=[value])
    ).SerializeToString()


def file_version_event():
    return event_pb2.Event(wall_time=1_700_000_000.0, file_version="brain.Event:2").SerializeToString()


class Run:
    """Collects the serialized events of one run; `records()` frames them."""

    def __init__(self, session=SESSION):
        self.session = session
        self.events = [file_version_event()]

    def add(self, tag, kind, message, step, **kwargs):
        self.events.append(event(tag, kind, message, step, **kwargs))
        return self

    def run_start(self, info=None):
        info = info or pb.RunInfo(schema_version=1, status="running", mode="guard")
        tag = metadata.run_info_tag(metadata.RUN_START_TAG, self.session)
        return self.add(tag, metadata.KIND_RUN_INFO, info, 0)

    def run_end(self, info):
        tag = metadata.run_info_tag(metadata.RUN_END_TAG, self.session)
        return self.add(tag, metadata.KIND_RUN_INFO, info, info.steps)

    def incident(self, incident, payload=None):
        tag = metadata.incident_tag(self.session, incident.index)
        return self.add(tag, metadata.KIND_INCIDENT,
                        incident if payload is None else payload, incident.step)

    def warning(self, warning):
        tag = metadata.warning_tag(self.session, warning.index)
        return self.add(tag, metadata.KIND_WARNING, warning, warning.step)

    def window(self, window, step):
        tag = metadata.window_tag(self.session, window.incident_index)
        return self.add(tag, metadata.KIND_WINDOW, window, step)

    def timeline(self, chunk):
        tag = metadata.run_info_tag(metadata.TIMELINE_TAG, self.session)
        return self.add(tag, metadata.KIND_TIMELINE, chunk, chunk.last_step)

    def records(self):
        """[(offset, framed record)] in file order."""
        out, offset = [], 0
        for data in self.events:
            record = frame(data)
            out.append((offset, record))
            offset += len(record)
        return out

    def data(self):
        return b"".join(record for _, record in self.records())

    def write(self, directory, data=None, name=FILE_NAME):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(self.data() if data is None else data)
        return path


def incident(index=0, step=3, op="Log", layer="dense", cause="log_of_nonpositive"):
    message = pb.Incident(schema_version=1, index=index, step=step, phase="forward",
                          kind="inf", layer=layer, mode="guard", wall_time=1_700_000_001.0)
    message.op.type = op
    message.op.name = f"model/{layer}/{op}"
    message.inputs.add(name="x:0", dtype="float32", shape=[4], size=4, min=0.0, max=1.0,
                       zero_count=1)
    message.cause.code = cause
    message.cause.summary = "log(0) = -inf"
    message.source.file = "train.py"
    message.source.line = 12
    message.source.function = "loss"
    message.source.code = "return log(p)"
    return message


def timeline_chunk(first, last, metrics=("loss", "grad_norm"), layers=("", "")):
    n = len(metrics)
    return pb.TimelineChunk(
        schema_version=1, metric=list(metrics), layer=list(layers), first_step=first,
        last_step=last, count=last - first + 1, min=[0.5 + first] * n, max=[1.5 + last] * n,
        mean=[1.0 + first] * n, last=[1.0 + last] * n)


def unknown_varint_field(number=1000, value=123456789):
    """Bytes of a field this schema does not know: what a newer writer adds."""

    def varint(v):
        out = bytearray()
        while True:
            byte = v & 0x7F
            v >>= 7
            if v:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    return varint(number << 3 | 0) + varint(value)


def unknown_length_field(number=1001, data=b"future data"):
    key = (number << 3 | 2)
    out = bytearray()
    for v in (key, len(data)):
        while True:
            byte = v & 0x7F
            v >>= 7
            out.append(byte | (0x80 if v else 0))
            if not v:
                break
    return bytes(out) + data


def u64(value):
    return struct.pack("<Q", value)

"""The record-kind table in metadata.py, which the writer writes by and the
reader reads by, and the headline sentence recorder and viewer share
(records.headline). Neither needs TensorFlow."""

import pytest

from tb_nantrace import metadata, records
from tb_nantrace.proto import nantrace_pb2 as pb

SESSION = "0001700000000"
MESSAGES = {
    "incident": pb.Incident(index=3, step=12),
    "window": pb.HealthWindow(incident_index=3),
    "warning": pb.Warning(index=2, step=9),
    "timeline": pb.TimelineChunk(first_step=0, last_step=63),
    "run_start": pb.RunInfo(status="running"),
    "run_end": pb.RunInfo(status="stopped", steps=13),
}


@pytest.mark.parametrize("record", metadata.RECORDS, ids=lambda r: r.name)
def test_every_record_kind_is_read_back_as_the_kind_it_was_written(record):
    message = MESSAGES[record.name]
    tag = record.tag(SESSION, message)
    assert metadata.record_of_tag(tag) is record
    assert metadata.record_of(record.kind, tag) is record
    assert metadata.kind_of(tag, b"") == record.kind  # a provider that drops the content
    assert metadata.kind_of(tag, record.kind) == record.kind
    assert metadata.tag_session(tag) == record.session_of(tag) == SESSION
    assert metadata.parse_record(record.kind, message.SerializeToString()) == message
    content = record.summary_metadata().plugin_data
    assert (content.plugin_name, content.content) == (metadata.PLUGIN_NAME, record.kind)
    if record.to_dict is not None:
        assert isinstance(record.to_dict(message), dict)


def test_tags_are_the_ones_older_versions_wrote():
    assert metadata.INCIDENT.tag(SESSION, MESSAGES["incident"]) == f"nantrace/incident/{SESSION}/0003"
    assert metadata.incident_tag(SESSION, 3) == f"nantrace/incident/{SESSION}/0003"
    assert metadata.WINDOW.tag(SESSION, MESSAGES["window"]) == f"nantrace/window/{SESSION}/0003"
    assert metadata.WARNING.tag(SESSION, MESSAGES["warning"]) == f"nantrace/warning/{SESSION}/0002"
    assert metadata.TIMELINE.tag(SESSION, None) == f"nantrace/timeline/{SESSION}"
    assert metadata.RUN_START.tag(SESSION, None) == f"nantrace/run_start/{SESSION}"
    assert metadata.RUN_END.tag(SESSION, None) == f"nantrace/run_end/{SESSION}"
    # Written before sessions existed: no session, still read.
    assert metadata.record_of_tag("nantrace/run_end") is metadata.RUN_END
    assert metadata.tag_session("nantrace/run_end") == ""
    assert metadata.tag_session("nantrace/incident/0003") == ""


def test_run_start_and_end_share_a_kind_and_only_their_tags_tell_them_apart():
    assert metadata.record_of(metadata.KIND_RUN_INFO, "nantrace/run_start/x") is metadata.RUN_START
    assert metadata.record_of(metadata.KIND_RUN_INFO, "nantrace/run_end/x") is metadata.RUN_END
    assert metadata.record_of(metadata.KIND_RUN_INFO, "nantrace/other") is None
    assert metadata.kind_of("nantrace/incident/x/0001", b"newer_kind") is None
    assert metadata.parse_record(b"newer_kind", b"") is None


def incident(**fields):
    message = pb.Incident(**{"step": 12, "phase": "forward", "kind": "nan", **fields})
    message.op.type = "Log"
    return message


@pytest.mark.parametrize("message, sentence", [
    (incident(), "NaN first appeared at step 12, in the forward pass, in op Log"),
    (incident(kind="inf", layer="dense"),
     "Inf first appeared at step 12, in the forward pass, in op Log of layer dense"),
    (incident(kind="nan_and_inf", layer="dense", variable="dense/bias"),
     "NaN/Inf first appeared at step 12, in the forward pass, in op Log of layer dense, "
     "variable dense/bias"),
])
def test_headline_says_where_the_first_nan_appeared(message, sentence):
    assert records.headline(records.incident_to_dict(message)) == sentence
    message.op.name = "model/log"
    assert records.headline(records.incident_to_dict(message)) == sentence.replace(
        "in op Log", "in op Log (model/log)")

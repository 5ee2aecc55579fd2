"""tb_nantrace.reader over a DataProvider handing back odd tensors, as a
provider might: what cannot be decoded is skipped and counted, kinds from a
newer writer are ignored, and what comes out is strict JSON."""

import numpy as np
import pytest

from fake_provider import FakeProvider
from tb_nantrace import metadata, reader, records
from tb_nantrace.proto import nantrace_pb2 as pb
from tensorboard import context as tb_context
from tensorboard.data import provider as provider_lib
from viewer_runs import INF, NAN, big_incident


def test_reader_skips_bad_records_and_ignores_newer_kinds():
    def datum(value, step=0):
        return provider_lib.TensorDatum(step=step, wall_time=1.0, numpy=value)

    good = big_incident(3).SerializeToString()
    data = {
        "r": {
            "nantrace/incident/0000": [datum(np.array(b"\x0a\xff\xff"))],  # corrupt
            "nantrace/incident/0001": [datum(np.array([good, good], dtype=object))],  # not scalar
            "nantrace/incident/0002": [datum(np.array(3.0))],  # not a string
            "nantrace/incident/0003": [datum(np.array(good, dtype=object), step=7)],
            "nantrace/future": [datum(np.array(b"whatever"))],  # a newer kind: ignored
            # No plugin_content passed along: the tag says what it is.
            metadata.RUN_START_TAG: [datum(np.array(pb.RunInfo(steps=2).SerializeToString()))],
        }
    }
    fake = FakeProvider(data, {("r", "nantrace/future"): b"something_new"})
    ctx = tb_context.RequestContext()
    (summary,) = reader.list_runs(fake, ctx, "")
    assert summary == {"run": "r", "status": "incident", "steps": 8,
                       "incident_count": 1, "warning_count": 0, "run_status": None,
                       "skipped": 3}
    detail = reader.read_run(fake, ctx, "", "r")
    assert [i["index"] for i in detail["incidents"]] == [3]
    with pytest.raises(reader.UnknownRunError):
        reader.read_run(fake, ctx, "", "missing")


def test_strict_json_text_spells_non_finite_numbers_as_strings():
    assert records.dumps({"x": [NAN, INF, -INF, np.float32(1.5)]}) == (
        '{"x": ["NaN", "Infinity", "-Infinity", 1.5]}'
    )

"""How early we knew: each warning carries the steps to the incident that
followed it, each incident the lead of its first warning, and the text report
says "first warning N steps before the NaN". Pure dicts, no TensorFlow."""

import pytest

from tb_nantrace import run_data
from tb_nantrace.report import text


def incident(step, session="s1", index=0, kind="nan"):
    return {"index": index, "step": step, "session": session, "phase": "forward", "kind": kind,
            "op": {"type": "Log", "name": None}, "cause": {"code": "unknown"}}


def warning(step, session="s1", code="exploding_gradient"):
    return {"index": 0, "step": step, "session": session, "code": code, "layer": None,
            "message": "m"}


# (id, incident steps, warning steps, warnings' steps_before_incident,
#  incidents' first_warning_steps_before); one recording session.
CASES = [
    ("warnings_before_one_incident", [12], [0, 5, 12], [12, 7, 0], [12]),
    ("no_warning", [12], [], [], [None]),
    ("warning_after_the_last_incident", [4], [9], [None], [None]),
    ("each_warning_counts_for_the_next_incident_only", [10, 50], [2, 10, 40], [8, 0, 10], [8, 10]),
    ("an_incident_with_no_warning_since_the_previous_one", [10, 50], [3], [7], [7, None]),
    ("no_incident", [], [3, 8], [None, None], []),
]


@pytest.mark.parametrize("incident_steps, warning_steps, before, first",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_lead_times_count_steps_to_the_next_incident(incident_steps, warning_steps, before, first):
    incidents = [incident(step, index=i) for i, step in enumerate(incident_steps)]
    warnings = [warning(step) for step in warning_steps]
    run_data.lead_times(incidents, warnings)
    assert [w["steps_before_incident"] for w in warnings] == before
    assert [i["first_warning_steps_before"] for i in incidents] == first


def test_lead_times_stay_within_their_recording_session():
    incidents = [incident(20, session="s2")]
    warnings = [warning(5, session="s1"), warning(15, session="s2")]
    run_data.lead_times(incidents, warnings)
    assert [w["steps_before_incident"] for w in warnings] == [None, 5]
    assert incidents[0]["first_warning_steps_before"] == 5


def run_of(incidents, warnings):
    run_data.lead_times(incidents, warnings)
    return {"run": "r", "status": "incident", "steps": 13, "incidents": incidents,
            "warnings": warnings, "info": None}


def test_text_report_says_how_many_steps_before_the_nan_the_first_warning_came():
    out = text.report_text("logs", [run_of([incident(12)], [warning(3), warning(11, code="loss_spike")])])
    assert "first warning 9 steps before the NaN" in out
    assert "warning at step 3 (9 steps before the incident): exploding_gradient" in out
    assert "warning at step 11 (1 step before the incident): loss_spike" in out


def test_text_report_names_the_kind_and_a_warning_at_the_incident_step():
    out = text.report_text("logs", [run_of([incident(4, kind="inf")], [warning(4)])])
    assert "first warning at the step of the Inf" in out
    assert "warning at step 4: exploding_gradient" in out


def test_text_report_without_warnings_says_nothing_of_lead_time():
    out = text.report_text("logs", [run_of([incident(4)], [])])
    assert "first warning" not in out

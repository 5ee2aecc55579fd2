"""`nantrace report` on the viewer logdir (viewer_runs.py): the JSON object,
the text, a logdir that is itself a run, and exit status 2 with the reason."""

import pytest

from tb_nantrace import records
from tb_nantrace.proto import nantrace_pb2 as pb
from tb_nantrace.report import cli, text
from tensorboard_process import strict_json_loads
from viewer_runs import BIG, READER_KEYS, check_big, check_rich


REPORT_KEYS = {"format", "logdir", "runs"}
RUN_KEYS = {"run", "status", "steps", "incidents"}


def test_json_report_lists_nested_runs_with_every_incident(viewer_logdir, report):
    code, out, err = report(viewer_logdir, "--json")
    assert code == 1, err
    body = strict_json_loads(out)
    assert REPORT_KEYS <= set(body)
    assert body["format"] == "nantrace.report/1"
    assert body["logdir"] == str(viewer_logdir)
    assert [r["run"] for r in body["runs"]] == ["big", "healthy", "nested/deep"]
    for run in body["runs"]:
        assert RUN_KEYS <= set(run)
        assert isinstance(run["steps"], int)
        for incident in run["incidents"]:
            assert set(incident) == set(records.incident_to_dict(pb.Incident())) | READER_KEYS
    runs = {r["run"]: r for r in body["runs"]}
    check_big(runs["big"])
    check_rich(runs["nested/deep"])
    assert runs["healthy"]["status"] == "healthy" and runs["healthy"]["incidents"] == []


def test_a_logdir_that_is_itself_a_run_is_reported_as_run_dot(viewer_logdir, report):
    code, out, err = report(viewer_logdir / "healthy", "--json")
    assert code == 0, err
    body = strict_json_loads(out)
    assert body["runs"] == [
        {**body["runs"][0], "run": ".", "status": "healthy", "steps": 50, "incidents": []}
    ]
    code, out, _ = report(viewer_logdir / "nested" / "deep", "--json")
    assert code == 1
    assert [r["run"] for r in strict_json_loads(out)["runs"]] == ["."]


def test_text_report_shows_the_origin_in_full_and_counts_the_rest(viewer_logdir, report):
    code, out, _ = report(viewer_logdir / "nested")
    assert code == 1
    for expected in (
        "run deep: INCIDENT  steps 42",
        "#0 ORIGIN  step 41  backward  nan_and_inf  RealDiv (gradient_tape/model/dense_1/truediv)",
        "layer dense_1  variable dense_1/kernel",
        "at train.py:42 in loss_fn",
        "return tf.reduce_mean(a / b)",
        "input  a:0  float32[32,10]  min -Infinity  max NaN  nan 3  inf 3 (+2/-1)",
        "bad input: x batch row 5, feature [3]",
        "cause  division by a tensor that contains zeros [division_by_zero]",
        "contributing: input_inf, learning_rate_high",
        "fix: use tf.math.divide_no_nan",
        "1 unreadable record(s) skipped",
    ):
        assert expected in out, f"{expected!r} not in:\n{out}"
    code, out, _ = report(viewer_logdir / "big")
    assert code == 1
    assert out.count("ORIGIN") == 1 and "#0 ORIGIN  step 1 " in out
    assert f"... {BIG - text.DEFAULT_LIMIT} more incident(s)" in out
    assert len(out.splitlines()) < 40
    code, out, _ = report(viewer_logdir / "healthy")
    assert code == 0 and "run .: healthy  steps 50" in out


def test_missing_empty_or_foreign_logdirs_exit_2_and_say_why(viewer_logdir, tmp_path, report):
    code, out, err = report(tmp_path / "missing")
    assert (code, out) == (2, "") and "does not exist" in err
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", viewer_logdir / "other"):
        code, out, err = report(path, "--json")
        assert (code, out) == (2, "")
        assert "no nantrace records under" in err and "nantrace.record(" in err
    (tmp_path / "file").write_text("x")
    code, _, err = report(tmp_path / "file")
    assert code == 2 and "not a directory" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2

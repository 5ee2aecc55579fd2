"""Logdirs that travel and survive: viewed without TensorFlow and without
the training script, redacted, written to ram://, interrupted, unwritable,
nested recordings."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tb_nantrace as nantrace
from recorded import read_back
from tb_nantrace.report import loader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tests", "scripts", "train_bad_batch.py")
LOSS_LINE = next(i for i, line in enumerate(open(SCRIPT), 1) if "# LOSS_LINE" in line)
LOSS_CODE = b"tf.reduce_mean(tf.abs(y_true - y_pred)) / tf.reduce_mean"

# Views a logdir in a process where `import tensorflow` fails.
VIEW_WITHOUT_TF = textwrap.dedent(
    """
    import io, json, sys, contextlib
    sys.modules["tensorflow"] = None
    from tb_nantrace.report import cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["report", sys.argv[1], "--json"])
    print(json.dumps({"code": code, "report": json.loads(out.getvalue())}))
    """
)


def train_in_project(project, logdir, redact=False, interrupt_at=-1, cwd=None):
    """Copy the user's script into `project` and run it there, as a user would."""
    os.makedirs(project, exist_ok=True)
    script = shutil.copy(SCRIPT, os.path.join(project, "train.py"))
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run(
        [sys.executable, script, str(logdir), "redact" if redact else "keep", str(interrupt_at)],
        cwd=cwd or project, env=env, capture_output=True, text=True, timeout=300,
    ), script


def view_without_tensorflow(logdir):
    result = subprocess.run(
        [sys.executable, "-c", VIEW_WITHOUT_TF, str(logdir)],
        env={**os.environ, "PYTHONPATH": REPO}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_teammate_views_logdir_without_tensorflow_or_script(tmp_path):
    project, logdir = tmp_path / "project", tmp_path / "project" / "logs" / "run"
    result, script = train_in_project(project, logdir)
    assert result.returncode == 0, result.stderr[-2000:]
    os.remove(script)  # the teammate has only the logdir
    shutil.copytree(project / "logs", tmp_path / "received")
    shutil.rmtree(project)
    viewed = view_without_tensorflow(tmp_path / "received")
    assert viewed["code"] == 1
    (run,) = viewed["report"]["runs"]
    first = run["incidents"][0]
    assert (first["step"], first["phase"], first["op"]["type"]) == (2, "forward", "RealDiv")
    assert first["cause"]["code"] == "division_by_zero"
    # The code the teammate never had is in the logdir.
    assert first["source"]["file"] == "train.py" and first["source"]["line"] == LOSS_LINE
    assert first["source"]["code"].startswith("return tf.reduce_mean(tf.abs(y_true - y_pred))")
    assert any("def relative_error" in line for line in first["source"]["context"])
    assert [i["step"] for i in run["incidents"]] == [2]  # skip mode finished the epoch
    assert run["steps"] == 9


def test_redact_leaves_out_code_paths_and_host(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    os.makedirs(elsewhere)
    # Run from another directory: the script's path is absolute there.
    result, _ = train_in_project(project, tmp_path / "logs", redact=True, cwd=elsewhere)
    assert result.returncode == 0, result.stderr[-2000:]
    kept, _ = train_in_project(tmp_path / "kept", tmp_path / "kept-logs", cwd=elsewhere)
    assert kept.returncode == 0, kept.stderr[-2000:]
    redacted, unredacted = logdir_bytes(tmp_path / "logs"), logdir_bytes(tmp_path / "kept-logs")
    # The same run without redact holds all three: the checks below can fail.
    assert LOSS_CODE in unredacted and str(tmp_path / "kept").encode() in unredacted
    assert socket.gethostname().encode() in unredacted
    assert LOSS_CODE not in redacted
    assert str(project).encode() not in redacted
    assert socket.gethostname().encode() not in redacted
    (run,) = loader.load_logdir(str(tmp_path / "logs"))
    assert run["incidents"][0]["source"]["file"] == "train.py"  # the name stays
    assert run["incidents"][0]["source"]["code"] == ""


def logdir_bytes(logdir):
    return b"".join(
        open(os.path.join(d, f), "rb").read() for d, _, fs in os.walk(logdir) for f in fs
    )


def test_sigint_after_an_incident_keeps_everything_readable(tmp_path):
    project, logdir = tmp_path / "project", tmp_path / "logs"
    result, _ = train_in_project(project, logdir, interrupt_at=6)
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
    run = read_back(logdir)["."]
    assert [i["step"] for i in run["incidents"]] == [2]
    assert run["info"]["status"] == "interrupted"


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((2,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_ram_filesystem_logdir():
    model = small_model()
    x = np.ones((32, 2), "float32")
    x[20, 0] = np.inf
    with nantrace.record("ram://nantrace-test/run"):
        model.fit(x, np.ones((32, 1), "float32"), batch_size=16, shuffle=False, verbose=0)
    (run,) = loader.load_logdir("ram://nantrace-test")
    assert [(i["step"], i["phase"]) for i in run["incidents"]] == [(1, "input")]


def test_unwritable_logdir_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    model = small_model()
    with pytest.raises(OSError, match="cannot write to logdir"):
        with nantrace.record(blocker / "logs"):
            model.fit(np.ones((8, 2)), np.ones((8, 1)), verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_nested_record_is_recorded_by_the_outer_one(tmp_path, capsys):
    model = small_model()
    x = np.ones((16, 2), "float32")
    x[3, 1] = np.nan
    with nantrace.record(tmp_path / "outer") as outer:
        with nantrace.record(tmp_path / "inner") as inner:
            model.fit(x, np.ones((16, 1), "float32"), verbose=0)
    assert "the nested record" in capsys.readouterr().err
    assert inner.incidents == outer.incidents and len(outer.incidents) == 1
    assert not (tmp_path / "inner").exists()
    assert read_back(tmp_path / "outer")["."]["incidents"][0]["phase"] == "input"

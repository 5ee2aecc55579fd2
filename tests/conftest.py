"""Shared by every test module.

pytest imports this file before any test module, so the TensorFlow log level
set here is in place before anything imports TensorFlow (its C++ logging
reads the variable once, at import).

Fixtures: `report` (`nantrace report ARGS...` in this process) and
`viewer_logdir` (the synthetic logdir the viewer tests read). Plain helpers
live in importable modules beside this one: plugin_app (the plugin over
WSGI and `get_json`), fake_provider (a DataProvider serving given data),
event_files, synthetic_runs, viewer_runs, recorded, tensorboard_process.
"""

import os

import pytest

from tb_nantrace.report import cli  # no TensorFlow: the report never imports it

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def report(capsys):
    """Runs `nantrace report ARGS...` in this process: report(*args) gives
    (exit status, stdout, stderr)."""

    def run(*args):
        code = cli.main(["report", *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def viewer_logdir(tmp_path_factory):
    """The logdir of viewer_runs.write_logdir, written once per session."""
    import viewer_runs

    return viewer_runs.write_logdir(tmp_path_factory.mktemp("viewer") / "tb")

"""docs/nantrace_in_jupyter.ipynb, executed headless in a real Jupyter kernel
(nbclient + ipykernel): it records the bce_saturation incident and its
`%tensorboard` cell starts a TensorBoard that serves the NaN Trace tab.
Needs the [notebook] extra; skipped without it except in CI."""

import importlib.util
import json
import os
import re
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from recorded import read_back

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "nantrace_in_jupyter.ipynb"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
if not all(importlib.util.find_spec(m) for m in ("nbclient", "nbformat", "ipykernel")) and not IN_CI:
    pytest.skip("needs nbclient, nbformat, ipykernel: pip install -e '.[notebook]'",
                allow_module_level=True)


def _stop_tensorboards_for(logdir):
    """Stop the TensorBoard `%tensorboard` started for `logdir` (it outlives the kernel)."""
    from tensorboard import manager

    for info in manager.get_all():
        if os.path.realpath(info.logdir or "") == os.path.realpath(logdir):
            try:
                os.kill(info.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_notebook_records_the_incident_and_opens_the_nan_trace_tab(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    # The kernel runs in tmp_path (logs land there), imports `demo` from the
    # repository, and `%tensorboard` finds this environment's tensorboard.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    logdir = tmp_path / "logs" / "notebook"
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    # The checks run while the kernel lives: its TensorBoard ends with it.
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            check_notebook(notebook, logdir)
    finally:
        _stop_tensorboards_for(logdir)  # in case it outlived the kernel


def check_notebook(notebook, logdir):
    (run,) = read_back(logdir).values()
    incident = run["incidents"][0]
    assert (incident["step"], incident["phase"], incident["op"]["type"]) == (12, "forward", "Log")
    assert incident["cause"]["code"] == "log_of_nonpositive"

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Inf first appeared at step 12" in text  # record()'s diagnosis
    assert "run bce_saturation: INCIDENT" in text  # the report cell
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs
                   if o.output_type in ("display_data", "update_display_data", "execute_result"))
    port = int(re.search(r"const port = (\d+);", html).group(1))
    runs = _get_json(f"http://localhost:{port}/data/plugin/nantrace/runs")
    assert [r["run"] for r in runs["runs"]] == ["bce_saturation"]
    assert runs["runs"][0]["status"] == "incident"


def _get_json(url, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
            if body.get("runs"):
                return body
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no runs from {url} within {timeout}s")
        time.sleep(0.5)

"""Smoke checks .ci/run runs in its extra virtualenvs (an installed wheel,
not the source tree: run it from outside the repository root).

    python scripts/ci_smoke.py report LOGDIR   # `nantrace report` finds the bce_saturation incident
    python scripts/ci_smoke.py viewer LOGDIR   # ... and, with no TensorFlow installed, the
                                               # plugin's WSGI app and a real `tensorboard`
                                               # serve it

LOGDIR holds a recording of demo.bce_saturation (run `bce_saturation`).
Standard library and the installed packages only; exits non-zero on failure.
"""

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.dirname(sys.executable)
EXPECTED = {"run": "bce_saturation", "step": 12, "phase": "forward", "op": "Log",
            "cause": "log_of_nonpositive"}


def versions():
    names = ("tb-nantrace", "tensorflow", "keras", "tensorboard", "protobuf", "numpy")
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def check_origin(run):
    incident = run["incidents"][0]
    got = {"run": run["run"], "step": incident["step"], "phase": incident["phase"],
           "op": incident["op"]["type"], "cause": incident["cause"]["code"]}
    assert got == EXPECTED, f"expected {EXPECTED}, got {got}"


def check_report(logdir):
    """`nantrace report LOGDIR --json` (the installed command) finds the incident."""
    done = subprocess.run([os.path.join(BIN, "nantrace"), "report", logdir, "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, f"exit {done.returncode} (1: incident found)\n{done.stderr}"
    report = json.loads(done.stdout)
    (run,) = report["runs"]
    check_origin(run)
    version = subprocess.run([os.path.join(BIN, "nantrace"), "--version"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
    assert version == f"nantrace {versions()['tb-nantrace']}", version
    print(f"report: {run['run']} incident at step {EXPECTED['step']} ({EXPECTED['op']}); {version}")


def check_wsgi(logdir):
    """The plugin loaded into TensorBoard's WSGI app in this process."""
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client

    from tb_nantrace.plugin.loader import NanTracePluginLoader

    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"nantrace": 0})
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    context = base_plugin.TBContext(data_provider=provider, logdir=logdir, multiplexer=multiplexer)
    plugin = NanTracePluginLoader().load(context)
    client = Client(application.TensorBoardWSGI([plugin], data_provider=provider))
    run = json.loads(client.get(f"/data/plugin/nantrace/run?run={EXPECTED['run']}").get_data())
    check_origin(run)
    assert "tensorflow" not in sys.modules, "the viewer imported TensorFlow"
    print("wsgi: the plugin's run route names the origin; TensorFlow not imported")


def check_tensorboard(logdir):
    """A real `tensorboard` finds the plugin through its entry point and serves it."""
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([os.path.join(BIN, "tensorboard"), "--logdir", logdir,
                                   "--port", "0", "--reload_interval", "1"],
                                  stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            url = _wait_for_url(server, log)
            listing = _get_json(url + "data/plugins_listing", lambda body: "nantrace" in body)
            assert listing["nantrace"]["enabled"], listing["nantrace"]
            runs = _get_json(url + "data/plugin/nantrace/runs", lambda body: body.get("runs"))
            assert [(r["run"], r["status"]) for r in runs["runs"]] == [(EXPECTED["run"], "incident")]
            print(f"tensorboard: {url} lists the NaN Trace plugin, enabled, and the incident run")
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_for_url(server, log, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        text = log.read()
        found = re.search(r"at (http://localhost:\d+/)", text)
        if found:
            return found.group(1)
        if server.poll() is not None:
            raise AssertionError(f"tensorboard exited {server.returncode}:\n{text}")
        time.sleep(0.5)
    raise AssertionError(f"tensorboard did not start in {timeout}s")


def _get_json(url, ready, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
            if ready(body):
                return body
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready in {timeout}s")
        time.sleep(0.5)


def main(argv):
    command, logdir = argv
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions().items() if v))
    check_report(logdir)
    if command == "viewer":
        assert importlib.util.find_spec("tensorflow") is None, "TensorFlow is installed here"
        check_wsgi(logdir)
        check_tensorboard(logdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

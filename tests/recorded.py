"""Helpers for tests that train for real and read the event files back."""

import os

from tb_nantrace.report import loader


def read_back(logdir):
    """Runs of `logdir` as `nantrace report --json` describes them, read from
    the event files through TensorBoard's own data provider."""
    return {run["run"]: run for run in loader.load_logdir(os.fspath(logdir))}


def origin(run):
    """The fields an origin is judged by."""
    first = run["incidents"][0]
    return {
        "step": first["step"],
        "phase": first["phase"],
        "op": first["op"]["type"],
        "layer": first["layer"],
        "line": first["source"]["line"] if first["source"] else None,
        "cause": first["cause"]["code"],
    }

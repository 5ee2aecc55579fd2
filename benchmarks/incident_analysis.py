"""Time spent at an incident on issue 13's analysis (second replay,
culprits, fix verification), on each failing demo scenario, as recorded
(`shuffle` as the demo has it) and with fit(shuffle=False) (fixes are then
replayed from a snapshot of an earlier step). Prints a Markdown table.

    PYTHONPATH=. python benchmarks/incident_analysis.py [scenario ...]
"""

import importlib
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tb_nantrace as nantrace  # noqa: E402

SCENARIOS = ["bce_saturation", "unscaled_features", "relu_high_lr", "mae_div_zero"]


def measure(name, shuffle):
    model, x, y, fit_kwargs = importlib.import_module(f"demo.{name}").build()
    if shuffle is not None:
        fit_kwargs = dict(fit_kwargs, shuffle=shuffle)
    with tempfile.TemporaryDirectory() as logdir:
        with nantrace.record(logdir) as recording:
            model.fit(x, y, **fit_kwargs)
    incident = recording.incidents[0]
    seconds = incident["analysis_seconds"] or {"culprits": 0, "reproduce": 0, "fixes": 0}
    culprits = incident["culprits"] or {"method": "-", "rows": []}
    tried = [f for f in incident["verified_fixes"] if f["result"] != "skipped"]
    finite = [f["fix"] for f in tried if f["result"] == "finite"]
    span = max((f["replayed_steps"] for f in tried), default=0)
    return (f"| {name} | {fit_kwargs.get('shuffle', True)} | {incident['step']} "
            f"| {seconds['reproduce']:.2f} | {culprits['method']} ({len(culprits['rows'])} rows) "
            f"{seconds['culprits']:.2f} | {seconds['fixes']:.2f} ({len(tried)} tried, {span} step(s) each) "
            f"| {sum(seconds.values()):.2f} | {', '.join(finite) or '-'} |")


def main(names):
    print("| scenario | shuffle | step | second replay s | culprits s | fixes s | total s "
          "| verified finite |")
    print("|---|---|---:|---:|---|---|---:|---|")
    for name in names:
        for shuffle in (None, False):
            print(measure(name, shuffle), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or SCENARIOS)

"""Run every demo scenario under nantrace.record(), then summarise the logs.

    python -m demo.run_all                 # from the repository root
    python demo/run_all.py                 # same
    python -m demo.run_all relu_high_lr    # only some scenarios

Each scenario writes to <logdir>/<name> (default demo/logs/<name>); that
folder is deleted first, so a rerun never mixes old and new events. Then the
script prints `nantrace report <logdir>` and how to open the TensorBoard tab.
"""

import argparse
import importlib
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # `python demo/run_all.py`: make `import demo` work
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo import SCENARIOS  # noqa: E402  (imports TensorFlow quietly: demo/_quiet.py)
from demo._common import DEMO_DIR  # noqa: E402

DEFAULT_LOGDIR = DEMO_DIR / "logs"


def _shown(path):
    """`path` relative to the current directory when that is shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return relative if not relative.startswith("..") else str(path)


def _describe_expected(expected):
    if expected is None:
        return "expected: finite loss throughout"
    where = (
        f"layer {expected['layer']!r}"
        if expected.get("layer")
        else f"loss function {expected['loss_function']!r}"
    )
    # The report names the line that made the op: when Keras creates it, the
    # line that created the layer or passed the loss; the call site beside it.
    shown = expected["source"]
    call_site = expected.get("innermost_demo_frame") or shown
    requested = f" (created inside Keras, called from {call_site})" if call_site != shown else ""
    return (
        f"expected: first non-finite at step {expected['step']}, {expected['phase']} pass, "
        f"op {expected['op_type']} in {where}, at {shown}{requested}"
    )


def _describe_history(history):
    losses = list(getattr(history, "history", {}).get("loss", []))
    params = getattr(history, "params", None) or {}
    model = getattr(history, "model", None)
    planned = (params.get("epochs") or 0) * (params.get("steps") or 0)
    try:
        steps_run = int(model.optimizer.iterations.numpy())
    except Exception:  # noqa: BLE001 - only used for the message
        steps_run = None
    if steps_run is not None and planned and steps_run < planned:
        return f"training stopped after {steps_run} of {planned} steps"
    if not losses:
        return "no epoch finished"
    if all(math.isfinite(v) for v in losses):
        return f"loss finite throughout: {losses[0]:.4g} -> {losses[-1]:.4g} over {len(losses)} epochs"
    first = next(i for i, v in enumerate(losses) if not math.isfinite(v))
    return f"loss non-finite from epoch {first + 1} of {len(losses)} (last: {losses[-1]})"


def run_scenario(name, logdir, **record_options):
    """Run one scenario into `logdir` (cleared first). Returns (ok, message)."""
    import keras

    import tb_nantrace as nantrace

    module = importlib.import_module(f"demo.{name}")
    logdir = Path(logdir)
    if logdir.exists():
        shutil.rmtree(logdir)
    keras.backend.clear_session()  # each scenario starts from a fresh Keras state
    started = time.perf_counter()
    try:
        history = module.main(logdir=str(logdir), **record_options)
    except nantrace.NonFiniteError as error:  # record(on_nan="raise")
        return True, f"stopped by nantrace after {time.perf_counter() - started:.1f}s: {error}"
    except Exception as error:  # noqa: BLE001 - report and go on with the others
        return False, f"FAILED after {time.perf_counter() - started:.1f}s: {type(error).__name__}: {error}"
    return True, f"done in {time.perf_counter() - started:.1f}s; {_describe_history(history)}"


def print_report(logdir):
    """Print `nantrace report <logdir>` (same interpreter, same entry point as the script)."""
    print(f"\n$ nantrace report {_shown(logdir)}", flush=True)
    code = (
        "import sys\n"
        "from tb_nantrace.report.cli import main\n"
        "sys.argv[0] = 'nantrace'\n"
        "sys.exit(main())\n"
    )
    try:
        completed = subprocess.run([sys.executable, "-c", code, "report", str(logdir)], check=False)
    except OSError as error:
        print(f"(could not run the report: {error})")
        return 1
    if completed.returncode not in (0, 1):  # 1: incidents found, which is the point here
        print(f"(`nantrace report` exited with status {completed.returncode})")
    return completed.returncode


def run_all(names=None, logdir=DEFAULT_LOGDIR, **record_options):
    """Run the scenarios `names` (default: all) into `logdir`/<name>; True if none crashed."""
    names = list(names or SCENARIOS)
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    all_ok = True
    for index, name in enumerate(names, start=1):
        module = importlib.import_module(f"demo.{name}")
        title = (module.__doc__ or name).strip().splitlines()[0]
        target = logdir / name
        print(f"[{index}/{len(names)}] {title}", flush=True)
        print(f"      {_describe_expected(module.EXPECTED)}", flush=True)
        print(f"      recording into {_shown(target)} ...", flush=True)
        ok, message = run_scenario(name, target, **record_options)
        all_ok = all_ok and ok
        print(f"      {message}", flush=True)
    return all_ok


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m demo.run_all", description="Run the tb-nantrace demo scenarios."
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"default: all of {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--logdir", default=str(DEFAULT_LOGDIR), help="parent log folder (default: demo/logs)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")

    logdir = Path(args.logdir)
    all_ok = run_all(args.scenarios, logdir)
    print_report(logdir)
    print(
        f"\nTo explore the runs:  tensorboard --logdir {_shown(logdir)}\n"
        'then open http://localhost:6006 and the "NaN Trace" tab.'
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

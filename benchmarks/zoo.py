"""What the default nantrace.record() costs on the model zoo (tests/zoo_models.py).

    python benchmarks/zoo.py                                  # the test zoo, 2 repeats
    python benchmarks/zoo.py --models lstm,resnet_mini --repeats 3 --steps 10
    python benchmarks/zoo.py --full                           # + ResNet50, EfficientNetB0, DenseNet121, ConvNeXtTiny
    python benchmarks/zoo.py --json out.json

Per model, two variants of the same seeded fit (`--steps` steps: the case's
data tiled):
  none_prebuilt  no tool, the optimizer built before fit
                 (`model.optimizer.build(model.trainable_variables)`), as
                 nantrace does itself: the baseline of every ratio, so the
                 ratio is nantrace's own cost, not the trace it saves;
  nantrace       `with nantrace.record(logdir):` (default mode and health).

Each is split like benchmarks/overhead.py does it: first step (fit start ..
start of step 1: tracing, graph optimisation, step 0) and steady ms/step
(start of step 1 .. end of training), with hooks on batch *begin* only.

Repeats are interleaved: each repeat is one fresh process (the script
re-invokes itself with `--child`) that first runs a tiny warm-up fit (TF's
lazy one-off initialisation), then visits the models in a seeded shuffled
order and runs each model's two variants in a shuffled order. (A process per
measurement, as overhead.py does, would spend most of the time importing
TensorFlow and keras-hub.) Ratios are taken within a repeat; the table gives
their median over repeats and the median times.
"""

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_PREFIX = "NANTRACE_ZOO_RESULT "
VARIANTS = ("none_prebuilt", "nantrace")


# Child: one repeat over the models ------------------------------------------------------


def _tiled(fit_kwargs, times):
    """The case's data repeated `times` over (arrays tiled on axis 0, a
    tf.data dataset repeated), so that one epoch has more steps."""
    import keras
    import numpy as np

    def tile(value):
        return np.concatenate([value] * times) if isinstance(value, np.ndarray) else value

    tiled = dict(fit_kwargs)
    for key in ("x", "y", "sample_weight"):
        if key not in tiled:
            continue
        if hasattr(tiled[key], "repeat") and not isinstance(tiled[key], np.ndarray):
            tiled[key] = tiled[key].repeat(times)  # a tf.data.Dataset
        else:
            tiled[key] = keras.tree.map_structure(tile, tiled[key])
    return tiled


def _one_fit(case, variant, steps, workdir):
    import keras

    import tb_nantrace as nantrace

    model = case.build()
    kwargs = _tiled(case.fit_kwargs(), max(1, -(-steps // case.steps)))
    marks = {}

    class Marks(keras.callbacks.Callback):
        # Begin hooks only: Keras keeps dispatching batch-end hooks asynchronously.
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                marks["step_1"] = time.perf_counter()

        def on_train_end(self, logs=None):
            marks["train_end"] = time.perf_counter()

    if variant == "nantrace":
        recording = nantrace.record(os.path.join(workdir, f"{case.name}-{time.time_ns()}"))
    else:
        model.optimizer.build(model.trainable_variables)
        recording = contextlib.nullcontext()
    start = time.perf_counter()
    with recording:
        model.fit(**kwargs, epochs=1, shuffle=False, verbose=0, callbacks=[Marks()])
    end = time.perf_counter()
    steps_run = int(model.optimizer.iterations.numpy())
    result = {"fit_s": end - start, "steps": steps_run,
              "incidents": len(recording.incidents) if variant == "nantrace" else None}
    if "step_1" in marks and steps_run > 1:
        result["first_step_s"] = marks["step_1"] - start
        result["steady_step_ms"] = 1000.0 * (marks["train_end"] - marks["step_1"]) / (steps_run - 1)
    return result


def run_child(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import keras
    import numpy as np

    import zoo_models

    cases = {case.name: case for case in zoo_models.BENCH_CASES}
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="nantrace-zoo-")
    try:
        warm = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        warm.compile("adam", "mse")
        warm.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
        names = list(args.models)
        rng.shuffle(names)
        for name in names:
            order = list(VARIANTS)
            rng.shuffle(order)
            for variant in order:
                try:
                    result = _one_fit(cases[name], variant, args.steps, workdir)
                except Exception as error:  # a model that fails is a row, not the end of the run
                    result = {"error": f"{type(error).__name__}: {error}"[:300]}
                result.update(model=name, variant=variant)
                print(RESULT_PREFIX + json.dumps(result), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# Parent: repeats, table -------------------------------------------------------------------


def snapshot_source():
    """A copy of tb_nantrace for the children: a working tree edited during a
    long run must not mix two versions."""
    source = tempfile.mkdtemp(prefix="nantrace-zoo-src-")
    shutil.copytree(os.path.join(ROOT, "tb_nantrace"), os.path.join(source, "tb_nantrace"),
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    return source


def run_repeat(args, models, seed):
    command = [sys.executable, os.path.abspath(__file__), "--child", "--seed", str(seed),
               "--steps", str(args.steps), "--models", ",".join(models)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = args.source + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    results = [json.loads(line[len(RESULT_PREFIX):]) for line in done.stdout.splitlines()
               if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0:
        print(f"repeat {seed}: exit {done.returncode}: "
              + "\n".join(done.stderr.strip().splitlines()[-10:]), file=sys.stderr)
    return results


def summarize(models, repeats):
    rows = []
    for name in models:
        per_repeat = []
        for results in repeats:
            found = {r["variant"]: r for r in results if r["model"] == name}
            if all(v in found and "error" not in found[v] for v in VARIANTS):
                per_repeat.append(found)
        errors = sorted({r["error"] for results in repeats for r in results
                         if r["model"] == name and "error" in r})
        row = {"model": name, "n": len(per_repeat), "errors": errors}
        for field in ("steady_step_ms", "first_step_s"):
            for variant in VARIANTS:
                values = [rep[variant][field] for rep in per_repeat if field in rep[variant]]
                row[f"{variant}_{field}"] = statistics.median(values) if values else None
            ratios = [rep["nantrace"][field] / rep["none_prebuilt"][field] for rep in per_repeat
                      if field in rep["nantrace"] and rep["none_prebuilt"].get(field)]
            row[f"ratio_{field}"] = statistics.median(ratios) if ratios else None
            row[f"ratio_range_{field}"] = (min(ratios), max(ratios)) if ratios else None
        row["incidents"] = sorted({rep["nantrace"]["incidents"] for rep in per_repeat})
        rows.append(row)
    return rows


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def markdown_table(rows, families):
    lines = [
        "| model | what it exercises | steady ms/step: none_prebuilt | nantrace | ratio (min–max) "
        "| first step s: none_prebuilt | nantrace | ratio (min–max) | incidents | n |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        cells = [f"`{row['model']}`", families.get(row["model"], "")]
        for field, spec in (("steady_step_ms", ".1f"), ("first_step_s", ".2f")):
            spread = row[f"ratio_range_{field}"]
            ratio = _fmt(row[f"ratio_{field}"], ".2f") + "x"
            if spread:
                ratio += f" ({spread[0]:.2f}–{spread[1]:.2f})"
            cells += [_fmt(row[f"none_prebuilt_{field}"], spec), _fmt(row[f"nantrace_{field}"], spec),
                      ratio if row[f"ratio_{field}"] is not None else "n/a"]
        cells += [",".join(map(str, row["incidents"])) or "n/a", str(row["n"])]
        if row["errors"]:
            cells[1] += " — error: " + "; ".join(row["errors"])
        lines.append("| " + " | ".join(cells) + " |")
    ratios = [row["ratio_steady_step_ms"] for row in rows if row["ratio_steady_step_ms"]]
    firsts = [row["ratio_first_step_s"] for row in rows if row["ratio_first_step_s"]]
    if ratios:
        lines.append(f"| **median over models** | | | | **{statistics.median(ratios):.2f}x** | | | "
                     f"**{statistics.median(firsts):.2f}x** | | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="comma-separated case names (default: the test zoo)")
    parser.add_argument("--full", action="store_true", help="add the published application sizes")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="steps per fit (the data is tiled)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    if args.child:
        args.models = args.models.split(",")
        return run_child(args)
    import zoo_models  # noqa: E402 (for the names only; the children train)

    pool = zoo_models.BENCH_CASES if args.full else zoo_models.CASES
    models = args.models.split(",") if args.models else [case.name for case in pool]
    families = {case.name: case.family for case in zoo_models.BENCH_CASES}
    started = time.time()
    args.source = snapshot_source()
    repeats = []
    for index in range(args.repeats):
        repeats.append(run_repeat(args, models, args.seed + index))
        print(f"repeat {index + 1}/{args.repeats} done after {time.time() - started:.0f}s",
              file=sys.stderr, flush=True)
    shutil.rmtree(args.source, ignore_errors=True)
    rows = summarize(models, repeats)
    revision = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "tb_nantrace"]).returncode:
        revision += "+dirty"
    print(f"python benchmarks/zoo.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, tb_nantrace {revision}, "
          f"{time.time() - started:.0f}s\n")
    print(markdown_table(rows, families))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rows": rows, "repeats": repeats}, out, indent=1)


if __name__ == "__main__":
    main()

"""Overhead of nantrace on a healthy Keras training run, next to TF's own tools.

    python benchmarks/overhead.py                      # 300 steps, 5 repeats
    python benchmarks/overhead.py --quick              # smoke test
    python benchmarks/overhead.py --variants none,nantrace --repeats 9 --json out.json

Every measurement is a fresh process (the script re-invokes itself with
`--variant NAME`) that builds a fresh small CNN and times the whole
`model.fit` (tracing included). Repeats are interleaved: each repeat runs
every variant once, in a seeded shuffled order, so machine noise hits all
variants alike; ratios vs `none` are taken within a repeat, then the
median over repeats is reported.

Besides the whole fit, each child splits it (with a callback hook that does
not change how Keras dispatches callbacks) into:
  first step  = start of fit .. start of step 1 (data pipeline setup, tracing,
                graph optimisation and step 0);
  steady      = start of step 1 .. end of training, per step;
  teardown    = end of training .. fit returned (Keras destroying the epoch's
                tf.data iterator: tool-independent, but it can stall for
                seconds on a loaded machine, so ratios are also given without it).
"""

import argparse
import contextlib
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ALL_VARIANTS = ("none", "none_prebuilt", "nantrace", "nantrace_exact", "nantrace_nohealth",
                "nantrace_health10", "none_xla", "nantrace_xla", "check_numerics", "tfdbg_curt",
                "tfdbg_full")
# These run only when asked for with --variants.
EXTRA_VARIANTS = ("nantrace_nohealth", "nantrace_health10", "none_xla", "nantrace_xla")
# nantrace's own cost is measured against the same run without it: the
# optimizer built before fit (as nantrace does), XLA on or off alike.
OWN_BASELINE = {"nantrace": "none_prebuilt", "nantrace_exact": "none_prebuilt",
                "nantrace_nohealth": "none_prebuilt", "nantrace_health10": "none_prebuilt",
                "nantrace_xla": "none_xla"}
CONFIGS = ("cnn", "cnn_metric", "mlp_bn", "lstm")
VARIANTS = tuple(v for v in ALL_VARIANTS if v not in EXTRA_VARIANTS)
RESULT_PREFIX = "NANTRACE_BENCH_RESULT "
BATCH_SIZE = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Child: one variant, one fit ------------------------------------------------------

def _peak_rss_mb():
    """Peak resident set size of this process in MiB (VmHWM, else ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def build_model(keras, config="cnn"):
    """The benchmarked model: one healthy configuration can flatter a tool,
    so there are several (--config)."""
    if config == "mlp_bn":
        return keras.Sequential([
            keras.Input((28, 28, 1)), keras.layers.Flatten(),
            keras.layers.Dense(256), keras.layers.BatchNormalization(), keras.layers.ReLU(),
            keras.layers.Dense(128), keras.layers.BatchNormalization(), keras.layers.ReLU(),
            keras.layers.Dropout(0.2), keras.layers.Dense(10),
        ])
    if config == "lstm":
        return keras.Sequential([
            keras.Input((28, 28, 1)), keras.layers.Reshape((28, 28)),
            keras.layers.LSTM(32), keras.layers.Dense(10),
        ])
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def batch_size(config):
    return 64 if config == "cnn_metric" else BATCH_SIZE


def prebuild_optimizer(model):
    """Keras builds the optimizer inside the first trace of the train step,
    and a tf.function that creates variables is traced twice; nantrace builds
    it before fit. This no-tool variant does the same, so that nantrace's own
    cost can be told apart from the trace it saves."""
    model.optimizer.build(model.trainable_variables)


def run_child(args):
    process_start = time.perf_counter()
    import numpy as np
    import tensorflow as tf
    import keras

    variant = args.variant
    workdir = args.workdir or tempfile.mkdtemp(prefix="nantrace-bench-")
    tool_dir = os.path.join(workdir, f"{variant}-{os.getpid()}")

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = args.steps * batch_size(args.config)
    x = rng.standard_normal((n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")

    debug_writer = None
    if variant == "check_numerics":
        tf.debugging.enable_check_numerics()
    elif variant in ("tfdbg_curt", "tfdbg_full"):
        debug_writer = tf.debugging.experimental.enable_dump_debug_info(
            tool_dir,
            tensor_debug_mode="CURT_HEALTH" if variant == "tfdbg_curt" else "FULL_HEALTH",
            circular_buffer_size=args.tfdbg_buffer,
        )

    model = build_model(keras, args.config)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"] if args.config == "cnn_metric" else None,
        # Keras resolves "auto" to XLA on a GPU and to no XLA on a CPU: the
        # _xla variants ask for it, to see it here.
        jit_compile=variant.endswith("_xla") or "auto",
    )

    if variant in ("none_prebuilt", "none_xla"):
        # What nantrace does before fit: build the optimizer, so Keras traces
        # the train step once instead of twice (see prebuild_optimizer).
        prebuild_optimizer(model)
    if variant.startswith("nantrace"):
        import tb_nantrace as nantrace

        nantrace_file = nantrace.__file__
        options = {"mode": "exact"} if variant == "nantrace_exact" else {}
        if variant == "nantrace_nohealth":
            options["health"] = False
        if variant == "nantrace_health10":
            options["health"] = 10  # a health row every 10 steps
        recording = nantrace.record(tool_dir, **options)
    else:
        recording = contextlib.nullcontext()
        nantrace_file = None

    marks = {}

    def mark(name):
        # Wall clock and process CPU time (all threads): CPU time is far less
        # sensitive to other work on the machine than wall time.
        marks[name] = (time.perf_counter(), time.process_time())

    class Marks(keras.callbacks.Callback):
        # Only begin hooks: Keras dispatches batch *end* hooks asynchronously
        # unless a callback overrides them, and the baseline must keep that.
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                mark("step_1")

        def on_train_end(self, logs=None):
            mark("train_end")

    mark("start")
    with recording:
        history = model.fit(
            x, y, batch_size=batch_size(args.config), epochs=1, shuffle=False, verbose=0,
            callbacks=[Marks()]
        )
        mark("fit_returned")
        if debug_writer is not None:  # what the tool wrote belongs to its cost
            debug_writer.FlushNonExecutionFiles()
            debug_writer.FlushExecutionFiles()
    mark("end")

    def span(first, last, clock):
        return marks[last][clock] - marks[first][clock] if first in marks and last in marks else None

    steps_run = int(model.optimizer.iterations.numpy())
    result = {"variant": variant}
    for prefix, clock in (("", 0), ("cpu_", 1)):
        result[f"{prefix}fit_s"] = span("start", "end", clock)
        # From on_train_end to fit returning: Keras tears down the epoch's
        # tf.data iterator there, which under CPU contention can stall for
        # seconds in any variant (tool-independent noise); net_s leaves it out.
        result[f"{prefix}teardown_s"] = span("train_end", "fit_returned", clock) or 0.0
        result[f"{prefix}net_s"] = result[f"{prefix}fit_s"] - result[f"{prefix}teardown_s"]
        if "step_1" in marks:
            result[f"{prefix}first_step_s"] = span("start", "step_1", clock)
            result[f"{prefix}steady_step_ms"] = (
                1000.0 * span("step_1", "train_end", clock) / (steps_run - 1))
        else:
            result[f"{prefix}first_step_s"] = span("start", "train_end", clock)
            result[f"{prefix}steady_step_ms"] = None
    loss = float(history.history["loss"][-1]) if history.history.get("loss") else None
    result.update({
        "peak_rss_mb": _peak_rss_mb(),
        "process_s": time.perf_counter() - process_start,
        "final_loss": loss,
        "loss_finite": loss is not None and bool(np.isfinite(loss)),
        "steps": steps_run,
        "incidents": len(recording.incidents) if hasattr(recording, "incidents") else None,
        "nantrace_file": nantrace_file,
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
    })
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# Parent: interleaved repeats, statistics, report ---------------------------------------

def run_variant(variant, args, workdir):
    command = [
        sys.executable, os.path.abspath(__file__), "--variant", variant,
        "--steps", str(args.steps), "--seed", str(args.seed), "--workdir", workdir,
        "--tfdbg-buffer", str(args.tfdbg_buffer), "--config", args.config,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = args.source + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=args.child_timeout
        )
    except subprocess.TimeoutExpired:
        return {"variant": variant, "error": f"timed out after {args.child_timeout}s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
    return {"variant": variant, "error": f"exit {done.returncode}: " + "\n".join(tail)}


# Fields summarised per variant: each gets its median, the median / min / max
# of its per-repeat ratio to `none`, its best (minimum) and the ratio of bests.
FIELDS = ("fit_s", "net_s", "first_step_s", "steady_step_ms",
          "cpu_fit_s", "cpu_first_step_s", "cpu_steady_step_ms")


def _ok(result):
    return bool(result) and "error" not in result


def _paired_ratios(repeats_data, variant, base, field):
    """variant / base of `field`, within each repeat where both ran."""
    return [
        repeat[variant][field] / repeat[base][field]
        for repeat in repeats_data
        if _ok(repeat.get(variant)) and _ok(repeat.get(base))
        and repeat[variant].get(field) is not None and repeat[base].get(field)
    ]


def summarize(variants, repeats_data):
    """repeats_data: list (one per repeat) of {variant: result}."""
    summary = {}
    base_runs = [r["none"] for r in repeats_data if _ok(r.get("none"))]
    for variant in variants:
        runs = [r[variant] for r in repeats_data if _ok(r.get(variant))]
        entry = {"n": len(runs)}
        summary[variant] = entry
        if not runs:
            continue
        for field in FIELDS:
            values = [r[field] for r in runs if r.get(field) is not None]
            if not values:
                continue
            entry[field] = {"median": statistics.median(values), "best": min(values)}
            ratios = _paired_ratios(repeats_data, variant, "none", field)
            if ratios:
                entry[field].update(ratio_median=statistics.median(ratios), ratio_min=min(ratios),
                                    ratio_max=max(ratios))
            same_trace = _paired_ratios(repeats_data, variant, "none_prebuilt", field)
            if same_trace:
                entry[field]["ratio_prebuilt_median"] = statistics.median(same_trace)
            own = _paired_ratios(repeats_data, variant, OWN_BASELINE.get(variant, "none"), field)
            if own and variant in OWN_BASELINE:
                entry[field]["ratio_own_median"] = statistics.median(own)
            # Best of N: contention from other work only ever adds time, so
            # the minimum is the least noisy estimate on a shared machine.
            base = [r[field] for r in base_runs if r.get(field)]
            if base:
                entry[field]["ratio_of_bests"] = min(values) / min(base)
        entry["peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs)
        deltas = [repeat[variant]["peak_rss_mb"] - repeat["none"]["peak_rss_mb"]
                  for repeat in repeats_data if _ok(repeat.get(variant)) and _ok(repeat.get("none"))]
        entry["rss_delta_mb"] = statistics.median(deltas) if deltas else None
        entry["all_losses_finite"] = all(r.get("loss_finite") for r in runs)
        entry["incidents"] = sorted({r["incidents"] for r in runs if r.get("incidents") is not None})
    return summary


def _fmt(value, spec, suffix=""):
    return "n/a" if value is None else format(value, spec) + suffix


def _get(entry, field, key):
    return (entry.get(field) or {}).get(key)


def _ratio(entry, field, spread=False):
    text = _fmt(_get(entry, field, "ratio_median"), ".3f", "x")
    if spread and _get(entry, field, "ratio_min") is not None:
        text += f" ({entry[field]['ratio_min']:.2f}–{entry[field]['ratio_max']:.2f})"
    return text


def markdown_table(variants, summary):
    """Main table: wall time of the whole fit, ratios, peak RSS."""
    lines = [
        "| variant | fit s (median) | ratio vs none: median (min–max) "
        "| ratio excl. teardown | ratio vs none_prebuilt excl. teardown | best fit s | ratio of bests "
        "| peak RSS MB (median) | RSS Δ vs none MB | n |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in variants:
        e = summary[variant]
        if not e.get("n"):
            lines.append(f"| {variant} | failed | | | | | | | | 0 |")
            continue
        lines.append(
            f"| {variant} | {_fmt(_get(e, 'fit_s', 'median'), '.2f')} | {_ratio(e, 'fit_s', True)} "
            f"| {_ratio(e, 'net_s')} "
            f"| {_fmt(_get(e, 'net_s', 'ratio_prebuilt_median'), '.3f', 'x')} "
            f"| {_fmt(_get(e, 'fit_s', 'best'), '.2f')} "
            f"| {_fmt(_get(e, 'fit_s', 'ratio_of_bests'), '.3f', 'x')} "
            f"| {_fmt(e['peak_rss_mb'], '.0f')} | {_fmt(e['rss_delta_mb'], '+.0f')} | {e['n']} |"
        )
    return "\n".join(lines)


def own_cost_table(variants, summary):
    """nantrace against the same run without it (OWN_BASELINE): the bar."""
    lines = [
        "| variant | vs | whole fit excl. teardown | first step | steady ms/step | steady CPU |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for variant in variants:
        e = summary[variant]
        if variant not in OWN_BASELINE or not e.get("n"):
            continue
        cells = [_fmt(_get(e, field, "ratio_own_median"), ".3f", "x")
                 for field in ("net_s", "first_step_s", "steady_step_ms", "cpu_steady_step_ms")]
        lines.append(f"| {variant} | {OWN_BASELINE[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def phases_table(variants, summary):
    """One-off vs per-step cost, in wall and in CPU time."""
    lines = [
        "| variant | first step s | first-step ratio (median; of bests) "
        "| steady ms/step | steady ratio (median; of bests) "
        "| CPU s | CPU ratio (median; of bests) | CPU first step s | CPU first-step ratio "
        "| CPU steady ms/step | CPU steady ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def both(e, field):
        return (f"{_fmt(_get(e, field, 'ratio_median'), '.2f', 'x')}; "
                f"{_fmt(_get(e, field, 'ratio_of_bests'), '.2f', 'x')}")

    for variant in variants:
        e = summary[variant]
        if not e.get("n"):
            continue
        lines.append(
            f"| {variant} | {_fmt(_get(e, 'first_step_s', 'median'), '.2f')} | {both(e, 'first_step_s')} "
            f"| {_fmt(_get(e, 'steady_step_ms', 'median'), '.2f')} | {both(e, 'steady_step_ms')} "
            f"| {_fmt(_get(e, 'cpu_fit_s', 'median'), '.2f')} | {both(e, 'cpu_fit_s')} "
            f"| {_fmt(_get(e, 'cpu_first_step_s', 'median'), '.2f')} | {both(e, 'cpu_first_step_s')} "
            f"| {_fmt(_get(e, 'cpu_steady_step_ms', 'median'), '.2f')} | {both(e, 'cpu_steady_step_ms')} |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 300)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {','.join(ALL_VARIANTS)} "
                        f"(default: all but {','.join(EXTRA_VARIANTS)}; none is always run)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 60 steps, 2 repeats")
    parser.add_argument("--config", default="cnn", choices=CONFIGS,
                        help="model: cnn (default), cnn_metric (cnn + accuracy metric, batch 64), "
                        "mlp_bn (Dense + BatchNorm + Dropout), lstm")
    parser.add_argument("--seed", type=int, default=0, help="data/model seed and shuffle seed")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--tfdbg-buffer", type=int, default=-1,
                        help="circular_buffer_size for tfdbg variants (-1: keep everything, "
                        "as needed to find the first NaN of a long run; TF's default is 1000)")
    parser.add_argument("--child-timeout", type=float, default=1800.0,
                        help="seconds before one child run is abandoned")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 60 if args.quick else 300
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    return args


def snapshot_source(destination):
    """Copy tb_nantrace as it is now, so that every child of this run imports
    the same code even if the working tree changes meanwhile. Returns a
    description of the revision (git commit, +dirty when tb_nantrace differs)."""
    shutil.copytree(os.path.join(ROOT, "tb_nantrace"), os.path.join(destination, "tb_nantrace"),
                    ignore=shutil.ignore_patterns("__pycache__"))

    def git(*command):
        try:
            return subprocess.run(["git", "-C", ROOT, *command], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "tb_nantrace")
    return commit + ("+dirty" if dirty else "")


def main(argv=None):
    args = parse_args(argv)
    if args.variant:
        if args.variant not in ALL_VARIANTS:
            sys.exit(f"unknown variant {args.variant!r}")
        return run_child(args)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; choose from {', '.join(ALL_VARIANTS)}")
    if "none" not in variants:
        variants.insert(0, "none")  # the baseline of every ratio
    variants = [v for v in ALL_VARIANTS if v in variants]

    command = " ".join(shlex.quote(a) for a in [os.path.basename(sys.executable)] + sys.argv)
    cpus = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cpus
    print(f"command: {command}", flush=True)
    print(f"config={args.config} steps={args.steps} batch={batch_size(args.config)} repeats={args.repeats} seed={args.seed} "
          f"variants={','.join(variants)}", flush=True)

    shuffler = random.Random(args.seed)
    repeats_data = []
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="nantrace-bench-")
    args.source = tempfile.mkdtemp(prefix="nantrace-bench-src-")
    revision = snapshot_source(args.source)
    print(f"tb_nantrace: {revision} (snapshot used by every child)", flush=True)
    try:
        for r in range(args.repeats):
            order = list(variants)
            shuffler.shuffle(order)
            repeat = {}
            for variant in order:
                result = run_variant(variant, args, workdir)
                repeat[variant] = result
                shutil.rmtree(workdir, ignore_errors=True)
                os.makedirs(workdir, exist_ok=True)
                if "error" in result:
                    print(f"[repeat {r + 1}/{args.repeats}] {variant}: FAILED {result['error']}",
                          file=sys.stderr, flush=True)
                else:
                    print(f"[repeat {r + 1}/{args.repeats}] {variant:15s} fit {result['fit_s']:7.2f}s "
                          f"first {result['first_step_s']:6.2f}s "
                          f"steady {_fmt(result['steady_step_ms'], '.2f')} ms/step "
                          f"teardown {result['teardown_s']:5.2f}s "
                          f"cpu {result['cpu_fit_s']:7.2f}s rss {result['peak_rss_mb']:6.0f} MB",
                          flush=True)
            repeats_data.append(repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(args.source, ignore_errors=True)
    elapsed = time.time() - started

    versions = next(
        (res for rep in repeats_data for res in rep.values() if "tf_version" in res), {}
    )
    summary = summarize(variants, repeats_data)
    print()
    print(f"command: `{command}`  ")
    print(f"TensorFlow {versions.get('tf_version', '?')}, Keras {versions.get('keras_version', '?')}, "
          f"Python {platform.python_version()}, {platform.machine()}, "
          f"CPUs: {cpus} (usable {usable}), tb_nantrace {revision}  ")
    print(f"{args.config} on 28x28x1, batch {batch_size(args.config)}, {args.steps} steps, {args.repeats} interleaved "
          f"repeats, tfdbg circular_buffer_size={args.tfdbg_buffer}; total run time {elapsed:.0f}s")
    print()
    print(markdown_table(variants, summary))
    print()
    print("First step = fit start to step 1 (tracing, graph optimisation, step 0); steady = "
          "step 1 to the end of training; CPU = process CPU time, all threads.")
    print()
    print(phases_table(variants, summary))
    print()
    print(own_cost_table(variants, summary))
    unhealthy = [v for v in variants if summary[v].get("n") and not summary[v]["all_losses_finite"]]
    if unhealthy:
        print(f"\nWARNING: non-finite final loss in {unhealthy}: not a healthy run")

    if args.json:
        payload = {
            "command": command,
            "tf_version": versions.get("tf_version"),
            "keras_version": versions.get("keras_version"),
            "python": platform.python_version(),
            "tb_nantrace_revision": revision,
            "cpu_count": cpus,
            "usable_cpus": usable,
            "steps": args.steps,
            "config": args.config,
            "batch_size": batch_size(args.config),
            "repeats": args.repeats,
            "seed": args.seed,
            "tfdbg_circular_buffer_size": args.tfdbg_buffer,
            "run_time_s": elapsed,
            "variants": variants,
            "summary": summary,
            "runs": repeats_data,
        }
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2)
        print(f"\nJSON written to {args.json}")


if __name__ == "__main__":
    main()

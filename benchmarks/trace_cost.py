"""Where nantrace's one-off (trace-time) cost goes, for the overhead.py model.

    python benchmarks/trace_cost.py --repeats 3      # none, none_prebuilt, nantrace, nantrace_exact
    python benchmarks/trace_cost.py --variants none,nantrace,nantrace_nohealth
    python benchmarks/trace_cost.py --variants nantrace --profile 30

Each variant runs in its own process (`--variant NAME`): a fresh model and a
`--steps`-step `model.fit` (default 1, so the fit is almost all one-off cost):
  fit s           the whole fit (data setup + tracing + graph optimisation + step 0);
  trace s         Python time spent building the train step's FuncGraphs
                  (outermost tracing_compilation._create_concrete_function calls);
  op callback s   of which inside nantrace's op callback (OpCallback.__call__),
                  with the number of calls;
  rest s          fit s - trace s: data setup, C++ graph instantiation and
                  optimisation (Grappler), running step 0;
  sites           OpSites the recording registered;
and the op counts of the traced train step (every function of it counted
once), with the op types nantrace adds to it.
`--profile N` also prints the top N cProfile entries (cumulative) of the fit.
Medians over `--repeats` runs (op counts from the first).
"""

import argparse
import collections
import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.overhead import BATCH_SIZE, build_model, prebuild_optimizer  # noqa: E402

RESULT_PREFIX = "NANTRACE_TRACE_RESULT "
VARIANTS = ("none", "none_prebuilt", "nantrace", "nantrace_exact")  # also: nantrace_nohealth


def _graph_op_counts(train_function):
    """Op types of every traced graph reachable from Keras' train_function:
    each function (outer graphs and their libraries) counted once, by name."""
    functions = {}
    # nantrace wraps Keras's train function (its end of step follows each call).
    train_function = getattr(train_function, "__wrapped__", train_function)
    for cell in getattr(train_function, "__closure__", None) or ():
        value = cell.cell_contents
        if not hasattr(value, "_list_all_concrete_functions"):
            continue
        for concrete in value._list_all_concrete_functions():
            graph_def = concrete.graph.as_graph_def()
            functions[concrete.graph.name] = [node.op for node in graph_def.node]
            for fdef in graph_def.library.function:
                functions[fdef.signature.name] = [node.op for node in fdef.node_def]
    total = collections.Counter()
    for ops in functions.values():
        total.update(ops)
    return {"functions": len(functions), "total_ops": sum(total.values()), "by_type": dict(total),
            "per_function": {name: len(ops) for name, ops in functions.items()}}


def run_child(args):
    import numpy as np
    import keras
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    variant = args.variant
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = args.steps * BATCH_SIZE
    x = rng.standard_normal((n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    model = build_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    timers = collections.defaultdict(float)
    calls = collections.Counter()
    depth = {"trace": 0}

    original_create = tracing_compilation._create_concrete_function

    def timed_create(*a, **k):
        depth["trace"] += 1
        start = time.perf_counter()
        try:
            return original_create(*a, **k)
        finally:
            depth["trace"] -= 1
            if depth["trace"] == 0:
                timers["trace_s"] += time.perf_counter() - start
            calls["traced_functions"] += 1

    tracing_compilation._create_concrete_function = timed_create

    recording = contextlib.nullcontext()
    tmp = tempfile.mkdtemp(prefix="nantrace-trace-")
    if variant == "none_prebuilt":
        prebuild_optimizer(model)
    elif variant != "none":
        import tb_nantrace as nantrace
        from tb_nantrace.recorder import instrument, sites

        def timed(cls, name, key):
            original = getattr(cls, name)

            def wrapper(*a, **k):
                start = time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    timers[key] += time.perf_counter() - start
                    calls[key] += 1

            setattr(cls, name, wrapper)

        timed(instrument.OpCallback, "__call__", "op_callback_s")
        timed(sites.SiteRegistry, "add", "registry_add_s")
        timed(instrument.OpCallback, "emit_check", "emit_check_s")
        options = {"mode": "exact"} if variant == "nantrace_exact" else {}
        if variant == "nantrace_nohealth":
            options["health"] = False
        recording = nantrace.record(tmp, **options)

    grabbed = {}

    class Grab(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            grabbed["function"] = self.model.train_function

    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    with recording:
        if profiler:
            profiler.enable()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0,
                  callbacks=[Grab()])
        if profiler:
            profiler.disable()
    fit_s = time.perf_counter() - start

    result = {
        "variant": variant,
        "steps": args.steps,
        "fit_s": fit_s,
        "trace_s": timers["trace_s"],
        "rest_s": fit_s - timers["trace_s"],
        "op_callback_s": timers.get("op_callback_s"),
        "registry_add_s": timers.get("registry_add_s"),
        "emit_check_s": timers.get("emit_check_s"),
        "callback_calls": calls.get("op_callback_s"),
        "emit_check_calls": calls.get("emit_check_s"),
        "traced_functions": calls["traced_functions"],
        "sites": len(recording.sites.sites) if hasattr(recording, "sites") else None,
        "graph": _graph_op_counts(grabbed["function"]),
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        result["profile"] = out.getvalue()
    shutil.rmtree(tmp, ignore_errors=True)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=1, help="steps of the measured fit (default 1)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the top N cProfile entries (cumulative) of each fit")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        return run_child(args)

    variants = [v for v in args.variants.split(",") if v]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    results = collections.defaultdict(list)
    for _ in range(args.repeats):
        for variant in variants:
            command = [sys.executable, os.path.abspath(__file__), "--variant", variant,
                       "--steps", str(args.steps), "--profile", str(args.profile)]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            line = next((l for l in done.stdout.splitlines() if l.startswith(RESULT_PREFIX)), None)
            if line is None:
                print(f"{variant}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
                continue
            results[variant].append(json.loads(line[len(RESULT_PREFIX):]))

    base_types = collections.Counter(results["none"][0]["graph"]["by_type"]) if results.get("none") else None
    print(f"| variant | {args.steps}-step fit s | trace s | op callback s (calls) "
          "| rest s | sites | graph ops (all functions) | functions |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for variant in variants:
        runs = results.get(variant)
        if not runs:
            continue
        med = lambda key: sorted(r[key] for r in runs)[len(runs) // 2]  # noqa: E731
        first = runs[0]
        cb = (f"{med('op_callback_s'):.2f} ({first['callback_calls']})"
              if first["op_callback_s"] is not None else "–")
        print(f"| {variant} | {med('fit_s'):.2f} | {med('trace_s'):.2f} | {cb} | {med('rest_s'):.2f} "
              f"| {first['sites'] if first['sites'] is not None else '–'} "
              f"| {first['graph']['total_ops']} | {first['graph']['functions']} |")
    for variant in variants:
        runs = results.get(variant)
        if not runs:
            continue
        first = runs[0]
        if base_types is not None and variant != "none":
            diff = collections.Counter(first["graph"]["by_type"])
            diff.subtract(base_types)
            added = {k: v for k, v in sorted(diff.items(), key=lambda kv: -abs(kv[1])) if v}
            print(f"\n{variant}: ops added vs none, by type: {json.dumps(added)}")
        if first.get("profile"):
            print(f"\n--- cProfile of {variant} ---\n{first['profile']}")


if __name__ == "__main__":
    main()

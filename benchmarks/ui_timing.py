"""Timings of the NaN Trace tab in a real browser (headless Chromium).

(a) time-to-origin-visible: from navigation to the origin incident's
    headline on screen, for the plugin page alone
    (/data/plugin_entry.html?name=nantrace, what the tab's iframe loads) and
    for the whole TensorBoard app opened on the tab (/#nantrace), on a
    recorded logdir (default demo/logs: `python -m demo.run_all` writes it);
(b) graph layout: a synthetic incident graph of --ops ops (5,000 by
    default), written with the real RecordWriter, opened collapsed by layer:
    the view's own measure (model + layout + SVG, performance.measure
    "nantrace-graph") and navigation-to-graph-drawn; then expanding one
    layer and "Show origin" (expand the groups above the origin, select it).

Both logdirs are served by a real `tensorboard` process (Rust data server,
the default). Prints medians over --repeats fresh pages.

    python benchmarks/ui_timing.py [--logdir demo/logs] [--ops 5000] [--repeats 5]
    python benchmarks/ui_timing.py --write-synthetic DIR   # only write the run

Needs: tensorboard, tensorflow (for the writer), playwright (Python) and
Debian's /usr/bin/chromium (no browser download).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from tensorboard_process import TensorBoardProcess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
SYNTHETIC_RUN = "synthetic_graph"
HEALTH_METRICS = ("act_max_abs", "grad_norm", "grad_nonfinite", "weight_norm", "update_ratio")


# ---------------------------------------------------------------- synthetic run


class _Rand:
    """Small LCG: the same graph on every machine and Python version."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def __call__(self):
        self.s = (self.s * 1664525 + 1013904223) & 0xFFFFFFFF
        return self.s / 2**32


def synthetic_graph(target_ops=5000, seed=1):
    """An incident graph shaped like a recorded one (frontend/test/fixtures/
    synthetic_graph.mjs builds the same for the unit tests): dense-like
    layers whose forward ops read their variables, a loss, a backward pass
    reading the forward activations, optimizer updates per variable, ops
    outside any layer; the origin is a backward op of the middle layer and
    everything downstream of it is "propagated".
    Returns (nodes, edges, layer names) with nodes as dicts."""
    rand = _Rand(seed)
    per_layer = 62
    layers = max(2, round((target_ops - 40) / per_layer))
    nodes, edges = [], []

    def add(name, type_, layer, phase, state="finite"):
        nodes.append({"name": name, "type": type_, "layer": layer, "phase": phase, "state": state})
        return name

    x = add("IteratorGetNext", "IteratorGetNext", None, None, "input")
    prev = add("model/input_cast", "Cast", None, "forward")
    edges.append((x, prev))
    fwd = []
    names = []
    for l in range(layers):
        layer = f"block{l:03d}"
        names.append(layer)
        scope = f"model/{layer}"
        k = add(f"{scope}/kernel/ReadVariableOp", "ReadVariableOp", layer, "forward", "variable")
        b = add(f"{scope}/bias/ReadVariableOp", "ReadVariableOp", layer, "forward", "variable")
        acts = []
        h = add(f"{scope}/MatMul", "MatMul", layer, "forward")
        edges += [(prev, h), (k, h)]
        acts.append(h)
        h2 = add(f"{scope}/BiasAdd", "BiasAdd", layer, "forward")
        edges += [(h, h2), (b, h2)]
        h = h2
        acts.append(h)
        for i in range(14):
            t = ["Relu", "Mul", "AddV2", "Square", "Rsqrt", "Sub"][i % 6]
            n = add(f"{scope}/norm/{t}_{i}", t, layer, "forward")
            edges.append((h, n))
            if i > 2 and rand() < 0.3:
                edges.append((acts[-3], n))
            acts.append(n)
            h = n
        fwd.append((layer, scope, acts, k, b))
        prev = h
    lo = prev
    for i in range(12):
        t = ["Sub", "Square", "Mean", "Sum", "DivNoNan", "Log"][i % 6]
        n = add(f"compile_loss/mse/{t}_{i}", t, "compile_loss/mse", "forward")
        edges.append((lo, n))
        lo = n
    g = add("gradient_tape/compile_loss/mse/Fill", "Fill", None, "backward")
    edges.append((lo, g))
    mid = layers // 2
    updates = []
    for l in range(layers - 1, -1, -1):
        layer, scope, acts, k, b = fwd[l]
        for i in range(30):
            t = ["ReluGrad", "Mul", "MatMul", "Sum", "Reshape", "BiasAddGrad"][i % 6]
            n = add(f"gradient_tape/{scope}/{t}_{i}", t, layer, "backward",
                    "origin" if (l == mid and i == 7) else "finite")
            edges += [(g, n), (acts[(i * 7) % len(acts)], n)]
            g = n
        for v, vname in ((k, "kernel"), (b, "bias")):
            u = g
            for i in range(6):
                t = ["Mul", "Sqrt", "AddV2", "RealDiv", "Mul", "AssignSubVariableOp"][i]
                n = add(f"SGD/update_{layer}_{vname}/{t}_{i}", t, layer, "optimizer")
                edges.append((u, n))
                if i == 0:
                    edges.append((v, n))
                u = n
            updates.append(u)
    done = add("SGD/group_deps", "NoOp", None, "optimizer")
    edges += [(u, done) for u in updates]
    extra = 0
    while len(nodes) < target_ops:
        n = add(f"health/Reshape_{extra}", "Reshape", None, None)
        extra += 1
        edges.append((nodes[int(rand() * (len(nodes) - 1))]["name"], n))
    origin = next(n["name"] for n in nodes if n["state"] == "origin")
    out = {}
    for a, b in edges:
        out.setdefault(a, []).append(b)
    by_name = {n["name"]: n for n in nodes}
    stack, seen = [origin], {origin}
    while stack:
        for nb in out.get(stack.pop(), ()):
            if nb in seen:
                continue
            seen.add(nb)
            if by_name[nb]["state"] == "finite":
                by_name[nb]["state"] = "propagated"
            stack.append(nb)
    return nodes, edges, names, fwd[mid][0]


def write_synthetic_run(logdir, ops=5000, steps=2048):
    """Writes one run with an incident carrying a `ops`-op graph, plus a
    health timeline, the flight-recorder window and warnings. Returns the
    run's directory."""
    import numpy as np

    from tb_nantrace import metadata
    from tb_nantrace.proto import nantrace_pb2 as pb
    from tb_nantrace.recorder import health, health_monitor
    from tb_nantrace.recorder.writer import RecordWriter

    nodes, edges, layers, origin_layer = synthetic_graph(ops)
    run_dir = os.path.join(logdir, SYNTHETIC_RUN)
    writer = RecordWriter(run_dir, metadata.session_id(1.7e9))
    writer.write(metadata.RUN_START, pb.RunInfo(schema_version=1, mode="guard", status="running"), 0)

    metrics = ["loss", "grad_norm", "input_max_abs", "input_scale_spread"]
    col_layers = [""] * 4
    for layer in layers:
        metrics += HEALTH_METRICS
        col_layers += [layer] * len(HEALTH_METRICS)
    rng = np.random.default_rng(0)
    incident_step = steps - 1
    origin_index = layers.index(origin_layer)

    def row(step):
        """One step of health: the origin layer's gradients blow up first,
        the layers below it (earlier in the backward pass) follow."""
        values = []
        onset = incident_step - 24
        for metric, layer in zip(metrics, col_layers):
            base = 1.0 + 0.1 * rng.random()
            if layer:
                i = layers.index(layer)
                lag = 0 if i == origin_index else (4 + (origin_index - i) if i < origin_index else 10_000)
                grow = step - onset - lag
                if metric in ("grad_norm", "act_max_abs") and grow > 0:
                    base *= 1.6 ** grow
                if metric == "grad_nonfinite":
                    base = 0.0
                if step == incident_step and i <= origin_index and metric == "grad_norm":
                    base = float("nan") if i == origin_index else float("inf")
            elif metric == "grad_norm" and step > onset:
                base *= 1.5 ** (step - onset)
            elif metric == "loss":
                base = 2.0 / (1 + step / 500) + 0.05 * rng.random()
                if step == incident_step:
                    base = float("nan")
            values.append(base)
        return values

    first, written = 0, 0
    while first < steps:
        last = min(steps, first + health_monitor.chunk_size(written)) - 1
        block = np.array([row(s) for s in range(first, last + 1)], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            writer.write(metadata.TIMELINE, pb.TimelineChunk(
                schema_version=1, metric=metrics, layer=col_layers, first_step=first,
                last_step=last, count=last - first + 1,
                min=np.nanmin(block, axis=0).astype(np.float32),
                max=np.nanmax(block, axis=0).astype(np.float32),
                mean=np.nanmean(block, axis=0).astype(np.float32),
                last=block[-1].astype(np.float32)), last)
        first, written = last + 1, written + 1

    incident = pb.Incident(schema_version=1, index=0, step=incident_step, phase="backward",
                           kind="nan", layer=origin_layer, mode="guard", wall_time=1.7e9 + 60)
    origin = next(n for n in nodes if n["state"] == "origin")
    incident.op.type = origin["type"]
    incident.op.name = origin["name"]
    incident.inputs.add(name=origin["name"] + ":0", dtype="float32", shape=[32, 64], size=2048,
                        min=-3.1e38, max=float("inf"), posinf_count=3)
    incident.cause.code = "float_overflow"
    incident.cause.summary = "synthetic: a gradient overflowed float32"
    incident.cause.contributing.extend(["exploding_gradient"])
    incident.cause.fixes.extend(["Clip gradients (clipnorm=1.0)."])
    for n in nodes:
        incident.graph.nodes.add(name=n["name"], type=n["type"], layer=n["layer"] or "",
                                 phase=n["phase"] or "", state=n["state"])
    for a, b in edges:
        incident.graph.edges.add(source=a, target=b)
    writer.write(metadata.INCIDENT, incident, incident.step)

    window_steps = list(range(max(0, incident_step - health.WINDOW + 1), incident_step + 1))
    rng = np.random.default_rng(0)
    window = np.array([row(s) for s in window_steps], dtype=np.float32)
    writer.write(metadata.WINDOW, pb.HealthWindow(
        schema_version=1, incident_index=0, metric=metrics, layer=col_layers,
        steps=window_steps, values=window.reshape(-1)), incident_step)
    writer.write(metadata.WARNING, pb.Warning(
        schema_version=1, index=0, step=incident_step - 16, code="exploding_gradient",
        layer=origin_layer, metric="grad_norm",
        message=f"gradient norm of layer {origin_layer} grew 100x in 10 steps"), incident_step - 16)
    writer.write(metadata.RUN_END, pb.RunInfo(schema_version=1, mode="guard", status="stopped",
                                              steps=steps, incident_count=1), steps)
    writer.close()
    return run_dir


# ---------------------------------------------------------------- browser


def _plugin_frame(page, timeout=60):
    """The tab's iframe (plugin_entry.html) once TensorBoard created it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "plugin_entry.html" in frame.url:
                return frame
        page.wait_for_timeout(20)
    raise TimeoutError("TensorBoard did not open the NaN Trace tab's iframe")


# In every frame: the wall-clock time (ms since the epoch) of the first
# frame rendered after the origin headline entered the document (the
# requestAnimationFrame timestamp of that frame, just before its paint).
PAINT_PROBE = """
(() => {
  const done = () => document.querySelector('.nt-origin .nt-headline');
  const record = () => requestAnimationFrame((t) => {
    window.__ntOriginPainted = performance.timeOrigin + t;
  });
  const start = () => {
    if (done()) return record();
    const mo = new MutationObserver(() => { if (done()) { mo.disconnect(); record(); } });
    mo.observe(document, { childList: true, subtree: true });
  };
  start();
})();
"""


def time_origin(browser, url, in_tab, timeout_ms=60_000):
    """(ms from navigation to the origin headline painted, as the page
    records it; ms until Playwright sees it visible)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(PAINT_PROBE)
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        frame = _plugin_frame(page) if in_tab else page.main_frame
        frame.wait_for_selector(".nt-origin .nt-headline", state="visible", timeout=timeout_ms)
        seen = (time.perf_counter() - start) * 1000
        frame.wait_for_function("() => window.__ntOriginPainted !== undefined", timeout=timeout_ms)
        painted = frame.evaluate("() => window.__ntOriginPainted") - page.evaluate("() => performance.timeOrigin")
        return painted, seen
    finally:
        context.close()


def time_graph(browser, url, timeout_ms=120_000):
    """(view measure ms, navigation-to-graph ms, expand-layer ms, show-origin ms)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_selector(".nt-graph-svg.nt-graph-ready", state="attached", timeout=timeout_ms)
        to_graph = (time.perf_counter() - start) * 1000
        measure = page.evaluate(
            "() => { const m = performance.getEntriesByName('nantrace-graph'); "
            "return m.length ? m[m.length - 1].duration : null; }")
        # A click handler lays out and redraws synchronously: time it in the page.
        expand = page.evaluate("""() => {
            const g = document.querySelector('.nt-gn.nt-gn-group');
            if (!g) return null;
            const t = performance.now();
            g.dispatchEvent(new MouseEvent('click', {bubbles: true}));
            return performance.now() - t;
        }""")
        origin = page.evaluate("""() => {
            const b = [...document.querySelectorAll('.nt-graph-toolbar button')]
                .find((x) => x.textContent === 'Show origin');
            if (!b) return null;
            const t = performance.now();
            b.click();
            return performance.now() - t;
        }""")
        return measure, to_graph, expand, origin
    finally:
        context.close()


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join(REPO, "demo", "logs"),
                        help="recorded logdir for (a) (default: demo/logs)")
    parser.add_argument("--run", default=None, help="run of --logdir with an incident (default: the tab's choice)")
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write-synthetic", metavar="DIR", help="only write the synthetic run into DIR")
    args = parser.parse_args()

    if args.write_synthetic:
        start = time.perf_counter()
        path = write_synthetic_run(args.write_synthetic, args.ops)
        print(f"wrote {path} ({args.ops:,} ops) in {time.perf_counter() - start:.1f}s")
        return

    if not os.path.isdir(args.logdir):
        sys.exit(f"no logdir {args.logdir}: record one first (python -m demo.run_all)")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    root = tempfile.mkdtemp(prefix="nantrace-ui-")
    try:
        start = time.perf_counter()
        write_synthetic_run(os.path.join(root, "graph"), args.ops)
        print(f"wrote the synthetic {args.ops:,}-op incident graph in {time.perf_counter() - start:.1f}s")
        # Serve this checkout's plugin (and bundle), whatever is pip-installed.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p))
        recorded = TensorBoardProcess(args.logdir, log_path=os.path.join(root, "tb-recorded.log"), env=env)
        synthetic = TensorBoardProcess(os.path.join(root, "graph"), log_path=os.path.join(root, "tb-graph.log"),
                                       env=env)
        recorded.start()
        synthetic.start()
        try:
            recorded.wait_ready()
            synthetic.wait_ready()
            has_incident = lambda v: any(r["incident_count"] > 0 for r in v["runs"])  # noqa: E731
            recorded.wait_for(has_incident, "/data/plugin/nantrace/runs")
            synthetic.wait_for(has_incident, "/data/plugin/nantrace/runs")
            fragment = f"#run={args.run}" if args.run else ""
            entry = "/data/plugin_entry.html?name=nantrace"
            rows = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    # One unmeasured load each: TensorBoard's first requests warm its caches.
                    time_origin(browser, recorded.url + entry + fragment, in_tab=False)
                    time_graph(browser, synthetic.url + entry)
                    plugin = [time_origin(browser, recorded.url + entry + fragment, in_tab=False)
                              for _ in range(args.repeats)]
                    tab = [time_origin(browser, recorded.url + "/#nantrace", in_tab=True)
                           for _ in range(args.repeats)]
                    graphs = [time_graph(browser, synthetic.url + entry) for _ in range(args.repeats)]
                finally:
                    browser.close()
            rows.append(("(a) origin painted, plugin page", median([t[0] for t in plugin]), max(t[0] for t in plugin)))
            rows.append(("(a) origin visible to Playwright, plugin page", median([t[1] for t in plugin]),
                         max(t[1] for t in plugin)))
            rows.append(("(a) origin painted, TensorBoard /#nantrace", median([t[0] for t in tab]), max(t[0] for t in tab)))
            rows.append(("(a) origin visible to Playwright, TensorBoard", median([t[1] for t in tab]),
                         max(t[1] for t in tab)))
            rows.append((f"(b) graph {args.ops:,} ops: model+layout+SVG", median([g[0] for g in graphs]),
                         max(g[0] or 0 for g in graphs)))
            rows.append((f"(b) graph {args.ops:,} ops: navigation to graph drawn",
                         median([g[1] for g in graphs]), max(g[1] for g in graphs)))
            rows.append(("(b) expand one layer (click)", median([g[2] for g in graphs]),
                         max(g[2] or 0 for g in graphs)))
            rows.append(("(b) Show origin (expand + select)", median([g[3] for g in graphs]),
                         max(g[3] or 0 for g in graphs)))
        finally:
            recorded.stop()
            synthetic.stop()
        print()
        print(f"headless Chromium ({CHROMIUM}), {args.repeats} fresh pages each, logdir {args.logdir}")
        width = max(len(r[0]) for r in rows)
        print(f"{'measure':<{width}}  {'median ms':>10}  {'max ms':>8}")
        for name, med, worst in rows:
            print(f"{name:<{width}}  {med:>10.0f}  {worst:>8.0f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The NaN Trace tab in a real browser: Debian's Chromium (headless, driven by
Playwright) on a real `tensorboard --logdir` process (Rust data server), on a
logdir recorded by really running demo scenarios, plus two hostile runs.

The logdir (one recording per module):

    bce_saturation/        demo: Inf in Log at step 12 (the default run)
    healthy/               demo: no incident, 128 steps
    mae_div_zero/          demo: Inf in RealDiv at step 11, the output ReLU dead
    relu_high_lr/          demo: Inf in Square at step 4
    unscaled_features/     demo: Inf in Exp at step 1 (its graph mixes phases)
    xss_keras <img ...>/   a real Keras run of a script whose failing line
                           carries HTML/script payloads in a comment
    xss_records/</script><script>window.__xss=2</script>
                           records written with the real RecordWriter whose
                           every string (layer, op, file, code, cause, graph
                           node and timeline layer names, ...) is hostile

The tab lives in an iframe (`data/plugin_entry.html?name=nantrace`).

Without /usr/bin/chromium the module is skipped, unless the environment
variable CI is set (then every test fails): CI must run these.
"""

import importlib
import os
import re
import runpy

import keras
import pytest

import demo.bce_saturation
import demo.healthy
import demo.mae_div_zero
import demo.relu_high_lr
import demo.unscaled_features
from tb_nantrace import metadata
from tb_nantrace.proto import nantrace_pb2 as pb
from tb_nantrace.recorder.writer import RecordWriter
from tensorboard_process import TensorBoardProcess

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

if not os.path.exists(CHROMIUM) and not IN_CI:
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
# Without Playwright the module is skipped, except in CI (which must fail).
playwright = (importlib.import_module("playwright.sync_api") if IN_CI
              else pytest.importorskip("playwright.sync_api"))
expect, sync_playwright = playwright.expect, playwright.sync_playwright

expect.set_options(timeout=15_000)  # other machines' jobs may slow ours

TIMEOUT_MS = 30_000  # per wait; a cold TensorBoard page takes a few seconds

XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "</script><script>window.__xss=2</script>"
XSS_ATTR = "\"'><img src=x onerror=alert(window.__xss=3)>"

# TensorFlow refuses "<", "=" and spaces in name scopes, so a real Keras layer
# cannot carry the payload; the run name (a directory) and the source line can.
REAL_XSS_RUN = f"xss_keras {XSS_IMG}"
# A run name with "/" is a nested directory: xss_records/< /script><script>... /script>
RECORDS_XSS_RUN = f"xss_records/{XSS_SCRIPT}"
DEMOS = (demo.bce_saturation, demo.relu_high_lr, demo.healthy, demo.mae_div_zero,
         demo.unscaled_features)
RUNS = {
    "bce_saturation": "incident",
    "healthy": "healthy",
    "mae_div_zero": "incident",
    "relu_high_lr": "incident",
    "unscaled_features": "incident",
    REAL_XSS_RUN: "incident",
    RECORDS_XSS_RUN: "incident",
}

XSS_SCRIPT_SOURCE = f'''\
import numpy as np
import keras
from keras import layers, ops

import tb_nantrace as nantrace


class Shifted(layers.Layer):
    def call(self, x):
        return ops.log(x - 1e6)  # {XSS_SCRIPT!r} {XSS_IMG}


def main(logdir):
    keras.utils.set_random_seed(0)
    x = np.abs(np.random.RandomState(0).normal(size=(64, 3))).astype("float32")
    y = np.zeros((64, 1), "float32")
    model = keras.Sequential([layers.Input(shape=(3,)), Shifted(name="shifted"), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with nantrace.record(logdir):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
'''
XSS_CODE_LINE = f"return ops.log(x - 1e6)  # {XSS_SCRIPT!r} {XSS_IMG}"


# ---------------------------------------------------------------- the logdir


def write_hostile_records(logdir):
    """One incident, its window, a warning, a timeline chunk and the run
    info, written with the real RecordWriter; every string is hostile."""
    session = metadata.session_id(1.7e9)
    writer = RecordWriter(str(logdir), session)
    writer.write(metadata.RUN_START, pb.RunInfo(schema_version=1, mode="guard", status="running",
                                                start_time=1.7e9, hostname=XSS_ATTR), 0)
    metrics = ["loss", "grad_norm", "act_max_abs", "act_max_abs"]
    layer_names = ["", "", XSS_IMG, XSS_SCRIPT]
    writer.write(metadata.TIMELINE, pb.TimelineChunk(
        schema_version=1, metric=metrics, layer=layer_names, first_step=0, last_step=6, count=7,
        min=[0.5, 1.0, 1.0, 2.0], max=[0.9, 3.0, 8.0, 9.0], mean=[0.7, 2.0, 4.0, 5.0],
        last=[0.6, 2.5, 7.0, 8.5]), 6)
    writer.write(metadata.WARNING, pb.Warning(
        schema_version=1, index=0, step=5, code="exploding_gradient", layer=XSS_IMG,
        metric="grad_norm", message=f"grew {XSS_SCRIPT} {XSS_IMG} {XSS_ATTR}"), 5)

    incident = pb.Incident(schema_version=1, index=0, step=7, phase="forward", kind="nan",
                           layer=XSS_IMG, variable=XSS_ATTR, mode="guard",
                           wall_time=1.7e9 + 7, note=f"note {XSS_IMG}")
    incident.op.type = XSS_IMG
    incident.op.name = f"{XSS_IMG}/{XSS_ATTR}/Log"
    source = incident.source
    source.file = f"models/{XSS_SCRIPT}.py"
    source.line = 3
    source.function = XSS_IMG
    source.code = f"    y = ops.log(x)  # {XSS_IMG} {XSS_SCRIPT}"
    source.context_start = 2
    source.context.extend([f"def f(x):  # {XSS_ATTR}", source.code, f"    return '{XSS_SCRIPT}'"])
    source.user = True
    incident.stack.add(file=f"{XSS_IMG}.py", line=9, function="main",
                       code=f"f({XSS_SCRIPT!r})", user=True)
    incident.stack.append(source)
    incident.inputs.add(name=f"{XSS_IMG}:0", dtype="float32", shape=[4], size=4,
                        min=-1.0, max=2.0, negative_count=1)
    incident.outputs.add(name=f"{XSS_SCRIPT}:0", dtype="float32", shape=[4], size=4,
                         min=float("nan"), max=float("nan"), nan_count=1)
    incident.cause.code = "log_of_nonpositive"
    incident.cause.summary = f"input min -1 {XSS_IMG} {XSS_SCRIPT}"
    incident.cause.contributing.extend(["exploding_gradient"])
    incident.cause.fixes.extend([f"fix {XSS_SCRIPT}", XSS_ATTR])
    nodes = [
        ("x", "Placeholder", "", "input", "input"),
        (f"{XSS_IMG}/kernel", "ReadVariableOp", XSS_IMG, "forward", "variable"),
        (f"{XSS_IMG}/MatMul", "MatMul", XSS_IMG, "forward", "finite"),
        (f"{XSS_IMG}/Log", XSS_SCRIPT, XSS_IMG, "forward", "origin"),
        (f"loss/{XSS_ATTR}", "Mean", "loss", "forward", "propagated"),
    ]
    for name, op_type, layer, phase, state in nodes:
        incident.graph.nodes.add(name=name, type=op_type, layer=layer, phase=phase, state=state)
    for a, b in [(0, 2), (1, 2), (2, 3), (3, 4)]:
        incident.graph.edges.add(source=nodes[a][0], target=nodes[b][0])
    writer.write(metadata.INCIDENT, incident, incident.step)

    steps = list(range(0, 8))
    values = []
    for step in steps:
        bad = float("nan") if step == 7 else None
        values += [0.7 - 0.01 * step, 2.0 + step, bad or 1.0 + step, bad or 2.0 * (step + 1)]
    writer.write(metadata.WINDOW, pb.HealthWindow(schema_version=1, incident_index=0, metric=metrics,
                                                  layer=layer_names, steps=steps, values=values), 7)
    writer.write(metadata.RUN_END, pb.RunInfo(schema_version=1, mode="guard", status="stopped", steps=7,
                                              incident_count=1, start_time=1.7e9, end_time=1.7e9 + 8,
                                              notes=[f"note {XSS_IMG}", f"note {XSS_SCRIPT}"]), 7)
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    logs = root / "logs"
    for module in DEMOS:
        keras.backend.clear_session()
        module.main(logdir=str(logs / module.NAME))
    script = root / "xss_script.py"
    script.write_text(XSS_SCRIPT_SOURCE, encoding="utf-8")
    keras.backend.clear_session()
    runpy.run_path(str(script), run_name="xss_script")["main"](str(logs / REAL_XSS_RUN))
    write_hostile_records(logs.joinpath(*RECORDS_XSS_RUN.split("/")))
    return logs


@pytest.fixture(scope="module")
def tensorboard(logdir):
    def loaded(value):
        runs = {r["run"]: r for r in value["runs"]}
        return set(runs) == set(RUNS) and all(
            runs[name]["status"] == status and runs[name]["run_status"] in ("stopped", "finished")
            for name, status in RUNS.items()
        )

    with TensorBoardProcess(logdir) as tb:
        tb.wait_for(loaded, "/data/plugin/nantrace/runs")
        yield tb


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: install it (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


class Tab:
    """One browser page on TensorBoard's NaN Trace tab."""

    def __init__(self, page, url):
        self.page = page
        self.dialogs = []
        self.errors = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(url + "/#nantrace")
        self.iframe = page.locator('iframe[src*="plugin_entry.html"]')
        self.ui = page.frame_locator('iframe[src*="plugin_entry.html"]')
        self.ui.locator(".nt-app").wait_for(timeout=TIMEOUT_MS)
        self.frame = self.iframe.element_handle().content_frame()

    def _on_dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def origin_panel(self):
        return self.ui.locator("section.nt-origin")

    def select_run(self, name):
        runs = self.ui.get_by_role("navigation")
        runs.get_by_role("button").filter(has=self.ui.get_by_text(name, exact=True)).click()
        expect(self.ui.locator(".nt-run-title-name")).to_have_text(name, timeout=TIMEOUT_MS)

    def graph_ready(self):
        svg = self.ui.locator("svg.nt-graph-ready")
        svg.wait_for(timeout=TIMEOUT_MS)
        return svg

    def details(self):
        return self.ui.locator(".nt-graph-details")


def new_context(browser, **options):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def open_tab(context, url):
    page = context.new_page()
    try:
        tab = Tab(page, url)
        yield tab
        assert tab.errors == [], tab.errors
        assert tab.dialogs == [], tab.dialogs
    finally:
        # The tab keeps the selected run in localStorage (a reload keeps it):
        # the next test opens on the default run again.
        try:
            page.evaluate("() => localStorage.clear()")
        finally:
            page.close()


@pytest.fixture(scope="module")
def context(browser):
    """One context (its HTTP cache makes later page loads quicker); a new
    page for each test."""
    context = new_context(browser)
    yield context
    context.close()


@pytest.fixture
def tab(context, tensorboard):
    yield from open_tab(context, tensorboard.url)


@pytest.fixture
def tab_without_csp(browser, tensorboard):
    """TensorBoard's Content-Security-Policy forbids inline event handlers and
    scripts: it would stop most injected payloads by itself. With it
    bypassed, only the tab's own DOM building stands between them and
    execution, which is what the XSS test is about."""
    context = new_context(browser, bypass_csp=True)
    try:
        yield from open_tab(context, tensorboard.url)
    finally:
        context.close()


# ---------------------------------------------------------------- tests


def test_origin_is_visible_without_a_click(tab):
    ui = tab.ui
    headline = ui.locator(".nt-headline")
    expect(headline).to_be_visible(timeout=TIMEOUT_MS)
    expect(headline).to_contain_text("Inf first appeared at step 12, in the forward pass, in op Log")
    expect(headline).to_contain_text("compile_loss/handwritten_bce/Log_1")
    expect(ui.get_by_text("first appeared at step 12")).to_be_visible()
    panel = tab.origin_panel()
    expect(panel.get_by_text("Where it started")).to_be_visible()
    expect(panel.locator("dd").first).to_have_text("Log")  # Op type
    hit = panel.locator(".nt-line-hit")
    expect(hit).to_be_visible()
    expect(hit).to_contain_text("log_not_p = ops.log(1.0 - y_pred)")
    expect(panel.get_by_text(re.compile(r"^demo/bce_saturation\.py:\d+$")).first).to_be_visible()
    cause = panel.locator(".nt-cause-code")
    expect(cause).to_have_text("log_of_nonpositive")
    expect(cause).to_be_visible()
    expect(panel.locator(".nt-cause-summary")).to_contain_text("input min 0.0 → log(0.0) = -inf")
    # The default run is the first run with an incident, and it is selected.
    expect(ui.locator(".nt-run-title-name")).to_have_text("bce_saturation")
    expect(ui.get_by_role("button", name=re.compile("bce_saturation"))).to_have_attribute("aria-current", "true")


# Columns of the chart canvas in which most of the plot height is the
# incident colour (--nt-bad): the incident marker's vertical line.
MARKER_COLUMNS_JS = """(canvas) => {
  const hex = getComputedStyle(document.documentElement).getPropertyValue("--nt-bad").trim();
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const columns = [];
  for (let x = 0; x < width; x++) {
    let n = 0;
    for (let y = 0; y < height; y++) {
      const i = (y * width + x) * 4;
      if (Math.abs(data[i] - want[0]) + Math.abs(data[i + 1] - want[1]) + Math.abs(data[i + 2] - want[2]) < 30) n++;
    }
    if (n > height * 0.4) columns.push(x);
  }
  return { columns, width, height, ratio: width / canvas.getBoundingClientRect().width };
}"""


def test_timeline_has_charts_with_the_incident_marker(tab):
    ui = tab.ui
    timeline = ui.locator("section.nt-timeline")
    canvases = timeline.locator(".nt-chart canvas")
    expect(canvases).to_have_count(3, timeout=TIMEOUT_MS)  # loss, gradient norm, per layer
    expect(timeline.get_by_text("Loss and gradient norm")).to_be_visible()
    # The window before incident #0 covers the whole run: shown first.
    expect(timeline.get_by_role("button", name="Before incident #0 (every step)")).to_have_class(re.compile("nt-seg-on"))
    expect(timeline.get_by_text(re.compile(r"Steps 0–12, 13 points: every step recorded before incident #0"))).to_be_visible()
    # The marker list names the incident ...
    expect(timeline.get_by_role("button", name=re.compile(r"#0 step 12 Inf in Log"))).to_be_visible()
    # ... and each chart draws it: a vertical line in the incident colour at
    # the right end (step 12 is the last step of the window).
    canvas = canvases.first
    canvas.scroll_into_view_if_needed()
    found = canvas.evaluate(MARKER_COLUMNS_JS)
    assert found["columns"], found
    assert min(found["columns"]) > 0.8 * found["width"], found
    # Hovering the line tells which incident it is (retried: a late redraw,
    # e.g. on resize, replaces the chart under the mouse).
    status = timeline.locator(".nt-chart-status").first
    for _ in range(20):
        box = canvas.bounding_box()
        x = box["x"] + (found["columns"][0] + 1) / found["ratio"]
        tab.page.mouse.move(box["x"] + 5, box["y"] + 5)
        tab.page.mouse.move(x, box["y"] + box["height"] * 0.5, steps=2)
        if "Incident #0" in (status.text_content() or ""):
            break
        tab.page.wait_for_timeout(250)
    expect(status).to_contain_text("Incident #0 at step 12: Inf in Log")
    for second in canvases.all()[1:]:
        assert second.evaluate(MARKER_COLUMNS_JS)["columns"]


def test_graph_highlights_the_origin(tab):
    ui = tab.ui
    svg = tab.graph_ready()
    graph = ui.locator("section.nt-graph")
    expect(graph.get_by_text(re.compile(r"\d+ ops, \d+ edges, .*1 origin"))).to_be_visible()
    # Collapsed at first: the group holding the origin carries its state.
    origin_group = svg.locator(".nt-gn.nt-st-origin")
    expect(origin_group).to_have_count(1)
    expect(origin_group).to_contain_text("compile_loss/handwritten_bce")
    expect(tab.details()).to_contain_text("The origin op is in compile_loss/handwritten_bce › Log")
    # Highlighted: drawn unlike a finite box.
    finite = svg.locator(".nt-gn.nt-st-finite .nt-gn-box").first
    style = "(e) => { const s = getComputedStyle(e); return [s.stroke, s.fill].join(' ') }"
    assert origin_group.locator(".nt-gn-box").evaluate(style) != finite.evaluate(style)
    # "Show origin" opens the groups above the op and selects it.
    graph.get_by_role("button", name="Show origin").click()
    op = svg.locator(".nt-gn.nt-st-origin:not(.nt-gn-group)")
    expect(op).to_have_count(1)
    expect(op).to_contain_text("Log")
    expect(op).to_have_class(re.compile("nt-gn-selected"))
    details = tab.details()
    expect(details.get_by_role("heading", name="Origin op")).to_be_visible()
    expect(details).to_contain_text("compile_loss/handwritten_bce/Log_1")
    expect(details).to_contain_text("origin (first non-finite)")


def test_clicking_a_graph_node_shows_its_details(tab):
    svg = tab.graph_ready()
    details = tab.details()
    # A collapsed layer: click shows the group and expands it.
    hidden = svg.locator(".nt-gn.nt-gn-group").filter(has_text=re.compile(r"^▸ hidden"))
    hidden.click()
    expect(details.get_by_role("heading", name="Layer")).to_be_visible()
    expect(details).to_contain_text("hidden")
    expect(details.get_by_role("button", name="Collapse")).to_be_visible()
    # Its ops are now boxes of their own; click one.
    head = svg.locator(".nt-gx-head").filter(has_text="hidden")
    expect(head).to_have_count(1)
    op = svg.locator(".nt-gn:not(.nt-gn-group)").filter(has_text="MatMul").first
    title = op.locator("title").text_content()  # "<type> <name>"
    op_type, op_name = title.split(" ", 1)
    op.click()
    expect(op).to_have_count(1)
    expect(svg.locator(".nt-gn.nt-gn-selected")).to_contain_text("MatMul")
    expect(details.get_by_role("heading", name="Op", exact=True)).to_be_visible()
    fields = details.locator("dl.nt-fields")
    expect(fields.locator("dd").nth(0)).to_have_text(op_type)
    expect(fields.locator("dd").nth(1)).to_have_text(op_name)
    expect(fields.locator("dd").nth(2)).to_have_text("hidden")
    expect(fields.locator("dd").nth(4)).to_have_text("finite")
    # The origin op's details carry its tensor statistics.
    origin_group = svg.locator(".nt-gn.nt-st-origin.nt-gn-group")
    origin_group.click()
    origin = svg.locator(".nt-gn.nt-st-origin:not(.nt-gn-group)")
    origin.click()
    expect(details.get_by_role("heading", name="Origin op")).to_be_visible()
    expect(details.get_by_role("heading", name="Input stats")).to_be_visible()
    stats = details.locator(".nt-cstat").first
    expect(stats).to_contain_text("compile_loss/handwritten_bce/sub:0")
    expect(stats.locator("dd.nt-bad").first).to_have_text("0")  # min 0 → log(0)


def test_run_selector_badges_and_switching_runs(tab):
    ui = tab.ui
    nav = ui.get_by_role("navigation")
    expect(nav.get_by_text("7 runs, 6 with incidents")).to_be_visible(timeout=TIMEOUT_MS)
    buttons = nav.get_by_role("button")
    expect(buttons).to_have_count(len(RUNS))
    shown = {}
    for button in buttons.all():
        shown[button.locator(".nt-run-name").text_content()] = button.locator(".nt-badge").text_content()
    assert shown == RUNS

    tab.select_run("relu_high_lr")
    panel = tab.origin_panel()
    expect(panel.locator(".nt-headline")).to_contain_text("Inf first appeared at step 4, in the forward pass, in op Square")
    expect(panel.locator("dd").first).to_have_text("Square")
    expect(panel.locator(".nt-cause-code")).to_have_text("float_overflow")
    svg = tab.graph_ready()
    expect(svg.locator(".nt-gn.nt-st-origin")).to_contain_text("compile_loss/mse")
    expect(ui.get_by_role("button", name=re.compile(r"#0 step 4 Inf in Square"))).to_be_visible()
    assert "run=relu_high_lr" in tab.frame.evaluate("location.hash")  # kept in the iframe's URL

    tab.select_run("healthy")
    expect(ui.get_by_text("No NaN/Inf recorded in 128 steps.")).to_be_visible()
    expect(ui.locator("section.nt-origin")).to_have_count(0)
    expect(ui.get_by_text("No incident in this run, so no failing step to show.")).to_be_visible()
    expect(ui.locator("section.nt-timeline .nt-chart canvas")).to_have_count(3)

    tab.select_run("bce_saturation")
    expect(ui.locator(".nt-headline")).to_contain_text("first appeared at step 12")


def no_xss(frame):
    return frame.evaluate(
        """() => ({
          xss: typeof window.__xss === "undefined" ? null : String(window.__xss),
          imgs: [...document.querySelectorAll("img")].map((i) => i.getAttribute("src")),
          handlers: [...document.querySelectorAll("*")].flatMap((e) =>
            [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => e.tagName + " " + a.name)),
          scripts: [...document.querySelectorAll("script")].filter((s) => s.textContent.includes("__xss")).length,
        })"""
    )


def test_hostile_strings_are_shown_as_text_and_never_run(tab_without_csp):
    tab = tab_without_csp
    ui, page = tab.ui, tab.page
    nav = ui.get_by_role("navigation")
    expect(nav.get_by_text(REAL_XSS_RUN, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    expect(nav.get_by_text(RECORDS_XSS_RUN, exact=True)).to_be_visible()

    # A real Keras run: the failing source line carries the payloads.
    tab.select_run(REAL_XSS_RUN)
    panel = tab.origin_panel()
    hit = panel.locator(".nt-line-hit")
    expect(hit).to_contain_text(XSS_CODE_LINE)
    expect(panel.get_by_text(XSS_CODE_LINE, exact=False).first).to_be_visible()
    expect(panel.locator(".nt-headline")).to_contain_text("NaN first appeared at step 0")
    expect(panel.locator(".nt-cause-code")).to_have_text("log_of_nonpositive")
    tab.graph_ready()

    # Records whose every string is hostile.
    tab.select_run(RECORDS_XSS_RUN)
    panel = tab.origin_panel()
    expect(panel.locator(".nt-headline")).to_have_text(
        f"NaN first appeared at step 7, in the forward pass, in op {XSS_IMG} "
        f"({XSS_IMG}/{XSS_ATTR}/Log) of layer {XSS_IMG}, variable {XSS_ATTR}."
    )
    expect(panel.locator(".nt-line-hit")).to_contain_text(f"y = ops.log(x)  # {XSS_IMG} {XSS_SCRIPT}")
    expect(panel.get_by_text(f"models/{XSS_SCRIPT}.py:3").first).to_be_visible()
    expect(panel.get_by_text(f"fix {XSS_SCRIPT}")).to_be_visible()
    expect(panel.get_by_text(f"input min -1 {XSS_IMG} {XSS_SCRIPT}")).to_be_visible()
    expect(panel.get_by_text(f"grew {XSS_SCRIPT} {XSS_IMG} {XSS_ATTR}")).to_be_visible()
    panel.get_by_text(re.compile(r"^Call stack")).click()
    expect(panel.get_by_text(f"{XSS_IMG}.py:9")).to_be_visible()
    expect(ui.get_by_text(f"note {XSS_SCRIPT}")).to_be_visible()
    # Timeline legends (uPlot's canvas and ours) and the graph (SVG text).
    timeline = ui.locator("section.nt-timeline")
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3)
    expect(timeline.locator(".nt-legend-series").filter(has_text=XSS_SCRIPT)).to_be_visible()
    svg = tab.graph_ready()
    group = svg.locator(".nt-gn.nt-st-origin")
    expect(group).to_contain_text(XSS_IMG)
    ui.get_by_role("button", name="Show origin").click()
    origin = svg.locator(".nt-gn.nt-st-origin:not(.nt-gn-group)")
    expect(origin).to_contain_text(XSS_SCRIPT)
    expect(tab.details().locator("dd").nth(1)).to_have_text(f"{XSS_IMG}/Log")
    svg.locator(".nt-gn.nt-st-propagated").click()  # the group of layer "loss"
    details = tab.details()
    expect(details.get_by_role("heading", name="Non-finite ops inside")).to_be_visible()
    details.get_by_role("button", name=f"Mean loss/{XSS_ATTR}").click()
    expect(details.get_by_role("heading", name="Op", exact=True)).to_be_visible()
    expect(details.locator("dd").nth(1)).to_have_text(f"loss/{XSS_ATTR}")

    # Whatever loaded or failed to load has had its chance to run.
    page.wait_for_timeout(500)
    text = tab.frame.evaluate("document.body.innerText")
    for payload in (XSS_IMG, XSS_SCRIPT, XSS_ATTR):
        assert payload in text
    for frame in (page.main_frame, tab.frame):
        found = no_xss(frame)
        assert found["xss"] is None, (frame.url, found)
        assert "x" not in found["imgs"], (frame.url, found)
        assert found["scripts"] == 0, (frame.url, found)
    assert no_xss(tab.frame)["handlers"] == []
    assert tab.dialogs == []

    # Control: the same payloads, put into the DOM as HTML, do run in this
    # page (an image that fails to load, a dialog): the checks above can fail.
    tab.frame.evaluate("(html) => document.body.insertAdjacentHTML('beforeend', html)", XSS_IMG)
    tab.frame.wait_for_function("window.__xss === 1")
    tab.frame.evaluate("(html) => document.body.insertAdjacentHTML('beforeend', html)", XSS_ATTR)
    tab.frame.wait_for_function("window.__xss === 3")
    assert no_xss(tab.frame)["imgs"] == ["x", "x"]
    assert tab.dialogs == ["alert: 3"]
    tab.dialogs.clear()


# ---------------------------------------------------------------- charts that tell the truth


# Drawn pixels in the leftmost 16 CSS pixels of a chart canvas (its y axis label).
LABEL_INK_JS = """(canvas) => {
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const w = Math.round(16 * ratio);
  const data = canvas.getContext("2d").getImageData(0, 0, w, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}"""


def chart_captions(timeline):
    return [c.text_content() for c in timeline.locator(".nt-chart-caption").all()]


def test_loss_and_gradient_norm_each_have_a_labelled_axis_and_the_log_box_switches_every_chart(tab):
    timeline = tab.ui.locator("section.nt-timeline")
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3, timeout=TIMEOUT_MS)
    # Activation max |x| (the default per-layer metric) spans decades: log.
    assert chart_captions(timeline) == [
        "Loss · y: loss, log scale · x: step",
        "Gradient norm · y: gradient norm, log scale · x: step",
        "y: activation max |x| of each layer, log scale · x: step",
    ]
    # uPlot draws each chart's y axis label on its canvas, rotated, in the
    # strip left of the tick numbers: every chart has ink there.
    for canvas in timeline.locator(".nt-chart canvas").all():
        assert canvas.evaluate(LABEL_INK_JS) > 20
    box = timeline.get_by_role("checkbox", name="log scale")
    expect(box).to_be_checked()
    box.uncheck()
    expect(timeline.locator(".nt-chart-caption").first).to_have_text("Loss · y: loss · x: step")
    assert chart_captions(timeline) == [
        "Loss · y: loss · x: step",
        "Gradient norm · y: gradient norm · x: step",
        "y: activation max |x| of each layer · x: step",
    ]
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3)
    # The heat strip follows the same box.
    expect(timeline.locator(".nt-hint")).not_to_contain_text("(log)")
    box.check()
    expect(timeline.locator(".nt-hint")).to_contain_text("(log)")


def test_a_short_run_shows_every_recorded_step(tab):
    tab.select_run("healthy")
    timeline = tab.ui.locator("section.nt-timeline")
    # 128 steps: the end-of-run window has every one of them, shown first.
    expect(timeline.get_by_role("button", name="Last steps (every step)")).to_have_class(re.compile("nt-seg-on"))
    expect(timeline.locator(".nt-range")).to_have_text(re.compile(
        r"^Steps 0–127, 128 points: every step the flight recorder kept at the end of the run\."))
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3)
    # Hovering across the loss chart reads a step of its own at every few
    # pixels (two 64-step points would only ever read 63 or 127).
    canvas = timeline.locator(".nt-chart canvas").first
    status = timeline.locator(".nt-chart-status").first
    canvas.scroll_into_view_if_needed()
    read = set()
    for fraction in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        box = canvas.bounding_box()
        tab.page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2, steps=2)
        expect(status).to_contain_text(re.compile(r"step \d+: loss \d"))
        read.add(int(re.search(r"step (\d+):", status.text_content()).group(1)))
    assert len(read) == 6 and not read & {63, 127}, read
    # The sampled overview says what its points are.
    timeline.get_by_role("button", name="All steps").click()
    expect(timeline.locator(".nt-range")).to_contain_text("2 points (each point sums up to 64 steps")


# Pixels of a CSS colour (a variable of the page) on a canvas, as [x, y].
COLOR_PIXELS_JS = """(canvas, variable) => {
  const hex = getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const found = [];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      if (Math.abs(data[i] - want[0]) + Math.abs(data[i + 1] - want[1]) + Math.abs(data[i + 2] - want[2]) < 24) found.push([x, y]);
    }
  return { found, width, height };
}"""


def test_exact_zeros_on_a_log_axis_are_marked_at_its_floor_with_the_value_on_hover(tab):
    # The relative-MAE demo: its output ReLU is dead (max |x| = 0) at the
    # incident's step; a log axis cannot place 0.
    tab.select_run("mae_div_zero")
    timeline = tab.ui.locator("section.nt-timeline")
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3, timeout=TIMEOUT_MS)
    note = timeline.locator(".nt-zero-note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("1 value of 0 (or below), which a log axis cannot place: layer output at step 11")
    layers = timeline.locator(".nt-chart canvas").nth(2)
    layers.scroll_into_view_if_needed()
    # The marker: the output line's colour (--nt-c1) at the incident's step,
    # on the bottom of the plot, where the line itself never goes (it ends at step 10).
    marker = layers.evaluate(MARKER_COLUMNS_JS)
    x_incident = marker["columns"][0]
    ink = layers.evaluate(COLOR_PIXELS_JS, "--nt-c1")
    near = [(x, y) for x, y in ink["found"] if abs(x - x_incident) <= 8 * marker["ratio"]]
    assert near, (x_incident, len(ink["found"]))
    assert min(y for _, y in near) > 0.6 * ink["height"], near[:5]
    # Hovering there gives the value (the incident's marker is there too).
    status = timeline.locator(".nt-chart-status").nth(2)
    for _ in range(20):
        box = layers.bounding_box()
        tab.page.mouse.move(box["x"] + 5, box["y"] + 5)
        tab.page.mouse.move(box["x"] + (x_incident + 1) / marker["ratio"], box["y"] + box["height"] * 0.6, steps=2)
        if "drawn at the log axis floor" in (status.text_content() or ""):
            break
        tab.page.wait_for_timeout(250)
    expect(status).to_contain_text("output 0 (drawn at the log axis floor)")
    # The heat strip names the dead layer as the first to degrade.
    expect(timeline.locator(".nt-heat-summary")).to_have_text(
        "First to degrade (activation max |x|): layer output, which went all zero "
        "(a dead layer: every activation 0) at step 11.")


def expand_every_group(tab, svg):
    for _ in range(60):
        groups = svg.locator(".nt-gn.nt-gn-group")
        if groups.count() == 0:
            return
        # The box may lie outside the panned view: a click event, not the mouse.
        groups.first.dispatch_event("click")
    raise AssertionError("groups keep appearing")


EDGE_ENDS_JS = """(svg) => [...svg.querySelectorAll("g.nt-ge:not(.nt-ge-hub) polyline.nt-ge-line")].map((l) => {
  const p = [...l.points];
  return [p[0].y, p[p.length - 1].y];
})"""


@pytest.mark.parametrize("run", ["bce_saturation", "mae_div_zero", "relu_high_lr", "unscaled_features"])
def test_graph_edges_flow_downward_collapsed_and_fully_expanded(tab, run):
    tab.select_run(run)
    svg = tab.graph_ready()
    for expanded in (False, True):
        if expanded:
            expand_every_group(tab, svg)
        ends = svg.evaluate(EDGE_ENDS_JS)
        assert ends and all(end > start for start, end in ends), (run, expanded, ends)


def box_labels(svg, selector):
    return svg.evaluate("""(svg, selector) => [...svg.querySelectorAll(selector)].map((g) =>
        [...g.querySelectorAll("text")].map((t) => t.textContent).join(" | "))""", selector)


@pytest.mark.parametrize("run", ["bce_saturation", "mae_div_zero", "relu_high_lr", "unscaled_features"])
def test_boxes_side_by_side_never_read_the_same(tab, run):
    tab.select_run(run)
    svg = tab.graph_ready()
    # Collapsed, every box is a child of the root (groups: label and size; ops: type and name).
    labels = box_labels(svg, ".nt-gn")
    assert len(labels) == len(set(labels)), sorted(labels)
    # Inside the backward pass (the groups of one phase), the layers' groups.
    backward = svg.locator(".nt-gn.nt-gn-group").filter(has_text=re.compile(r"^▸ backward"))
    if backward.count():
        backward.dispatch_event("click")
        expect(svg.locator(".nt-gx-head").filter(has_text="backward")).to_have_count(1)
        inner = box_labels(svg, ".nt-gn.nt-gn-group")
        assert len(inner) == len(set(inner)), sorted(inner)


def test_bce_loss_groups_of_the_backward_pass_have_distinct_labels(tab):
    svg = tab.graph_ready()
    svg.locator(".nt-gn.nt-gn-group").filter(has_text=re.compile(r"^▸ backward")).dispatch_event("click")
    expect(svg.locator(".nt-gx-head").filter(has_text="backward")).to_have_count(1)
    heads = [t.text_content() for t in svg.locator(".nt-gn.nt-gn-group .nt-gn-t1").all()]
    # Both are layers "compile_loss/handwritten_bce/<op>", too long for a box.
    assert "▸ compile_loss/handwritte…/mul_1" in heads and "▸ compile_loss/handw…/div_no_nan" in heads, heads
    assert len(heads) == len(set(heads)), heads


def test_one_refresh_control_and_tensorboards_reload_button_refreshes_the_tab(tab):
    ui = tab.ui
    expect(ui.locator(".nt-headline")).to_be_visible(timeout=TIMEOUT_MS)
    expect(ui.get_by_role("button", name=re.compile("refresh|reload", re.I))).to_have_count(1)
    # A refresh says when it loaded, to the second.
    loaded = ui.locator(".nt-live .nt-muted")
    for control in (ui.get_by_role("button", name="Refresh"), tab.page.locator("app-header-reload button")):
        expect(loaded).to_have_text(re.compile(r"^Loaded \d\d:\d\d:\d\d\.$"))
        before = loaded.text_content()
        tab.page.wait_for_timeout(1100)
        control.click()
        expect(loaded).not_to_have_text(before)


def test_run_incident_and_scroll_target_are_kept_across_a_reload_of_tensorboard(tab):
    ui = tab.ui
    tab.select_run("relu_high_lr")
    expect(ui.locator(".nt-headline")).to_contain_text("step 4")
    timeline = ui.locator("section.nt-timeline")
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3, timeout=TIMEOUT_MS)
    timeline.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    saved = lambda: tab.frame.evaluate("""() => Object.entries(localStorage)
        .filter(([k]) => k.startsWith("nantrace:saved:")).map(([, v]) => JSON.parse(v))""")
    for _ in range(40):
        if saved() and saved()[0].get("scroll") == "nt-timeline":
            break
        tab.page.wait_for_timeout(100)
    (state,) = saved()
    assert state == {"run": "relu_high_lr", "incident": 0, "session": state["session"], "scroll": "nt-timeline"}

    # A reload of TensorBoard's page: a new iframe, without the old hash.
    tab.page.reload()
    ui.locator(".nt-app").wait_for(timeout=TIMEOUT_MS)
    tab.frame = tab.iframe.element_handle().content_frame()
    expect(ui.locator(".nt-run-title-name")).to_have_text("relu_high_lr", timeout=TIMEOUT_MS)
    expect(ui.get_by_role("button", name=re.compile("relu_high_lr"))).to_have_attribute("aria-current", "true")
    expect(ui.locator(".nt-headline")).to_contain_text("Inf first appeared at step 4")
    assert "incident=0" in tab.frame.evaluate("location.hash")
    # Scrolled back to the timeline, and kept there while the page loads.
    expect(timeline.locator(".nt-chart canvas")).to_have_count(3, timeout=TIMEOUT_MS)
    tab.graph_ready()
    tab.page.wait_for_timeout(500)
    top = timeline.evaluate("(e) => e.getBoundingClientRect().top")
    assert -5 <= top <= 60, top


# ---------------------------------------------------------------- the incident analysis (issue 13)


def test_origin_panel_says_what_the_replay_found(tab):
    panel = tab.origin_panel()
    analysis = panel.locator(".nt-analysis")
    expect(analysis.get_by_role("heading", name="What the replay found")).to_be_visible(timeout=TIMEOUT_MS)
    # Reproduced or not, in plain words first.
    expect(analysis.locator(".nt-repro strong")).to_have_text(re.compile(r"^(Reproduced|Not reproduced):$"))
    # The first warning (unscaled_inputs, step 0) came 12 steps before the Inf at step 12.
    expect(analysis.locator(".nt-first-warning")).to_have_text("The first early warning came 12 steps before the NaN/Inf.")
    expect(panel.locator(".nt-warning-lead").first).to_be_visible()
    # Culprit rows of the failing batch (batch 12 of epoch 0), with their features.
    expect(analysis.locator(".nt-culprit-summary")).to_contain_text("of the failing batch")
    rows = analysis.locator("tr.nt-culprit")
    expect(rows.first).to_be_visible()
    for row in rows.all():
        cells = row.locator("td").all_text_contents()
        assert cells[2:4] == ["0", "12"], cells
        assert cells[4].startswith("x: min "), cells
    # The index into x: known only under shuffle=False (the demo shuffles), and said why.
    expect(analysis.locator(".nt-index-note")).to_contain_text("shuffle")
    # Fixes replayed, each with what came out.
    fixes = analysis.locator(".nt-verified-fixes li code").all_text_contents()
    assert fixes and all(re.fullmatch(r".+ -> (finite|still NaN/Inf|error|skipped)", f) for f in fixes), fixes
    assert any(f.startswith("clipnorm=1.0 -> ") for f in fixes), fixes


def test_what_the_records_lack_is_not_shown(tab):
    # Written without the issue-13 fields; its warning (step 5) and incident
    # (step 7) still give the first warning's lead.
    tab.select_run(RECORDS_XSS_RUN)
    analysis = tab.origin_panel().locator(".nt-analysis")
    expect(analysis.locator(".nt-first-warning")).to_have_text("The first early warning came 2 steps before the NaN/Inf.")
    for absent in (".nt-repro", ".nt-culprits", ".nt-culprit-summary", ".nt-verified-fixes"):
        expect(analysis.locator(absent)).to_have_count(0)
    tab.select_run("healthy")
    expect(tab.ui.get_by_text("No NaN/Inf recorded in 128 steps.")).to_be_visible()
    expect(tab.ui.locator(".nt-analysis")).to_have_count(0)

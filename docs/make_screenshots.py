"""Screenshots of TensorBoard's NaN Trace tab for the README.

    python docs/make_screenshots.py                        # record the scenarios, then shoot
    python docs/make_screenshots.py --logdir demo/logs     # runs already recorded there

Each run is given as RUN[:VIEW,...] (default: bce_saturation:origin,analysis,graph,
relu_high_lr:origin,timeline and mae_div_zero:timeline, three demo scenarios).
For each view it writes one PNG into docs/ (--out), the whole TensorBoard
page at 1400x1000:

    origin    nantrace-<run>.png           the tab as it opens: the origin panel
    analysis  nantrace-<run>-analysis.png  scrolled to "What the replay found"
    timeline  nantrace-<run>-timeline.png  scrolled to the timeline
    graph     nantrace-<run>-graph.png     scrolled to the graph of the failing
                                           step after "Show origin" (the origin
                                           op, its statistics and source)

Without --logdir the runs are recorded for real into a temporary directory
(TensorFlow needed); with it, only TensorBoard and a browser are. The browser
is Debian's Chromium (`apt-get install -y chromium`), driven by Playwright;
TensorBoard is a real `tensorboard --logdir` process on 127.0.0.1.
"""

import argparse
import importlib
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from tensorboard_process import TensorBoardProcess  # noqa: E402

DEFAULT_RUNS = ["bce_saturation:origin,analysis,graph", "relu_high_lr:origin,timeline",
                "mae_div_zero:timeline"]
VIEWS = ("origin", "analysis", "timeline", "graph")
MAX_BYTES = 400 * 1024
TIMEOUT_MS = 60_000


def record(logdir, runs):
    """Runs the demo scenarios `runs` into logdir/<run> (from the repository
    root, so their source paths read demo/<file>.py)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    for run in runs:
        keras.backend.clear_session()
        importlib.import_module(f"demo.{run}").main(logdir=str(Path(logdir) / run))


def shrink(path):
    """Re-encodes a PNG over MAX_BYTES with a 256-colour palette (Pillow)."""
    if path.stat().st_size <= MAX_BYTES:
        return
    try:
        from PIL import Image
    except ImportError:
        print(f"warning: {path} is {path.stat().st_size} bytes (install Pillow to shrink it)")
        return
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(path, optimize=True)


def shoot(url, runs, out, chromium, width, height):
    from playwright.sync_api import expect, sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        context = browser.new_context(viewport={"width": width, "height": height},
                                      device_scale_factor=1, color_scheme="light")
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        for run, views in runs:
            page = context.new_page()
            page.goto(url + "/#nantrace")
            ui = page.frame_locator('iframe[src*="plugin_entry.html"]')
            nav = ui.get_by_role("navigation")
            nav.get_by_role("button").filter(has=ui.get_by_text(run, exact=True)).click()
            expect(ui.locator(".nt-run-title-name")).to_have_text(run)
            # An incident's headline, or a healthy run's message.
            expect(ui.locator(".nt-headline, .nt-healthy-text").first).to_be_visible()
            timeline = ui.locator("section.nt-timeline")
            # Loaded: charts (or why there are none), the graph laid out (or why not).
            timeline.locator(".nt-chart canvas, .nt-error").or_(
                timeline.get_by_text("No health timeline was recorded")).first.wait_for()
            graph = ui.locator("section.nt-graph")
            graph.locator("svg.nt-graph-ready, .nt-error").or_(
                graph.get_by_text(re.compile(r"^No incident in this run|^No graph was recorded|recorded without its graph"))).first.wait_for()
            page.wait_for_timeout(300)  # charts' resize redraws, fonts
            for view in views:
                if view == "origin":
                    timeline.evaluate("() => window.scrollTo(0, 0)")
                elif view == "analysis":
                    ui.locator(".nt-analysis").evaluate("(e) => e.scrollIntoView({block: 'start'})")
                elif view == "timeline":
                    timeline.evaluate("(e) => e.scrollIntoView({block: 'start'})")
                elif view == "graph":
                    show = graph.get_by_role("button", name="Show origin")
                    if show.count() > 0:
                        show.click()
                    graph.evaluate("(e) => e.scrollIntoView({block: 'end'})")
                page.mouse.move(0, 0)
                page.wait_for_timeout(300)
                path = out / (f"nantrace-{run}.png" if view == "origin" else f"nantrace-{run}-{view}.png")
                page.screenshot(path=str(path))
                written.append(path)
            page.evaluate("() => localStorage.clear()")  # the tab keeps its selection there
            page.close()
        context.close()
        browser.close()
    for path in written:
        shrink(path)
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
              f"{path.stat().st_size // 1024} KB")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", help="use the runs recorded there (default: record them now)")
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, metavar="RUN[:VIEW,...]",
                        help=f"runs to shoot and views of each, among {', '.join(VIEWS)} "
                             f"(default: {' '.join(DEFAULT_RUNS)}; views default to origin,graph)")
    parser.add_argument("--out", default=str(REPO / "docs"), help="output folder (default: docs/)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)

    runs = []
    for spec in args.runs:
        run, _, views = spec.partition(":")
        views = views.split(",") if views else ["origin", "graph"]
        unknown = set(views) - set(VIEWS)
        if unknown:
            parser.error(f"unknown view(s) {', '.join(sorted(unknown))} in {spec!r}")
        runs.append((run, views))
    names = [run for run, _ in runs]

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nantrace-screenshots-") as tmp:
        if args.logdir:
            logdir = Path(args.logdir).resolve()
        else:
            logdir = Path(tmp) / "logs"
            os.chdir(REPO)
            record(logdir, names)
        with TensorBoardProcess(logdir, log_path=str(Path(tmp) / "tensorboard.log")) as tb:
            tb.wait_for(lambda v: set(names) <= {r["run"] for r in v["runs"]},
                        "/data/plugin/nantrace/runs")
            shoot(tb.url, runs, out, args.chromium, args.width, args.height)


if __name__ == "__main__":
    main()

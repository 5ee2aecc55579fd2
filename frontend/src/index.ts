// Entry point of the NaN Trace tab. TensorBoard (2.21) loads this ES module
// into the plugin's iframe and calls render(); we draw into document.body.

import UPLOT_CSS from "uplot/dist/uPlot.min.css";
import { ApiError, errorText, fetchRun, fetchRuns } from "./api";
import { append, button, el, replaceChildren } from "./dom";
import { type HashState, readHash, writeHash } from "./hash";
import { RunView, type RunViewState, newRunViewState } from "./run_view";
import { RunList, pickDefaultRun } from "./runs";
import { followScroll, readSaved, restoreScroll, writeSaved } from "./saved";
import { CSS } from "./style";
import { followTheme } from "./theme";
import { incidentKey } from "./timeline";
import type { Incident, RunDetail, RunSummary } from "./types";
import { summaryFromDetail } from "./warnings";

/** Auto-refresh period while the selected run is still training. */
export const AUTO_REFRESH_MS = 30_000;

function injectStyle(): void {
  const style = document.createElement("style");
  style.textContent = UPLOT_CSS + "\n" + CSS;
  document.head.appendChild(style);
}

function errorBox(title: string, e: unknown, retry: () => void): HTMLElement {
  const message = e instanceof ApiError ? e.message : `Unexpected error: ${errorText(e)}`;
  return el("div", "nt-error", el("p", "nt-error-title", title), el("p", null, message), button(null, "Retry", retry));
}

/** A performance mark (benchmarks/ui_timing.py reads them); never throws. */
function mark(name: string): void {
  try {
    performance.mark(name);
  } catch {
    // No User Timing: nothing to record.
  }
}

/** The selection to open: the iframe's hash (kept by an iframe reload), else the one saved (kept by a TensorBoard reload). */
function wantedSelection(): HashState {
  const h = readHash();
  if (h.run !== null) return h;
  const saved = readSaved();
  return { run: saved.run, incident: saved.incident, session: saved.session };
}

/** Keeps the selection in the hash and in storage. */
function keepSelection(state: HashState): void {
  writeHash(state);
  writeSaved(state);
}

/**
 * TensorBoard's own reload button (same-origin parent) refreshes this tab
 * too, so the page has one refresh control of its own and TensorBoard's
 * does the same. Returns whether the parent could be followed.
 */
function followParentReload(refresh: () => void): boolean {
  let doc: Document;
  try {
    if (window.parent === window) return false;
    doc = window.parent.document;
  } catch {
    return false; // cross-origin parent
  }
  const onClick = (ev: Event) => {
    // The target belongs to the parent's realm: no instanceof Element here.
    const t = ev.target as { closest?: (selector: string) => unknown } | null;
    if (typeof t?.closest === "function" && t.closest("app-header-reload")) refresh();
  };
  doc.addEventListener("click", onClick, true);
  window.addEventListener("pagehide", () => doc.removeEventListener("click", onClick, true), { once: true });
  return true;
}

function clock(d: Date): string {
  const p = (x: number) => String(x).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

class App {
  private readonly runList: RunList;
  private readonly main: HTMLElement;
  private readonly liveText: HTMLElement;
  private readonly live: HTMLElement;
  private runs: RunSummary[] = [];
  private current: string | null = null;
  private view: RunView | null = null;
  private readonly states = new Map<string, RunViewState>();
  /** Incremented per load; answers for an older load are dropped. */
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private refreshing = false;
  private prefetch: { run: string; promise: Promise<RunDetail> } | null = null;
  /** The saved scroll target is restored once, on the first run shown. */
  private scrollPending = true;

  constructor(root: HTMLElement) {
    this.runList = new RunList((run) => void this.select(run, null));
    this.main = el("main", "nt-main");
    this.liveText = el("span", "nt-muted");
    const refresh = button("nt-btn-small", "Refresh", () => void this.refresh());
    const withTensorBoard = followParentReload(() => void this.refresh());
    refresh.title = withTensorBoard ? "Reload the runs and this run (TensorBoard's reload button does the same)" : "Reload the runs and this run";
    this.live = el("div", "nt-live", this.liveText, " ", refresh);
    append(
      root,
      el(
        "div",
        "nt-app",
        el(
          "div",
          "nt-topbar",
          el("span", "nt-topbar-title", "NaN Trace"),
          el("span", "nt-topbar-sub", "where the first NaN/Inf appeared"),
        ),
        el("div", "nt-layout", el("aside", "nt-sidebar", this.runList.element), this.main),
      ),
    );
    window.addEventListener("hashchange", () => this.onHashChange());
    followScroll();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.isRunning() && this.timer === null) this.schedule();
    });
  }

  private onHashChange(): void {
    const h = readHash();
    const key = h.incident !== null ? `${h.session ?? ""}:${h.incident}` : null;
    if (h.run !== null && h.run !== this.current && this.runs.some((r) => r.run === h.run)) {
      void this.select(h.run, key);
    } else if (this.view && h.run === this.current && key !== null) {
      const inc = this.view.find(key);
      if (inc) this.view.select(incidentKey(inc));
    }
  }

  async loadRuns(): Promise<void> {
    const gen = ++this.generation;
    replaceChildren(this.main, el("p", "nt-message nt-muted", "Loading runs…"));
    // The run of the hash or storage (a reload) is fetched alongside the list.
    const wanted = this.current ?? wantedSelection().run;
    if (wanted !== null && this.prefetch?.run !== wanted) {
      const promise = fetchRun(wanted);
      promise.catch(() => undefined); // select() reports errors
      this.prefetch = { run: wanted, promise };
    }
    let runs: RunSummary[];
    try {
      runs = (await fetchRuns()).runs;
    } catch (e) {
      if (gen !== this.generation) return;
      replaceChildren(this.main, errorBox("Could not load the runs", e, () => void this.loadRuns()));
      return;
    }
    if (gen !== this.generation) return;
    this.setRuns(runs);
    const hash = wantedSelection();
    const run = pickDefaultRun(runs, this.current ?? hash.run);
    if (run === null) {
      this.showNoRuns();
      return;
    }
    const key = run === hash.run && hash.incident !== null ? `${hash.session ?? ""}:${hash.incident}` : null;
    await this.select(run, key);
  }

  private setRuns(runs: RunSummary[]): void {
    // Keep what loaded details taught us (warnings) until the backend says it.
    this.runs = runs.map((r) => {
      const known = this.runs.find((o) => o.run === r.run);
      return known && r.warning_count === undefined ? { ...r, warning_count: known.warning_count, run_status: r.run_status ?? known.run_status } : r;
    });
    this.runList.setRuns(this.runs);
  }

  private showNoRuns(): void {
    this.current = null;
    this.view?.destroy();
    this.view = null;
    this.runList.setSelected(null);
    replaceChildren(
      this.main,
      el(
        "div",
        "nt-message",
        el("p", null, "No NaN Trace data in this log directory yet."),
        el("p", "nt-muted", "Record a training run with tb-nantrace, then press Refresh."),
        this.live,
      ),
    );
  }

  async select(run: string, key: string | null): Promise<void> {
    const gen = ++this.generation;
    this.cancelTimer();
    this.current = run;
    this.runList.setSelected(run);
    keepSelection({ run, incident: null, session: null });
    this.view?.destroy();
    this.view = null;
    replaceChildren(this.main, el("p", "nt-message nt-muted", "Loading run…"));
    let detail: RunDetail;
    const prefetched = this.prefetch?.run === run ? this.prefetch.promise : null;
    this.prefetch = null;
    try {
      detail = await (prefetched ?? fetchRun(run));
    } catch (e) {
      if (gen !== this.generation) return;
      replaceChildren(this.main, errorBox("Could not load this run", e, () => void this.select(run, key)));
      return;
    }
    if (gen !== this.generation) return;
    let state = this.states.get(run);
    if (!state) this.states.set(run, (state = newRunViewState()));
    this.view = new RunView(detail, key, state, this.live, (inc) => this.selectIncident(inc));
    replaceChildren(this.main, this.view.element);
    mark("nantrace-run-rendered");
    this.afterLoad(detail);
    if (this.scrollPending) {
      this.scrollPending = false;
      const target = readSaved().scroll;
      if (target) restoreScroll(target, this.main);
    }
  }

  private selectIncident(inc: Incident | null): void {
    if (!this.view) return;
    this.view.select(inc ? incidentKey(inc) : null);
    this.writeSelection();
  }

  private writeSelection(): void {
    const inc = this.view?.selectedIncident() ?? null;
    keepSelection({ run: this.current, incident: inc ? inc.index : null, session: inc ? (inc.session ?? null) : null });
  }

  private afterLoad(detail: RunDetail): void {
    const summary = this.runList.summaryOf(detail.run);
    if (summary) {
      const updated = summaryFromDetail(summary, detail);
      this.runs = this.runs.map((r) => (r.run === detail.run ? updated : r));
      this.runList.updateRun(updated);
    }
    this.writeSelection();
    this.updateLive(detail);
    this.schedule();
  }

  private isRunning(): boolean {
    return this.lastStatus === "running";
  }

  private lastStatus: string | null = null;

  private updateLive(detail: RunDetail | null, error?: string): void {
    if (detail) this.lastStatus = detail.info?.status ?? null;
    const running = this.isRunning();
    const when = `updated ${clock(new Date())}`;
    this.liveText.textContent = error
      ? `Refresh failed: ${error}`
      : running
        ? `Still training: refreshing every ${AUTO_REFRESH_MS / 1000} s (${when}).`
        : `Loaded ${clock(new Date())}.`;
    this.live.classList.toggle("nt-live-on", running && !error);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.cancelTimer();
    if (!this.isRunning()) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (document.visibilityState === "hidden") return; // resumes on visibilitychange
      void this.refresh();
    }, AUTO_REFRESH_MS);
  }

  /** Re-fetches the runs and the selected run, keeping the page's state. */
  async refresh(): Promise<void> {
    if (this.refreshing) return;
    if (!this.view || this.current === null) {
      await this.loadRuns();
      return;
    }
    this.refreshing = true;
    const gen = this.generation;
    const run = this.current;
    try {
      const [runs, detail] = await Promise.all([fetchRuns(), fetchRun(run)]);
      if (gen !== this.generation || !this.view || this.view.run !== run) return;
      this.setRuns(runs.runs);
      this.runList.setSelected(run);
      const y = window.scrollY;
      this.view.update(detail);
      window.scrollTo(window.scrollX, y);
      this.afterLoad(detail);
    } catch (e) {
      if (gen === this.generation) {
        this.updateLive(null, errorText(e));
        this.schedule();
      }
    } finally {
      this.refreshing = false;
    }
  }
}

export async function render(): Promise<void> {
  injectStyle();
  followTheme();
  const app = new App(document.body);
  await app.loadRuns();
}

// Entry point of the NaN Trace tab. TensorBoard (2.21) loads this ES module
// into the plugin's iframe and calls render(); we draw into document.body.

import { ApiError, errorText, fetchRun, fetchRuns } from "./api";
import { append, button, el, replaceChildren } from "./dom";
import { readRunFromHash, writeRunToHash } from "./hash";
import { renderRun } from "./run_view";
import { RunList, pickDefaultRun } from "./runs";
import { CSS } from "./style";
import type { RunSummary } from "./types";

function injectStyle(): void {
  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.appendChild(style);
}

function errorBox(title: string, e: unknown, retry: () => void): HTMLElement {
  const message = e instanceof ApiError ? e.message : `Unexpected error: ${errorText(e)}`;
  return el(
    "div",
    "nt-error",
    el("p", "nt-error-title", title),
    el("p", null, message),
    button(null, "Retry", retry),
  );
}

class App {
  private readonly runList: RunList;
  private readonly main: HTMLElement;
  private runs: RunSummary[] = [];
  private current: string | null = null;
  /** Incremented per load; answers for an older load are dropped. */
  private generation = 0;

  constructor(root: HTMLElement) {
    this.runList = new RunList((run) => void this.select(run));
    this.main = el("main", "nt-main");
    const reload = button(null, "Reload", () => void this.loadRuns());
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
          reload,
        ),
        el("div", "nt-layout", el("aside", "nt-sidebar", this.runList.element), this.main),
      ),
    );
    window.addEventListener("hashchange", () => {
      const run = readRunFromHash();
      if (run !== null && run !== this.current && this.runs.some((r) => r.run === run)) void this.select(run);
    });
  }

  async loadRuns(): Promise<void> {
    const gen = ++this.generation;
    replaceChildren(this.main, el("p", "nt-message nt-muted", "Loading runs…"));
    let runs: RunSummary[];
    try {
      runs = (await fetchRuns()).runs;
    } catch (e) {
      if (gen !== this.generation) return;
      replaceChildren(this.main, errorBox("Could not load the runs", e, () => void this.loadRuns()));
      return;
    }
    if (gen !== this.generation) return;
    this.runs = runs;
    this.runList.setRuns(runs);
    const run = pickDefaultRun(runs, this.current ?? readRunFromHash());
    if (run === null) {
      this.current = null;
      this.runList.setSelected(null);
      replaceChildren(
        this.main,
        el(
          "div",
          "nt-message",
          el("p", null, "No NaN Trace data in this log directory yet."),
          el("p", "nt-muted", "Record a training run with tb-nantrace, then press Reload."),
        ),
      );
      return;
    }
    await this.select(run);
  }

  async select(run: string): Promise<void> {
    const gen = ++this.generation;
    this.current = run;
    this.runList.setSelected(run);
    writeRunToHash(run);
    replaceChildren(this.main, el("p", "nt-message nt-muted", "Loading run…"));
    try {
      const detail = await fetchRun(run);
      if (gen !== this.generation) return;
      replaceChildren(this.main, renderRun(detail));
    } catch (e) {
      if (gen !== this.generation) return;
      replaceChildren(this.main, errorBox("Could not load this run", e, () => void this.select(run)));
    }
  }
}

export async function render(): Promise<void> {
  injectStyle();
  const app = new App(document.body);
  await app.loadRuns();
}

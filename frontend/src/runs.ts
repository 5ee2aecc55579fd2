// The run selector: a filterable list of runs with a status badge each.

import { append, button, clear, el } from "./dom";
import { fmtCount, plural, showControls } from "./format";
import type { RunSummary } from "./types";
import { runHealth } from "./warnings";

export function hasIncident(r: RunSummary): boolean {
  return r.status === "incident" || (r.incident_count ?? 0) > 0;
}

/** Incident or early warnings: worth a look. */
export function needsAttention(r: RunSummary): boolean {
  return runHealth(r) !== "healthy";
}

/** The run to show first: the one in the URL hash, else the first run with an incident, else the first run. */
export function pickDefaultRun(runs: RunSummary[], preferred: string | null): string | null {
  if (preferred !== null && runs.some((r) => r.run === preferred)) return preferred;
  const firstBad = runs.find(hasIncident);
  if (firstBad) return firstBad.run;
  return runs[0]?.run ?? null;
}

/** healthy / warning (early warnings, no incident) / incident badge. */
export function runBadge(r: { status: string; incident_count?: number; warning_count?: number }): HTMLElement {
  const health = runHealth({ status: r.status, incident_count: r.incident_count ?? 0, warning_count: r.warning_count });
  if (health === "healthy") return el("span", "nt-badge nt-badge-ok", "healthy");
  if (health === "warning") {
    const w = r.warning_count ?? 0;
    return el("span", "nt-badge nt-badge-warn", w > 1 ? `warning ×${fmtCount(w)}` : "warning");
  }
  const n = r.incident_count ?? 0;
  return el("span", "nt-badge nt-badge-bad", n > 1 ? `incident ×${fmtCount(n)}` : "incident");
}

/** "running" marker for a run still training (when the backend says so). */
export function runningBadge(status: string | null | undefined): HTMLElement | null {
  return status === "running" ? el("span", "nt-badge nt-badge-live", "running") : null;
}

export class RunList {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly filter: HTMLInputElement;
  private readonly onlyBad: HTMLInputElement;
  private runs: RunSummary[] = [];
  private selected: string | null = null;
  private buttons = new Map<string, HTMLButtonElement>();

  constructor(private readonly onSelect: (run: string) => void) {
    this.filter = el("input", "nt-filter");
    this.filter.type = "search";
    this.filter.placeholder = "Filter runs";
    this.filter.ariaLabel = "Filter runs";
    this.filter.addEventListener("input", () => this.renderList());

    this.onlyBad = el("input");
    this.onlyBad.type = "checkbox";
    this.onlyBad.addEventListener("change", () => this.renderList());

    this.summary = el("div", "nt-runs-summary nt-muted");
    this.list = el("div", "nt-run-list");
    this.list.addEventListener("keydown", (ev) => this.onKey(ev));

    this.element = el(
      "nav",
      "nt-runs",
      el("h2", "nt-section-title", "Runs"),
      this.filter,
      el("label", "nt-check", this.onlyBad, " only runs with incidents or warnings"),
      this.summary,
      this.list,
    );
  }

  setRuns(runs: RunSummary[]): void {
    this.runs = runs;
    this.renderList();
  }

  /** Updates one run's summary (e.g. with the warnings its detail holds). */
  updateRun(summary: RunSummary): void {
    const i = this.runs.findIndex((r) => r.run === summary.run);
    if (i < 0) return;
    const old = this.runs[i]!;
    if (
      old.status === summary.status &&
      old.incident_count === summary.incident_count &&
      old.warning_count === summary.warning_count &&
      old.run_status === summary.run_status
    )
      return;
    this.runs[i] = summary;
    this.renderList();
  }

  summaryOf(run: string): RunSummary | undefined {
    return this.runs.find((r) => r.run === run);
  }

  setSelected(run: string | null): void {
    this.selected = run;
    for (const [name, b] of this.buttons) {
      const on = name === run;
      b.classList.toggle("nt-run-selected", on);
      b.ariaCurrent = on ? "true" : null;
    }
  }

  private renderList(): void {
    const query = this.filter.value.trim().toLowerCase();
    const onlyBad = this.onlyBad.checked;
    const shown = this.runs.filter(
      (r) => (!query || r.run.toLowerCase().includes(query)) && (!onlyBad || needsAttention(r)),
    );
    const bad = this.runs.filter(hasIncident).length;
    const warned = this.runs.filter((r) => runHealth(r) === "warning").length;
    clear(this.summary);
    append(
      this.summary,
      `${plural(this.runs.length, "run")}, ${fmtCount(bad)} with incidents`,
      warned > 0 ? `, ${fmtCount(warned)} with warnings` : "",
      shown.length !== this.runs.length ? ` (${fmtCount(shown.length)} shown)` : "",
    );

    clear(this.list);
    this.buttons.clear();
    for (const r of shown) {
      const b = button(
        "nt-run",
        [el("span", "nt-run-name", showControls(r.run) || "."), runningBadge(r.run_status), runBadge(r)],
        () => this.onSelect(r.run),
      );
      this.buttons.set(r.run, b);
      this.list.appendChild(b);
    }
    if (shown.length === 0 && this.runs.length > 0) {
      this.list.appendChild(el("p", "nt-muted", "No run matches the filter."));
    }
    this.setSelected(this.selected);
  }

  /** Up/Down move between runs. */
  private onKey(ev: KeyboardEvent): void {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    const buttons = [...this.buttons.values()];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    const next = buttons[ev.key === "ArrowDown" ? Math.min(i + 1, buttons.length - 1) : Math.max(i - 1, 0)];
    if (next) {
      ev.preventDefault();
      next.focus();
      next.click();
    }
  }
}

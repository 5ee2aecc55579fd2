// The page for one run: header, the selected incident (the origin unless
// another one is picked) or the healthy message, later incidents, then the
// Timeline and Graph sections.

import { el, replaceChildren, section } from "./dom";
import { fmtCount, fmtTime, plural, showControls } from "./format";
import { type GraphViewState, renderGraphSection } from "./graph_view";
import { renderLaterIncidents, renderOriginIncident } from "./incident";
import { runBadge, runningBadge } from "./runs";
import { Timeline, type TimelineState, incidentKey, newTimelineState } from "./timeline";
import type { Incident, RunDetail } from "./types";
import { detailSignature } from "./warnings";

function stepsOf(run: RunDetail): number {
  if (typeof run.steps === "number") return run.steps;
  return run.info?.steps ?? 0;
}

function incidentsOf(run: RunDetail): Incident[] {
  return Array.isArray(run.incidents) ? run.incidents : [];
}

function renderRunHeader(run: RunDetail, live: HTMLElement): HTMLElement {
  const info = run.info;
  const incidents = incidentsOf(run);
  const meta: HTMLElement[] = [];
  const item = (label: string, value: string | null | undefined) => {
    if (value) meta.push(el("span", "nt-meta-item", el("span", "nt-muted", `${label} `), value));
  };
  item("steps", fmtCount(stepsOf(run)));
  item("status", info?.status);
  item("mode", info?.mode);
  item("TensorFlow", info?.tensorflow_version);
  item("Keras", info?.keras_version);
  item("nantrace", info?.nantrace_version);
  if (info?.start_time) item("started", fmtTime(info.start_time));
  if (info?.end_time) item("ended", fmtTime(info.end_time));
  const warnings = Array.isArray(run.warnings) ? run.warnings.length : 0;
  if (warnings > 0) item("early warnings", fmtCount(warnings));
  const notes = Array.isArray(info?.notes) ? info.notes : [];
  return el(
    "header",
    "nt-run-header",
    el(
      "h1",
      "nt-run-title",
      el("span", "nt-run-title-name", showControls(run.run) || "."),
      " ",
      runBadge({
        status: run.status,
        incident_count: Math.max(info?.incident_count ?? 0, incidents.length),
        warning_count: warnings,
      }),
      runningBadge(info?.status),
    ),
    el("div", "nt-meta", meta),
    live,
    notes.length > 0 ? el("ul", "nt-notes", notes.map((n) => el("li", null, n))) : null,
    unknownKindsNote(run),
    typeof run.skipped === "number" && run.skipped > 0
      ? el(
          "p",
          "nt-note",
          `${plural(run.skipped, "record")} of this run could not be read (corrupt, or written by an incompatible version) and ${run.skipped === 1 ? "was" : "were"} skipped.`,
        )
      : null,
  );
}

function unknownKindsNote(run: RunDetail): HTMLElement | null {
  const kinds = run.unknown_kinds;
  if (!kinds || typeof kinds !== "object") return null;
  const entries = Object.entries(kinds).filter(([, n]) => typeof n === "number" && n > 0);
  if (entries.length === 0) return null;
  return el(
    "p",
    "nt-note",
    "This run also holds records this viewer does not know (written by a newer nantrace?), ignored: ",
    entries.slice(0, 5).map(([k, n], i) => [i > 0 ? ", " : "", el("code", null, showControls(k)), ` (${fmtCount(n)})`]),
    entries.length > 5 ? ` and ${fmtCount(entries.length - 5)} more` : "",
    ".",
  );
}

function renderHealthy(run: RunDetail): HTMLElement {
  const steps = stepsOf(run);
  const running = run.info?.status === "running";
  const warnings = Array.isArray(run.warnings) ? run.warnings : [];
  return el(
    "section",
    warnings.length > 0 ? "nt-section nt-healthy nt-warned" : "nt-section nt-healthy",
    el("p", "nt-healthy-text", `No NaN/Inf recorded in ${plural(steps, "step")}${running ? " so far (still running)" : ""}.`),
    warnings.length > 0
      ? [
          el("h3", null, `Early warnings (${fmtCount(warnings.length)})`),
          el(
            "ul",
            "nt-warning-list",
            warnings
              .slice(-10)
              .reverse()
              .map((w) =>
                el(
                  "li",
                  "nt-warning-line",
                  el("span", "nt-warning-step", `step ${fmtCount(w.step)}`),
                  " ",
                  el("code", "nt-warn-code", w.code),
                  w.layer ? [" · layer ", el("code", null, showControls(w.layer))] : null,
                  ": ",
                  w.message,
                ),
              ),
          ),
        ]
      : null,
  );
}

/** State of a run's page that survives refreshes and incident changes. */
export interface RunViewState {
  timeline: TimelineState;
  graphs: Map<string, GraphViewState>;
}

export function newRunViewState(): RunViewState {
  return { timeline: newTimelineState(), graphs: new Map() };
}

export class RunView {
  readonly element: HTMLElement;
  private readonly originSlot: HTMLElement;
  private readonly laterSlot: HTMLElement;
  private readonly graphSlot: HTMLElement;
  private readonly headerSlot: HTMLElement;
  private timeline: Timeline;
  private selected: Incident | null;
  private signature: string;

  constructor(
    private detail: RunDetail,
    selectedKey: string | null,
    private readonly state: RunViewState,
    private readonly live: HTMLElement,
    private readonly onSelect: (inc: Incident | null) => void,
  ) {
    this.selected = this.find(selectedKey) ?? incidentsOf(detail)[0] ?? null;
    this.signature = detailSignature(detail);
    this.headerSlot = el("div", "nt-slot");
    this.originSlot = el("div", "nt-slot");
    this.laterSlot = el("div", "nt-slot");
    this.graphSlot = el("div", "nt-slot");
    this.timeline = new Timeline(detail.run, detail, this.selected, state.timeline, (inc) => this.onSelect(inc));
    this.element = el("div", "nt-runview", this.headerSlot, this.originSlot, this.laterSlot, this.timeline.element, this.graphSlot);
    this.renderStatic();
    this.renderSelected();
  }

  get run(): string {
    return this.detail.run;
  }

  selectedIncident(): Incident | null {
    return this.selected;
  }

  /** The incident of a key "session:index"; ":index" matches the index in any session. */
  find(key: string | null): Incident | null {
    if (key === null) return null;
    const incidents = incidentsOf(this.detail);
    const exact = incidents.find((i) => incidentKey(i) === key);
    if (exact || !key.startsWith(":")) return exact ?? null;
    return incidents.find((i) => `:${i.index}` === key) ?? null;
  }

  /** Shows another incident in the origin panel, timeline and graph. */
  select(key: string | null): void {
    const inc = this.find(key) ?? incidentsOf(this.detail)[0] ?? null;
    if (inc === this.selected) return;
    this.selected = inc;
    this.renderSelected();
    this.renderLater();
    this.timeline.setSelected(inc);
  }

  /** A refreshed detail: re-render only when something shown changed. Returns whether it did. */
  update(detail: RunDetail): boolean {
    const sig = detailSignature(detail);
    const key = this.selected ? incidentKey(this.selected) : null;
    this.detail = detail;
    if (sig === this.signature) {
      this.timeline.refresh(detail);
      return false;
    }
    this.signature = sig;
    this.selected = this.find(key) ?? incidentsOf(detail)[0] ?? null;
    this.renderStatic();
    this.renderSelected();
    this.timeline.refresh(detail);
    this.timeline.setSelected(this.selected);
    return true;
  }

  destroy(): void {
    this.timeline.destroy();
  }

  private renderStatic(): void {
    replaceChildren(this.headerSlot, renderRunHeader(this.detail, this.live));
    this.renderLater();
  }

  private renderLater(): void {
    const incidents = incidentsOf(this.detail);
    const first = incidents[0];
    const capped = this.detail.info?.incidents_capped ?? false;
    const warnings = Array.isArray(this.detail.warnings) ? this.detail.warnings : null;
    replaceChildren(
      this.laterSlot,
      incidents.length > 1
        ? renderLaterIncidents(incidents.slice(1), capped, warnings, (inc) => this.onSelect(inc), this.selected ? incidentKey(this.selected) : null)
        : null,
      first && incidents.length === 1 && capped
        ? section("nt-later-section", "Later incidents", el("p", "nt-note", "Recording stopped after the first incident (cap reached)."))
        : null,
    );
  }

  private renderSelected(): void {
    const incidents = incidentsOf(this.detail);
    const inc = this.selected;
    const warnings = Array.isArray(this.detail.warnings) ? this.detail.warnings : null;
    const first = inc !== null && inc === incidents[0];
    replaceChildren(
      this.originSlot,
      inc ? renderOriginIncident(inc, warnings, first, first ? null : () => this.onSelect(incidents[0] ?? null)) : renderHealthy(this.detail),
    );
    replaceChildren(this.graphSlot, renderGraphSection(inc, this.state.graphs, inc ? incidentKey(inc) : ""));
  }
}

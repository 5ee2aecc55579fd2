// The Timeline section: loss, gradient norm and per-layer health over the
// steps (uPlot charts, each metric on an axis of its own), incident and
// warning markers (click an incident to select it), zoom into the
// full-resolution window before the selected incident (or, without one, the
// last steps the recorder kept at the end of the run: every step of a short
// run), and the per-layer heat strip of that window.
//
// The charts themselves (uPlot options, markers on the canvas, hover text)
// are built by timeline_chart.ts; their legends here, with dom.ts.

import type uPlot from "uplot";
import { errorText, fetchTimeline, fetchWindow } from "./api";
import { append, button, clear, el } from "./dom";
import { fmtCount, kindLabel, plural, showControls } from "./format";
import { type HeatRow, metricKind } from "./heat";
import { type HeatInput, HeatStrip } from "./heatstrip";
import { THEME_EVENT } from "./theme";
import { CHART_H, type ChartSpec, type Marker, PALETTE, makeChart } from "./timeline_chart";
import {
  type Line,
  availableLayerMetrics,
  belowLogFloor,
  findLine,
  layerLines,
  metricLabel,
  prefersLog,
  timelineLines,
  windowLines,
  xRange,
} from "./timeline_data";
import type { Incident, RunDetail, TimelineResponse, WindowResponse } from "./types";

export interface TimelineState {
  /** null: chosen automatically (the window when it covers the whole run). */
  mode: "overview" | "window" | null;
  metric: string;
  /** null: the metric's default. */
  log: boolean | null;
  sortHeat: boolean;
}

export function newTimelineState(): TimelineState {
  return { mode: null, metric: "act_max_abs", log: null, sortHeat: false };
}

export function incidentKey(inc: { session?: string; index: number }): string {
  return `${inc.session ?? ""}:${inc.index}`;
}

/** The window the recorder writes when a recording ends (tb_nantrace/metadata.py END_WINDOW). */
export const END_WINDOW = -1;
const END_KEY = `:${END_WINDOW}`;

const MAX_POINTS = 500;
const LEGEND_FOLD = 24;

/** The lines of both charts and of the heat strip. */
interface ChartData {
  steps: number[];
  lines: Line[];
  layerSteps: number[];
  /** The selected metric, one line per layer. */
  layerLines: Line[];
  /** Every per-layer line loaded (the metric menu lists their metrics). */
  allLayerLines: Line[];
}

export class Timeline {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private overview: TimelineResponse | null = null;
  private overviewLayer = new Map<string, TimelineResponse | null>();
  private windows = new Map<string, WindowResponse | null>();
  private error: string | null = null;
  private loaded = false;
  private charts: uPlot[] = [];
  private heat: HeatStrip | null = null;
  private gen = 0;
  private observer: ResizeObserver | null = null;
  private readonly onTheme = () => this.render();
  private syncing = false;
  /** The x range the user zoomed to (drag), re-applied after a re-render. */
  private zoom: { min: number; max: number } | null = null;

  constructor(
    private readonly run: string,
    private detail: RunDetail,
    private selected: Incident | null,
    private readonly state: TimelineState,
    private readonly onSelectIncident: (inc: Incident) => void,
  ) {
    this.body = el("div", "nt-timeline-body", el("p", "nt-muted", "Loading the health timeline…"));
    this.element = el("section", "nt-section nt-timeline", el("h2", "nt-section-title", "Timeline"), this.body);
    window.addEventListener(THEME_EVENT, this.onTheme);
    if (typeof ResizeObserver !== "undefined") {
      let last = 0;
      this.observer = new ResizeObserver(() => {
        const w = this.body.clientWidth;
        if (w > 0 && Math.abs(w - last) > 2) {
          last = w;
          for (const c of this.charts) c.setSize({ width: this.chartWidth(), height: CHART_H });
        }
      });
      this.observer.observe(this.body);
    }
    void this.load();
  }

  destroy(): void {
    this.gen++;
    window.removeEventListener(THEME_EVENT, this.onTheme);
    this.observer?.disconnect();
    this.destroyCharts();
  }

  private destroyCharts(): void {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.heat?.destroy();
    this.heat = null;
  }

  /** A new incident was selected (origin panel, marker, hash). */
  setSelected(inc: Incident | null): void {
    if (inc !== this.selected && this.mode() === "window") this.zoom = null;
    this.selected = inc;
    void this.load(false);
  }

  /** New run detail (refresh): re-fetch the overview, keep the windows. */
  refresh(detail: RunDetail): void {
    this.detail = detail;
    this.overview = null;
    this.overviewLayer.clear();
    void this.load();
  }

  private async load(overviewToo = true): Promise<void> {
    const gen = ++this.gen;
    const jobs: Promise<unknown>[] = [];
    if (overviewToo || !this.overview) {
      jobs.push(
        fetchTimeline(this.run, { layers: [""], stats: ["max", "mean"], maxPoints: MAX_POINTS }).then((t) => {
          if (gen === this.gen) this.overview = t;
        }),
      );
    }
    jobs.push(this.loadLayerMetric(this.state.metric, gen));
    const inc = this.selected;
    const key = inc ? incidentKey(inc) : END_KEY;
    if (!this.windows.has(key)) {
      jobs.push(
        fetchWindow(this.run, inc ? inc.index : END_WINDOW, inc?.session).then((w) => {
          this.windows.set(key, w);
        }),
      );
    }
    try {
      await Promise.all(jobs);
      this.error = null;
    } catch (e) {
      this.error = errorText(e);
    }
    if (gen !== this.gen) return;
    this.loaded = true;
    this.render();
  }

  private async loadLayerMetric(metric: string, gen: number): Promise<void> {
    if (this.overviewLayer.has(metric)) return;
    const t = await fetchTimeline(this.run, { metrics: [metric], stats: ["max"], maxPoints: MAX_POINTS });
    if (gen === this.gen) this.overviewLayer.set(metric, t);
  }

  /** The selected incident's window, or without one the end-of-run window. */
  private currentWindow(): WindowResponse | null {
    return this.windows.get(this.selected ? incidentKey(this.selected) : END_KEY) ?? null;
  }

  /** The mode shown: the user's, else the window when it covers every overview point. */
  private mode(): "overview" | "window" {
    const w = this.currentWindow();
    if (!w || w.steps.length === 0) return "overview";
    if (this.state.mode) return this.state.mode;
    const o = this.overview;
    if (!o || o.points === 0) return "window";
    const firstOverview = o.first_steps[0] ?? o.steps[0] ?? 0;
    return (w.steps[0] ?? Infinity) <= firstOverview ? "window" : "overview";
  }

  private chartWidth(): number {
    return Math.max(300, (this.body.clientWidth || 800) - 4);
  }

  private markers(range: [number, number] | null): Marker[] {
    const inside = (s: number) => range === null || (s >= range[0] && s <= range[1]);
    const incidents = Array.isArray(this.detail.incidents) ? this.detail.incidents : [];
    const warnings = Array.isArray(this.detail.warnings) ? this.detail.warnings : [];
    return [
      ...warnings.filter((w) => inside(w.step)).map((w): Marker => ({ kind: "warning", step: w.step, warning: w })),
      ...incidents.filter((i) => inside(i.step)).map((i): Marker => ({ kind: "incident", step: i.step, incident: i })),
    ];
  }

  // ------------------------------------------------------------ rendering

  private render(): void {
    if (!this.loaded) return;
    const keepZoom = this.zoom;
    this.destroyCharts();
    clear(this.body);
    if (this.error) {
      this.renderError(this.error);
      return;
    }
    const mode = this.mode();
    const win = this.currentWindow();
    const data = this.chartData(mode, win);
    if (data.steps.length === 0 && !win) {
      this.renderNoTimeline();
      return;
    }
    const log = this.log();
    this.renderControls(mode, win, data, log);

    // The window ends at its incident; the overview stretches to every marker
    // (an incident recorded after the last timeline chunk still shows).
    const inc = this.selected;
    const allMarkers = this.markers(null);
    const range = xRange(data.steps, mode === "window" ? (inc ? [inc.step] : []) : allMarkers.map((m) => m.step));
    const markers = mode === "window" ? this.markers(range) : allMarkers;

    this.renderGlobalCharts(data, range, markers, log);
    this.renderLayerChart(data, range, markers, log);
    this.renderMarkerList(markers);
    if (keepZoom) {
      for (const c of this.charts) c.setScale("x", keepZoom);
      this.zoom = keepZoom;
    }
    this.renderHeat(win, data, log);
    try {
      performance.mark("nantrace-timeline-rendered");
    } catch {
      // No User Timing.
    }
  }

  private renderError(error: string): void {
    this.body.append(el("div", "nt-error", el("p", "nt-error-title", "Could not load the timeline"), el("p", null, error), button(null, "Retry", () => void this.load())));
  }

  private renderNoTimeline(): void {
    this.body.append(
      el(
        "p",
        "nt-muted",
        "No health timeline was recorded for this run (a recorder older than the timeline, or fewer steps than one timeline chunk).",
      ),
    );
    this.renderMarkerList(this.markers(null));
  }

  /** The lines shown: the window's (every step) or the overview's (sampled). */
  private chartData(mode: "overview" | "window", win: WindowResponse | null): ChartData {
    const metric = this.state.metric;
    if (mode === "window" && win) {
      const lines = windowLines(win);
      return { steps: win.steps, lines, layerSteps: win.steps, layerLines: layerLines(lines, metric), allLayerLines: lines };
    }
    const lt = this.overviewLayer.get(metric) ?? null;
    const perLayer = layerLines(timelineLines(lt), metric);
    return { steps: this.overview?.steps ?? [], lines: timelineLines(this.overview), layerSteps: lt?.steps ?? [], layerLines: perLayer, allLayerLines: perLayer };
  }

  private renderControls(mode: "overview" | "window", win: WindowResponse | null, data: ChartData, log: boolean): void {
    this.body.append(
      el(
        "div",
        "nt-timeline-controls",
        this.modeBar(mode, win),
        el("label", "nt-inline", "Per-layer metric ", this.metricSelect(availableLayerMetrics(data.lines.concat(data.allLayerLines)))),
        el("label", "nt-inline", this.logBox(log), " log scale"),
      ),
      el("p", "nt-muted nt-range", this.rangeText(mode, data.steps, win)),
    );
  }

  /** One log-scale choice for every chart (and the heat strip). */
  private log(): boolean {
    return this.state.log ?? prefersLog(this.state.metric);
  }

  /** "All steps" / "Before incident #i" (or "Last steps"): the second needs its window. */
  private modeBar(mode: "overview" | "window", win: WindowResponse | null): HTMLElement {
    const inc = this.selected;
    const before = button(
      mode === "window" ? "nt-seg-on" : null,
      inc ? `Before incident #${inc.index} (every step)` : "Last steps (every step)",
      () => this.setMode("window"),
    );
    if (!win) {
      before.disabled = true;
      before.title = inc ? "No full-resolution window was recorded for this incident." : "No end-of-run window was recorded (an older recorder, or a run still training).";
    }
    return el("div", "nt-seg", button(mode === "overview" ? "nt-seg-on" : null, "All steps", () => this.setMode("overview")), before);
  }

  /** The per-layer metric; option values are indices: no recorded string goes into an attribute. */
  private metricSelect(metrics: string[]): HTMLSelectElement {
    if (!metrics.includes(this.state.metric)) metrics.unshift(this.state.metric);
    const select = el("select", "nt-select");
    metrics.forEach((m, i) => {
      const o = el("option", null, metricLabel(m));
      o.value = String(i);
      o.selected = m === this.state.metric;
      select.appendChild(o);
    });
    select.ariaLabel = "Per-layer metric";
    select.addEventListener("change", () => {
      const m = metrics[Number(select.value)];
      if (m !== undefined) this.setMetric(m);
    });
    return select;
  }

  private logBox(log: boolean): HTMLInputElement {
    const box = el("input");
    box.type = "checkbox";
    box.checked = log;
    box.addEventListener("change", () => {
      this.state.log = box.checked;
      this.render();
    });
    return box;
  }

  /** Charts 1 and 2: the loss and the gradient norm, each on its own labelled axis (nothing when neither was recorded). */
  private renderGlobalCharts(data: ChartData, range: [number, number] | null, markers: Marker[], log: boolean): void {
    const lines = ["loss", "grad_norm"].map((m) => findLine(data.lines, m, null)).filter((l): l is Line => l !== null);
    if (lines.length === 0 || data.steps.length === 0) return;
    this.body.append(el("h3", null, "Loss and gradient norm"));
    lines.forEach((line, i) => {
      const holder = el("div", "nt-chart");
      const status = el("div", "nt-chart-status nt-muted", "\u00a0");
      const label = metricLabel(line.metric);
      const caption = el("p", "nt-chart-caption", el("span", `nt-swatch nt-c${i % PALETTE}`), `${label[0]!.toUpperCase()}${label.slice(1)}`, el("span", "nt-muted", ` · y: ${label}${log ? ", log scale" : ""} · x: step`));
      append(this.body, caption, holder, this.zeroNote([line], data.steps, log), status);
      // Each metric keeps its colour (the caption's swatch).
      this.charts.push(this.chart(holder, { which: "metric", axisLabel: label, colorOffset: i, steps: data.steps, lines: [line], range, markers, log, status }));
    });
  }

  /** Chart 2: the selected metric, one line per layer; hovering a legend chip highlights its line. */
  private renderLayerChart(data: ChartData, range: [number, number] | null, markers: Marker[], log: boolean): void {
    const m = this.state.metric;
    this.body.append(el("h3", null, `${metricLabel(m)} per layer`));
    if (data.layerLines.length === 0 || data.layerSteps.length === 0) {
      this.body.append(el("p", "nt-muted", `No per-layer ${metricLabel(m)} in this range.`));
      return;
    }
    const holder = el("div", "nt-chart");
    const status = el("div", "nt-chart-status nt-muted", "\u00a0");
    const legend = this.seriesLegend(data.layerLines.map((l) => showControls(l.layer)));
    const caption = el("p", "nt-chart-caption nt-muted", `y: ${metricLabel(m)} of each layer${log ? ", log scale" : ""} · x: step`);
    append(this.body, caption, legend, holder, this.zeroNote(data.layerLines, data.layerSteps, log), status);
    const chart = this.chart(holder, { which: "layers", axisLabel: metricLabel(m), steps: data.layerSteps, lines: data.layerLines, range, markers, log, status });
    this.charts.push(chart);
    legend.querySelectorAll(".nt-legend-series").forEach((chip, i) => {
      chip.addEventListener("mouseenter", () => chart.setSeries(i + 1, { focus: true }));
      chip.addEventListener("mouseleave", () => chart.setSeries(null, { focus: false }));
    });
  }

  /** A chart of this timeline: shared cursor, x zoom synced, incident markers selectable. */
  private chart(holder: HTMLElement, spec: Pick<ChartSpec, "which" | "axisLabel" | "colorOffset" | "steps" | "lines" | "range" | "markers" | "log" | "status">): uPlot {
    const selKey = this.selected ? incidentKey(this.selected) : null;
    return makeChart(holder, {
      ...spec,
      width: this.chartWidth(),
      syncKey: `nantrace-${this.run}`,
      isSelected: (inc) => incidentKey(inc) === selKey,
      onSelectIncident: (inc) => this.onSelectIncident(inc),
      onZoom: (u, min, max) => this.syncZoom(u, spec.range, min, max),
    });
  }

  /**
   * Under a log-scale chart: the recorded values it cannot place (exact
   * zeros: a dead layer, a refused update), marked ▼ on its floor.
   */
  private zeroNote(lines: Line[], steps: number[], log: boolean): HTMLElement | null {
    if (!log) return null;
    const found = lines
      .map((l) => ({ l, at: belowLogFloor(l.values.slice(0, steps.length)) }))
      .filter((f) => f.at.length > 0);
    if (found.length === 0) return null;
    const total = found.reduce((n, f) => n + f.at.length, 0);
    const where = found.slice(0, 4).map((f) => {
      const name = f.l.layer !== null ? `layer ${showControls(f.l.layer)}` : metricLabel(f.l.metric);
      const at = f.at.slice(0, 3).map((i) => fmtCount(steps[i] ?? 0));
      return `${name} at step${f.at.length > 1 ? "s" : ""} ${at.join(", ")}${f.at.length > 3 ? ", …" : ""}`;
    });
    return el(
      "p",
      "nt-zero-note nt-muted",
      `▼ on the bottom edge: ${plural(total, "value")} of 0 (or below), which a log axis cannot place: `,
      where.join("; "),
      found.length > 4 ? `; +${fmtCount(found.length - 4)} more` : "",
      ". Hover for the value.",
    );
  }

  /** Remembers a zoom (kept across refreshes; the full range clears it) and applies it to the other charts. */
  private syncZoom(u: uPlot, range: [number, number] | null, min: number, max: number): void {
    if (this.syncing) return;
    this.zoom = range && min <= range[0] && max >= range[1] ? null : { min, max };
    this.syncing = true;
    try {
      for (const c of this.charts) if (c !== u) c.setScale("x", { min, max });
    } finally {
      this.syncing = false;
    }
  }

  /** Heat strip: the window before the selected incident, else the overview. */
  private renderHeat(win: WindowResponse | null, data: ChartData, log: boolean): void {
    const m = this.state.metric;
    const source = win && win.steps.length > 0 ? win : null;
    const heatLines = source ? windowLines(source) : data.allLayerLines;
    const heatSteps = source ? source.steps : data.layerSteps;
    const rows: HeatRow[] = layerLines(heatLines, m).map((l) => ({ layer: l.layer ?? "", values: l.values }));
    const sortBox = el("input");
    sortBox.type = "checkbox";
    sortBox.checked = this.state.sortHeat;
    sortBox.addEventListener("change", () => {
      this.state.sortHeat = sortBox.checked;
      this.heat?.set({ ...this.heatInput(rows, heatSteps), sort: sortBox.checked });
    });
    this.body.append(el("h3", null, "Which layer degraded first"), this.heatHint(source !== null, heatSteps.length, log, sortBox));
    this.heat = new HeatStrip();
    this.body.append(this.heat.element);
    this.heat.set(this.heatInput(rows, heatSteps));
  }

  private heatHint(fromWindow: boolean, steps: number, log: boolean, sortBox: HTMLInputElement): HTMLElement {
    const m = this.state.metric;
    const inc = this.selected;
    return el(
      "p",
      "nt-muted nt-hint",
      `${metricLabel(m)} per layer, each row normalised to its own range${log && metricKind(m) === "magnitude" ? " (log)" : ""}; `,
      fromWindow && inc
        ? `every step of the ${plural(steps, "step")} recorded before incident #${inc.index}.`
        : inc
          ? "the sampled timeline (no full-resolution window was recorded for the selected incident)."
          : "the sampled timeline.",
      " ",
      el("label", "nt-inline", sortBox, " sort by first degradation"),
    );
  }

  private heatInput(rows: HeatRow[], steps: number[]): HeatInput {
    const m = this.state.metric;
    return { rows, steps, metric: m, kind: metricKind(m), log: this.log(), sort: this.state.sortHeat };
  }

  private rangeText(mode: "overview" | "window", steps: number[], win: WindowResponse | null): string {
    const first = steps[0];
    const last = steps[steps.length - 1];
    if (first === undefined || last === undefined) return "";
    if (mode === "window" && win) {
      const what =
        win.incident === END_WINDOW ? "every step the flight recorder kept at the end of the run" : `every step recorded before incident #${win.incident} (the flight recorder)`;
      return `Steps ${fmtCount(first)}–${fmtCount(last)}, ${plural(steps.length, "point")}: ${what}. Drag on a chart to zoom, double-click to reset.`;
    }
    const o = this.overview;
    const span = Math.max(1, ...(o?.steps ?? []).map((s, i) => s - (o?.first_steps[i] ?? s) + 1));
    const per = span > 1 ? ` (each point sums up to ${fmtCount(span)} steps${win ? `; "${win.incident === END_WINDOW ? "Last steps" : "Before incident"}" shows every step` : ""})` : "";
    return `Steps ${fmtCount(o?.first_steps[0] ?? first)}–${fmtCount(last)}, ${plural(steps.length, "point")}${per}: the mean loss and the largest value of everything else per point. Drag on a chart to zoom, double-click to reset.`;
  }

  /** Colour chips of the series; many layers fold into a <details>. */
  private seriesLegend(labels: string[]): HTMLElement {
    const chips = el(
      "div",
      "nt-series-legend",
      labels.map((label, i) => el("span", "nt-legend-item nt-legend-series", el("span", `nt-swatch nt-c${i % PALETTE}`), label)),
    );
    if (labels.length <= LEGEND_FOLD) return chips;
    return el("details", "nt-legend-fold", el("summary", "nt-muted", `${plural(labels.length, "layer")} (colours repeat; hover a name to highlight its line)`), chips);
  }

  private renderMarkerList(markers: Marker[]): void {
    const incidents = markers.filter((m) => m.kind === "incident");
    const warnings = markers.filter((m) => m.kind === "warning");
    if (incidents.length === 0 && warnings.length === 0) return;
    const sel = this.selected ? incidentKey(this.selected) : null;
    const chips: HTMLElement[] = [];
    for (const m of incidents.slice(0, 20)) {
      const inc = m.incident!;
      const on = incidentKey(inc) === sel;
      chips.push(
        button(
          on ? "nt-chip nt-chip-incident nt-chip-on" : "nt-chip nt-chip-incident",
          [`● #${inc.index} step ${fmtCount(inc.step)} `, el("span", "nt-muted", `${kindLabel(inc.kind)} in ${inc.op?.type || "?"}`)],
          () => this.onSelectIncident(inc),
        ),
      );
    }
    if (incidents.length > 20) chips.push(el("span", "nt-muted", `+${fmtCount(incidents.length - 20)} incidents`));
    const shownWarnings = warnings.slice(-12);
    for (const m of shownWarnings) {
      const w = m.warning!;
      chips.push(
        el(
          "span",
          "nt-chip nt-chip-warning",
          `▲ step ${fmtCount(w.step)} `,
          el("code", null, w.code),
          w.layer ? [" ", el("span", "nt-muted", showControls(w.layer))] : null,
          el("span", "nt-chip-tip", w.message),
        ),
      );
    }
    if (warnings.length > shownWarnings.length) chips.push(el("span", "nt-muted", `+${fmtCount(warnings.length - shownWarnings.length)} earlier warnings`));
    this.body.append(el("div", "nt-markers", el("span", "nt-muted", "Markers: "), chips));
  }

  private setMode(mode: "overview" | "window"): void {
    this.state.mode = mode;
    this.zoom = null;
    this.render();
  }

  private setMetric(metric: string): void {
    this.state.metric = metric;
    this.state.log = null;
    if (this.overviewLayer.has(metric) || this.mode() === "window") {
      this.render();
      if (!this.overviewLayer.has(metric)) void this.loadLayerMetric(metric, this.gen);
      return;
    }
    void this.load(false);
  }
}

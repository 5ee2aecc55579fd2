// The Timeline section: loss, gradient norm and per-layer health over the
// steps (uPlot charts), incident and warning markers (click an incident to
// select it), zoom into the full-resolution window before the selected
// incident, and the per-layer heat strip of that window.
//
// Series labels go to uPlot (which sets them with textContent), but its
// legend is off: ours is built with dom.ts. Markers are drawn on the canvas.

import uPlot from "uplot";
import { errorText, fetchTimeline, fetchWindow } from "./api";
import { button, clear, el, replaceChildren } from "./dom";
import { fmtCount, fmtNumber, kindLabel, phaseLabel, plural, showControls } from "./format";
import { type HeatRow, type Value, metricKind } from "./heat";
import { type HeatInput, HeatStrip } from "./heatstrip";
import { THEME_EVENT, cssVar } from "./theme";
import {
  type Line,
  argmaxAt,
  availableLayerMetrics,
  chartValues,
  findLine,
  fmtTick,
  layerLines,
  logTicks,
  metricLabel,
  nearestMarker,
  nonFiniteAt,
  nonFiniteRanges,
  prefersLog,
  timelineLines,
  windowLines,
  xRange,
} from "./timeline_data";
import type { Incident, JsonNumber, RunDetail, TimelineResponse, Warning, WindowResponse } from "./types";

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

const MAX_POINTS = 500;
const CHART_H = 190;
const PALETTE = 10;
const HIT_PX = 6;
const LEGEND_FOLD = 24;

interface Marker {
  kind: "incident" | "warning";
  step: number;
  incident?: Incident;
  warning?: Warning;
}

function jsonOf(v: Value): JsonNumber {
  if (v === null) return null;
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  return v;
}

function fmtV(v: Value | undefined): string {
  return fmtNumber(jsonOf(v ?? null));
}

function fmtStepTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${parseFloat((v / 1e6).toFixed(2))}M`;
  if (a >= 1e4) return `${parseFloat((v / 1e3).toFixed(1))}k`;
  return Number.isInteger(v) ? v.toLocaleString("en-US") : "";
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
    if (inc && !this.windows.has(incidentKey(inc))) {
      jobs.push(
        fetchWindow(this.run, inc.index, inc.session).then((w) => {
          this.windows.set(incidentKey(inc), w);
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

  private currentWindow(): WindowResponse | null {
    return this.selected ? (this.windows.get(incidentKey(this.selected)) ?? null) : null;
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
      this.body.append(el("div", "nt-error", el("p", "nt-error-title", "Could not load the timeline"), el("p", null, this.error), button(null, "Retry", () => void this.load())));
      return;
    }
    const mode = this.mode();
    const win = this.currentWindow();
    const overview = this.overview;
    let steps: number[];
    let lines: Line[];
    let layerSteps: number[];
    let layerLs: Line[];
    let allLayerLines: Line[];
    if (mode === "window" && win) {
      steps = win.steps;
      lines = windowLines(win);
      allLayerLines = lines;
      layerLs = layerLines(lines, this.state.metric);
      layerSteps = steps;
    } else {
      steps = overview?.steps ?? [];
      lines = timelineLines(overview);
      const lt = this.overviewLayer.get(this.state.metric) ?? null;
      layerSteps = lt?.steps ?? [];
      layerLs = layerLines(timelineLines(lt), this.state.metric);
      allLayerLines = layerLs;
    }
    if (steps.length === 0 && !win) {
      this.body.append(
        el(
          "p",
          "nt-muted",
          "No health timeline was recorded for this run (a recorder older than the timeline, or fewer steps than one timeline chunk).",
        ),
      );
      this.renderMarkerList(this.markers(null));
      return;
    }

    // Controls
    const inc = this.selected;
    const modeBar = el(
      "div",
      "nt-seg",
      button(mode === "overview" ? "nt-seg-on" : null, "All steps", () => this.setMode("overview")),
      button(
        mode === "window" ? "nt-seg-on" : null,
        inc ? `Before incident #${inc.index} (every step)` : "Before an incident (every step)",
        () => this.setMode("window"),
      ),
    );
    const modeButtons = modeBar.querySelectorAll("button");
    if (!win && modeButtons[1]) {
      modeButtons[1].disabled = true;
      modeButtons[1].title = inc ? "No full-resolution window was recorded for this incident." : "Select an incident first.";
    }
    const metrics = availableLayerMetrics(mode === "window" && win ? windowLines(win) : lines.concat(allLayerLines));
    if (!metrics.includes(this.state.metric)) metrics.unshift(this.state.metric);
    const select = el("select", "nt-select");
    // Option values are indices: no recorded string goes into an attribute.
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
    const log = this.state.log ?? prefersLog(this.state.metric);
    const logBox = el("input");
    logBox.type = "checkbox";
    logBox.checked = log;
    logBox.addEventListener("change", () => {
      this.state.log = logBox.checked;
      this.render();
    });
    this.body.append(
      el(
        "div",
        "nt-timeline-controls",
        modeBar,
        el("label", "nt-inline", "Per-layer metric ", select),
        el("label", "nt-inline", logBox, " log scale"),
      ),
      el("p", "nt-muted nt-range", this.rangeText(mode, steps, win)),
    );

    // The window ends at its incident; the overview stretches to every marker
    // (an incident recorded after the last timeline chunk still shows).
    const allMarkers = this.markers(null);
    const range = xRange(steps, mode === "window" ? (inc ? [inc.step] : []) : allMarkers.map((m) => m.step));
    const markers = mode === "window" ? this.markers(range) : allMarkers;

    // Chart 1: loss and gradient norm
    const loss = findLine(lines, "loss", null);
    const gn = findLine(lines, "grad_norm", null);
    const globalLines = [loss, gn].filter((l): l is Line => l !== null);
    if (globalLines.length > 0 && steps.length > 0) {
      const holder = el("div", "nt-chart");
      const status = el("div", "nt-chart-status nt-muted", "\u00a0");
      this.body.append(el("h3", null, "Loss and gradient norm"), this.seriesLegend(globalLines.map((l) => metricLabel(l.metric))), holder, status);
      this.charts.push(this.makeChart(holder, status, steps, globalLines, range, markers, "global"));
    }

    // Chart 2: per-layer metric
    const m = this.state.metric;
    this.body.append(el("h3", null, `${metricLabel(m)} per layer`));
    if (layerLs.length > 0 && layerSteps.length > 0) {
      const holder = el("div", "nt-chart");
      const status = el("div", "nt-chart-status nt-muted", "\u00a0");
      const legend = this.seriesLegend(layerLs.map((l) => showControls(l.layer)));
      this.body.append(legend, holder, status);
      const chart = this.makeChart(holder, status, layerSteps, layerLs, range, markers, "layers", log);
      this.charts.push(chart);
      legend.querySelectorAll(".nt-legend-series").forEach((chip, i) => {
        chip.addEventListener("mouseenter", () => chart.setSeries(i + 1, { focus: true }));
        chip.addEventListener("mouseleave", () => chart.setSeries(null, { focus: false }));
      });
    } else {
      this.body.append(el("p", "nt-muted", `No per-layer ${metricLabel(m)} in this range.`));
    }

    this.renderMarkerList(markers);
    if (keepZoom) {
      for (const c of this.charts) c.setScale("x", keepZoom);
      this.zoom = keepZoom;
    }

    // Heat strip: the window before the selected incident, else the overview.
    const heatSource = win && win.steps.length > 0 ? "window" : "overview";
    const heatLines = heatSource === "window" ? windowLines(win) : allLayerLines;
    const heatSteps = heatSource === "window" ? win!.steps : layerSteps;
    const rows: HeatRow[] = layerLines(heatLines, m).map((l) => ({ layer: l.layer ?? "", values: l.values }));
    const sortBox = el("input");
    sortBox.type = "checkbox";
    sortBox.checked = this.state.sortHeat;
    sortBox.addEventListener("change", () => {
      this.state.sortHeat = sortBox.checked;
      this.heat?.set({ ...this.heatInput(rows, heatSteps), sort: sortBox.checked });
    });
    this.body.append(
      el("h3", null, "Which layer degraded first"),
      el(
        "p",
        "nt-muted nt-hint",
        `${metricLabel(m)} per layer, each row normalised to its own range${log && metricKind(m) === "magnitude" ? " (log)" : ""}; `,
        heatSource === "window" && inc
          ? `every step of the ${plural(heatSteps.length, "step")} recorded before incident #${inc.index}.`
          : inc
            ? "the sampled timeline (no full-resolution window was recorded for the selected incident)."
            : "the sampled timeline.",
        " ",
        el("label", "nt-inline", sortBox, " sort by first degradation"),
      ),
    );
    this.heat = new HeatStrip();
    this.body.append(this.heat.element);
    this.heat.set(this.heatInput(rows, heatSteps));
    try {
      performance.mark("nantrace-timeline-rendered");
    } catch {
      // No User Timing.
    }
  }

  private heatInput(rows: HeatRow[], steps: number[]): HeatInput {
    const m = this.state.metric;
    return { rows, steps, metric: m, kind: metricKind(m), log: this.state.log ?? prefersLog(m), sort: this.state.sortHeat };
  }

  private rangeText(mode: "overview" | "window", steps: number[], win: WindowResponse | null): string {
    const first = steps[0];
    const last = steps[steps.length - 1];
    if (first === undefined || last === undefined) return "";
    if (mode === "window" && win) {
      return `Steps ${fmtCount(first)}–${fmtCount(last)}: every step recorded before incident #${win.incident} (the flight recorder). Drag on a chart to zoom, double-click to reset.`;
    }
    const o = this.overview;
    const chunks = o?.chunks ?? steps.length;
    const per = chunks > steps.length ? ` (each point sums up ${fmtCount(Math.ceil(chunks / steps.length))} recorded chunks)` : "";
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

  // ------------------------------------------------------------ uPlot

  private makeChart(
    holder: HTMLElement,
    status: HTMLElement,
    steps: number[],
    lines: Line[],
    range: [number, number] | null,
    markers: Marker[],
    which: "global" | "layers",
    log = false,
  ): uPlot {
    const fg = cssVar("--nt-muted", "#6b6b6b");
    const grid = cssVar("--nt-grid", "rgba(0,0,0,0.07)");
    const colors = Array.from({ length: PALETTE }, (_, i) => cssVar(`--nt-c${i}`, "#1a73e8"));
    const bad = cssVar("--nt-bad", "#c62828");
    const warn = cssVar("--nt-accent", "#f57c00");
    const n = steps.length;
    const global = which === "global";
    const lossLog = false;
    const gnLog = this.state.log ?? true;
    const data: uPlot.AlignedData = [
      steps,
      ...lines.map((l, i) => {
        const isLog = global ? (i === 0 && l.metric === "loss" ? lossLog : gnLog) : log;
        return chartValues(l.values.slice(0, n), isLog);
      }),
    ];
    const scaleOf = (l: Line, i: number) => (global ? (l.metric === "loss" && i === 0 ? "loss" : "gn") : "y");
    // Auto-ranging (first draw, double-click) widens to `range` (markers past
    // the data); a zoom (a narrower min/max) passes through.
    const d0 = steps[0] ?? 0;
    const d1 = steps[n - 1] ?? 0;
    const xr = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax =>
      range && min <= d0 && max >= d1 ? [Math.min(min, range[0]), Math.max(max, range[1])] : [min, max];
    const scales: uPlot.Scales = { x: { time: false, range: xr } };
    if (global) {
      scales.loss = { distr: lossLog ? 3 : 1 };
      scales.gn = { distr: gnLog ? 3 : 1 };
    } else {
      scales.y = { distr: log ? 3 : 1 };
    }
    const axisBase = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px Roboto, system-ui, sans-serif" };
    const axes: uPlot.Axis[] = [{ ...axisBase, values: (_u, ticks) => ticks.map(fmtStepTick) }];
    const yAxis = (scale: string, isLog: boolean, extra: Partial<uPlot.Axis> = {}, showGrid = true): uPlot.Axis => {
      // On a log scale, labels, ticks and grid lines at powers of ten only.
      const filter = isLog ? { filter: (_u: uPlot, splits: number[]) => logTicks(splits) } : {};
      return {
        ...axisBase,
        scale,
        size: 56,
        values: (_u, ticks) => ticks.map((t) => (t === null ? "" : fmtTick(t))),
        ...filter,
        grid: { ...axisBase.grid, show: showGrid, ...filter },
        ticks: { ...axisBase.ticks, ...filter },
        ...extra,
      };
    };
    if (global) {
      const hasLoss = lines.some((l) => l.metric === "loss");
      if (hasLoss) axes.push(yAxis("loss", lossLog));
      if (lines.some((l) => l.metric === "grad_norm")) axes.push(yAxis("gn", gnLog, { side: hasLoss ? 1 : 3 }, !hasLoss));
    } else {
      axes.push(yAxis("y", log));
    }
    const ranges = nonFiniteRanges(lines.map((l) => l.values), n);
    const selKey = this.selected ? incidentKey(this.selected) : null;
    let down: { x: number; y: number } | null = null;
    let focused = -1;

    const opts: uPlot.Options = {
      width: this.chartWidth(),
      height: CHART_H,
      legend: { show: false },
      scales,
      axes,
      series: [
        { label: "step" },
        ...lines.map((l, i) => ({
          label: global ? metricLabel(l.metric) : showControls(l.layer),
          scale: scaleOf(l, i),
          stroke: colors[i % PALETTE]!,
          width: 1.5,
          spanGaps: false,
          points: { show: n <= 64 },
        })),
      ],
      focus: { alpha: 0.25 },
      cursor: {
        sync: { key: `nantrace-${this.run}` },
        drag: { x: true, y: false, setScale: true },
        focus: { prox: 24 },
      },
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { top, height } = u.bbox;
            const dpr = uPlot.pxRatio;
            ctx.save();
            // Non-finite stretches: a band along the top.
            ctx.fillStyle = bad;
            for (const [a, b] of ranges) {
              const x0 = u.valToPos(steps[a]!, "x", true);
              const x1 = u.valToPos(steps[b]!, "x", true);
              ctx.fillRect(Math.min(x0, x1) - 2 * dpr, top, Math.max(4 * dpr, Math.abs(x1 - x0) + 4 * dpr), 5 * dpr);
            }
            for (const m of markers) {
              const x = u.valToPos(m.step, "x", true);
              if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) continue;
              const incident = m.kind === "incident";
              const on = incident && incidentKey(m.incident!) === selKey;
              ctx.strokeStyle = incident ? bad : warn;
              ctx.fillStyle = incident ? bad : warn;
              ctx.lineWidth = (on ? 2.5 : 1.2) * dpr;
              ctx.setLineDash(incident ? [] : [4 * dpr, 3 * dpr]);
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + height);
              ctx.stroke();
              ctx.setLineDash([]);
              ctx.beginPath();
              const s = (on ? 6 : 4.5) * dpr;
              if (incident) {
                ctx.arc(x, top + s + 6 * dpr, s, 0, Math.PI * 2);
              } else {
                ctx.moveTo(x, top + 6 * dpr);
                ctx.lineTo(x - s, top + 6 * dpr + 1.6 * s);
                ctx.lineTo(x + s, top + 6 * dpr + 1.6 * s);
                ctx.closePath();
              }
              ctx.fill();
            }
            ctx.restore();
          },
        ],
        setCursor: [(u) => this.hover(u, status, steps, lines, markers, global, focused)],
        setSeries: [
          (_u, idx, o) => {
            const f = (o as { focus?: boolean } | undefined)?.focus;
            if (f !== undefined) focused = f && idx !== null ? idx - 1 : -1;
          },
        ],
        setScale: [
          (u, key) => {
            if (key !== "x" || this.syncing) return;
            const { min, max } = u.scales.x ?? {};
            if (min === undefined || max === undefined) return;
            // Remember a zoom (kept across refreshes); the full range clears it.
            this.zoom = range && min <= range[0] && max >= range[1] ? null : { min, max };
            this.syncing = true;
            try {
              for (const c of this.charts) if (c !== u) c.setScale("x", { min, max });
            } finally {
              this.syncing = false;
            }
          },
        ],
        ready: [
          (u) => {
            u.over.addEventListener("mousedown", (ev) => (down = { x: ev.clientX, y: ev.clientY }));
            u.over.addEventListener("click", (ev) => {
              if (down && Math.hypot(ev.clientX - down.x, ev.clientY - down.y) > 3) return;
              const r = u.over.getBoundingClientRect();
              const hit = nearestMarker(markers.filter((m) => m.kind === "incident"), (m) => u.valToPos(m.step, "x"), ev.clientX - r.left, HIT_PX);
              if (hit?.incident) this.onSelectIncident(hit.incident);
            });
          },
        ],
      },
    };
    return new uPlot(opts, data, holder);
  }

  private hover(u: uPlot, status: HTMLElement, steps: number[], lines: Line[], markers: Marker[], global: boolean, focused: number): void {
    const idx = u.cursor.idx;
    const left = u.cursor.left ?? -1;
    if (idx === null || idx === undefined || left < 0) {
      status.textContent = "\u00a0";
      u.over.classList.remove("nt-over-marker");
      return;
    }
    const hit = nearestMarker(markers, (m) => u.valToPos(m.step, "x"), left, HIT_PX);
    u.over.classList.toggle("nt-over-marker", hit?.kind === "incident");
    const parts: (string | HTMLElement)[] = [];
    if (hit?.kind === "incident") {
      const i = hit.incident!;
      parts.push(
        el("strong", "nt-bad-text", `Incident #${i.index}`),
        ` at step ${fmtCount(i.step)}: ${kindLabel(i.kind)} in ${i.op?.type || "?"}${i.layer ? ` (layer ${showControls(i.layer)})` : ""}, ${phaseLabel(i.phase)}. Click to select.`,
      );
    } else if (hit?.kind === "warning") {
      const w = hit.warning!;
      parts.push(el("strong", "nt-warn-text", `▲ ${w.code}`), ` at step ${fmtCount(w.step)}: ${w.message}`);
    } else {
      const step = steps[idx];
      parts.push(`step ${step !== undefined ? fmtCount(step) : "?"}: `);
      if (global) {
        parts.push(lines.map((l) => `${metricLabel(l.metric)} ${fmtV(l.values[idx])}`).join(" · "));
      } else {
        const top = argmaxAt(lines, idx);
        const bad = nonFiniteAt(lines, idx);
        if (focused >= 0) parts.push(`${showControls(lines[focused]!.layer)} ${fmtV(lines[focused]!.values[idx])}`);
        else if (top >= 0) parts.push(`largest: ${showControls(lines[top]!.layer)} ${fmtV(lines[top]!.values[idx])}`);
        if (bad.length > 0)
          parts.push(" · ", el("span", "nt-bad-text", `non-finite in ${bad.slice(0, 4).map((k) => showControls(lines[k]!.layer)).join(", ")}${bad.length > 4 ? ` +${bad.length - 4}` : ""}`));
      }
    }
    replaceChildren(status, parts);
  }
}

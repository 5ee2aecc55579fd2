// One uPlot chart of the Timeline: the loss and gradient norm ("global") or
// one line per layer ("layers"), with non-finite stretches and incident /
// warning markers drawn on the canvas, a status line that describes what is
// under the cursor, and a click on an incident marker that selects it.
//
// Series labels go to uPlot (which sets them with textContent), but its
// legend is off: the Timeline builds its own with dom.ts.

import uPlot from "uplot";
import { el, replaceChildren } from "./dom";
import { fmtCount, fmtNumber, kindLabel, phaseLabel, showControls } from "./format";
import type { Value } from "./heat";
import { cssVar } from "./theme";
import { type Line, argmaxAt, chartValues, fmtTick, logTicks, metricLabel, nearestMarker, nonFiniteAt, nonFiniteRanges } from "./timeline_data";
import type { Incident, JsonNumber, Warning } from "./types";

export const CHART_H = 190;
/** Series colours: CSS variables --nt-c0 … --nt-c9, repeating. */
export const PALETTE = 10;
const HIT_PX = 6;

export interface Marker {
  kind: "incident" | "warning";
  step: number;
  incident?: Incident;
  warning?: Warning;
}

export interface ChartSpec {
  which: "global" | "layers";
  steps: number[];
  lines: Line[];
  /** Where auto-ranging widens the x axis to (markers past the data). */
  range: [number, number] | null;
  markers: Marker[];
  /** Log scale of the gradient norm (global chart) or of the y axis (layers). */
  log: boolean;
  width: number;
  /** Charts with the same key share the cursor. */
  syncKey: string;
  /** The incident drawn as selected (a bigger marker). */
  isSelected: (inc: Incident) => boolean;
  /** Text line under the chart, describing what the cursor is on. */
  status: HTMLElement;
  onSelectIncident: (inc: Incident) => void;
  /** The x scale changed: a zoom, a reset, or another chart's sync. */
  onZoom: (u: uPlot, min: number, max: number) => void;
}

interface Colors {
  fg: string;
  grid: string;
  series: string[];
  bad: string;
  warn: string;
}

/** The loss keeps a linear scale on the global chart. */
const LOSS_LOG = false;

export function makeChart(holder: HTMLElement, spec: ChartSpec): uPlot {
  const colors: Colors = {
    fg: cssVar("--nt-muted", "#6b6b6b"),
    grid: cssVar("--nt-grid", "rgba(0,0,0,0.07)"),
    series: Array.from({ length: PALETTE }, (_, i) => cssVar(`--nt-c${i}`, "#1a73e8")),
    bad: cssVar("--nt-bad", "#c62828"),
    warn: cssVar("--nt-accent", "#f57c00"),
  };
  const { steps, lines } = spec;
  const n = steps.length;
  const global = spec.which === "global";
  const ranges = nonFiniteRanges(lines.map((l) => l.values), n);
  let down: { x: number; y: number } | null = null;
  let focused = -1;

  const opts: uPlot.Options = {
    width: spec.width,
    height: CHART_H,
    legend: { show: false },
    scales: chartScales(spec),
    axes: chartAxes(spec, colors),
    series: [
      { label: "step" },
      ...lines.map((l, i) => ({
        label: global ? metricLabel(l.metric) : showControls(l.layer),
        scale: global ? (l.metric === "loss" && i === 0 ? "loss" : "gn") : "y",
        stroke: colors.series[i % PALETTE]!,
        width: 1.5,
        spanGaps: false,
        points: { show: n <= 64 },
      })),
    ],
    focus: { alpha: 0.25 },
    cursor: {
      sync: { key: spec.syncKey },
      drag: { x: true, y: false, setScale: true },
      focus: { prox: 24 },
    },
    hooks: {
      draw: [(u) => drawMarks(u, spec, ranges, colors)],
      setCursor: [(u) => showHover(u, spec, focused)],
      setSeries: [
        (_u, idx, o) => {
          const f = (o as { focus?: boolean } | undefined)?.focus;
          if (f !== undefined) focused = f && idx !== null ? idx - 1 : -1;
        },
      ],
      setScale: [
        (u, key) => {
          if (key !== "x") return;
          const { min, max } = u.scales.x ?? {};
          if (min === undefined || max === undefined) return;
          spec.onZoom(u, min, max);
        },
      ],
      ready: [
        (u) => {
          u.over.addEventListener("mousedown", (ev) => (down = { x: ev.clientX, y: ev.clientY }));
          u.over.addEventListener("click", (ev) => {
            if (down && Math.hypot(ev.clientX - down.x, ev.clientY - down.y) > 3) return;
            const r = u.over.getBoundingClientRect();
            const hit = nearestMarker(spec.markers.filter((m) => m.kind === "incident"), (m) => u.valToPos(m.step, "x"), ev.clientX - r.left, HIT_PX);
            if (hit?.incident) spec.onSelectIncident(hit.incident);
          });
        },
      ],
    },
  };
  return new uPlot(opts, chartData(spec), holder);
}

function chartData({ steps, lines, which, log }: ChartSpec): uPlot.AlignedData {
  const n = steps.length;
  return [
    steps,
    ...lines.map((l, i) => {
      const isLog = which === "global" ? (i === 0 && l.metric === "loss" ? LOSS_LOG : log) : log;
      return chartValues(l.values.slice(0, n), isLog);
    }),
  ];
}

function chartScales({ steps, range, which, log }: ChartSpec): uPlot.Scales {
  // Auto-ranging (first draw, double-click) widens to `range` (markers past
  // the data); a zoom (a narrower min/max) passes through.
  const d0 = steps[0] ?? 0;
  const d1 = steps[steps.length - 1] ?? 0;
  const xr = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax =>
    range && min <= d0 && max >= d1 ? [Math.min(min, range[0]), Math.max(max, range[1])] : [min, max];
  const scales: uPlot.Scales = { x: { time: false, range: xr } };
  if (which === "global") {
    scales.loss = { distr: LOSS_LOG ? 3 : 1 };
    scales.gn = { distr: log ? 3 : 1 };
  } else {
    scales.y = { distr: log ? 3 : 1 };
  }
  return scales;
}

function chartAxes({ lines, which, log }: ChartSpec, colors: Colors): uPlot.Axis[] {
  const axisBase = { stroke: colors.fg, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1 }, font: "11px Roboto, system-ui, sans-serif" };
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
  if (which === "global") {
    const hasLoss = lines.some((l) => l.metric === "loss");
    if (hasLoss) axes.push(yAxis("loss", LOSS_LOG));
    if (lines.some((l) => l.metric === "grad_norm")) axes.push(yAxis("gn", log, { side: hasLoss ? 1 : 3 }, !hasLoss));
  } else {
    axes.push(yAxis("y", log));
  }
  return axes;
}

/** Non-finite stretches as a band along the top, then the markers. */
function drawMarks(u: uPlot, spec: ChartSpec, ranges: [number, number][], colors: Colors): void {
  const { steps, markers } = spec;
  const ctx = u.ctx;
  const { top, height } = u.bbox;
  const dpr = uPlot.pxRatio;
  ctx.save();
  ctx.fillStyle = colors.bad;
  for (const [a, b] of ranges) {
    const x0 = u.valToPos(steps[a]!, "x", true);
    const x1 = u.valToPos(steps[b]!, "x", true);
    ctx.fillRect(Math.min(x0, x1) - 2 * dpr, top, Math.max(4 * dpr, Math.abs(x1 - x0) + 4 * dpr), 5 * dpr);
  }
  for (const m of markers) {
    const x = u.valToPos(m.step, "x", true);
    if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) continue;
    const incident = m.kind === "incident";
    const on = incident && spec.isSelected(m.incident!);
    ctx.strokeStyle = incident ? colors.bad : colors.warn;
    ctx.fillStyle = incident ? colors.bad : colors.warn;
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
}

/** The status line: the marker under the cursor, else the values at its step. */
function showHover(u: uPlot, { status, steps, lines, markers, which }: ChartSpec, focused: number): void {
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
    if (which === "global") {
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

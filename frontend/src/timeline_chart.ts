// One uPlot chart of the Timeline: one whole-model metric ("metric": the
// loss, the gradient norm) or one line per layer ("layers"), each on a y
// axis of its own with its label, with non-finite stretches, values a log
// axis cannot show (marked at its floor) and incident / warning markers
// drawn on the canvas, a status line that describes what is under the
// cursor, and a click on an incident marker that selects it.
//
// Series labels go to uPlot (which sets them with textContent), but its
// legend is off: the Timeline builds its own with dom.ts.

import uPlot from "uplot";
import { el, replaceChildren } from "./dom";
import { fmtCount, fmtNumber, kindLabel, phaseLabel, showControls } from "./format";
import type { Value } from "./heat";
import { cssVar } from "./theme";
import {
  type Line,
  argmaxAt,
  belowLogFloor,
  chartValues,
  floorText,
  fmtTick,
  logTicks,
  metricLabel,
  nearestMarker,
  nonFiniteAt,
  nonFiniteRanges,
} from "./timeline_data";
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
  /** "metric": one whole-model series (loss, gradient norm); "layers": one line per layer. */
  which: "metric" | "layers";
  /** The y axis label (the metric). */
  axisLabel: string;
  /** Colour of the first line: --nt-c<colorOffset> (a metric keeps its colour across charts). */
  colorOffset?: number;
  steps: number[];
  lines: Line[];
  /** Where auto-ranging widens the x axis to (markers past the data). */
  range: [number, number] | null;
  markers: Marker[];
  /** Log scale of the y axis; values <= 0 are then marked at its floor. */
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
  const ranges = nonFiniteRanges(lines.map((l) => l.values), n);
  const floor = spec.log ? lines.map((l) => belowLogFloor(l.values.slice(0, n))) : [];
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
        label: spec.which === "metric" ? metricLabel(l.metric) : showControls(l.layer),
        scale: "y",
        stroke: colors.series[(i + (spec.colorOffset ?? 0)) % PALETTE]!,
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
      draw: [(u) => drawMarks(u, spec, ranges, floor, colors)],
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

function chartData({ steps, lines, log }: ChartSpec): uPlot.AlignedData {
  const n = steps.length;
  return [steps, ...lines.map((l) => chartValues(l.values.slice(0, n), log))];
}

function chartScales({ steps, range, log }: ChartSpec): uPlot.Scales {
  // Auto-ranging (first draw, double-click) widens to `range` (markers past
  // the data); a zoom (a narrower min/max) passes through.
  const d0 = steps[0] ?? 0;
  const d1 = steps[steps.length - 1] ?? 0;
  const xr = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax =>
    range && min <= d0 && max >= d1 ? [Math.min(min, range[0]), Math.max(max, range[1])] : [min, max];
  return { x: { time: false, range: xr }, y: { distr: log ? 3 : 1 } };
}

function chartAxes({ log, axisLabel }: ChartSpec, colors: Colors): uPlot.Axis[] {
  const font = "11px Roboto, system-ui, sans-serif";
  const axisBase = { stroke: colors.fg, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1 }, font };
  // On a log scale, labels, ticks and grid lines at powers of ten only.
  const filter = log ? { filter: (_u: uPlot, splits: number[]) => logTicks(splits) } : {};
  return [
    { ...axisBase, values: (_u, ticks) => ticks.map(fmtStepTick) },
    {
      ...axisBase,
      scale: "y",
      size: 56,
      label: log ? `${axisLabel} (log)` : axisLabel,
      labelFont: font,
      labelSize: 18,
      values: (_u, ticks) => ticks.map((t) => (t === null ? "" : fmtTick(t))),
      ...filter,
      grid: { ...axisBase.grid, ...filter },
      ticks: { ...axisBase.ticks, ...filter },
    },
  ];
}

/**
 * Non-finite stretches as a band along the top, the markers, then the values
 * a log axis cannot show as ▼ on its floor (in their line's colour).
 */
function drawMarks(u: uPlot, spec: ChartSpec, ranges: [number, number][], floor: number[][], colors: Colors): void {
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
  // Last, so that an incident's line does not hide them.
  const bottom = top + height;
  const tri = 5 * dpr;
  floor.forEach((cols, i) => {
    ctx.fillStyle = colors.series[(i + (spec.colorOffset ?? 0)) % PALETTE]!;
    for (const c of cols) {
      const x = u.valToPos(steps[c]!, "x", true);
      ctx.beginPath();
      ctx.moveTo(x, bottom);
      ctx.lineTo(x - tri, bottom - 1.6 * tri);
      ctx.lineTo(x + tri, bottom - 1.6 * tri);
      ctx.closePath();
      ctx.fill();
    }
  });
  ctx.restore();
}

/** The status line: the marker under the cursor (with the values at its step), else the values at the cursor's step. */
function showHover(u: uPlot, spec: ChartSpec, focused: number): void {
  const { status, steps, markers } = spec;
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
  }
  const step = steps[idx];
  if (!hit || hit.step === step) {
    parts.push(hit ? " · " : "", `step ${step !== undefined ? fmtCount(step) : "?"}: `, ...valuesAt(spec, idx, focused));
  }
  replaceChildren(status, parts);
}

/** The values at column `idx`: every line (one metric) or the focused / largest layer, with zeros and non-finite ones named. */
function valuesAt({ lines, which, log }: ChartSpec, idx: number, focused: number): (string | HTMLElement)[] {
  if (which === "metric") {
    return [lines.map((l) => `${metricLabel(l.metric)} ${fmtV(l.values[idx])}${floorText(l.values[idx], log)}`).join(" · ")];
  }
  const parts: (string | HTMLElement)[] = [];
  const top = argmaxAt(lines, idx);
  const bad = nonFiniteAt(lines, idx);
  const zero = log ? lines.map((l, k) => (floorText(l.values[idx], true) ? k : -1)).filter((k) => k >= 0) : [];
  if (focused >= 0) parts.push(`${showControls(lines[focused]!.layer)} ${fmtV(lines[focused]!.values[idx])}${floorText(lines[focused]!.values[idx], log)}`);
  else if (top >= 0) parts.push(`largest: ${showControls(lines[top]!.layer)} ${fmtV(lines[top]!.values[idx])}`);
  if (focused < 0 && zero.length > 0)
    parts.push(`${top >= 0 ? " · " : ""}${zero.slice(0, 4).map((k) => `${showControls(lines[k]!.layer)} ${fmtV(lines[k]!.values[idx])}`).join(", ")}${zero.length > 4 ? ` +${zero.length - 4}` : ""} (drawn at the log axis floor)`);
  if (bad.length > 0)
    parts.push(" · ", el("span", "nt-bad-text", `non-finite in ${bad.slice(0, 4).map((k) => showControls(lines[k]!.layer)).join(", ")}${bad.length > 4 ? ` +${bad.length - 4}` : ""}`));
  return parts;
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

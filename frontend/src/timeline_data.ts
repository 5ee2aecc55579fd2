// Pure data logic of the Timeline: which series to chart, values for the
// chart (gaps for NaN/Inf, which get their own marks), marker hit-testing.
// No DOM here, so it runs under `node --test`.

import { type Value, decodeValues } from "./heat";
import type { JsonNumber, TimelineResponse, TimelineSeries, WindowResponse } from "./types";

/** Per-layer metrics, in the order the selector offers them. */
export const LAYER_METRICS = [
  "act_max_abs",
  "grad_norm",
  "weight_norm",
  "update_ratio",
  "act_zero_frac",
  "saturated",
  "grad_nonfinite",
] as const;

export const METRIC_LABEL: Record<string, string> = {
  loss: "loss",
  grad_norm: "gradient norm",
  input_max_abs: "input max |x|",
  input_scale_spread: "input scale spread",
  act_max_abs: "activation max |x|",
  act_zero_frac: "activation zero fraction",
  saturated: "saturated fraction",
  grad_nonfinite: "non-finite gradients",
  weight_norm: "weight norm",
  update_ratio: "update / weight ratio",
};

export function metricLabel(metric: string): string {
  return METRIC_LABEL[metric] ?? metric;
}

/** Metrics whose values span decades: charted on a log scale by default. */
export function prefersLog(metric: string): boolean {
  return ["grad_norm", "act_max_abs", "weight_norm", "update_ratio", "input_max_abs", "input_scale_spread"].includes(metric);
}

/** A series as charted: one value per x (the step). */
export interface Line {
  metric: string;
  layer: string | null;
  values: Value[];
}

/** The stat a timeline point shows: the mean loss, the largest everything else. */
export function statFor(metric: string): "mean" | "max" {
  return metric === "loss" ? "mean" : "max";
}

function pick(s: TimelineSeries, stat: "mean" | "max"): readonly JsonNumber[] {
  const v = s[stat] ?? s.max ?? s.mean ?? s.last ?? s.min;
  return Array.isArray(v) ? v : [];
}

/** Lines of a timeline response (each metric with its stat). */
export function timelineLines(t: TimelineResponse | null): Line[] {
  if (!t || !Array.isArray(t.series)) return [];
  return t.series
    .filter((s) => s && typeof s.metric === "string")
    .map((s) => ({ metric: s.metric, layer: s.layer ?? null, values: decodeValues(pick(s, statFor(s.metric))) }));
}

/** Lines of a window response. */
export function windowLines(w: WindowResponse | null): Line[] {
  if (!w || !Array.isArray(w.series)) return [];
  return w.series
    .filter((s) => s && typeof s.metric === "string")
    .map((s) => ({ metric: s.metric, layer: s.layer ?? null, values: decodeValues(s.values) }));
}

export function findLine(lines: readonly Line[], metric: string, layer: string | null): Line | null {
  return lines.find((l) => l.metric === metric && l.layer === layer) ?? null;
}

/** Per-layer lines of one metric. */
export function layerLines(lines: readonly Line[], metric: string): Line[] {
  return lines.filter((l) => l.metric === metric && l.layer !== null);
}

/** Per-layer metrics present, in LAYER_METRICS order then any unknown ones. */
export function availableLayerMetrics(lines: readonly Line[]): string[] {
  const present = new Set(lines.filter((l) => l.layer !== null).map((l) => l.metric));
  const known = LAYER_METRICS.filter((m) => present.has(m));
  const other = [...present].filter((m) => !(LAYER_METRICS as readonly string[]).includes(m)).sort();
  return [...known, ...other];
}

/**
 * Values for the chart: NaN/Inf (and, on a log scale, values <= 0) become
 * gaps (null); the non-finite ones are marked separately.
 */
export function chartValues(values: readonly Value[], log: boolean): (number | null)[] {
  return values.map((v) => (v === null || !Number.isFinite(v) || (log && v <= 0) ? null : v));
}

/**
 * Index ranges [first, last] (inclusive) where any of the lines is
 * non-finite, merged.
 */
export function nonFiniteRanges(lines: readonly (readonly Value[])[], length: number): [number, number][] {
  const out: [number, number][] = [];
  let open = -1;
  for (let i = 0; i < length; i++) {
    const bad = lines.some((l) => {
      const v = l[i];
      return v !== null && v !== undefined && !Number.isFinite(v);
    });
    if (bad && open < 0) open = i;
    if (!bad && open >= 0) {
      out.push([open, i - 1]);
      open = -1;
    }
  }
  if (open >= 0) out.push([open, length - 1]);
  return out;
}

/** The marker nearest to pixel `x` within `tolerance` pixels, or null. */
export function nearestMarker<T>(markers: readonly T[], pos: (m: T) => number, x: number, tolerance: number): T | null {
  let best: T | null = null;
  let bestD = tolerance;
  for (const m of markers) {
    const d = Math.abs(pos(m) - x);
    if (d <= bestD) {
      best = m;
      bestD = d;
    }
  }
  return best;
}

/** Index of the largest finite value at column i among lines, or -1. */
export function argmaxAt(lines: readonly Line[], i: number): number {
  let best = -1;
  let bestV = -Infinity;
  lines.forEach((l, k) => {
    const v = l.values[i];
    if (v !== null && v !== undefined && Number.isFinite(v) && v > bestV) {
      bestV = v;
      best = k;
    }
  });
  return best;
}

/** Indices of the lines that are non-finite at column i. */
export function nonFiniteAt(lines: readonly Line[], i: number): number[] {
  const out: number[] = [];
  lines.forEach((l, k) => {
    const v = l.values[i];
    if (v !== null && v !== undefined && !Number.isFinite(v)) out.push(k);
  });
  return out;
}

/** x range of the chart: the data's steps, stretched to show `extra` steps (the incident). */
export function xRange(steps: readonly number[], extra: readonly number[] = []): [number, number] | null {
  const all = [...steps, ...extra].filter((s) => Number.isFinite(s));
  if (all.length === 0) return null;
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  return [lo, hi];
}

/** Compact tick label: "0", "0.25", "1,200", "1.5e+6", "2e-5". */
export function fmtTick(v: number): string {
  if (!Number.isFinite(v)) return "";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential(1).split("e");
    return `${m!.replace(/\.0$/, "")}e${e}`;
  }
  return parseFloat(v.toPrecision(3)).toLocaleString("en-US", { maximumFractionDigits: 3 });
}

/**
 * Ticks of a log axis: powers of ten only, thinned to at most `max` (uPlot
 * proposes 1..9 x each decade, which piles up over 20 decades). Null hides one.
 */
export function logTicks(splits: readonly number[], max = 6): (number | null)[] {
  const decades = splits.filter((v) => v > 0 && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
  const keep = decades.length > 0 ? decades : splits.slice(0, 1);
  const every = Math.max(1, Math.ceil(keep.length / max));
  const shown = new Set(keep.filter((_, i) => i % every === 0));
  return splits.map((v) => (shown.has(v) ? v : null));
}

/**
 * Columns where a line cannot be drawn on a log axis although it was
 * recorded: exact zeros (a dead layer, a refused update) and negatives.
 * The chart marks them at the axis floor instead of dropping them.
 */
export function belowLogFloor(values: readonly Value[]): number[] {
  const out: number[] = [];
  values.forEach((v, i) => {
    if (v !== null && Number.isFinite(v) && v <= 0) out.push(i);
  });
  return out;
}

/** A value as the hover text says it; zeros on a log axis say where they are drawn. */
export function floorText(v: Value | undefined, log: boolean): string {
  return log && v !== null && v !== undefined && Number.isFinite(v) && v <= 0 ? " (drawn at the log axis floor)" : "";
}

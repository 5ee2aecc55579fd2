// Pure data logic of the per-layer heat strip: decoding, downsampling,
// per-row normalisation, "which layer degraded first", colour map.
// No DOM here, so it runs under `node --test`.

import { toNumber } from "./format";
import type { JsonNumber } from "./types";

/** A decoded value: finite number, NaN, +-Infinity, or null (not recorded). */
export type Value = number | null;

/** How a metric behaves, which decides normalisation and degradation. */
export type MetricKind = "magnitude" | "fraction" | "count";

export function metricKind(metric: string): MetricKind {
  switch (metric) {
    case "act_zero_frac":
    case "saturated":
      return "fraction";
    case "grad_nonfinite":
      return "count";
    default:
      return "magnitude";
  }
}

export function decodeValues(values: readonly JsonNumber[] | null | undefined): Value[] {
  if (!Array.isArray(values)) return [];
  return values.map((v) => toNumber(v));
}

export function isNonFinite(v: Value): boolean {
  return v !== null && !Number.isFinite(v);
}

/**
 * Consecutive [start, end) buckets of at most ceil(count / maxColumns)
 * elements (the server's timeline uses the same rule).
 */
export function buckets(count: number, maxColumns: number): [number, number][] {
  if (count <= 0) return [];
  const size = Math.max(1, Math.ceil(count / Math.max(1, Math.floor(maxColumns))));
  const out: [number, number][] = [];
  for (let start = 0; start < count; start += size) out.push([start, Math.min(count, start + size)]);
  return out;
}

/**
 * One value per bucket. A non-finite value is the news and wins (the first
 * one of the bucket, in step order); otherwise the value of largest
 * magnitude; null when the bucket holds nothing.
 */
export function downsample(values: readonly Value[], groups: readonly [number, number][]): Value[] {
  return groups.map(([start, end]) => {
    let best: Value = null;
    for (let i = start; i < end; i++) {
      const v = values[i] ?? null;
      if (v === null) continue;
      if (!Number.isFinite(v)) return v;
      if (best === null || Math.abs(v) > Math.abs(best)) best = v;
    }
    return best;
  });
}

/** Encoded cells of a normalised row: [0, 1] for finite values, else one of these. */
export const CELL_NAN = -1;
export const CELL_POSINF = -2;
export const CELL_NEGINF = -3;
export const CELL_MISSING = -4;
/** An exact 0 on a log scale (every activation of the layer zero, say): no place on the ramp. */
export const CELL_ZERO = -5;

/** Smallest span a row is normalised over: 1 decade (log), 25% (linear). */
export const MIN_LOG_SPAN = 1;
export const MIN_REL_SPAN = 0.25;

/**
 * Normalises one row to [0, 1] over its own finite values (min -> 0), on
 * log10(|v|) when `log` (magnitudes span decades before they blow up). The
 * span is at least MIN_LOG_SPAN decades (log) or MIN_REL_SPAN of the row's
 * largest magnitude (linear), so that a steady row's noise stays dark
 * instead of being stretched over the whole colour map. A constant row is
 * all 0. Non-finite and missing values get the CELL_* codes.
 */
export function normaliseRow(values: readonly Value[], log: boolean): Float32Array {
  const out = new Float32Array(values.length);
  const t = (v: number): number | null => {
    if (!log) return v;
    const a = Math.abs(v);
    return a > 0 ? Math.log10(a) : null;
  };
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    const x = t(v);
    if (x === null) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const span = log ? Math.max(hi - lo, MIN_LOG_SPAN) : Math.max(hi - lo, MIN_REL_SPAN * Math.max(Math.abs(lo), Math.abs(hi)));
  values.forEach((v, i) => {
    if (v === null) out[i] = CELL_MISSING;
    else if (Number.isNaN(v)) out[i] = CELL_NAN;
    else if (v === Infinity) out[i] = CELL_POSINF;
    else if (v === -Infinity) out[i] = CELL_NEGINF;
    else if (log && v === 0) out[i] = CELL_ZERO;
    else {
      const x = t(v);
      out[i] = x === null || !(span > 0) ? 0 : Math.min(1, Math.max(0, (x - lo) / span));
    }
  });
  return out;
}

export type DegradationReason = "nonfinite" | "jump" | "count" | "dead";

export interface Degradation {
  /** Column (index into the row) where the row first degraded. */
  index: number;
  reason: DegradationReason;
}

export const JUMP_FACTOR = 10;

/**
 * The value that means "every activation of the layer is zero" (a dead
 * layer: nothing flows forward, no gradient flows back), or null when the
 * metric has none: a max |x| of exactly 0, a zero fraction of 1.
 */
export function deadTest(metric: string): ((v: number) => boolean) | null {
  if (metric === "act_max_abs") return (v) => v === 0;
  if (metric === "act_zero_frac") return (v) => v >= 1;
  return null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Where a row first degraded: its first non-finite value; for a count
 * (grad_nonfinite) its first value > 0; for a magnitude, its first value at
 * least JUMP_FACTOR x the median |value| of the row's first quarter (at
 * least 4 finite values needed); with `dead` (see deadTest), its first
 * all-zero value. Null when the row stayed healthy.
 */
export function firstDegradation(
  values: readonly Value[],
  kind: MetricKind,
  factor = JUMP_FACTOR,
  dead: ((v: number) => boolean) | null = null,
): Degradation | null {
  let found: Degradation | null = null;
  const consider = (index: number, reason: DegradationReason) => {
    if (found === null || index < found.index) found = { index, reason };
  };
  const nf = values.findIndex((v) => isNonFinite(v));
  if (nf >= 0) consider(nf, "nonfinite");
  if (dead) {
    const d = values.findIndex((v) => v !== null && Number.isFinite(v) && dead(v));
    if (d >= 0) consider(d, "dead");
  }
  if (kind === "count") {
    const c = values.findIndex((v) => v !== null && Number.isFinite(v) && v > 0);
    if (c >= 0) consider(c, "count");
  } else if (kind === "magnitude") {
    const head = Math.max(4, Math.floor(values.length / 4));
    const base: number[] = [];
    for (let i = 0; i < Math.min(head, values.length); i++) {
      const v = values[i];
      if (v !== null && v !== undefined && Number.isFinite(v)) base.push(Math.abs(v));
    }
    if (base.length >= 4) {
      const b = median(base);
      if (b > 0) {
        const j = values.findIndex((v) => v !== null && Number.isFinite(v) && Math.abs(v) >= factor * b);
        if (j >= 0) consider(j, "jump");
      }
    }
  }
  return found;
}

export interface HeatRow {
  layer: string;
  values: Value[];
}

/** Rows of `metric`, one per layer, in the order the series come. */
export function heatRows(
  series: readonly { metric: string; layer: string | null; values: readonly JsonNumber[] }[],
  metric: string,
): HeatRow[] {
  const rows: HeatRow[] = [];
  const seen = new Set<string>();
  for (const s of series) {
    if (s.metric !== metric || s.layer === null || s.layer === undefined || seen.has(s.layer)) continue;
    seen.add(s.layer);
    rows.push({ layer: s.layer, values: decodeValues(s.values) });
  }
  return rows;
}

export interface RowDegradation {
  row: number;
  degradation: Degradation | null;
}

/**
 * Degradation of each row, and the rows that degraded first (earliest
 * column; several when they tie).
 */
export function degradationOrder(
  rows: readonly HeatRow[],
  kind: MetricKind,
  dead: ((v: number) => boolean) | null = null,
): { each: RowDegradation[]; first: number[] } {
  const each = rows.map((r, row) => ({ row, degradation: firstDegradation(r.values, kind, JUMP_FACTOR, dead) }));
  let best = Infinity;
  for (const e of each) if (e.degradation && e.degradation.index < best) best = e.degradation.index;
  const first = best === Infinity ? [] : each.filter((e) => e.degradation?.index === best).map((e) => e.row);
  return { each, first };
}

/** Row order sorted by degradation (earliest first, healthy rows last, stable). */
export function sortedByDegradation(each: readonly RowDegradation[]): number[] {
  return [...each]
    .sort((a, b) => (a.degradation?.index ?? Infinity) - (b.degradation?.index ?? Infinity) || a.row - b.row)
    .map((e) => e.row);
}

// Viridis (perceptually uniform, colour-blind safe), 9 stops.
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Colour of a normalised value in [0, 1]. */
export function colormap(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

/** Non-finite cells: colours outside the colour map. */
export const NAN_RGB: [number, number, number] = [255, 23, 68];
export const INF_RGB: [number, number, number] = [255, 64, 255];
/** All-zero cells on a log scale: black, below the ramp's darkest. */
export const ZERO_RGB: [number, number, number] = [0, 0, 0];

// The per-layer heat strip: rows = layers, columns = steps, colour = the
// metric normalised per row (viridis), NaN and Inf in colours of their own,
// and where each row first degraded. Drawn on a canvas (text via fillText:
// never parsed as markup); hover shows the cell under the pointer.

import { el } from "./dom";
import { fmtCount, fmtNumber, showControls } from "./format";
import {
  CELL_MISSING,
  CELL_NAN,
  CELL_NEGINF,
  CELL_POSINF,
  CELL_ZERO,
  type HeatRow,
  INF_RGB,
  type MetricKind,
  NAN_RGB,
  buckets,
  colormap,
  deadTest,
  degradationOrder,
  downsample,
  normaliseRow,
  sortedByDegradation,
  type Value,
  ZERO_RGB,
} from "./heat";
import { cssVar } from "./theme";
import { metricLabel } from "./timeline_data";

export interface HeatInput {
  rows: HeatRow[];
  steps: number[];
  metric: string;
  kind: MetricKind;
  log: boolean;
  sort: boolean;
}

const LABEL_MAX_W = 170;
const AXIS_H = 18;
const MIN_CELL_W = 2;

interface Drawn {
  order: number[];
  cols: [number, number][];
  cells: Float32Array[];
  raw: Value[][];
  x0: number;
  cellW: number;
  rowH: number;
  width: number;
}

export class HeatStrip {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly status: HTMLElement;
  private readonly summary: HTMLElement;
  private input: HeatInput | null = null;
  private drawn: Drawn | null = null;
  private observer: ResizeObserver | null = null;
  private lastWidth = 0;

  constructor() {
    this.canvas = el("canvas", "nt-heat-canvas");
    this.status = el("div", "nt-chart-status nt-muted", "\u00a0");
    this.summary = el("p", "nt-heat-summary");
    this.element = el(
      "div",
      "nt-heat",
      this.summary,
      el("div", "nt-heat-wrap", this.canvas),
      el(
        "div",
        "nt-heat-legend nt-muted",
        el("span", "nt-legend-item", el("span", "nt-swatch nt-swatch-ramp"), "low → high (per layer)"),
        el("span", "nt-legend-item", el("span", "nt-swatch nt-swatch-nan"), "NaN"),
        el("span", "nt-legend-item", el("span", "nt-swatch nt-swatch-inf"), "±Inf"),
        el("span", "nt-legend-item", el("span", "nt-swatch nt-swatch-missing"), "not recorded"),
        el("span", "nt-legend-item", el("span", "nt-swatch nt-swatch-zero"), "exactly 0 (log scale)"),
        el("span", "nt-legend-item", "▼ first degraded (non-finite, all activations zero, or ×10 its early level)"),
      ),
      this.status,
    );
    this.canvas.addEventListener("mousemove", (ev) => this.onHover(ev));
    this.canvas.addEventListener("mouseleave", () => (this.status.textContent = "\u00a0"));
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => {
        const w = this.canvas.parentElement?.clientWidth ?? 0;
        if (w > 0 && w !== this.lastWidth) this.draw();
      });
      this.observer.observe(this.element);
    }
  }

  destroy(): void {
    this.observer?.disconnect();
  }

  set(input: HeatInput): void {
    this.input = input;
    this.draw();
  }

  draw(): void {
    const input = this.input;
    const ctx = this.canvas.getContext("2d");
    if (!input || !ctx) return;
    const { rows, steps } = input;
    const { each, first } = degradationOrder(rows, input.kind, deadTest(input.metric));
    this.renderSummary(input, each, first);
    const width = Math.max(320, this.canvas.parentElement?.clientWidth || 800);
    this.lastWidth = this.canvas.parentElement?.clientWidth ?? 0;
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    const rowH = rows.length > 40 ? 8 : rows.length > 20 ? 12 : 16;
    const height = rows.length * rowH + AXIS_H + 4;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const fg = cssVar("--nt-fg", "#212121");
    const muted = cssVar("--nt-muted", "#6b6b6b");
    const missing = cssVar("--nt-missing", "#d0d0d0");
    ctx.font = `${rowH >= 12 ? 11 : 9}px Roboto, system-ui, sans-serif`;
    ctx.textBaseline = "middle";

    const order = input.sort ? sortedByDegradation(each) : rows.map((_, i) => i);
    let labelW = 0;
    ctx.font = `bold ${rowH >= 12 ? 11 : 9}px Roboto, system-ui, sans-serif`;
    for (const r of rows) labelW = Math.max(labelW, ctx.measureText(showControls(r.layer)).width);
    labelW = Math.min(LABEL_MAX_W, Math.ceil(labelW)) + 22;
    const x0 = labelW;
    const avail = width - x0 - 8;
    const cols = buckets(steps.length, Math.max(1, Math.floor(avail / MIN_CELL_W)));
    const cellW = cols.length > 0 ? avail / cols.length : avail;
    const cells: Float32Array[] = [];
    const raw: Value[][] = [];
    for (const r of rows) {
      const d = downsample(r.values, cols);
      raw.push(d);
      cells.push(normaliseRow(d, input.log && input.kind === "magnitude"));
    }
    const firstSet = new Set(first);
    order.forEach((ri, y) => {
      const top = y * rowH;
      const row = rows[ri]!;
      ctx.fillStyle = firstSet.has(ri) ? cssVar("--nt-bad", "#c62828") : fg;
      ctx.font = `${firstSet.has(ri) ? "bold " : ""}${rowH >= 12 ? 11 : 9}px Roboto, system-ui, sans-serif`;
      ctx.fillText(fitText(ctx, showControls(row.layer), labelW - 22), 2, top + rowH / 2);
      if (firstSet.has(ri)) ctx.fillText("◀", labelW - 16, top + rowH / 2);
      const c = cells[ri]!;
      for (let i = 0; i < c.length; i++) {
        const v = c[i]!;
        let rgb: [number, number, number] | null;
        if (v === CELL_NAN) rgb = NAN_RGB;
        else if (v === CELL_POSINF || v === CELL_NEGINF) rgb = INF_RGB;
        else if (v === CELL_MISSING) rgb = null;
        else if (v === CELL_ZERO) rgb = ZERO_RGB;
        else rgb = colormap(v);
        ctx.fillStyle = rgb ? `rgb(${rgb[0]},${rgb[1]},${rgb[2]})` : missing;
        // Overlap by a pixel fraction: no hairline gaps between cells.
        ctx.fillRect(x0 + i * cellW, top, cellW + 0.5, rowH - (rowH > 8 ? 1 : 0));
      }
      const deg = each[ri]?.degradation;
      if (deg) {
        const col = cols.findIndex(([s, e]) => deg.index >= s && deg.index < e);
        if (col >= 0) {
          const cx = x0 + (col + 0.5) * cellW;
          ctx.fillStyle = fg;
          ctx.beginPath();
          ctx.moveTo(cx - 4, top);
          ctx.lineTo(cx + 4, top);
          ctx.lineTo(cx, top + Math.min(6, rowH - 2));
          ctx.closePath();
          ctx.fill();
        }
      }
    });
    // Step axis: first, middle, last.
    const axisY = rows.length * rowH + 4 + AXIS_H / 2;
    ctx.fillStyle = muted;
    ctx.font = "10px Roboto, system-ui, sans-serif";
    const label = (col: number, align: CanvasTextAlign) => {
      const b = cols[col];
      if (!b) return;
      const s = steps[b[0]];
      if (s === undefined) return;
      ctx.textAlign = align;
      const x = align === "left" ? x0 : align === "right" ? x0 + avail : x0 + (col + 0.5) * cellW;
      ctx.fillText(`step ${fmtCount(s)}`, x, axisY);
    };
    if (cols.length > 0) {
      label(0, "left");
      if (cols.length > 4) label(Math.floor(cols.length / 2), "center");
      label(cols.length - 1, "right");
    }
    ctx.textAlign = "left";
    this.drawn = { order, cols, cells, raw, x0, cellW, rowH, width };
  }

  private renderSummary(input: HeatInput, each: ReturnType<typeof degradationOrder>["each"], first: number[]): void {
    const s = this.summary;
    while (s.firstChild) s.removeChild(s.firstChild);
    const m = metricLabel(input.metric);
    if (input.rows.length === 0) {
      s.append(el("span", "nt-muted", `No per-layer ${m} was recorded in this range.`));
      return;
    }
    if (first.length === 0) {
      s.append(el("span", "nt-muted", `No layer's ${m} degraded in this range.`));
      return;
    }
    const d = each[first[0]!]!.degradation!;
    const step = input.steps[d.index];
    const why =
      d.reason === "nonfinite"
        ? "became non-finite"
        : d.reason === "count"
          ? "had non-finite values"
          : d.reason === "dead"
            ? "went all zero (a dead layer: every activation 0)"
            : "jumped ×10 over its early level";
    s.append(
      "First to degrade (",
      m,
      "): layer ",
      el("code", "nt-bad-text", showControls(input.rows[first[0]!]!.layer)),
      first.length > 1 ? ` (with ${fmtCount(first.length - 1)} other${first.length > 2 ? "s" : ""})` : "",
      `, which ${why} at step ${step !== undefined ? fmtCount(step) : "?"}.`,
    );
  }

  private onHover(ev: MouseEvent): void {
    const d = this.drawn;
    const input = this.input;
    if (!d || !input) return;
    const r = this.canvas.getBoundingClientRect();
    const x = ((ev.clientX - r.left) / (r.width || 1)) * d.width;
    const y = ((ev.clientY - r.top) / (r.height || 1)) * (this.canvas.height / (this.canvas.width / d.width));
    const rowPos = Math.floor(y / d.rowH);
    const col = Math.floor((x - d.x0) / d.cellW);
    const ri = d.order[rowPos];
    const b = d.cols[col];
    if (ri === undefined || !b || x < d.x0) {
      this.status.textContent = "\u00a0";
      return;
    }
    const s0 = input.steps[b[0]];
    const s1 = input.steps[b[1] - 1];
    const v = d.raw[ri]?.[col] ?? null;
    const steps = s0 === s1 || s1 === undefined ? `step ${fmtCount(s0 ?? 0)}` : `steps ${fmtCount(s0 ?? 0)}–${fmtCount(s1)}`;
    this.status.textContent = `${showControls(input.rows[ri]!.layer)} · ${steps} · ${metricLabel(input.metric)} ${fmtNumber(v === null ? null : Number.isNaN(v) ? "NaN" : v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : v)}`;
  }
}

function fitText(ctx: CanvasRenderingContext2D, s: string, max: number): string {
  if (ctx.measureText(s).width <= max) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(s.slice(0, mid) + "…").width <= max) lo = mid;
    else hi = mid - 1;
  }
  return s.slice(0, lo) + "…";
}

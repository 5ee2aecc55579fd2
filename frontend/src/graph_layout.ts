// Layout of the grouped graph with dagre (@dagrejs/dagre), one group at a
// time like TensorBoard's graph plugin: each expanded group lays out its
// visible children (ops, collapsed groups as boxes, expanded groups at the
// size of their own layout) and the edges lifted to it. A layout is cached
// per group and redone only for a toggled group and its ancestors, so
// opening a 5,000-op graph collapsed by layer lays out only the layers.
// No DOM here: it runs under `node --test` too.

import { Graph, layout as dagreLayout } from "@dagrejs/dagre";
import { showControls } from "./format";
import { type Expansion, type GraphModel, MAX_LABEL, group, isGroup, shortName } from "./graph_model";

export const OP_H = 34;
export const GROUP_H = 44;
export const PAD = 12;
export const HEADER = 24;
const CHAR_W = 6.6;
export { MAX_LABEL };

export interface Box {
  item: number;
  /** Top-left corner and size, relative to the parent group's content. */
  x: number;
  y: number;
  w: number;
  h: number;
  expanded: boolean;
  /** Extracted high-degree node (see findHubs): its number of edges; else 0. */
  hub?: number;
}

export interface EdgeRoute {
  from: number;
  to: number;
  count: number;
  bad: number;
  points: { x: number; y: number }[];
  /** A straight edge to an extracted high-degree node (see findHubs). */
  hub: boolean;
}

export interface GroupLayout {
  /** Size of the content (the children's bounding box). */
  width: number;
  height: number;
  boxes: Box[];
  edges: EdgeRoute[];
}

export function truncate(s: string, max = MAX_LABEL): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "…";
}

/** The two text lines of an item's box. */
export function itemLabel(m: GraphModel, item: number): [string, string] {
  if (isGroup(m, item)) {
    const g = group(m, item);
    const bad = g.counts.origin + g.counts.propagated;
    const ops = `${g.size.toLocaleString("en-US")} op${g.size === 1 ? "" : "s"}`;
    return [g.display, bad > 0 ? `${ops} · ${bad.toLocaleString("en-US")} non-finite` : ops];
  }
  const op = m.ops[item]!;
  // "BiasAdd/ReadVariableOp" beside "MatMul/ReadVariableOp": a last segment
  // that only repeats the type says nothing, so its scope comes along.
  const segs = op.name.split("/").filter((x) => x !== "");
  const short = segs.length > 1 && segs[segs.length - 1] === op.type ? segs.slice(-2).join("/") : shortName(op.name);
  return [truncate(showControls(op.type)), truncate(showControls(short))];
}

function textWidth(lines: [string, string], bold: number): number {
  return Math.max(lines[0].length * (CHAR_W + bold), lines[1].length * CHAR_W);
}

/** Size of a leaf or collapsed group. */
export function itemSize(m: GraphModel, item: number): [number, number] {
  const lines = itemLabel(m, item);
  if (isGroup(m, item)) return [Math.round(Math.min(260, Math.max(110, textWidth(lines, 0.6) + 28))), GROUP_H];
  return [Math.round(Math.min(220, Math.max(64, textWidth(lines, 0.4) + 20))), OP_H];
}

export class LayoutCache {
  private readonly cache = new Map<number, GroupLayout>();
  /** Milliseconds spent in dagre since the last reset. */
  dagreMs = 0;
  /** Groups laid out since the last reset. */
  laidOut = 0;

  constructor(
    private readonly model: GraphModel,
    private readonly expansion: Expansion,
  ) {}

  invalidate(groups: readonly number[]): void {
    for (const g of groups) this.cache.delete(g);
  }

  clear(): void {
    this.cache.clear();
  }

  /** Layout of the content of an expanded group (the root by default). */
  layout(g: number = this.model.root): GroupLayout {
    const hit = this.cache.get(g);
    if (hit) return hit;
    const result = this.compute(g);
    this.cache.set(g, result);
    return result;
  }

  /** Outer size of a visible child item. */
  size(item: number): [number, number] {
    if (isGroup(this.model, item) && this.expansion.isExpanded(item)) {
      const inner = this.layout(item);
      const [w0] = itemSize(this.model, item);
      return [Math.max(w0, inner.width + 2 * PAD), inner.height + HEADER + PAD];
    }
    return itemSize(this.model, item);
  }

  private compute(gid: number): GroupLayout {
    const m = this.model;
    const children = group(m, gid).children;
    const sizes = new Map<number, [number, number]>();
    for (const c of children) sizes.set(c, this.size(c)); // lays out expanded children first
    const lifted = m.groupEdges.get(gid) ?? [];
    const hubs = findHubs(children.length, lifted);
    const start = now();
    const g = new Graph({ multigraph: false, directed: true });
    g.setGraph({ rankdir: "TB", nodesep: 18, ranksep: 34, edgesep: 8, marginx: 0, marginy: 0 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of children) {
      if (hubs.has(c)) continue;
      const [w, h] = sizes.get(c)!;
      g.setNode(String(c), { width: w, height: h });
    }
    for (const e of lifted) {
      if (hubs.has(e.from) || hubs.has(e.to)) continue;
      // Heavier bundles pull their ends closer; the propagation path most.
      g.setEdge(String(e.from), String(e.to), { weight: Math.min(8, e.count) + (e.bad > 0 ? 4 : 0) });
    }
    dagreLayout(g);
    this.dagreMs += now() - start;
    this.laidOut++;

    const boxes = new Map<number, Box>();
    for (const c of children) {
      if (hubs.has(c)) continue;
      const n = g.node(String(c)) as { x: number; y: number };
      const [w, h] = sizes.get(c)!;
      boxes.set(c, { item: c, x: n.x - w / 2, y: n.y - h / 2, w, h, expanded: isGroup(m, c) && this.expansion.isExpanded(c) });
    }
    const edges: EdgeRoute[] = [];
    for (const e of lifted) {
      if (hubs.has(e.from) || hubs.has(e.to)) continue;
      const label = g.edge(String(e.from), String(e.to)) as { points?: { x: number; y: number }[] } | undefined;
      const points = (label?.points ?? []).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
      edges.push({ from: e.from, to: e.to, count: e.count, bad: e.bad, points, hub: false });
    }
    if (hubs.size > 0) placeHubs(hubs, lifted, boxes, sizes, edges, (c) => isGroup(m, c) && this.expansion.isExpanded(c));

    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const b of boxes.values()) {
      minX = Math.min(minX, b.x);
      minY = Math.min(minY, b.y);
      maxX = Math.max(maxX, b.x + b.w);
      maxY = Math.max(maxY, b.y + b.h);
    }
    for (const e of edges) {
      for (const p of e.points) {
        minX = Math.min(minX, p.x);
        minY = Math.min(minY, p.y);
        maxX = Math.max(maxX, p.x);
        maxY = Math.max(maxY, p.y);
      }
    }
    if (!Number.isFinite(minX)) return { width: 0, height: 0, boxes: [], edges: [] };
    // Normalise to a (0, 0) origin, in the children's order.
    const ordered = children.map((c) => boxes.get(c)!);
    for (const b of ordered) {
      b.x -= minX;
      b.y -= minY;
    }
    for (const e of edges) {
      for (const p of e.points) {
        p.x -= minX;
        p.y -= minY;
      }
    }
    return { width: maxX - minX, height: maxY - minY, boxes: ordered, edges };
  }
}

/**
 * Hubs: children connected to many others at this level (an optimizer's
 * group_deps, a health probe reading every layer). Their edges would span
 * the whole layout and make dagre's crossing minimisation explode (seconds
 * for ~100 boxes), so, like TensorBoard's extracted high-degree nodes, they
 * are placed beside the layout and joined with straight edges.
 */
export function findHubs(children: number, lifted: readonly { from: number; to: number }[]): Set<number> {
  const hubs = new Set<number>();
  if (children < HUB_MIN_CHILDREN) return hubs;
  const degree = new Map<number, number>();
  for (const e of lifted) {
    degree.set(e.from, (degree.get(e.from) ?? 0) + 1);
    degree.set(e.to, (degree.get(e.to) ?? 0) + 1);
  }
  const min = Math.max(HUB_MIN_DEGREE, Math.ceil(children * 0.1));
  for (const [item, d] of degree) if (d >= min) hubs.add(item);
  // Never extract (nearly) everything: then there is no layout to put them beside.
  if (hubs.size > children / 4) hubs.clear();
  return hubs;
}

export const HUB_MIN_CHILDREN = 24;
export const HUB_MIN_DEGREE = 12;
const HUB_GAP = 48;

function placeHubs(
  hubs: Set<number>,
  lifted: readonly { from: number; to: number; count: number; bad: number }[],
  boxes: Map<number, Box>,
  sizes: Map<number, [number, number]>,
  edges: EdgeRoute[],
  expanded: (item: number) => boolean,
): void {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  for (const b of boxes.values()) {
    minX = Math.min(minX, b.x);
    maxX = Math.max(maxX, b.x + b.w);
    minY = Math.min(minY, b.y);
  }
  if (!Number.isFinite(minX)) {
    minX = maxX = minY = 0;
  }
  // Sinks (more edges in than out) to the right, sources to the left, each
  // at the mean height of its neighbours, stacked without overlap.
  const info = [...hubs].map((h) => {
    let ins = 0;
    let outs = 0;
    let ys = 0;
    let n = 0;
    for (const e of lifted) {
      const other = e.to === h ? e.from : e.from === h ? e.to : null;
      if (other === null) continue;
      if (e.to === h) ins++;
      else outs++;
      const b = boxes.get(other);
      if (b) {
        ys += b.y + b.h / 2;
        n++;
      }
    }
    return { h, right: ins >= outs, y: n > 0 ? ys / n : minY, degree: ins + outs };
  });
  for (const right of [true, false]) {
    const column = info.filter((i) => i.right === right).sort((a, b) => a.y - b.y || a.h - b.h);
    const width = Math.max(0, ...column.map((i) => sizes.get(i.h)![0]));
    let next = -Infinity;
    for (const i of column) {
      const [w, hgt] = sizes.get(i.h)!;
      const y = Math.max(i.y - hgt / 2, next);
      next = y + hgt + 12;
      const x = right ? maxX + HUB_GAP : minX - HUB_GAP - width + (width - w);
      boxes.set(i.h, { item: i.h, x, y, w, h: hgt, expanded: expanded(i.h), hub: i.degree });
    }
  }
  for (const e of lifted) {
    if (!hubs.has(e.from) && !hubs.has(e.to)) continue;
    const a = boxes.get(e.from);
    const b = boxes.get(e.to);
    if (!a || !b) continue;
    edges.push({ from: e.from, to: e.to, count: e.count, bad: e.bad, points: straight(a, b), hub: true });
  }
}

/** A straight edge between two boxes, from side to side (or top to bottom). */
function straight(a: Box, b: Box): { x: number; y: number }[] {
  const ac = { x: a.x + a.w / 2, y: a.y + a.h / 2 };
  const bc = { x: b.x + b.w / 2, y: b.y + b.h / 2 };
  return [clip(a, ac, bc), clip(b, bc, ac)];
}

/** Where the segment from the centre `c` of box `r` towards `t` leaves the box. */
function clip(r: Box, c: { x: number; y: number }, t: { x: number; y: number }): { x: number; y: number } {
  const dx = t.x - c.x;
  const dy = t.y - c.y;
  if (dx === 0 && dy === 0) return { ...c };
  const sx = dx !== 0 ? r.w / 2 / Math.abs(dx) : Infinity;
  const sy = dy !== 0 ? r.h / 2 / Math.abs(dy) : Infinity;
  const s = Math.min(sx, sy);
  return { x: c.x + dx * s, y: c.y + dy * s };
}

/** An item's box in absolute coordinates (for centring on it). */
export interface PlacedBox extends Box {
  depth: number;
}

/** Every visible item with absolute coordinates, parents before children. */
export function placeAll(m: GraphModel, cache: LayoutCache): { boxes: PlacedBox[]; edges: (EdgeRoute & { dx: number; dy: number })[]; width: number; height: number } {
  const boxes: PlacedBox[] = [];
  const edges: (EdgeRoute & { dx: number; dy: number })[] = [];
  const walk = (gid: number, dx: number, dy: number, depth: number) => {
    const l = cache.layout(gid);
    for (const e of l.edges) edges.push({ ...e, dx, dy });
    for (const b of l.boxes) {
      const placed: PlacedBox = { ...b, x: b.x + dx, y: b.y + dy, depth };
      boxes.push(placed);
      if (b.expanded) {
        const inner = cache.layout(b.item);
        // Centre the content when the header is wider than it.
        const ox = placed.x + (placed.w - inner.width) / 2;
        walk(b.item, ox, placed.y + HEADER, depth + 1);
      }
    }
  };
  walk(m.root, 0, 0, 0);
  const root = cache.layout(m.root);
  return { boxes, edges, width: root.width, height: root.height };
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

// Pure model of an incident's graph for the Graph view: nodes grouped into a
// hierarchy (layer groups, like TensorBoard's graph plugin groups name
// scopes; the backward pass and the optimizer apart from the forward layers,
// as TensorBoard keeps `gradients/` apart, so that no two groups feed each
// other and every edge can flow downward), edges lifted to the groups that
// show them, and the collapse state. No DOM here, so it runs under `node --test`.
//
// Item ids: 0..N-1 are the ops (leaves), N..N+G-1 the groups; N is the root.

import { showControls } from "./format";
import type { GraphNode, IncidentGraph } from "./types";

export type State = "origin" | "propagated" | "finite" | "input" | "variable";
export const STATES: readonly State[] = ["origin", "propagated", "finite", "input", "variable"];

/** A recorded state, mapped onto a constant (unknown states count as finite). */
export function stateOf(s: unknown): State {
  return typeof s === "string" && (STATES as readonly string[]).includes(s) ? (s as State) : "finite";
}

export function isBad(s: State): boolean {
  return s === "origin" || s === "propagated";
}

export type GroupKind = "root" | "layer" | "scope" | "phase" | "part" | "nolayer";

export interface Op {
  name: string;
  type: string;
  layer: string | null;
  phase: string | null;
  state: State;
}

export interface Group {
  id: number;
  kind: GroupKind;
  label: string;
  /** The label as drawn: at most MAX_LABEL characters, distinct among its siblings. */
  display: string;
  parent: number; // -1 for the root
  depth: number;
  children: number[];
  /** Ops below this group, by state. */
  counts: Record<State, number>;
  size: number;
}

export interface LiftedEdge {
  from: number;
  to: number;
  /** How many op edges it stands for. */
  count: number;
  /** How many of those carry the NaN/Inf (both ends origin/propagated). */
  bad: number;
}

export interface GraphModel {
  ops: Op[];
  groups: Group[]; // groups[g].id === ops.length + g
  root: number;
  parent: Int32Array; // per item
  edges: [number, number][]; // op -> op, deduplicated
  /** Edges whose lowest common group is the key, lifted to its children. */
  groupEdges: Map<number, LiftedEdge[]>;
  /** Item id of the origin op, if any. */
  origin: number | null;
  truncated: boolean;
  /** Nodes without a usable name, duplicates, edges to unknown nodes. */
  dropped: { nodes: number; edges: number };
}

export interface ModelOptions {
  /** A group holding more children than this is split (phase, scope, parts). */
  maxChildren?: number;
  /** Ops without a layer stay ungrouped up to this many. */
  maxLoose?: number;
  /** A layer with more ops than this, of several phases, is split by phase. */
  phaseSplit?: number;
}

export const MAX_CHILDREN = 120;
/** Longest label drawn in a box. */
export const MAX_LABEL = 30;
/** Phases grouped apart from the forward layers (their ops read the forward ones, never the reverse). */
export const LATE_PHASES = ["backward", "optimizer"] as const;
export const MAX_LOOSE = 12;
export const PHASE_SPLIT = 24;

function zeroCounts(): Record<State, number> {
  return { origin: 0, propagated: 0, finite: 0, input: 0, variable: 0 };
}

function str(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

export function isGroup(m: GraphModel, item: number): boolean {
  return item >= m.ops.length;
}

export function group(m: GraphModel, item: number): Group {
  const g = m.groups[item - m.ops.length];
  if (!g) throw new RangeError(`not a group: ${item}`);
  return g;
}

/** Name segments ("a/b/c" -> ["a", "b", "c"]). */
function segments(name: string): string[] {
  return name.split("/").filter((s) => s !== "");
}

export function phaseName(p: string | null): string {
  return p === null || p === "" ? "other" : p;
}

/** Builds the grouped model; never throws on malformed data (it is dropped). */
export function buildModel(graph: IncidentGraph | null | undefined, opts: ModelOptions = {}): GraphModel {
  const maxChildren = Math.max(4, opts.maxChildren ?? MAX_CHILDREN);
  const maxLoose = opts.maxLoose ?? MAX_LOOSE;
  const phaseSplit = opts.phaseSplit ?? PHASE_SPLIT;
  const rawNodes: unknown[] = Array.isArray(graph?.nodes) ? graph!.nodes : [];
  const rawEdges: unknown[] = Array.isArray(graph?.edges) ? graph!.edges : [];

  const ops: Op[] = [];
  const index = new Map<string, number>();
  let droppedNodes = 0;
  for (const raw of rawNodes) {
    const n = raw as Partial<GraphNode> | null;
    const name = str(n?.name);
    if (name === null || index.has(name)) {
      droppedNodes++;
      continue;
    }
    index.set(name, ops.length);
    ops.push({
      name,
      type: str(n?.type) ?? "?",
      layer: str(n?.layer),
      phase: str(n?.phase),
      state: stateOf(n?.state),
    });
  }
  const N = ops.length;

  const edges: [number, number][] = [];
  const seenEdge = new Set<number>();
  let droppedEdges = 0;
  for (const raw of rawEdges) {
    const e = Array.isArray(raw) ? raw : null;
    const a = e && typeof e[0] === "string" ? index.get(e[0]) : undefined;
    const b = e && typeof e[1] === "string" ? index.get(e[1]) : undefined;
    if (a === undefined || b === undefined || a === b) {
      droppedEdges++;
      continue;
    }
    const key = a * N + b;
    if (seenEdge.has(key)) continue;
    seenEdge.add(key);
    edges.push([a, b]);
  }

  // ---- hierarchy
  const groups: Group[] = [];
  const newGroup = (kind: GroupKind, label: string, parent: number): Group => {
    const g: Group = {
      id: N + groups.length,
      kind,
      label,
      display: label,
      parent,
      depth: parent < 0 ? 0 : groups[parent - N]!.depth + 1,
      children: [],
      counts: zeroCounts(),
      size: 0,
    };
    groups.push(g);
    if (parent >= 0) groups[parent - N]!.children.push(g.id);
    return g;
  };
  const root = newGroup("root", "", -1);


  /** Fills `g` with `members` (op ids), splitting when there are too many. */
  const fill = (g: Group, members: number[], tried: Set<string>): void => {
    const mixed = g.kind === "layer" && members.length > phaseSplit;
    if (members.length <= maxChildren && !mixed) {
      g.children.push(...members);
      return;
    }
    // 1. by phase (a layer's forward ops, gradients and updates apart, as
    // TensorBoard keeps gradients apart from the forward graph)
    if (!tried.has("phase")) {
      const byPhase = new Map<string, number[]>();
      for (const i of members) {
        const p = phaseName(ops[i]!.phase);
        const l = byPhase.get(p);
        if (l) l.push(i);
        else byPhase.set(p, [i]);
      }
      if (byPhase.size > 1) {
        const next = new Set(tried).add("phase");
        for (const [p, list] of byPhase) {
          if (list.length === 1) g.children.push(list[0]!);
          else fill(newGroup("phase", p, g.id), list, next);
        }
        return;
      }
      if (members.length <= maxChildren) {
        g.children.push(...members);
        return;
      }
    }
    // 2. by the next name scope after the members' common prefix
    const segs = members.map((i) => segments(ops[i]!.name));
    let common = 0;
    const first = segs[0]!;
    while (common < first.length - 1 && segs.every((s) => s.length - 1 > common && s[common] === first[common])) common++;
    const byScope = new Map<string, number[]>();
    const single: number[] = [];
    members.forEach((i, k) => {
      const s = segs[k]!;
      if (s.length - 1 <= common) {
        single.push(i);
        return;
      }
      const key = s[common]!;
      const l = byScope.get(key);
      if (l) l.push(i);
      else byScope.set(key, [i]);
    });
    for (const [key, list] of byScope) {
      if (list.length === 1) {
        single.push(list[0]!);
        byScope.delete(key);
      }
    }
    if (byScope.size > 0 && byScope.size + single.length <= maxChildren && byScope.size + single.length < members.length) {
      for (const [key, list] of byScope) fill(newGroup("scope", key, g.id), list, tried);
      g.children.push(...single.sort((a, b) => a - b));
      return;
    }
    // 3. consecutive parts
    const parts = Math.ceil(members.length / maxChildren);
    const size = Math.ceil(members.length / parts);
    for (let p = 0; p < parts; p++) {
      const list = members.slice(p * size, (p + 1) * size);
      const label = `part ${p + 1} of ${parts}`;
      fill(newGroup("part", label, g.id), list, new Set(tried).add("phase"));
    }
  };

  /** Groups `members` (op ids) under `into` by layer; ops without one by name scope. */
  const byLayers = (into: Group, members: number[]): void => {
    const byLayer = new Map<string, number[]>();
    const loose: number[] = [];
    for (const i of members) {
      const layer = ops[i]!.layer;
      if (layer === null) loose.push(i);
      else {
        const list = byLayer.get(layer);
        if (list) list.push(i);
        else byLayer.set(layer, [i]);
      }
    }
    for (const [layer, list] of byLayer) fill(newGroup("layer", layer, into.id), list, new Set());
    groupLoose(into, loose);
  };

  /** Ops without a layer: loose up to maxLoose, else by their top-level name scope. */
  const groupLoose = (into: Group, loose: number[]): void => {
    if (loose.length <= maxLoose) {
      into.children.push(...loose);
    } else {
      // Ops outside any layer: group by their top-level name scope.
      const byTop = new Map<string, number[]>();
      const single: number[] = [];
      for (const i of loose) {
        const s = segments(ops[i]!.name);
        if (s.length < 2) {
          single.push(i);
          continue;
        }
        const l = byTop.get(s[0]!);
        if (l) l.push(i);
        else byTop.set(s[0]!, [i]);
      }
      for (const [top, list] of byTop) {
        if (list.length === 1) single.push(list[0]!);
        else fill(newGroup("scope", top, into.id), list, new Set());
      }
      single.sort((a, b) => a - b);
      if (single.length <= maxLoose) into.children.push(...single);
      else fill(newGroup("nolayer", "(no layer)", into.id), single, new Set());
    }
  };

  // The backward pass and the optimizer in groups of their own (when there
  // is something else too): a layer group holding both its forward ops and
  // their gradients would feed, and be fed by, its neighbour layers.
  const late = new Map<string, number[]>(LATE_PHASES.map((p) => [p, []]));
  const early: number[] = [];
  ops.forEach((op, i) => (late.get(op.phase ?? "") ?? early).push(i));
  const split = early.length > 0 && [...late.values()].some((l) => l.length > 0);
  if (!split) {
    byLayers(root, ops.map((_, i) => i));
  } else {
    byLayers(root, early);
    for (const [p, list] of late) {
      if (list.length > 1) byLayers(newGroup("phase", p, root.id), list);
      else root.children.push(...list);
    }
  }
  for (const g of groups) {
    const kids = g.children.filter((c) => c >= N).map((c) => groups[c - N]!);
    distinctLabels(kids.map((k) => showControls(k.label) || "(group)")).forEach((d, i) => (kids[i]!.display = d));
  }

  // ---- parents, depth of leaves, counts
  const total = N + groups.length;
  const parent = new Int32Array(total).fill(-1);
  for (const g of groups) for (const c of g.children) parent[c] = g.id;
  let origin: number | null = null;
  ops.forEach((op, i) => {
    if (op.state === "origin" && origin === null) origin = i;
    for (let p = parent[i]!; p >= 0; p = parent[p]!) {
      const g = groups[p - N]!;
      g.counts[op.state]++;
      g.size++;
    }
  });

  // ---- lift every edge to the children of its lowest common group
  const depthOf = (item: number): number => (item >= N ? groups[item - N]!.depth : groups[parent[item]! - N]!.depth + 1);
  const buckets = new Map<number, Map<number, LiftedEdge>>();
  for (const [a, b] of edges) {
    let u = a;
    let v = b;
    let du = depthOf(u);
    let dv = depthOf(v);
    while (du > dv) {
      u = parent[u]!;
      du--;
    }
    while (dv > du) {
      v = parent[v]!;
      dv--;
    }
    while (parent[u] !== parent[v]) {
      u = parent[u]!;
      v = parent[v]!;
    }
    if (u === v) continue; // one op inside the other's group: cannot happen for leaves
    const lca = parent[u]!;
    let m = buckets.get(lca);
    if (!m) buckets.set(lca, (m = new Map()));
    const key = u * total + v;
    let e = m.get(key);
    if (!e) m.set(key, (e = { from: u, to: v, count: 0, bad: 0 }));
    e.count++;
    if (isBad(ops[a]!.state) && isBad(ops[b]!.state)) e.bad++;
  }
  const groupEdges = new Map<number, LiftedEdge[]>();
  for (const [g, m] of buckets) groupEdges.set(g, [...m.values()]);

  return {
    ops,
    groups,
    root: root.id,
    parent,
    edges,
    groupEdges,
    origin,
    truncated: Boolean(graph?.truncated),
    dropped: { nodes: droppedNodes, edges: droppedEdges },
  };
}

function elide(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "…";
}

/**
 * Labels of sibling groups as drawn: at most `max` characters each, and
 * distinct. A long name keeps its last scope ("compile_loss/handwritte…/mul_1"
 * beside "compile_loss/handw…/div_no_nan"), else its end.
 */
export function distinctLabels(labels: readonly string[], max = MAX_LABEL): string[] {
  const out = labels.map((s) => {
    if (s.length <= max) return s;
    const cut = s.lastIndexOf("/");
    const tail = cut > 0 ? s.slice(cut) : "";
    return tail.length > 1 && tail.length <= max - 8 ? s.slice(0, max - 1 - tail.length) + "…" + tail : elide(s, max);
  });
  const seen = new Map<string, number>();
  for (const d of out) seen.set(d, (seen.get(d) ?? 0) + 1);
  return out.map((d, i) => {
    const s = labels[i]!;
    return (seen.get(d) ?? 0) > 1 && s.length > max ? "…" + s.slice(s.length - (max - 1)) : d;
  });
}

/** The state a group is shown in: the worst state inside it. */
export function groupState(g: Group): State {
  if (g.counts.origin > 0) return "origin";
  if (g.counts.propagated > 0) return "propagated";
  if (g.counts.finite > 0) return "finite";
  if (g.counts.variable > 0 && g.counts.input === 0) return "variable";
  if (g.counts.input > 0 && g.counts.variable === 0) return "input";
  return "finite";
}

export function itemState(m: GraphModel, item: number): State {
  return isGroup(m, item) ? groupState(group(m, item)) : m.ops[item]!.state;
}

/** Groups from the root down to (excluding) `item`. */
export function ancestors(m: GraphModel, item: number): number[] {
  const out: number[] = [];
  for (let p = m.parent[item] ?? -1; p >= 0; p = m.parent[p] ?? -1) out.push(p);
  return out.reverse();
}

/** Which groups are expanded. The root always is. */
export class Expansion {
  private readonly open = new Set<number>();
  constructor(private readonly model: GraphModel) {}

  isExpanded(item: number): boolean {
    return item === this.model.root || this.open.has(item);
  }

  /** Visible: every ancestor expanded. */
  isVisible(item: number): boolean {
    for (let p = this.model.parent[item] ?? -1; p >= 0; p = this.model.parent[p] ?? -1) {
      if (!this.isExpanded(p)) return false;
    }
    return true;
  }

  /** Returns the groups whose layout changed (item and its ancestors). */
  toggle(item: number): number[] {
    if (!isGroup(this.model, item) || item === this.model.root) return [];
    if (this.open.has(item)) this.open.delete(item);
    else this.open.add(item);
    return [item, ...ancestors(this.model, item)];
  }

  /** Expands every group above `item` so that it shows; returns the changed groups. */
  reveal(item: number): number[] {
    const changed: number[] = [];
    for (const a of ancestors(this.model, item)) {
      if (a !== this.model.root && !this.open.has(a)) {
        this.open.add(a);
        changed.push(a);
      }
    }
    return changed.length > 0 ? [...new Set([...changed, ...changed.flatMap((c) => ancestors(this.model, c))])] : [];
  }

  collapseAll(): void {
    this.open.clear();
  }

  expanded(): number[] {
    return [...this.open].sort((a, b) => a - b);
  }

  /** Restores a saved set (unknown ids are ignored). */
  restore(items: readonly number[]): void {
    this.open.clear();
    for (const i of items) if (isGroup(this.model, i) && i !== this.model.root && i < this.model.ops.length + this.model.groups.length) this.open.add(i);
  }

  /** How many items show (the root excluded). */
  visibleCount(): number {
    let n = 0;
    const walk = (g: number) => {
      for (const c of group(this.model, g).children) {
        n++;
        if (isGroup(this.model, c) && this.isExpanded(c)) walk(c);
      }
    };
    walk(this.model.root);
    return n;
  }
}

/** Neighbours of an op: [inputs, outputs] as op ids. */
export function neighbours(m: GraphModel, op: number): [number[], number[]] {
  const ins: number[] = [];
  const outs: number[] = [];
  for (const [a, b] of m.edges) {
    if (b === op) ins.push(a);
    if (a === op) outs.push(b);
  }
  return [ins, outs];
}

/** Last name segment, for labels ("model/dense/MatMul" -> "MatMul"). */
export function shortName(name: string): string {
  const s = segments(name);
  return s[s.length - 1] ?? name;
}

/** Ops whose name contains `query` (case-insensitive), at most `limit`. */
export function searchOps(m: GraphModel, query: string, limit = 50): number[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const out: number[] = [];
  for (let i = 0; i < m.ops.length && out.length < limit; i++) {
    const op = m.ops[i]!;
    if (op.name.toLowerCase().includes(q) || op.type.toLowerCase() === q) out.push(i);
  }
  return out;
}

// The Graph section: the failing step's graph (incident.graph) as SVG,
// grouped by layer and collapsed at first, laid out with dagre
// (graph_layout.ts), with pan/zoom on the viewBox and a details panel.
//
// Every name in the graph is hostile: it only ever reaches the DOM as text
// (textContent via dom.ts / svg.ts); class names come from constant tables.

import { button, clear, el, replaceChildren, section } from "./dom";
import { fmtCount, fmtNumber, fmtShape, phaseLabel, plural, showControls } from "./format";
import {
  type GraphModel,
  type State,
  Expansion,
  ancestors,
  buildModel,
  group,
  groupState,
  isGroup,
  itemState,
  neighbours,
  searchOps,
} from "./graph_model";
import { HEADER, LayoutCache, type PlacedBox, itemLabel, placeAll } from "./graph_layout";
import { offendingInputFields, offendingOutputFields } from "./highlight";
import type { StatField } from "./highlight";
import { renderSource, renderStack } from "./incident";
import { polygon, polyline, rect, setViewBox, svgEl, text, title } from "./svg";
import type { Incident, TensorStats } from "./types";

/** What the view keeps across re-renders (a refresh) for one incident. */
export interface GraphViewState {
  expanded: number[];
  selected: number | null;
  view: { x: number; y: number; w: number; h: number } | null;
}

const STATE_CLASS: Record<State, string> = {
  origin: "nt-st-origin",
  propagated: "nt-st-propagated",
  finite: "nt-st-finite",
  input: "nt-st-input",
  variable: "nt-st-variable",
};

const STATE_LABEL: Record<State, string> = {
  origin: "origin (first non-finite)",
  propagated: "propagated NaN/Inf",
  finite: "finite",
  input: "input",
  variable: "variable",
};

const VIEW_H = 560;
const MIN_READABLE_SCALE = 0.55;

function now(): number {
  return performance.now();
}

/** Graph section for the selected incident; lays out after the first paint. */
export function renderGraphSection(inc: Incident | null, states: Map<string, GraphViewState>, key: string): HTMLElement {
  const body = el("div", "nt-graph-body");
  const sec = section("nt-graph", "Graph of the failing step", body);
  if (!inc) {
    body.appendChild(el("p", "nt-muted", "No incident in this run, so no failing step to show."));
    return sec;
  }
  const graph = inc.graph;
  if (!graph || !Array.isArray(graph.nodes) || graph.nodes.length === 0) {
    body.appendChild(
      el(
        "p",
        "nt-muted",
        graph === undefined
          ? "This incident was recorded without its graph (a recorder older than the graph capture)."
          : "No graph was recorded for this incident (eager op, or the recorder could not capture it).",
      ),
    );
    return sec;
  }
  body.appendChild(el("p", "nt-muted nt-graph-loading", `Laying out ${plural(graph.nodes.length, "op")}…`));
  // Let the origin panel paint first; the graph follows.
  requestAnimationFrame(() =>
    setTimeout(() => {
      if (!sec.isConnected) return;
      try {
        const view = new GraphView(inc, states, key, now());
        replaceChildren(body, view.element);
        view.firstDraw();
      } catch (e) {
        replaceChildren(body, el("p", "nt-error", `Could not draw the graph: ${e instanceof Error ? e.message : String(e)}`));
      }
    }, 0),
  );
  return sec;
}

class GraphView {
  readonly element: HTMLElement;
  private readonly model: GraphModel;
  private readonly expansion: Expansion;
  private readonly cache: LayoutCache;
  private readonly svg: SVGSVGElement;
  private readonly content: SVGGElement;
  private readonly viewport: HTMLElement;
  private readonly details: HTMLElement;
  private readonly status: HTMLElement;
  private readonly searchBox: HTMLInputElement;
  private readonly itemOf = new WeakMap<Element, number>();
  private boxes = new Map<number, PlacedBox>();
  private selected: number | null = null;
  private vb = { x: 0, y: 0, w: 800, h: VIEW_H };
  private size = { w: 0, h: 0 };
  private searchHits: number[] = [];
  private searchAt = 0;
  private readonly state: GraphViewState;

  constructor(
    private readonly inc: Incident,
    states: Map<string, GraphViewState>,
    key: string,
    private readonly t0: number,
  ) {
    performance.mark("nantrace-graph-start");
    this.model = buildModel(inc.graph);
    this.expansion = new Expansion(this.model);
    this.cache = new LayoutCache(this.model, this.expansion);
    let state = states.get(key);
    if (!state) {
      state = { expanded: [], selected: null, view: null };
      states.set(key, state);
    }
    this.state = state;
    this.expansion.restore(state.expanded);
    this.selected = state.selected;

    this.svg = svgEl("svg", "nt-graph-svg");
    this.content = svgEl("g", "nt-graph-content");
    this.svg.appendChild(this.content);
    this.viewport = el("div", "nt-graph-viewport", this.svg);
    this.details = el("div", "nt-graph-details");
    this.status = el("span", "nt-graph-status nt-muted");
    this.searchBox = el("input", "nt-filter nt-graph-search");
    this.searchBox.type = "search";
    this.searchBox.placeholder = "Find op (Enter)";
    this.searchBox.ariaLabel = "Find op by name or type";
    this.searchBox.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        this.search();
      }
    });

    const m = this.model;
    const root = group(m, m.root);
    const layers = m.groups.filter((g) => g.kind === "layer").length;
    const bad = root.counts.propagated + root.counts.origin;
    const toolbar = el(
      "div",
      "nt-graph-toolbar",
      m.origin !== null ? button("nt-btn-accent", "Show origin", () => this.reveal(m.origin!, true)) : null,
      button(null, "Collapse all", () => this.collapseAll()),
      button(null, "Fit", () => this.fit()),
      button(null, "−", () => this.zoomBy(1.25)),
      button(null, "+", () => this.zoomBy(0.8)),
      this.searchBox,
      this.status,
    );
    const legend = el(
      "div",
      "nt-graph-legend",
      (["origin", "propagated", "finite", "input", "variable"] as State[]).map((s) =>
        el("span", "nt-legend-item", el("span", `nt-swatch ${STATE_CLASS[s]}`), STATE_LABEL[s]),
      ),
      el("span", "nt-legend-item", el("span", "nt-swatch nt-swatch-group"), "layer group (click to expand)"),
    );
    this.element = el(
      "div",
      "nt-graph-view",
      el(
        "p",
        "nt-graph-summary",
        `${plural(m.ops.length, "op")}, ${plural(m.edges.length, "edge")}, ${plural(layers, "layer")}; `,
        el("span", bad > 0 ? "nt-bad-text" : null, `${fmtCount(bad)} non-finite`),
        ` (${fmtCount(root.counts.origin)} origin, ${fmtCount(root.counts.propagated)} propagated).`,
      ),
      m.truncated ? el("p", "nt-note", "The recorder capped this graph: only part of the step's ops are shown.") : null,
      m.dropped.nodes + m.dropped.edges > 0
        ? el("p", "nt-note", `Skipped ${plural(m.dropped.nodes, "malformed or duplicate node")} and ${plural(m.dropped.edges, "edge")} to unknown nodes.`)
        : null,
      toolbar,
      legend,
      el("div", "nt-graph-main", this.viewport, this.details),
    );
    this.installPanZoom();
    this.svg.addEventListener("click", (ev) => this.onClick(ev));
    this.svg.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      const item = ev.target instanceof Element ? this.itemOf.get(ev.target) : undefined;
      if (item === undefined) return;
      ev.preventDefault();
      this.activate(item, (ev.target as Element).classList.contains("nt-gx-head"));
      this.focusItem(item);
    });
  }

  firstDraw(): void {
    this.measure();
    this.draw();
    if (this.state.view) {
      this.vb = { ...this.state.view };
      this.applyView();
    } else {
      this.initialView();
    }
    this.showDetails();
    this.svg.classList.add("nt-graph-ready");
    performance.mark("nantrace-graph-ready");
    try {
      performance.measure("nantrace-graph", "nantrace-graph-start", "nantrace-graph-ready");
    } catch {
      // Marks cleared by someone else: timing is a nicety.
    }
    this.status.textContent = `laid out in ${Math.round(now() - this.t0)} ms`;
  }

  private measure(): void {
    const w = this.viewport.clientWidth || 800;
    const h = this.viewport.clientHeight || VIEW_H;
    this.size = { w, h };
  }

  // ------------------------------------------------------------ drawing

  private draw(): void {
    const start = now();
    const placed = placeAll(this.model, this.cache);
    clear(this.content);
    this.boxes = new Map(placed.boxes.map((b) => [b.item, b]));
    this.extent = { w: placed.width, h: placed.height };
    const groupsLayer = svgEl("g", "nt-layer-groups");
    const edgesLayer = svgEl("g", "nt-layer-edges");
    const nodesLayer = svgEl("g", "nt-layer-nodes");
    for (const b of placed.boxes) {
      if (b.expanded) groupsLayer.appendChild(this.drawExpanded(b));
      else nodesLayer.appendChild(this.drawItem(b));
    }
    const sel = this.selected;
    for (const e of placed.edges) {
      if (e.points.length < 2) continue;
      // Edges of an extracted hub only show while it or its partner is selected.
      if (e.hub && e.from !== sel && e.to !== sel) continue;
      const cls =
        "nt-ge" +
        (e.bad > 0 ? " nt-ge-bad" : "") +
        (e.hub ? " nt-ge-hub" : "") +
        (e.count >= 10 ? " nt-ge-w3" : e.count > 1 ? " nt-ge-w2" : "");
      const g = svgEl("g", cls);
      g.appendChild(polyline("nt-ge-line", e.points, e.dx, e.dy));
      const a = e.points[e.points.length - 2]!;
      const b = e.points[e.points.length - 1]!;
      g.appendChild(polygon("nt-ge-arrow", arrowHead(a.x + e.dx, a.y + e.dy, b.x + e.dx, b.y + e.dy)));
      if (e.count > 1) g.appendChild(title(`${fmtCount(e.count)} edges${e.bad > 0 ? `, ${fmtCount(e.bad)} carrying NaN/Inf` : ""}`));
      edgesLayer.appendChild(g);
    }
    this.content.append(groupsLayer, edgesLayer, nodesLayer);
    this.state.expanded = this.expansion.expanded();
    this.lastDrawMs = now() - start;
  }

  private lastDrawMs = 0;
  /** Size of the whole drawing (boxes and edge routes), from (0, 0). */
  private extent = { w: 0, h: 0 };

  private drawItem(b: PlacedBox): SVGGElement {
    const m = this.model;
    const grp = isGroup(m, b.item);
    const st = itemState(m, b.item);
    const g = svgEl("g", `nt-gn ${STATE_CLASS[st]}${grp ? " nt-gn-group" : ""}${b.hub ? " nt-gn-hub" : ""}${b.item === this.selected ? " nt-gn-selected" : ""}`);
    if (grp) g.appendChild(rect("nt-gn-shadow", b.x + 3, b.y + 3, b.w, b.h, 6));
    g.appendChild(rect("nt-gn-box", b.x, b.y, b.w, b.h, grp ? 6 : 4));
    const [l1, l2] = itemLabel(m, b.item);
    g.appendChild(text("nt-gn-t1", b.x + b.w / 2, b.y + (grp ? 18 : 15), grp ? `▸ ${l1}` : l1));
    g.appendChild(text("nt-gn-t2", b.x + b.w / 2, b.y + (grp ? 34 : 28), l2));
    g.appendChild(title(this.tooltip(b.item) + (b.hub ? `\nConnected to many others (${fmtCount(b.hub)} edges): select it to show them.` : "")));
    if (b.hub) g.appendChild(text("nt-gn-hubmark", b.x + b.w - 6, b.y + 11, "⋯"));
    g.tabIndex = 0; // keyboard: Tab to a box, Enter to open/select it
    this.itemOf.set(g, b.item);
    return g;
  }

  private drawExpanded(b: PlacedBox): SVGGElement {
    const m = this.model;
    const grp = group(m, b.item);
    const st = groupState(grp);
    const g = svgEl("g", `nt-gx ${STATE_CLASS[st]}${b.item === this.selected ? " nt-gn-selected" : ""}`);
    g.appendChild(rect("nt-gx-box", b.x, b.y, b.w, b.h, 8));
    const head = svgEl("g", "nt-gx-head");
    head.appendChild(rect("nt-gx-headbox", b.x, b.y, b.w, HEADER - 4, 8));
    const [l1, l2] = itemLabel(m, b.item);
    head.appendChild(text("nt-gx-t", b.x + 10, b.y + 15, `▾ ${l1} · ${l2}`));
    head.appendChild(title(`${this.tooltip(b.item)}\nClick to collapse.`));
    head.tabIndex = 0;
    this.itemOf.set(head, b.item);
    g.appendChild(head);
    return g;
  }

  /** After a redraw, focus the (new) element of `item`. */
  private focusItem(item: number): void {
    for (const g of this.content.querySelectorAll(".nt-gn, .nt-gx-head")) {
      if (this.itemOf.get(g) === item) {
        (g as SVGGElement).focus({ preventScroll: true });
        return;
      }
    }
  }

  private tooltip(item: number): string {
    const m = this.model;
    if (isGroup(m, item)) {
      const g = group(m, item);
      return `${kindLabel(g.kind)} ${showControls(g.label)}: ${plural(g.size, "op")}`;
    }
    const op = m.ops[item]!;
    return `${showControls(op.type)} ${showControls(op.name)}`;
  }

  // ------------------------------------------------------------ interaction

  private onClick(ev: MouseEvent): void {
    if (this.dragged) return;
    let t = ev.target as Element | null;
    while (t && t !== this.svg) {
      const item = this.itemOf.get(t);
      if (item !== undefined) {
        this.activate(item, t.classList.contains("nt-gx-head"));
        return;
      }
      t = t.parentElement;
    }
  }

  /** Click on an item: select it; a group also toggles. */
  private activate(item: number, header: boolean): void {
    this.selected = item;
    this.state.selected = item;
    if (isGroup(this.model, item) || header) {
      this.toggle(item);
    } else {
      this.redrawKeeping(item);
    }
    this.showDetails();
  }

  private toggle(item: number): void {
    const changed = this.expansion.toggle(item);
    this.cache.invalidate(changed);
    this.redrawKeeping(item);
    this.status.textContent = `${fmtCount(this.expansion.visibleCount())} boxes shown · laid out and drawn in ${Math.round(this.lastDrawMs)} ms`;
  }

  /** Redraws, shifting the view so that `anchor` stays where it was on screen. */
  private redrawKeeping(anchor: number): void {
    const before = this.boxes.get(anchor);
    this.draw();
    const after = this.boxes.get(anchor);
    if (before && after) {
      this.vb.x += after.x - before.x;
      this.vb.y += after.y - before.y;
    }
    this.applyView();
  }

  private collapseAll(): void {
    this.expansion.collapseAll();
    this.cache.clear();
    this.draw();
    this.fit();
  }

  /** Expands the groups above `item`, selects it and centres on it. */
  private reveal(item: number, select: boolean): void {
    const changed = this.expansion.reveal(item);
    if (changed.length > 0) {
      this.cache.invalidate(changed);
      this.draw();
    } else {
      this.draw(); // selection class
    }
    if (select) {
      this.selected = item;
      this.state.selected = item;
      this.draw();
    }
    this.centreOn(item, Math.max(this.scale(), 0.9));
    this.showDetails();
  }

  private search(): void {
    const q = this.searchBox.value;
    if (this.searchHits.length === 0 || this.searchQuery !== q) {
      this.searchQuery = q;
      this.searchHits = searchOps(this.model, q);
      this.searchAt = 0;
    } else {
      this.searchAt = (this.searchAt + 1) % this.searchHits.length;
    }
    const hit = this.searchHits[this.searchAt];
    if (hit === undefined) {
      this.status.textContent = q.trim() ? "no op matches" : "";
      return;
    }
    this.status.textContent = `match ${this.searchAt + 1} of ${this.searchHits.length}${this.searchHits.length >= 50 ? "+" : ""} (Enter: next)`;
    this.reveal(hit, true);
  }

  private searchQuery = "";

  // ------------------------------------------------------------ view box

  private scale(): number {
    return this.size.w / this.vb.w;
  }

  private applyView(): void {
    setViewBox(this.svg, this.vb.x, this.vb.y, this.vb.w, this.vb.h);
    this.state.view = { ...this.vb };
  }

  private fit(): void {
    this.measure();
    const margin = 20;
    const minX = 0;
    const minY = 0;
    const maxX = Math.max(100, this.extent.w);
    const maxY = Math.max(100, this.extent.h);
    const w = maxX - minX + 2 * margin;
    const h = maxY - minY + 2 * margin;
    const s = Math.min(this.size.w / w, this.size.h / h, 1.2);
    this.vb = {
      w: this.size.w / s,
      h: this.size.h / s,
      x: minX - margin - (this.size.w / s - w) / 2,
      y: minY - margin - (this.size.h / s - h) / 2,
    };
    this.applyView();
  }

  /** Fit when that stays readable; else centre on the origin's box (or the top). */
  private initialView(): void {
    this.fit();
    if (this.scale() >= MIN_READABLE_SCALE) return;
    const m = this.model;
    const target = m.origin !== null ? [m.origin, ...ancestors(m, m.origin).reverse()].find((i) => this.boxes.has(i)) : undefined;
    if (target !== undefined) this.centreOn(target, 0.9);
    else {
      const s = 0.9;
      this.vb = { x: this.vb.x + this.vb.w / 2 - this.size.w / s / 2, y: -20, w: this.size.w / s, h: this.size.h / s };
      this.applyView();
    }
  }

  private centreOn(item: number, s: number): void {
    this.measure();
    const b = this.boxes.get(item);
    if (!b) return;
    const w = this.size.w / s;
    const h = this.size.h / s;
    this.vb = { x: b.x + b.w / 2 - w / 2, y: b.y + b.h / 2 - h / 2, w, h };
    this.applyView();
  }

  private zoomBy(f: number, cx?: number, cy?: number): void {
    this.measure();
    const x = cx ?? this.vb.x + this.vb.w / 2;
    const y = cy ?? this.vb.y + this.vb.h / 2;
    const s = this.size.w / (this.vb.w * f);
    if (s < 0.02 || s > 4) return;
    this.vb = { x: x - (x - this.vb.x) * f, y: y - (y - this.vb.y) * f, w: this.vb.w * f, h: this.vb.h * f };
    this.applyView();
  }

  private dragged = false;

  private installPanZoom(): void {
    this.svg.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        const r = this.svg.getBoundingClientRect();
        const px = this.vb.x + ((ev.clientX - r.left) / (r.width || 1)) * this.vb.w;
        const py = this.vb.y + ((ev.clientY - r.top) / (r.height || 1)) * this.vb.h;
        const delta = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
        this.zoomBy(Math.exp(Math.max(-1, Math.min(1, delta * 0.0015))), px, py);
      },
      { passive: false },
    );
    let start: { x: number; y: number; vx: number; vy: number; id: number } | null = null;
    this.svg.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      start = { x: ev.clientX, y: ev.clientY, vx: this.vb.x, vy: this.vb.y, id: ev.pointerId };
      this.dragged = false;
    });
    this.svg.addEventListener("pointermove", (ev) => {
      if (!start || ev.pointerId !== start.id) return;
      const dx = ev.clientX - start.x;
      const dy = ev.clientY - start.y;
      if (!this.dragged && Math.hypot(dx, dy) < 4) return;
      if (!this.dragged) {
        this.dragged = true;
        this.svg.setPointerCapture(ev.pointerId);
        this.svg.classList.add("nt-dragging");
      }
      const k = this.vb.w / (this.svg.clientWidth || this.size.w || 1);
      this.vb.x = start.vx - dx * k;
      this.vb.y = start.vy - dy * k;
      this.applyView();
    });
    const end = (ev: PointerEvent) => {
      if (!start || ev.pointerId !== start.id) return;
      start = null;
      this.svg.classList.remove("nt-dragging");
      // The click that follows a drag is not a click on a node.
      if (this.dragged) setTimeout(() => (this.dragged = false), 0);
    };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
    // Keep the scale when the viewport resizes (an observer, not a window
    // listener: it goes away with the element when the view is replaced).
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => {
        const old = this.size;
        this.measure();
        if (old.w > 0 && old.h > 0 && (old.w !== this.size.w || old.h !== this.size.h)) {
          this.vb.w *= this.size.w / old.w;
          this.vb.h *= this.size.h / old.h;
          this.applyView();
        }
      }).observe(this.viewport);
    }
  }

  // ------------------------------------------------------------ details

  private showDetails(): void {
    const m = this.model;
    const item = this.selected;
    if (item === null || item >= m.ops.length + m.groups.length) {
      replaceChildren(
        this.details,
        el("h3", null, "Details"),
        el("p", "nt-muted", "Click a layer to expand it, an op to see its details. Drag to pan, wheel to zoom."),
        m.origin !== null ? el("p", null, "The origin op is in ", el("code", null, originPath(m)), ".") : null,
      );
      return;
    }
    if (isGroup(m, item)) {
      const g = group(m, item);
      const badOps: number[] = [];
      const collect = (gid: number) => {
        for (const c of group(m, gid).children) {
          if (isGroup(m, c)) collect(c);
          else if (m.ops[c]!.state === "origin" || m.ops[c]!.state === "propagated") badOps.push(c);
        }
      };
      collect(item);
      badOps.sort((a, b) => (m.ops[a]!.state === "origin" ? -1 : 0) - (m.ops[b]!.state === "origin" ? -1 : 0) || a - b);
      replaceChildren(
        this.details,
        el("h3", null, kindLabel(g.kind)),
        el("p", "nt-graph-name", el("code", null, showControls(g.label) || "(group)")),
        el(
          "dl",
          "nt-fields",
          el("dt", null, "ops"),
          el("dd", null, fmtCount(g.size)),
          (["origin", "propagated", "finite", "input", "variable"] as State[])
            .filter((s) => g.counts[s] > 0)
            .map((s) => [el("dt", null, s), el("dd", null, el("span", `nt-state ${STATE_CLASS[s]}`, fmtCount(g.counts[s])))]),
        ),
        button(null, this.expansion.isExpanded(item) ? "Collapse" : "Expand", () => this.toggle(item)),
        badOps.length > 0 ? [el("h4", null, "Non-finite ops inside"), this.opList(badOps.slice(0, 30), badOps.length)] : null,
      );
      return;
    }
    const op = m.ops[item]!;
    const [ins, outs] = neighbours(m, item);
    const isOrigin = op.state === "origin";
    replaceChildren(
      this.details,
      el("h3", null, isOrigin ? "Origin op" : "Op"),
      el(
        "dl",
        "nt-fields",
        el("dt", null, "type"),
        el("dd", null, el("code", null, showControls(op.type))),
        el("dt", null, "name"),
        el("dd", null, el("code", null, showControls(op.name))),
        el("dt", null, "layer"),
        el("dd", null, op.layer ? el("code", null, showControls(op.layer)) : el("span", "nt-muted", "—")),
        el("dt", null, "phase"),
        el("dd", null, phaseLabel(op.phase ?? "other")),
        el("dt", null, "state"),
        el("dd", null, el("span", `nt-state ${STATE_CLASS[op.state]}`, STATE_LABEL[op.state])),
      ),
      isOrigin ? this.originDetails() : null,
      ins.length > 0 ? [el("h4", null, `Inputs (${fmtCount(ins.length)})`), this.opList(ins.slice(0, 30), ins.length)] : null,
      outs.length > 0 ? [el("h4", null, `Outputs (${fmtCount(outs.length)})`), this.opList(outs.slice(0, 30), outs.length)] : null,
    );
  }

  private originDetails(): HTMLElement {
    const inc = this.inc;
    const inputs = Array.isArray(inc.inputs) ? inc.inputs : [];
    const outputs = Array.isArray(inc.outputs) ? inc.outputs : [];
    return el(
      "div",
      "nt-graph-origin",
      el("h4", null, "Input stats"),
      inputs.length > 0 ? compactStats(inputs, offendingInputFields(inc.op?.type, inputs)) : el("p", "nt-muted", "None recorded."),
      outputs.length > 0 ? [el("h4", null, "Output stats"), compactStats(outputs, offendingOutputFields(outputs))] : null,
      inc.source ? [el("h4", null, "Source"), renderSource(inc.source)] : null,
      renderStack(inc.stack),
    );
  }

  private opList(items: number[], total: number): HTMLElement {
    const m = this.model;
    return el(
      "ul",
      "nt-graph-oplist",
      items.map((i) => {
        const op = m.ops[i]!;
        return el(
          "li",
          null,
          el("span", `nt-dot ${STATE_CLASS[op.state]}`),
          button("nt-linkish", [el("code", null, showControls(op.type)), " ", el("span", "nt-muted", showControls(op.name))], () => this.reveal(i, true)),
        );
      }),
      total > items.length ? el("li", "nt-muted", `… and ${fmtCount(total - items.length)} more`) : null,
    );
  }
}

/** Tensor stats for the narrow details panel: one small block per tensor. */
function compactStats(stats: TensorStats[], marks: Set<StatField>[]): HTMLElement {
  return el(
    "div",
    "nt-cstats",
    stats.map((s, i) => {
      const m = marks[i] ?? new Set<StatField>();
      const cell = (f: StatField, label: string, v: string) => [
        el("dt", null, label),
        el("dd", m.has(f) ? "nt-num nt-bad" : "nt-num", v),
      ];
      return el(
        "div",
        "nt-cstat",
        el("div", null, el("code", null, showControls(s.name) || "—")),
        el("div", "nt-muted", `${s.dtype || "?"} ${fmtShape(s.shape)}`),
        el(
          "dl",
          "nt-cstat-grid",
          cell("min", "min", fmtNumber(s.min)),
          cell("max", "max", fmtNumber(s.max)),
          cell("nan", "NaN", fmtCount(s.nan)),
          cell("inf", "Inf", fmtCount(s.inf)),
          cell("zeros", "zeros", fmtCount(s.zeros)),
        ),
      );
    }),
  );
}

function kindLabel(kind: string): string {
  switch (kind) {
    case "layer":
      return "Layer";
    case "phase":
      return "Phase";
    case "scope":
      return "Name scope";
    case "part":
      return "Part";
    case "nolayer":
      return "Ops outside layers";
    default:
      return "Group";
  }
}

function originPath(m: GraphModel): string {
  if (m.origin === null) return "";
  const path = ancestors(m, m.origin)
    .filter((a) => a !== m.root)
    .map((a) => showControls(group(m, a).label));
  return [...path, showControls(m.ops[m.origin]!.type)].join(" › ");
}

/** A small triangle pointing from (ax, ay) to (bx, by), tip at b. */
function arrowHead(ax: number, ay: number, bx: number, by: number): { x: number; y: number }[] {
  const dx = bx - ax;
  const dy = by - ay;
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len;
  const uy = dy / len;
  const size = 7;
  const half = 3.5;
  const baseX = bx - ux * size;
  const baseY = by - uy * size;
  return [
    { x: bx, y: by },
    { x: baseX - uy * half, y: baseY + ux * half },
    { x: baseX + uy * half, y: baseY - ux * half },
  ];
}

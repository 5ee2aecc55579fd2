// The Graph section: the failing step's graph (incident.graph) as SVG,
// grouped by layer and collapsed at first, laid out with dagre
// (graph_layout.ts). GraphView draws it and handles clicks, expansion and
// search; it composes the pan/zoom of the viewBox (pan_zoom.ts) and the
// details panel (graph_details.ts).
//
// Every name in the graph is hostile: it only ever reaches the DOM as text
// (textContent via dom.ts / svg.ts); class names come from constant tables.

import { button, clear, el, replaceChildren, section } from "./dom";
import { fmtCount, plural, showControls } from "./format";
import { GraphDetails } from "./graph_details";
import { STATES, STATE_CLASS, STATE_LABEL, groupKindLabel } from "./graph_labels";
import { type GraphModel, Expansion, ancestors, buildModel, group, groupState, isGroup, itemState, searchOps } from "./graph_model";
import { HEADER, LayoutCache, type PlacedBox, itemLabel, placeAll } from "./graph_layout";
import { PanZoom, type ViewBox } from "./pan_zoom";
import { polygon, polyline, rect, svgEl, text, title } from "./svg";
import type { Incident } from "./types";

/** What the view keeps across re-renders (a refresh) for one incident. */
export interface GraphViewState {
  expanded: number[];
  selected: number | null;
  view: ViewBox | null;
}

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
  private readonly panZoom: PanZoom;
  private readonly details: GraphDetails;
  private readonly status: HTMLElement;
  private readonly searchBox: HTMLInputElement;
  private readonly itemOf = new WeakMap<Element, number>();
  private boxes = new Map<number, PlacedBox>();
  private selected: number | null = null;
  private searchHits: number[] = [];
  private searchAt = 0;
  private readonly state: GraphViewState;

  constructor(
    inc: Incident,
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
    this.panZoom = new PanZoom(this.svg, this.viewport, (vb) => (this.state.view = vb));
    this.details = new GraphDetails(inc, this.model, this.expansion, {
      toggle: (item) => this.toggle(item),
      reveal: (item) => this.reveal(item, true),
    });
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
      button(null, "−", () => this.panZoom.zoomBy(1.25)),
      button(null, "+", () => this.panZoom.zoomBy(0.8)),
      this.searchBox,
      this.status,
    );
    const legend = el(
      "div",
      "nt-graph-legend",
      STATES.map((s) =>
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
      el("div", "nt-graph-main", this.viewport, this.details.element),
    );
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
    this.panZoom.measure();
    this.draw();
    if (this.state.view) this.panZoom.restore(this.state.view);
    else this.initialView();
    this.details.show(this.selected);
    this.svg.classList.add("nt-graph-ready");
    performance.mark("nantrace-graph-ready");
    try {
      performance.measure("nantrace-graph", "nantrace-graph-start", "nantrace-graph-ready");
    } catch {
      // Marks cleared by someone else: timing is a nicety.
    }
    this.status.textContent = `laid out in ${Math.round(now() - this.t0)} ms`;
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
      return `${groupKindLabel(g.kind)} ${showControls(g.label)}: ${plural(g.size, "op")}`;
    }
    const op = m.ops[item]!;
    return `${showControls(op.type)} ${showControls(op.name)}`;
  }

  // ------------------------------------------------------------ interaction

  private onClick(ev: MouseEvent): void {
    if (this.panZoom.dragged) return;
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
    this.details.show(this.selected);
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
    const [dx, dy] = before && after ? [after.x - before.x, after.y - before.y] : [0, 0];
    this.panZoom.shift(dx, dy);
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
    this.panZoom.centreOn(this.boxes.get(item), Math.max(this.panZoom.scale(), 0.9));
    this.details.show(this.selected);
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

  private fit(): void {
    this.panZoom.fit(this.extent);
  }

  /** Fit when that stays readable; else centre on the origin's box (or the top). */
  private initialView(): void {
    this.fit();
    if (this.panZoom.scale() >= MIN_READABLE_SCALE) return;
    const m = this.model;
    const target = m.origin !== null ? [m.origin, ...ancestors(m, m.origin).reverse()].find((i) => this.boxes.has(i)) : undefined;
    if (target !== undefined) this.panZoom.centreOn(this.boxes.get(target), 0.9);
    else this.panZoom.top(0.9);
  }
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

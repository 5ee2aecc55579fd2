// The graph's details panel: what is selected (nothing, a group, an op, the
// origin op with its tensor stats, source and stack), with buttons that
// expand a group or jump to a listed op. Names reach the DOM as text only.

import { button, el, replaceChildren } from "./dom";
import { fmtCount, fmtNumber, fmtShape, phaseLabel, showControls } from "./format";
import { STATES, STATE_CLASS, STATE_LABEL, groupKindLabel } from "./graph_labels";
import { type Expansion, type GraphModel, ancestors, group, isGroup, neighbours } from "./graph_model";
import { type StatField, offendingInputFields, offendingOutputFields } from "./highlight";
import { renderSource, renderStack } from "./incident";
import type { Incident, TensorStats } from "./types";

/** What the panel's buttons ask the graph to do. */
export interface DetailsActions {
  /** Expand or collapse a group. */
  toggle(item: number): void;
  /** Select an op and centre on it (expanding the groups above it). */
  reveal(item: number): void;
}

const LIST_MAX = 30;

export class GraphDetails {
  readonly element: HTMLElement = el("div", "nt-graph-details");

  constructor(
    private readonly inc: Incident,
    private readonly model: GraphModel,
    private readonly expansion: Expansion,
    private readonly actions: DetailsActions,
  ) {}

  /** Shows the details of `item` (a group or an op), or the hint when none. */
  show(item: number | null): void {
    const m = this.model;
    if (item === null || item >= m.ops.length + m.groups.length) this.showHint();
    else if (isGroup(m, item)) this.showGroup(item);
    else this.showOp(item);
  }

  private showHint(): void {
    const m = this.model;
    replaceChildren(
      this.element,
      el("h3", null, "Details"),
      el("p", "nt-muted", "Click a layer to expand it, an op to see its details. Drag to pan, wheel to zoom."),
      m.origin !== null ? el("p", null, "The origin op is in ", el("code", null, originPath(m)), ".") : null,
    );
  }

  private showGroup(item: number): void {
    const m = this.model;
    const g = group(m, item);
    const badOps = nonFiniteOps(m, item);
    replaceChildren(
      this.element,
      el("h3", null, groupKindLabel(g.kind)),
      el("p", "nt-graph-name", el("code", null, showControls(g.label) || "(group)")),
      el(
        "dl",
        "nt-fields",
        el("dt", null, "ops"),
        el("dd", null, fmtCount(g.size)),
        STATES.filter((s) => g.counts[s] > 0).map((s) => [el("dt", null, s), el("dd", null, el("span", `nt-state ${STATE_CLASS[s]}`, fmtCount(g.counts[s])))]),
      ),
      button(null, this.expansion.isExpanded(item) ? "Collapse" : "Expand", () => this.actions.toggle(item)),
      badOps.length > 0 ? [el("h4", null, "Non-finite ops inside"), this.opList(badOps)] : null,
    );
  }

  private showOp(item: number): void {
    const m = this.model;
    const op = m.ops[item]!;
    const [ins, outs] = neighbours(m, item);
    const isOrigin = op.state === "origin";
    replaceChildren(
      this.element,
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
      ins.length > 0 ? [el("h4", null, `Inputs (${fmtCount(ins.length)})`), this.opList(ins)] : null,
      outs.length > 0 ? [el("h4", null, `Outputs (${fmtCount(outs.length)})`), this.opList(outs)] : null,
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

  /** The first LIST_MAX of `all` as buttons that reveal the op, then a count of the rest. */
  private opList(all: number[]): HTMLElement {
    const m = this.model;
    const items = all.slice(0, LIST_MAX);
    return el(
      "ul",
      "nt-graph-oplist",
      items.map((i) => {
        const op = m.ops[i]!;
        return el(
          "li",
          null,
          el("span", `nt-dot ${STATE_CLASS[op.state]}`),
          button("nt-linkish", [el("code", null, showControls(op.type)), " ", el("span", "nt-muted", showControls(op.name))], () => this.actions.reveal(i)),
        );
      }),
      all.length > items.length ? el("li", "nt-muted", `… and ${fmtCount(all.length - items.length)} more`) : null,
    );
  }
}

/** The origin and propagated ops under group `gid`, the origin first. */
function nonFiniteOps(m: GraphModel, gid: number): number[] {
  const badOps: number[] = [];
  const collect = (g: number) => {
    for (const c of group(m, g).children) {
      if (isGroup(m, c)) collect(c);
      else if (m.ops[c]!.state === "origin" || m.ops[c]!.state === "propagated") badOps.push(c);
    }
  };
  collect(gid);
  badOps.sort((a, b) => (m.ops[a]!.state === "origin" ? -1 : 0) - (m.ops[b]!.state === "origin" ? -1 : 0) || a - b);
  return badOps;
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

/** "layer › scope › OpType" of the origin op. */
function originPath(m: GraphModel): string {
  if (m.origin === null) return "";
  const path = ancestors(m, m.origin)
    .filter((a) => a !== m.root)
    .map((a) => showControls(group(m, a).label));
  return [...path, showControls(m.ops[m.origin]!.type)].join(" › ");
}

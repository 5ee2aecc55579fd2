// Rendering of one incident: headline, fields, source, tensor stats, diagnosis.

import { warningLeadText } from "./analysis";
import { renderAnalysis } from "./analysis_view";
import { button, el, type Child } from "./dom";
import {
  MISSING,
  fileLine,
  fmtCount,
  fmtInputLocation,
  fmtNumber,
  fmtShape,
  fmtTime,
  headlineParts,
  kindLabel,
  phaseLabel,
  plural,
  showControls,
  splitControls,
} from "./format";
import { offendingInputFields, offendingOutputFields, type StatField } from "./highlight";
import type { Incident, StackFrame, TensorStats, Warning } from "./types";
import { contributingWarnings, otherWarningsBefore } from "./warnings";

/** Value cell of a field: data as text, or a muted dash when absent. */
function value(v: string | null | undefined, code = false): HTMLElement {
  if (v === null || v === undefined || v === "") return el("span", "nt-muted", MISSING);
  return el(code ? "code" : "span", "nt-value", v);
}

function field(label: string, v: Child | Child[]): HTMLElement[] {
  return [el("dt", null, label), el("dd", null, v)];
}

/** The headline sentence, with names and numbers set off. */
export function renderHeadline(inc: Incident, first: boolean): HTMLElement {
  const p = el("p", "nt-headline");
  for (const part of headlineParts(inc, first)) {
    p.appendChild(part.emph ? el("strong", null, part.text) : document.createTextNode(part.text));
  }
  return p;
}

function renderFields(inc: Incident): HTMLElement {
  const src = inc.source;
  const dl = el(
    "dl",
    "nt-fields",
    field("Op type", value(inc.op?.type, true)),
    field("Op name", value(inc.op?.name, true)),
    field("Layer", value(inc.layer, true)),
    field("Variable", value(inc.variable, true)),
    field("Step", value(fmtCount(inc.step))),
    field("Phase", el("span", `nt-phase nt-phase-${phaseClass(inc.phase)}`, phaseLabel(inc.phase))),
    field("Kind", el("span", "nt-kind", kindLabel(inc.kind))),
    field("Location", value(src ? fileLine(src.file, src.line) : null, true)),
  );
  if (src?.function) dl.append(...field("Function", value(src.function, true)));
  if (inc.input_location) dl.append(...field("Input element", value(fmtInputLocation(inc.input_location), true)));
  if (inc.replica !== null && inc.replica !== undefined) dl.append(...field("Replica", value(String(inc.replica))));
  if (inc.mode) dl.append(...field("Mode", value(inc.mode)));
  if (inc.wall_time) dl.append(...field("Recorded", value(fmtTime(inc.wall_time))));
  return dl;
}

/** CSS class suffix for a phase; unknown (data) phases map to a constant. */
export function phaseClass(phase: string | null | undefined): string {
  switch (phase) {
    case "input":
    case "forward":
    case "backward":
    case "optimizer":
      return phase;
    default:
      return "other";
  }
}

/**
 * Source text with invisible/bidi control characters made visible as
 * "<U+202E>" (a "Trojan Source" line must not read differently than it runs).
 */
function codeText(text: string): Child[] {
  return splitControls(text).map((piece) =>
    piece.control ? el("span", "nt-ctrl", piece.text) : piece.text,
  );
}

/** Source lines with numbers; the failing line is highlighted. */
export function renderCode(frame: StackFrame): HTMLElement {
  const box = el("div", "nt-code");
  const context = Array.isArray(frame.context) ? frame.context : [];
  const start = typeof frame.context_start === "number" ? frame.context_start : 0;
  const covers = context.length > 0 && start > 0 && frame.line >= start && frame.line < start + context.length;
  const rows: [number, string][] = covers
    ? context.map((text, i) => [start + i, text])
    : [[frame.line, frame.code ?? ""]];
  for (const [lineNo, text] of rows) {
    const hit = lineNo === frame.line;
    box.appendChild(
      el(
        "div",
        hit ? "nt-line nt-line-hit" : "nt-line",
        el("span", "nt-lineno", lineNo > 0 ? String(lineNo) : ""),
        el("span", "nt-linetext", codeText(text.replace(/\s+$/, "") || " ")),
      ),
    );
  }
  return box;
}

export function renderSource(frame: StackFrame): HTMLElement {
  return el(
    "div",
    "nt-source",
    el(
      "div",
      "nt-source-head",
      el("code", "nt-file", fileLine(frame.file, frame.line)),
      frame.function ? [" in ", el("code", null, frame.function)] : null,
    ),
    renderCode(frame),
  );
}

const STAT_COLUMNS: [StatField, string][] = [
  ["min", "min"],
  ["max", "max"],
  ["nan", "NaN"],
  ["inf", "Inf"],
  ["zeros", "zeros"],
];

function statCell(s: TensorStats, f: StatField): string {
  switch (f) {
    case "min":
      return fmtNumber(s.min);
    case "max":
      return fmtNumber(s.max);
    case "nan":
      return fmtCount(s.nan);
    case "inf":
      if ((s.posinf ?? 0) > 0 && (s.neginf ?? 0) > 0) {
        return `${fmtCount(s.inf)} (+${fmtCount(s.posinf)} / −${fmtCount(s.neginf)})`;
      }
      return (s.neginf ?? 0) > 0 ? `${fmtCount(s.inf)} (−Inf)` : fmtCount(s.inf);
    case "zeros":
      return fmtCount(s.zeros);
  }
}

/** The stats table (name, dtype, shape, min, max, NaN, Inf, zeros). */
export function renderStatsTable(stats: TensorStats[], marks: Set<StatField>[]): HTMLElement {
  const head = el(
    "tr",
    null,
    el("th", null, "#"),
    el("th", null, "tensor"),
    el("th", null, "dtype"),
    el("th", null, "shape"),
    STAT_COLUMNS.map(([, label]) => el("th", "nt-num", label)),
  );
  const body = el("tbody");
  stats.forEach((s, i) => {
    const marked = marks[i] ?? new Set<StatField>();
    const row = el(
      "tr",
      marked.size > 0 ? "nt-row-bad" : null,
      el("td", "nt-num nt-muted", String(i)),
      el("td", "nt-tensor", el("code", null, s.name || MISSING)),
      el("td", "nt-dtype", s.dtype || MISSING),
      el("td", "nt-shape", fmtShape(s.shape)),
      STAT_COLUMNS.map(([f]) => el("td", marked.has(f) ? "nt-num nt-bad" : "nt-num", statCell(s, f))),
    );
    body.appendChild(row);
  });
  return el("div", "nt-table-wrap", el("table", "nt-stats", el("thead", null, head), body));
}

/** One warning: "step 12 · layer dense: message". */
function warningLine(w: Warning): HTMLElement {
  return el(
    "li",
    "nt-warning-line",
    el("span", "nt-warning-step", `step ${fmtCount(w.step)}`),
    w.layer ? [" · layer ", el("code", null, showControls(w.layer))] : null,
    w.metric ? [" · ", el("code", null, w.metric)] : null,
    ": ",
    el("span", "nt-warning-message", w.message || w.code || ""),
    warningLeadText(w.steps_before_incident) ? el("span", "nt-muted nt-warning-lead", warningLeadText(w.steps_before_incident)) : null,
  );
}

const SHOWN_PER_CODE = 3;

/** cause.contributing codes, each with the recorded warnings of that code. */
function renderContributing(inc: Incident, warnings: Warning[] | null): HTMLElement[] {
  const entries = contributingWarnings(inc, warnings);
  const out: HTMLElement[] = [];
  if (entries.length > 0) {
    out.push(el("h4", null, "Contributing"));
    out.push(
      el(
        "ul",
        "nt-contrib",
        entries.map((e) =>
          el(
            "li",
            "nt-contrib-item",
            el("code", "nt-warn-code", e.code),
            " ",
            e.warnings.length > 0
              ? el("span", "nt-muted", plural(e.warnings.length, "warning") + " before this step")
              : el("span", "nt-muted", warnings === null ? "" : "no matching warning was recorded"),
            e.warnings.length > 0
              ? el(
                  "ul",
                  "nt-warning-list",
                  e.warnings.slice(0, SHOWN_PER_CODE).map(warningLine),
                  e.warnings.length > SHOWN_PER_CODE
                    ? el("li", "nt-muted", `… and ${plural(e.warnings.length - SHOWN_PER_CODE, "earlier one")}`)
                    : null,
                )
              : null,
          ),
        ),
      ),
    );
  }
  const others = otherWarningsBefore(inc, warnings);
  if (others.length > 0) {
    out.push(
      el(
        "details",
        "nt-other-warnings",
        el("summary", null, `${plural(others.length, "other early warning")} before this step`),
        el("ul", "nt-warning-list", others.slice(-20).reverse().map((w) => [warningLine(w)])),
      ),
    );
  }
  return out;
}

function renderDiagnosis(inc: Incident, warnings: Warning[] | null): HTMLElement {
  const cause = inc.cause ?? { code: "unknown", summary: "", contributing: [], fixes: [] };
  const contributing = Array.isArray(cause.contributing) ? cause.contributing : [];
  const fixes = Array.isArray(cause.fixes) ? cause.fixes : [];
  return el(
    "div",
    "nt-diagnosis",
    el("h3", null, "Diagnosis"),
    el(
      "p",
      "nt-cause",
      el("code", "nt-cause-code", cause.code || "unknown"),
      " ",
      cause.summary ? el("span", "nt-cause-summary", cause.summary) : el("span", "nt-muted", "No summary."),
    ),
    contributing.length > 0 || warnings !== null ? renderContributing(inc, warnings) : null,
    fixes.length > 0 ? [el("h4", null, "Fixes"), el("ol", "nt-list nt-fixes", fixes.map((f) => el("li", null, f)))] : null,
  );
}

export function renderStack(stack: StackFrame[]): HTMLElement | null {
  if (!Array.isArray(stack) || stack.length === 0) return null;
  const details = el("details", "nt-stack", el("summary", null, `Call stack (${plural(stack.length, "user frame")}, innermost last)`));
  for (const frame of stack) {
    details.appendChild(
      el(
        "div",
        "nt-frame",
        el(
          "div",
          "nt-source-head",
          el("code", "nt-file", fileLine(frame.file, frame.line)),
          frame.function ? [" in ", el("code", null, frame.function)] : null,
        ),
        frame.code
          ? el("div", "nt-code nt-code-one", el("div", "nt-line", el("span", "nt-linetext", codeText(frame.code.trim()))))
          : null,
      ),
    );
  }
  return details;
}

/**
 * Full body of an incident (without the headline). `warnings`: the run's
 * early warnings (null when the backend sends none).
 */
export function renderIncidentBody(inc: Incident, warnings: Warning[] | null = null): HTMLElement {
  const inputs = Array.isArray(inc.inputs) ? inc.inputs : [];
  const outputs = Array.isArray(inc.outputs) ? inc.outputs : [];
  return el(
    "div",
    "nt-incident-body",
    inc.note ? el("p", "nt-note", el("strong", null, "Note: "), inc.note) : null,
    renderFields(inc),
    el("h3", null, "Source"),
    inc.source ? renderSource(inc.source) : el("p", "nt-muted", "No user source frame was recorded for this op."),
    el("h3", null, `Inputs of ${inc.op?.type || "the op"}`),
    inputs.length > 0
      ? renderStatsTable(inputs, offendingInputFields(inc.op?.type, inputs))
      : el("p", "nt-muted", "No input statistics were recorded."),
    outputs.length > 0 ? [el("h3", null, "Outputs"), renderStatsTable(outputs, offendingOutputFields(outputs))] : null,
    renderDiagnosis(inc, warnings),
    renderAnalysis(inc),
    renderStack(inc.stack),
  );
}

/**
 * The selected incident (the origin, incidents[0], unless another one was
 * picked): headline + everything, shown without any click.
 */
export function renderOriginIncident(
  inc: Incident,
  warnings: Warning[] | null = null,
  first = true,
  onShowFirst: (() => void) | null = null,
): HTMLElement {
  return el(
    "section",
    first ? "nt-section nt-origin" : "nt-section nt-origin nt-origin-later",
    el(
      "div",
      "nt-origin-head",
      el("h2", "nt-section-title", first ? "Where it started" : `Incident #${inc.index} (selected)`),
      !first && onShowFirst ? button("nt-btn-small", "Back to where it started", onShowFirst) : null,
    ),
    renderHeadline(inc, first),
    renderIncidentBody(inc, warnings),
  );
}

/** One-line summary of a later incident (for the collapsed list). */
export function renderIncidentSummaryLine(inc: Incident): Child[] {
  return [
    el("span", "nt-inc-index", `#${inc.index}`),
    el("span", "nt-inc-step", `step ${fmtCount(inc.step)}`),
    el("span", `nt-phase nt-phase-${phaseClass(inc.phase)}`, phaseLabel(inc.phase)),
    el("span", "nt-kind", kindLabel(inc.kind)),
    el("code", "nt-inc-op", inc.op?.type || "?"),
    inc.layer ? el("span", "nt-inc-layer", ["layer ", el("code", null, inc.layer)]) : null,
    el("span", "nt-inc-cause", inc.cause?.code || ""),
  ];
}

/**
 * Later incidents as a list; each expands (rendered lazily) on click and can
 * be selected (shown in the panel above, the timeline and the graph).
 */
export function renderLaterIncidents(
  incidents: Incident[],
  capped: boolean,
  warnings: Warning[] | null = null,
  onSelect: ((inc: Incident) => void) | null = null,
  selectedKey: string | null = null,
): HTMLElement {
  const list = el("div", "nt-later-list");
  for (const inc of incidents) {
    const key = `${inc.session ?? ""}:${inc.index}`;
    const details = el(
      "details",
      key === selectedKey ? "nt-later nt-later-selected" : "nt-later",
      el("summary", "nt-later-summary", renderIncidentSummaryLine(inc), key === selectedKey ? el("span", "nt-badge nt-badge-sel", "selected") : null),
    );
    let rendered = false;
    details.addEventListener("toggle", () => {
      if (details.open && !rendered) {
        rendered = true;
        details.appendChild(
          el(
            "div",
            "nt-later-body",
            onSelect && key !== selectedKey
              ? button("nt-btn-small", "Select: show it above, in the timeline and the graph", () => onSelect(inc))
              : null,
            renderHeadline(inc, false),
            renderIncidentBody(inc, warnings),
          ),
        );
      }
    });
    list.appendChild(details);
  }
  return el(
    "section",
    "nt-section nt-later-section",
    el("h2", "nt-section-title", `Later incidents (${incidents.length})`),
    el("p", "nt-muted nt-hint", "Incidents after the first are usually its consequences. Click one to show it."),
    list,
    capped ? el("p", "nt-note", "Recording stopped after this many incidents (cap reached); later ones were not recorded.") : null,
  );
}

// Pure text formatting: no DOM here, so it can be unit-tested under Node.

import type { Incident, JsonNumber } from "./types";

export const MISSING = "—";

/** Decodes the backend's JSON number encoding ("NaN", "Infinity", ...). */
export function toNumber(v: JsonNumber | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return null;
}

/** Formats a tensor statistic compactly: 6 significant digits, Inf/NaN spelled out. */
export function fmtNumber(v: JsonNumber | undefined): string {
  const n = toNumber(v);
  if (n === null) return MISSING;
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Inf";
  if (n === -Infinity) return "-Inf";
  if (n === 0) return "0";
  const abs = Math.abs(n);
  if (Number.isInteger(n) && abs < 1e15) return String(n);
  if (abs >= 1e6 || abs < 1e-4) return trimExponential(n.toExponential(4));
  return String(parseFloat(n.toPrecision(6)));
}

function trimExponential(s: string): string {
  // "1.2000e-7" -> "1.2e-7"
  return s.replace(/\.?0+e/, "e");
}

/** Formats a count (integer) with thousands separators. */
export function fmtCount(v: number | null | undefined): string {
  if (v === null || v === undefined || typeof v !== "number" || !Number.isFinite(v)) return MISSING;
  return v.toLocaleString("en-US");
}

/** "[32, 10]"; a scalar is "[]". */
export function fmtShape(shape: number[] | null | undefined): string {
  if (!Array.isArray(shape)) return MISSING;
  return `[${shape.map((d) => (d < 0 ? "?" : String(d))).join(", ")}]`;
}

/** Local time "YYYY-MM-DD HH:MM:SS" from seconds since the epoch. */
export function fmtTime(seconds: number | null | undefined): string {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return MISSING;
  const d = new Date(seconds * 1000);
  const p = (x: number) => String(x).padStart(2, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

/** "NaN", "Inf" or "NaN and Inf"; unknown kinds are shown as they are. */
export function kindLabel(kind: string | null | undefined): string {
  switch (kind) {
    case "nan":
      return "NaN";
    case "inf":
      return "Inf";
    case "nan_and_inf":
      return "NaN and Inf";
    default:
      return kind ? String(kind) : "NaN/Inf";
  }
}

/** Where in the training step the phase is, as a phrase: "in the forward pass". */
export function phasePhrase(phase: string | null | undefined): string | null {
  switch (phase) {
    case "input":
      return "in the input data";
    case "forward":
      return "in the forward pass";
    case "backward":
      return "in the backward pass";
    case "optimizer":
      return "in the optimizer update";
    case "other":
    case null:
    case undefined:
    case "":
      return null;
    default:
      return `in phase “${phase}”`;
  }
}

/** A short phase label for tables and fields. */
export function phaseLabel(phase: string | null | undefined): string {
  switch (phase) {
    case "input":
      return "input";
    case "forward":
      return "forward pass";
    case "backward":
      return "backward pass";
    case "optimizer":
      return "optimizer";
    case "other":
      return "other";
    default:
      return phase ? String(phase) : MISSING;
  }
}

/** One piece of the headline; `emph` pieces are names/values from the data. */
export interface TextPart {
  text: string;
  emph?: boolean;
}

/**
 * "NaN first appeared at step 12, in the forward pass, in op Log
 * (model/dense/Log) of layer dense." as parts, so the names can be set off
 * typographically while the whole stays plain text.
 */
export function headlineParts(inc: Incident, first: boolean): TextPart[] {
  const parts: TextPart[] = [];
  const t = (text: string) => parts.push({ text });
  const e = (text: string) => parts.push({ text, emph: true });
  t(`${kindLabel(inc.kind)} ${first ? "first appeared" : "appeared"} at step `);
  e(fmtCount(inc.step));
  const phase = phasePhrase(inc.phase);
  if (phase) t(`, ${phase}`);
  const opType = inc.op?.type;
  if (opType) {
    t(", in op ");
    e(opType);
  } else {
    t(", in an unidentified op");
  }
  if (inc.op?.name) {
    t(" (");
    e(inc.op.name);
    t(")");
  }
  if (inc.layer) {
    t(" of layer ");
    e(inc.layer);
  }
  if (inc.variable) {
    t(inc.phase === "optimizer" ? ", updating variable " : ", variable ");
    e(inc.variable);
  }
  t(".");
  return parts;
}

export function headlineText(inc: Incident, first: boolean): string {
  return headlineParts(inc, first)
    .map((p) => p.text)
    .join("");
}

/** "file.py:42" for a frame. */
export function fileLine(file: string | null | undefined, line: number | null | undefined): string {
  const f = file || "<unknown file>";
  return typeof line === "number" && line > 0 ? `${f}:${line}` : f;
}

/** "x[batch 12, feature (3, 4)]" */
export function fmtInputLocation(loc: {
  tensor: string;
  batch_index: number;
  feature_index: number[];
}): string {
  const features = Array.isArray(loc.feature_index) ? loc.feature_index : [];
  const feature =
    features.length === 0
      ? ""
      : features.length === 1
        ? `, feature ${features[0]}`
        : `, feature (${features.join(", ")})`;
  return `${loc.tensor || "input"}: batch element ${loc.batch_index}${feature}`;
}

export function plural(n: number, one: string, many: string = one + "s"): string {
  return `${fmtCount(n)} ${n === 1 ? one : many}`;
}

/** Bidi overrides/isolates, zero-width and other invisible format characters. */
const CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * Splits text into plain pieces and invisible control characters, the latter
 * spelled "<U+202E>", so the viewer can show them. Tabs stay as they are.
 */
export function splitControls(text: string): { text: string; control: boolean }[] {
  const out: { text: string; control: boolean }[] = [];
  let last = 0;
  for (const m of text.matchAll(CONTROL_RE)) {
    const at = m.index ?? 0;
    if (at > last) out.push({ text: text.slice(last, at), control: false });
    const hex = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    out.push({ text: `<U+${hex}>`, control: true });
    last = at + m[0].length;
  }
  if (last < text.length || out.length === 0) out.push({ text: text.slice(last), control: false });
  return out;
}

/**
 * `text` with invisible/bidi control characters spelled "<U+202E>": for
 * names shown in labels, lists and canvases, where a right-to-left override
 * would make a recorded name read as another one.
 */
export function showControls(text: string | null | undefined): string {
  if (text === null || text === undefined) return "";
  return splitControls(String(text))
    .map((p) => p.text)
    .join("");
}

// What the recorder's analysis of an incident found, in plain words (pure:
// runs under `node --test`): whether replaying the failing step reproduced
// it, which rows of the batch caused it (and where they are in the user's
// data), which fixes were replayed and what came out, and how early the
// first warning came. Every field is optional (older recorders, analyses
// that did not run): what is absent gives null and is not shown.

import { MISSING, fmtCount, fmtNumber, plural } from "./format";
import type { Culprits, Incident, JsonNumber, VerifiedFix } from "./types";

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** "Reproduced" / "Not reproduced", then why in a sentence, with the replay's note. */
export function reproducedText(inc: Incident): { word: string; text: string; reproduced: boolean; note: string | null } | null {
  const r = inc.reproducibility;
  if (!r || typeof r !== "object" || typeof r.reproduced !== "boolean") return null;
  let word = "Reproduced";
  let text: string;
  if (!r.reproduced) {
    word = "Not reproduced";
    text = "replaying the step from the same state and batch gave finite values.";
  } else if (r.same_origin === true) text = "replaying the step from the same state and batch gave the NaN/Inf again, in the same op.";
  else if (r.same_origin === false) text = "replaying the step gave the NaN/Inf again, but first in another op.";
  else text = "replaying the step from the same state and batch gave the NaN/Inf again.";
  return { word, text, reproduced: r.reproduced, note: str(r.note) };
}

/** "The first early warning came 9 steps before the NaN/Inf." */
export function firstWarningText(inc: Incident): string | null {
  const n = inc.first_warning_steps_before;
  if (!isInt(n) || n < 0) return null;
  return n === 0 ? "The first early warning came at the step of the NaN/Inf itself." : `The first early warning came ${plural(n, "step")} before the NaN/Inf.`;
}

/** " (7 steps before the NaN/Inf)" for a warning, when the recorder says. */
export function warningLeadText(stepsBefore: unknown): string {
  if (!isInt(stepsBefore) || stepsBefore < 0) return "";
  return stepsBefore === 0 ? " (at the step of the NaN/Inf)" : ` (${plural(stepsBefore, "step")} before the NaN/Inf)`;
}

export interface CulpritTable {
  summary: string;
  /** One row per example shown: [row, index in x, epoch, batch, features]. */
  rows: [string, string, string, string, string][];
  /** Examples not shown (past SHOWN_EXAMPLES). */
  more: number;
  note: string | null;
}

export const SHOWN_EXAMPLES = 8;

function featureText(f: unknown): string {
  if (!f || typeof f !== "object") return MISSING;
  const o = f as Record<string, unknown>;
  const bad: string[] = [];
  if (isInt(o.nan_count) && o.nan_count > 0) bad.push(`${fmtCount(o.nan_count)} NaN`);
  if (isInt(o.inf_count) && o.inf_count > 0) bad.push(`${fmtCount(o.inf_count)} Inf`);
  const range = `min ${fmtNumber(o.min as JsonNumber)}, max ${fmtNumber(o.max as JsonNumber)}`;
  return `${str(o.tensor) ?? "?"}: ${range}${bad.length > 0 ? `, ${bad.join(", ")}` : ""}`;
}

const cell = (v: unknown): string => (isInt(v) ? fmtCount(v) : MISSING);

/** The culprit rows: a sentence, a table of the examples, how their index was found. */
export function culpritTable(inc: Incident): CulpritTable | null {
  const c: Culprits | null | undefined = inc.culprits;
  if (!c || typeof c !== "object") return null;
  const rows = Array.isArray(c.rows) ? c.rows.filter(isInt) : [];
  const examples = Array.isArray(c.examples) ? c.examples.filter((e) => e && typeof e === "object") : [];
  const how = c.method === "bisection" ? "found by replaying halves of the batch" : c.method === "origin_rows" ? "the rows where the origin op's NaN/Inf sits" : "found by the recorder";
  const shown = rows.slice(0, 12).map((r) => fmtCount(r));
  const which = rows.length === 0 ? "no single row" : `${rows.length === 1 ? "row" : "rows"} ${shown.join(", ")}${rows.length > 12 ? ` and ${fmtCount(rows.length - 12)} more` : ""}`;
  const incomplete = c.complete === false ? " The search stopped at its time budget: there may be more." : "";
  return {
    summary: `Caused by ${which} of the failing batch (${how}).${incomplete}`,
    rows: examples.slice(0, SHOWN_EXAMPLES).map((e) => [
      cell(e.row),
      cell(e.index),
      cell(e.epoch),
      cell(e.batch),
      Array.isArray(e.features) && e.features.length > 0 ? e.features.map(featureText).join("; ") : MISSING,
    ]),
    more: Math.max(0, examples.length - SHOWN_EXAMPLES),
    note: str(c.index_note),
  };
}

const RESULT_WORDS: Record<string, string> = { finite: "finite", nonfinite: "still NaN/Inf", error: "error", skipped: "skipped" };

/** "clipnorm=1.0 -> finite", with the replay behind it. */
export function fixLines(inc: Incident): { text: string; ok: boolean; bad: boolean; detail: string }[] {
  const fixes: VerifiedFix[] = Array.isArray(inc.verified_fixes) ? inc.verified_fixes : [];
  return fixes
    .filter((f) => f && typeof f === "object" && str(f.fix) !== null)
    .map((f) => {
      const result = typeof f.result === "string" ? f.result : "";
      const replay = isInt(f.replayed_steps) && f.replayed_steps > 0 && isInt(f.from_step) ? `replayed ${plural(f.replayed_steps, "step")} from step ${fmtCount(f.from_step)}` : "";
      const note = str(f.note);
      return {
        text: `${f.fix} -> ${RESULT_WORDS[result] ?? (result || "?")}`,
        ok: result === "finite",
        bad: result === "nonfinite",
        detail: [replay, note].filter((x) => x).join("; "),
      };
    });
}

// Pure logic linking an incident to the early warnings behind it.

import type { Incident, RunDetail, RunSummary, Warning } from "./types";

export interface ContributingEntry {
  code: string;
  /** Warnings of that code before the incident, most recent first. */
  warnings: Warning[];
}

/** Warnings of the incident's recording at or before its step. */
export function warningsBefore(inc: Incident, warnings: readonly Warning[] | null | undefined): Warning[] {
  if (!Array.isArray(warnings)) return [];
  return warnings.filter(
    (w) =>
      w &&
      typeof w.step === "number" &&
      w.step <= inc.step &&
      (inc.session === undefined || w.session === undefined || w.session === inc.session),
  );
}

/**
 * The incident's contributing causes (cause.contributing codes), each with
 * the recorded warnings of that code, in the order the diagnosis gives them.
 */
export function contributingWarnings(inc: Incident, warnings: readonly Warning[] | null | undefined): ContributingEntry[] {
  const codes = Array.isArray(inc.cause?.contributing) ? inc.cause.contributing.filter((c) => typeof c === "string") : [];
  const before = warningsBefore(inc, warnings);
  const seen = new Set<string>();
  const out: ContributingEntry[] = [];
  for (const code of codes) {
    if (seen.has(code)) continue;
    seen.add(code);
    const matching = before
      .filter((w) => w.code === code)
      .sort((a, b) => b.step - a.step || b.index - a.index);
    out.push({ code, warnings: matching });
  }
  return out;
}

/** Warnings before the incident whose code is not among its contributing causes. */
export function otherWarningsBefore(inc: Incident, warnings: readonly Warning[] | null | undefined): Warning[] {
  const codes = new Set(Array.isArray(inc.cause?.contributing) ? inc.cause.contributing : []);
  return warningsBefore(inc, warnings).filter((w) => !codes.has(w.code));
}

export type Health = "healthy" | "warning" | "incident";

/** healthy / warning (warnings but no incident) / incident. */
export function runHealth(r: Pick<RunSummary, "status" | "incident_count" | "warning_count">): Health {
  if (r.status === "incident" || (r.incident_count ?? 0) > 0) return "incident";
  if ((r.warning_count ?? 0) > 0) return "warning";
  return "healthy";
}

/** A run summary completed with what the loaded detail knows (warnings). */
export function summaryFromDetail(summary: RunSummary, detail: RunDetail): RunSummary {
  return {
    ...summary,
    status: detail.status ?? summary.status,
    incident_count: Array.isArray(detail.incidents) ? detail.incidents.length : summary.incident_count,
    warning_count: Array.isArray(detail.warnings) ? detail.warnings.length : summary.warning_count,
    run_status: detail.info?.status ?? summary.run_status ?? null,
  };
}

/** Whether a run detail changed in a way the page shows (for refresh). */
export function detailSignature(d: RunDetail): string {
  const incidents = Array.isArray(d.incidents) ? d.incidents : [];
  const last = incidents[incidents.length - 1];
  return JSON.stringify([
    d.status,
    d.steps,
    d.info?.status ?? null,
    d.info?.end_time ?? null,
    incidents.length,
    last ? [last.session ?? "", last.index, last.step] : null,
    Array.isArray(d.warnings) ? d.warnings.length : -1,
    d.skipped ?? 0,
  ]);
}

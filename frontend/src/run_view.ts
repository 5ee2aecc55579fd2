// The page for one run: header, origin incident (or the healthy message),
// later incidents, then the Timeline and Graph sections.

import { el, section } from "./dom";
import { fmtCount, fmtTime, plural } from "./format";
import { renderLaterIncidents, renderOriginIncident } from "./incident";
import { renderGraph, renderTimeline } from "./placeholders";
import { runBadge } from "./runs";
import type { RunDetail } from "./types";

function stepsOf(run: RunDetail): number {
  if (typeof run.steps === "number") return run.steps;
  return run.info?.steps ?? 0;
}

function renderRunHeader(run: RunDetail): HTMLElement {
  const info = run.info;
  const incidents = Array.isArray(run.incidents) ? run.incidents : [];
  const meta: HTMLElement[] = [];
  const item = (label: string, value: string | null | undefined) => {
    if (value) meta.push(el("span", "nt-meta-item", el("span", "nt-muted", `${label} `), value));
  };
  item("steps", fmtCount(stepsOf(run)));
  item("status", info?.status);
  item("mode", info?.mode);
  item("TensorFlow", info?.tensorflow_version);
  item("Keras", info?.keras_version);
  item("nantrace", info?.nantrace_version);
  if (info?.start_time) item("started", fmtTime(info.start_time));
  if (info?.end_time) item("ended", fmtTime(info.end_time));
  const notes = Array.isArray(info?.notes) ? info.notes : [];
  return el(
    "header",
    "nt-run-header",
    el(
      "h1",
      "nt-run-title",
      el("span", "nt-run-title-name", run.run || "."),
      " ",
      runBadge({ status: run.status, incident_count: Math.max(info?.incident_count ?? 0, incidents.length) }),
    ),
    el("div", "nt-meta", meta),
    notes.length > 0 ? el("ul", "nt-notes", notes.map((n) => el("li", null, n))) : null,
    typeof run.skipped === "number" && run.skipped > 0
      ? el(
          "p",
          "nt-note",
          `${plural(run.skipped, "record")} of this run could not be read (corrupt, or written by an incompatible version) and ${run.skipped === 1 ? "was" : "were"} skipped.`,
        )
      : null,
  );
}

function renderHealthy(run: RunDetail): HTMLElement {
  const steps = stepsOf(run);
  const running = run.info?.status === "running";
  return el(
    "section",
    "nt-section nt-healthy",
    el("p", "nt-healthy-text", `No NaN/Inf recorded in ${plural(steps, "step")}${running ? " so far (still running)" : ""}.`),
  );
}

export function renderRun(run: RunDetail): HTMLElement {
  const incidents = Array.isArray(run.incidents) ? run.incidents : [];
  const first = incidents[0];
  return el(
    "div",
    "nt-runview",
    renderRunHeader(run),
    first ? renderOriginIncident(first) : renderHealthy(run),
    incidents.length > 1 ? renderLaterIncidents(incidents.slice(1), run.info?.incidents_capped ?? false) : null,
    first && incidents.length === 1 && run.info?.incidents_capped
      ? section("nt-later-section", "Later incidents", el("p", "nt-note", "Recording stopped after the first incident (cap reached)."))
      : null,
    renderTimeline(run),
    renderGraph(run),
  );
}

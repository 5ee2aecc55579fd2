// Sections that later versions fill in. Each takes the loaded run so the
// real implementation can replace the body without touching run_view.ts.

import { el, section } from "./dom";
import type { RunDetail } from "./types";

/** Timeline: incidents (and later, tensor ranges) over training steps. */
export function renderTimeline(_run: RunDetail): HTMLElement {
  return section(
    "nt-placeholder nt-timeline",
    "Timeline",
    el("p", "nt-muted", "A chart of incidents over training steps will appear here."),
  );
}

/** Graph: the failing op in its neighbourhood of the model graph. */
export function renderGraph(_run: RunDetail): HTMLElement {
  return section(
    "nt-placeholder nt-graph",
    "Graph",
    el("p", "nt-muted", "The failing op and its neighbours in the model graph will appear here."),
  );
}

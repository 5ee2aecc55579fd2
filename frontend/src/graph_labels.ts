// Class names and labels of op states and group kinds, shared by the graph
// drawing, its legend and the details panel. Constants only: no recorded
// string ever becomes a class name.

import type { State } from "./graph_model";

export const STATES: State[] = ["origin", "propagated", "finite", "input", "variable"];

export const STATE_CLASS: Record<State, string> = {
  origin: "nt-st-origin",
  propagated: "nt-st-propagated",
  finite: "nt-st-finite",
  input: "nt-st-input",
  variable: "nt-st-variable",
};

export const STATE_LABEL: Record<State, string> = {
  origin: "origin (first non-finite)",
  propagated: "propagated NaN/Inf",
  finite: "finite",
  input: "input",
  variable: "variable",
};

export function groupKindLabel(kind: string): string {
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

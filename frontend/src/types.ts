// Shapes of the JSON served by the nantrace backend (tb_nantrace/plugin).
//
// Everything here comes from event files written by arbitrary training code:
// treat every string as hostile (it is only ever put into the DOM as text),
// and every field as possibly missing (older/newer writers), hence the
// defensive `?? fallback` reads in the renderers.

/** A number as encoded by the backend: JSON has no NaN/Infinity. */
export type JsonNumber = number | "NaN" | "Infinity" | "-Infinity" | null;

export type RunStatus = "healthy" | "incident";

export interface RunSummary {
  run: string;
  status: RunStatus | string;
  steps: number;
  incident_count: number;
  /** Early warnings of the run; not (yet) sent by every backend. */
  warning_count?: number;
  /** info.status of the run ("running", ...); not (yet) sent by every backend. */
  run_status?: string | null;
  /** Records that could not be decoded (corrupt/unknown), when the backend says. */
  skipped?: number;
}

export interface RunsResponse {
  runs: RunSummary[];
}

export interface RunInfo {
  mode: string | null;
  status: string | null;
  steps: number;
  incident_count: number;
  incidents_capped: boolean;
  tensorflow_version: string | null;
  keras_version: string | null;
  nantrace_version: string | null;
  start_time: number | null;
  end_time: number | null;
  notes: string[];
}

export interface StackFrame {
  file: string;
  line: number;
  function: string;
  code: string;
  /** Line number of context[0]. */
  context_start: number;
  context: string[];
  user: boolean;
}

export interface TensorStats {
  name: string;
  dtype: string;
  shape: number[];
  min: JsonNumber;
  max: JsonNumber;
  nan: number;
  inf: number;
  posinf: number;
  neginf: number;
  zeros: number;
  negative: number;
  size: number;
  min_abs_nonzero: JsonNumber;
  max_abs_finite: JsonNumber;
}

export interface InputLocation {
  tensor: string;
  batch_index: number;
  feature_index: number[];
}

export interface Cause {
  code: string;
  summary: string;
  contributing: string[];
  fixes: string[];
}

export type Phase = "input" | "forward" | "backward" | "optimizer" | "other";
export type Kind = "nan" | "inf" | "nan_and_inf";

export interface Incident {
  index: number;
  step: number;
  phase: Phase | string;
  kind: Kind | string;
  op: { type: string; name: string | null };
  layer: string | null;
  variable: string | null;
  replica: number | null;
  source: StackFrame | null;
  inputs: TensorStats[];
  outputs: TensorStats[];
  input_location: InputLocation | null;
  cause: Cause;
  /** User frames, innermost last. */
  stack: StackFrame[];
  mode: string | null;
  note: string | null;
  wall_time: number;
  /** Id of the recording (several recordings can share a run directory). */
  session?: string;
  /** The failing step's graph around the origin; absent from older records. */
  graph?: IncidentGraph | null;
  /** Which rows of the failing batch caused it (issue 13); absent or null when unknown. */
  culprits?: Culprits | null;
  /** Whether replaying the step gave the NaN/Inf again. */
  reproducibility?: Reproducibility | null;
  /** Fixes replayed from a saved state, with what came out. */
  verified_fixes?: VerifiedFix[] | null;
  /** Steps between the first early warning and this incident. */
  first_warning_steps_before?: number | null;
  /** Seconds each analysis took. */
  analysis_seconds?: Record<string, number> | null;
}

export interface CulpritFeature {
  tensor: string;
  min: JsonNumber;
  max: JsonNumber;
  nan_count: number;
  inf_count: number;
}

export interface CulpritExample {
  /** Row in the failing batch. */
  row: number;
  /** Index into the user's x (numpy, shuffle=False), when it could be known. */
  index: number | null;
  epoch: number | null;
  batch: number | null;
  features: CulpritFeature[];
}

export interface Culprits {
  method: "origin_rows" | "bisection" | string;
  rows: number[];
  /** False when the bisection stopped at its time budget. */
  complete: boolean;
  examples: CulpritExample[];
  /** How the index was found, or why it cannot be known. */
  index_note: string;
}

export interface Reproducibility {
  reproduced: boolean;
  same_origin: boolean | null;
  note: string;
}

export interface VerifiedFix {
  /** e.g. "learning_rate/10", "clipnorm=1.0", "drop culprit rows". */
  fix: string;
  result: "finite" | "nonfinite" | "error" | "skipped" | string;
  from_step: number;
  replayed_steps: number;
  note: string;
}

/** State of one op of the failing step (how the NaN/Inf reached it). */
export type NodeState = "origin" | "propagated" | "finite" | "input" | "variable";

export interface GraphNode {
  name: string;
  type: string;
  layer: string | null;
  phase: Phase | string | null;
  state: NodeState | string;
}

/**
 * The failing step's graph around the origin: its upstream cone back to
 * inputs/variables and its propagation path down to loss/gradients/updates.
 */
export interface IncidentGraph {
  nodes: GraphNode[];
  /** [source name, destination name] */
  edges: [string, string][];
  /** The recorder dropped part of the graph (size cap). */
  truncated: boolean;
}

/** An early warning found in the health timeline. */
export interface Warning {
  index: number;
  step: number;
  code: string;
  layer: string | null;
  metric: string | null;
  message: string;
  /** [step, value] pairs behind the warning. */
  evidence: [number, JsonNumber][];
  session?: string;
  /** Steps to the first incident at or after this warning (issue 13). */
  steps_before_incident?: number | null;
}

export interface RunDetail {
  run: string;
  status: RunStatus | string;
  steps: number;
  info: RunInfo | null;
  /** Oldest first: incidents[0] is where the instability originated. */
  incidents: Incident[];
  /** Early warnings, oldest first (absent from older backends). */
  warnings?: Warning[];
  /** Record kinds this viewer does not know (a newer writer's): kind -> tags. */
  unknown_kinds?: Record<string, number>;
  /** Records that could not be decoded (corrupt/unknown), when the backend says. */
  skipped?: number;
}

/** An incident as the timeline marks it. */
export interface IncidentMarker {
  index: number;
  session: string;
  step: number;
  kind: string;
  phase: string;
  op: string;
}

/** One timeline series: a metric, overall (layer null) or of one layer. */
export interface TimelineSeries {
  metric: string;
  layer: string | null;
  min?: JsonNumber[];
  max?: JsonNumber[];
  mean?: JsonNumber[];
  last?: JsonNumber[];
}

/** GET timeline: the sampled long-horizon health, downsampled by the server. */
export interface TimelineResponse {
  run: string;
  points: number;
  chunks: number;
  /** First step of each point's bucket. */
  first_steps: number[];
  /** Last step of each point's bucket (the x of the point). */
  steps: number[];
  series: TimelineSeries[];
  incidents: IncidentMarker[];
  warnings: Warning[];
}

/** GET window: full-resolution health of the steps before one incident. */
export interface WindowResponse {
  run: string;
  session: string;
  incident: number;
  steps: number[];
  series: { metric: string; layer: string | null; values: JsonNumber[] }[];
}

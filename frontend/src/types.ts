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
}

export interface RunDetail {
  run: string;
  status: RunStatus | string;
  steps: number;
  info: RunInfo | null;
  /** Oldest first: incidents[0] is where the instability originated. */
  incidents: Incident[];
  /** Records that could not be decoded (corrupt/unknown), when the backend says. */
  skipped?: number;
}

// Data access. URLs are RELATIVE: TensorBoard serves our iframe document at
// `<tb>/data/plugin_entry.html?name=nantrace` with `<base href="plugin/nantrace/">`,
// so "runs" resolves to `<tb>/data/plugin/nantrace/runs`, which is where the
// backend's routes live. This keeps working behind --path_prefix and proxies.

import type { RunDetail, RunsResponse, TimelineResponse, WindowResponse } from "./types";

/** An error whose message is fit to show to the user as-is. */
export class ApiError extends Error {
  /** HTTP status when the server answered with an error, else null. */
  readonly status: number | null;
  constructor(message: string, status: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const MAX_BODY_CHARS = 300;

async function getJson(url: string, what: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (e) {
    throw new ApiError(
      `Could not load ${what}: the TensorBoard server did not answer (${errorText(e)}). ` +
        "Is TensorBoard still running?",
    );
  }
  if (!response.ok) {
    let body = "";
    try {
      body = errorMessageOf((await response.text()).trim());
    } catch {
      // Keep the status line only.
    }
    if (body.length > MAX_BODY_CHARS) body = body.slice(0, MAX_BODY_CHARS) + "…";
    const status = `HTTP ${response.status}${response.statusText ? " " + response.statusText : ""}`;
    throw new ApiError(`Could not load ${what}: ${status}${body ? ` — ${body}` : ""}`, response.status);
  }
  try {
    return await response.json();
  } catch (e) {
    throw new ApiError(`Could not load ${what}: the response is not valid JSON (${errorText(e)}).`);
  }
}

/** The backend answers errors as {"error": message}; else keep the raw text. */
function errorMessageOf(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isObject(parsed) && typeof parsed.error === "string") return parsed.error;
  } catch {
    // Not JSON: TensorBoard's own error pages are plain text.
  }
  return body;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** GET runs -> every run that has nantrace data. */
export async function fetchRuns(): Promise<RunsResponse> {
  const data = await getJson("runs", "the list of runs");
  if (!isObject(data) || !Array.isArray(data.runs)) {
    throw new ApiError("Could not load the list of runs: unexpected response format.");
  }
  const runs = data.runs.filter(
    (r): r is RunsResponse["runs"][number] => isObject(r) && typeof r.run === "string",
  );
  return { runs };
}

/** GET run?run=<name> -> run info and its incidents, oldest first. */
export async function fetchRun(run: string): Promise<RunDetail> {
  const what = `run “${run}”`;
  const data = await getJson(`run?${new URLSearchParams({ run }).toString()}`, what);
  if (!isObject(data) || !Array.isArray(data.incidents)) {
    throw new ApiError(`Could not load ${what}: unexpected response format.`);
  }
  return data as unknown as RunDetail;
}

/** Which timeline series to ask for; the server downsamples to maxPoints. */
export interface TimelineQuery {
  metrics?: string[];
  /** Layer names; "" selects the whole-model series (loss, grad_norm, ...). */
  layers?: string[];
  stats?: ("min" | "max" | "mean" | "last")[];
  maxPoints?: number;
}

/** GET timeline?run=... -> sampled health series with incident/warning markers. */
export async function fetchTimeline(run: string, q: TimelineQuery = {}): Promise<TimelineResponse> {
  const params = new URLSearchParams({ run });
  for (const m of q.metrics ?? []) params.append("metric", m);
  for (const l of q.layers ?? []) params.append("layer", l);
  if (q.stats && q.stats.length > 0) params.set("stats", q.stats.join(","));
  if (q.maxPoints !== undefined) params.set("max_points", String(q.maxPoints));
  const what = `the timeline of run “${run}”`;
  const data = await getJson(`timeline?${params.toString()}`, what);
  if (!isObject(data) || !Array.isArray(data.steps) || !Array.isArray(data.series)) {
    throw new ApiError(`Could not load ${what}: unexpected response format.`);
  }
  const t = data as unknown as TimelineResponse;
  if (!Array.isArray(t.incidents)) t.incidents = [];
  if (!Array.isArray(t.warnings)) t.warnings = [];
  return t;
}

/**
 * GET window?run=...&incident=I&session=S -> the full-resolution health of
 * the steps before incident I, or null when none was recorded (404).
 */
export async function fetchWindow(run: string, incident: number, session: string | undefined): Promise<WindowResponse | null> {
  const params = new URLSearchParams({ run, incident: String(incident) });
  if (session) params.set("session", session);
  const what = `the health window before incident #${incident}`;
  let data: unknown;
  try {
    data = await getJson(`window?${params.toString()}`, what);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
  if (!isObject(data) || !Array.isArray(data.steps) || !Array.isArray(data.series)) {
    throw new ApiError(`Could not load ${what}: unexpected response format.`);
  }
  return data as unknown as WindowResponse;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

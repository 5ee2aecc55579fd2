// Data access. URLs are RELATIVE: TensorBoard serves our iframe document at
// `<tb>/data/plugin_entry.html?name=nantrace` with `<base href="plugin/nantrace/">`,
// so "runs" resolves to `<tb>/data/plugin/nantrace/runs`, which is where the
// backend's routes live. This keeps working behind --path_prefix and proxies.

import type { RunDetail, RunsResponse } from "./types";

/** An error whose message is fit to show to the user as-is. */
export class ApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApiError";
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
    throw new ApiError(`Could not load ${what}: ${status}${body ? ` — ${body}` : ""}`);
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

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

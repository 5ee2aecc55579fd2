// The selected run and incident live in the iframe's URL hash
// ("#run=<name>&incident=<index>&session=<id>") so that a reload of the
// plugin keeps them.
//
// Careful: TensorBoard's plugin_entry.html has `<base href="plugin/nantrace/">`,
// so a relative URL such as "#run=x" would resolve against the base and point
// at another document. Always build the new URL from location.href.

export interface HashState {
  run: string | null;
  incident: number | null;
  session: string | null;
}

/** Parses a hash ("#run=a&incident=2&session=s"); pure, for tests. */
export function parseHash(hash: string): HashState {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const run = params.get("run");
  const inc = params.get("incident");
  const session = params.get("session");
  const index = inc !== null && /^\d{1,9}$/.test(inc) ? Number(inc) : null;
  return {
    run: run === null || run === "" ? null : run,
    incident: index,
    session: session === null || session === "" ? null : session,
  };
}

/** The hash for a state, keeping unrelated parameters of `previous`; pure. */
export function formatHash(previous: string, state: HashState): string {
  const params = new URLSearchParams(previous.replace(/^#/, ""));
  const set = (k: string, v: string | null) => (v === null ? params.delete(k) : params.set(k, v));
  set("run", state.run);
  set("incident", state.incident === null ? null : String(state.incident));
  set("session", state.incident === null ? null : state.session);
  return params.toString();
}

export function readHash(): HashState {
  return parseHash(window.location.hash);
}

export function readRunFromHash(): string | null {
  return readHash().run;
}

export function writeHash(state: HashState): void {
  const url = new URL(window.location.href);
  url.hash = formatHash(window.location.hash, state);
  if (url.href === window.location.href) return;
  try {
    // replaceState: no history entry per click (the iframe shares the tab's history).
    window.history.replaceState(window.history.state, "", url.href);
  } catch {
    // Sandboxed or opaque-origin documents may refuse; the hash is a nicety.
  }
}

export function writeRunToHash(run: string | null): void {
  const current = readHash();
  writeHash(run === current.run ? current : { run, incident: null, session: null });
}

// The selected run lives in the iframe's URL hash ("#run=<name>") so that a
// reload of the plugin keeps it.
//
// Careful: TensorBoard's plugin_entry.html has `<base href="plugin/nantrace/">`,
// so a relative URL such as "#run=x" would resolve against the base and point
// at another document. Always build the new URL from location.href.

export function readRunFromHash(): string | null {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const run = params.get("run");
  return run === null || run === "" ? null : run;
}

export function writeRunToHash(run: string | null): void {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  if (run === null) params.delete("run");
  else params.set("run", run);
  const url = new URL(window.location.href);
  url.hash = params.toString();
  if (url.href === window.location.href) return;
  try {
    // replaceState: no history entry per click (the iframe shares the tab's history).
    window.history.replaceState(window.history.state, "", url.href);
  } catch {
    // Sandboxed or opaque-origin documents may refuse; the hash is a nicety.
  }
}

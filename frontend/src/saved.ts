// What a reload of TensorBoard keeps: the selected run and incident and the
// section the page was scrolled to. The iframe's URL hash (hash.ts) survives
// a reload of the iframe only; a reload of TensorBoard's page recreates the
// iframe without it. So the same state also goes to localStorage (the
// iframe is same-origin with TensorBoard), keyed by TensorBoard's path so
// that two TensorBoards behind one host (--path_prefix) keep theirs apart.
// Stored values are read back as untrusted: parsed, type-checked, and only
// ever compared with or shown as text.

import type { HashState } from "./hash";

/** Sections a reload scrolls back to (constants: class names of the sections). */
export const SCROLL_TARGETS = ["nt-later-section", "nt-timeline", "nt-graph"] as const;
export type ScrollTarget = (typeof SCROLL_TARGETS)[number];

export interface Saved extends HashState {
  scroll: ScrollTarget | null;
}

export const EMPTY: Saved = { run: null, incident: null, session: null, scroll: null };

/** Parses a stored value; anything malformed reads as nothing saved. Pure. */
export function parseSaved(text: string | null): Saved {
  if (!text) return { ...EMPTY };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ...EMPTY };
  }
  if (typeof v !== "object" || v === null) return { ...EMPTY };
  const o = v as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === "string" && x !== "" && x.length < 4096 ? x : null);
  const incident = typeof o.incident === "number" && Number.isInteger(o.incident) && o.incident >= 0 ? o.incident : null;
  const scroll = (SCROLL_TARGETS as readonly unknown[]).includes(o.scroll) ? (o.scroll as ScrollTarget) : null;
  return { run: str(o.run), incident, session: incident === null ? null : str(o.session), scroll };
}

function key(): string {
  // /  or  /<path_prefix>/ : the TensorBoard page, not the iframe document.
  const path = window.location.pathname.replace(/data\/plugin_entry\.html$/, "");
  return `nantrace:saved:${path}`;
}

export function readSaved(): Saved {
  try {
    return parseSaved(window.localStorage.getItem(key()));
  } catch {
    return { ...EMPTY }; // storage disabled
  }
}

export function writeSaved(update: Partial<Saved>): void {
  try {
    const next = { ...readSaved(), ...update };
    window.localStorage.setItem(key(), JSON.stringify(next));
  } catch {
    // Storage disabled or full: the hash still keeps the state of the iframe.
  }
}

/** The section the top of the viewport is in (null at the top of the page). */
export function currentScrollTarget(doc: Document = document): ScrollTarget | null {
  if ((doc.defaultView?.scrollY ?? 0) < 24) return null;
  let found: ScrollTarget | null = null;
  for (const s of doc.querySelectorAll("section.nt-section")) {
    const t = SCROLL_TARGETS.find((c) => s.classList.contains(c));
    if (s.getBoundingClientRect().top <= 48) found = t ?? null;
  }
  return found;
}

/** Saves the scroll target as the user scrolls (once per animation frame). */
export function followScroll(): void {
  let pending = false;
  window.addEventListener(
    "scroll",
    () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        writeSaved({ scroll: currentScrollTarget() });
      });
    },
    { passive: true },
  );
}

/**
 * Scrolls `target` (class of a section) to the top, and keeps it there while
 * the sections above it finish loading and change height, until the user
 * scrolls, clicks or types, or `ms` pass.
 */
export function restoreScroll(target: ScrollTarget, root: HTMLElement, ms = 6000): void {
  let done = false;
  const events = ["wheel", "keydown", "mousedown", "touchstart"] as const;
  const stop = () => {
    done = true;
    observer?.disconnect();
    for (const e of events) window.removeEventListener(e, stop);
  };
  const align = () => {
    if (done) return;
    const s = [...root.querySelectorAll("section.nt-section")].find((e) => e.classList.contains(target));
    if (s) s.scrollIntoView({ block: "start" });
  };
  const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver(align) : null;
  observer?.observe(root);
  for (const e of events) window.addEventListener(e, stop, { passive: true });
  setTimeout(stop, ms);
  align();
}

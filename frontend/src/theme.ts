// Light/dark theme following TensorBoard's: TensorBoard sets class
// "dark-mode" on its own document's body, and our iframe is same-origin, so
// we read (and observe) the parent's body class. Outside TensorBoard, or if
// the parent cannot be read, the system's prefers-color-scheme decides.
//
// The theme is a constant class on <html> (nt-dark); the CSS variables in
// style.ts follow it. Canvas drawings (charts, heat strip) read the colours
// from those variables and redraw on the "nantrace-theme" event.

export const THEME_EVENT = "nantrace-theme";

function parentBody(): HTMLElement | null {
  try {
    if (window.parent === window) return null;
    return window.parent.document.body ?? null;
  } catch {
    return null; // cross-origin parent
  }
}

export function isDark(): boolean {
  const body = parentBody();
  if (body) {
    try {
      return body.classList.contains("dark-mode");
    } catch {
      // fall through
    }
  }
  try {
    return window.matchMedia("(prefers-color-scheme: dark)").matches;
  } catch {
    return false;
  }
}

function apply(): void {
  const dark = isDark();
  const root = document.documentElement;
  if (root.classList.contains("nt-dark") === dark && root.classList.contains("nt-light") === !dark) return;
  root.classList.toggle("nt-dark", dark);
  root.classList.toggle("nt-light", !dark);
  window.dispatchEvent(new Event(THEME_EVENT));
}

/** Applies the theme now and keeps following TensorBoard's / the system's. */
export function followTheme(): void {
  apply();
  const body = parentBody();
  if (body) {
    try {
      new MutationObserver(() => apply()).observe(body, { attributes: true, attributeFilter: ["class"] });
    } catch {
      // Observing the parent failed: the system preference still applies.
    }
  }
  try {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => apply());
  } catch {
    // Very old browsers: no live updates.
  }
}

/** A CSS variable's current value (e.g. "--nt-fg"), for canvas drawing. */
export function cssVar(name: string, fallback: string): string {
  try {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  } catch {
    return fallback;
  }
}

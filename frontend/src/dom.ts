// The only way this plugin builds DOM: createElement + textContent.
//
// Data from event files is hostile (op names, layer names, file paths and
// source code are all attacker-controllable). It is only ever placed into the
// document as text nodes. Class names passed here must be constants from the
// source code, never data. `npm run lint-dom` enforces the absence of HTML
// parsing sinks (see scripts/lint-dom.mjs) across frontend/src.

export type Child = Node | string | number | null | undefined | false;
/** A child or (nested) arrays of children. */
export type Children = Child | readonly Children[];

/** Creates `<tag class="cls">` holding `children` (strings become text). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string | null,
  ...children: Children[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  append(node, ...children);
  return node;
}

/** Appends children; strings and numbers become text nodes, never markup. */
export function append(parent: Node, ...children: Children[]): void {
  for (const child of children) {
    if (isList(child)) {
      append(parent, ...child);
    } else if (child === null || child === undefined || child === false) {
      continue;
    } else if (typeof child === "string" || typeof child === "number") {
      parent.appendChild(document.createTextNode(String(child)));
    } else {
      parent.appendChild(child);
    }
  }
}

function isList(c: Children): c is readonly Children[] {
  return Array.isArray(c);
}

/** Removes every child of `node`. */
export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Replaces the children of `node`. */
export function replaceChildren(node: Node, ...children: Children[]): void {
  clear(node);
  append(node, ...children);
}

/** A `<button type="button">` with a click handler. */
export function button(
  cls: string | null,
  label: Children,
  onClick: (ev: MouseEvent) => void,
): HTMLButtonElement {
  const b = el("button", cls, label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/** A section with a heading, used for every top-level block of a run. */
export function section(cls: string, title: string, ...children: Children[]): HTMLElement {
  return el("section", `nt-section ${cls}`, el("h2", "nt-section-title", title), ...children);
}

// The only way this plugin builds SVG: createElementNS with a constant tag
// from SvgTag, geometry through the typed SVG DOM (numbers only, never
// strings), class names from constants, text through textContent. No
// attribute is ever set from data (npm run lint-dom: createElementNS is
// allowed in this file only; no setAttribute anywhere).

const NS = "http://www.w3.org/2000/svg";

/** Tags this plugin draws with: none that links, embeds, loads or runs anything. */
type SvgTag = "svg" | "g" | "rect" | "polyline" | "polygon" | "text" | "title";

type SvgMap = {
  svg: SVGSVGElement;
  g: SVGGElement;
  rect: SVGRectElement;
  polyline: SVGPolylineElement;
  polygon: SVGPolygonElement;
  text: SVGTextElement;
  title: SVGTitleElement;
};

export function svgEl<K extends SvgTag>(tag: K, cls?: string | null): SvgMap[K] {
  const node = document.createElementNS(NS, tag) as SvgMap[K];
  if (cls) node.classList.add(...cls.split(" ").filter((c) => c !== ""));
  return node;
}

function num(v: number): number {
  return Number.isFinite(v) ? v : 0;
}

export function rect(cls: string, x: number, y: number, w: number, h: number, r = 0): SVGRectElement {
  const e = svgEl("rect", cls);
  e.x.baseVal.value = num(x);
  e.y.baseVal.value = num(y);
  e.width.baseVal.value = Math.max(0, num(w));
  e.height.baseVal.value = Math.max(0, num(h));
  if (r > 0) {
    e.rx.baseVal.value = r;
    e.ry.baseVal.value = r;
  }
  return e;
}

/** <text> at (x, y) holding `content` as a text node. */
export function text(cls: string, x: number, y: number, content: string): SVGTextElement {
  const e = svgEl("text", cls);
  const owner = svgOwner();
  const lx = owner.createSVGLength();
  lx.value = num(x);
  const ly = owner.createSVGLength();
  ly.value = num(y);
  e.x.baseVal.appendItem(lx);
  e.y.baseVal.appendItem(ly);
  e.textContent = content;
  return e;
}

/** A tooltip (<title>) holding `content` as text. */
export function title(content: string): SVGTitleElement {
  const e = svgEl("title");
  e.textContent = content;
  return e;
}

export function polyline(cls: string, points: readonly { x: number; y: number }[], dx = 0, dy = 0): SVGPolylineElement {
  const e = svgEl("polyline", cls);
  setPoints(e, points, dx, dy);
  return e;
}

export function polygon(cls: string, points: readonly { x: number; y: number }[]): SVGPolygonElement {
  const e = svgEl("polygon", cls);
  setPoints(e, points, 0, 0);
  return e;
}

function setPoints(e: SVGPolylineElement | SVGPolygonElement, points: readonly { x: number; y: number }[], dx: number, dy: number): void {
  const owner = svgOwner();
  for (const p of points) {
    const pt = owner.createSVGPoint();
    pt.x = num(p.x + dx);
    pt.y = num(p.y + dy);
    e.points.appendItem(pt);
  }
}

/** Sets the viewBox through the typed DOM. */
export function setViewBox(svg: SVGSVGElement, x: number, y: number, w: number, h: number): void {
  const vb = svg.viewBox.baseVal;
  vb.x = num(x);
  vb.y = num(y);
  vb.width = Math.max(1, num(w));
  vb.height = Math.max(1, num(h));
}

/** A translate(dx, dy) transform on a group. */
export function translate(g: SVGGElement, dx: number, dy: number): void {
  const t = svgOwner().createSVGTransform();
  t.setTranslate(num(dx), num(dy));
  g.transform.baseVal.clear();
  g.transform.baseVal.appendItem(t);
}

let factory: SVGSVGElement | null = null;
/** createSVGLength/Point/Transform live on an <svg> element. */
function svgOwner(): SVGSVGElement {
  if (!factory) factory = svgEl("svg");
  return factory;
}

// Pan and zoom of the graph's SVG through its viewBox: wheel to zoom at the
// pointer, drag to pan, the viewBox scaled with the viewport when it resizes.
// Owns the view box and the viewport's measured size; reports every change
// of the view box so that it survives a refresh.

import { setViewBox } from "./svg";

export interface ViewBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Height of the viewport when it cannot be measured (and of the first view box). */
export const VIEW_H = 560;

export class PanZoom {
  private vb: ViewBox = { x: 0, y: 0, w: 800, h: VIEW_H };
  private size = { w: 0, h: 0 };
  private drag = false;

  constructor(
    private readonly svg: SVGSVGElement,
    private readonly viewport: HTMLElement,
    private readonly onView: (vb: ViewBox) => void,
  ) {
    this.installWheel();
    this.installDrag();
    this.installResize();
  }

  /** True from the start of a drag until just after the click that ends it. */
  get dragged(): boolean {
    return this.drag;
  }

  measure(): void {
    const w = this.viewport.clientWidth || 800;
    const h = this.viewport.clientHeight || VIEW_H;
    this.size = { w, h };
  }

  /** Screen pixels per drawing unit. */
  scale(): number {
    return this.size.w / this.vb.w;
  }

  /** Shows `vb` (a view kept from before a refresh). */
  restore(vb: ViewBox): void {
    this.vb = { ...vb };
    this.apply();
  }

  /** Moves the view by (dx, dy) drawing units, e.g. to follow a box after a redraw. */
  shift(dx: number, dy: number): void {
    this.vb.x += dx;
    this.vb.y += dy;
    this.apply();
  }

  /** Shows the whole drawing of size `extent` (from (0, 0)), at most a bit enlarged. */
  fit(extent: { w: number; h: number }): void {
    this.measure();
    const margin = 20;
    const minX = 0;
    const minY = 0;
    const maxX = Math.max(100, extent.w);
    const maxY = Math.max(100, extent.h);
    const w = maxX - minX + 2 * margin;
    const h = maxY - minY + 2 * margin;
    const s = Math.min(this.size.w / w, this.size.h / h, 1.2);
    this.vb = {
      w: this.size.w / s,
      h: this.size.h / s,
      x: minX - margin - (this.size.w / s - w) / 2,
      y: minY - margin - (this.size.h / s - h) / 2,
    };
    this.apply();
  }

  /** Keeps the horizontal centre, shows the top of the drawing at scale `s`. */
  top(s: number): void {
    this.vb = { x: this.vb.x + this.vb.w / 2 - this.size.w / s / 2, y: -20, w: this.size.w / s, h: this.size.h / s };
    this.apply();
  }

  /** Centres on `box` at scale `s` (nothing when the box is not drawn). */
  centreOn(box: ViewBox | undefined, s: number): void {
    this.measure();
    if (!box) return;
    const w = this.size.w / s;
    const h = this.size.h / s;
    this.vb = { x: box.x + box.w / 2 - w / 2, y: box.y + box.h / 2 - h / 2, w, h };
    this.apply();
  }

  /** Zooms by `f` (> 1: out) around (cx, cy), by default the centre. */
  zoomBy(f: number, cx?: number, cy?: number): void {
    this.measure();
    const x = cx ?? this.vb.x + this.vb.w / 2;
    const y = cy ?? this.vb.y + this.vb.h / 2;
    const s = this.size.w / (this.vb.w * f);
    if (s < 0.02 || s > 4) return;
    this.vb = { x: x - (x - this.vb.x) * f, y: y - (y - this.vb.y) * f, w: this.vb.w * f, h: this.vb.h * f };
    this.apply();
  }

  private apply(): void {
    setViewBox(this.svg, this.vb.x, this.vb.y, this.vb.w, this.vb.h);
    this.onView({ ...this.vb });
  }

  private installWheel(): void {
    this.svg.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        const r = this.svg.getBoundingClientRect();
        const px = this.vb.x + ((ev.clientX - r.left) / (r.width || 1)) * this.vb.w;
        const py = this.vb.y + ((ev.clientY - r.top) / (r.height || 1)) * this.vb.h;
        const delta = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
        this.zoomBy(Math.exp(Math.max(-1, Math.min(1, delta * 0.0015))), px, py);
      },
      { passive: false },
    );
  }

  private installDrag(): void {
    let start: { x: number; y: number; vx: number; vy: number; id: number } | null = null;
    this.svg.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      start = { x: ev.clientX, y: ev.clientY, vx: this.vb.x, vy: this.vb.y, id: ev.pointerId };
      this.drag = false;
    });
    this.svg.addEventListener("pointermove", (ev) => {
      if (!start || ev.pointerId !== start.id) return;
      const dx = ev.clientX - start.x;
      const dy = ev.clientY - start.y;
      if (!this.drag && Math.hypot(dx, dy) < 4) return;
      if (!this.drag) {
        this.drag = true;
        this.svg.setPointerCapture(ev.pointerId);
        this.svg.classList.add("nt-dragging");
      }
      const k = this.vb.w / (this.svg.clientWidth || this.size.w || 1);
      this.vb.x = start.vx - dx * k;
      this.vb.y = start.vy - dy * k;
      this.apply();
    });
    const end = (ev: PointerEvent) => {
      if (!start || ev.pointerId !== start.id) return;
      start = null;
      this.svg.classList.remove("nt-dragging");
      // The click that follows a drag is not a click on a node.
      if (this.drag) setTimeout(() => (this.drag = false), 0);
    };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
  }

  /** Keeps the scale when the viewport resizes (an observer, not a window
   * listener: it goes away with the element when the view is replaced). */
  private installResize(): void {
    if (typeof ResizeObserver === "undefined") return;
    new ResizeObserver(() => {
      const old = this.size;
      this.measure();
      if (old.w > 0 && old.h > 0 && (old.w !== this.size.w || old.h !== this.size.h)) {
        this.vb.w *= this.size.w / old.w;
        this.vb.h *= this.size.h / old.h;
        this.apply();
      }
    }).observe(this.viewport);
  }
}

// All styling, as one constant injected through a <style> element's
// textContent. No style is ever computed from data.

export const CSS = `
/* Light theme; html.nt-dark (theme.ts: TensorBoard's dark-mode, else the
   system preference) switches to the dark one. */
:root {
  color-scheme: light;
  --nt-bg: #ffffff;
  --nt-fg: #212121;
  --nt-muted: #6b6b6b;
  --nt-border: #e0e0e0;
  --nt-panel: #f7f7f8;
  --nt-code-bg: #f4f5f7;
  --nt-accent: #e8710a;
  --nt-hit-bg: #fff0d6;
  --nt-hit-border: #f57c00;
  --nt-bad: #c62828;
  --nt-bad-bg: #fde7e7;
  --nt-ok: #2e7d32;
  --nt-ok-bg: #e6f4ea;
  --nt-warn: #b06000;
  --nt-warn-bg: #fef3e0;
  --nt-selected: #e8eefc;
  --nt-link: #1a56c4;
  --nt-grid: rgba(0, 0, 0, 0.08);
  --nt-missing: #e4e4e4;
  --nt-edge: #9aa0a6;
  --nt-group-bg: #f1f3f4;
  --nt-group-border: #bdc1c6;
  --nt-st-origin-bg: #ffcdd2;
  --nt-st-origin-fg: #b71c1c;
  --nt-st-prop-bg: #ffe0b2;
  --nt-st-prop-fg: #c25e00;
  --nt-st-finite-bg: #ffffff;
  --nt-st-finite-fg: #80868b;
  --nt-st-input-bg: #d2e3fc;
  --nt-st-input-fg: #1967d2;
  --nt-st-var-bg: #e9d7fe;
  --nt-st-var-fg: #7b1fa2;
  --nt-c0: #1a73e8; --nt-c1: #e8710a; --nt-c2: #12b5cb; --nt-c3: #9334e6; --nt-c4: #188038;
  --nt-c5: #d01884; --nt-c6: #b8860b; --nt-c7: #5f6368; --nt-c8: #a142f4; --nt-c9: #00897b;
}
:root.nt-dark {
  color-scheme: dark;
  --nt-bg: #202124;
  --nt-fg: #e3e3e3;
  --nt-muted: #9aa0a6;
  --nt-border: #3c4043;
  --nt-panel: #2a2b2e;
  --nt-code-bg: #17181b;
  --nt-accent: #ffa726;
  --nt-hit-bg: #4a3410;
  --nt-hit-border: #ffa726;
  --nt-bad: #ff8a80;
  --nt-bad-bg: #4a1f1f;
  --nt-ok: #81c995;
  --nt-ok-bg: #1f3a27;
  --nt-warn: #fdd663;
  --nt-warn-bg: #42361a;
  --nt-selected: #2b3650;
  --nt-link: #8ab4f8;
  --nt-grid: rgba(255, 255, 255, 0.09);
  --nt-missing: #3a3b3e;
  --nt-edge: #7c8186;
  --nt-group-bg: #2a2c30;
  --nt-group-border: #5f6368;
  --nt-st-origin-bg: #6e1c1c;
  --nt-st-origin-fg: #ff8a80;
  --nt-st-prop-bg: #5c3a0c;
  --nt-st-prop-fg: #ffb74d;
  --nt-st-finite-bg: #303134;
  --nt-st-finite-fg: #9aa0a6;
  --nt-st-input-bg: #1c3a66;
  --nt-st-input-fg: #8ab4f8;
  --nt-st-var-bg: #3f2356;
  --nt-st-var-fg: #d7aefb;
  --nt-c0: #8ab4f8; --nt-c1: #fcad70; --nt-c2: #78d9ec; --nt-c3: #c58af9; --nt-c4: #81c995;
  --nt-c5: #ff8bcb; --nt-c6: #fdd663; --nt-c7: #bdc1c6; --nt-c8: #d7aefb; --nt-c9: #4ecdc4;
}
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body {
  background: var(--nt-bg);
  color: var(--nt-fg);
  font: 13px/1.45 Roboto, system-ui, -apple-system, "Segoe UI", sans-serif;
}
code, .nt-code, .nt-shape, .nt-num {
  font-family: "Roboto Mono", ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px;
}
code, td, dd, li, .nt-run-name, .nt-headline strong, .nt-linetext {
  unicode-bidi: isolate;
  overflow-wrap: anywhere;
}
h1, h2, h3, h4 { margin: 0; font-weight: 500; }
.nt-app { display: flex; flex-direction: column; min-height: 100vh; }
.nt-topbar {
  display: flex; align-items: center; gap: 12px;
  padding: 8px 16px; border-bottom: 1px solid var(--nt-border);
}
.nt-topbar-title { font-size: 15px; font-weight: 500; }
.nt-topbar-sub { color: var(--nt-muted); flex: 1; }
.nt-layout { display: grid; grid-template-columns: 280px minmax(0, 1fr); flex: 1; min-height: 0; }
.nt-sidebar {
  border-right: 1px solid var(--nt-border); padding: 12px;
  position: sticky; top: 0; align-self: start; max-height: 100vh; overflow: auto;
}
.nt-main { padding: 12px 20px 40px; min-width: 0; max-width: 1200px; }
@media (max-width: 760px) {
  .nt-layout { grid-template-columns: 1fr; }
  .nt-sidebar { position: static; max-height: 40vh; border-right: 0; border-bottom: 1px solid var(--nt-border); }
}
button {
  font: inherit; color: inherit; background: transparent; cursor: pointer;
  border: 1px solid var(--nt-border); border-radius: 4px; padding: 3px 10px;
}
button:hover { background: var(--nt-panel); }
button:focus-visible, input:focus-visible, summary:focus-visible {
  outline: 2px solid var(--nt-link); outline-offset: 1px;
}
.nt-section-title { font-size: 13px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--nt-muted); margin-bottom: 8px; }
.nt-section { border: 1px solid var(--nt-border); border-radius: 6px; padding: 12px 14px; margin-top: 12px; }
.nt-section h3 { font-size: 13px; font-weight: 600; margin: 14px 0 6px; }
.nt-section h4 { font-size: 12px; font-weight: 600; margin: 8px 0 4px; }
.nt-muted { color: var(--nt-muted); }
.nt-filter {
  width: 100%; font: inherit; color: inherit; background: var(--nt-bg);
  border: 1px solid var(--nt-border); border-radius: 4px; padding: 4px 8px;
}
.nt-check { display: block; margin: 6px 0; color: var(--nt-muted); cursor: pointer; }
.nt-runs-summary { margin-bottom: 6px; font-size: 12px; }
.nt-run-list { display: flex; flex-direction: column; gap: 2px; }
.nt-run {
  display: flex; align-items: baseline; gap: 8px;
  width: 100%; text-align: left; border-color: transparent; padding: 3px 8px;
}
.nt-run .nt-run-name { flex: 1; }
.nt-run .nt-badge { flex: none; }
.nt-run-selected, .nt-run-selected:hover { background: var(--nt-selected); border-color: var(--nt-link); }
.nt-run-name { min-width: 0; word-break: break-all; }
.nt-badge {
  display: inline-block; font-size: 11px; font-weight: 500; line-height: 16px;
  padding: 0 6px; border-radius: 8px; vertical-align: middle; white-space: nowrap;
}
.nt-badge-ok { color: var(--nt-ok); background: var(--nt-ok-bg); }
.nt-badge-bad { color: var(--nt-bad); background: var(--nt-bad-bg); }
.nt-badge-warn { color: var(--nt-warn); background: var(--nt-warn-bg); }
.nt-badge-live { color: var(--nt-link); background: var(--nt-selected); }
.nt-badge-sel { color: var(--nt-link); background: var(--nt-selected); margin-left: 8px; }
.nt-run-header { margin-bottom: 4px; }
.nt-run-title { font-size: 18px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.nt-run-title-name { overflow-wrap: anywhere; unicode-bidi: isolate; }
.nt-meta { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 4px; }
.nt-notes { margin: 6px 0 0; padding-left: 18px; color: var(--nt-muted); }
.nt-origin { border-color: var(--nt-accent); border-left-width: 4px; }
.nt-headline { font-size: 15px; margin: 0 0 10px; }
.nt-headline strong { font-weight: 600; font-family: "Roboto Mono", ui-monospace, monospace; font-size: 14px; }
.nt-fields {
  display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 14px; margin: 0;
}
.nt-fields dt { color: var(--nt-muted); }
.nt-fields dd { margin: 0; min-width: 0; }
.nt-phase, .nt-kind {
  display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px;
  border: 1px solid var(--nt-border);
}
.nt-kind { color: var(--nt-bad); border-color: var(--nt-bad); }
.nt-source-head { margin-bottom: 4px; }
.nt-file { font-weight: 600; }
.nt-code {
  background: var(--nt-code-bg); border: 1px solid var(--nt-border); border-radius: 4px;
  padding: 4px 0; overflow-x: auto; white-space: pre;
}
.nt-line { display: flex; padding: 0 8px 0 0; border-left: 3px solid transparent; }
.nt-line-hit { background: var(--nt-hit-bg); border-left-color: var(--nt-hit-border); font-weight: 600; }
.nt-lineno { flex: none; width: 4.5em; padding-right: 12px; text-align: right; color: var(--nt-muted); user-select: none; }
.nt-linetext { white-space: pre; overflow-wrap: normal; }
.nt-ctrl { color: var(--nt-bad); font-weight: 600; }
.nt-code-one .nt-line { padding-left: 8px; }
.nt-table-wrap { overflow-x: auto; }
.nt-stats { border-collapse: collapse; width: 100%; }
.nt-stats th, .nt-stats td { padding: 3px 8px; border-bottom: 1px solid var(--nt-border); text-align: left; vertical-align: top; }
.nt-stats th { font-weight: 500; color: var(--nt-muted); white-space: nowrap; }
.nt-stats .nt-shape, .nt-stats .nt-dtype { white-space: nowrap; }
.nt-stats .nt-num { text-align: right; white-space: nowrap; }
.nt-stats .nt-tensor { min-width: 12em; }
.nt-bad { color: var(--nt-bad); background: var(--nt-bad-bg); font-weight: 700; }
.nt-diagnosis { margin-top: 6px; }
.nt-cause { margin: 0; }
.nt-cause-code {
  display: inline-block; padding: 0 6px; border-radius: 3px;
  background: var(--nt-bad-bg); color: var(--nt-bad); font-weight: 600;
}
.nt-list { margin: 0; padding-left: 22px; }
.nt-list li { margin: 2px 0; }
.nt-note { background: var(--nt-panel); border-left: 3px solid var(--nt-muted); padding: 4px 8px; margin: 6px 0; }
.nt-stack { margin-top: 12px; }
.nt-stack summary, .nt-later-summary { cursor: pointer; }
.nt-frame { margin: 8px 0 0 14px; }
.nt-later-list { display: flex; flex-direction: column; }
.nt-later { border-top: 1px solid var(--nt-border); }
.nt-later-summary { padding: 5px 0; }
.nt-later-summary > span, .nt-later-summary > code { margin-right: 10px; }
.nt-inc-index { color: var(--nt-muted); }
.nt-inc-cause { color: var(--nt-muted); font-size: 12px; }
.nt-later-body { padding: 4px 0 12px 16px; }
.nt-hint { margin: 0 0 6px; }
.nt-healthy { border-color: var(--nt-ok); border-left-width: 4px; }
.nt-healthy-text { font-size: 15px; margin: 0; color: var(--nt-ok); }
.nt-placeholder { border-style: dashed; }
.nt-placeholder p { margin: 0; }
.nt-message { padding: 16px 0; }
.nt-error {
  border: 1px solid var(--nt-bad); background: var(--nt-bad-bg); color: var(--nt-fg);
  border-radius: 6px; padding: 10px 14px; margin: 12px 0;
}
.nt-error-title { font-weight: 600; color: var(--nt-bad); margin: 0 0 4px; }
.nt-error p { margin: 0 0 8px; overflow-wrap: anywhere; }

/* ---- buttons, controls */
.nt-btn-small { font-size: 12px; padding: 1px 8px; }
.nt-btn-accent { border-color: var(--nt-bad); color: var(--nt-bad); font-weight: 500; }
.nt-linkish { border: 0; padding: 0; text-align: left; color: inherit; background: transparent; }
.nt-linkish:hover { background: transparent; text-decoration: underline; }
.nt-select {
  font: inherit; color: inherit; background: var(--nt-bg);
  border: 1px solid var(--nt-border); border-radius: 4px; padding: 2px 4px;
}
.nt-inline { display: inline-flex; align-items: center; gap: 4px; color: var(--nt-muted); }
.nt-seg { display: inline-flex; }
.nt-seg button { border-radius: 0; margin-left: -1px; }
.nt-seg button:first-child { border-radius: 4px 0 0 4px; margin-left: 0; }
.nt-seg button:last-child { border-radius: 0 4px 4px 0; }
.nt-seg .nt-seg-on { background: var(--nt-selected); border-color: var(--nt-link); position: relative; }
button:disabled { opacity: 0.45; cursor: default; }
.nt-live { margin-top: 4px; font-size: 12px; }
.nt-live-on .nt-muted::before { content: "● "; color: var(--nt-ok); }
.nt-origin-head { display: flex; align-items: baseline; gap: 12px; }
.nt-origin-later { border-color: var(--nt-link); }
.nt-later-selected > summary { font-weight: 500; }
.nt-bad-text { color: var(--nt-bad); font-weight: 600; }
.nt-analysis { margin-top: 8px; }
.nt-repro-yes { color: var(--nt-bad); }
.nt-repro-no { color: var(--nt-muted); }
.nt-fix-ok { color: var(--nt-ok); font-weight: 600; }
.nt-fix-bad { color: var(--nt-bad); }
.nt-culprit-features { font-family: "Roboto Mono", monospace; font-size: 12px; }
.nt-warn-text { color: var(--nt-warn); }

/* ---- warnings in the diagnosis */
.nt-contrib { margin: 0; padding-left: 0; list-style: none; }
.nt-contrib-item { margin: 4px 0 8px; }
.nt-warn-code {
  display: inline-block; padding: 0 6px; border-radius: 3px;
  background: var(--nt-warn-bg); color: var(--nt-warn); font-weight: 600;
}
.nt-warning-list { margin: 4px 0 0; padding-left: 20px; }
.nt-warning-line { margin: 2px 0; }
.nt-warning-step { color: var(--nt-muted); white-space: nowrap; }
.nt-other-warnings { margin-top: 6px; }
.nt-other-warnings summary { cursor: pointer; color: var(--nt-muted); }
.nt-warned { border-color: var(--nt-warn); }

/* ---- timeline */
.nt-timeline-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; margin-bottom: 4px; }
.nt-range { margin: 4px 0 0; font-size: 12px; }
.nt-chart { min-height: 190px; }
.nt-chart .u-over { cursor: crosshair; }
.nt-chart .u-over.nt-over-marker { cursor: pointer; }
.nt-chart-status { min-height: 1.45em; font-size: 12px; overflow-wrap: anywhere; }
.nt-chart-caption { margin: 10px 0 2px; font-size: 13px; font-weight: 500; }
.nt-chart-caption .nt-swatch { margin-right: 6px; }
.nt-zero-note { margin: 2px 0; font-size: 12px; overflow-wrap: anywhere; }
.nt-series-legend { display: flex; flex-wrap: wrap; gap: 2px 12px; font-size: 12px; margin: 2px 0 4px; }
.nt-legend-series { cursor: default; }
.nt-legend-fold { font-size: 12px; margin: 2px 0 4px; }
.nt-legend-fold summary { cursor: pointer; }
.nt-legend-item { display: inline-flex; align-items: center; gap: 4px; }
.nt-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; border: 1px solid transparent; flex: none; }
.nt-c0 { background: var(--nt-c0); } .nt-c1 { background: var(--nt-c1); } .nt-c2 { background: var(--nt-c2); }
.nt-c3 { background: var(--nt-c3); } .nt-c4 { background: var(--nt-c4); } .nt-c5 { background: var(--nt-c5); }
.nt-c6 { background: var(--nt-c6); } .nt-c7 { background: var(--nt-c7); } .nt-c8 { background: var(--nt-c8); }
.nt-c9 { background: var(--nt-c9); }
.nt-markers { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 6px; margin: 8px 0; font-size: 12px; }
.nt-chip { border: 1px solid var(--nt-border); border-radius: 12px; padding: 0 8px; line-height: 20px; font-size: 12px; position: relative; }
.nt-chip-incident { border-color: var(--nt-bad); color: var(--nt-bad); }
.nt-chip-incident .nt-muted { color: inherit; opacity: 0.8; }
.nt-chip-on { background: var(--nt-bad-bg); font-weight: 600; }
.nt-chip-warning { border-color: var(--nt-warn); color: var(--nt-warn); }
.nt-chip-tip {
  display: none; position: absolute; left: 0; top: 22px; z-index: 5; width: max-content; max-width: 420px;
  background: var(--nt-panel); color: var(--nt-fg); border: 1px solid var(--nt-border); border-radius: 4px;
  padding: 4px 8px; white-space: normal; font-weight: 400;
}
.nt-chip-warning:hover .nt-chip-tip { display: block; }
.nt-heat { margin-top: 4px; }
.nt-heat-summary { margin: 0 0 6px; }
.nt-heat-wrap { width: 100%; }
.nt-heat-canvas { display: block; width: 100%; height: auto; }
.nt-heat-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin-top: 4px; }
.nt-swatch-ramp { width: 44px; background: linear-gradient(90deg, #440154, #3b518b, #21908d, #5cc863, #fde725); }
.nt-swatch-nan { background: rgb(255, 23, 68); }
.nt-swatch-inf { background: rgb(255, 64, 255); }
.nt-swatch-missing { background: var(--nt-missing); }
.nt-swatch-zero { background: rgb(0, 0, 0); }

/* ---- graph */
.nt-graph-summary { margin: 0 0 6px; }
.nt-graph-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-bottom: 6px; }
.nt-graph-search { width: 200px; }
.nt-graph-status { font-size: 12px; }
.nt-graph-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin-bottom: 6px; color: var(--nt-muted); }
.nt-graph-main { display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 10px; }
@media (max-width: 1000px) { .nt-graph-main { grid-template-columns: 1fr; } }
.nt-graph-viewport {
  height: 560px; border: 1px solid var(--nt-border); border-radius: 4px; overflow: hidden;
  background: var(--nt-bg); position: relative;
}
.nt-graph-svg { display: block; width: 100%; height: 100%; cursor: grab; user-select: none; touch-action: none; }
.nt-graph-svg.nt-dragging { cursor: grabbing; }
.nt-graph-details { font-size: 12px; max-height: 560px; overflow: auto; min-width: 0; }
.nt-graph-details h3 { margin-top: 0; }
.nt-graph-details .nt-stats th, .nt-graph-details .nt-stats td { padding: 2px 4px; }
.nt-cstat { border-bottom: 1px solid var(--nt-border); padding: 4px 0; }
.nt-cstat code { overflow-wrap: anywhere; }
.nt-cstat-grid { display: grid; grid-template-columns: repeat(5, auto); gap: 0 8px; margin: 2px 0 0; }
.nt-cstat-grid dt { grid-row: 1; color: var(--nt-muted); font-size: 11px; }
.nt-cstat-grid dd { grid-row: 2; margin: 0; text-align: left; }
.nt-graph-oplist { list-style: none; margin: 0; padding: 0; }
.nt-graph-oplist li { display: flex; align-items: baseline; gap: 6px; margin: 2px 0; }
.nt-graph-oplist .nt-muted { overflow-wrap: anywhere; }
.nt-dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; flex: none; border: 1px solid transparent; }
.nt-state { padding: 0 6px; border-radius: 3px; border: 1px solid transparent; }
.nt-graph-loading { padding: 20px 0; }
.nt-gn { cursor: pointer; }
.nt-gn-box { stroke-width: 1.2; }
.nt-gn-group .nt-gn-box { stroke-width: 1.6; }
.nt-gn-shadow { fill: var(--nt-group-border); opacity: 0.35; }
.nt-gn-t1, .nt-gn-t2 { text-anchor: middle; font-family: Roboto, system-ui, sans-serif; pointer-events: none; }
.nt-gn-t1 { font-size: 11px; font-weight: 600; fill: var(--nt-fg); }
.nt-gn-t2 { font-size: 10px; fill: var(--nt-muted); }
.nt-gn-hubmark { font-size: 12px; font-weight: 700; fill: var(--nt-muted); text-anchor: end; pointer-events: none; }
.nt-gn-hub .nt-gn-box { stroke-dasharray: 3 2; }
.nt-gn:hover .nt-gn-box, .nt-gn:focus-visible .nt-gn-box { stroke-width: 2.4; }
.nt-gn:focus, .nt-gx-head:focus { outline: none; }
.nt-gn:focus-visible .nt-gn-box, .nt-gx-head:focus-visible .nt-gx-headbox { stroke: var(--nt-link); stroke-width: 2.4; }
.nt-gn-selected .nt-gn-box, .nt-gn-selected .nt-gx-box { stroke: var(--nt-link); stroke-width: 3; }
.nt-gx-box { fill: var(--nt-group-bg); fill-opacity: 0.55; stroke: var(--nt-group-border); stroke-width: 1.2; stroke-dasharray: 5 3; }
.nt-gx-head { cursor: pointer; }
.nt-gx-headbox { fill: var(--nt-group-border); fill-opacity: 0.25; }
.nt-gx-t { font-size: 11px; font-weight: 600; fill: var(--nt-fg); font-family: Roboto, system-ui, sans-serif; }
.nt-gx.nt-st-origin .nt-gx-box { stroke: var(--nt-st-origin-fg); }
.nt-gx.nt-st-propagated .nt-gx-box { stroke: var(--nt-st-prop-fg); }
.nt-gn.nt-st-origin .nt-gn-box { fill: var(--nt-st-origin-bg); stroke: var(--nt-st-origin-fg); stroke-width: 2.4; }
.nt-gn.nt-st-propagated .nt-gn-box { fill: var(--nt-st-prop-bg); stroke: var(--nt-st-prop-fg); }
.nt-gn.nt-st-finite .nt-gn-box { fill: var(--nt-st-finite-bg); stroke: var(--nt-st-finite-fg); }
.nt-gn.nt-st-input .nt-gn-box { fill: var(--nt-st-input-bg); stroke: var(--nt-st-input-fg); }
.nt-gn.nt-st-variable .nt-gn-box { fill: var(--nt-st-var-bg); stroke: var(--nt-st-var-fg); }
.nt-ge-line { fill: none; stroke: var(--nt-edge); stroke-width: 1.1; }
.nt-ge-arrow { fill: var(--nt-edge); }
.nt-ge-w2 .nt-ge-line { stroke-width: 1.8; }
.nt-ge-w3 .nt-ge-line { stroke-width: 2.8; }
.nt-ge-bad .nt-ge-line { stroke: var(--nt-st-prop-fg); }
.nt-ge-bad .nt-ge-arrow { fill: var(--nt-st-prop-fg); }
.nt-ge-hub .nt-ge-line { stroke-opacity: 0.35; stroke-dasharray: 4 3; }
.nt-ge-hub .nt-ge-arrow { fill-opacity: 0.35; }
.nt-swatch.nt-st-origin, .nt-dot.nt-st-origin, .nt-state.nt-st-origin { background: var(--nt-st-origin-bg); border-color: var(--nt-st-origin-fg); }
.nt-swatch.nt-st-propagated, .nt-dot.nt-st-propagated, .nt-state.nt-st-propagated { background: var(--nt-st-prop-bg); border-color: var(--nt-st-prop-fg); }
.nt-swatch.nt-st-finite, .nt-dot.nt-st-finite, .nt-state.nt-st-finite { background: var(--nt-st-finite-bg); border-color: var(--nt-st-finite-fg); }
.nt-swatch.nt-st-input, .nt-dot.nt-st-input, .nt-state.nt-st-input { background: var(--nt-st-input-bg); border-color: var(--nt-st-input-fg); }
.nt-swatch.nt-st-variable, .nt-dot.nt-st-variable, .nt-state.nt-st-variable { background: var(--nt-st-var-bg); border-color: var(--nt-st-var-fg); }
.nt-swatch-group { background: var(--nt-group-bg); border: 1.5px solid var(--nt-group-border); width: 16px; }
`;

// All styling, as one constant injected through a <style> element's
// textContent. No style is ever computed from data.

export const CSS = `
:root {
  color-scheme: light dark;
  --nt-bg: #ffffff;
  --nt-fg: #212121;
  --nt-muted: #6b6b6b;
  --nt-border: #e0e0e0;
  --nt-panel: #f7f7f8;
  --nt-code-bg: #f4f5f7;
  --nt-accent: #f57c00;
  --nt-hit-bg: #fff0d6;
  --nt-hit-border: #f57c00;
  --nt-bad: #c62828;
  --nt-bad-bg: #fde7e7;
  --nt-ok: #2e7d32;
  --nt-ok-bg: #e6f4ea;
  --nt-selected: #e8eefc;
  --nt-link: #1a56c4;
}
@media (prefers-color-scheme: dark) {
  :root {
    --nt-bg: #1e1f22;
    --nt-fg: #e3e3e3;
    --nt-muted: #9aa0a6;
    --nt-border: #3c3f44;
    --nt-panel: #26282c;
    --nt-code-bg: #17181b;
    --nt-accent: #ffa726;
    --nt-hit-bg: #4a3410;
    --nt-hit-border: #ffa726;
    --nt-bad: #ff8a80;
    --nt-bad-bg: #4a1f1f;
    --nt-ok: #81c995;
    --nt-ok-bg: #1f3a27;
    --nt-selected: #2b3650;
    --nt-link: #8ab4f8;
  }
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
.nt-run .nt-badge { margin-left: auto; flex: none; }
.nt-run-selected, .nt-run-selected:hover { background: var(--nt-selected); border-color: var(--nt-link); }
.nt-run-name { min-width: 0; word-break: break-all; }
.nt-badge {
  display: inline-block; font-size: 11px; font-weight: 500; line-height: 16px;
  padding: 0 6px; border-radius: 8px; vertical-align: middle; white-space: nowrap;
}
.nt-badge-ok { color: var(--nt-ok); background: var(--nt-ok-bg); }
.nt-badge-bad { color: var(--nt-bad); background: var(--nt-bad-bg); }
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
`;

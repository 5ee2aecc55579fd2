// Fails if frontend/src (or the built bundle) uses an HTML-parsing DOM sink or
// puts anything into a URL/style/event-handler attribute.
//
// Every string this plugin shows comes from event files and is hostile; the
// DOM is built with document.createElement + textContent only (src/dom.ts),
// SVG with createElementNS + typed geometry + textContent only (src/svg.ts).
//
// The bundle is checked module by module (esbuild marks each with a
// "// path" line): our modules get every rule; the pinned vendor modules
// (uPlot, dagre) may set inline styles, which uPlot needs for its layout,
// but no HTML sink, eval or javascript: URL either. uPlot puts labels into
// the DOM with textContent; dagre touches no DOM.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const frontendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repoDir = path.resolve(frontendDir, "..");

const FORBIDDEN = [
  [/\binnerHTML\b/, "innerHTML"],
  [/\bouterHTML\b/, "outerHTML"],
  [/\binsertAdjacentHTML\b/, "insertAdjacentHTML"],
  [/\bdocument\s*\.\s*write(ln)?\b/, "document.write"],
  [/\bcreateContextualFragment\b/, "Range.createContextualFragment"],
  [/\bDOMParser\b/, "DOMParser"],
  [/\bsetHTMLUnsafe\b|\bparseHTMLUnsafe\b/, "setHTMLUnsafe/parseHTMLUnsafe"],
  [/\bsrcdoc\b/, "iframe srcdoc"],
  [/\binnerText\b/, "innerText (use textContent)"],
  [/\bsetAttribute(NS)?\s*\(/, "setAttribute (use typed properties with constants)"],
  [/\.\s*(href|src|action|formAction|data)\s*=(?!=)/, "URL-bearing property assignment"],
  [/\.\s*style\b/, "inline style (use classes from src/style.ts)"],
  [/\.\s*on[a-z]+\s*=(?!=)/, "on* handler property (use addEventListener)"],
  [/\beval\s*\(|\bnew\s+Function\b/, "eval / new Function"],
  [/\bjavascript:/i, "javascript: URL"],
  // SVG: built in src/svg.ts only, from a closed set of tags.
  [/\bcreateElementNS\b/, "createElementNS outside src/svg.ts (use svgEl)", (file) => !file.endsWith(path.join("src", "svg.ts"))],
  [/foreignObject|["']script["']|["']use["']|["']image["']|["']animate|xlink/i, "SVG element/attribute that can load or run content"],
  [/\.\s*(baseVal|animVal)\s*\.\s*valueAsString\b|newValueSpecifiedUnits/, "string-typed SVG geometry (use numbers)"],
  [/\.\s*(className|id|title|ariaLabel|placeholder|value)\s*=\s*`[^`]*\$\{/, "attribute property set from an interpolated string"],
];

// What vendor modules of the bundle must not do (styles are allowed).
const VENDOR_FORBIDDEN = FORBIDDEN.filter(([, what]) =>
  /innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|setHTMLUnsafe|srcdoc|eval|javascript:/.test(what),
);
const VENDORS = ["node_modules/uplot/", "node_modules/@dagrejs/"];

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else if (/\.(ts|tsx|js|mjs|cjs)$/.test(name)) out.push(p);
  }
  return out;
}

const targets = listFiles(path.join(frontendDir, "src"));
const bundle = path.join(repoDir, "tb_nantrace", "static", "index.js");
if (existsSync(bundle)) targets.push(bundle);

let problems = 0;
for (const file of targets) {
  const lines = readFileSync(file, "utf8").split("\n");
  const isBundle = file === bundle;
  let module = null; // the bundle's current module ("src/x.ts", "node_modules/...")
  lines.forEach((line, i) => {
    if (isBundle) {
      const m = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(line);
      if (m) {
        module = m[1];
        if (module.startsWith("node_modules/") && !VENDORS.some((v) => module.startsWith(v))) {
          problems++;
          console.error(`${path.relative(repoDir, file)}:${i + 1}: unreviewed vendor module in the bundle: ${module}`);
        }
        return;
      }
    }
    const vendor = module !== null && module.startsWith("node_modules/");
    const where = isBundle && module ? path.join(frontendDir, module) : file;
    for (const [re, what, applies] of vendor ? VENDOR_FORBIDDEN : FORBIDDEN) {
      if (applies && !applies(where)) continue;
      if (re.test(line)) {
        problems++;
        console.error(`${path.relative(repoDir, file)}:${i + 1}: forbidden ${what}: ${line.trim().slice(0, 200)}`);
      }
    }
  });
}
if (problems > 0) {
  console.error(`lint-dom: ${problems} problem(s). Build DOM with createElement + textContent only (frontend/src/dom.ts).`);
  process.exit(1);
}
console.log(`lint-dom: ${targets.length} files clean.`);

// Fails if frontend/src (or the built bundle) uses an HTML-parsing DOM sink or
// puts anything into a URL/style/event-handler attribute.
//
// Every string this plugin shows comes from event files and is hostile; the
// DOM is built with document.createElement + textContent only (src/dom.ts).

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
];

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
  lines.forEach((line, i) => {
    for (const [re, what] of FORBIDDEN) {
      if (re.test(line)) {
        problems++;
        console.error(`${path.relative(repoDir, file)}:${i + 1}: forbidden ${what}: ${line.trim()}`);
      }
    }
  });
}
if (problems > 0) {
  console.error(`lint-dom: ${problems} problem(s). Build DOM with createElement + textContent only (frontend/src/dom.ts).`);
  process.exit(1);
}
console.log(`lint-dom: ${targets.length} files clean.`);

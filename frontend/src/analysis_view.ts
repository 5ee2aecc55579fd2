// The "What the replay found" block of an incident (analysis.ts says it in
// words): reproduced or not, the culprit rows, the fixes replayed, how
// early the first warning came. Hidden when the recorder wrote none of it.

import { culpritTable, firstWarningText, fixLines, reproducedText } from "./analysis";
import { el } from "./dom";
import { plural } from "./format";
import type { Incident } from "./types";

export function renderAnalysis(inc: Incident): HTMLElement | null {
  const repro = reproducedText(inc);
  const culprits = culpritTable(inc);
  const fixes = fixLines(inc);
  const warning = firstWarningText(inc);
  if (!repro && !culprits && fixes.length === 0 && !warning) return null;
  return el(
    "div",
    "nt-analysis",
    el("h3", null, "What the replay found"),
    repro
      ? el(
          "p",
          "nt-repro",
          el("strong", repro.reproduced ? "nt-repro-yes" : "nt-repro-no", `${repro.word}:`),
          " ",
          repro.text,
          repro.note ? el("span", "nt-muted", ` ${repro.note}`) : null,
        )
      : null,
    warning ? el("p", "nt-first-warning", warning) : null,
    culprits
      ? [
          el("h4", null, "Culprit rows"),
          el("p", "nt-culprit-summary", culprits.summary),
          culprits.rows.length > 0
            ? el(
                "div",
                "nt-table-wrap",
                el(
                  "table",
                  "nt-stats nt-culprits",
                  el("thead", null, el("tr", null, ["row", "index in x", "epoch", "batch", "features"].map((h) => el("th", null, h)))),
                  el(
                    "tbody",
                    null,
                    culprits.rows.map((r) => el("tr", "nt-culprit", r.map((c, i) => el("td", i < 4 ? "nt-num" : "nt-culprit-features", c)))),
                  ),
                ),
              )
            : null,
          culprits.more > 0 ? el("p", "nt-muted", `… and ${plural(culprits.more, "more example")} in nantrace report --json.`) : null,
          culprits.note ? el("p", "nt-muted nt-index-note", culprits.note) : null,
        ]
      : null,
    fixes.length > 0
      ? [
          el("h4", null, "Fixes tried (replayed)"),
          el(
            "ul",
            "nt-list nt-verified-fixes",
            fixes.map((f) =>
              el("li", null, el("code", f.ok ? "nt-fix-ok" : f.bad ? "nt-fix-bad" : "nt-muted", f.text), f.detail ? el("span", "nt-muted", ` (${f.detail})`) : null),
            ),
          ),
        ]
      : null,
  );
}

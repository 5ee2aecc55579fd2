// The incident analysis of issue 13 in plain words (the origin panel shows
// these strings as text).
import assert from "node:assert/strict";
import { test } from "node:test";
import { culpritTable, firstWarningText, fixLines, reproducedText, warningLeadText } from "../src/analysis.ts";
import { analysed } from "./fixtures/incident13.mjs";

test("reproduced / not reproduced, in plain words", () => {
  const r = reproducedText(analysed);
  assert.equal(r.reproduced, true);
  assert.equal(r.word, "Reproduced");
  assert.match(r.text, /^replaying the step .* in the same op\.$/);
  assert.equal(r.note, "same op, same step");
  const not = reproducedText({ ...analysed, reproducibility: { reproduced: false, same_origin: null, note: "" } });
  assert.equal(not.word, "Not reproduced");
  assert.match(not.text, /gave finite values/);
  assert.equal(not.note, null);
  assert.match(reproducedText({ ...analysed, reproducibility: { reproduced: true, same_origin: false, note: "" } }).text, /another op/);
});

test("culprit rows with their index in x and their features", () => {
  const t = culpritTable(analysed);
  assert.equal(t.summary, "Caused by rows 3, 17 of the failing batch (found by replaying halves of the batch). The search stopped at its time budget: there may be more.");
  assert.deepEqual(t.rows[0], ["3", "1,283", "0", "40", "x: min -2.5, max 1640.25"]);
  assert.deepEqual(t.rows[1].slice(0, 2), ["17", "—"]);
  assert.equal(t.rows[1][4], "x: min NaN, max Inf, 2 NaN, 1 Inf");
  assert.match(t.note, /shuffle=False/);
  const one = culpritTable({ ...analysed, culprits: { method: "origin_rows", rows: [5], complete: true, examples: [], index_note: "" } });
  assert.equal(one.summary, "Caused by row 5 of the failing batch (the rows where the origin op's NaN/Inf sits).");
  assert.deepEqual(one.rows, []);
  assert.equal(t.more, 0);
  const many = { ...analysed.culprits, rows: [...Array(20).keys()], examples: [...Array(20).keys()].map((row) => ({ row, index: row, epoch: 0, batch: 1, features: [] })) };
  const long = culpritTable({ ...analysed, culprits: many });
  assert.equal(long.rows.length, 8);
  assert.equal(long.more, 12);
  assert.match(long.summary, /rows 0, 1, 2, .*, 11 and 8 more of the failing batch/);
});

test("verified fixes read 'clipnorm=1.0 -> finite', with the replay behind them", () => {
  const skipped = fixLines({ ...analysed, verified_fixes: [{ fix: "epsilon=1e-7", result: "skipped", from_step: 4, replayed_steps: 0, note: "already 1e-07" }] });
  assert.deepEqual(skipped, [{ text: "epsilon=1e-7 -> skipped", ok: false, bad: false, detail: "already 1e-07" }]);
  assert.deepEqual(fixLines(analysed), [
    { text: "clipnorm=1.0 -> finite", ok: true, bad: false, detail: "replayed 9 steps from step 4" },
    { text: "learning_rate/10 -> still NaN/Inf", ok: false, bad: true, detail: "replayed 9 steps from step 4; Inf again at step 12" },
  ]);
});

test("how early the first warning came", () => {
  assert.equal(firstWarningText(analysed), "The first early warning came 9 steps before the NaN/Inf.");
  assert.equal(warningLeadText(7), " (7 steps before the NaN/Inf)");
  assert.equal(warningLeadText(null), "");
});

test("an incident of an older recorder (no analysis fields, or nulls) shows none of it", () => {
  const old = { ...analysed };
  for (const k of ["culprits", "reproducibility", "verified_fixes", "first_warning_steps_before"]) delete old[k];
  assert.equal(reproducedText(old), null);
  assert.equal(culpritTable(old), null);
  assert.deepEqual(fixLines(old), []);
  assert.equal(firstWarningText(old), null);
  const nulls = { ...analysed, culprits: null, reproducibility: null, verified_fixes: null, first_warning_steps_before: null };
  assert.equal(reproducedText(nulls), null);
  assert.equal(culpritTable(nulls), null);
  assert.deepEqual(fixLines(nulls), []);
  assert.equal(firstWarningText(nulls), null);
});

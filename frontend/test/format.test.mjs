// Unit tests for the pure modules (no DOM). Run: npm test
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  fmtNumber,
  fmtShape,
  headlineText,
  kindLabel,
  phasePhrase,
  splitControls,
} from "../src/format.ts";
import { offendingInputFields } from "../src/highlight.ts";
import { pickDefaultRun } from "../src/runs.ts";

const stats = (over) => ({
  name: "x:0", dtype: "float32", shape: [2], min: 1, max: 2, nan: 0, inf: 0,
  posinf: 0, neginf: 0, zeros: 0, negative: 0, size: 2,
  min_abs_nonzero: 1, max_abs_finite: 2, ...over,
});

const incident = (over) => ({
  index: 0, step: 1234, phase: "forward", kind: "nan",
  op: { type: "Log", name: "model/dense/Log" }, layer: "dense", variable: null,
  replica: null, source: null, inputs: [], outputs: [], input_location: null,
  cause: { code: "log_of_nonpositive", summary: "", contributing: [], fixes: [] },
  stack: [], mode: "exact", note: null, wall_time: 0, ...over,
});

test("fmtNumber", () => {
  assert.equal(fmtNumber(null), "—");
  assert.equal(fmtNumber("NaN"), "NaN");
  assert.equal(fmtNumber("Infinity"), "Inf");
  assert.equal(fmtNumber("-Infinity"), "-Inf");
  assert.equal(fmtNumber(0), "0");
  assert.equal(fmtNumber(-0), "0");
  assert.equal(fmtNumber(42), "42");
  assert.equal(fmtNumber(0.123456789), "0.123457");
  assert.equal(fmtNumber(1.2e-7), "1.2e-7");
  assert.equal(fmtNumber(3.4028234663852886e38), "3.4028e+38");
});

test("fmtShape", () => {
  assert.equal(fmtShape([32, 10]), "[32, 10]");
  assert.equal(fmtShape([]), "[]");
  assert.equal(fmtShape([-1, 3]), "[?, 3]");
});

test("headline", () => {
  assert.equal(
    headlineText(incident({}), true),
    "NaN first appeared at step 1,234, in the forward pass, in op Log (model/dense/Log) of layer dense.",
  );
  assert.equal(
    headlineText(incident({ kind: "inf", phase: "backward", op: { type: "RealDiv", name: null }, layer: null }), true),
    "Inf first appeared at step 1,234, in the backward pass, in op RealDiv.",
  );
  assert.equal(
    headlineText(incident({ phase: "optimizer", variable: "dense/kernel" }), true),
    "NaN first appeared at step 1,234, in the optimizer update, in op Log (model/dense/Log) of layer dense, updating variable dense/kernel.",
  );
  assert.equal(kindLabel("nan_and_inf"), "NaN and Inf");
  assert.equal(phasePhrase("other"), null);
  assert.equal(phasePhrase("weird"), "in phase “weird”");
});

test("highlight: a 0 min for Log", () => {
  const [m] = offendingInputFields("Log", [stats({ min: 0, zeros: 3 })]);
  assert.deepEqual([...m].sort(), ["min", "zeros"]);
  const [ok] = offendingInputFields("Log", [stats({ min: 0.5 })]);
  assert.equal(ok.size, 0);
});

test("highlight: zero divisor, Sqrt of negative, Exp overflow, non-finite input", () => {
  const div = offendingInputFields("RealDiv", [stats({}), stats({ min: 0, max: 1, zeros: 1 })]);
  assert.equal(div[0].size, 0);
  assert.deepEqual([...div[1]].sort(), ["min", "zeros"]);
  assert.deepEqual([...offendingInputFields("Sqrt", [stats({ min: -1 })])[0]], ["min"]);
  assert.deepEqual([...offendingInputFields("Exp", [stats({ max: 100 })])[0]], ["max"]);
  assert.deepEqual([...offendingInputFields("Exp", [stats({ dtype: "float64", max: 100 })])[0]], []);
  assert.deepEqual(
    [...offendingInputFields("MatMul", [stats({ nan: 2, max: "NaN" })])[0]].sort(),
    ["max", "nan"],
  );
});

test("pickDefaultRun", () => {
  const runs = [
    { run: "a", status: "healthy", steps: 1, incident_count: 0 },
    { run: "b", status: "incident", steps: 1, incident_count: 2 },
  ];
  assert.equal(pickDefaultRun(runs, null), "b");
  assert.equal(pickDefaultRun(runs, "a"), "a");
  assert.equal(pickDefaultRun(runs, "zzz"), "b");
  assert.equal(pickDefaultRun([], null), null);
  assert.equal(pickDefaultRun([runs[0]], null), "a");
});

test("splitControls makes bidi/invisible characters visible", () => {
  assert.deepEqual(splitControls("a\u202Eb"), [
    { text: "a", control: false },
    { text: "<U+202E>", control: true },
    { text: "b", control: false },
  ]);
  assert.deepEqual(splitControls("plain\tcode"), [{ text: "plain\tcode", control: false }]);
  assert.deepEqual(splitControls(""), [{ text: "", control: false }]);
});

// Timeline data, warnings linked to incidents, hash state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { showControls } from "../src/format.ts";
import { formatHash, parseHash } from "../src/hash.ts";
import {
  availableLayerMetrics,
  belowLogFloor,
  chartValues,
  floorText,
  fmtTick,
  logTicks,
  nearestMarker,
  nonFiniteRanges,
  timelineLines,
  windowLines,
  xRange,
} from "../src/timeline_data.ts";
import { contributingWarnings, detailSignature, otherWarningsBefore, runHealth, summaryFromDetail } from "../src/warnings.ts";

test("chartValues: gaps for NaN/Inf, and for <= 0 on a log scale", () => {
  assert.deepEqual(chartValues([1, NaN, Infinity, null, 0, -2], false), [1, null, null, null, 0, -2]);
  assert.deepEqual(chartValues([1, 0, -2, 5], true), [1, null, null, 5]);
});

test("nonFiniteRanges merges consecutive bad columns across lines", () => {
  assert.deepEqual(nonFiniteRanges([[1, NaN, NaN, 1, 1], [1, 1, 1, 1, Infinity]], 5), [[1, 2], [4, 4]]);
  assert.deepEqual(nonFiniteRanges([[1, null, 2]], 3), []);
  assert.deepEqual(nonFiniteRanges([], 0), []);
});

test("nearestMarker within a pixel tolerance", () => {
  const ms = [{ x: 10 }, { x: 30 }, { x: 33 }];
  assert.deepEqual(nearestMarker(ms, (m) => m.x, 31.8, 6), { x: 33 });
  assert.equal(nearestMarker(ms, (m) => m.x, 50, 6), null);
});

test("timelineLines: the mean loss, the max of everything else", () => {
  const t = {
    run: "r", points: 2, chunks: 2, first_steps: [0, 64], steps: [63, 127], incidents: [], warnings: [],
    series: [
      { metric: "loss", layer: null, max: [9, 9], mean: [1, "NaN"] },
      { metric: "grad_norm", layer: "d1", max: [2, "Infinity"], mean: [1, 1] },
    ],
  };
  const [loss, gn] = timelineLines(t);
  assert.equal(loss.values[0], 1);
  assert.ok(Number.isNaN(loss.values[1]));
  assert.deepEqual(gn.values, [2, Infinity]);
  assert.deepEqual(timelineLines(null), []);
  const w = windowLines({ run: "r", session: "s", incident: 0, steps: [1], series: [{ metric: "loss", layer: null, values: ["-Infinity"] }] });
  assert.deepEqual(w[0].values, [-Infinity]);
});

test("availableLayerMetrics: known order first", () => {
  const lines = [
    { metric: "weight_norm", layer: "a", values: [] },
    { metric: "zzz", layer: "a", values: [] },
    { metric: "act_max_abs", layer: "a", values: [] },
    { metric: "loss", layer: null, values: [] },
  ];
  assert.deepEqual(availableLayerMetrics(lines), ["act_max_abs", "weight_norm", "zzz"]);
});

test("ticks and ranges", () => {
  assert.equal(fmtTick(0), "0");
  assert.equal(fmtTick(1500), "1,500");
  assert.equal(fmtTick(2.5e12), "2.5e+12");
  assert.equal(fmtTick(1e21), "1e+21");
  assert.equal(fmtTick(0.00002), "2e-5");
  assert.equal(fmtTick(0.125), "0.125");
  const splits = [1, 2, 5, 10, 20, 50, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
  const kept = logTicks(splits).filter((v) => v !== null);
  assert.ok(kept.length <= 6 && kept.every((v) => Number.isInteger(Math.log10(v))));
  assert.deepEqual(xRange([5, 9], [12]), [5, 12]);
  assert.deepEqual(xRange([7]), [6, 8]);
  assert.equal(xRange([]), null);
});

const warning = (over) => ({ index: 0, step: 10, code: "exploding_gradient", layer: null, metric: null, message: "m", evidence: [], session: "s1", ...over });
const inc = (over) => ({
  index: 0, step: 100, session: "s1", phase: "forward", kind: "nan", op: { type: "Log", name: null }, layer: null,
  variable: null, replica: null, source: null, inputs: [], outputs: [], input_location: null,
  cause: { code: "c", summary: "", contributing: ["exploding_gradient", "unscaled_inputs", "exploding_gradient"], fixes: [] },
  stack: [], mode: null, note: null, wall_time: 0, ...over,
});

test("contributingWarnings: codes in order, matching warnings of the recording before the step", () => {
  const ws = [
    warning({ index: 0, step: 10 }),
    warning({ index: 1, step: 90 }),
    warning({ index: 2, step: 150 }), // after the incident
    warning({ index: 3, step: 20, session: "s0" }), // another recording
    warning({ index: 4, step: 5, code: "high_learning_rate" }),
  ];
  const c = contributingWarnings(inc({}), ws);
  assert.deepEqual(c.map((e) => e.code), ["exploding_gradient", "unscaled_inputs"]);
  assert.deepEqual(c[0].warnings.map((w) => w.index), [1, 0]);
  assert.deepEqual(c[1].warnings, []);
  assert.deepEqual(otherWarningsBefore(inc({}), ws).map((w) => w.index), [4]);
  assert.deepEqual(contributingWarnings(inc({ cause: null }), ws), []);
  assert.deepEqual(contributingWarnings(inc({}), undefined)[0].warnings, []);
});

test("run health badges and refresh signatures", () => {
  assert.equal(runHealth({ status: "healthy", incident_count: 0 }), "healthy");
  assert.equal(runHealth({ status: "healthy", incident_count: 0, warning_count: 2 }), "warning");
  assert.equal(runHealth({ status: "incident", incident_count: 1, warning_count: 2 }), "incident");
  const detail = { run: "r", status: "healthy", steps: 5, info: { status: "running" }, incidents: [], warnings: [warning({})] };
  const s = summaryFromDetail({ run: "r", status: "healthy", steps: 5, incident_count: 0 }, detail);
  assert.equal(s.warning_count, 1);
  assert.equal(s.run_status, "running");
  assert.equal(detailSignature(detail), detailSignature({ ...detail }));
  assert.notEqual(detailSignature(detail), detailSignature({ ...detail, steps: 6 }));
  assert.notEqual(detailSignature(detail), detailSignature({ ...detail, incidents: [inc({})] }));
});

test("hash: run + incident + session round trip, other keys kept", () => {
  assert.deepEqual(parseHash("#run=a%2Fb&incident=3&session=s%26x"), { run: "a/b", incident: 3, session: "s&x" });
  assert.deepEqual(parseHash(""), { run: null, incident: null, session: null });
  assert.deepEqual(parseHash("#incident=-1"), { run: null, incident: null, session: null });
  const h = formatHash("#keep=1&incident=9", { run: "r&<x>", incident: 2, session: "s" });
  assert.deepEqual(parseHash(h), { run: "r&<x>", incident: 2, session: "s" });
  assert.ok(h.startsWith("keep=1"));
  assert.deepEqual(parseHash(formatHash(h, { run: "r", incident: null, session: "ignored" })), { run: "r", incident: null, session: null });
});

test("showControls spells out bidi overrides in names", () => {
  assert.equal(showControls("live\u202Eevil"), "live<U+202E>evil");
  assert.equal(showControls(null), "");
});

test("belowLogFloor finds the zeros a log axis would drop; floorText says where they are drawn", () => {
  assert.deepEqual(belowLogFloor([1, 0, NaN, -0.5, null, 3, 0]), [1, 3, 6]);
  assert.deepEqual(belowLogFloor([]), []);
  assert.equal(floorText(0, true), " (drawn at the log axis floor)");
  assert.equal(floorText(0, false), "");
  assert.equal(floorText(2, true), "");
  assert.equal(floorText(NaN, true), "");
});

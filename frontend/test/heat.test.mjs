// Heat strip data: downsampling, per-row normalisation, first degradation.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CELL_MISSING,
  CELL_NAN,
  CELL_NEGINF,
  CELL_POSINF,
  CELL_ZERO,
  JUMP_FACTOR,
  buckets,
  colormap,
  deadTest,
  decodeValues,
  degradationOrder,
  downsample,
  firstDegradation,
  heatRows,
  metricKind,
  normaliseRow,
  sortedByDegradation,
} from "../src/heat.ts";

test("decodeValues keeps NaN/Inf apart from missing", () => {
  const v = decodeValues([1, "NaN", "Infinity", "-Infinity", null, "junk"]);
  assert.equal(v[0], 1);
  assert.ok(Number.isNaN(v[1]));
  assert.equal(v[2], Infinity);
  assert.equal(v[3], -Infinity);
  assert.equal(v[4], null);
  assert.equal(v[5], null);
  assert.deepEqual(decodeValues(undefined), []);
});

test("buckets: consecutive, at most maxColumns, like the server's", () => {
  assert.deepEqual(buckets(0, 10), []);
  assert.deepEqual(buckets(5, 10), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
  assert.deepEqual(buckets(10, 4), [[0, 3], [3, 6], [6, 9], [9, 10]]);
  const b = buckets(1000, 333);
  assert.ok(b.length <= 333);
  assert.equal(b[0][0], 0);
  assert.equal(b[b.length - 1][1], 1000);
  for (let i = 1; i < b.length; i++) assert.equal(b[i][0], b[i - 1][1]);
});

test("downsample: a non-finite value wins (the first one), else the largest magnitude", () => {
  const g = [[0, 3], [3, 6], [6, 8]];
  const out = downsample([1, -5, 2, 3, Infinity, NaN, null, null], g);
  assert.equal(out[0], -5);
  assert.equal(out[1], Infinity);
  assert.equal(out[2], null);
  assert.ok(Number.isNaN(downsample([NaN, Infinity], [[0, 2]])[0]));
});

test("normaliseRow: linear per row, codes for NaN/Inf/missing", () => {
  const c = normaliseRow([0, 5, 10, NaN, Infinity, -Infinity, null], false);
  assert.deepEqual([...c.slice(0, 3)], [0, 0.5, 1]);
  assert.deepEqual([...c.slice(3)], [CELL_NAN, CELL_POSINF, CELL_NEGINF, CELL_MISSING]);
  // A constant row is all 0 (nothing to see), not NaN.
  assert.deepEqual([...normaliseRow([3, 3, 3], false)], [0, 0, 0]);
  assert.deepEqual([...normaliseRow([], false)], []);
});

test("normaliseRow: log10 of magnitudes; a steady noisy row stays dark", () => {
  const c = normaliseRow([1, 10, 100, 1e4, 0], true);
  assert.ok(Math.abs(c[0] - 0) < 1e-6 && Math.abs(c[1] - 0.25) < 1e-6 && Math.abs(c[3] - 1) < 1e-6);
  assert.equal(c[4], CELL_ZERO); // |0| has no log: a colour of its own, not the ramp's lowest
  const noisy = normaliseRow([1.0, 1.05, 0.98, 1.1], true);
  for (const v of noisy) assert.ok(v < 0.1, `noise ${v} should stay low`);
  const lin = normaliseRow([100, 101, 99], false);
  for (const v of lin) assert.ok(v <= 0.1);
});

test("firstDegradation: non-finite, count, jump over the early level", () => {
  assert.deepEqual(firstDegradation([1, 1, NaN, 2], "magnitude"), { index: 2, reason: "nonfinite" });
  assert.deepEqual(firstDegradation([1, 1, 1, 1, 1, 1, 1, 1, 50, NaN], "magnitude"), { index: 8, reason: "jump" });
  assert.deepEqual(firstDegradation([0, 0, 0, 3, 0], "count"), { index: 3, reason: "count" });
  assert.equal(firstDegradation([1, 1.2, 0.9, 1.1, 1, 2, 3], "magnitude"), null);
  assert.equal(firstDegradation([0.5, 0.9, 1.0], "fraction"), null);
  assert.deepEqual(firstDegradation([0.5, Infinity], "fraction"), { index: 1, reason: "nonfinite" });
  // Too few early values for a baseline: only non-finite counts.
  assert.equal(firstDegradation([1, 100], "magnitude"), null);
  assert.equal(firstDegradation([], "magnitude"), null);
  assert.equal(firstDegradation([null, null, null], "count"), null);
});

test("degradationOrder: the earliest rows, ties included; sorting", () => {
  const rows = [
    { layer: "a", values: [1, 1, 1, 1, 1, NaN] },
    { layer: "b", values: [1, 1, 1, 1, 50, NaN] },
    { layer: "c", values: [1, 1, 1, 1, 1, 1] },
    { layer: "d", values: [1, 1, 1, 1, 20, 1] },
  ];
  const { each, first } = degradationOrder(rows, "magnitude");
  assert.deepEqual(first, [1, 3]);
  assert.deepEqual(each.map((e) => e.degradation?.index ?? null), [5, 4, null, 4]);
  assert.deepEqual(sortedByDegradation(each), [1, 3, 0, 2]);
  assert.deepEqual(degradationOrder([], "magnitude"), { each: [], first: [] });
});

test("heatRows: one row per layer of the metric, whole-model series left out", () => {
  const series = [
    { metric: "loss", layer: null, values: [1, 2] },
    { metric: "grad_norm", layer: null, values: [1, 2] },
    { metric: "grad_norm", layer: "d1", values: [1, "NaN"] },
    { metric: "act_max_abs", layer: "d1", values: [3, 4] },
    { metric: "grad_norm", layer: "d2", values: [5, 6] },
    { metric: "grad_norm", layer: "d1", values: [9, 9] },
  ];
  const rows = heatRows(series, "grad_norm");
  assert.deepEqual(rows.map((r) => r.layer), ["d1", "d2"]);
  assert.ok(Number.isNaN(rows[0].values[1]));
});

test("metricKind and colormap", () => {
  assert.equal(metricKind("act_zero_frac"), "fraction");
  assert.equal(metricKind("grad_nonfinite"), "count");
  assert.equal(metricKind("grad_norm"), "magnitude");
  assert.deepEqual(colormap(0), [68, 1, 84]);
  assert.deepEqual(colormap(1), [253, 231, 37]);
  assert.deepEqual(colormap(NaN), [68, 1, 84]);
  assert.deepEqual(colormap(7), [253, 231, 37]);
});

test("an all-zero activation is a degradation: max |x| of 0, or a zero fraction of 1", () => {
  const healthy = [0.8, 0.9, 1.1, 0.7, 0.9, 0.8];
  const dying = [0.8, 0.9, 1.1, 0.7, 0, 0];
  assert.equal(firstDegradation(dying, "magnitude"), null); // no jump, nothing non-finite
  assert.deepEqual(firstDegradation(dying, "magnitude", JUMP_FACTOR, deadTest("act_max_abs")), { index: 4, reason: "dead" });
  assert.equal(firstDegradation(healthy, "magnitude", JUMP_FACTOR, deadTest("act_max_abs")), null);
  assert.deepEqual(firstDegradation([0.5, 0.6, 1, 1], "fraction", JUMP_FACTOR, deadTest("act_zero_frac")), { index: 2, reason: "dead" });
  assert.equal(deadTest("grad_norm"), null);
  // A NaN before the layer died stays the first degradation.
  assert.deepEqual(firstDegradation([1, NaN, 0], "magnitude", JUMP_FACTOR, deadTest("act_max_abs")), { index: 1, reason: "nonfinite" });
  const order = degradationOrder([{ layer: "a", values: healthy }, { layer: "b", values: dying }], "magnitude", deadTest("act_max_abs"));
  assert.deepEqual(order.first, [1]);
});

test("an exact zero on a log scale gets a cell of its own, not the ramp's bottom", () => {
  const cells = normaliseRow([1, 10, 0, 100], true);
  assert.equal(cells[2], CELL_ZERO);
  assert.equal(cells[0], 0);
  assert.equal(normaliseRow([1, 0, 2], false)[1], 0);
});

// Graph grouping, edge lifting, collapse state and layout.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LayoutCache, findHubs, placeAll } from "../src/graph_layout.ts";
import {
  Expansion,
  ancestors,
  buildModel,
  distinctLabels,
  group,
  groupState,
  isGroup,
  neighbours,
  searchOps,
  shortName,
  stateOf,
} from "../src/graph_model.ts";
import { syntheticGraph } from "./fixtures/synthetic_graph.mjs";

const node = (name, layer, state = "finite", phase = "forward", type = "Op") => ({ name, type, layer, phase, state });

function small() {
  return {
    nodes: [
      node("x", null, "input", null, "Placeholder"),
      node("m/d1/MatMul", "d1"),
      node("m/d1/kernel", "d1", "variable"),
      node("m/d1/Relu", "d1"),
      node("m/d2/MatMul", "d2"),
      node("m/d2/Log", "d2", "origin", "forward", "Log"),
      node("loss/Mean", "loss", "propagated"),
    ],
    edges: [
      ["x", "m/d1/MatMul"],
      ["m/d1/kernel", "m/d1/MatMul"],
      ["m/d1/MatMul", "m/d1/Relu"],
      ["m/d1/Relu", "m/d2/MatMul"],
      ["m/d2/MatMul", "m/d2/Log"],
      ["m/d2/Log", "loss/Mean"],
    ],
    truncated: false,
  };
}

test("buildModel: one group per layer, loose ops without a layer", () => {
  const m = buildModel(small());
  const root = group(m, m.root);
  const layers = m.groups.filter((g) => g.kind === "layer").map((g) => g.label);
  assert.deepEqual(layers, ["d1", "d2", "loss"]);
  assert.equal(root.children.length, 4); // 3 layers + x
  assert.equal(m.origin, 5);
  const d2 = m.groups.find((g) => g.label === "d2");
  assert.equal(groupState(d2), "origin");
  assert.equal(d2.size, 2);
  assert.equal(groupState(m.groups.find((g) => g.label === "d1")), "finite");
  assert.equal(groupState(m.groups.find((g) => g.label === "loss")), "propagated");
  assert.equal(root.counts.origin, 1);
  assert.equal(root.size, 7);
});

test("edges are lifted to the children of their lowest common group", () => {
  const m = buildModel(small());
  const d1 = m.groups.find((g) => g.label === "d1").id;
  const d2 = m.groups.find((g) => g.label === "d2").id;
  const loss = m.groups.find((g) => g.label === "loss").id;
  const top = m.groupEdges.get(m.root).map((e) => [e.from, e.to, e.count, e.bad]);
  assert.deepEqual(top.sort(), [[0, d1, 1, 0], [d1, d2, 1, 0], [d2, loss, 1, 1]].sort());
  const inside = m.groupEdges.get(d1).map((e) => [m.ops[e.from].name, m.ops[e.to].name]);
  assert.deepEqual(inside.sort(), [["m/d1/MatMul", "m/d1/Relu"], ["m/d1/kernel", "m/d1/MatMul"]]);
});

test("hostile or malformed data is dropped, never thrown on", () => {
  const g = {
    nodes: [node("a", "L"), node("a", "L"), { name: 3 }, null, { name: "b", layer: "", state: "weird", phase: 7 }, node("c", "<script>")],
    edges: [["a", "b"], ["a", "zzz"], "junk", ["a", "a"], ["a", "b"], [null, "b"], ["b", "c"]],
    truncated: true,
  };
  const m = buildModel(g);
  assert.equal(m.ops.length, 3);
  assert.deepEqual(m.dropped, { nodes: 3, edges: 4 });
  assert.equal(m.edges.length, 2);
  assert.equal(m.ops[1].state, "finite");
  assert.equal(m.ops[1].layer, null);
  assert.equal(m.ops[1].phase, null);
  assert.equal(m.truncated, true);
  assert.equal(stateOf("origin"), "origin");
  assert.equal(stateOf({}), "finite");
  for (const bad of [null, undefined, {}, { nodes: "x", edges: 5 }]) {
    const e = buildModel(bad);
    assert.equal(e.ops.length, 0);
    assert.equal(group(e, e.root).children.length, 0);
  }
});

test("many ops without a layer are grouped by top-level scope", () => {
  const nodes = [];
  for (let i = 0; i < 20; i++) nodes.push(node(`gradient_tape/g${i}`, null));
  for (let i = 0; i < 3; i++) nodes.push(node(`Reshape_${i}`, null));
  const m = buildModel({ nodes, edges: [], truncated: false }, { maxLoose: 12 });
  const root = group(m, m.root);
  const labels = root.children.filter((c) => isGroup(m, c)).map((c) => group(m, c).label);
  assert.deepEqual(labels, ["gradient_tape"]);
  assert.equal(root.children.length, 4); // the group + 3 loose ops
});

test("a large layer of several phases splits by phase; a huge one into parts", () => {
  const nodes = [];
  for (let i = 0; i < 20; i++) nodes.push(node(`L/f${i}`, "L", "finite", "forward"));
  for (let i = 0; i < 20; i++) nodes.push(node(`L/o${i}`, "L", "finite", "other"));
  const m = buildModel({ nodes, edges: [["L/f0", "L/o0"]], truncated: false });
  const L = m.groups.find((g) => g.kind === "layer");
  assert.deepEqual(L.children.map((c) => group(m, c).label), ["forward", "other"]);
  // The edge is lifted to the phase groups inside the layer.
  assert.equal(m.groupEdges.get(L.id).length, 1);

  const flat = [];
  for (let i = 0; i < 50; i++) flat.push(node(`S/op${i}`, "S"));
  const p = buildModel({ nodes: flat, edges: [], truncated: false }, { maxChildren: 20 });
  const S = p.groups.find((g) => g.kind === "layer");
  assert.deepEqual(S.children.map((c) => group(p, c).label), ["part 1 of 3", "part 2 of 3", "part 3 of 3"]);
  assert.equal(S.size, 50);
  for (const c of S.children) assert.ok(group(p, c).children.length <= 20);

  const scoped = [];
  for (let i = 0; i < 30; i++) scoped.push(node(`S/${i % 3 === 0 ? "a" : i % 3 === 1 ? "b" : "c"}/op${i}`, "S"));
  const q = buildModel({ nodes: scoped, edges: [], truncated: false }, { maxChildren: 20 });
  const T = q.groups.find((g) => g.kind === "layer");
  assert.deepEqual(T.children.map((c) => group(q, c).label), ["a", "b", "c"]);
});

test("Expansion: collapsed by layer at first, toggle, reveal, restore", () => {
  const m = buildModel(small());
  const ex = new Expansion(m);
  const d2 = m.groups.find((g) => g.label === "d2").id;
  assert.equal(ex.visibleCount(), 4);
  assert.equal(ex.isVisible(m.origin), false);
  assert.deepEqual(ex.toggle(d2), [d2, m.root]);
  assert.equal(ex.isVisible(m.origin), true);
  assert.equal(ex.visibleCount(), 6);
  ex.toggle(d2);
  assert.equal(ex.isVisible(m.origin), false);
  assert.deepEqual(ex.toggle(m.root), []);
  assert.deepEqual(ex.toggle(0), []); // an op is no group
  const changed = ex.reveal(m.origin);
  assert.ok(changed.includes(d2));
  assert.equal(ex.isVisible(m.origin), true);
  assert.deepEqual(ex.expanded(), [d2]);
  ex.collapseAll();
  assert.deepEqual(ex.expanded(), []);
  ex.restore([d2, 0, 99999, m.root]);
  assert.deepEqual(ex.expanded(), [d2]);
  assert.deepEqual(ancestors(m, m.origin), [m.root, d2]);
});

test("neighbours, search, short names", () => {
  const m = buildModel(small());
  const [ins, outs] = neighbours(m, 1);
  assert.deepEqual(ins.map((i) => m.ops[i].name).sort(), ["m/d1/kernel", "x"]);
  assert.deepEqual(outs.map((i) => m.ops[i].name), ["m/d1/Relu"]);
  assert.deepEqual(searchOps(m, "LOG").map((i) => m.ops[i].name), ["m/d2/Log"]);
  assert.deepEqual(searchOps(m, "  "), []);
  assert.equal(shortName("a/b/c"), "c");
  assert.equal(shortName("plain"), "plain");
});

function overlaps(a, b) {
  return a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5 && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5;
}

test("layout: every visible item gets a box, siblings never overlap", () => {
  const m = buildModel(small());
  const ex = new Expansion(m);
  const cache = new LayoutCache(m, ex);
  let p = placeAll(m, cache);
  assert.equal(p.boxes.length, 4);
  const d2 = m.groups.find((g) => g.label === "d2").id;
  cache.invalidate(ex.toggle(d2));
  p = placeAll(m, cache);
  assert.equal(p.boxes.length, 6);
  const top = p.boxes.filter((b) => b.depth === 0);
  for (let i = 0; i < top.length; i++) for (let j = i + 1; j < top.length; j++) assert.ok(!overlaps(top[i], top[j]));
  // Children lie inside their expanded group.
  const outer = p.boxes.find((b) => b.item === d2);
  for (const b of p.boxes.filter((b) => b.depth === 1)) {
    assert.ok(b.x >= outer.x && b.y >= outer.y && b.x + b.w <= outer.x + outer.w + 0.01 && b.y + b.h <= outer.y + outer.h + 0.01);
  }
  for (const e of p.edges) assert.ok(e.points.length >= 2);
});

test("hubs: high-degree children are set beside the layout", () => {
  const lifted = [];
  for (let i = 1; i <= 30; i++) lifted.push({ from: i, to: 0 });
  assert.deepEqual([...findHubs(31, lifted)], [0]);
  assert.deepEqual([...findHubs(10, lifted)], []); // small layouts keep everything
});

test("a 5,000-op graph opens collapsed by layer well within 3 s", () => {
  const g = syntheticGraph(5000);
  assert.equal(g.nodes.length, 5000);
  const t0 = performance.now();
  const m = buildModel(g);
  const ex = new Expansion(m);
  const cache = new LayoutCache(m, ex);
  const p = placeAll(m, cache);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  assert.ok(p.boxes.length < 120, `${p.boxes.length} boxes collapsed`);
  assert.equal(group(m, m.root).size, 5000);
  // Reveal the origin: its layer and phase groups open.
  cache.invalidate(ex.reveal(m.origin));
  const q = placeAll(m, cache);
  assert.ok(q.boxes.some((b) => b.item === m.origin));
});

test("the backward pass and the optimizer are grouped apart from the forward layers: no lifted edge runs both ways", () => {
  // Two layers, each with forward ops and their gradients: grouped by layer
  // alone, A -> B (forward) and B -> A (backward) would form a cycle.
  const nodes = [
    node("A/MatMul", "A"), node("B/MatMul", "B"), node("loss/Mean", "loss"),
    node("grad/B/MatMul", "B", "finite", "backward"), node("grad/A/MatMul", "A", "finite", "backward"),
    node("opt/A/Assign", "A", "finite", "optimizer"), node("opt/B/Assign", "B", "finite", "optimizer"),
  ];
  const edges = [
    ["A/MatMul", "B/MatMul"], ["B/MatMul", "loss/Mean"], ["loss/Mean", "grad/B/MatMul"], ["A/MatMul", "grad/B/MatMul"],
    ["grad/B/MatMul", "grad/A/MatMul"], ["grad/A/MatMul", "opt/A/Assign"], ["grad/B/MatMul", "opt/B/Assign"],
  ];
  const m = buildModel({ nodes, edges, truncated: false });
  const top = group(m, m.root).children.map((c) => group(m, c));
  assert.deepEqual(top.map((g) => [g.kind, g.label]), [["layer", "A"], ["layer", "B"], ["layer", "loss"], ["phase", "backward"], ["phase", "optimizer"]]);
  const backward = top[3];
  assert.deepEqual(backward.children.map((c) => group(m, c).label), ["B", "A"]);
  for (const [, lifted] of m.groupEdges) {
    const pairs = new Set(lifted.map((e) => `${e.from}>${e.to}`));
    for (const e of lifted) assert.ok(!pairs.has(`${e.to}>${e.from}`), "an edge both ways between two siblings");
  }
  // Laid out top to bottom, every edge ends below where it starts.
  const ex = new Expansion(m);
  for (const g of m.groups) if (g.kind !== "root") ex.toggle(g.id);
  const p = placeAll(m, new LayoutCache(m, ex));
  for (const e of p.edges) assert.ok(e.points.at(-1).y > e.points[0].y, "an edge runs upward");
  // A graph of one phase only gets no extra level.
  const flat = buildModel({ nodes: nodes.slice(0, 3), edges: edges.slice(0, 2), truncated: false });
  assert.ok(group(flat, flat.root).children.every((c) => group(flat, c).kind === "layer"));
});

test("sibling groups get distinct labels that fit a box", () => {
  assert.deepEqual(distinctLabels(["compile_loss/handwritten_bce/mul_1", "compile_loss/handwritten_bce/div_no_nan", "hidden"]), [
    "compile_loss/handwritte…/mul_1",
    "compile_loss/handw…/div_no_nan",
    "hidden",
  ]);
  const long = ["a".repeat(40) + "x", "a".repeat(40) + "y"];
  const [x, y] = distinctLabels(long);
  assert.notEqual(x, y);
  assert.ok(x.length <= 30 && y.length <= 30);
  const m = buildModel({
    nodes: [node("l/mul_1/a", "compile_loss/handwritten_bce/mul_1"), node("l/div/a", "compile_loss/handwritten_bce/div_no_nan")],
    edges: [],
    truncated: false,
  });
  const shown = group(m, m.root).children.map((c) => group(m, c).display);
  assert.equal(new Set(shown).size, 2);
});

import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { PermanentError } from "../../src/errors/errors.js";
import { childrenOf, findCycles, topologicalOrder } from "../../src/pipeline/topology.js";

function graph(needs: Record<string, string[]>) {
  return {
    name: "test",
    steps: Object.fromEntries(Object.entries(needs).map(([name, list]) => [name, { needs: list }])),
  };
}

describe("topology", () => {
  it("orders every step after the steps it needs, breaking ties by file order", () => {
    const spec = graph({
      finish: ["left", "right"],
      right: ["prepare"],
      prepare: [],
      left: ["prepare"],
      lone: [],
    });
    assert.deepEqual(topologicalOrder(spec), ["prepare", "right", "left", "finish", "lone"]);
  });

  it("lists each step's children in file order, with an entry for every step", () => {
    const spec = graph({ a: [], b: ["a"], c: ["a", "b"], d: [] });
    assert.deepEqual(
      childrenOf(spec),
      new Map([
        ["a", ["b", "c"]],
        ["b", ["c"]],
        ["c", []],
        ["d", []],
      ]),
    );
  });

  it("refuses to order a graph with a cycle or an unknown step", () => {
    assert.throws(() => topologicalOrder(graph({ a: ["b"], b: ["a"], c: [] })), PermanentError);
    assert.throws(() => topologicalOrder(graph({ a: ["ghost"] })), /unknown step ghost/);
  });

  it("finds one shortest cycle per group of steps that need each other", () => {
    const spec = graph({ x: [], a: ["b", "x"], b: ["c", "a"], c: ["a"], d: ["e"], e: ["d"], f: ["f"] });
    assert.deepEqual(findCycles(spec), [
      ["a", "b"],
      ["d", "e"],
    ]);
  });

  it("handles a long chain without running out of stack", () => {
    const needs: Record<string, string[]> = { s0: [] };
    for (let i = 1; i < 20_000; i++) needs[`s${i}`] = [`s${i - 1}`];
    const spec = graph(needs);
    assert.deepEqual(findCycles(spec), []);
    assert.equal(topologicalOrder(spec).length, 20_000);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { summarizeHeapSnapshot } from "../../bench/heap.ts";

const NODE_TYPES = ["hidden", "array", "string", "object", "code", "synthetic"];
const EDGE_TYPES = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"];

interface Node {
  type: string;
  name: string;
  size: number;
  edges: [edgeType: string, name: string | number, to: number][];
}

/** Writes a snapshot in V8's format with `nodes` (index 0 is the root). */
function snapshotFile(dir: string, nodes: Node[]): string {
  const strings: string[] = [];
  const str = (s: string): number => {
    const at = strings.indexOf(s);
    return at >= 0 ? at : strings.push(s) - 1;
  };
  const flatNodes = nodes.flatMap((n, id) => [
    NODE_TYPES.indexOf(n.type),
    str(n.name),
    id,
    n.size,
    n.edges.length,
  ]);
  const flatEdges = nodes.flatMap((n) =>
    n.edges.flatMap(([type, name, to]) => [
      EDGE_TYPES.indexOf(type),
      typeof name === "number" ? name : str(name),
      to * 5,
    ]),
  );
  const file = path.join(dir, "test.heapsnapshot");
  writeFileSync(
    file,
    JSON.stringify({
      snapshot: {
        meta: {
          node_fields: ["type", "name", "id", "self_size", "edge_count"],
          node_types: [NODE_TYPES],
          edge_fields: ["type", "name_or_index", "to_node"],
          edge_types: [EDGE_TYPES],
        },
      },
      nodes: flatNodes,
      edges: flatEdges,
      strings,
    }),
  );
  return file;
}

describe("summarizeHeapSnapshot: owners", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "podium-heap-test-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // root → (GC roots) → a ListWatch of pods (its Map, its name) and a Foo; the
  // Foo reaches a pod object first (breadth first) though the Map holds it too,
  // and a weak edge from the Foo to a string is not followed.
  const file = snapshotFile(dir, [
    { type: "synthetic", name: "", size: 0, edges: [["element", 1, 1]] },
    {
      type: "synthetic",
      name: "(GC roots)",
      size: 0,
      edges: [
        ["element", 1, 2],
        ["element", 2, 5],
      ],
    },
    {
      type: "object",
      name: "ListWatch",
      size: 100,
      edges: [
        ["property", "name", 3],
        ["property", "#cache", 4],
      ],
    },
    { type: "string", name: "pods", size: 10, edges: [] },
    { type: "object", name: "Map", size: 50, edges: [["element", 1, 6]] },
    {
      type: "object",
      name: "Foo",
      size: 30,
      edges: [
        ["property", "x", 6],
        ["weak", 1, 8],
      ],
    },
    { type: "object", name: "Object", size: 40, edges: [["property", "name", 7]] },
    { type: "string", name: "web-1", size: 20, edges: [] },
    { type: "string", name: "weakly held", size: 5, edges: [] },
  ]);

  it("counts each object under the nearest class instance on its shortest path", () => {
    const summary = summarizeHeapSnapshot(file);
    expect(summary.totalBytes).toBe(255);
    expect(summary.owners).toEqual([
      { owner: "ListWatch pods", count: 3, selfBytes: 160 },
      { owner: "Foo", count: 3, selfBytes: 90 },
      { owner: "(no class instance: synthetic)", count: 2, selfBytes: 0 },
    ]);
  });
});

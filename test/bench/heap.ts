import { readFileSync } from "node:fs";

// Summarizes a V8 .heapsnapshot (as written by `node --heapsnapshot-signal`)
// by what holds the memory: the self size of every node, summed per node type
// and constructor or string kind, so a benchmark can say what a replica's heap
// is made of without opening DevTools.

export interface HeapGroup {
  /** V8's node type (object, string, closure, code, array, hidden…). */
  type: string;
  /** The constructor name for objects, "(string)" kinds for strings. */
  name: string;
  count: number;
  selfBytes: number;
}

export interface HeapSummary {
  totalBytes: number;
  nodes: number;
  top: HeapGroup[];
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Sums self sizes per (type, name) and returns the `n` largest groups. */
export function summarizeHeapSnapshot(file: string, n = 20): HeapSummary {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const groups = new Map<string, HeapGroup>();
  let totalBytes = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] ?? 0] ?? "?";
    const size = snap.nodes[i + sizeAt] ?? 0;
    totalBytes += size;
    // Strings are named by their content: group them by type alone.
    const name =
      type === "string" || type === "concatenated string" || type === "sliced string"
        ? `(${type})`
        : (snap.strings[snap.nodes[i + nameAt] ?? 0] ?? "?").slice(0, 60);
    const key = `${type}\u0000${name}`;
    const group = groups.get(key) ?? { type, name, count: 0, selfBytes: 0 };
    group.count++;
    group.selfBytes += size;
    groups.set(key, group);
  }
  const top = [...groups.values()].sort((a, b) => b.selfBytes - a.selfBytes).slice(0, n);
  return { totalBytes, nodes: snap.nodes.length / width, top };
}

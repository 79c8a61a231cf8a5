import { readFileSync } from "node:fs";

// Summarizes a V8 .heapsnapshot (as written by `node --heapsnapshot-signal`)
// by what holds the memory, so a benchmark can say what a replica's heap is
// made of without opening DevTools: the self size of every node summed per
// node type and constructor or string kind, and per owner (below).

export interface HeapGroup {
  /** V8's node type (object, string, closure, code, array, hidden…). */
  type: string;
  /** The constructor name for objects, "(string)" kinds for strings. */
  name: string;
  count: number;
  selfBytes: number;
}

/** The memory held under one owner: see {@link ownersOf}. */
export interface HeapOwner {
  owner: string;
  count: number;
  selfBytes: number;
}

export interface HeapSummary {
  totalBytes: number;
  nodes: number;
  top: HeapGroup[];
  /** The largest owners; absent in summaries saved before owners were counted. */
  owners?: HeapOwner[];
}

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
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
  const owners = ownersOf(snap).slice(0, n);
  return { totalBytes, nodes: snap.nodes.length / width, top, owners };
}

/** Containers and plumbing that say nothing about who holds the memory. */
const NOT_OWNERS = new Set(["Object", "Array", "Map", "Set", "WeakMap", "WeakSet", "Promise"]);
/** Node's module loader: the code and sources of every loaded module. */
const MODULE_LOADER = new Set([
  "ModuleWrap",
  "Module",
  "BuiltinModule",
  "ModuleJob",
  "ResolveCache",
  "LoadCache",
]);

/**
 * Sums self sizes per owner: the nearest instance of a named class on each
 * node's shortest retaining path from the roots (breadth first, weak edges
 * left out). A ListWatch is named by its resource, Node's module loader is
 * one owner, and what no class instance retains is named by its own type.
 * Shortest paths assign a shared object to one of its owners only, so this
 * is an attribution, not V8's retained size.
 */
function ownersOf(snap: Snapshot): HeapOwner[] {
  const { meta } = snap.snapshot;
  const width = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const typeAt = meta.node_fields.indexOf("type");
  const nameAt = meta.node_fields.indexOf("name");
  const sizeAt = meta.node_fields.indexOf("self_size");
  const edgeCountAt = meta.node_fields.indexOf("edge_count");
  const edgeTypeAt = meta.edge_fields.indexOf("type");
  const edgeNameAt = meta.edge_fields.indexOf("name_or_index");
  const edgeToAt = meta.edge_fields.indexOf("to_node");
  const count = snap.nodes.length / width;
  const at = (node: number, field: number): number => snap.nodes[node * width + field] ?? 0;
  const typeOf = (node: number): string => types[at(node, typeAt)] ?? "?";
  const nameOf = (node: number): string => snap.strings[at(node, nameAt)] ?? "?";

  const firstEdge = new Int32Array(count + 1);
  for (let node = 0, edge = 0; node < count; node++) {
    firstEdge[node] = edge;
    edge += at(node, edgeCountAt) * edgeWidth;
  }
  firstEdge[count] = snap.edges.length;

  const label = (node: number): string | undefined => {
    if (typeOf(node) !== "object") return undefined;
    const name = nameOf(node);
    if (MODULE_LOADER.has(name)) return "(modules: code and sources)";
    if (NOT_OWNERS.has(name) || !/^[A-Z]/.test(name)) return undefined;
    if (name !== "ListWatch") return name;
    for (let e = firstEdge[node] ?? 0; e < (firstEdge[node + 1] ?? 0); e += edgeWidth) {
      const to = (snap.edges[e + edgeToAt] ?? 0) / width;
      const edgeName = snap.strings[snap.edges[e + edgeNameAt] ?? 0];
      if (edgeName === "name" && typeOf(to) === "string") return `ListWatch ${nameOf(to)}`;
    }
    return name;
  };

  // Breadth first from the snapshot's root: a node's owner is its own label,
  // or else its parent's, or else its parent's owner.
  const owner: (string | undefined)[] = new Array<string | undefined>(count);
  const seen = new Uint8Array(count);
  const queue = new Int32Array(count);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  seen[0] = 1;
  const sums = new Map<string, HeapOwner>();
  while (head < tail) {
    const node = queue[head++] ?? 0;
    const labelled = label(node);
    const own = labelled ?? owner[node] ?? `(no class instance: ${typeOf(node)})`;
    const sum = sums.get(own) ?? { owner: own, count: 0, selfBytes: 0 };
    sum.count++;
    sum.selfBytes += at(node, sizeAt);
    sums.set(own, sum);
    const passOn = labelled ?? owner[node];
    for (let e = firstEdge[node] ?? 0; e < (firstEdge[node + 1] ?? 0); e += edgeWidth) {
      const edgeType = edgeTypes[snap.edges[e + edgeTypeAt] ?? 0];
      if (edgeType === "weak" || edgeType === "shortcut") continue;
      const to = (snap.edges[e + edgeToAt] ?? 0) / width;
      if (seen[to] === 1) continue;
      seen[to] = 1;
      owner[to] = passOn;
      queue[tail++] = to;
    }
  }
  return [...sums.values()].sort((a, b) => b.selfBytes - a.selfBytes);
}

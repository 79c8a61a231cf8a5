import { OUT_OF_SERVICE_TAINT } from "../api/constants.ts";
import { obj, str } from "./json.ts";
import { groupsOfPods } from "./pods.ts";
import type { Source } from "./source.ts";
import type { Store } from "./store.ts";

/**
 * The fields of a Node that podium keeps: its name, its Ready condition's
 * status and whether it is tainted out-of-service. Nothing else of a Node
 * (images, addresses, capacity: kilobytes) is held.
 */
export interface CachedNode {
  name: string;
  ready: "True" | "False" | "Unknown" | undefined;
  outOfService: boolean;
}

/** Reduces a Node as the API server sends it; undefined when it is not one. */
export function toCachedNode(raw: unknown): CachedNode | undefined {
  const node = obj(raw);
  const name = str(obj(node.metadata).name);
  if (!name) return undefined;
  const conditions = Array.isArray(obj(node.status).conditions)
    ? (obj(node.status).conditions as unknown[])
    : [];
  const status = conditions.map(obj).find((c) => c.type === "Ready")?.status;
  const taints = Array.isArray(obj(node.spec).taints) ? (obj(node.spec).taints as unknown[]) : [];
  return {
    name,
    ready: status === "True" || status === "False" || status === "Unknown" ? status : undefined,
    outOfService: taints.some((t) => obj(t).key === OUT_OF_SERVICE_TAINT),
  };
}

/** The keys of the groups with a pod bound to node `name`. */
export function groupsOnNode(name: string, store: Store): Iterable<string> {
  return groupsOfPods(store.podsOnNode(name), store);
}

/**
 * Nodes, cached as {@link CachedNode}, cluster-wide whatever namespaces
 * podium watches. An event concerns the groups with a pod on the node, and
 * only when what podium judges by changed: the node came or went, its Ready
 * status or its out-of-service taint changed (the kubelet's periodic status
 * updates change none of these and concern nobody).
 */
export const nodeSource: Source<CachedNode> = {
  name: "nodes",
  path: () => "/api/v1/nodes",
  scopes: () => [undefined],
  reduce: (raw) => toCachedNode(raw),
  indexes: {},
  concerns({ type, item, old }, store) {
    const changed =
      type !== "update" ||
      old === undefined ||
      old.ready !== item.ready ||
      old.outOfService !== item.outOfService;
    return changed ? groupsOnNode(item.name, store) : [];
  },
};

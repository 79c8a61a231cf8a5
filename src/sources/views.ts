import type { LeaderLabel } from "../api/types.ts";
import type { NodeView, PodView } from "../election/index.ts";
import type { CachedHeartbeat } from "./node-leases.ts";
import type { CachedNode } from "./nodes.ts";
import type { Store } from "./store.ts";
import type { CachedPod } from "./pods.ts";

/**
 * The election core's view of a cached pod: for a NotReady pod, `readySince`
 * is when podium saw it turn NotReady, which is what the tolerance counts from.
 */
export function toPodView(pod: CachedPod, label: LeaderLabel): PodView {
  const view: PodView = {
    name: pod.name,
    uid: pod.uid,
    createdAt: pod.createdAt,
    terminating: pod.terminating,
    phase: pod.phase,
    ready: pod.ready,
  };
  if (pod.firstSeenAt !== undefined) view.firstSeenAt = pod.firstSeenAt;
  const since = pod.ready ? pod.readySince : (pod.notReadySince ?? pod.readySince);
  if (since !== undefined) view.readySince = since;
  if (pod.ready && pod.readySeenAt !== undefined) view.readySeenAt = pod.readySeenAt;
  const value = pod.labels[label.key];
  if (value !== undefined) view.leaderLabelValue = value;
  if (value !== undefined && value !== label.value) view.foreignLabelValue = value;
  if (pod.epochAnnotation !== undefined) view.epochAnnotation = pod.epochAnnotation;
  if (pod.priorityAnnotation !== undefined) view.priorityAnnotation = pod.priorityAnnotation;
  if (pod.revision !== undefined) view.revision = pod.revision;
  if (pod.hostname !== undefined) view.hostname = pod.hostname;
  if (pod.hostNetwork !== undefined) view.hostNetwork = pod.hostNetwork;
  if (pod.nodeName !== undefined) view.nodeName = pod.nodeName;
  return view;
}

/** The election core's view of a node and its heartbeat. */
export function toNodeView(node: CachedNode, heartbeat: CachedHeartbeat | undefined): NodeView {
  const view: NodeView = { name: node.name, ready: node.ready, outOfService: node.outOfService };
  if (heartbeat !== undefined) view.heartbeatObservedAt = heartbeat.observedAt;
  if (heartbeat?.intervalMs !== undefined) view.heartbeatIntervalMs = heartbeat.intervalMs;
  return view;
}

/** Every cached node with its heartbeat, for the disruption guard. */
export function nodeViews(store: Store): NodeView[] {
  return store.nodes().map((n) => toNodeView(n, store.nodeHeartbeat(n.name)));
}

/** The node `name` with its heartbeat, or undefined when no such Node is cached. */
export function nodeView(store: Store, name: string): NodeView | undefined {
  const node = store.node(name);
  return node && toNodeView(node, store.nodeHeartbeat(name));
}

import { TransitionReason } from "../api/constants.ts";
import { DEFAULT_NODE_HEARTBEAT_GRACE_SECONDS } from "../api/defaults.ts";
import type { ElectionGroupSpec } from "../api/types.ts";
import type { PodView } from "./types.ts";

/**
 * What podium knows of one node: the facts it judges a node by, and when it
 * saw the node's heartbeat Lease last renewed.
 */
export interface NodeView {
  name: string;
  /** Status of the Node's Ready condition; undefined when it reports none yet. */
  ready: "True" | "False" | "Unknown" | undefined;
  /** Tainted node.kubernetes.io/out-of-service (shut down for good, KEP-2268). */
  outOfService: boolean;
  /**
   * Local time at which podium saw the heartbeat Lease's renewTime change
   * (client-go's observedTime); undefined when the node has no heartbeat Lease.
   */
  heartbeatObservedAt?: number;
  /** Time between the last two renewals podium saw (the node's cadence), when known. */
  heartbeatIntervalMs?: number;
}

/** Why a pod's node disqualifies it; each names the node. */
export type NodeProblem =
  | { kind: "deleted"; node: string }
  | { kind: "outOfService"; node: string }
  | { kind: "notReady"; node: string; status: "False" | "Unknown" }
  | { kind: "heartbeatStale"; node: string; silentMs: number };

/** Whether podium trusts node heartbeats right now, and why not. */
export interface NodeDisruption {
  /** True: no pod is disqualified on its heartbeat nor on a Ready=Unknown node. */
  active: boolean;
  reason: "HeartbeatsTrusted" | "MostHeartbeatsStale" | "WatchesStalled";
  /** Nodes that visibly missed a heartbeat renewal, or whose Ready is Unknown. */
  silentNodes: number;
  nodes: number;
  message: string;
}

/** Everything a group's node judgement reads. */
export interface NodeJudgementInput {
  /** Every node, for the disruption guard. */
  nodes: readonly NodeView[];
  /** The node of that name; undefined when no such Node exists. */
  node(name: string): NodeView | undefined;
  graceMs: number;
  now: number;
  /** podium's watches that show no life (their view of heartbeats cannot be trusted). */
  stalledWatches: readonly string[];
}

/**
 * The node lifecycle controller's --unhealthy-zone-threshold: past this
 * fraction of silent nodes, a zone is in (partial or full) disruption.
 */
export const DISRUPTION_FRACTION = 0.55;
/** While the guard holds, a group whose pods it shields looks again this often. */
export const DISRUPTION_RECHECK_MS = 5_000;

/** The group's heartbeat grace in milliseconds (the default for a spec written before the field). */
export function nodeHeartbeatGraceMs(spec: Pick<ElectionGroupSpec, "failureDetection">): number {
  return (
    (spec.failureDetection?.nodeHeartbeatGraceSeconds ?? DEFAULT_NODE_HEARTBEAT_GRACE_SECONDS) *
    1000
  );
}

/**
 * Whether `node` has visibly missed a heartbeat renewal: none seen for 5 %
 * (the kubelet's jitter is 4 %) plus 250 ms beyond its own cadence, capped at
 * the grace. This comes well before staleness, which is what lets the guard
 * see a disruption before the first node's heartbeat goes stale. A cadence
 * not yet known (one renewal seen) counts as the grace.
 */
export function missedRenewal(node: NodeView, graceMs: number, now: number): boolean {
  if (node.heartbeatObservedAt === undefined) return false;
  const cadenceMs = Math.min(node.heartbeatIntervalMs ?? graceMs, graceMs);
  return now - node.heartbeatObservedAt > Math.min(cadenceMs * 1.05 + 250, graceMs);
}

/** Whether `node`'s heartbeat has gone unrenewed for `graceMs`; a node without one never has. */
export function heartbeatStale(node: NodeView, graceMs: number, now: number): boolean {
  return node.heartbeatObservedAt !== undefined && now - node.heartbeatObservedAt >= graceMs;
}

/**
 * Returns whether the heartbeats of `nodes` can be trusted. Like the node
 * lifecycle controller's disruption modes: when more than
 * {@link DISRUPTION_FRACTION} of the nodes are silent at once (a renewal
 * visibly missed, see {@link missedRenewal}, or Ready=Unknown, which the
 * node controller derives from the same heartbeats), the likely cause is the
 * control plane or podium's own view, not that many machines died together.
 * The same when podium's own watches stall. A lone node counts: a one-node
 * cluster never demotes on heartbeats.
 */
export function assessDisruption(
  nodes: readonly NodeView[],
  graceMs: number,
  now: number,
  stalledWatches: readonly string[],
): NodeDisruption {
  const silentNodes = nodes.filter(
    (n) => n.ready === "Unknown" || missedRenewal(n, graceMs, now),
  ).length;
  const base = { silentNodes, nodes: nodes.length };
  if (stalledWatches.length > 0) {
    return {
      ...base,
      active: true,
      reason: "WatchesStalled",
      message: `podium's watches of ${stalledWatches.join(", ")} show no activity: no pod is demoted on node heartbeats until they recover`,
    };
  }
  if (nodes.length > 0 && silentNodes / nodes.length > DISRUPTION_FRACTION) {
    return {
      ...base,
      active: true,
      reason: "MostHeartbeatsStale",
      message: `${String(silentNodes)} of ${String(nodes.length)} nodes missed a heartbeat at once (more than ${String(DISRUPTION_FRACTION * 100)}%): likely a control-plane or network problem, so no pod is demoted on node heartbeats`,
    };
  }
  return {
    ...base,
    active: false,
    reason: "HeartbeatsTrusted",
    // No counts here: status would be rewritten whenever a node comes or goes.
    message: "fewer than most nodes look silent: node heartbeats are trusted",
  };
}

/** A pod's node judgement: its problem, if any, and when to judge it again if nothing changes. */
export interface PodNodeJudgement {
  problem?: NodeProblem;
  /** The instant its heartbeat goes stale unless renewed, or the next look while the guard holds. */
  recheckAt?: number;
}

/**
 * Judges the node `nodeName` for a pod: deleted, out-of-service and Ready
 * False disqualify always (a person, the kubelet or the node controller said
 * so); Ready Unknown and a stale heartbeat only while `disruption` is
 * inactive. A pod with no node (not scheduled yet) has no problem.
 */
export function judgeNode(
  nodeName: string | undefined,
  input: NodeJudgementInput,
  disruption: NodeDisruption,
): PodNodeJudgement {
  if (nodeName === undefined || nodeName === "") return {};
  const node = input.node(nodeName);
  if (node === undefined) return { problem: { kind: "deleted", node: nodeName } };
  if (node.outOfService) return { problem: { kind: "outOfService", node: nodeName } };
  if (node.ready === "False") {
    return { problem: { kind: "notReady", node: nodeName, status: "False" } };
  }
  const { graceMs, now } = input;
  const silent = node.ready === "Unknown" || heartbeatStale(node, graceMs, now);
  if (silent && disruption.active) return { recheckAt: now + DISRUPTION_RECHECK_MS };
  if (node.ready === "Unknown") {
    return { problem: { kind: "notReady", node: nodeName, status: "Unknown" } };
  }
  const observedAt = node.heartbeatObservedAt;
  if (observedAt === undefined) return {};
  if (silent) {
    return { problem: { kind: "heartbeatStale", node: nodeName, silentMs: now - observedAt } };
  }
  return { recheckAt: observedAt + graceMs };
}

/**
 * Returns `pods` with their node judgement (`nodeProblem`, `nodeRecheckAt`)
 * for a group with grace `input.graceMs`, and whether heartbeats are trusted.
 */
export function judgePodNodes(
  pods: readonly PodView[],
  input: NodeJudgementInput,
): { pods: PodView[]; disruption: NodeDisruption } {
  const disruption = assessDisruption(input.nodes, input.graceMs, input.now, input.stalledWatches);
  const judged = pods.map((pod) =>
    withNodeJudgement(pod, judgeNode(pod.nodeName, input, disruption)),
  );
  return { pods: judged, disruption };
}

/** `pod` carrying `judgement` (and no older one). */
export function withNodeJudgement(pod: PodView, judgement: PodNodeJudgement): PodView {
  const out: PodView = { ...pod };
  delete out.nodeProblem;
  delete out.nodeRecheckAt;
  if (judgement.problem !== undefined) out.nodeProblem = judgement.problem;
  if (judgement.recheckAt !== undefined) out.nodeRecheckAt = judgement.recheckAt;
  return out;
}

/** The transition reason of a holder lost to `problem`. */
export function nodeProblemReason(problem: NodeProblem): TransitionReason {
  return problem.kind === "heartbeatStale"
    ? TransitionReason.NodeHeartbeatStale
    : TransitionReason.NodeLost;
}

/** One line on why `problem` disqualifies a pod, for status, Events and the plugin. */
export function nodeProblemText(problem: NodeProblem): string {
  switch (problem.kind) {
    case "deleted":
      return `node ${problem.node} no longer exists`;
    case "outOfService":
      return `node ${problem.node} is tainted node.kubernetes.io/out-of-service`;
    case "notReady":
      return `node ${problem.node} is Ready=${problem.status}`;
    case "heartbeatStale":
      return `node ${problem.node} has not renewed its heartbeat for ${String(Math.round(problem.silentMs / 1000))}s`;
  }
}

/**
 * The delay until the holder's node must be judged again (its heartbeat goes
 * stale at that instant unless renewed), or undefined. Only the holder's
 * node: a candidate's is judged afresh whenever leadership moves.
 */
export function holderNodeRecheckMs(
  holderUID: string | undefined,
  pods: readonly PodView[],
  now: number,
): number | undefined {
  if (holderUID === undefined) return undefined;
  const at = pods.find((p) => p.uid === holderUID)?.nodeRecheckAt;
  return at === undefined ? undefined : Math.max(0, at - now);
}

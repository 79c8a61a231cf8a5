import { NODE_LEASE_NAMESPACE } from "../api/constants.ts";
import { nodeHeartbeatGraceMs } from "../election/index.ts";
import { obj, str, time } from "./json.ts";
import { groupsOnNode } from "./nodes.ts";
import type { Source } from "./source.ts";

/** A node's heartbeat Lease, as podium observed it. */
export interface CachedHeartbeat {
  /** The node's name (the Lease is named after it). */
  node: string;
  /** spec.renewTime as the kubelet wrote it (its clock), epoch ms. */
  renewTime?: number;
  /**
   * Local time at which podium first saw this renewTime: staleness is judged
   * from here, as client-go judges a Lease, never from the kubelet's clock.
   */
  observedAt: number;
  /** Time between the last two renewals podium saw: the node's own cadence. */
  intervalMs?: number;
}

/**
 * Reduces a heartbeat Lease. An unchanged renewTime keeps the previous
 * observedAt, so a re-list or an unrelated update does not look like a renewal.
 */
export function toCachedHeartbeat(
  raw: unknown,
  now: number,
  previous?: CachedHeartbeat,
): CachedHeartbeat | undefined {
  const lease = obj(raw);
  const node = str(obj(lease.metadata).name);
  if (!node) return undefined;
  const renewTime = time(obj(lease.spec).renewTime);
  if (previous !== undefined && previous.renewTime === renewTime) return previous;
  const cached: CachedHeartbeat = { node, observedAt: now };
  if (renewTime !== undefined) cached.renewTime = renewTime;
  if (previous !== undefined) cached.intervalMs = now - previous.observedAt;
  return cached;
}

/** The grace of a group's spec as written (a malformed value reads as the default). */
function graceOf(spec: unknown): number {
  const raw = obj(obj(spec).failureDetection).nodeHeartbeatGraceSeconds;
  return nodeHeartbeatGraceMs(
    typeof raw === "number" ? { failureDetection: { nodeHeartbeatGraceSeconds: raw } } : {},
  );
}

/**
 * The kubelets' heartbeat Leases in kube-node-lease, cached as
 * {@link CachedHeartbeat}. Every node renews every 10 s, so a renewal must
 * not reconcile anything by itself: an event concerns the groups with a pod
 * on the node only when the heartbeat appeared or went, or when it resumes
 * after a silence as long as the group's grace (the group may have judged it
 * stale). Going stale has no event: the groups requeue themselves at that
 * instant (election/nodes.ts, `nodeRecheckAt`).
 */
export const nodeLeaseSource: Source<CachedHeartbeat> = {
  name: "node-leases",
  path: (ns) => `/apis/coordination.k8s.io/v1/namespaces/${ns ?? NODE_LEASE_NAMESPACE}/leases`,
  scopes: () => [NODE_LEASE_NAMESPACE],
  reduce: (raw, now, previous) => toCachedHeartbeat(raw, now, previous),
  indexes: {},
  *concerns({ type, item, old }, store) {
    if (type !== "update" || old === undefined) {
      yield* groupsOnNode(item.node, store);
      return;
    }
    if (item.observedAt === old.observedAt) return;
    const silentMs = item.observedAt - old.observedAt;
    for (const key of groupsOnNode(item.node, store)) {
      const slash = key.indexOf("/");
      const group = store.group(key.slice(0, slash), key.slice(slash + 1));
      if (group !== undefined && silentMs >= graceOf(group.spec)) yield key;
    }
  },
};

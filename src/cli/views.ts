/**
 * API objects as the election core sees them, read straight from the API
 * server and reduced exactly as the controller's caches reduce them
 * (toCachedPod, toCachedLease, toPodView; a CachedLease is already a LeaseView).
 */
import type { LeaderLabel } from "../api/types.ts";
import { toCachedLease } from "../sources/leases.ts";
import type { CachedLease } from "../sources/leases.ts";
import { toCachedPod } from "../sources/pods.ts";
import type { CachedPod } from "../sources/pods.ts";
import { toCachedHeartbeat } from "../sources/node-leases.ts";
import { toCachedNode } from "../sources/nodes.ts";
import { toNodeView, toPodView } from "../sources/views.ts";
import type { LeaseView, NodeView, PodView } from "../election/index.ts";

/** A pod reduced as podium's cache keeps it, plus its labels for the selector. */
export interface PodFacts {
  cached: CachedPod;
  view: PodView;
}

/**
 * Reduces an API Pod (a client-node model with Dates, or plain JSON) to what
 * the election core reads; undefined when it is no pod. Having seen the pod
 * only once, "NotReady since" is its Ready condition's lastTransitionTime,
 * which is what podium uses for a pod that was NotReady when it first saw it.
 */
export function podFacts(raw: unknown, label: LeaderLabel): PodFacts | undefined {
  const cached = toCachedPod(raw);
  if (cached === undefined) return undefined;
  const view = toPodView(cached, label);
  return { cached, view };
}

/** A Lease reduced as podium's cache keeps it, and as the election core reads it. */
export interface LeaseFacts {
  cached: CachedLease;
  view: LeaseView;
}

/**
 * Reduces an API Lease. `observedAt` stands in for the local time podium saw
 * the record change, which only the operator knows: the caller passes now
 * (Managed: expiry plays no part) or the record's renewTime (Observed: an
 * estimate that trusts the writer's clock).
 */
export function leaseFacts(raw: unknown, now: number): LeaseFacts | undefined {
  const cached = toCachedLease(raw, now);
  if (cached === undefined) return undefined;
  const view: LeaseView = cached;
  return { cached, view };
}

/**
 * The election core's view of a node read straight from the API server. Only
 * the operator knows when it saw a heartbeat renewed: the plugin dates it by
 * the kubelet's renewTime, an estimate that trusts the kubelet's clock.
 */
export function nodeFacts(raw: { node: unknown; heartbeat: unknown }): NodeView | undefined {
  const node = toCachedNode(raw.node);
  if (node === undefined) return undefined;
  const renewTime = toCachedHeartbeat(raw.heartbeat, 0)?.renewTime;
  const heartbeat =
    renewTime === undefined ? undefined : { node: node.name, observedAt: renewTime };
  return toNodeView(node, heartbeat);
}

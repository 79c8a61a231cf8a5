import type { ElectionGroup, ElectionGroupSpec } from "./types.ts";

/**
 * Defaults and bounds of the ElectionGroup spec, in one place so that the schema (which the API
 * server applies), the validator and any code that needs "the default lease" agree.
 *
 * The lease defaults are client-go's and controller-runtime's (15/10/2 s), so that pods running
 * client-go leader election in Observed mode and podium in Managed mode behave alike.
 */
export const DEFAULT_MODE = "Managed";

export const DEFAULT_LEASE_DURATION_SECONDS = 15;
export const DEFAULT_RENEW_DEADLINE_SECONDS = 10;
export const DEFAULT_RETRY_PERIOD_SECONDS = 2;

export const DEFAULT_LEADER_LABEL_KEY = "role";
export const DEFAULT_LEADER_LABEL_VALUE = "leader";

export const DEFAULT_NOT_READY_TOLERANCE_SECONDS = 0;
export const DEFAULT_PAUSED = false;

/**
 * How long a node's heartbeat Lease may go unrenewed (as podium observes it) before its pods stop
 * being candidates. The kubelet renews every 10 s (a quarter of its 40 s Lease, up to 4 % later).
 * 18 s tolerates one renewal ~7 s late, finds a dead node 8 to 18 s after it died (13 s on
 * average, where a client-go standby takes 13 to 17 s), and leaves the disruption guard time to
 * engage: when every heartbeat stops at once, about 70 % of evenly spread nodes have visibly
 * missed a renewal before the first one goes stale. See docs/nodes.md.
 */
export const DEFAULT_NODE_HEARTBEAT_GRACE_SECONDS = 18;
/** Below this a heartbeat renewed on time could look stale between two renewals' watch events. */
export const MIN_NODE_HEARTBEAT_GRACE_SECONDS = 2;
export const MAX_NODE_HEARTBEAT_GRACE_SECONDS = 3600;

/** Inclusive bounds of the spec's numbers; an hour is far beyond any sane lease. */
export const MAX_LEASE_DURATION_SECONDS = 3600;
export const MAX_RENEW_DEADLINE_SECONDS = 3600;
export const MAX_RETRY_PERIOD_SECONDS = 600;
export const MAX_NOT_READY_TOLERANCE_SECONDS = 3600;

/**
 * Upper bounds of collections. The API server's CEL cost estimator needs them (an unbounded list
 * makes every rule over it "too expensive"), and they are far above any real selector.
 */
export const MAX_MATCH_LABELS = 64;
export const MAX_MATCH_EXPRESSIONS = 32;
export const MAX_MATCH_EXPRESSION_VALUES = 64;
/** status.history keeps the newest transitions only. */
export const MAX_HISTORY = 10;
export const MAX_CONDITIONS = 16;

/** The name of the group's Lease: spec.lease.name, else the group's own name. */
export function leaseName(group: {
  metadata: Pick<ElectionGroup["metadata"], "name">;
  spec: { lease: Pick<ElectionGroupSpec["lease"], "name"> };
}): string {
  return group.spec.lease.name ?? group.metadata.name;
}

/** EndpointSlice mode: ports of spec.service (a Service allows more; a leader rarely needs them). */
export const MAX_SERVICE_PORTS = 16;
export const DEFAULT_SERVICE_PROTOCOL = "TCP";

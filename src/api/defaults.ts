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

/**
 * Managed mode's lease timings when the spec states none: the Lease is valid for 90 s and podium
 * renews it every 60 s (max(retryPeriod, renewDeadline)), one write per group per minute.
 *
 * In Managed mode the Lease decides nothing (podium elects from readiness and nodes), so its
 * renewal only tells a reader that a running podium still vouches for the holder. 60 s keeps a
 * 30 s margin for a slow or retried write; a reader sees the Lease expire at most 90 s after
 * podium stopped. See docs/semantics.md, "Renewal".
 */
export const DEFAULT_MANAGED_LEASE_DURATION_SECONDS = 90;
export const DEFAULT_MANAGED_RENEW_DEADLINE_SECONDS = 60;
export const DEFAULT_MANAGED_RETRY_PERIOD_SECONDS = 2;

/**
 * Fills in the lease timings `lease` leaves out, by mode, and returns it (mutated).
 *
 * Managed mode with no timing at all gets 90/60/2. Any other spec (Observed mode, or a Managed
 * spec that states at least one timing) gets client-go's 15/10/2 for the missing ones, exactly
 * what the CRD schema used to store: a partial spec keeps the meaning it always had, and an
 * explicit timing is never overridden. Applied in code, not by the CRD schema, so that what the
 * user wrote stays distinguishable from a default (the API server stores only what was written).
 */
export function applyLeaseTimingDefaults(
  mode: unknown,
  lease: Record<string, unknown>,
): Record<string, unknown> {
  const stated = LEASE_TIMING_FIELDS.some((field) => lease[field] !== undefined);
  const defaults =
    mode === "Observed" || stated
      ? [
          DEFAULT_LEASE_DURATION_SECONDS,
          DEFAULT_RENEW_DEADLINE_SECONDS,
          DEFAULT_RETRY_PERIOD_SECONDS,
        ]
      : [
          DEFAULT_MANAGED_LEASE_DURATION_SECONDS,
          DEFAULT_MANAGED_RENEW_DEADLINE_SECONDS,
          DEFAULT_MANAGED_RETRY_PERIOD_SECONDS,
        ];
  LEASE_TIMING_FIELDS.forEach((field, i) => {
    lease[field] ??= defaults[i];
  });
  return lease;
}

/** spec.lease's timing fields, in the order of {@link applyLeaseTimingDefaults}' defaults. */
export const LEASE_TIMING_FIELDS = [
  "durationSeconds",
  "renewDeadlineSeconds",
  "retryPeriodSeconds",
] as const;

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

/**
 * Cutover: Immediate by default, the fastest label for an unplanned fail-over. In the
 * rollout benchmark (docs/benchmarks.md: 100 rollouts per size and mode, quiet machine)
 * Verified kept the longest stretch without exactly one ready leader endpoint at 106 / 171 ms
 * (3 / 10 replicas) and Immediate at 144 ms / 1.02 s, the 1 s once in 200 rollouts
 * (kube-controller-manager's EndpointSlice retry), for 5-10 ms more to the new label at p50.
 * An earlier run under load favoured neither. Verified is for Services that must never list
 * two leaders and for apps that roll often; it holds a worker for up to timeoutSeconds while
 * a Service keeps the old leader. Whether it should become the default wants the fail-over
 * benchmark under Verified first.
 */
export const DEFAULT_CUTOVER_MODE = "Immediate";
export const DEFAULT_CUTOVER_TIMEOUT_SECONDS = 5;
export const MAX_CUTOVER_TIMEOUT_SECONDS = 60;

/**
 * The leader probe's defaults. A dead machine answers nothing, so each attempt fails at its
 * timeout: the holder fails its probe (period x (threshold - 1) + timeout) after the first attempt
 * that finds it dead, which comes up to one period after the death. 1 s / 1 s / 2 fail a dead
 * holder 2 to 3 s after its death (a refused connection: 1 to 2 s), inside the 3 s goal with the
 * fail-over's tens of milliseconds, while one lost probe alone never moves leadership. See
 * docs/probe.md.
 */
export const DEFAULT_PROBE_PERIOD_SECONDS = 1;
export const DEFAULT_PROBE_TIMEOUT_SECONDS = 1;
export const DEFAULT_PROBE_FAILURE_THRESHOLD = 2;
export const DEFAULT_PROBE_HTTP_PATH = "/";
export const DEFAULT_PROBE_HTTP_SCHEME = "HTTP";
export const MAX_PROBE_PERIOD_SECONDS = 300;
export const MAX_PROBE_FAILURE_THRESHOLD = 100;
/** status.failedProbes lists at most this many pods (a pod enters it only as a failed holder). */
export const MAX_FAILED_PROBES = 16;

/**
 * Hand-over: see docs/semantics.md, "Hand-over during a rollout", and docs/benchmarks.md for the
 * measurements the default rests on.
 */
export const DEFAULT_HANDOVER_MODE = "OnRollout";
export const DEFAULT_HANDOVER_SETTLE_SECONDS = 0;
export const MAX_HANDOVER_SETTLE_SECONDS = 600;

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

/** The cutover settings of a spec, with defaults for a spec written before the field existed. */
export function cutoverOf(spec: Pick<ElectionGroupSpec, "cutover">): {
  mode: "Immediate" | "Verified";
  timeoutSeconds: number;
} {
  return {
    mode: spec.cutover?.mode ?? DEFAULT_CUTOVER_MODE,
    timeoutSeconds: spec.cutover?.timeoutSeconds ?? DEFAULT_CUTOVER_TIMEOUT_SECONDS,
  };
}

/** EndpointSlice mode: ports of spec.service (a Service allows more; a leader rarely needs them). */
export const MAX_SERVICE_PORTS = 16;
export const DEFAULT_SERVICE_PROTOCOL = "TCP";
/** The hand-over settings of a spec, with defaults for a spec written before the field existed. */
export function handoverOf(spec: Pick<ElectionGroupSpec, "handover">): {
  mode: "Disabled" | "OnRollout";
  settleSeconds: number;
} {
  return {
    mode: spec.handover?.mode ?? DEFAULT_HANDOVER_MODE,
    settleSeconds: spec.handover?.settleSeconds ?? DEFAULT_HANDOVER_SETTLE_SECONDS,
  };
}

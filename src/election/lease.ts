import type { ElectionGroupSpec } from "../api/types.ts";
import type { LeaseView } from "./types.ts";

/**
 * Returns the epoch ms at which `lease` expires by client-go's rule: the time
 * the record was last *observed* to change plus its duration (the
 * `fallbackDurationSeconds` when the Lease states none). The writer's
 * renewTime is not trusted, so a skewed clock elsewhere cannot extend a lease.
 */
export function leaseExpiresAt(lease: LeaseView, fallbackDurationSeconds: number): number {
  return lease.observedAt + (lease.durationSeconds ?? fallbackDurationSeconds) * 1000;
}

/**
 * Reports whether `lease` names a holder and has not expired at `now`
 * (expiry itself counts as expired, as in client-go).
 */
export function isLeaseHeldAndValid(
  lease: LeaseView,
  now: number,
  fallbackDurationSeconds: number,
): boolean {
  return lease.holder !== "" && now < leaseExpiresAt(lease, fallbackDurationSeconds);
}

/**
 * Returns how long podium waits between renewals of a Lease it holds for a
 * pod: max(retryPeriodSeconds, durationSeconds / 2), in ms.
 *
 * client-go's leader renews every retryPeriod (2 s: 30 writes a minute). podium
 * renews on behalf of a pod whose liveness it reads from the pod's Ready
 * condition, not from the Lease, so it only needs the Lease to look valid to
 * client-go readers: half the duration leaves the other half as slack for a
 * reader polling every ~2–4.4 s and for a slow write. At the default 15 s that
 * is 8 writes a minute per group instead of 30, and never more often than
 * retryPeriod.
 */
export function renewIntervalMs(spec: Pick<ElectionGroupSpec, "lease">): number {
  return Math.max(spec.lease.retryPeriodSeconds * 1000, spec.lease.durationSeconds * 500);
}

/**
 * Returns the epoch ms at which podium's next renewal of `lease` is due: its
 * renewTime (or, when that is missing, the time it was observed) plus
 * {@link renewIntervalMs}. renewTime is podium's own write, so after an
 * operator restart an old renewTime makes the renewal due at once.
 */
export function renewDueAt(lease: LeaseView, spec: Pick<ElectionGroupSpec, "lease">): number {
  return (lease.renewTime ?? lease.observedAt) + renewIntervalMs(spec);
}

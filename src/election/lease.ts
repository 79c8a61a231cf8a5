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
 * pod: max(retryPeriodSeconds, renewDeadlineSeconds), in ms.
 *
 * A client-go reader starts a Lease's expiry clock when it *sees* the record
 * change, never before the write, so a renewal keeps the Lease valid for every
 * reader as long as it lands within durationSeconds of the previous one,
 * however late the readers poll. Renewing at renewDeadline leaves
 * durationSeconds - renewDeadlineSeconds (5 s at the default 15/10/2) for a
 * slow or retried write: the same margin a client-go leader keeps, since it
 * gives up after failing to renew for renewDeadline. podium renews on behalf
 * of a pod whose liveness it reads from the pod's Ready condition, not from
 * the Lease, so more frequent renewals would buy nothing: at the defaults
 * that is 6 writes a minute per group instead of client-go's 30.
 */
export function renewIntervalMs(spec: Pick<ElectionGroupSpec, "lease">): number {
  return Math.max(spec.lease.retryPeriodSeconds, spec.lease.renewDeadlineSeconds) * 1000;
}

/**
 * Returns the epoch ms at which podium's next renewal of `lease` is due: the
 * earlier of its renewTime and the time the record was observed (renewTime
 * alone when it was not), plus {@link renewIntervalMs}. renewTime is
 * podium's own write, so after an operator restart an old renewTime makes the
 * renewal due at once; a renewTime in the future (a hand edit, a skewed
 * writer) cannot postpone it past one interval after podium saw it.
 */
export function renewDueAt(lease: LeaseView, spec: Pick<ElectionGroupSpec, "lease">): number {
  const from =
    lease.renewTime === undefined ? lease.observedAt : Math.min(lease.renewTime, lease.observedAt);
  return from + renewIntervalMs(spec);
}

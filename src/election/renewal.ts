import type { ElectionGroupSpec } from "../api/types.ts";
import { isCandidate } from "./candidates.ts";
import { renewDueAt } from "./lease.ts";
import { leaseRecord } from "./lease-record.ts";
import type { LeaseRecord } from "./lease-record.ts";
import type { LeaseView, PodRef, PodView } from "./types.ts";

/**
 * What a scheduled renewal of a held Managed Lease expects to find: the
 * holder the last reconcile kept, and the Lease's resourceVersion as podium
 * last wrote or read it (the renewal's precondition).
 */
export interface RenewalTicket {
  holder: PodRef;
  resourceVersion: string;
}

/** What {@link nextRenewal} decides from. */
export interface RenewalInput {
  spec: Pick<ElectionGroupSpec, "lease" | "leaderLabel">;
  ticket: RenewalTicket;
  /** The Lease as the cache (or podium's own unseen write) shows it; undefined when gone. */
  lease: (LeaseView & { resourceVersion: string }) | undefined;
  /** The pod named by the ticket's holder, as the cache shows it; undefined when gone. */
  holder: PodView | undefined;
  now: number;
}

/**
 * The next step of a lean renewal: write `record` at `resourceVersion`, wait
 * until `at`, or hand the group to a full reconcile (something besides the
 * time changed, `why` says what).
 */
export type RenewalStep =
  | { kind: "renew"; record: LeaseRecord; resourceVersion: string }
  | { kind: "wait"; at: number }
  | { kind: "reconcile"; why: string };

/**
 * Decides a renewal of a Managed Lease without deciding the whole group: it
 * renews only while everything the last reconcile kept still stands (the
 * Lease at the version podium left it, naming the same holder and uid; the
 * holder a candidate carrying the leader label at the Lease's epoch), and
 * only once {@link renewDueAt} has come. Anything else is a change the full
 * decision must look at, so it asks for a reconcile rather than guess: the
 * renewal never elects, repairs or releases. The record is what
 * {@link leaseRecord} renews (transitions and acquireTime kept).
 */
export function nextRenewal({ spec, ticket, lease, holder, now }: RenewalInput): RenewalStep {
  if (lease === undefined) return { kind: "reconcile", why: "the Lease is gone" };
  if (lease.resourceVersion !== ticket.resourceVersion) {
    return { kind: "reconcile", why: "the Lease changed since podium wrote it" };
  }
  if (lease.holder !== ticket.holder.name || lease.holderUID !== ticket.holder.uid) {
    return { kind: "reconcile", why: "the Lease names another holder" };
  }
  if (holder?.uid !== ticket.holder.uid) return { kind: "reconcile", why: "the holder is gone" };
  if (!isCandidate(holder)) return { kind: "reconcile", why: "the holder is no candidate" };
  if (
    holder.leaderLabelValue !== spec.leaderLabel.value ||
    holder.epochAnnotation !== String(lease.transitions)
  ) {
    return { kind: "reconcile", why: "the holder's label or epoch needs repair" };
  }
  const at = renewDueAt(lease, spec);
  if (now < at) return { kind: "wait", at };
  const record = leaseRecord(spec, lease, { kind: "renew", holder: ticket.holder }, now);
  if (record === undefined) return { kind: "reconcile", why: "no record to renew" };
  return { kind: "renew", record, resourceVersion: lease.resourceVersion };
}

/**
 * The write phases of a reconcile, in the order DESIGN §2 requires, each
 * only after the previous one succeeded: break (no pod but the new holder
 * may carry the label from here on), the Lease (the optimistic-concurrency
 * point), make (the new holder gets the label and its epoch).
 */
import { EventReason } from "../api/constants.ts";
import type { LeaderLabel } from "../api/types.ts";
import type { LeaseRecord, Plan, PodRef } from "../election/index.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { CachedLease } from "../sources/leases.ts";
import type { Store } from "../sources/store.ts";
import type { Loaded } from "./load.ts";
import type { OwnWrites } from "./own-writes.ts";
import { subjectOf } from "./report.ts";
import type { PodTarget, WriteOutcome, Writer } from "./writer.ts";

/** What the write phases need. */
export interface ActDeps {
  writer: Writer;
  ownWrites: OwnWrites;
  store: Pick<Store, "lease">;
  recorder: EventRecorder;
}

/** How the break phase ended. */
export interface BreakResult {
  /** Whether a label came off. */
  wrote: boolean;
  /** A pod changed since the decision: nothing may be labelled until it is decided again. */
  conflict: boolean;
}

/**
 * Break: removes the leader label from every pod the plan names, each tied to
 * the uid and resourceVersion the decision saw, so that a value someone set
 * since is never removed. A pod that is already gone needs nothing more; a
 * pod that changed stops the reconcile (the make phase must not label a new
 * holder while the old one may still carry the label). A stray whose label
 * came off is reported with an Event.
 */
export async function breakLabels(
  deps: ActDeps,
  loaded: Loaded,
  plan: Plan,
  label: LeaderLabel,
  signal: AbortSignal,
): Promise<BreakResult> {
  const { namespace } = loaded.group.metadata;
  let wrote = false;
  for (const pod of plan.removeLabel) {
    const target = targetOf(loaded, pod);
    const outcome = await deps.writer.removeLeaderLabel(namespace, target, label, signal);
    if (outcome === "conflict") return { wrote, conflict: true };
    if (outcome !== "ok") continue;
    wrote = true;
    if (pod.strayMessage !== undefined) {
      deps.recorder.record(
        subjectOf(loaded.group),
        "Warning",
        EventReason.StrayLeaderLabelRemoved,
        "RemoveLabel",
        pod.strayMessage,
      );
    }
  }
  return { wrote, conflict: false };
}

/**
 * Lease: creates the Lease, or updates it at the resourceVersion the
 * decision saw, so that a 409 means someone else moved first. The record is
 * remembered before it is sent (its echo can arrive before the response) and
 * the written Lease after (read-own-writes).
 */
export async function writeLease(
  deps: ActDeps,
  loaded: Loaded,
  plan: Plan,
  signal: AbortSignal,
): Promise<WriteOutcome> {
  if (plan.lease === undefined) return "ok";
  const { group, lease: cached, leaseName: name } = loaded;
  const { namespace } = group.metadata;
  const { record, create } = plan.lease;
  deps.ownWrites.leaseSent(namespace, name, record);
  const result = create
    ? await deps.writer.createLease(group, name, record, signal)
    : await deps.writer.updateLease(namespace, name, cached?.resourceVersion ?? "", record, signal);
  if (result.outcome === "ok" && result.resourceVersion !== undefined) {
    rememberLeaseWrite(
      deps,
      group.metadata.uid,
      namespace,
      name,
      cached,
      record,
      result.resourceVersion,
    );
  }
  return result.outcome;
}

/**
 * Remembers a successful Lease write as the Lease it produced, based on
 * `cached` (read-own-writes: the reconcile or renewal that follows reads it
 * until the watch delivers it), unless the watch has delivered it already:
 * the echo can come before the response, and the copy would otherwise stay
 * until the Lease is next read, a renewal interval later.
 */
export function rememberLeaseWrite(
  { ownWrites, store }: Pick<ActDeps, "ownWrites" | "store">,
  groupUID: string,
  namespace: string,
  name: string,
  cached: CachedLease | undefined,
  record: LeaseRecord,
  resourceVersion: string,
): CachedLease {
  const written: CachedLease = {
    namespace,
    name,
    uid: cached?.uid ?? "",
    resourceVersion,
    holder: record.holder,
    transitions: record.transitions,
    durationSeconds: record.durationSeconds,
    renewTime: record.renewTime,
    acquireTime: record.acquireTime,
    observedAt: record.renewTime,
    ownerUIDs: cached?.ownerUIDs ?? [groupUID],
  };
  if (record.holderUID !== undefined) written.holderUID = record.holderUID;
  ownWrites.leaseWritten(cached, written);
  const current = store.lease(namespace, name);
  if (current !== undefined) ownWrites.settleLease(current);
  return written;
}

/**
 * Make: labels the holder with the leader label and its epoch, tied to its
 * uid and the resourceVersion the decision saw (a value someone set since is
 * never overwritten).
 */
export async function makeLabel(
  deps: ActDeps,
  loaded: Loaded,
  plan: Plan,
  label: LeaderLabel,
  signal: AbortSignal,
): Promise<WriteOutcome> {
  if (plan.addLabel === undefined) return "ok";
  const { epoch, ...pod } = plan.addLabel;
  const target = targetOf(loaded, pod);
  return deps.writer.setLeaderLabel(loaded.group.metadata.namespace, target, label, epoch, signal);
}

/** The pod `ref` names, with the resourceVersion the load phase saw it at. */
export function targetOf(loaded: Loaded, ref: PodRef): PodTarget {
  const cached =
    loaded.pods.find((p) => p.uid === ref.uid) ??
    (loaded.leaseHolder?.uid === ref.uid ? loaded.leaseHolder : undefined);
  const target: PodTarget = { name: ref.name, uid: ref.uid };
  if (cached !== undefined) target.resourceVersion = cached.resourceVersion;
  return target;
}

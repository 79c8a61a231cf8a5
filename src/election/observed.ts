import { TransitionReason } from "../api/constants.ts";
import { isCandidate } from "./candidates.ts";
import { mapHolder } from "./identity.ts";
import { leaseExpiresAt } from "./lease.ts";
import type { ObservedDecision, ObservedInput, PodRef, PodView } from "./types.ts";

function ref(pod: PodView): PodRef {
  return { name: pod.name, uid: pod.uid };
}

/**
 * Returns the next step for an Observed group (DESIGN §2, Observed mode):
 * the pods elect themselves with client-go on the Lease and podium only moves
 * the label. The pod that `holderIdentity` stands for ({@link mapHolder}:
 * its name, `spec.identity`, its hostname, `<hostname>_<uuid>`) carries the
 * label while the Lease is valid as client-go judges it: until the record's own
 * `leaseDurationSeconds` after the local time the record was last seen to
 * change (never trusting the writer's `renewTime`). No pod carries it when
 * the Lease is missing, released (holder ""), expired, or stands for no pod
 * of the group (none, or more than one: never a guess); `holderMapping` then
 * says what was tried. The epoch is the Lease's `leaseTransitions`; a
 * transition is a change of the labelled holder from `previousHolder`. The
 * decision asks to be looked at again at the expiry instant, so expiry is
 * acted on without polling.
 */
export function decideObserved(input: ObservedInput): ObservedDecision {
  const { spec, pods, lease, now, previousHolder } = input;
  const counts = { candidates: pods.length, readyCandidates: pods.filter(isCandidate).length };
  const labelled = pods.filter((p) => p.leaderLabelValue === spec.leaderLabel.value);
  const epoch = lease?.transitions ?? 0;

  let holderPod: PodView | undefined;
  let holderMapping: ObservedDecision["holderMapping"];
  let idleReason: ObservedDecision["idleReason"];
  let requeueAfterMs: number | undefined;
  if (lease === undefined) {
    idleReason = "NoLease";
  } else if (lease.holder === "") {
    idleReason = "Released";
  } else {
    const expiresAt = leaseExpiresAt(lease, spec.lease.durationSeconds);
    if (now >= expiresAt) {
      idleReason = "Expired";
    } else {
      holderMapping = mapHolder(lease.holder, pods, spec.identity);
      if (holderMapping.kind === "pod") holderPod = holderMapping.pod;
      else idleReason = "HolderNotInGroup";
      if (holderPod?.foreignLabelValue !== undefined) {
        // Its key holds someone else's value: podium does not overwrite it.
        holderPod = undefined;
        idleReason = "HolderLabelConflict";
      }
      requeueAfterMs = expiresAt - now;
    }
  }

  const decision: ObservedDecision = {
    holder: holderPod && ref(holderPod),
    removeLabel: labelled.filter((p) => p.uid !== holderPod?.uid).map(ref),
    ...counts,
  };
  if (requeueAfterMs !== undefined) decision.requeueAfterMs = requeueAfterMs;
  if (idleReason !== undefined) decision.idleReason = idleReason;
  if (holderMapping !== undefined) decision.holderMapping = holderMapping;
  if (
    holderPod &&
    (holderPod.leaderLabelValue !== spec.leaderLabel.value ||
      holderPod.epochAnnotation !== String(epoch))
  ) {
    decision.addLabel = { ...ref(holderPod), epoch };
  }
  const to = holderPod?.name ?? "";
  if (to !== previousHolder) {
    decision.transition = {
      from: previousHolder,
      to,
      reason:
        to !== ""
          ? TransitionReason.LeaseHolderChanged
          : idleReason === "HolderNotInGroup"
            ? TransitionReason.HolderGone
            : TransitionReason.LeaseExpired,
      epoch,
    };
  }
  return decision;
}

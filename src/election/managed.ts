import { TransitionReason } from "../api/constants.ts";
import type { ElectionGroupSpec } from "../api/types.ts";
import { isCandidate } from "./candidates.ts";
import { decideHandover } from "./handover.ts";
import { renewDueAt, renewIntervalMs } from "./lease.ts";
import { holderNodeRecheckMs, nodeProblemReason } from "./nodes.ts";
import { rankNextHolders } from "./order.ts";
import type { LeaseView, ManagedDecision, ManagedInput, PodRef, PodView } from "./types.ts";

/** Where the holder named by the Lease stands, before any election. */
type HolderState =
  /** No Lease, or a released one: the group is leaderless. */
  | { kind: "none" }
  /** The Lease names a holder that must give up leadership now. */
  | { kind: "lost"; name: string; reason: TransitionReason; node?: string }
  /** The holder keeps leadership; `toleranceLeftMs` while it is NotReady. */
  | { kind: "kept"; pod: PodView; lease: LeaseView; toleranceLeftMs?: number };

/** Phases a pod never leaves: waiting out the NotReady tolerance is pointless. */
const TERMINAL_PHASES: readonly string[] = ["Succeeded", "Failed"];

/**
 * Returns the next step for a Managed group (DESIGN §2, Managed mode) from its
 * pods, its Lease and the time; the same input always gives the same decision.
 *
 * - The holder is the pod named by `lease.holder` whose uid equals
 *   `lease.holderUID`; when the Lease records no uid, the pod of that name
 *   only if it carries the leader label with the Lease's epoch. It keeps
 *   leadership while it is a candidate, and while it is NotReady for less
 *   than `notReadyToleranceSeconds` (counted from its Ready condition's last
 *   transition; unknown counts as elapsed). It loses it at once when:
 *   - no group pod has its name and the Lease recorded its uid: `HolderDeleted`
 *     (podium elected it, and it is gone or no longer matches the selector);
 *   - no group pod has its name and no uid was recorded, the pod of that
 *     name has another uid (recreated), or no uid was recorded and the pod
 *     lacks the label at the Lease's epoch (a hand-edited or foreign Lease):
 *     `HolderGone` — the Lease names something podium cannot tie to a pod it
 *     elected;
 *   - it is terminating: `HolderTerminating`;
 *   - its node disqualifies it (gone, Ready False/Unknown, out-of-service:
 *     `NodeLost`; heartbeat stale: `NodeHeartbeatStale`; see nodes.ts), with
 *     no tolerance: the node's grace was the wait;
 *   - it failed the group's leader probe failureThreshold times in a row
 *     (probe.ts): `ProbeFailed`, with no tolerance (the threshold was the wait);
 *   - it is NotReady past the tolerance, or in phase Succeeded/Failed:
 *     `HolderNotReady`.
 * - A candidate named by `spec.preferredHolder` takes over from a holder that
 *   would otherwise stay (`PreferredHolder`); a non-candidate preferredHolder is
 *   ignored. Without one, a pod of a rollout's new revision takes over from a
 *   holder of an older one once it has settled (`Handover`, spec.handover;
 *   see handover.ts); a holder that is the preferredHolder is never handed over.
 * - A new holder is the first of {@link rankNextHolders}. The Lease is
 *   acquired with transitions + 1, or created (a created Lease with a holder
 *   starts at leaseTransitions 1, without one at 0); every other pod carrying
 *   the leader label loses it. The transition's reason is the old holder's
 *   cause, or `Elected` when there was no holder.
 * - With no candidate the label goes everywhere and the Lease is released
 *   once (transitions unchanged: like client-go, only the next acquire counts).
 *   A transition to "" is recorded only when there was a holder, with the
 *   cause that removed it; `NoReadyCandidates` is the condition and Event
 *   reason for the leaderless state, derived from `holder === undefined`.
 * - A staying holder has stray labels removed, the Lease renewed when
 *   {@link renewDueAt} has come (or at once when the Lease lacks the holder's
 *   uid, so that a recreated pod can never inherit it), and its label and
 *   epoch annotation repaired when it is a candidate. A NotReady holder in
 *   tolerance keeps a label it has but is not given one it lacks: a labelled
 *   pod is always a candidate except while it waits out the tolerance.
 */
export function decideManaged(input: ManagedInput): ManagedDecision {
  const decision = decide(input);
  // Look again the instant the holder's node heartbeat would go stale.
  const recheck = holderNodeRecheckMs(decision.holder?.uid, input.pods, input.now);
  if (recheck !== undefined) {
    decision.requeueAfterMs = Math.min(decision.requeueAfterMs ?? Infinity, recheck);
    decision.nodeRecheckAfterMs = recheck;
  }
  return decision;
}

function decide(input: ManagedInput): ManagedDecision {
  const { spec, pods, lease, now } = input;
  const counts = { candidates: pods.length, readyCandidates: pods.filter(isCandidate).length };
  const labelled = pods.filter((p) => p.leaderLabelValue === spec.leaderLabel.value);
  const ranked = rankNextHolders(pods, spec);
  const first = ranked[0];
  const state = holderState(input);

  if (state.kind === "kept") {
    const preferred =
      spec.preferredHolder !== undefined && first?.name === spec.preferredHolder
        ? first
        : undefined;
    if (preferred?.uid === state.pod.uid) return { ...keep(state, spec, labelled, now), ...counts };
    if (preferred === undefined) {
      const handover = decideHandover(spec, pods, state.pod, now);
      if (handover.kind === "handover") {
        const { to } = handover;
        return {
          ...elect(to, state.pod.name, TransitionReason.Handover, state.lease, spec, now),
          removeLabel: labelled.filter((p) => p.uid !== to.uid).map(ref),
          ...counts,
        };
      }
      const kept: ManagedDecision = { ...keep(state, spec, labelled, now), ...counts };
      if (handover.kind === "wait") {
        kept.requeueAfterMs = Math.min(kept.requeueAfterMs ?? Infinity, handover.afterMs);
        // The hand-over's wait is a look again, not a renewal: it survives lean renewals.
        kept.recheckAfterMs = Math.min(kept.recheckAfterMs ?? Infinity, handover.afterMs);
      }
      return kept;
    }
    return {
      ...elect(preferred, state.pod.name, TransitionReason.PreferredHolder, state.lease, spec, now),
      removeLabel: labelled.filter((p) => p.uid !== preferred.uid).map(ref),
      ...counts,
    };
  }

  const from = state.kind === "lost" ? state.name : "";
  const reason = state.kind === "lost" ? state.reason : TransitionReason.Elected;
  const node = state.kind === "lost" ? state.node : undefined;
  if (first !== undefined) {
    const elected = elect(first, from, reason, lease, spec, now);
    if (node !== undefined && elected.transition) elected.transition.node = node;
    return {
      ...elected,
      removeLabel: labelled.filter((p) => p.uid !== first.uid).map(ref),
      ...counts,
    };
  }

  const decision: ManagedDecision = {
    holder: undefined,
    removeLabel: labelled.map(ref),
    lease:
      lease === undefined
        ? { kind: "create", holder: undefined }
        : lease.holder === ""
          ? { kind: "none" }
          : { kind: "release", transitions: lease.transitions },
    ...counts,
  };
  if (from !== "" && lease !== undefined) {
    decision.transition = { from, to: "", reason, epoch: lease.transitions };
    if (node !== undefined) decision.transition.node = node;
  }
  return decision;
}

function holderState({ spec, pods, lease, now }: ManagedInput): HolderState {
  if (lease === undefined || lease.holder === "") return { kind: "none" };
  const name = lease.holder;
  const pod = pods.find((p) => p.name === name);
  if (pod === undefined) {
    const reason =
      lease.holderUID === undefined ? TransitionReason.HolderGone : TransitionReason.HolderDeleted;
    return { kind: "lost", name, reason };
  }
  if (lease.holderUID !== undefined && pod.uid !== lease.holderUID) {
    return { kind: "lost", name, reason: TransitionReason.HolderGone };
  }
  // Without a recorded uid, only the pod that already carries the label at
  // this Lease's epoch is the holder (a Lease written before podium recorded
  // uids). Anything else is a Lease someone else wrote, and keeping its pod
  // would hand a second leader the previous leader's epoch.
  if (
    lease.holderUID === undefined &&
    (pod.leaderLabelValue !== spec.leaderLabel.value ||
      pod.epochAnnotation !== String(lease.transitions))
  ) {
    return { kind: "lost", name, reason: TransitionReason.HolderGone };
  }
  if (pod.terminating) return { kind: "lost", name, reason: TransitionReason.HolderTerminating };
  if (pod.nodeProblem !== undefined) {
    const { node } = pod.nodeProblem;
    return { kind: "lost", name, reason: nodeProblemReason(pod.nodeProblem), node };
  }
  if (pod.probeProblem !== undefined) {
    return { kind: "lost", name, reason: TransitionReason.ProbeFailed };
  }
  if (pod.foreignLabelValue !== undefined) {
    return { kind: "lost", name, reason: TransitionReason.HolderLabelConflict };
  }
  if (isCandidate(pod)) return { kind: "kept", pod, lease };

  const lost = { kind: "lost", name, reason: TransitionReason.HolderNotReady } as const;
  if (TERMINAL_PHASES.includes(pod.phase)) return lost;
  const toleranceMs = spec.notReadyToleranceSeconds * 1000;
  // readySince is the Ready condition's last transition; it dates the NotReady
  // spell only when the condition is False. Otherwise the start is unknown.
  const since = pod.ready ? undefined : pod.readySince;
  if (toleranceMs <= 0 || since === undefined) return lost;
  // Capped at the full tolerance so a kubelet clock ahead of ours cannot stretch it.
  const left = Math.min(since + toleranceMs - now, toleranceMs);
  if (left <= 0) return lost;
  return { kind: "kept", pod, lease, toleranceLeftMs: left };
}

function keep(
  state: Extract<HolderState, { kind: "kept" }>,
  spec: ElectionGroupSpec,
  labelled: readonly PodView[],
  now: number,
): Omit<ManagedDecision, "candidates" | "readyCandidates"> {
  const { pod, lease } = state;
  const holder = ref(pod);
  const dueAt = renewDueAt(lease, spec);
  const renewNow = now >= dueAt || lease.holderUID === undefined;
  const untilRenewal = renewNow ? renewIntervalMs(spec) : dueAt - now;
  const decision: Omit<ManagedDecision, "candidates" | "readyCandidates"> = {
    holder,
    removeLabel: labelled.filter((p) => p.uid !== pod.uid).map(ref),
    lease: renewNow ? { kind: "renew", holder } : { kind: "none" },
    requeueAfterMs: Math.min(untilRenewal, state.toleranceLeftMs ?? Infinity),
    renewAt: now + untilRenewal,
  };
  if (state.toleranceLeftMs !== undefined) decision.recheckAfterMs = state.toleranceLeftMs;
  const epoch = String(lease.transitions);
  if (
    isCandidate(pod) &&
    (pod.leaderLabelValue !== spec.leaderLabel.value || pod.epochAnnotation !== epoch)
  ) {
    decision.addLabel = { ...holder, epoch: lease.transitions };
  }
  return decision;
}

/** Everything of a transition to `next` except which labels are removed. */
function elect(
  next: PodView,
  from: string,
  reason: TransitionReason,
  lease: LeaseView | undefined,
  spec: ElectionGroupSpec,
  now: number,
): Omit<ManagedDecision, "candidates" | "readyCandidates" | "removeLabel"> {
  const holder = ref(next);
  const epoch = lease === undefined ? 1 : lease.transitions + 1;
  return {
    holder,
    transition: { from, to: next.name, reason, epoch },
    lease:
      lease === undefined
        ? { kind: "create", holder }
        : { kind: "acquire", holder, transitions: epoch },
    addLabel: { ...holder, epoch },
    // The new holder's first renewal.
    requeueAfterMs: renewIntervalMs(spec),
    renewAt: now + renewIntervalMs(spec),
  };
}

function ref(pod: PodView): PodRef {
  return { name: pod.name, uid: pod.uid };
}

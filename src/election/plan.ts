import type { ElectionGroupSpec } from "../api/types.ts";
import type { Blocker } from "./gate.ts";
import { leaseRecord } from "./lease-record.ts";
import type { LeaseRecord } from "./lease-record.ts";
import { decideManaged } from "./managed.ts";
import { decideObserved } from "./observed.ts";
import { managedSummary, observedSummary, unmappedHolderMessage } from "./summary.ts";
import type { StatusSummary } from "./status.ts";
import type { LeaseView, PodRef, PodView, Transition } from "./types.ts";

/** A pod to unlabel, and whether it is a stray: a pod that never led and carried the label anyway. */
export interface LabelRemoval extends PodRef {
  /** Set for a stray: the message of the StrayLeaderLabelRemoved Event once its label is gone. */
  strayMessage?: string;
}

/**
 * Everything a reconcile does for a group that passed the gate, as a value:
 * the writes in the order DESIGN §2 requires (break: `removeLabel`; the Lease;
 * make: `addLabel`), the transition they make, and what status reports. The
 * shell carries it out step by step and never amends it.
 */
export interface Plan {
  removeLabel: LabelRemoval[];
  /** Managed: the Lease to create, or to update at the resourceVersion the decision saw. */
  lease?: { create: boolean; record: LeaseRecord };
  /** The holder, when it lacks the label or the right epoch annotation. */
  addLabel?: PodRef & { epoch: number };
  transition?: Transition;
  /** What status reports once the writes succeeded, but for the transition's duration. */
  summary: Omit<StatusSummary, "durationMs">;
  /** Look at the group again after this long even if nothing changes. */
  requeueAfterMs?: number;
  /**
   * Managed, when the plan leaves a holder: the Lease's next renewal (epoch
   * ms) and the holder it is for. A shell that renews on its own schedule
   * (controller/renewals.ts) looks again only after `recheckAfterMs`.
   */
  renewal?: { at: number; holder: PodRef };
  /** The part of `requeueAfterMs` that is neither renewal nor `nodeRecheckAfterMs`. */
  recheckAfterMs?: number;
  /**
   * The part of `requeueAfterMs` that is only the holder's node heartbeat
   * going stale; a shell that watches nodes with one timer each
   * (controller/node-rechecks.ts) leaves it out of the group's requeue.
   */
  nodeRecheckAfterMs?: number;
  /**
   * Observed: the valid Lease's holder stands for no pod of the group (none,
   * or more than one). The shell warns once per holder: an Event and a log line.
   */
  unmappedHolder?: { holder: string; message: string };
}

/** What a plan is made from. */
export interface PlanInput {
  spec: ElectionGroupSpec;
  /** The group's pods (matching its selector), any phase. */
  pods: readonly PodView[];
  /** The group's Lease, undefined when it does not exist. */
  lease: LeaseView | undefined;
  /**
   * The pod the Lease names, wherever it is: it may have left the selector and
   * still carry the label. Undefined when no pod has that name.
   */
  leaseHolderPod: PodView | undefined;
  /** The name of the group's Lease. */
  leaseName: string;
  /** status.holder: the pod podium labelled last, "" when none. */
  previousHolder: string;
  /** The gate's blockers that leave the group report-only (paused, a Lease conflict). */
  blockers: readonly Blocker[];
  /** Newer groups that select some of the same pods and are ignored. */
  outranked: readonly string[];
  now: number;
}

/** Returns the plan for a group that passed the gate, by its mode. */
export function plan(input: PlanInput): Plan {
  return input.spec.mode === "Observed" ? planObserved(input) : planManaged(input);
}

/**
 * Managed mode: {@link decideManaged}, plus the label rules that look beyond
 * the group's pods, and the Lease record to write.
 *
 * When leadership moves, the former holder (the pod the Lease names, with
 * the uid it records) loses the label first, wherever it is and even if the
 * caches do not show it labelled:
 * - a holder that left the selector is no pod of the group, so the decision
 *   cannot see its label (leaving the selector is itself a transition), and
 *   it must stop attracting the Service's traffic;
 * - podium may have labelled it a moment ago and the watch not have
 *   delivered that yet (trusting the cache let two pods carry the label at
 *   once; found by the chaos suite).
 *
 * Report-only (paused, or a Lease that is not the group's): no write, no
 * transition, and status names the Lease's holder.
 */
export function planManaged(input: PlanInput): Plan {
  const { spec, pods, lease, now } = input;
  const decision = decideManaged({ spec, pods, lease, now });
  const reportOnly = input.blockers.length > 0;
  const summary = managedSummary(input, decision, reportOnly);
  const out: Plan = { removeLabel: [], summary };
  if (decision.requeueAfterMs !== undefined) out.requeueAfterMs = decision.requeueAfterMs;
  if (reportOnly) return out;
  if (decision.renewAt !== undefined && decision.holder !== undefined) {
    out.renewal = { at: decision.renewAt, holder: decision.holder };
  }
  if (decision.recheckAfterMs !== undefined) out.recheckAfterMs = decision.recheckAfterMs;
  if (decision.nodeRecheckAfterMs !== undefined) {
    out.nodeRecheckAfterMs = decision.nodeRecheckAfterMs;
  }

  const removals: PodRef[] = [...decision.removeLabel];
  const former = input.leaseHolderPod;
  // A former holder whose key now holds someone else's value is not ours to clean.
  const heldByFormer =
    former !== undefined &&
    former.foreignLabelValue === undefined &&
    (lease?.holderUID === undefined || lease.holderUID === former.uid);
  if (
    heldByFormer &&
    decision.transition !== undefined &&
    former.uid !== decision.holder?.uid &&
    !removals.some((p) => p.uid === former.uid)
  ) {
    removals.push({ name: former.name, uid: former.uid });
  }
  const label = `${spec.leaderLabel.key}=${spec.leaderLabel.value}`;
  out.removeLabel = removals.map((pod) =>
    decision.transition === undefined && pod.name !== decision.holder?.name
      ? { ...pod, strayMessage: `removed ${label} from pod ${pod.name}, which does not lead` }
      : pod,
  );
  const record = leaseRecord(spec, lease, decision.lease, now);
  if (record !== undefined) out.lease = { create: decision.lease.kind === "create", record };
  if (decision.addLabel) out.addLabel = decision.addLabel;
  if (decision.transition) out.transition = decision.transition;
  return out;
}

/**
 * Observed mode: {@link decideObserved}; as in Managed mode, the pod podium
 * labelled last loses the label when the holder changes, whether or not the
 * caches show the label yet. The decision asks to be looked at again at the
 * Lease's expiry; the plan adds a millisecond so that the Lease has expired
 * by then. Paused: no write and no holder.
 */
export function planObserved(input: PlanInput): Plan {
  const { spec, pods, lease, now, previousHolder } = input;
  const decision = decideObserved({ spec, pods, lease, previousHolder, now });
  const paused = input.blockers.length > 0;
  const out: Plan = { removeLabel: [], summary: observedSummary(input, decision, paused) };
  if (decision.requeueAfterMs !== undefined) out.requeueAfterMs = decision.requeueAfterMs + 1;
  if (paused) return out;
  if (decision.holderMapping?.kind === "none") {
    const message = unmappedHolderMessage(input.leaseName, decision);
    out.unmappedHolder = { holder: decision.holderMapping.holder, message };
  }

  const removals: PodRef[] = [...decision.removeLabel];
  const previous = pods.find((p) => p.name === previousHolder);
  if (
    previous !== undefined &&
    decision.transition !== undefined &&
    previous.uid !== decision.holder?.uid &&
    !removals.some((p) => p.uid === previous.uid)
  ) {
    removals.push({ name: previous.name, uid: previous.uid });
  }
  const label = `${spec.leaderLabel.key}=${spec.leaderLabel.value}`;
  out.removeLabel = removals.map((pod) =>
    pod.name !== previousHolder
      ? {
          ...pod,
          strayMessage: `removed ${label} from pod ${pod.name}, which does not hold Lease ${input.leaseName}`,
        }
      : pod,
  );
  if (decision.addLabel) out.addLabel = decision.addLabel;
  if (decision.transition) out.transition = decision.transition;
  return out;
}

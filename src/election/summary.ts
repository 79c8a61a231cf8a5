import { EventReason } from "../api/constants.ts";
import { blockerMessage } from "./gate.ts";
import { describeMapping } from "./identity.ts";
import type { PlanInput } from "./plan.ts";
import type { ConditionState, StatusSummary } from "./status.ts";
import type { ManagedDecision, ObservedDecision } from "./types.ts";

/** A status summary before the writes: the transition's duration is added once it is known. */
export type PlannedSummary = Omit<StatusSummary, "durationMs">;

const PAUSED: ConditionState = {
  status: "False",
  reason: "Paused",
  message: "spec.paused is true: podium reports but changes nothing",
};

/**
 * Returns what a Managed group's status reports after `decision` is carried
 * out. Report-only (paused, or a Lease that is not the group's), the holder is
 * the Lease's, as long as that pod still exists in the group, and the epoch
 * the Lease's transitions; Ready is False with the blocker's reason.
 */
export function managedSummary(
  input: PlanInput,
  decision: ManagedDecision,
  reportOnly: boolean,
): PlannedSummary {
  const { spec, lease, pods, blockers } = input;
  const leasePod = pods.find(
    (p) =>
      p.name === (lease?.holder ?? "") &&
      (lease?.holderUID === undefined || p.uid === lease.holderUID),
  );
  const holder = reportOnly
    ? leasePod && { name: leasePod.name, uid: leasePod.uid }
    : decision.holder;
  const transition = reportOnly ? undefined : decision.transition;
  const created = decision.lease.kind === "create" ? (decision.holder ? 1 : 0) : undefined;
  const epoch = reportOnly
    ? (lease?.transitions ?? 0)
    : (transition?.epoch ?? created ?? lease?.transitions ?? 0);
  const leaderElected: ConditionState =
    holder !== undefined
      ? {
          status: "True",
          reason: EventReason.LeaderElected,
          message: `pod ${holder.name} leads in epoch ${String(epoch)}`,
        }
      : {
          status: "False",
          reason: EventReason.NoReadyCandidates,
          message: `none of the ${String(decision.candidates)} pods matching the selector is ready`,
        };
  const leaseConflict = blockers.find((b) => b.kind === "leaseConflict");
  const ready: ConditionState = spec.paused
    ? PAUSED
    : leaseConflict !== undefined
      ? {
          status: "False",
          reason: EventReason.LeaseConflict,
          message: blockerMessage(leaseConflict),
        }
      : holder !== undefined
        ? {
            status: "True",
            reason: EventReason.LeaderElected,
            message: `pod ${holder.name} holds the Lease and alone carries ${spec.leaderLabel.key}=${spec.leaderLabel.value}`,
          }
        : leaderElected;
  return {
    holder,
    leaseName: input.leaseName,
    epoch,
    candidates: decision.candidates,
    readyCandidates: decision.readyCandidates,
    transition,
    leaderElected,
    ready,
    labelConflict: labelConflict(input),
    outranked: input.outranked.join(", "),
  };
}

/**
 * Returns what an Observed group's status reports after `decision` is carried
 * out: the valid holder of the pods' own Lease, or why no pod is labelled.
 * Paused, no pod is reported as holder.
 */
export function observedSummary(
  input: PlanInput,
  decision: ObservedDecision,
  paused: boolean,
): PlannedSummary {
  const { spec, lease, leaseName } = input;
  const why: Record<NonNullable<ObservedDecision["idleReason"]>, string> = {
    NoLease: `Lease ${leaseName} does not exist yet`,
    Released: `Lease ${leaseName} was released`,
    Expired: `Lease ${leaseName} expired: its holder stopped renewing`,
    HolderNotInGroup: unmappedHolderMessage(leaseName, decision),
    HolderLabelConflict: `Lease ${leaseName} is held by ${lease?.holder ?? ""}, whose ${spec.leaderLabel.key} label holds another value; podium does not overwrite it`,
  };
  const holder = paused ? undefined : decision.holder;
  const mapping = decision.holderMapping;
  // "as x_0b4e... (<hostname>_<uuid> with its hostname)" when the holder is not the pod's name.
  const as =
    mapping?.kind === "pod" && mapping.rule !== "podName"
      ? ` as ${mapping.holder} (${mapping.how})`
      : "";
  const leaderElected: ConditionState = holder
    ? {
        status: "True",
        reason: EventReason.LeaderElected,
        message: `pod ${holder.name} holds Lease ${leaseName}${as} in epoch ${String(lease?.transitions ?? 0)}`,
      }
    : {
        status: "False",
        reason: decision.idleReason ?? "NoLeader",
        message: decision.idleReason ? why[decision.idleReason] : "no leader",
      };
  const ready: ConditionState = paused
    ? PAUSED
    : holder
      ? {
          status: "True",
          reason: EventReason.LeaderElected,
          message: `pod ${holder.name} holds Lease ${leaseName}${as} and alone carries ${spec.leaderLabel.key}=${spec.leaderLabel.value}`,
        }
      : leaderElected;
  return {
    holder,
    leaseName,
    epoch: lease?.transitions ?? 0,
    candidates: decision.candidates,
    readyCandidates: decision.readyCandidates,
    transition: paused ? undefined : decision.transition,
    leaderElected,
    ready,
    labelConflict: labelConflict(input),
    outranked: input.outranked.join(", "),
  };
}

/**
 * The LabelConflict condition: True while pods of the group carry the leader
 * label's key with another value (someone else's label, which podium never
 * overwrites, so those pods cannot lead), naming them.
 */
export function labelConflict({ pods, spec }: Pick<PlanInput, "pods" | "spec">): ConditionState {
  const { key } = spec.leaderLabel;
  const foreign = pods.filter((p) => p.foreignLabelValue !== undefined);
  if (foreign.length === 0) {
    return {
      status: "False",
      reason: "NoLabelConflict",
      message: `no pod of the group carries ${key} with a value podium did not set`,
    };
  }
  const shown = foreign.slice(0, 5).map((p) => `${p.name} (${key}=${p.foreignLabelValue ?? ""})`);
  const more = foreign.length > 5 ? ` and ${String(foreign.length - 5)} more` : "";
  return {
    status: "True",
    reason: EventReason.LabelConflict,
    message: `pods ${shown.join(", ")}${more} carry the leader label key with another value, which podium never overwrites, so they cannot lead; choose a spec.leaderLabel.key that no controller or selector uses`,
  };
}

/**
 * The message of an Observed group whose valid Lease holder stands for no
 * pod: what was tried, so that the user sees the fix (the Ready and
 * LeaderElected conditions, the HolderNotInGroup Event and the log line
 * all say it).
 */
export function unmappedHolderMessage(leaseName: string, decision: ObservedDecision): string {
  const mapping = decision.holderMapping;
  if (mapping === undefined || mapping.kind === "pod") {
    return `Lease ${leaseName} is held by no pod of this group`;
  }
  return `Lease ${leaseName} names no pod of this group: ${describeMapping(mapping)}`;
}

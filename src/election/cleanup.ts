import type { Gate } from "./gate.ts";
import type { PodRef, PodView } from "./types.ts";

/**
 * Returns the pods whose leader label a deleted group removes before its
 * finalizer goes: the pods podium labelled (the leader value and podium's
 * epoch annotation beside it; a value someone else set is theirs), unless
 * the gate refused the group (an invalid spec names no label podium may
 * trust; where an older group claims the same pods and key, the labels are
 * that group's, not this one's).
 */
export function labelsToRemoveOnDelete(verdict: Gate, pods: readonly PodView[]): PodRef[] {
  const { spec } = verdict;
  if (verdict.verdict === "refuse" || spec === undefined) return [];
  return pods
    .filter((p) => p.leaderLabelValue === spec.leaderLabel.value && p.epochAnnotation !== undefined)
    .map((p) => ({ name: p.name, uid: p.uid }));
}

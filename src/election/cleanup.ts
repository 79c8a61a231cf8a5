import type { Gate } from "./gate.ts";
import type { PodRef, PodView } from "./types.ts";

/**
 * Returns the pods whose leader label a deleted group removes before its
 * finalizer goes: every pod of the group carrying the leader value, unless
 * the gate refused the group (an invalid spec names no label podium may
 * trust; where an older group claims the same pods and key, the labels are
 * that group's, not this one's).
 */
export function labelsToRemoveOnDelete(verdict: Gate, pods: readonly PodView[]): PodRef[] {
  const { spec } = verdict;
  if (verdict.verdict === "refuse" || spec === undefined) return [];
  return pods
    .filter((p) => p.leaderLabelValue === spec.leaderLabel.value)
    .map((p) => ({ name: p.name, uid: p.uid }));
}

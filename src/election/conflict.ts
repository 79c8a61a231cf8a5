import type { ElectionGroup, ElectionGroupSpec, LabelSelector } from "../api/types.ts";
import { matchesSelector } from "./selector.ts";

/** The little of an ElectionGroup that conflict detection needs. */
export interface GroupIdentity {
  namespace: string;
  name: string;
  uid: string;
  /** metadata.creationTimestamp, epoch ms. */
  createdAt: number;
  selector: LabelSelector;
  leaderLabelKey: string;
}

/** Returns what conflict detection needs of `group`, whose validated spec is `spec`. */
export function identityOf(group: ElectionGroup, spec: ElectionGroupSpec): GroupIdentity {
  return {
    namespace: group.metadata.namespace,
    name: group.metadata.name,
    uid: group.metadata.uid,
    createdAt: Date.parse(group.metadata.creationTimestamp) || 0,
    selector: spec.selector,
    leaderLabelKey: spec.leaderLabel.key,
  };
}

/** A pod's name and labels. */
export interface LabelledPod {
  name: string;
  labels: Readonly<Record<string, string>> | undefined;
}

/**
 * Returns the groups among `others` that claim a pod `group` claims: same
 * namespace, same leader label key, and a selector matching at least one of
 * `pods` that `group`'s selector also matches. `pods` may be the group's own
 * pods or every pod of the namespace; both give the same answer.
 *
 * Groups with different label keys can share pods: each writes its own label.
 */
export function conflictingGroups(
  group: GroupIdentity,
  others: readonly GroupIdentity[],
  pods: readonly LabelledPod[],
): GroupIdentity[] {
  const mine = pods.filter((p) => matchesSelector(p.labels, group.selector));
  return others.filter(
    (other) =>
      other.uid !== group.uid &&
      other.namespace === group.namespace &&
      other.leaderLabelKey === group.leaderLabelKey &&
      mine.some((p) => matchesSelector(p.labels, other.selector)),
  );
}

/**
 * Orders groups oldest first: creation time, then name (unique within a
 * namespace, and conflicts are per namespace), so every operator replica
 * picks the same winner.
 */
export function compareGroupAge(a: GroupIdentity, b: GroupIdentity): number {
  return a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Reports whether `group` keeps working despite `conflicting` (as returned by
 * {@link conflictingGroups}): only when it is older than each of them. A group
 * that does not own the conflict touches nothing and reports Conflict=True.
 * The older group wins so that creating a group can never take pods away from
 * one already serving traffic.
 */
export function ownsConflict(group: GroupIdentity, conflicting: readonly GroupIdentity[]): boolean {
  return conflicting.every((other) => compareGroupAge(group, other) < 0);
}

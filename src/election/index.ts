/** The pure election core: decisions as values, no I/O. */
export { isCandidate, parsePriority } from "./candidates.ts";
export { compareGroupAge, conflictingGroups, ownsConflict } from "./conflict.ts";
export type { GroupIdentity, LabelledPod } from "./conflict.ts";
export { isLeaseHeldAndValid, leaseExpiresAt, renewDueAt, renewIntervalMs } from "./lease.ts";
export { decideManaged } from "./managed.ts";
export { decideObserved } from "./observed.ts";
export { decidingRule, newestRevision, nextHolderComparator, rankNextHolders } from "./order.ts";
export type { RankContext, RankRuleName } from "./order.ts";
export {
  isEmptySelector,
  isWellFormedSelector,
  matchesSelector,
  selectorToString,
} from "./selector.ts";
export type {
  LeaseView,
  LeaseWrite,
  ManagedDecision,
  ManagedInput,
  ObservedDecision,
  ObservedInput,
  PodRef,
  PodView,
} from "./types.ts";

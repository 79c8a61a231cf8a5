/** The pure election core: decisions as values, no I/O. */
export { isCandidate, parsePriority } from "./candidates.ts";
export { labelsToRemoveOnDelete } from "./cleanup.ts";
export { compareGroupAge, conflictingGroups, identityOf, ownsConflict } from "./conflict.ts";
export type { GroupIdentity, LabelledPod } from "./conflict.ts";
export { blockerMessage, gate } from "./gate.ts";
export type { Blocker, Gate, GateInput } from "./gate.ts";
export { describeMapping, kubeletHostname, mapHolder } from "./identity.ts";
export type { HolderMapping, IdentityRule } from "./identity.ts";
export { isLeaseHeldAndValid, leaseExpiresAt, renewDueAt, renewIntervalMs } from "./lease.ts";
export { leaseRecord } from "./lease-record.ts";
export type { LeaseRecord } from "./lease-record.ts";
export { decideManaged } from "./managed.ts";
export { decideHandover, rolloutRevision } from "./handover.ts";
export type { HandoverVerdict } from "./handover.ts";
export { decideObserved } from "./observed.ts";
export {
  assessDisruption,
  DISRUPTION_FRACTION,
  DISRUPTION_RECHECK_MS,
  heartbeatStale,
  holderNodeRecheckMs,
  judgeNode,
  judgePodNodes,
  missedRenewal,
  nodeHeartbeatGraceMs,
  nodeProblemReason,
  nodeProblemText,
  withNodeJudgement,
} from "./nodes.ts";
export { disruptionChange, fillNodeDisruption } from "./node-status.ts";
export type { DisruptionChange } from "./node-status.ts";
export type {
  NodeDisruption,
  NodeJudgementInput,
  NodeProblem,
  NodeView,
  PodNodeJudgement,
} from "./nodes.ts";
export {
  fillFailedProbes,
  fillProbeCondition,
  judgePodProbes,
  judgeProbe,
  planProbe,
  probeCondition,
  probeProblemText,
  probeRecordsFromStatus,
  resolvePort,
} from "./probe.ts";
export type {
  PodNetwork,
  ProbeAction,
  ProbeCondition,
  ProbePlan,
  ProbeProblem,
  ProbeRecord,
} from "./probe.ts";
export { decidingRule, newestRevision, nextHolderComparator, rankNextHolders } from "./order.ts";
export type { RankContext, RankRuleName } from "./order.ts";
export { plan, planManaged, planObserved } from "./plan.ts";
export { nextRenewal } from "./renewal.ts";
export type { RenewalInput, RenewalStep, RenewalTicket } from "./renewal.ts";
export type { LabelRemoval, Plan, PlanInput } from "./plan.ts";
export {
  isEmptySelector,
  isWellFormedSelector,
  matchesSelector,
  selectorToString,
} from "./selector.ts";
export {
  fillRefusal,
  fillStatus,
  getCondition,
  HISTORY_LIMIT,
  pushHistory,
  sameStatus,
  setCondition,
} from "./status.ts";
export type { ConditionState, StatusSummary } from "./status.ts";
export type {
  LeaseView,
  LeaseWrite,
  ManagedDecision,
  ManagedInput,
  ObservedDecision,
  ObservedInput,
  PodRef,
  PodView,
  Transition,
} from "./types.ts";
export {
  allListExactly,
  anyListsReady,
  fillTraffic,
  leaderServices,
  readyEndpoints,
  routesToLeader,
  TRAFFIC_NOT_WATCHED,
  TrafficReason,
  trafficRouted,
} from "./traffic.ts";
export type { EndpointView, LabelledPodView, ServiceView, TrafficState } from "./traffic.ts";
export {
  decideRoute,
  fillServiceRouted,
  readyPodsOf,
  resolvePorts,
  servicePortsOf,
  sliceNameOf,
} from "./service-route.ts";
export type {
  DesiredSlice,
  RouteCondition,
  RouteInput,
  RoutePlan,
  RoutePod,
  OwnedServiceView,
  OwnedSliceView,
  RouteServicePort,
  SliceEndpoint,
  SlicePort,
} from "./service-route.ts";

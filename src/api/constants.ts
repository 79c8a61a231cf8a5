/** The API group, version and names of the ElectionGroup custom resource. */
export const GROUP = "podium.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "ElectionGroup";
export const PLURAL = "electiongroups";
export const SINGULAR = "electiongroup";
export const SHORT_NAMES = ["eg"] as const;
export const CATEGORIES = ["podium"] as const;

/** Finalizer that lets podium remove its leader labels before a group goes away. */
export const FINALIZER = `${GROUP}/cleanup`;
/** Annotation on the leader pod: the epoch (Lease transitions) it leads in, a fencing token. */
export const EPOCH_ANNOTATION = `${GROUP}/epoch`;
/** Annotation on a pod: its integer priority as a next holder (higher first, default 0). */
export const PRIORITY_ANNOTATION = `${GROUP}/priority`;
/** Annotation on a Managed group's Lease: the uid of the pod named by holderIdentity. */
export const HOLDER_UID_ANNOTATION = `${GROUP}/holder-uid`;

/** Pod labels whose value names the pod's revision (Deployment, then StatefulSet/DaemonSet). */
export const REVISION_LABELS = ["pod-template-hash", "controller-revision-hash"] as const;

/** Condition types of an ElectionGroup's status. */
export const ConditionType = {
  Ready: "Ready",
  LeaderElected: "LeaderElected",
  Conflict: "Conflict",
  LabelConflict: "LabelConflict",
  /** True while podium distrusts node heartbeats (most look stale at once, or its watches stall). */
  NodeDisruption: "NodeDisruption",
  /** Whether every Service that routes to the leader lists exactly the holder as ready. */
  TrafficRouted: "TrafficRouted",
  /** EndpointSlice mode: True when podium's EndpointSlice lists exactly the holder, ready. */
  ServiceRouted: "ServiceRouted",
  /** Present while the group has a probe: True while podium probes the holder, False when it cannot. */
  ProbeConfigured: "ProbeConfigured",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Why leadership moved; recorded in status.history and the transitions metric. */
export const TransitionReason = {
  /** The group had no holder and one was chosen. */
  Elected: "Elected",
  HolderDeleted: "HolderDeleted",
  HolderTerminating: "HolderTerminating",
  HolderNotReady: "HolderNotReady",
  /** The holder recorded in the Lease is no pod of the group (or a recreated pod of the same name). */
  HolderGone: "HolderGone",
  /** The holder's node is gone, Ready False/Unknown, or tainted out-of-service. */
  NodeLost: "NodeLost",
  /** The holder's node has not renewed its heartbeat Lease for nodeHeartbeatGraceSeconds. */
  NodeHeartbeatStale: "NodeHeartbeatStale",
  /** The holder failed spec.failureDetection.probe failureThreshold times in a row. */
  ProbeFailed: "ProbeFailed",
  /** spec.handover OnRollout: a pod of the newest revision took over from a holder of an older one. */
  Handover: "Handover",
  /** spec.preferredHolder named another ready candidate. */
  PreferredHolder: "PreferredHolder",
  /** Someone set the holder's leader label key to another value: podium does not fight over it. */
  HolderLabelConflict: "HolderLabelConflict",
  /** No candidate is left: the group has become leaderless. */
  NoReadyCandidates: "NoReadyCandidates",
  /** Observed mode: the Lease holder changed. */
  LeaseHolderChanged: "LeaseHolderChanged",
  /** Observed mode: the Lease expired or was released. */
  LeaseExpired: "LeaseExpired",
} as const;
export type TransitionReason = (typeof TransitionReason)[keyof typeof TransitionReason];

/** Event reasons, constant so that alerts and `kubectl get events` filters can rely on them. */
export const EventReason = {
  LeaderElected: "LeaderElected",
  LeaderLost: "LeaderLost",
  NoReadyCandidates: "NoReadyCandidates",
  InvalidSpec: "InvalidSpec",
  Conflict: "Conflict",
  StrayLeaderLabelRemoved: "StrayLeaderLabelRemoved",
  /** The group's Lease was not created by it (another app's lock, another object's): untouched. */
  LeaseConflict: "LeaseConflict",
  /** Pods of the group carry the leader label's key with another value: they cannot lead. */
  LabelConflict: "LabelConflict",
  /** Observed: the Lease's valid holder stands for no pod of the group (or for several). */
  HolderNotInGroup: "HolderNotInGroup",
  /** Most node heartbeats look stale at once, or podium's watches stall: no demotion on heartbeats. */
  NodeDisruption: "NodeDisruption",
  /** Node heartbeats are trusted again. */
  NodeDisruptionEnded: "NodeDisruptionEnded",
  /** Verified cutover: the old leader was still listed by a Service at the timeout; the new one was labelled anyway. */
  CutoverUnverified: "CutoverUnverified",
  /** EndpointSlice mode: podium's EndpointSlice now lists another pod (one write). */
  ServiceRouted: "ServiceRouted",
  /** EndpointSlice mode: the Service or EndpointSlice exists and is not podium's: untouched. */
  ServiceConflict: "ServiceConflict",
  /** EndpointSlice mode: a port of spec.service names no container port of the holder. */
  ServicePortNotFound: "ServicePortNotFound",
  /** The holder failed its probe failureThreshold times in a row: it stops being a candidate. */
  ProbeFailed: "ProbeFailed",
  /** The probe cannot be carried out on the holder (a port name it lacks, no pod IP). */
  ProbeUnusable: "ProbeUnusable",
  /** spec.handover OnRollout: leadership moved to a pod of the newest revision before the old leader went. */
  LeadershipHandedOver: "LeadershipHandedOver",
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];

/** The name podium writes as field manager and reports as the Events' controller. */
export const CONTROLLER_NAME = "electiongroup";
export const FIELD_MANAGER = "podium";

/** The namespace of the kubelets' heartbeat Leases, one per node, named after it. */
export const NODE_LEASE_NAMESPACE = "kube-node-lease";
/** The taint that says a node is shut down for good and its pods may be moved (KEP-2268). */
export const OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service";

/** EndpointSlice mode: the managed-by value of podium's EndpointSlices (and the label podium lists them by). */
export const ENDPOINTSLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const ENDPOINTSLICE_MANAGER = GROUP;
/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
/** The label on every object podium creates (Leases, EndpointSlice mode's Services); its value. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "podium";

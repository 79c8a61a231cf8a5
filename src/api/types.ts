/** TypeScript view of the ElectionGroup resource; src/api/schema.ts is the source of truth. */

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type ElectionMode = "Managed" | "Observed";

export interface LeaseSettings {
  /** Name of the Lease in the group's namespace; the group's name when unset. */
  name?: string;
  durationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

export interface LeaderLabel {
  key: string;
  value: string;
}

/** Observed mode: the format of the pods' holderIdentity (see src/election/identity.ts). */
export interface IdentityFormat {
  /** Text with exactly one {podName} or {hostname}, and any {uuid} and {any}. */
  template: string;
}

/** How podium finds a dead machine beyond the pods' own readiness. */
export interface FailureDetection {
  /** A pod whose node's heartbeat Lease was not renewed for this long stops being a candidate. */
  nodeHeartbeatGraceSeconds: number;
  /** Opt-in: podium probes the holder's pod IP; absent means no probing. */
  probe?: LeaderProbe;
}

/** A port by number or by the name of one of the pod's container ports (IANA_SVC_NAME). */
export type ProbePort = number | string;

/** The leader probe, in the shape of a Kubernetes probe: exactly one of tcpSocket and httpGet. */
export interface LeaderProbe {
  /** Success: a TCP connection to the port is accepted. */
  tcpSocket?: { port: ProbePort };
  /** Success: a GET answers with a status from 200 to 399 (HTTPS: certificate not verified). */
  httpGet?: { port: ProbePort; path: string; scheme: "HTTP" | "HTTPS" };
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

/** How the leader label moves when leadership moves (see docs/semantics.md, "Traffic"). */
export interface CutoverSettings {
  /**
   * Immediate: the new leader is labelled as soon as the Lease is written.
   * Verified: first wait (bounded) until no Service that routes to the
   * leader lists the old leader as ready.
   */
  mode: CutoverMode;
  /** Verified: how long to wait before labelling the new leader anyway (and saying so). */
  timeoutSeconds: number;
}

export type CutoverMode = "Immediate" | "Verified";

/** EndpointSlice mode: one port of the Service podium owns, and the holder's port it reaches. */
export interface ServicePortSpec {
  /** The Service port's name; the EndpointSlice port of the same name carries the holder's port. */
  name: string;
  /** The port the Service exposes. */
  port: number;
  /** The holder pod's container port: its name (looked up in the pod spec) or its number. */
  targetPort: number | string;
  protocol: "TCP" | "UDP" | "SCTP";
}

/** EndpointSlice mode: the selectorless Service whose one EndpointSlice podium keeps on the holder. */
export interface ServiceRouteSpec {
  name: string;
  ports: ServicePortSpec[];
}
/** Whether leadership moves to a new revision's pod during a rollout (see docs/semantics.md, "Hand-over"). */
export interface HandoverSettings {
  /**
   * OnRollout: when the holder's revision is not the newest and a pod of the
   * newest revision has been ready for settleSeconds, move leadership to it
   * before the old pod is terminated. Disabled: leadership moves only when
   * the holder goes.
   */
  mode: HandoverMode;
  /** How long a new-revision pod must have been ready (as podium saw it) before it is handed leadership. */
  settleSeconds: number;
}

export type HandoverMode = "Disabled" | "OnRollout";

/** The spec after schema defaults are applied. */
export interface ElectionGroupSpec {
  selector: LabelSelector;
  mode: ElectionMode;
  lease: LeaseSettings;
  leaderLabel: LeaderLabel;
  preferredHolder?: string;
  notReadyToleranceSeconds: number;
  paused: boolean;
  /** Observed mode only: how holderIdentity names a pod, beyond the formats podium knows. */
  identity?: IdentityFormat;
  /** Absent in specs written before the field existed; read through nodeHeartbeatGraceMs. */
  failureDetection?: FailureDetection;
  /** Absent in specs written before the field existed: Immediate, 5 s (see cutoverOf). */
  cutover?: CutoverSettings;
  /** EndpointSlice mode (opt-in): a Service whose only endpoint is the holder, moved in one write. */
  service?: ServiceRouteSpec;
  /** Absent in specs written before the field existed: see handoverOf. */
  handover?: HandoverSettings;
}

/** metav1.Condition */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface TransitionRecord {
  /** Previous holder, "" when the group was leaderless. */
  from: string;
  /** New holder, "" when the group became leaderless. */
  to: string;
  epoch: number;
  reason: string;
  time: string;
  /** From detection of the cause to the new leader labelled (or the label removed). */
  durationMs: number;
  /** The node of the previous holder, when the node's failure caused the transition. */
  node?: string;
  /** When each step of the cutover happened, in milliseconds from the detection of its cause. */
  phases?: TransitionPhases;
  /** Verified cutover: whether the old leader left the Services before the new one was labelled. */
  cutover?: "Verified" | "TimedOut";
}

/** The steps of a cutover, each in milliseconds from the detection of its cause. */
export interface TransitionPhases {
  labelRemovedMs?: number;
  leaseWrittenMs?: number;
  labelWrittenMs?: number;
  /** No Service that routes to the leader lists the old leader as ready any more. */
  oldEndpointGoneMs?: number;
  /** Every Service that routes to the leader lists the new leader as ready. */
  newEndpointReadyMs?: number;
}

export interface ElectionGroupStatus {
  observedGeneration?: number;
  holder?: string;
  holderUID?: string;
  leaseName?: string;
  epoch?: number;
  transitions?: number;
  lastTransitionTime?: string;
  candidates?: number;
  readyCandidates?: number;
  /** "3/3": ready candidates over candidates, for the READY printer column. */
  ready?: string;
  conditions?: Condition[];
  history?: TransitionRecord[];
  /** Pods of the group failing the leader probe (failureThreshold reached), so not candidates. */
  failedProbes?: FailedProbe[];
}

/** A pod that failed the group's leader probe failureThreshold times in a row and has not passed since. */
export interface FailedProbe {
  pod: string;
  uid: string;
  /** When the first failure of the run came (RFC 3339). */
  since: string;
  /** What the last failed attempt said. */
  error: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  resourceVersion: string;
  creationTimestamp: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ElectionGroup {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ElectionGroupSpec;
  status?: ElectionGroupStatus;
}

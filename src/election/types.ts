import type { TransitionReason } from "../api/constants.ts";
import type { ElectionGroupSpec } from "../api/types.ts";
import type { HolderMapping } from "./identity.ts";
import type { NodeProblem } from "./nodes.ts";
import type { ProbeProblem } from "./probe.ts";

/**
 * What the election core needs to know about one pod of a group: the few
 * fields the controller's cache keeps, with times as epoch milliseconds.
 */
export interface PodView {
  name: string;
  uid: string;
  /** metadata.creationTimestamp */
  createdAt: number;
  /**
   * The local time podium first saw the pod, when known: breaks ties between
   * pods created within the same second (creationTimestamp has whole seconds).
   */
  firstSeenAt?: number;
  /** metadata.deletionTimestamp is set: the pod is terminating. */
  terminating: boolean;
  /** status.phase */
  phase: string;
  /** The Ready condition is True. */
  ready: boolean;
  /** lastTransitionTime of the Ready condition, when the pod has one. */
  readySince?: number;
  /**
   * For a Ready pod, the local time podium saw it turn Ready (the Ready
   * condition's time when it was Ready at first sight): the hand-over's
   * settle time counts from here, free of the condition's one-second
   * truncation and the kubelet's clock.
   */
  readySeenAt?: number;
  /** The value of the pod's leader-label key, when it has that label. */
  leaderLabelValue?: string;
  /**
   * Set when the pod carries the leader label's key with a value other than
   * the leader value: someone else's label (a Deployment's selector, say).
   * podium never overwrites it, so the pod cannot lead.
   */
  foreignLabelValue?: string;
  /** The pod's podium.dev/epoch annotation, as written. */
  epochAnnotation?: string;
  /** The pod's podium.dev/priority annotation, as written (may be malformed). */
  priorityAnnotation?: string;
  /** The value of the first of REVISION_LABELS the pod carries. */
  revision?: string;
  /** spec.hostname, when set: the kubelet names the pod's host after it (Observed identities). */
  hostname?: string;
  /** spec.hostNetwork is true: the pod's hostname is its node's (Observed identities). */
  hostNetwork?: true;
  /** spec.nodeName: the node the pod is bound to (a hostNetwork pod's hostname is its name). */
  nodeName?: string;
  /** Set when the pod's node disqualifies it (election/nodes.ts judges it). */
  nodeProblem?: NodeProblem;
  /** When the node must be judged again even if nothing changes (its heartbeat goes stale then). */
  nodeRecheckAt?: number;
  /** Set when the group's leader probe failed this pod failureThreshold times in a row (probe.ts). */
  probeProblem?: ProbeProblem;
}

/** What the election core needs to know about a group's Lease. */
export interface LeaseView {
  /** spec.holderIdentity; "" when released or never held. */
  holder: string;
  /** The Lease's podium.dev/holder-uid annotation, when present. */
  holderUID?: string;
  /** spec.leaseTransitions (the epoch); 0 when absent. */
  transitions: number;
  /** spec.leaseDurationSeconds as written, when present. */
  durationSeconds?: number;
  /** spec.renewTime, epoch ms, when present and parseable. */
  renewTime?: number;
  /** spec.acquireTime, epoch ms, when present and parseable. */
  acquireTime?: number;
  /**
   * Local time at which the controller last saw the Lease's record change
   * (client-go's observedTime): expiry is judged from this, never from the
   * writer's renewTime.
   */
  observedAt: number;
}

export interface ManagedInput {
  spec: ElectionGroupSpec;
  /** Pods of the group's namespace matching the selector (any phase). */
  pods: readonly PodView[];
  /** The group's Lease, undefined when it does not exist yet. */
  lease: LeaseView | undefined;
  /** Now, epoch ms, from the injected clock. */
  now: number;
}

/** A change of leadership: from and to are pod names, "" for leaderless. */
export interface Transition {
  from: string;
  to: string;
  reason: TransitionReason;
  /** The epoch after the transition. */
  epoch: number;
  /** The previous holder's node, when that node's failure caused the transition. */
  node?: string;
}

/** A pod named together with the uid that every write to it is tied to. */
export interface PodRef {
  name: string;
  uid: string;
}

/**
 * The Lease write a decision calls for: create it, take it for a new holder
 * (transitions + 1), renew it for the same holder, release it (holder ""), or
 * leave it alone.
 */
export type LeaseWrite =
  | { kind: "none" }
  | { kind: "create"; holder: PodRef | undefined }
  | { kind: "acquire"; holder: PodRef; transitions: number }
  | { kind: "renew"; holder: PodRef }
  | { kind: "release"; transitions: number };

/**
 * The next step for a Managed group, as a value. The controller carries it out
 * in this order, each step only after the previous one succeeded:
 * removeLabel (break), lease (the optimistic-concurrency point), addLabel (make).
 */
export interface ManagedDecision {
  /** The holder once the step is carried out; undefined when leaderless. */
  holder: PodRef | undefined;
  /** Set when leadership changes (including to or from leaderless). */
  transition?: Transition;
  /** Pods whose leader label must be removed (old holder and strays). */
  removeLabel: PodRef[];
  lease: LeaseWrite;
  /** The holder, when it lacks the label or the right epoch annotation. */
  addLabel?: PodRef & { epoch: number };
  /** Counts for status. */
  candidates: number;
  readyCandidates: number;
  /** When the group must be looked at again even if nothing changes (renewal, tolerance). */
  requeueAfterMs?: number;
  /** The part of `requeueAfterMs` that is neither renewal nor node heartbeat: tolerance, hand-over. */
  recheckAfterMs?: number;
  /** When the holder's Lease is next due for renewal, epoch ms; unset when leaderless. */
  renewAt?: number;
  /** The part of `requeueAfterMs` that is the holder's node heartbeat going stale. */
  nodeRecheckAfterMs?: number;
}

export interface ObservedInput {
  spec: ElectionGroupSpec;
  /** Pods of the group (matching the selector). */
  pods: readonly PodView[];
  /** The Lease the pods elect on, undefined when it does not exist. */
  lease: LeaseView | undefined;
  /** The holder the group's status reports, "" when none: a change is a transition. */
  previousHolder: string;
  now: number;
}

/** The next step for an Observed group: labels only, the Lease is the pods' own. */
export interface ObservedDecision {
  /** The pod that must carry the label, undefined when none may. */
  holder: PodRef | undefined;
  /** Set when the labelled holder changes (to or from none). */
  transition?: Transition;
  removeLabel: PodRef[];
  addLabel?: PodRef & { epoch: number };
  candidates: number;
  readyCandidates: number;
  /** The instant the Lease expires unless renewed, as a delay: look again then. */
  requeueAfterMs?: number;
  /** Why no pod is labelled, when none is. */
  idleReason?: "NoLease" | "Released" | "Expired" | "HolderNotInGroup" | "HolderLabelConflict";
  /** The pod a valid Lease's holder stands for, or what was tried; unset without a valid holder. */
  holderMapping?: HolderMapping;
}

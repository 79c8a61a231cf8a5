/**
 * The plugin's report of one group, as data: the pods and why each may or
 * may not lead, the Lease, the blockers, and what podium would do now.
 * `explain.ts` builds it; `describe.ts`, `status.ts`, `why.ts` and
 * `switchover.ts` render it.
 */
import type {
  Condition,
  ElectionGroup,
  ElectionGroupSpec,
  LabelSelector,
  LeaderLabel,
  TransitionRecord,
} from "../api/types.ts";
import type { FieldError } from "../api/validate.ts";
import type { Blocker, NodeProblem, ProbeProblem } from "../election/index.ts";

/** Why a pod is or is not a candidate (DESIGN §2: not terminating, Running, Ready). */
export type Eligibility =
  | { kind: "eligible" }
  | { kind: "terminating" }
  | { kind: "notRunning"; phase: string }
  | { kind: "notReady"; since?: number }
  /** Its leader label key holds another value (someone else's), which podium never overwrites. */
  | { kind: "labelConflict"; key: string; value: string }
  /** Its node is gone, Ready False/Unknown, out-of-service, or its heartbeat is stale. */
  | { kind: "nodeProblem"; problem: NodeProblem }
  /** It failed the group's leader probe failureThreshold times in a row (status.failedProbes). */
  | { kind: "probeFailed"; problem: ProbeProblem }
  /** Not a candidate for a reason this plugin does not know how to name. */
  | { kind: "notCandidate" };

/**
 * The first rule of the next-holder order (docs/semantics.md, "Who leads
 * next") on which two candidates differ: the one that puts the first ahead.
 */
export type RankRule =
  | { kind: "only" }
  | { kind: "preferredHolder" }
  | { kind: "priority"; winner: number; loser: number }
  | { kind: "newestRevision"; revision: string }
  | { kind: "readyLongest"; winnerSince: number | undefined; loserSince: number | undefined }
  | { kind: "name" };

export interface PodReport {
  name: string;
  uid: string;
  phase: string;
  ready: boolean;
  /** Ready: since when Ready; NotReady: since when NotReady (the condition's time). */
  readySince?: number;
  terminating: boolean;
  priority: number;
  revision?: string;
  /** spec.nodeName */
  node?: string;
  /** Carries the group's leader label (key=value). */
  labelled: boolean;
  /** The group's status names it as holder. */
  holder: boolean;
  eligibility: Eligibility;
  /** 1-based position as next holder among the candidates (Managed mode). */
  rank?: number;
  /** Rank 1: the rule by which it is ahead of rank 2; rank > 1: by which `after` is ahead of it. */
  rule?: RankRule;
  /** The pod ranked directly ahead of it. */
  after?: string;
}

export interface LeaseReport {
  name: string;
  holder: string;
  holderUID?: string;
  renewTime?: number;
  acquireTime?: number;
  durationSeconds?: number;
  transitions: number;
  /** Owned by this group (ownerReferences), as podium creates it in Managed mode. */
  ownedByGroup: boolean;
  /** Observed mode: the pod the holder stands for (src/election/identity.ts), when it is one. */
  holderPod?: string;
  /** Observed mode: how the holder was mapped, or what was tried ("holder x: no pod named x, ..."). */
  mapping?: string;
}

export interface GroupReport {
  namespace: string;
  name: string;
  mode: string;
  generation: number;
  observedGeneration?: number;
  selector: string;
  leaderLabel: LeaderLabel;
  preferredHolder?: string;
  paused: boolean;
  notReadyToleranceSeconds: number;
  leaseName: string;
  /** status.holder, "" when leaderless. */
  holder: string;
  epoch: number;
  candidates: number;
  readyCandidates: number;
  conditions: Condition[];
  history: TransitionRecord[];
  /** Ranked candidates first (best next holder first), then the others by name. */
  pods: PodReport[];
  lease?: LeaseReport;
  /** Who leads next if the holder is lost (Managed): the best-ranked other candidate. */
  next?: string;
  blockers: Blocker[];
  /** The holder podium's decision names right now ("" when none); undefined when blocked. */
  expectedHolder?: string;
  /** A transition podium's decision calls for now: in flight, or the operator is not running. */
  pending?: { from: string; to: string; reason: string };
}

/** What a report is built from: the group and what the API server says about its pods. */
export interface GroupInput {
  group: ElectionGroup;
  /** Pods listed with the group's selector (others are dropped). */
  pods: readonly unknown[];
  /** The group's Lease, undefined when it does not exist. */
  lease: unknown;
  /** Every group of the namespace, for conflicts; undefined when not read. */
  siblings?: readonly ElectionGroup[];
  /**
   * The pods' nodes by name, each with its heartbeat Lease (undefined when
   * absent); undefined when not read, and then no pod is judged by its node.
   */
  nodes?: ReadonlyMap<string, { node: unknown; heartbeat: unknown }>;
  now: number;
}

/** The spec with defaults when valid; else the errors and the parts podium still reads. */
export interface SpecReading {
  spec?: ElectionGroupSpec;
  errors: FieldError[];
  selector?: LabelSelector;
  leaderLabel: LeaderLabel;
}

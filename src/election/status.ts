import type { Condition, ElectionGroupStatus, TransitionRecord } from "../api/types.ts";
import { blockerMessage } from "./gate.ts";
import type { Blocker } from "./gate.ts";

/** How many transitions status.history keeps, newest first. */
export const HISTORY_LIMIT = 10;

/**
 * Returns `conditions` with `next` set in place of any condition of its type.
 * lastTransitionTime moves only when the status changes, as metav1.Condition
 * requires; reason, message and observedGeneration always follow `next`.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  nowIso: string,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const previous = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    previous?.status === next.status ? previous.lastTransitionTime : nowIso;
  const merged: Condition = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

/** Returns the condition of `type`, if any. */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Returns history with `record` prepended, keeping the newest HISTORY_LIMIT entries. */
export function pushHistory(
  history: readonly TransitionRecord[] | undefined,
  record: TransitionRecord,
): TransitionRecord[] {
  return [record, ...(history ?? [])].slice(0, HISTORY_LIMIT);
}

/** Whether two statuses say the same thing, so an unchanged status is not written. */
export function sameStatus(
  a: ElectionGroupStatus | undefined,
  b: ElectionGroupStatus | undefined,
): boolean {
  return sameJson(a ?? {}, b ?? {});
}

/**
 * Whether two JSON values are equal, reading a property whose value is
 * undefined as absent (JSON.stringify drops it) and ignoring key order. Runs on
 * every reconcile, so it compares in place rather than serializing.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameJson(x, b[i]));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const defined = (o: Record<string, unknown>): string[] =>
    Object.keys(o).filter((k) => o[k] !== undefined);
  const keys = defined(x);
  return keys.length === defined(y).length && keys.every((k) => sameJson(x[k], y[k]));
}

/** A condition's variable part. */
export interface ConditionState {
  status: "True" | "False";
  reason: string;
  message: string;
}

/** What one reconcile found, in the terms status reports it. */
export interface StatusSummary {
  holder: { name: string; uid: string } | undefined;
  leaseName: string;
  epoch: number;
  candidates: number;
  readyCandidates: number;
  transition?:
    { from: string; to: string; reason: string; epoch: number; node?: string } | undefined;
  /** From detection of the transition's cause to its label write. */
  durationMs: number;
  leaderElected: ConditionState;
  ready: ConditionState;
  /** Pods that carry the leader label's key with someone else's value. */
  labelConflict: ConditionState;
  /** Newer groups that select some of the pods and are ignored; "" when none. */
  outranked: string;
}

/**
 * Writes `summary` into `status` (which holds the previous status): the
 * holder fields, counts, a history entry for a transition, and the Ready,
 * LeaderElected and Conflict conditions with `generation` as their
 * observedGeneration.
 */
export function fillStatus(
  status: ElectionGroupStatus,
  summary: StatusSummary,
  generation: number,
  nowIso: string,
): void {
  const { holder, transition } = summary;
  status.holder = holder?.name ?? "";
  status.holderUID = holder?.uid ?? "";
  status.leaseName = summary.leaseName;
  status.epoch = summary.epoch;
  status.transitions = summary.epoch;
  status.candidates = summary.candidates;
  status.readyCandidates = summary.readyCandidates;
  status.ready = `${String(summary.readyCandidates)}/${String(summary.candidates)}`;
  if (transition) {
    status.lastTransitionTime = nowIso;
    status.history = pushHistory(status.history, {
      ...transition,
      time: nowIso,
      durationMs: Math.max(0, Math.round(summary.durationMs)),
    });
  }
  const observedGeneration = generation;
  status.conditions = setCondition(
    status.conditions,
    { type: "LeaderElected", observedGeneration, ...summary.leaderElected },
    nowIso,
  );
  status.conditions = setCondition(
    status.conditions,
    {
      type: "Conflict",
      observedGeneration,
      status: "False",
      reason: "NoConflict",
      message:
        summary.outranked === ""
          ? "no other ElectionGroup selects these pods with the same leader label key"
          : `newer ElectionGroup ${summary.outranked} selects some of these pods and is ignored`,
    },
    nowIso,
  );
  status.conditions = setCondition(
    status.conditions,
    { type: "LabelConflict", observedGeneration, ...summary.labelConflict },
    nowIso,
  );
  status.conditions = setCondition(
    status.conditions,
    { type: "Ready", observedGeneration, ...summary.ready },
    nowIso,
  );
  status.observedGeneration = observedGeneration;
}

/**
 * Writes into `status` why a refused group touches nothing: an invalid spec
 * (Ready=False, InvalidSpec, the fields named) or a conflict it lost to older
 * groups (Conflict=True and Ready=False, both with reason Conflict).
 */
export function fillRefusal(
  status: ElectionGroupStatus,
  blocker: Extract<Blocker, { kind: "invalidSpec" | "conflict" }>,
  generation: number,
  nowIso: string,
): void {
  const message = blockerMessage(blocker);
  const observedGeneration = generation;
  if (blocker.kind === "invalidSpec") {
    status.conditions = setCondition(
      status.conditions,
      { type: "Ready", status: "False", reason: "InvalidSpec", message, observedGeneration },
      nowIso,
    );
  } else {
    for (const type of ["Conflict", "Ready"] as const) {
      const state = type === "Conflict" ? "True" : "False";
      status.conditions = setCondition(
        status.conditions,
        { type, status: state, reason: "Conflict", message, observedGeneration },
        nowIso,
      );
    }
  }
  status.observedGeneration = observedGeneration;
}

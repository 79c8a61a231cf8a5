import type { Condition, ElectionGroupStatus, TransitionRecord } from "../api/types.ts";

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
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>)
            .filter(([, x]) => x !== undefined)
            .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}

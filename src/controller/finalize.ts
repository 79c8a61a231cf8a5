import { FINALIZER } from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import { labelsToRemoveOnDelete } from "../election/index.ts";
import type { Gate } from "../election/index.ts";
import type { Logger } from "../observability/logger.ts";
import { targetOf } from "./act.ts";
import type { Loaded } from "./load.ts";
import type { OwnWrites } from "./own-writes.ts";
import type { Writer } from "./writer.ts";

/** What the finalizer phases need. */
export interface FinalizeDeps {
  writer: Writer;
  ownWrites: OwnWrites;
}

/** Whether `group` carries podium's finalizer. */
export function hasFinalizer(group: ElectionGroup): boolean {
  return (group.metadata.finalizers ?? []).includes(FINALIZER);
}

/**
 * The finalizer phase: puts podium's finalizer on the group before any side
 * effect, so that no label can outlive the group. Returns false when the
 * write lost a race (the group changed): the reconcile must be retried.
 */
export async function ensureFinalizer(
  deps: FinalizeDeps,
  group: ElectionGroup,
  signal: AbortSignal,
): Promise<boolean> {
  if (hasFinalizer(group)) return true;
  const { outcome, resourceVersion } = await deps.writer.setFinalizer(group, true, signal);
  if (outcome !== "ok") return false;
  if (resourceVersion !== undefined) deps.ownWrites.groupVersionWritten(group, resourceVersion);
  return true;
}

/**
 * Cleanup of a deleted group: removes its leader labels, then its finalizer;
 * the Lease goes by garbage collection (it is owned by the group). Labels
 * are left alone where the gate refuses the group (see
 * {@link labelsToRemoveOnDelete}). Returns false when the finalizer write
 * conflicted and must be retried.
 */
export async function finalize(
  deps: FinalizeDeps,
  loaded: Loaded,
  verdict: Gate,
  signal: AbortSignal,
  log: Logger,
): Promise<boolean> {
  const { group } = loaded;
  if (!hasFinalizer(group)) return true;
  const label = verdict.spec?.leaderLabel;
  if (label !== undefined) {
    for (const pod of labelsToRemoveOnDelete(verdict, loaded.podViews)) {
      const target = targetOf(loaded, pod);
      const outcome = await deps.writer.removeLeaderLabel(
        group.metadata.namespace,
        target,
        label,
        signal,
      );
      // A pod that changed since: look again rather than remove a value someone just set.
      if (outcome === "conflict") return false;
    }
  }
  const { outcome } = await deps.writer.setFinalizer(group, false, signal);
  if (outcome === "conflict") return false;
  log.info("removed leader labels and the finalizer");
  return true;
}

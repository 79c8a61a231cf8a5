import { handoverOf } from "../api/defaults.ts";
import type { ElectionGroupSpec } from "../api/types.ts";
import { isCandidate } from "./candidates.ts";
import { nextHolderComparator } from "./order.ts";
import type { PodView } from "./types.ts";

/**
 * What the hand-over rule says for a holder that would otherwise stay: nothing
 * to do, a new-revision pod that will be ready long enough after `afterMs`
 * (look again then), or the pod to hand leadership to now.
 */
export type HandoverVerdict =
  { kind: "none" } | { kind: "wait"; afterMs: number } | { kind: "handover"; to: PodView };

/**
 * Returns the revision a rollout is moving the group to, or undefined when
 * the pods do not say so unambiguously.
 *
 * Two measures must agree: the revision of the most recently created pod
 * (what the next-holder order ranks first), and the revision whose oldest pod
 * is the youngest (the last revision to appear). They differ when an outgoing
 * ReplicaSet replaces a crashed pod during a rollout (its pod is the newest,
 * but its revision is old), and in a rollback during a rollout (the
 * rolled-back revision's new pods are newest while its old ones are the
 * oldest): then nothing is handed over, so that leadership never moves to a
 * revision that is on its way out, nor back and forth. Pods without a
 * revision label (bare pods) take no part: the rule is about rollouts.
 * creationTimestamp has whole seconds, so pods created within one second are
 * ordered by when podium first saw them (a rollout begun in the second its
 * first pods were created was otherwise ambiguous, and never handed over).
 */
export function rolloutRevision(pods: readonly PodView[]): string | undefined {
  let latest: { at: CreationOrder; revision: string } | undefined;
  const oldest = new Map<string, CreationOrder>();
  for (const pod of pods) {
    const { revision } = pod;
    if (revision === undefined) continue;
    const at = creationOrder(pod);
    const order = latest === undefined ? 1 : compareCreation(at, latest.at);
    if (latest === undefined || order > 0 || (order === 0 && revision > latest.revision)) {
      latest = { at, revision };
    }
    const seen = oldest.get(revision);
    if (seen === undefined || compareCreation(at, seen) < 0) oldest.set(revision, at);
  }
  if (latest === undefined) return undefined;
  const since = oldest.get(latest.revision);
  if (since === undefined) return undefined;
  for (const [revision, at] of oldest) {
    if (revision !== latest.revision && compareCreation(at, since) >= 0) return undefined;
  }
  return latest.revision;
}

/** When a pod was created, as finely as podium knows: the API's second, then its own first sight. */
type CreationOrder = readonly [createdAt: number, firstSeenAt: number];

function creationOrder(pod: PodView): CreationOrder {
  // Unknown first sight sorts as "no later than any": a tie stays a tie (ambiguous).
  return [pod.createdAt, pod.firstSeenAt ?? 0];
}

/**
 * Orders two creations; within one creationTimestamp second, by podium's
 * first sight, but only when both are known (else they tie).
 */
function compareCreation(a: CreationOrder, b: CreationOrder): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] === 0 || b[1] === 0) return 0;
  return a[1] - b[1];
}

/**
 * The hand-over rule (spec.handover, Managed mode), for a holder that keeps
 * leadership by every other rule:
 * - Disabled, a holder without a revision label, or no unambiguous rollout
 *   revision ({@link rolloutRevision}), or a holder already of it: none.
 *   Hence at most one hand-over per rollout: the pod handed to is of the
 *   rollout revision, and a holder of it is never handed over again (a
 *   rollback is another rollout revision).
 * - Otherwise the candidates of the rollout revision that have been Ready
 *   for `settleSeconds` (from `readySeenAt`, else `readySince`) by `now`:
 *   the first of them in the next-holder order takes over. When none has
 *   settled yet but some are Ready, wait until the first one would have.
 */
export function decideHandover(
  spec: Pick<ElectionGroupSpec, "handover" | "preferredHolder">,
  pods: readonly PodView[],
  holder: PodView,
  now: number,
): HandoverVerdict {
  const { mode, settleSeconds } = handoverOf(spec);
  if (mode !== "OnRollout" || holder.revision === undefined) return { kind: "none" };
  const revision = rolloutRevision(pods);
  if (revision === undefined || revision === holder.revision) return { kind: "none" };

  const settleMs = settleSeconds * 1000;
  const fresh = pods.filter((p) => isCandidate(p) && p.revision === revision);
  const settled: PodView[] = [];
  let waitMs = Infinity;
  for (const pod of fresh) {
    const since = pod.readySeenAt ?? pod.readySince;
    // Unknown counts as elapsed, as for the NotReady tolerance: a Ready pod has a Ready time.
    const left = since === undefined ? 0 : since + settleMs - now;
    if (left <= 0) settled.push(pod);
    else waitMs = Math.min(waitMs, Math.min(left, settleMs));
  }
  if (settled.length > 0) {
    const ctx = { preferredHolder: spec.preferredHolder, newestRevision: revision };
    const [to] = settled.sort(nextHolderComparator(ctx));
    if (to !== undefined) return { kind: "handover", to };
  }
  return waitMs === Infinity ? { kind: "none" } : { kind: "wait", afterMs: waitMs };
}

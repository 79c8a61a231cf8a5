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
  let latest: PodView | undefined;
  const oldest = new Map<string, PodView>();
  for (const pod of pods) {
    const { revision } = pod;
    if (revision === undefined) continue;
    const order = latest === undefined ? 1 : compareCreation(pod, latest);
    if (order > 0 || (order === 0 && revision > (latest?.revision ?? ""))) latest = pod;
    const first = oldest.get(revision);
    if (first === undefined || compareCreation(pod, first) < 0) oldest.set(revision, pod);
  }
  const revision = latest?.revision;
  const since = revision === undefined ? undefined : oldest.get(revision);
  if (revision === undefined || since === undefined) return undefined;
  for (const [other, first] of oldest) {
    if (other !== revision && compareCreation(first, since) >= 0) return undefined;
  }
  return revision;
}

/**
 * Orders two pods by creation: by creationTimestamp, and within its second
 * by podium's first sight when it knows both (else they tie).
 */
function compareCreation(a: PodView, b: PodView): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  if (a.firstSeenAt === undefined || b.firstSeenAt === undefined) return 0;
  return a.firstSeenAt - b.firstSeenAt;
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

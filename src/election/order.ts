import type { ElectionGroupSpec } from "../api/types.ts";
import { isCandidate, parsePriority } from "./candidates.ts";
import type { PodView } from "./types.ts";

/** What the next-holder order depends on besides the two pods compared. */
export interface RankContext {
  /** spec.preferredHolder; only meaningful when it names a candidate. */
  preferredHolder: string | undefined;
  /** The revision bucket that ranks first; see {@link newestRevision}. */
  newestRevision: string | undefined;
}

/**
 * Returns the revision ("" for pods without one) of the most recently created
 * pod among `pods`, or undefined when there are none.
 *
 * All pods of the group count, not only candidates: during a rolling update
 * the new ReplicaSet's pods are the newest even before they are Ready, so the
 * first ready new-revision pod wins the hand-over and leadership moves once
 * rather than once per old replica. Pods created in the same millisecond with
 * different revisions are settled by the greater revision string, which is
 * arbitrary but deterministic.
 */
export function newestRevision(pods: readonly PodView[]): string | undefined {
  let best: { createdAt: number; revision: string } | undefined;
  for (const pod of pods) {
    const revision = pod.revision ?? "";
    if (
      best === undefined ||
      pod.createdAt > best.createdAt ||
      (pod.createdAt === best.createdAt && revision > best.revision)
    ) {
      best = { createdAt: pod.createdAt, revision };
    }
  }
  return best?.revision;
}

/** The rules of the next-holder order, by name, in the order they apply. */
export type RankRuleName =
  "preferredHolder" | "priority" | "newestRevision" | "readyLongest" | "name";

type Compare = (a: PodView, b: PodView, ctx: RankContext) => number;

/** The next-holder order as data: each rule settles a pair only when the ones before it tie. */
const RANK_RULES: readonly (readonly [RankRuleName, Compare])[] = [
  [
    "preferredHolder",
    (a, b, ctx) => preferFirst(a.name === ctx.preferredHolder, b.name === ctx.preferredHolder),
  ],
  ["priority", (a, b) => parsePriority(b.priorityAnnotation) - parsePriority(a.priorityAnnotation)],
  [
    "newestRevision",
    (a, b, ctx) =>
      preferFirst(
        ctx.newestRevision !== undefined && (a.revision ?? "") === ctx.newestRevision,
        ctx.newestRevision !== undefined && (b.revision ?? "") === ctx.newestRevision,
      ),
  ],
  ["readyLongest", (a, b) => compareReadySince(a.readySince, b.readySince)],
  ["name", (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)],
];

/**
 * Returns the first rule of the next-holder order on which `a` and `b`
 * differ, and whether it puts `a` first; `kubectl podium` uses it to say why
 * one pod ranks before another.
 */
export function decidingRule(
  a: PodView,
  b: PodView,
  ctx: RankContext,
): { rule: RankRuleName; aFirst: boolean } {
  for (const [rule, compare] of RANK_RULES) {
    const c = compare(a, b, ctx);
    if (c !== 0) return { rule, aFirst: c < 0 };
  }
  return { rule: "name", aFirst: false };
}

/**
 * Returns a comparator that sorts pods best next holder first: the preferred
 * holder, then higher `podium.dev/priority`, then the newest revision, then
 * Ready the longest (a pod with no Ready time after one with), then name.
 * Names are unique within a namespace, so the order is total.
 */
export function nextHolderComparator(ctx: RankContext): (a: PodView, b: PodView) => number {
  return (a, b) => {
    for (const [, compare] of RANK_RULES) {
      const c = compare(a, b, ctx);
      if (c !== 0) return c;
    }
    return 0;
  };
}

/**
 * Returns the candidates among `pods` ordered best next holder first (see
 * {@link nextHolderComparator}); the first element, if any, is who leads
 * next. `pods` are all pods of the group: non-candidates are dropped here but
 * still decide which revision is newest.
 */
export function rankNextHolders(
  pods: readonly PodView[],
  spec: Pick<ElectionGroupSpec, "preferredHolder">,
): PodView[] {
  const ctx: RankContext = {
    preferredHolder: spec.preferredHolder,
    newestRevision: newestRevision(pods),
  };
  return pods.filter(isCandidate).sort(nextHolderComparator(ctx));
}

function preferFirst(a: boolean, b: boolean): number {
  return a === b ? 0 : a ? -1 : 1;
}

function compareReadySince(a: number | undefined, b: number | undefined): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  return a - b;
}

import type { PodView } from "./types.ts";

/**
 * Reports whether `pod` may lead: not terminating, phase Running, Ready, and
 * free to carry the leader label (its key holds no other value, which podium
 * would have to overwrite), on a node that does not disqualify it
 * (election/nodes.ts), and not failing the group's leader probe
 * (election/probe.ts). The group's selector is applied before a pod reaches
 * the election core.
 */
export function isCandidate(pod: PodView): boolean {
  return (
    !pod.terminating &&
    pod.phase === "Running" &&
    pod.ready &&
    pod.foreignLabelValue === undefined &&
    pod.nodeProblem === undefined &&
    pod.probeProblem === undefined
  );
}

const PRIORITY_LIMIT = 1_000_000_000;

/**
 * Returns the integer in a `podium.dev/priority` annotation, or 0 when the
 * annotation is absent or malformed; it never throws.
 *
 * Accepted: an optionally signed run of decimal digits (surrounding white
 * space ignored) within ±1e9. Everything else (`1.5`, `1e3`, `0x10`, `high`,
 * out of range) is 0 rather than a best guess, so that a typo ranks a pod as
 * if it had no annotation instead of silently above every other pod.
 */
export function parsePriority(annotation: string | undefined): number {
  if (annotation === undefined) return 0;
  const text = annotation.trim();
  if (!/^[+-]?\d{1,10}$/.test(text)) return 0;
  const value = Number(text);
  if (Math.abs(value) > PRIORITY_LIMIT) return 0;
  // `-0` would compare equal but print and Object.is differently.
  return value === 0 ? 0 : value;
}

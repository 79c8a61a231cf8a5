import { extraLeaders } from "../support/invariant-core.ts";
import type { LabelObservation } from "../support/label-recorder.ts";

// Judges one group's pod stream, as a LeaderLabelRecorder saw it, against "at
// most one pod carries the leader label" (with the invariant checker's judge,
// extraLeaders). The churn itself puts the label on a non-leader pod now and
// then (a hijack); the operator must take it off again. A hijacked pod is left
// out of the count from the event that labelled it until the operator removed
// the label (or the group was back to one labelled pod), for at most
// HIJACK_REVERT_MS: past that the hijack counts.

/** How long the operator may take to revert a label put on a pod by hand. */
export const HIJACK_REVERT_MS = 10_000;

export interface Violation {
  at: number;
  what: string;
  /** The observations of the pod stream leading up to it, oldest first. */
  before?: string[];
}

export class LeaderJudge {
  readonly violations: Violation[] = [];
  /** For each hijack the stream showed and the operator reverted: ms from the label to its removal. */
  readonly revertMs: number[] = [];
  /** Observations judged so far (the recorder only appends). */
  #next = 0;
  #previous: readonly string[] = [];
  /**
   * Hijacks asked for and not yet seen in the stream: pod → when each was
   * asked. A list, because the same pod can be hijacked twice before the
   * stream event of the first is judged (judging runs at each sample).
   */
  readonly #asked = new Map<string, number[]>();
  /** Hijacked pods that carry the label now: pod → when the stream showed it. */
  readonly #open = new Map<string, number>();
  /** Hijacks already reported as not reverted, so each counts once. */
  readonly #late = new Set<string>();
  readonly #group: string;

  constructor(group: string) {
    this.#group = group;
  }

  /** Call just before sending the patch that labels `pod` by hand. */
  hijacking(pod: string, at: number): void {
    this.#asked.set(pod, [...(this.#asked.get(pod) ?? []), at]);
  }

  /** Judges the observations that arrived since the last call; `now` bounds open hijacks. */
  update(observations: readonly LabelObservation[], now: number): void {
    for (; this.#next < observations.length; this.#next++) {
      const o = observations[this.#next];
      if (o === undefined) break;
      const found = this.violations.length;
      this.#judge(o);
      const v = this.violations[found];
      if (v !== undefined) {
        v.before = observations
          .slice(Math.max(0, this.#next - 8), this.#next + 1)
          .map(
            (x) =>
              `${new Date(x.at).toISOString()} ${x.event} ${x.pod} rv=${x.resourceVersion} labelled=[${x.labelled.join(",")}]`,
          );
        v.before.push(
          `hijacks asked: [${[...this.#asked.keys()].join(",")}], open: [${[...this.#open.keys()].join(",")}]`,
        );
      }
    }
    this.#late_(now);
  }

  /** How many pods the stream shows labelled right now. */
  labelledNow(): number {
    return this.#previous.length;
  }

  #judge(o: LabelObservation): void {
    const before = new Set(this.#previous);
    const asked = this.#asked.get(o.pod) ?? [];
    if (
      o.event !== "delete" &&
      o.labelled.includes(o.pod) &&
      !before.has(o.pod) &&
      asked.some((t) => o.at >= t)
    ) {
      // This label explains every hijack of the pod asked before it arrived.
      const later = asked.filter((t) => t > o.at);
      if (later.length > 0) this.#asked.set(o.pod, later);
      else this.#asked.delete(o.pod);
      this.#open.set(o.pod, o.at);
    }
    for (const [pod, since] of [...this.#open]) {
      if (!o.labelled.includes(pod) || o.labelled.length <= 1) {
        this.#open.delete(pod);
        this.revertMs.push(o.at - since);
      }
    }
    // A hijack that never shows (the pod had just become the leader) is dropped after a while.
    for (const [pod, times] of this.#asked) {
      const live = times.filter((t) => o.at - t <= HIJACK_REVERT_MS);
      if (live.length > 0) this.#asked.set(pod, live);
      else this.#asked.delete(pod);
    }
    this.#late_(o.at);
    const counted = extraLeaders(o.labelled, (p) => this.#open.has(p));
    if (counted.length > 0) {
      this.violations.push({
        at: o.at,
        what:
          `${this.#group}: ${String(counted.length)} pods labelled (${counted.join(", ")}) after ` +
          `${o.event} of ${o.pod} at resourceVersion ${o.resourceVersion}`,
      });
    }
    this.#previous = o.labelled;
  }

  #late_(now: number): void {
    for (const [pod, since] of this.#open) {
      if (now - since > HIJACK_REVERT_MS && !this.#late.has(`${pod}@${String(since)}`)) {
        this.#late.add(`${pod}@${String(since)}`);
        this.#open.delete(pod);
        this.violations.push({
          at: now,
          what: `${this.#group}: the label put on ${pod} by hand was not reverted within ${String(HIJACK_REVERT_MS / 1000)} s`,
        });
      }
    }
  }
}

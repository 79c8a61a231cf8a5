/**
 * The cutovers in flight: after a transition, when the old leader leaves the
 * Services that route to the leader and when the new one is ready in them,
 * as EndpointSlice events show it. Each finished cutover is written into its
 * history entry and observed in `podium_failover_phase_seconds`.
 */
import type { TransitionPhases, TransitionRecord } from "../api/types.ts";
import { allListExactly, anyListsReady } from "../election/index.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import type { TrafficView } from "./traffic.ts";

/** How long a cutover is followed; a step not seen by then stays absent from its history entry. */
export const CUTOVER_FOLLOW_MS = 30_000;

/** One cutover in flight: the transition, its detection time and the steps seen so far. */
export interface Cutover {
  from: string;
  to: string;
  epoch: number;
  detectedAt: number;
  phases: TransitionPhases;
  outcome?: "Verified" | "TimedOut";
}

/** What a reconcile learns of its group's cutover. */
export interface CutoverProgress {
  /** The finished cutover, to write into its history entry; it is forgotten here. */
  done?: Cutover;
  /** Reconcile again by then (the follow deadline), if still in flight. */
  recheckAt?: number;
}

/** The label-side phases, from the times the write phases finished. */
export function labelPhases(
  detectedAt: number,
  at: { labelRemoved?: number; leaseWritten?: number; labelWritten?: number },
): TransitionPhases {
  const since = (t: number | undefined): number | undefined =>
    t === undefined ? undefined : Math.max(0, Math.round(t - detectedAt));
  const phases: TransitionPhases = {};
  const removed = since(at.labelRemoved);
  const lease = since(at.leaseWritten);
  const labelled = since(at.labelWritten);
  if (removed !== undefined) phases.labelRemovedMs = removed;
  if (lease !== undefined) phases.leaseWrittenMs = lease;
  if (labelled !== undefined) phases.labelWrittenMs = labelled;
  return phases;
}

/** Cutovers in flight, one per group at most (a newer transition replaces an older one). */
export class Cutovers {
  readonly #inFlight = new Map<string, Cutover>();
  readonly #metrics: OperatorMetrics;

  constructor(metrics: OperatorMetrics) {
    this.#metrics = metrics;
  }

  /** Starts following the cutover of group `key`, and observes its label-side phases. */
  start(key: string, cutover: Cutover): void {
    this.#inFlight.set(key, cutover);
    for (const [phase, ms] of Object.entries(cutover.phases) as [string, number][]) {
      this.#observe(phase, ms);
    }
  }

  /**
   * Advances the cutover of `key` with what the Services list now
   * (`view`, seen at `now`): the old leader gone from all, then the new one
   * ready in all. Finished when both are seen, when no Service routes to the
   * leader, or at the follow deadline.
   */
  advance(key: string, view: TrafficView, now: number): CutoverProgress {
    const c = this.#inFlight.get(key);
    if (c === undefined) return {};
    const at = Math.max(c.detectedAt, view.changedAt > 0 ? Math.min(view.changedAt, now) : now);
    const ms = Math.round(at - c.detectedAt);
    if (view.services.length > 0) {
      if (c.phases.oldEndpointGoneMs === undefined && !anyListsReady(view.services, c.from)) {
        c.phases.oldEndpointGoneMs = ms;
        this.#observe("oldEndpointGoneMs", ms);
      }
      if (
        c.phases.newEndpointReadyMs === undefined &&
        c.to !== "" &&
        allListExactly(view.services, c.to)
      ) {
        c.phases.newEndpointReadyMs = ms;
        this.#observe("newEndpointReadyMs", ms);
      }
    }
    const settled =
      view.services.length === 0 ||
      (c.phases.oldEndpointGoneMs !== undefined &&
        (c.to === "" || c.phases.newEndpointReadyMs !== undefined));
    const deadline = c.detectedAt + CUTOVER_FOLLOW_MS;
    if (settled || now >= deadline) {
      this.#inFlight.delete(key);
      return { done: c };
    }
    return { recheckAt: deadline };
  }

  /** The cutover of group `key` in flight, if any. */
  inFlight(key: string): Cutover | undefined {
    return this.#inFlight.get(key);
  }

  forget(key: string): void {
    this.#inFlight.delete(key);
  }

  #observe(phase: string, ms: number): void {
    this.#metrics.failoverPhaseSeconds.observe({ phase: phase.replace(/Ms$/, "") }, ms / 1000);
  }
}

/**
 * Returns `history` with the entry of `cutover` (same epoch and new holder)
 * carrying its phases and outcome; the entries are copied, never mutated.
 */
export function withCutover(
  history: readonly TransitionRecord[],
  cutover: Cutover,
): TransitionRecord[] {
  return history.map((h) => {
    if (h.epoch !== cutover.epoch || h.to !== cutover.to) return h;
    const entry: TransitionRecord = { ...h, phases: { ...h.phases, ...cutover.phases } };
    if (cutover.outcome !== undefined) entry.cutover = cutover.outcome;
    return entry;
  });
}

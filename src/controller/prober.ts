import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import { judgeProbe } from "../election/index.ts";
import type { ProbeAction, ProbeRecord } from "../election/index.ts";
import type { Clock, Timer } from "../kube/clock.ts";
import { heapPop, heapPush } from "../kube/min-heap.ts";
import type { Dial } from "./probe-dial.ts";

/** One pod to probe for one group: its IP, what to dial, and the group's probe timings. */
export interface ProbeTarget {
  uid: string;
  pod: string;
  ip: string;
  action: ProbeAction;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
}

interface TargetState {
  groupKey: string;
  target: ProbeTarget;
  /** Bumped when the target is replaced: heap entries of an older generation are skipped. */
  gen: number;
  record: ProbeRecord;
}

interface Due {
  at: number;
  id: string;
  gen: number;
}

export interface ProberOptions {
  clock: Clock;
  dial: Dial;
  /** Attempts in flight at once, over every group. */
  concurrency: number;
  registry: Registry;
  /** A target crossed its failure threshold, or passed again after it: queue `groupKey`. */
  onChange(groupKey: string, detectedAt: number): void;
}

/**
 * Probes the pods the reconciler names (each probed group's holder, and
 * pods that failed as holders until they pass again), one attempt per period
 * per pod, from one scheduler: a min-heap of due times, one timer, and a
 * bound on attempts in flight. No timer or task per group. Results are kept
 * in memory; the reconcile reads them ({@link Prober.record}) and the
 * election core judges them (election/probe.ts).
 */
export class Prober {
  readonly #o: ProberOptions;
  readonly #targets = new Map<string, TargetState>();
  readonly #byGroup = new Map<string, Set<string>>();
  readonly #heap: Due[] = [];
  readonly #waiting: Due[] = [];
  #timer: Timer | undefined;
  #timerAt = Infinity;
  #inFlight = 0;
  #gen = 0;
  #stopped = false;
  readonly #total: Counter<"result">;
  readonly #duration: Histogram;

  constructor(options: ProberOptions) {
    this.#o = options;
    this.#total = new Counter({
      name: "podium_probe_total",
      help: "Leader probe attempts, by result (success or failure).",
      labelNames: ["result"],
      registers: [options.registry],
    });
    this.#duration = new Histogram({
      name: "podium_probe_duration_seconds",
      help: "Duration of leader probe attempts.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [options.registry],
    });
  }

  /** Pods probed now, over every group. */
  get size(): number {
    return this.#targets.size;
  }

  /** The record of pod `uid` in group `groupKey`; undefined when it is not probed. */
  record(groupKey: string, uid: string): ProbeRecord | undefined {
    return this.#targets.get(`${groupKey}|${uid}`)?.record;
  }

  /**
   * Makes `targets` the pods probed for `groupKey`: new ones are probed at
   * once, unchanged ones keep their record and schedule, others are dropped
   * (with their record).
   */
  set(groupKey: string, targets: readonly ProbeTarget[]): void {
    const ids = new Set<string>();
    for (const target of targets) {
      const id = `${groupKey}|${target.uid}`;
      ids.add(id);
      const current = this.#targets.get(id);
      if (current !== undefined && sameTarget(current.target, target)) continue;
      const gen = ++this.#gen;
      this.#targets.set(id, { groupKey, target, gen, record: { consecutiveFailures: 0 } });
      this.#schedule({ at: this.#o.clock.now(), id, gen });
    }
    for (const id of this.#byGroup.get(groupKey) ?? []) {
      if (!ids.has(id)) this.#targets.delete(id);
    }
    if (ids.size === 0) this.#byGroup.delete(groupKey);
    else this.#byGroup.set(groupKey, ids);
  }

  /** Stops probing for `groupKey` (deleted, or without a probe). */
  forget(groupKey: string): void {
    this.set(groupKey, []);
  }

  /** Stops every probe; attempts in flight finish and are ignored. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#targets.clear();
    this.#byGroup.clear();
  }

  #schedule(due: Due): void {
    if (this.#stopped) return;
    heapPush(this.#heap, due);
    this.#arm();
  }

  #arm(): void {
    const next = this.#heap[0];
    if (next === undefined || next.at >= this.#timerAt) return;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timerAt = next.at;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#fire();
    }, next.at - this.#o.clock.now());
  }

  #fire(): void {
    const now = this.#o.clock.now();
    for (let due = this.#heap[0]; due !== undefined && due.at <= now; due = this.#heap[0]) {
      heapPop(this.#heap);
      if (this.#targets.get(due.id)?.gen === due.gen) this.#start(due);
    }
    this.#arm();
  }

  #start(due: Due): void {
    if (this.#inFlight >= this.#o.concurrency) {
      this.#waiting.push(due);
      return;
    }
    const state = this.#targets.get(due.id);
    if (state?.gen !== due.gen) return;
    this.#inFlight++;
    const { target } = state;
    const startedAt = this.#o.clock.now();
    const stopTimer = this.#duration.startTimer();
    void this.#o.dial(target.ip, target.action, target.timeoutMs).then((error) => {
      stopTimer();
      this.#inFlight--;
      this.#total.inc({ result: error === undefined ? "success" : "failure" });
      this.#finish(due, error, startedAt);
      const next = this.#waiting.shift();
      if (next !== undefined) this.#start(next);
    });
  }

  #finish(due: Due, error: string | undefined, startedAt: number): void {
    const state = this.#targets.get(due.id);
    if (state?.gen !== due.gen || this.#stopped) return;
    const now = this.#o.clock.now();
    const before = judgeProbe(state.record, state.target.failureThreshold) !== undefined;
    const r = state.record;
    state.record =
      error === undefined
        ? { consecutiveFailures: 0, lastSuccessAt: now }
        : {
            consecutiveFailures: r.consecutiveFailures + 1,
            failingSince: r.consecutiveFailures === 0 ? now : (r.failingSince ?? now),
            lastError: error,
            ...(r.lastSuccessAt === undefined ? {} : { lastSuccessAt: r.lastSuccessAt }),
          };
    const after = judgeProbe(state.record, state.target.failureThreshold) !== undefined;
    if (before !== after) this.#o.onChange(state.groupKey, now);
    // One attempt per period, counted from the attempt's start.
    this.#schedule({
      at: Math.max(startedAt + state.target.periodMs, now),
      id: due.id,
      gen: due.gen,
    });
  }
}

function sameTarget(a: ProbeTarget, b: ProbeTarget): boolean {
  return (
    a.ip === b.ip &&
    a.periodMs === b.periodMs &&
    a.timeoutMs === b.timeoutMs &&
    a.failureThreshold === b.failureThreshold &&
    JSON.stringify(a.action) === JSON.stringify(b.action)
  );
}

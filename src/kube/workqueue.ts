import { Counter, Gauge, Histogram, exponentialBuckets } from "prom-client";
import type { Registry } from "prom-client";
import { ItemExponentialRateLimiter } from "./backoff.ts";
import { realClock } from "./clock.ts";
import { reconsiderUrgency } from "./limiter.ts";
import type { Clock, Timer } from "./clock.ts";
import { perRegistry } from "./metrics.ts";
import { heapPop, heapPush } from "./min-heap.ts";

export interface WorkQueueOptions {
  /** The queue's name, the `name` label of the `workqueue_*` metrics. */
  name: string;
  /** The `controller` label; defaults to `name`, as in controller-runtime. */
  controller?: string;
  clock?: Clock;
  /** Backoff for `addRateLimited`; defaults to 5 ms → 1000 s per item. */
  rateLimiter?: ItemExponentialRateLimiter;
  /** Where the `workqueue_*` metrics go; none are kept without it. */
  registry?: Registry;
}

/**
 * A rate-limited work queue of string keys (`namespace/name`) with client-go
 * semantics: a key is queued at most once however often it is added (dirty
 * set), a key is never handed to two workers at once (processing set), and a
 * key added while it is being processed is queued again when `done` is called,
 * so the change that caused the add is never lost.
 *
 * Priority: a key added with a detection time (a change was seen, which may
 * need a fail-over) is handed out before keys added without one (resyncs,
 * requeues, renewals handed over), even those queued earlier, so that the
 * idle groups' periodic work never delays a fail-over.
 *
 * Every key returned by `get` must be passed to `done` exactly once.
 * Unlike client-go, `get` hands out nothing once the queue is shutting down,
 * even if keys are still queued: a stopping operator should not start new
 * reconciles (the next leader resyncs every object anyway).
 */
export class WorkQueue {
  readonly name: string;
  readonly controller: string;
  readonly #clock: Clock;
  readonly #limiter: ItemExponentialRateLimiter;
  readonly #metrics: QueueMetrics | undefined;
  readonly #labels: { name: string; controller: string };

  /** When the change behind each pending key was first seen, for keys added with one. */
  readonly #detectedAt = new Map<string, number>();
  /**
   * Keys waiting for a worker, in two FIFOs: `#urgent` for keys added with a
   * detection time (a change was seen: it may need a fail-over), `#queue` for
   * the rest (resyncs, requeues, renewals handed over). Workers take urgent
   * keys first. `#where` says which FIFO holds a key's live entry; an entry
   * that disagrees (the key was promoted, or taken) is stale and skipped.
   */
  #queue: string[] = [];
  #urgent: string[] = [];
  readonly #where = new Map<string, "urgent" | "normal">();
  /** Keys that need processing: queued, or re-added while being processed. */
  readonly #dirty = new Set<string>();
  /** Keys handed out by `get` and not yet `done`, with when they were handed out. */
  readonly #processing = new Map<string, number>();
  /** When each queued key was first added, for `workqueue_queue_duration_seconds`. */
  readonly #addedAt = new Map<string, number>();
  /** Workers blocked in `get`. */
  #waiters: ((key: string | undefined) => void)[] = [];

  /** The earliest pending `addAfter` time of each key. */
  readonly #delayed = new Map<string, number>();
  /** A min-heap over `#delayed`; stale entries (not matching the map) are skipped. */
  readonly #heap: { key: string; at: number }[] = [];
  #timer: { handle: Timer; at: number } | undefined;

  #shuttingDown = false;
  #drained: (() => void) | undefined;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.controller = options.controller ?? options.name;
    this.#clock = options.clock ?? realClock;
    this.#limiter = options.rateLimiter ?? new ItemExponentialRateLimiter();
    this.#labels = { name: this.name, controller: this.controller };
    if (options.registry) {
      this.#metrics = queueMetrics(options.registry);
      this.#metrics.sources.add(this.#inFlight);
      this.#metrics.depth.set(this.#labels, 0);
      this.#metrics.adds.inc(this.#labels, 0);
      this.#metrics.retries.inc(this.#labels, 0);
    }
  }

  /**
   * Queues `key` unless it is already queued; a no-op after shutdown.
   * `detectedAt` is when the change that asks for it was first seen: the
   * queued item keeps the earliest such time until a worker takes it (see
   * {@link takeDetectedAt}), so a duration measured from it includes the
   * time spent waiting in the queue.
   */
  add(key: string, detectedAt?: number): void {
    if (this.#shuttingDown) return;
    if (detectedAt !== undefined && !this.#detectedAt.has(key)) {
      this.#detectedAt.set(key, detectedAt);
      // Work on the key already waiting for a rate-limit token now holds up a fail-over.
      reconsiderUrgency();
    }
    if (this.#dirty.has(key)) {
      // A detected change jumps ahead of the resyncs and requeues queued before it.
      if (detectedAt !== undefined && this.#where.get(key) === "normal") {
        this.#where.set(key, "urgent");
        this.#urgent.push(key);
        this.#handOut();
      }
      return;
    }
    this.#metrics?.adds.inc(this.#labels);
    this.#dirty.add(key);
    // A key being processed is queued again by `done`.
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Queues a dirty key: urgent when a detection time waits for it. */
  #push(key: string): void {
    this.#addedAt.set(key, this.#clock.now());
    if (this.#detectedAt.has(key)) {
      this.#where.set(key, "urgent");
      this.#urgent.push(key);
    } else {
      this.#where.set(key, "normal");
      this.#queue.push(key);
    }
    this.#metrics?.depth.set(this.#labels, this.#where.size);
    this.#handOut();
  }

  /**
   * Adds `key` after `ms` milliseconds. A key already waiting keeps the
   * earlier of its two times, so a short requeue is never postponed by a
   * longer one.
   */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending !== undefined && pending <= at) return;
    this.#delayed.set(key, at);
    heapPush(this.#heap, { key, at });
    this.#arm();
  }

  /** Adds `key` after its per-item backoff, which grows with every call until `forget`. */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.#metrics?.retries.inc(this.#labels);
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Clears `key`'s backoff history: call it after the key was processed successfully. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  /** How many times `key` was rate-limited since it was last forgotten. */
  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /**
   * Waits for a key and marks it as being processed; resolves undefined once
   * the queue is shutting down, which tells a worker to exit.
   */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Whether a detected change waits for `key`'s next round (it was added with
   * a detection time since a worker last took it): whoever is working on the
   * key now holds up a possible fail-over.
   */
  hasDetection(key: string): boolean {
    return this.#detectedAt.has(key);
  }

  /**
   * Returns and forgets when the change behind `key` was first seen, for a
   * worker that just took `key`; a change seen from now on starts a new
   * detection time for the key's next round.
   */
  takeDetectedAt(key: string): number | undefined {
    const at = this.#detectedAt.get(key);
    this.#detectedAt.delete(key);
    return at;
  }

  /** Marks `key` as no longer being processed; queues it again if it was re-added meanwhile. */
  done(key: string): void {
    const startedAt = this.#processing.get(key);
    if (startedAt === undefined) return;
    this.#processing.delete(key);
    this.#metrics?.workDuration.observe(this.#labels, (this.#clock.now() - startedAt) / 1000);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
    if (this.#processing.size === 0) this.#drained?.();
  }

  /** Whether `key` is queued, or handed to a worker and not yet `done`. */
  isBusy(key: string): boolean {
    return this.#dirty.has(key) || this.#processing.has(key);
  }

  /** The number of keys waiting for a worker (not counting delayed or in-flight ones). */
  len(): number {
    return this.#where.size;
  }

  /** True once `shutDown` or `shutDownWithDrain` was called. */
  isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops the queue: adds are ignored, pending delays are dropped, and every
   * blocked or future `get` resolves undefined. In-flight keys may still be
   * `done`d.
   */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer.handle);
    this.#timer = undefined;
    this.#delayed.clear();
    this.#heap.length = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve(undefined);
    this.#metrics?.sources.delete(this.#inFlight);
  }

  /** Shuts the queue down and resolves once every in-flight key is `done`. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#drained;
      this.#drained = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Moves the next queued key to processing, or returns undefined if none is queued. */
  #take(): string | undefined {
    const key = this.#next();
    if (key === undefined) return undefined;
    const now = this.#clock.now();
    this.#where.delete(key);
    this.#dirty.delete(key);
    this.#processing.set(key, now);
    const addedAt = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (this.#metrics) {
      this.#metrics.depth.set(this.#labels, this.#where.size);
      if (addedAt !== undefined) {
        this.#metrics.queueDuration.observe(this.#labels, (now - addedAt) / 1000);
      }
    }
    return key;
  }

  /** The next live key, urgent ones first, skipping stale entries; undefined when none. */
  #next(): string | undefined {
    for (;;) {
      const key = this.#urgent.shift();
      if (key === undefined) break;
      if (this.#where.get(key) === "urgent") return key;
    }
    for (;;) {
      const key = this.#queue.shift();
      if (key === undefined) return undefined;
      if (this.#where.get(key) === "normal") return key;
    }
  }

  /** Gives queued keys to blocked workers, synchronously, so no key sits queued while a worker waits. */
  #handOut(): void {
    while (this.#waiters.length > 0 && this.#where.size > 0) {
      const key = this.#take();
      if (key === undefined) return;
      this.#waiters.shift()?.(key);
    }
  }

  /** Keeps one timer armed for the earliest delayed key. */
  #arm(): void {
    const head = this.#peekDelayed();
    if (head === undefined) {
      if (this.#timer) this.#clock.clearTimeout(this.#timer.handle);
      this.#timer = undefined;
      return;
    }
    if (this.#timer && this.#timer.at <= head.at) return;
    if (this.#timer) this.#clock.clearTimeout(this.#timer.handle);
    const handle = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#fire();
    }, head.at - this.#clock.now());
    this.#timer = { handle, at: head.at };
  }

  /** Adds every delayed key whose time has come, then re-arms for the rest. */
  #fire(): void {
    const now = this.#clock.now();
    for (let head = this.#peekDelayed(); head && head.at <= now; head = this.#peekDelayed()) {
      heapPop(this.#heap);
      this.#delayed.delete(head.key);
      this.add(head.key);
    }
    if (!this.#shuttingDown) this.#arm();
  }

  /** The earliest live heap entry, discarding stale ones. */
  #peekDelayed(): { key: string; at: number } | undefined {
    for (;;) {
      const head = this.#heap[0];
      if (head === undefined) return undefined;
      if (this.#delayed.get(head.key) === head.at) return head;
      heapPop(this.#heap);
    }
  }

  /** Reports in-flight work for the unfinished/longest-running gauges. */
  readonly #inFlight = (): InFlight => {
    const now = this.#clock.now();
    let total = 0;
    let longest = 0;
    for (const startedAt of this.#processing.values()) {
      const seconds = (now - startedAt) / 1000;
      total += seconds;
      longest = Math.max(longest, seconds);
    }
    return { labels: this.#labels, unfinished: total, longest };
  };
}

interface InFlight {
  labels: { name: string; controller: string };
  unfinished: number;
  longest: number;
}

interface QueueMetrics {
  depth: Gauge<"name" | "controller">;
  adds: Counter<"name" | "controller">;
  queueDuration: Histogram<"name" | "controller">;
  workDuration: Histogram<"name" | "controller">;
  retries: Counter<"name" | "controller">;
  /** Live queues, asked for their in-flight work at scrape time. */
  sources: Set<() => InFlight>;
}

/** The `workqueue_*` metrics, shared by every queue on a registry. */
const queueMetrics = perRegistry((registry: Registry): QueueMetrics => {
  const labelNames = ["name", "controller"] as const;
  const registers = [registry];
  // controller-runtime's buckets: 10 ns × 10^i, 12 buckets (up to 1000 s).
  const buckets = exponentialBuckets(10e-9, 10, 12);
  const sources = new Set<() => InFlight>();
  const metrics: QueueMetrics = {
    sources,
    depth: new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames,
      registers,
    }),
    adds: new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames,
      registers,
    }),
    queueDuration: new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames,
      buckets,
      registers,
    }),
    workDuration: new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes.",
      labelNames,
      buckets,
      registers,
    }),
    retries: new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames,
      registers,
    }),
  };
  new Gauge({
    name: "workqueue_unfinished_work_seconds",
    help:
      "How many seconds of work has been done that is in progress and hasn't been observed by " +
      "work_duration. Large values indicate stuck threads.",
    labelNames,
    registers,
    collect() {
      for (const source of sources) {
        const { labels, unfinished } = source();
        this.set(labels, unfinished);
      }
    },
  });
  new Gauge({
    name: "workqueue_longest_running_processor_seconds",
    help: "How many seconds has the longest running processor for workqueue been running.",
    labelNames,
    registers,
    collect() {
      for (const source of sources) {
        const { labels, longest } = source();
        this.set(labels, longest);
      }
    },
  });
  return metrics;
});

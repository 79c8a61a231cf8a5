import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import { realClock } from "./clock.ts";
import type { Clock } from "./clock.ts";
import { runUrgent, runUrgentWhile } from "./limiter.ts";
import { perRegistry } from "./metrics.ts";
import type { WorkQueue } from "./workqueue.ts";

/**
 * What a handler (a reconcile) asks of the queue when it succeeds: by default
 * nothing more, the key waits for its next change.
 */
export interface Result {
  /** Process the key again after this many milliseconds (and reset its backoff). */
  requeueAfterMs?: number;
}

/**
 * Thrown by a handler for an error that retrying cannot fix (an invalid spec,
 * say): the key is not re-queued, and
 * `controller_runtime_terminal_reconcile_errors_total` counts it. A later
 * change to the object queues the key again as usual.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}

/** Processes one key; throwing has the key retried with backoff (see `TerminalError`). */
/**
 * Processes one key. `detectedAt` is when the change that queued it was
 * first seen, undefined for a requeue, a retry or a resync.
 */
export type Handler = (
  key: string,
  signal: AbortSignal,
  detectedAt: number | undefined,
) => Promise<Result>;

export interface RunWorkersOptions {
  /** The `controller` label of the `controller_runtime_*` metrics; defaults to the queue's. */
  controller?: string;
  /** Where the `controller_runtime_*` metrics go; none are kept without it. */
  registry?: Registry;
  logger?: Logger;
  clock?: Clock;
  /** Passed to every handler; abort it to cancel in-flight work on a hard stop. */
  signal?: AbortSignal;
}

/**
 * Runs `concurrency` workers that take keys from `queue` and process them with
 * `handler`, applying controller-runtime's result semantics: success forgets
 * the key's backoff; `requeueAfterMs` forgets it and adds it back after that
 * delay; a thrown error adds it back rate-limited; a `TerminalError` drops it.
 * Resolves once the queue is shut down and every worker finished its last key.
 * A handler's error never escapes: it is logged and counted.
 */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  handler: Handler,
  options: RunWorkersOptions = {},
): Promise<void> {
  const controller = options.controller ?? queue.controller;
  const clock = options.clock ?? realClock;
  const signal = options.signal ?? new AbortController().signal;
  const logger = options.logger;
  const metrics = options.registry ? controllerMetrics(options.registry) : undefined;
  const labels = { controller };
  if (metrics) {
    metrics.maxConcurrent.set(labels, concurrency);
    metrics.active.set(labels, 0);
    for (const result of RESULTS) metrics.total.inc({ controller, result }, 0);
    metrics.errors.inc(labels, 0);
    metrics.terminalErrors.inc(labels, 0);
  }

  const processOne = async (key: string): Promise<void> => {
    const startedAt = clock.now();
    const detectedAt = queue.takeDetectedAt(key);
    metrics?.active.inc(labels);
    let result: ReconcileResult;
    try {
      // A key queued for a detected change (a fail-over): its API requests go ahead of the
      // rate limiter's queue (limiter.ts), not behind status writes and renewals. So do those
      // of a resync or requeue of the key once a change is detected for it meanwhile: the
      // fail-over's reconcile cannot start before this one ends.
      const run = (): Promise<Result> => handler(key, signal, detectedAt);
      const { requeueAfterMs } = await (detectedAt === undefined
        ? runUrgentWhile(() => queue.hasDetection(key), run)
        : runUrgent(run));
      queue.forget(key);
      if (requeueAfterMs !== undefined && requeueAfterMs > 0) {
        queue.addAfter(key, requeueAfterMs);
        result = "requeue_after";
      } else {
        result = "success";
      }
    } catch (err) {
      result = "error";
      metrics?.errors.inc(labels);
      if (err instanceof TerminalError) {
        // Backoff history is meaningless for a key that will not be retried.
        queue.forget(key);
        metrics?.terminalErrors.inc(labels);
        logger?.error({ controller, key, err }, "reconcile failed permanently");
      } else {
        queue.addRateLimited(key);
        logger?.error(
          { controller, key, err, retries: queue.numRequeues(key) },
          "reconcile failed; retrying with backoff",
        );
      }
    } finally {
      queue.done(key);
      metrics?.active.dec(labels);
    }
    metrics?.total.inc({ controller, result });
    metrics?.time.observe(labels, (clock.now() - startedAt) / 1000);
  };

  const worker = async (): Promise<void> => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      await processOne(key);
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

const RESULTS = ["success", "error", "requeue", "requeue_after"] as const;
type ReconcileResult = (typeof RESULTS)[number];

interface ControllerMetrics {
  total: Counter<"controller" | "result">;
  errors: Counter<"controller">;
  terminalErrors: Counter<"controller">;
  time: Histogram<"controller">;
  maxConcurrent: Gauge<"controller">;
  active: Gauge<"controller">;
}

/** The `controller_runtime_*` metrics, shared by every controller on a registry. */
const controllerMetrics = perRegistry((registry: Registry): ControllerMetrics => {
  const registers = [registry];
  return {
    total: new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    }),
    errors: new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    }),
    terminalErrors: new Counter({
      name: "controller_runtime_terminal_reconcile_errors_total",
      help: "Total number of terminal reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    }),
    time: new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      // controller-runtime's buckets, so existing dashboards' quantiles match.
      buckets: [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
        0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30,
        40, 50, 60,
      ],
      registers,
    }),
    maxConcurrent: new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      labelNames: ["controller"],
      registers,
    }),
    active: new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    }),
  };
});

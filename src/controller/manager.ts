import type { KubeConfig } from "@kubernetes/client-node";
import { randomUUID } from "node:crypto";
import { CONTROLLER_NAME, GROUP } from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import type { Clock } from "../kube/clock.ts";
import { runWorkers } from "../kube/workers.ts";
import { WorkQueue } from "../kube/workqueue.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import type { Check } from "../observability/server.ts";
import { WatchedCache } from "../sources/cache.ts";
import type { WatchSettings } from "../sources/cache.ts";
import { SpecValidations, groupSource } from "../sources/groups.ts";
import { endpointSliceSource } from "../sources/endpoint-slices.ts";
import { leaseSource } from "../sources/leases.ts";
import { nodeLeaseSource } from "../sources/node-leases.ts";
import { nodeSource } from "../sources/nodes.ts";
import { ownedServiceSource, ownedSliceSource } from "../sources/owned-services.ts";
import { podSource } from "../sources/pods.ts";
import { serviceSource } from "../sources/services.ts";
import type { Source, SourceEvent } from "../sources/source.ts";
import { createStore } from "../sources/store.ts";
import type { Store } from "../sources/store.ts";
import { registerNodeMetrics } from "./node-metrics.ts";
import { OwnWrites } from "./own-writes.ts";
import { dial } from "./probe-dial.ts";
import { Prober } from "./prober.ts";
import { Reconciler } from "./reconcile.ts";
import { NodeRechecks } from "./node-rechecks.ts";
import { Renewals } from "./renewals.ts";
import type { Writer } from "./writer.ts";
import type { RouteWriter } from "./route-writer.ts";

export interface ManagerOptions {
  kc: KubeConfig;
  /** Namespaces to watch; empty means all. */
  namespaces: readonly string[];
  writer: Writer;
  /** EndpointSlice mode's API calls (spec.service). */
  routeWriter?: RouteWriter;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  clock: Clock;
  /** Every group is reconciled again this often, whatever happened. */
  syncPeriodMs: number;
  /** Groups reconciled at once. */
  concurrency: number;
  /** A watch silent this long is abandoned and its resource re-listed. */
  watchInactivityTimeoutMs: number;
  /** The bound of each list page request and of each watch request's response headers. */
  requestTimeoutMs: number;
  /** Watch Nodes and their heartbeat Leases, so that a pod on a dead node stops being a candidate. */
  watchNodes?: boolean;
  /** Watch Services and EndpointSlices: TrafficRouted, cutover phases, verified cutover. */
  watchTraffic?: boolean;
}

/**
 * A watch whose loop shows no list, event or bookmark for this many
 * inactivity deadlines makes /healthz fail: each deadline brings a re-list,
 * so by then lists have failed too and the replica is blind.
 */
const WATCHDOG_DEADLINES = 3;
/** Two kubelet heartbeat renew intervals (10 s each): the node-lease watch is never quieter. */
const HEARTBEAT_WATCH_QUIET_MS = 20_000;
/**
 * Leader probe attempts in flight at once, over every group. An attempt lasts
 * a few milliseconds unless its target is dead (then its timeout, 1 s by
 * default): 256 keeps 1,000 probed groups on time even when a quarter of the
 * holders time out at once, with at most that many sockets open.
 */
const PROBE_CONCURRENCY = 256;

/**
 * Owns the sources' caches, the work queue and the workers of the
 * ElectionGroup controller. Caches run on every replica (a standby takes
 * over warm); only the replica that leads the operator runs workers.
 */
export class Manager {
  readonly #options: ManagerOptions;
  readonly queue: WorkQueue;
  readonly #caches: WatchedCache<unknown>[] = [];
  readonly #groups: WatchedCache<ElectionGroup>;
  readonly #store: Store;
  readonly #reconciler: Reconciler;
  readonly prober: Prober;
  readonly #renewals: Renewals;

  constructor(options: ManagerOptions) {
    this.#options = options;
    const { metrics, clock } = options;
    const settings: WatchSettings = {
      kc: options.kc,
      clock,
      logger: options.logger,
      metrics: metrics.registry,
      inactivityTimeoutMs: options.watchInactivityTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
    };
    const ownWrites = new OwnWrites();
    const validations = new SpecValidations();
    const watch = <T>(source: Source<T>): WatchedCache<T> => {
      const cache = new WatchedCache(source, options.namespaces, settings, (e: SourceEvent<T>) => {
        for (const key of source.concerns(e, this.#store)) this.#enqueue(key);
      });
      this.#caches.push(cache as WatchedCache<unknown>);
      return cache;
    };
    // The sources: one line each.
    this.#groups = watch(groupSource(validations));
    const pods = watch(podSource);
    const leases = watch(leaseSource(ownWrites));
    const nodes = options.watchNodes === true ? watch(nodeSource) : undefined;
    const nodeLeases = options.watchNodes === true ? watch(nodeLeaseSource) : undefined;
    const services = options.watchTraffic === true ? watch(serviceSource) : undefined;
    const endpointSlices = options.watchTraffic === true ? watch(endpointSliceSource) : undefined;
    // EndpointSlice mode's own objects, by podium's labels: always watched (spec.service is per group).
    const ownedServices = watch(ownedServiceSource);
    const ownedSlices = watch(ownedSliceSource);

    this.#store = createStore(
      {
        groups: this.#groups,
        pods,
        leases,
        ...(nodes && nodeLeases ? { nodes, nodeLeases } : {}),
        ...(services && endpointSlices ? { services, endpointSlices } : {}),
        ownedServices,
        ownedSlices,
      },
      () => this.synced(),
      () => this.stalledWatches(),
    );
    if (nodeLeases !== undefined) registerNodeMetrics(metrics.registry, this.#store, clock);
    this.queue = new WorkQueue({ name: CONTROLLER_NAME, clock, registry: metrics.registry });
    // A probe result that fails a holder (or clears it) queues its group with that instant.
    this.prober = new Prober({
      clock,
      dial,
      concurrency: PROBE_CONCURRENCY,
      registry: metrics.registry,
      onChange: (key, at) => {
        this.queue.add(key, at);
      },
    });
    this.#renewals = new Renewals({
      store: this.#store,
      ownWrites,
      writer: options.writer,
      clock,
      log: options.logger.child({ controller: CONTROLLER_NAME, component: "renewals" }),
      isBusy: (key) => this.queue.isBusy(key),
      hasDetection: (key) => this.queue.hasDetection(key),
      // No detection time: a renewal that needs a reconcile is no detected change.
      reconcile: (key) => {
        this.queue.add(key);
      },
    });
    // A holder's node going stale queues its group with that instant (it jumps the queue).
    const nodeRechecks = new NodeRechecks({
      clock,
      heartbeatAt: (node) => this.#store.nodeHeartbeat(node)?.observedAt,
      enqueue: (key, at) => {
        this.queue.add(key, at);
      },
    });
    this.#reconciler = new Reconciler({
      renewals: this.#renewals,
      nodeRechecks,
      store: this.#store,
      validations,
      ownWrites,
      writer: options.writer,
      ...(options.routeWriter === undefined ? {} : { routeWriter: options.routeWriter }),
      recorder: options.recorder,
      metrics,
      now: () => clock.now(),
      clock,
      prober: this.prober,
      probeRecord: (key, uid) => this.prober.record(key, uid),
    });
  }

  #watches() {
    return this.#caches.flatMap((c) => c.watches());
  }

  #enqueue(key: string): void {
    this.queue.add(key, this.#options.clock.now());
  }

  /** Starts every cache; call once, on every replica. */
  start(): void {
    for (const w of this.#watches()) w.start();
  }

  /** Whether every cache has completed its first list. */
  synced(): boolean {
    return this.#watches().every((w) => w.hasSynced());
  }

  /**
   * The watches that show no life: none of their list, events or bookmarks
   * for two inactivity deadlines (each deadline brings a re-list, so a quiet
   * but healthy watch shows life at least that often), or, for the node
   * heartbeats, for two kubelet renew intervals while any node has one
   * (every node renews every 10 s, so that watch is never quiet).
   * The election core then distrusts heartbeats (the disruption guard).
   */
  stalledWatches(): string[] {
    const now = this.#options.clock.now();
    const stalled = new Set<string>();
    for (const cache of this.#caches) {
      const quietMs =
        cache.source.name === nodeLeaseSource.name
          ? cache.list().length > 0
            ? HEARTBEAT_WATCH_QUIET_MS
            : Infinity
          : 2 * this.#options.watchInactivityTimeoutMs;
      for (const w of cache.watches()) {
        if (w.hasSynced() && now - w.lastActivityAt() > quietMs) stalled.add(w.name);
      }
    }
    return [...stalled];
  }

  /** /readyz: every cache synced. */
  readinessChecks(): Check[] {
    return [
      {
        name: "informer-sync",
        check: () => (this.synced() ? "" : "caches have not completed their first list"),
      },
    ];
  }

  /** /healthz: every cache's loop showed life recently (a watchdog). */
  livenessChecks(): Check[] {
    return [
      {
        name: "watches",
        check: () => {
          const now = this.#options.clock.now();
          const watchdogMs = WATCHDOG_DEADLINES * this.#options.watchInactivityTimeoutMs;
          const stale = this.#watches().filter(
            (w) => w.hasSynced() && now - w.lastActivityAt() > watchdogMs,
          );
          return stale.length === 0
            ? ""
            : `no list or watch activity for ${String(watchdogMs / 1000)}s: ${stale.map((w) => w.name).join(", ")}`;
        },
      },
    ];
  }

  /**
   * Reconciles until `signal` aborts (this replica stopped leading, or the
   * process is shutting down): waits for the caches, queues every group, then
   * runs the workers and the periodic resync.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { logger, clock, syncPeriodMs, concurrency, metrics } = this.#options;
    const synced = await Promise.all(this.#watches().map((w) => w.waitForSync(signal)));
    if (signal.aborted || synced.includes(false)) return;
    for (const g of this.#store.groups()) {
      this.#enqueue(`${g.metadata.namespace}/${g.metadata.name}`);
    }

    let resyncTimer: ReturnType<Clock["setTimeout"]> | undefined;
    const scheduleResync = (): void => {
      const jittered = syncPeriodMs * (0.9 + Math.random() * 0.2);
      resyncTimer = clock.setTimeout(() => {
        logger.debug("periodic resync: queueing every group");
        for (const w of this.#groups.watches()) w.resync();
        // A resync is no detected change: it carries no detection time.
        for (const g of this.#store.groups()) {
          this.queue.add(`${g.metadata.namespace}/${g.metadata.name}`);
        }
        scheduleResync();
      }, jittered);
    };
    scheduleResync();
    const onAbort = (): void => {
      if (resyncTimer !== undefined) clock.clearTimeout(resyncTimer);
      this.prober.stop();
      void this.queue.shutDownWithDrain();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.#renewals.start(signal);

    await runWorkers(
      this.queue,
      concurrency,
      async (key, workerSignal, detectedAt) => {
        const slash = key.indexOf("/");
        const namespace = key.slice(0, slash);
        const name = key.slice(slash + 1);
        // Never beside the group's own renewal: both write the Lease.
        await this.#renewals.settled(key);
        const log = logger.child({
          controller: CONTROLLER_NAME,
          controllerGroup: GROUP,
          controllerKind: "ElectionGroup",
          namespace,
          name,
          reconcileID: randomUUID(),
        });
        return this.#reconciler.reconcile({
          namespace,
          name,
          signal: workerSignal,
          detectedAt: detectedAt ?? clock.now(),
          log,
        });
      },
      { registry: metrics.registry, logger, clock, signal, controller: CONTROLLER_NAME },
    );
    signal.removeEventListener("abort", onAbort);
  }

  /** Stops every cache. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    this.prober.stop();
    await Promise.all(this.#watches().map((w) => w.stop()));
  }
}

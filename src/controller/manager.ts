import type { KubeConfig } from "@kubernetes/client-node";
import { randomUUID } from "node:crypto";
import { GROUP, PLURAL, VERSION, CONTROLLER_NAME } from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import { isWellFormedSelector, matchesSelector } from "../election/index.ts";
import type { Clock } from "../kube/clock.ts";
import { ListWatch } from "../kube/listwatch.ts";
import type { RawObject } from "../kube/listwatch.ts";
import { runWorkers } from "../kube/workers.ts";
import { WorkQueue } from "../kube/workqueue.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import type { Check } from "../observability/server.ts";
import { toCachedLease, toCachedPod } from "./cached.ts";
import type { CachedLease, CachedPod } from "./cached.ts";
import { Reconciler } from "./reconciler.ts";
import type { Store } from "./reconciler.ts";
import type { Writer } from "./writer.ts";

export interface ManagerOptions {
  kc: KubeConfig;
  /** Namespaces to watch; empty means all. */
  namespaces: readonly string[];
  writer: Writer;
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
}

/**
 * A watch whose loop shows no list, event or bookmark for this many
 * inactivity deadlines makes /healthz fail: each deadline brings a re-list,
 * so by then lists have failed too and the replica is blind.
 */
const WATCHDOG_DEADLINES = 3;

/** Index names. */
const BY_LABEL = "label"; // pods: "ns/key=value" for each label
const BY_NAMESPACE = "namespace"; // pods, groups: "ns"
const BY_SELECTOR_LABEL = "selectorLabel"; // groups: "ns/key=value" per matchLabels entry, or "ns/*"
const BY_LEASE = "lease"; // groups: "ns/leaseName"
const BY_UID = "uid"; // groups: metadata.uid

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function toGroup(raw: RawObject): ElectionGroup | undefined {
  const group = raw as unknown as ElectionGroup;
  if (typeof group.metadata !== "object" || typeof group.metadata.name !== "string")
    return undefined;
  const copy = structuredClone(group);
  // managedFields can be larger than the rest of the object and is never read.
  delete (copy.metadata as { managedFields?: unknown }).managedFields;
  return copy;
}

function groupSelectorKeys(group: ElectionGroup): string[] {
  const ns = group.metadata.namespace;
  const spec = group.spec as Partial<ElectionGroup["spec"]> | undefined;
  const labels = spec?.selector?.matchLabels;
  const pairs = labels ? Object.entries(labels) : [];
  return pairs.length > 0 ? pairs.map(([k, v]) => `${ns}/${k}=${v}`) : [`${ns}/*`];
}

function groupLeaseKey(group: ElectionGroup): string[] {
  const spec = group.spec as Partial<ElectionGroup["spec"]> | undefined;
  const name = spec?.lease?.name ?? group.metadata.name;
  return [key(group.metadata.namespace, name)];
}

/**
 * Owns the caches, the work queue and the workers of the ElectionGroup
 * controller. Caches run on every replica (a standby takes over warm); only
 * the replica that leads the operator runs workers.
 */
export class Manager {
  readonly #options: ManagerOptions;
  readonly #groups: ListWatch<ElectionGroup>[] = [];
  readonly #pods: ListWatch<CachedPod>[] = [];
  readonly #leases: ListWatch<CachedLease>[] = [];
  readonly queue: WorkQueue;
  readonly #detectedAt = new Map<string, number>();
  readonly #reconciler: Reconciler;
  readonly #store: Store;

  constructor(options: ManagerOptions) {
    this.#options = options;
    const { kc, logger, metrics, clock } = options;
    const scopes = options.namespaces.length > 0 ? options.namespaces : [undefined];
    for (const ns of scopes) {
      const prefix = ns === undefined ? "" : `/namespaces/${ns}`;
      const common = {
        kc,
        clock,
        logger,
        metrics: metrics.registry,
        inactivityTimeoutMs: options.watchInactivityTimeoutMs,
        requestTimeoutMs: options.requestTimeoutMs,
      };
      const groups = new ListWatch<ElectionGroup>({
        ...common,
        name: "electiongroups",
        path: `/apis/${GROUP}/${VERSION}${prefix}/${PLURAL}`,
        transform: toGroup,
        onEvent: (_type, _key, group, old) => {
          this.#onGroup(group, old);
        },
      });
      groups.addIndex(BY_SELECTOR_LABEL, groupSelectorKeys);
      groups.addIndex(BY_LEASE, groupLeaseKey);
      groups.addIndex(BY_NAMESPACE, (g) => [g.metadata.namespace]);
      groups.addIndex(BY_UID, (g) => [g.metadata.uid]);
      this.#groups.push(groups);

      const pods: ListWatch<CachedPod> = new ListWatch<CachedPod>({
        ...common,
        name: "pods",
        path: `/api/v1${prefix}/pods`,
        transform: (raw) => {
          const meta = raw.metadata as { namespace?: string; name?: string } | undefined;
          const previous =
            meta?.namespace && meta.name ? pods.get(key(meta.namespace, meta.name)) : undefined;
          return toCachedPod(raw, clock.now(), previous);
        },
        onEvent: (_type, _key, pod, old) => {
          this.#onPod(pod, old);
        },
      });
      pods.addIndex(BY_LABEL, (p) =>
        Object.entries(p.labels).map(([k, v]) => `${p.namespace}/${k}=${v}`),
      );
      pods.addIndex(BY_NAMESPACE, (p) => [p.namespace]);
      this.#pods.push(pods);

      const leases: ListWatch<CachedLease> = new ListWatch<CachedLease>({
        ...common,
        name: "leases",
        path: `/apis/coordination.k8s.io/v1${prefix}/leases`,
        // Node heartbeats renew every 10 s and never belong to a group.
        ...(ns === undefined ? { fieldSelector: "metadata.namespace!=kube-node-lease" } : {}),
        transform: (raw) => {
          const meta = raw.metadata as { namespace?: string; name?: string } | undefined;
          const previous =
            meta?.namespace && meta.name ? leases.get(key(meta.namespace, meta.name)) : undefined;
          return toCachedLease(raw, clock.now(), previous);
        },
        onEvent: (type, _key, lease) => {
          if (type === "delete") this.#reconciler.forgetLease(lease.namespace, lease.name);
          else if (this.#reconciler.isOwnLeaseWrite(lease)) return;
          for (const g of this.#byIndex(this.#groups, BY_LEASE, key(lease.namespace, lease.name))) {
            this.#enqueue(g.metadata.namespace, g.metadata.name);
          }
        },
      });
      this.#leases.push(leases);
    }

    this.queue = new WorkQueue({
      name: CONTROLLER_NAME,
      clock,
      registry: metrics.registry,
    });
    const store: Store = (this.#store = {
      group: (namespace, name) => this.#get(this.#groups, key(namespace, name)),
      groupsSelectingAny: (namespace, pods) => {
        const found = new Map<string, ElectionGroup>();
        const wildcard = this.#byIndex(this.#groups, BY_SELECTOR_LABEL, `${namespace}/*`);
        for (const g of wildcard) found.set(g.metadata.uid, g);
        for (const p of pods) {
          for (const [k, v] of Object.entries(p.labels)) {
            for (const g of this.#byIndex(
              this.#groups,
              BY_SELECTOR_LABEL,
              `${namespace}/${k}=${v}`,
            )) {
              found.set(g.metadata.uid, g);
            }
          }
        }
        return [...found.values()];
      },
      groupExists: (uid) => this.#groups.some((c) => c.byIndex(BY_UID, uid).length > 0),
      podsFor: (namespace, selector) => {
        const first = Object.entries(selector.matchLabels ?? {})[0];
        const pool =
          first === undefined
            ? this.#byIndex(this.#pods, BY_NAMESPACE, namespace)
            : this.#byIndex(this.#pods, BY_LABEL, `${namespace}/${first[0]}=${first[1]}`);
        return pool.filter((p) => matchesSelector(p.labels, selector));
      },
      pod: (namespace, name) => this.#get(this.#pods, key(namespace, name)),
      lease: (namespace, name) => this.#get(this.#leases, key(namespace, name)),
    });
    this.#reconciler = new Reconciler({
      store,
      writer: options.writer,
      recorder: options.recorder,
      metrics,
      logger,
      now: () => clock.now(),
    });
  }

  #get<T>(caches: readonly ListWatch<T>[], k: string): T | undefined {
    for (const c of caches) {
      const v = c.get(k);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  #byIndex<T>(caches: readonly ListWatch<T>[], index: string, value: string): T[] {
    return caches.length === 1
      ? (caches[0]?.byIndex(index, value) ?? [])
      : caches.flatMap((c) => c.byIndex(index, value));
  }

  #enqueue(namespace: string, name: string): void {
    const k = key(namespace, name);
    if (!this.#detectedAt.has(k)) this.#detectedAt.set(k, this.#options.clock.now());
    this.queue.add(k);
  }

  #onGroup(group: ElectionGroup, old: ElectionGroup | undefined): void {
    this.#enqueue(group.metadata.namespace, group.metadata.name);
    // A group appearing, going or changing its spec can start or end a
    // conflict with the groups that select the same pods or name the same
    // Lease, which must then look again. Only those: requeueing the whole
    // namespace made applying N groups cost N^2 reconciles. Before the first
    // sync every group is queued anyway.
    const specChanged =
      old === undefined || JSON.stringify(old.spec) !== JSON.stringify(group.spec);
    if (!this.synced() || (!specChanged && group.metadata.deletionTimestamp === undefined)) return;
    const { namespace } = group.metadata;
    const neighbours = new Map<string, ElectionGroup>();
    for (const version of old === undefined ? [group] : [group, old]) {
      const selector = (version.spec as Partial<ElectionGroup["spec"]> | undefined)?.selector;
      if (isWellFormedSelector(selector)) {
        const pods = this.#store.podsFor(namespace, selector);
        for (const g of this.#store.groupsSelectingAny(namespace, pods)) {
          neighbours.set(g.metadata.uid, g);
        }
      }
      for (const k of groupLeaseKey(version)) {
        for (const g of this.#byIndex(this.#groups, BY_LEASE, k)) neighbours.set(g.metadata.uid, g);
      }
    }
    for (const g of neighbours.values()) {
      if (g.metadata.name !== group.metadata.name) this.#enqueue(namespace, g.metadata.name);
    }
  }

  #onPod(pod: CachedPod, old: CachedPod | undefined): void {
    const seen = new Set<string>();
    for (const p of old === undefined ? [pod] : [pod, old]) {
      const keys = [
        ...Object.entries(p.labels).map(([k, v]) => `${p.namespace}/${k}=${v}`),
        `${p.namespace}/*`,
      ];
      for (const k of keys) {
        for (const g of this.#byIndex(this.#groups, BY_SELECTOR_LABEL, k)) {
          const gk = key(g.metadata.namespace, g.metadata.name);
          if (seen.has(gk)) continue;
          const selector = (g.spec as Partial<ElectionGroup["spec"]> | undefined)?.selector;
          if (selector && matchesSelector(p.labels, selector)) {
            seen.add(gk);
            this.#enqueue(g.metadata.namespace, g.metadata.name);
          }
        }
      }
    }
  }

  /** Starts every cache; call once, on every replica. */
  start(): void {
    for (const c of [...this.#groups, ...this.#pods, ...this.#leases]) c.start();
  }

  /** Whether every cache has completed its first list. */
  synced(): boolean {
    return [...this.#groups, ...this.#pods, ...this.#leases].every((c) => c.hasSynced());
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
          const stale = [...this.#groups, ...this.#pods, ...this.#leases].filter(
            (c) => c.hasSynced() && now - c.lastActivityAt() > watchdogMs,
          );
          return stale.length === 0
            ? ""
            : `no list or watch activity for ${String(watchdogMs / 1000)}s: ${stale.map((c) => c.name).join(", ")}`;
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
    const synced = await Promise.all(
      [...this.#groups, ...this.#pods, ...this.#leases].map((c) => c.waitForSync(signal)),
    );
    if (signal.aborted || synced.includes(false)) return;
    for (const g of this.#groups.flatMap((c) => c.list())) {
      this.#enqueue(g.metadata.namespace, g.metadata.name);
    }

    let resyncTimer: ReturnType<Clock["setTimeout"]> | undefined;
    const scheduleResync = (): void => {
      const jittered = syncPeriodMs * (0.9 + Math.random() * 0.2);
      resyncTimer = clock.setTimeout(() => {
        logger.debug("periodic resync: queueing every group");
        for (const c of this.#groups) c.resync();
        for (const g of this.#groups.flatMap((c) => c.list())) {
          this.queue.add(key(g.metadata.namespace, g.metadata.name));
        }
        scheduleResync();
      }, jittered);
    };
    scheduleResync();
    const onAbort = (): void => {
      if (resyncTimer !== undefined) clock.clearTimeout(resyncTimer);
      void this.queue.shutDownWithDrain();
    };
    signal.addEventListener("abort", onAbort, { once: true });

    await runWorkers(
      this.queue,
      concurrency,
      async (k, workerSignal) => {
        const slash = k.indexOf("/");
        const namespace = k.slice(0, slash);
        const name = k.slice(slash + 1);
        const detectedAt = this.#detectedAt.get(k) ?? clock.now();
        this.#detectedAt.delete(k);
        const log = logger.child({
          controller: CONTROLLER_NAME,
          controllerGroup: GROUP,
          controllerKind: "ElectionGroup",
          namespace,
          name,
          reconcileID: randomUUID(),
        });
        return this.#reconciler.reconcile(namespace, name, workerSignal, detectedAt, log);
      },
      { registry: metrics.registry, logger, clock, signal, controller: CONTROLLER_NAME },
    );
    signal.removeEventListener("abort", onAbort);
  }

  /** Stops every cache. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all([...this.#groups, ...this.#pods, ...this.#leases].map((c) => c.stop()));
  }
}

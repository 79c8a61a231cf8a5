import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { Backoff } from "./backoff.ts";
import type { BackoffOptions } from "./backoff.ts";
import { realClock, sleep } from "./clock.ts";
import type { Clock } from "./clock.ts";
import { perRegistry } from "./metrics.ts";
import { httpError, kubeFetch, startWatch } from "./watch-stream.ts";
import type { RawObject, WatchEnd, WatchEvent, WatchStream } from "./watch-stream.ts";

export type { RawObject } from "./watch-stream.ts";

export type CacheEventType = "add" | "update" | "delete";

export interface ListWatchOptions<T> {
  kc: KubeConfig;
  /**
   * The collection path, namespaced or cluster-wide: `/api/v1/namespaces/ns/pods`,
   * `/apis/coordination.k8s.io/v1/leases`, `/apis/podium.dev/v1alpha1/electiongroups`.
   */
  path: string;
  /** Names the cache in logs and in the `resource` label of its metrics. */
  name: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Reduces a raw object to what the cache keeps (keep it small: the cache
   * holds every object); undefined leaves the object out, and an object that
   * leaves the cache this way is reported as deleted. Must not throw; if it
   * does, the change is skipped and logged.
   */
  transform: (raw: RawObject) => T | undefined;
  /**
   * Called synchronously after the cache changed. It should only enqueue
   * keys; an exception is caught and logged, never thrown into the stream.
   * For deletes, `obj` is the object's last known state.
   */
  onEvent: (type: CacheEventType, key: string, obj: T, old?: T) => void;
  clock?: Clock;
  logger?: Logger;
  /** Where `podium_watch_*` and `podium_cache_objects` go; none are kept without it. */
  metrics?: Registry;
  /** The client-side watch inactivity deadline. Default 90 s (bookmarks come about every 60 s). */
  inactivityTimeoutMs?: number;
  /** The deadline for each list page request, and for a watch request's response headers. Default 60 s. */
  requestTimeoutMs?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** Backoff after failures. Default 800 ms → 30 s, jitter 1.0; starts over after a complete list or a watch event, or after 2 min without failures. */
  backoff?: BackoffOptions;
  /** Uniform numbers in [0, 1), for the server-side timeout; tests make it deterministic. */
  random?: () => number;
}

interface Entry<T> {
  obj: T;
  resourceVersion: string | undefined;
}

interface Index<T> {
  fn: (obj: T) => string[];
  keysByValue: Map<string, Set<string>>;
}

/** A watch that ended this fast without a single event did not prove the server healthy. */
const SHORT_WATCH_MS = 1000;

/**
 * A cache of one resource kept current by list + watch, which never stops
 * silently: every way a watch can end leads to another watch or a re-list,
 * failures (list errors, HTTP errors, resets) after a jittered backoff, clean
 * ends (the server's randomized `timeoutSeconds`, the inactivity deadline)
 * at once. After a 410 Gone it re-lists and diffs the result against the
 * cache, synthesizing deletes for objects that vanished while it was not
 * watching, so no delete is ever lost. Objects are keyed `namespace/name`
 * (`name` for cluster-scoped ones).
 *
 * There is one loop per cache and it is the only thing that lists or
 * watches, so restarts are single-flight by construction.
 */
export class ListWatch<T> {
  readonly name: string;
  readonly #options: ListWatchOptions<T>;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #metrics: ListWatchMetrics | undefined;

  readonly #cache = new Map<string, Entry<T>>();
  readonly #indexes = new Map<string, Index<T>>();
  #resourceVersion: string | undefined;
  #needList = true;
  #synced = false;
  #syncWaiters: ((synced: boolean) => void)[] = [];
  #lastActivityAt = 0;

  #loop: Promise<void> | undefined;
  readonly #stop = new AbortController();
  #watch: WatchStream | undefined;
  /** Watches in a row that ended quickly without an event; two or more mean backoff. */
  #unproductive = 0;

  constructor(options: ListWatchOptions<T>) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#backoff = new Backoff({ clock: this.#clock, ...options.backoff });
    this.#random = options.random ?? Math.random;
    if (options.metrics) {
      this.#metrics = listWatchMetrics(options.metrics);
      this.#metrics.objects.set({ resource: this.name }, 0);
    }
  }

  /** Starts listing and watching in the background; a second call is a no-op. */
  start(): void {
    if (this.#loop || this.#stop.signal.aborted) return;
    this.#loop = this.#run().catch((err: unknown) => {
      // Not reachable by design; logged loudly because the cache would be dead.
      this.#options.logger?.error({ resource: this.name, err }, "list-watch loop crashed");
    });
  }

  /** Stops watching and resolves once no request is in flight; the cache keeps its contents. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#watch?.abort();
    this.#resolveSyncWaiters(false);
    await this.#loop;
  }

  /** True once the first list completed; stays true through later restarts. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves true once synced, or false if `signal` aborts or the cache is stopped first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted || this.#stop.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#syncWaiters = this.#syncWaiters.filter((w) => w !== waiter);
        resolve(false);
      };
      const waiter = (synced: boolean): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(synced);
      };
      this.#syncWaiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** The cached object with `key` (`namespace/name`, or `name` if cluster-scoped). */
  get(key: string): T | undefined {
    return this.#cache.get(key)?.obj;
  }

  /** Every cached object, in no particular order. */
  list(): T[] {
    return Array.from(this.#cache.values(), (entry) => entry.obj);
  }

  /** Every cached key. */
  keys(): string[] {
    return Array.from(this.#cache.keys());
  }

  /**
   * When the cache last heard from the API server (a list page, a watch
   * connect, any event including bookmarks), in clock milliseconds; 0 before
   * the first. A watchdog compares it against the inactivity deadline.
   */
  lastActivityAt(): number {
    return this.#lastActivityAt;
  }

  /** The resourceVersion the next watch resumes from; undefined before the first list. */
  resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Adds a secondary index: `fn` maps an object to the values it is found
   * under by `byIndex(name, value)`. Existing objects are indexed at once.
   */
  addIndex(name: string, fn: (obj: T) => string[]): void {
    if (this.#indexes.has(name)) throw new Error(`index ${name} already exists on ${this.name}`);
    const index: Index<T> = { fn, keysByValue: new Map() };
    this.#indexes.set(name, index);
    for (const [key, entry] of this.#cache) this.#indexOne(index, key, entry.obj);
  }

  /** The cached objects that index `name` files under `value`. */
  byIndex(name: string, value: string): T[] {
    const index = this.#indexes.get(name);
    if (!index) throw new Error(`no index ${name} on ${this.name}`);
    const result: T[] = [];
    for (const key of index.keysByValue.get(value) ?? []) {
      const entry = this.#cache.get(key);
      if (entry) result.push(entry.obj);
    }
    return result;
  }

  /**
   * Re-lists now (ending the current watch) and diffs the result against the
   * cache; a safety net against missed events. A request made while one is
   * pending is merged with it.
   */
  resync(): void {
    if (this.#stop.signal.aborted || this.#needList) return;
    this.#needList = true;
    this.#countRestart("resync");
    this.#watch?.abort();
  }

  /** A method, not a field read, so that checks after an await are not narrowed away. */
  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!this.#stopped()) {
      if (this.#needList) {
        this.#needList = false;
        try {
          await this.#list();
        } catch (err) {
          if (this.#stopped()) return;
          this.#needList = true;
          this.#countRestart("list_error");
          const delayMs = this.#backoff.next();
          this.#options.logger?.warn(
            { resource: this.name, err, delayMs },
            "list failed; retrying after backoff",
          );
          await sleep(this.#clock, delayMs, signal);
        }
        // A resync may have been asked for during the list.
        continue;
      }
      const end = await this.#watchOnce();
      if (this.#stopped()) return;
      await this.#afterWatch(end);
    }
  }

  /** Runs one watch from the current resourceVersion; resolves with why it ended. */
  async #watchOnce(): Promise<WatchEnd & { events: number; lastedMs: number }> {
    const startedAt = this.#clock.now();
    let events = 0;
    const min = 300;
    const max = 600;
    const watch = startWatch({
      kc: this.#options.kc,
      path: this.#options.path,
      query: {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: "true",
        // Randomized like client-go's reflector, so that the watches of many
        // caches and replicas do not all end at once.
        timeoutSeconds: String(min + Math.floor(this.#random() * (max - min + 1))),
        labelSelector: this.#options.labelSelector,
        fieldSelector: this.#options.fieldSelector,
      },
      inactivityTimeoutMs: this.#options.inactivityTimeoutMs ?? 90_000,
      connectTimeoutMs: this.#options.requestTimeoutMs ?? 60_000,
      clock: this.#clock,
      onConnect: () => {
        this.#touch();
      },
      onEvent: (event) => {
        events++;
        this.#onWatchEvent(event);
      },
    });
    this.#watch = watch;
    const end = await watch.done;
    this.#watch = undefined;
    return { ...end, events, lastedMs: this.#clock.now() - startedAt };
  }

  /** Decides how to continue after a watch ended: at once, after backoff, or by re-listing. */
  async #afterWatch(end: WatchEnd & { events: number; lastedMs: number }): Promise<void> {
    if (end.reason === "aborted") return; // resync (counted there) or stop
    // A watch that delivered proves the server healthy, as a complete list
    // does: without this, an API server restart grows the delay for two
    // minutes, and the next blip of a healthy stream leaves the cache blind
    // for 10 s or more.
    if (end.events > 0) this.#backoff.reset();
    const quick = end.events === 0 && end.lastedMs < SHORT_WATCH_MS;
    this.#unproductive = quick ? this.#unproductive + 1 : 0;
    let failed = this.#unproductive >= 2;
    const log = { resource: this.name, resourceVersion: this.#resourceVersion };
    switch (end.reason) {
      case "closed":
        this.#countRestart("closed");
        this.#options.logger?.debug(log, "watch closed by the server; resuming");
        break;
      case "inactive":
        // Silence may mean a dead connection or a stuck server-side watch:
        // changes could have been missed either way, so re-list rather than
        // resume from a resourceVersion the stream may never deliver past.
        this.#countRestart("inactivity");
        this.#needList = true;
        this.#options.logger?.warn(log, "watch silent past the inactivity deadline; re-listing");
        break;
      case "expired":
        this.#countRestart("expired");
        this.#needList = true;
        this.#options.logger?.info(
          { ...log, message: end.message },
          "resourceVersion expired; re-listing",
        );
        break;
      case "error":
        this.#countRestart("watch_error");
        failed = true;
        this.#options.logger?.warn({ ...log, err: end.error }, "watch failed; restarting");
        break;
    }
    if (failed) await sleep(this.#clock, this.#backoff.next(), this.#stop.signal);
  }

  /** Lists every page and replaces the cache with the result. */
  async #list(): Promise<void> {
    const items = new Map<string, Entry<T>>();
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.#listPage(continueToken);
      this.#touch();
      for (const raw of page.items ?? []) {
        const key = keyOf(raw);
        if (key === undefined) continue;
        const obj = this.#transform(raw);
        if (obj === SKIP) {
          // Keep what we had rather than report a spurious delete.
          const cached = this.#cache.get(key);
          if (cached) items.set(key, cached);
        } else if (obj !== undefined) {
          items.set(key, { obj, resourceVersion: raw.metadata?.resourceVersion });
        }
      }
      const token = page.metadata?.continue;
      continueToken = token === "" ? undefined : token;
      resourceVersion = page.metadata?.resourceVersion;
    } while (continueToken !== undefined);
    this.#replace(items);
    this.#resourceVersion = resourceVersion;
    this.#unproductive = 0;
    // A complete list proves the server healthy again: the next failure
    // starts the backoff over instead of sleeping for an outage already past.
    this.#backoff.reset();
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveSyncWaiters(true);
    }
    this.#options.logger?.debug(
      { resource: this.name, objects: this.#cache.size, resourceVersion },
      "listed",
    );
  }

  async #listPage(continueToken: string | undefined): Promise<ListPage> {
    const timeout = new AbortController();
    const timer = this.#clock.setTimeout(() => {
      timeout.abort(new Error("list request timed out"));
    }, this.#options.requestTimeoutMs ?? 60_000);
    try {
      const response = await kubeFetch(
        this.#options.kc,
        this.#options.path,
        {
          labelSelector: this.#options.labelSelector,
          fieldSelector: this.#options.fieldSelector,
          limit: String(this.#options.pageSize ?? 500),
          continue: continueToken,
        },
        AbortSignal.any([this.#stop.signal, timeout.signal]),
      );
      if (response.status !== 200) throw await httpError(response);
      return (await response.json()) as ListPage;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  /** Applies a full list: deletes for vanished keys, updates for changed ones, adds for new ones. */
  #replace(items: Map<string, Entry<T>>): void {
    for (const [key, entry] of this.#cache) {
      if (!items.has(key)) this.#apply(key, undefined, entry);
    }
    for (const [key, entry] of items) {
      const old = this.#cache.get(key);
      if (old === entry) continue;
      if (old?.resourceVersion !== undefined && old.resourceVersion === entry.resourceVersion) {
        continue;
      }
      this.#apply(key, entry, old);
    }
  }

  #onWatchEvent(event: WatchEvent): void {
    this.#touch();
    this.#metrics?.lastEvent.set({ resource: this.name }, this.#clock.now() / 1000);
    const raw = event.object;
    const resourceVersion = raw.metadata?.resourceVersion;
    if (resourceVersion) this.#resourceVersion = resourceVersion;
    if (event.type === "BOOKMARK") return;
    const key = keyOf(raw);
    if (key === undefined) return;
    const old = this.#cache.get(key);
    if (event.type === "DELETED") {
      if (old) this.#apply(key, undefined, old);
      return;
    }
    const obj = this.#transform(raw);
    if (obj === SKIP) return;
    this.#apply(key, obj === undefined ? undefined : { obj, resourceVersion }, old);
  }

  /** Changes one key of the cache and its indexes, then tells `onEvent`. */
  #apply(key: string, next: Entry<T> | undefined, old: Entry<T> | undefined): void {
    if (!next && !old) return;
    if (old) this.#unindex(key, old.obj);
    if (next) {
      this.#cache.set(key, next);
      for (const index of this.#indexes.values()) this.#indexOne(index, key, next.obj);
    } else {
      this.#cache.delete(key);
    }
    this.#metrics?.objects.set({ resource: this.name }, this.#cache.size);
    try {
      if (next && old) this.#options.onEvent("update", key, next.obj, old.obj);
      else if (next) this.#options.onEvent("add", key, next.obj);
      else if (old) this.#options.onEvent("delete", key, old.obj);
    } catch (err) {
      this.#options.logger?.error({ resource: this.name, key, err }, "cache event handler threw");
    }
  }

  #transform(raw: RawObject): T | undefined | typeof SKIP {
    try {
      return this.#options.transform(raw);
    } catch (err) {
      this.#options.logger?.error(
        { resource: this.name, key: keyOf(raw), err },
        "transform threw; change skipped",
      );
      return SKIP;
    }
  }

  #indexOne(index: Index<T>, key: string, obj: T): void {
    for (const value of index.fn(obj)) {
      let keys = index.keysByValue.get(value);
      if (!keys) {
        keys = new Set();
        index.keysByValue.set(value, keys);
      }
      keys.add(key);
    }
  }

  #unindex(key: string, obj: T): void {
    for (const index of this.#indexes.values()) {
      for (const value of index.fn(obj)) {
        const keys = index.keysByValue.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.keysByValue.delete(value);
      }
    }
  }

  #touch(): void {
    this.#lastActivityAt = this.#clock.now();
  }

  #countRestart(reason: string): void {
    this.#metrics?.restarts.inc({ resource: this.name, reason });
  }

  #resolveSyncWaiters(synced: boolean): void {
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const waiter of waiters) waiter(synced);
  }
}

const SKIP = Symbol("skip");

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: RawObject[];
}

/** `namespace/name`, or `name` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc). */
export function keyOf(raw: RawObject): string | undefined {
  const name = raw.metadata?.name;
  if (!name) return undefined;
  const namespace = raw.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

interface ListWatchMetrics {
  restarts: Counter<"resource" | "reason">;
  lastEvent: Gauge<"resource">;
  objects: Gauge<"resource">;
}

/** The watch and cache metrics, shared by every cache on a registry. */
const listWatchMetrics = perRegistry((registry: Registry): ListWatchMetrics => {
  const registers = [registry];
  return {
    restarts: new Counter({
      name: "podium_watch_restarts_total",
      help: "Watches restarted, by resource and reason (closed, inactivity, expired, watch_error, list_error, resync)",
      labelNames: ["resource", "reason"],
      registers,
    }),
    lastEvent: new Gauge({
      name: "podium_watch_last_event_timestamp_seconds",
      help: "Unix time of the last watch event (bookmarks included) per resource",
      labelNames: ["resource"],
      registers,
    }),
    objects: new Gauge({
      name: "podium_cache_objects",
      help: "Objects held in the cache per resource",
      labelNames: ["resource"],
      registers,
    }),
  };
});

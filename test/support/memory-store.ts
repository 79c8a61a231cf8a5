import type { ElectionGroup } from "../../src/api/types.ts";
import { SpecValidations, groupSource } from "../../src/sources/groups.ts";
import { leaseSource } from "../../src/sources/leases.ts";
import type { CachedLease, LeaseWriteMemory } from "../../src/sources/leases.ts";
import { nodeLeaseSource } from "../../src/sources/node-leases.ts";
import type { CachedHeartbeat } from "../../src/sources/node-leases.ts";
import { nodeSource } from "../../src/sources/nodes.ts";
import type { CachedNode } from "../../src/sources/nodes.ts";
import { podSource } from "../../src/sources/pods.ts";
import type { CachedPod } from "../../src/sources/pods.ts";
import { serviceSource } from "../../src/sources/services.ts";
import type { CachedService } from "../../src/sources/services.ts";
import { endpointSliceSource } from "../../src/sources/endpoint-slices.ts";
import type { CachedEndpointSlice } from "../../src/sources/endpoint-slices.ts";
import type { Cache, Source } from "../../src/sources/source.ts";
import { createStore } from "../../src/sources/store.ts";
import type { Store } from "../../src/sources/store.ts";

/**
 * A cache held in memory, fed by hand, reducing and indexing objects exactly
 * as the source's list-watch cache does: the shell's unit tests read through
 * the real Store over it.
 */
export class MemoryCache<T> implements Cache<T> {
  readonly #source: Source<T>;
  readonly #now: () => number;
  readonly #items = new Map<string, T>();

  constructor(source: Source<T>, now: () => number) {
    this.#source = source;
    this.#now = now;
  }

  /** Adds or replaces an object given as the API server sends it; returns what is cached. */
  put(raw: Record<string, unknown>): T {
    const meta = raw.metadata as { namespace?: string; name: string };
    // Cluster-scoped objects (Nodes) are keyed by name, as the list-watch keys them.
    const key = meta.namespace === undefined ? meta.name : `${meta.namespace}/${meta.name}`;
    const item = this.#source.reduce(raw, this.#now(), this.#items.get(key));
    if (item === undefined) throw new Error(`${this.#source.name}: ${key} does not reduce`);
    this.#items.set(key, item);
    return item;
  }

  delete(namespace: string | undefined, name: string): void {
    this.#items.delete(namespace === undefined ? name : `${namespace}/${name}`);
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  byIndex(index: string, value: string): T[] {
    const fn = this.#source.indexes[index];
    if (fn === undefined) throw new Error(`${this.#source.name} has no index ${index}`);
    return this.list().filter((item) => fn(item).includes(value));
  }
}

/** The caches of the controller in memory, and the real Store over them. */
export interface MemoryStore {
  groups: MemoryCache<ElectionGroup>;
  pods: MemoryCache<CachedPod>;
  leases: MemoryCache<CachedLease>;
  /** Present with `{ nodes: true }`: the store then judges pods by their nodes. */
  nodes?: MemoryCache<CachedNode>;
  nodeLeases?: MemoryCache<CachedHeartbeat>;
  /** Present with `{ traffic: true }`: the store then sees Services and EndpointSlices. */
  services?: MemoryCache<CachedService>;
  endpointSlices?: MemoryCache<CachedEndpointSlice>;
  store: Store;
  validations: SpecValidations;
}

/** Returns an in-memory store whose caches count as synced; with `nodes`, it watches nodes too. */
export function memoryStore(
  now: () => number,
  leaseMemory: LeaseWriteMemory,
  {
    nodes: withNodes = false,
    traffic = false,
    stalledWatches = () => [],
  }: {
    nodes?: boolean;
    traffic?: boolean;
    stalledWatches?: () => readonly string[];
  } = {},
): MemoryStore {
  const validations = new SpecValidations();
  const groups = new MemoryCache(groupSource(validations), now);
  const pods = new MemoryCache(podSource, now);
  const leases = new MemoryCache(leaseSource(leaseMemory), now);
  if (traffic) {
    const services = new MemoryCache(serviceSource, now);
    const endpointSlices = new MemoryCache(endpointSliceSource, now);
    const store = createStore({ groups, pods, leases, services, endpointSlices }, () => true);
    return { groups, pods, leases, services, endpointSlices, store, validations };
  }
  if (!withNodes) {
    const store = createStore({ groups, pods, leases }, () => true);
    return { groups, pods, leases, store, validations };
  }
  const nodes = new MemoryCache(nodeSource, now);
  const nodeLeases = new MemoryCache(nodeLeaseSource, now);
  const store = createStore(
    { groups, pods, leases, nodes, nodeLeases },
    () => true,
    stalledWatches,
  );
  return { groups, pods, leases, nodes, nodeLeases, store, validations };
}

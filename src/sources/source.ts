import type { CacheEventType, RawObject } from "../kube/listwatch.ts";
import type { Store } from "./store.ts";

/** A change of one cached object; `old` is what the cache held before an update. */
export interface SourceEvent<T> {
  type: CacheEventType;
  item: T;
  old: T | undefined;
}

/**
 * One watched kind: where it is listed, what of it is cached (the reduction),
 * the indexes the store's queries use, and which groups an event concerns.
 * Adding a kind is one module that exports a Source, and one line in the
 * manager's list of sources.
 */
export interface Source<T> {
  /** Names the cache in logs and in the `resource` label of the watch metrics. */
  name: string;
  /** The collection path, cluster-wide (`namespace` undefined) or in one namespace. */
  path(namespace: string | undefined): string;
  /**
   * Where to list and watch, given the namespaces podium watches (empty: all):
   * by default one list-watch per watched namespace, or one cluster-wide.
   * Cluster-scoped kinds (Nodes) and kinds of one fixed namespace (node
   * heartbeats) say so here.
   */
  scopes?(watched: readonly string[]): readonly (string | undefined)[];
  /** A label selector for the list and watch: only objects podium made, for kinds it owns. */
  labelSelector?: string;
  /** A field selector for the list and watch, if the kind needs one. */
  fieldSelector?(namespace: string | undefined): string | undefined;
  /**
   * Reduces an object as the API server sends it to what is cached (keep it
   * small: every object is held); undefined leaves it out. `previous` is what
   * the cache held for the same key, `now` the local time.
   */
  reduce(raw: RawObject, now: number, previous: T | undefined): T | undefined;
  /** Index name → the index values of an item. */
  indexes: Readonly<Record<string, (item: T) => string[]>>;
  /** The keys (`namespace/name`) of the groups that `event` concerns. */
  concerns(event: SourceEvent<T>, store: Store): Iterable<string>;
}

/** Read access to one kind's cached objects, keyed `namespace/name`. */
export interface Cache<T> {
  get(key: string): T | undefined;
  list(): T[];
  byIndex(index: string, value: string): T[];
}

/** The key of an object in its cache and in the work queue. */
export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

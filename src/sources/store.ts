import { NODE_LEASE_NAMESPACE } from "../api/constants.ts";
import type { ElectionGroup, LabelSelector } from "../api/types.ts";
import { matchesSelector } from "../election/index.ts";
import { BY_SERVICE } from "./endpoint-slices.ts";
import type { CachedEndpointSlice } from "./endpoint-slices.ts";
import { BY_LEADER_LABEL, BY_LEASE, BY_SELECTOR_LABEL } from "./groups.ts";
import type { CachedLease } from "./leases.ts";
import type { CachedHeartbeat } from "./node-leases.ts";
import type { CachedNode } from "./nodes.ts";
import { BY_OWNER } from "./owned-services.ts";
import type { OwnedService, OwnedSlice } from "./owned-services.ts";
import { BY_LABEL, BY_NAMESPACE, BY_NODE } from "./pods.ts";
import type { CachedPod } from "./pods.ts";
import { BY_SELECTOR_PAIR } from "./services.ts";
import type { CachedService } from "./services.ts";
import { keyOf } from "./source.ts";
import type { Cache } from "./source.ts";

/**
 * What the reconciler and the sources' event routing read: the caches,
 * through their indexes. Nothing here lists from the API server.
 */
export interface Store {
  group(namespace: string, name: string): ElectionGroup | undefined;
  /** Every cached group. */
  groups(): ElectionGroup[];
  /** Groups whose selector may match one of `pods` (found through an index, still to be checked). */
  groupsSelectingAny(namespace: string, pods: readonly CachedPod[]): ElectionGroup[];
  /** Groups that name the Lease `namespace/name`. */
  groupsNamingLease(namespace: string, name: string): ElectionGroup[];
  /** Pods of `namespace` matching `selector`. */
  podsFor(namespace: string, selector: LabelSelector): CachedPod[];
  pod(namespace: string, name: string): CachedPod | undefined;
  lease(namespace: string, name: string): CachedLease | undefined;
  /** Pods (of the watched namespaces) bound to node `name`. */
  podsOnNode(name: string): CachedPod[];
  /**
   * Whether podium watches Nodes and their heartbeats. When it does not
   * (namespaced mode without the node roles), no pod is judged by its node.
   */
  watchesNodes(): boolean;
  node(name: string): CachedNode | undefined;
  nodes(): CachedNode[];
  /** The heartbeat Lease of node `name`, as podium observed it. */
  nodeHeartbeat(name: string): CachedHeartbeat | undefined;
  /** Groups of `namespace` whose leader label is `key=value`. */
  groupsWithLeaderLabel(namespace: string, key: string, value: string): ElectionGroup[];
  /**
   * Whether podium watches Services and EndpointSlices. When it does not
   * (`--traffic-routing=off`), nothing is known of the traffic.
   */
  watchesTraffic(): boolean;
  service(namespace: string, name: string): CachedService | undefined;
  /**
   * The Services of `namespace` whose selector contains the leader label
   * `key=value`, each with its EndpointSlices: the candidates to route to a
   * group's leader (election/traffic.ts decides which do).
   */
  leaderServices(
    namespace: string,
    key: string,
    value: string,
  ): { service: CachedService; slices: CachedEndpointSlice[] }[];
  /** EndpointSlice mode: a Service podium labelled as its own, by name (cached; others are not). */
  ownedService(namespace: string, name: string): OwnedService | undefined;
  /** EndpointSlice mode: an EndpointSlice managed by podium, by name. */
  ownedSlice(namespace: string, name: string): OwnedSlice | undefined;
  /** EndpointSlice mode: podium's Services and slices that the object of `uid` owns. */
  ownedBy(namespace: string, uid: string): { services: OwnedService[]; slices: OwnedSlice[] };
  /** Names of podium's watches that show no life (see the manager's watch health). */
  stalledWatches(): readonly string[];
  /** Whether every cache has completed its first list. */
  synced(): boolean;
}

/**
 * The caches a store reads; `nodes` and `nodeLeases` only when podium watches
 * nodes, `services` and `endpointSlices` only when it watches traffic.
 */
export interface Caches {
  groups: Cache<ElectionGroup>;
  pods: Cache<CachedPod>;
  leases: Cache<CachedLease>;
  nodes?: Cache<CachedNode>;
  nodeLeases?: Cache<CachedHeartbeat>;
  services?: Cache<CachedService>;
  endpointSlices?: Cache<CachedEndpointSlice>;
  /** EndpointSlice mode's own objects; absent in stores that do not watch them (tests). */
  ownedServices?: Cache<OwnedService>;
  ownedSlices?: Cache<OwnedSlice>;
}

/**
 * Returns the Store over `caches`; `synced` reports whether they have all
 * listed once, `stalledWatches` which of them show no life.
 */
export function createStore(
  caches: Caches,
  synced: () => boolean,
  stalledWatches: () => readonly string[] = () => [],
): Store {
  const {
    groups,
    pods,
    leases,
    nodes,
    nodeLeases,
    services,
    endpointSlices,
    ownedServices,
    ownedSlices,
  } = caches;
  return {
    group: (namespace, name) => groups.get(keyOf(namespace, name)),
    groups: () => groups.list(),
    groupsSelectingAny: (namespace, selected) => {
      const found = new Map<string, ElectionGroup>();
      for (const g of groups.byIndex(BY_SELECTOR_LABEL, `${namespace}/*`)) {
        found.set(g.metadata.uid, g);
      }
      for (const p of selected) {
        for (const [k, v] of Object.entries(p.labels)) {
          for (const g of groups.byIndex(BY_SELECTOR_LABEL, `${namespace}/${k}=${v}`)) {
            found.set(g.metadata.uid, g);
          }
        }
      }
      return [...found.values()];
    },
    groupsNamingLease: (namespace, name) => groups.byIndex(BY_LEASE, keyOf(namespace, name)),
    podsFor: (namespace, selector) => {
      const first = Object.entries(selector.matchLabels ?? {})[0];
      const pool =
        first === undefined
          ? pods.byIndex(BY_NAMESPACE, namespace)
          : pods.byIndex(BY_LABEL, `${namespace}/${first[0]}=${first[1]}`);
      return pool.filter((p) => matchesSelector(p.labels, selector));
    },
    pod: (namespace, name) => pods.get(keyOf(namespace, name)),
    lease: (namespace, name) => leases.get(keyOf(namespace, name)),
    podsOnNode: (name) => pods.byIndex(BY_NODE, name),
    watchesNodes: () => nodes !== undefined && nodeLeases !== undefined,
    node: (name) => nodes?.get(name),
    nodes: () => nodes?.list() ?? [],
    nodeHeartbeat: (name) => nodeLeases?.get(keyOf(NODE_LEASE_NAMESPACE, name)),
    groupsWithLeaderLabel: (namespace, key, value) =>
      groups.byIndex(BY_LEADER_LABEL, `${namespace}/${key}=${value}`),
    watchesTraffic: () => services !== undefined && endpointSlices !== undefined,
    service: (namespace, name) => services?.get(keyOf(namespace, name)),
    leaderServices: (namespace, key, value) =>
      (services?.byIndex(BY_SELECTOR_PAIR, `${namespace}/${key}=${value}`) ?? []).map(
        (service) => ({
          service,
          slices: endpointSlices?.byIndex(BY_SERVICE, keyOf(namespace, service.name)) ?? [],
        }),
      ),
    ownedService: (namespace, name) => ownedServices?.get(keyOf(namespace, name)),
    ownedSlice: (namespace, name) => ownedSlices?.get(keyOf(namespace, name)),
    ownedBy: (namespace, uid) => ({
      services: ownedServices?.byIndex(BY_OWNER, `${namespace}/${uid}`) ?? [],
      slices: ownedSlices?.byIndex(BY_OWNER, `${namespace}/${uid}`) ?? [],
    }),
    stalledWatches,
    synced,
  };
}

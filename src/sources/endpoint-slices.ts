import { keyOf } from "./source.ts";
import { obj, str } from "./json.ts";
import { groupsRoutedBy } from "./services.ts";
import type { Source } from "./source.ts";

/** The label naming the Service an EndpointSlice belongs to. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** One endpoint of a slice: the pod it targets (or its first address) and whether it is ready. */
export interface CachedEndpoint {
  /** The target pod's name; for an endpoint without a Pod targetRef, its first address. */
  name: string;
  /** The target pod's uid; "" for an endpoint without a Pod targetRef. */
  uid: string;
  ready: boolean;
}

/**
 * The fields of an EndpointSlice that podium keeps: the Service it belongs
 * to and, per endpoint, the pod and its readiness; addresses, ports, zones
 * and hints are never held.
 */
export interface CachedEndpointSlice {
  namespace: string;
  name: string;
  service: string;
  endpoints: readonly CachedEndpoint[];
  /** Local time podium saw this slice's endpoints change (phase timings count from it). */
  observedAt: number;
}

/** Slices by their Service: "namespace/service". */
export const BY_SERVICE = "service";

/**
 * Reduces an EndpointSlice; undefined when it is not one or names no
 * Service. Unchanged endpoints keep the previous observedAt, so a re-list
 * does not look like a change.
 */
export function toCachedEndpointSlice(
  raw: unknown,
  now: number,
  previous?: CachedEndpointSlice,
): CachedEndpointSlice | undefined {
  const slice = obj(raw);
  const meta = obj(slice.metadata);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  const service = str(obj(meta.labels)[SERVICE_NAME_LABEL]);
  if (!namespace || !name || !service) return undefined;
  const list = Array.isArray(slice.endpoints) ? (slice.endpoints as unknown[]) : [];
  const endpoints = list.map(obj).map((e): CachedEndpoint => {
    const ref = obj(e.targetRef);
    const isPod = ref.kind === "Pod";
    const addresses = Array.isArray(e.addresses) ? (e.addresses as unknown[]) : [];
    // A nil ready means ready (discovery/v1: "unknown state … interpreted as ready").
    const ready = obj(e.conditions).ready !== false;
    return {
      name: (isPod ? str(ref.name) : undefined) ?? str(addresses[0]) ?? "",
      uid: (isPod ? str(ref.uid) : undefined) ?? "",
      ready,
    };
  });
  const same =
    previous?.service === service &&
    JSON.stringify(previous.endpoints) === JSON.stringify(endpoints);
  return {
    namespace,
    name,
    service,
    endpoints,
    observedAt: same ? previous.observedAt : now,
  };
}

/**
 * EndpointSlices, cached as {@link CachedEndpointSlice}. A slice carries no
 * selector, so nothing here detects a leader: an event concerns the groups
 * whose leader Service it belongs to (they report TrafficRouted and time
 * their cutovers from it), and only when its endpoints changed.
 */
export const endpointSliceSource: Source<CachedEndpointSlice> = {
  name: "endpointslices",
  path: (ns) =>
    `/apis/discovery.k8s.io/v1${ns === undefined ? "" : `/namespaces/${ns}`}/endpointslices`,
  reduce: (raw, now, previous) => toCachedEndpointSlice(raw, now, previous),
  indexes: {
    [BY_SERVICE]: (s) => [keyOf(s.namespace, s.service)],
  },
  *concerns({ type, item, old }, store) {
    if (type === "update" && old?.observedAt === item.observedAt) return;
    const service = store.service(item.namespace, item.service);
    if (service !== undefined) yield* groupsRoutedBy(service, store);
  },
};

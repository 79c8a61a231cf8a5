/**
 * EndpointSlice mode's own objects as sources: the Services and EndpointSlices podium created
 * for groups with spec.service, listed and watched by podium's label only, so that podium caches
 * nothing of anyone else's. A Service of the configured name that podium did not create is not
 * cached: the route phase reads it once when it finds none of its own (and refuses it).
 */
import {
  API_VERSION,
  ENDPOINTSLICE_MANAGED_BY_LABEL,
  ENDPOINTSLICE_MANAGER,
  KIND,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  SERVICE_NAME_LABEL,
} from "../api/constants.ts";
import type {
  RouteServicePort,
  OwnedServiceView,
  SliceEndpoint,
  SlicePort,
  OwnedSliceView,
} from "../election/index.ts";
import { obj, str, stringMap } from "./json.ts";
import type { Json } from "./json.ts";
import { keyOf } from "./source.ts";
import type { Source } from "./source.ts";

/** A Service as EndpointSlice mode reads it. */
export interface OwnedService extends OwnedServiceView {
  namespace: string;
  /** Names of the ElectionGroups among its owners (same namespace). */
  ownerGroups: readonly string[];
}

/** An EndpointSlice as EndpointSlice mode reads it. */
export interface OwnedSlice extends OwnedSliceView {
  namespace: string;
  ownerGroups: readonly string[];
}

/** The uids of an object's owners, and the names of the ElectionGroups among them. */
function ownersOf(meta: Json): { ownerUIDs: string[]; ownerGroups: string[] } {
  const refs = Array.isArray(meta.ownerReferences) ? (meta.ownerReferences as unknown[]) : [];
  const ownerUIDs: string[] = [];
  const ownerGroups: string[] = [];
  for (const ref of refs.map(obj)) {
    const uid = str(ref.uid);
    if (uid !== undefined && uid !== "") ownerUIDs.push(uid);
    const name = str(ref.name);
    if (ref.kind === KIND && ref.apiVersion === API_VERSION && name !== undefined) {
      ownerGroups.push(name);
    }
  }
  return { ownerUIDs, ownerGroups };
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as unknown[]).map(obj) : [];
}

/** Reduces a Service as the API server sends it; undefined when it is not one. */
export function toOwnedService(raw: unknown): OwnedService | undefined {
  const svc = obj(raw);
  const meta = obj(svc.metadata);
  const spec = obj(svc.spec);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  if (!namespace || !name) return undefined;
  const ports: RouteServicePort[] = list(spec.ports).map((p) => ({
    name: str(p.name) ?? "",
    port: typeof p.port === "number" ? p.port : 0,
    targetPort:
      typeof p.targetPort === "number" || typeof p.targetPort === "string" ? p.targetPort : 0,
    protocol: str(p.protocol) ?? "TCP",
  }));
  return {
    namespace,
    name,
    uid: str(meta.uid) ?? "",
    resourceVersion: str(meta.resourceVersion) ?? "",
    ...ownersOf(meta),
    hasSelector: Object.keys(stringMap(spec.selector)).length > 0,
    ports,
  };
}

/** Reduces an EndpointSlice as the API server sends it; undefined when it is not one. */
export function toOwnedSlice(raw: unknown): OwnedSlice | undefined {
  const slice = obj(raw);
  const meta = obj(slice.metadata);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  if (!namespace || !name) return undefined;
  const labels = stringMap(meta.labels);
  const endpoints: SliceEndpoint[] = list(slice.endpoints).map((e) => {
    const conditions = obj(e.conditions);
    const target = obj(e.targetRef);
    const endpoint: SliceEndpoint = {
      addresses: Array.isArray(e.addresses)
        ? (e.addresses as unknown[]).filter((a): a is string => typeof a === "string")
        : [],
      // The API's rule: a nil ready condition means ready.
      ready: conditions.ready !== false,
      serving: conditions.serving !== false,
      terminating: conditions.terminating === true,
    };
    const podName = target.kind === "Pod" ? str(target.name) : undefined;
    if (podName !== undefined) endpoint.podName = podName;
    const podUID = target.kind === "Pod" ? str(target.uid) : undefined;
    if (podUID !== undefined) endpoint.podUID = podUID;
    const nodeName = str(e.nodeName);
    if (nodeName !== undefined) endpoint.nodeName = nodeName;
    return endpoint;
  });
  const ports: SlicePort[] = list(slice.ports).map((p) => ({
    name: str(p.name) ?? "",
    port: typeof p.port === "number" ? p.port : 0,
    protocol: str(p.protocol) ?? "TCP",
  }));
  return {
    namespace,
    name,
    resourceVersion: str(meta.resourceVersion) ?? "",
    ...ownersOf(meta),
    managedBy: labels[ENDPOINTSLICE_MANAGED_BY_LABEL],
    serviceName: labels[SERVICE_NAME_LABEL],
    addressType: str(slice.addressType) ?? "",
    endpoints,
    ports,
  };
}

/** Owned objects by the uid of each owner: "namespace/uid". */
export const BY_OWNER = "owner";

/** The groups an owned object's change concerns: its owner groups, in its namespace. */
function ownerKeys(item: { namespace: string; ownerGroups: readonly string[] }): string[] {
  return item.ownerGroups.map((g) => keyOf(item.namespace, g));
}

/** Services podium created for EndpointSlice mode (label app.kubernetes.io/managed-by=podium). */
export const ownedServiceSource: Source<OwnedService> = {
  name: "services-podium",
  path: (ns) => `/api/v1${ns === undefined ? "" : `/namespaces/${ns}`}/services`,
  labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
  reduce: (raw) => toOwnedService(raw),
  indexes: { [BY_OWNER]: (s) => s.ownerUIDs.map((u) => `${s.namespace}/${u}`) },
  concerns: ({ item, old }) => new Set([...ownerKeys(item), ...(old ? ownerKeys(old) : [])]),
};

/** EndpointSlices podium manages (label endpointslice.kubernetes.io/managed-by=podium.dev). */
export const ownedSliceSource: Source<OwnedSlice> = {
  name: "endpointslices-podium",
  path: (ns) =>
    `/apis/discovery.k8s.io/v1${ns === undefined ? "" : `/namespaces/${ns}`}/endpointslices`,
  labelSelector: `${ENDPOINTSLICE_MANAGED_BY_LABEL}=${ENDPOINTSLICE_MANAGER}`,
  reduce: (raw) => toOwnedSlice(raw),
  indexes: { [BY_OWNER]: (s) => s.ownerUIDs.map((u) => `${s.namespace}/${u}`) },
  concerns: ({ item, old }) => new Set([...ownerKeys(item), ...(old ? ownerKeys(old) : [])]),
};

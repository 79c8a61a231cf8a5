/**
 * EndpointSlice mode (spec.service): what podium's selectorless Service and its one EndpointSlice
 * should be for the current holder, decided as values. The shell writes the Service once and the
 * slice with one optimistic update per change, so that a switch from the old leader to the new
 * one is a single write: a watcher of the slice never sees zero or two ready endpoints.
 */
import { ConditionType } from "../api/constants.ts";
import type { ElectionGroupStatus, ServicePortSpec, ServiceRouteSpec } from "../api/types.ts";
import { setCondition } from "./status.ts";
import type { ConditionState } from "./status.ts";

/** The holder pod as the route reads it (a CachedPod satisfies it). */
export interface RoutePod {
  name: string;
  uid: string;
  ready: boolean;
  terminating: boolean;
  podIP?: string;
  nodeName?: string;
  /** Container port name → number, from the pod spec. */
  namedPorts?: Readonly<Record<string, number>>;
}

/** A Service port as the API holds it. */
export interface RouteServicePort {
  name: string;
  port: number;
  targetPort: number | string;
  protocol: string;
}

/** What the route needs of an existing Service of the configured name. */
export interface OwnedServiceView {
  name: string;
  uid: string;
  resourceVersion: string;
  /** uids of metadata.ownerReferences. */
  ownerUIDs: readonly string[];
  hasSelector: boolean;
  ports: readonly RouteServicePort[];
}

/** One endpoint of an EndpointSlice, as far as the route reads it. */
export interface SliceEndpoint {
  addresses: readonly string[];
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  podName?: string;
  podUID?: string;
  nodeName?: string;
}

/** One port of an EndpointSlice. */
export interface SlicePort {
  name: string;
  port: number;
  protocol: string;
}

/** What the route needs of an existing EndpointSlice of podium's name for the Service. */
export interface OwnedSliceView {
  name: string;
  resourceVersion: string;
  ownerUIDs: readonly string[];
  /** endpointslice.kubernetes.io/managed-by */
  managedBy: string | undefined;
  /** kubernetes.io/service-name */
  serviceName: string | undefined;
  addressType: string;
  endpoints: readonly SliceEndpoint[];
  ports: readonly SlicePort[];
}

/** The content of podium's EndpointSlice (the shell adds metadata and owner). */
export interface DesiredSlice {
  name: string;
  serviceName: string;
  addressType: "IPv4" | "IPv6";
  endpoints: SliceEndpoint[];
  ports: SlicePort[];
}

/** Everything the route decides from. */
export interface RouteInput {
  groupUID: string;
  /** spec.service, validated. */
  spec: ServiceRouteSpec;
  /** The pod that holds the Lease and the leader label after this reconcile; undefined: none. */
  holder: RoutePod | undefined;
  /** The Service of spec.service.name as it exists, if it does. */
  service: OwnedServiceView | undefined;
  /** The EndpointSlice of {@link sliceNameOf} as it exists, if it does. */
  slice: OwnedSliceView | undefined;
  /** The controller that manages podium's slices (endpointslice.kubernetes.io/managed-by). */
  manager: string;
}

/** The one condition the route reports, and its reason. */
export type RouteCondition = ConditionState;

/** What to write; nothing at all when `conflict` is set. */
export interface RoutePlan {
  /** The Service or slice is someone else's: nothing is written. */
  conflict?: string;
  /** Create the selectorless Service with these ports. */
  createService?: RouteServicePort[];
  /** Replace the ports of podium's Service (spec.service.ports changed), at this version. */
  updateService?: { resourceVersion: string; ports: RouteServicePort[] };
  /** Create the slice, or update it at `resourceVersion`: one write moves the endpoint. */
  slice?: { resourceVersion: string | undefined; desired: DesiredSlice };
  /** The pod the slice lists as ready before and after, when that changes ("" for none). */
  switched?: { from: string; to: string };
  /** Container ports the holder lacks, as field paths with the name, for the Event and log. */
  unresolved: string[];
  condition: RouteCondition;
}

/** The name of podium's EndpointSlice for Service `service`. */
export function sliceNameOf(service: string): string {
  return `${service}-podium`;
}

/** The ports of the Service for `spec` (targetPort is informational on a selectorless Service). */
export function servicePortsOf(spec: ServiceRouteSpec): RouteServicePort[] {
  return spec.ports.map((p) => ({
    name: p.name,
    port: p.port,
    targetPort: p.targetPort,
    protocol: p.protocol,
  }));
}

/**
 * Resolves each port of `spec` on `pod`: a number as given, a name through the pod's container
 * ports. Returns the slice's ports and the fields whose name the pod does not have.
 */
export function resolvePorts(
  ports: readonly ServicePortSpec[],
  pod: RoutePod | undefined,
): { ports: SlicePort[]; unresolved: string[] } {
  const out: SlicePort[] = [];
  const unresolved: string[] = [];
  ports.forEach((p, i) => {
    const number =
      typeof p.targetPort === "number" ? p.targetPort : pod?.namedPorts?.[p.targetPort];
    if (number === undefined) {
      if (pod !== undefined) {
        unresolved.push(
          `spec.service.ports[${String(i)}].targetPort (no container port named ${String(p.targetPort)})`,
        );
      }
      return;
    }
    out.push({ name: p.name, port: number, protocol: p.protocol });
  });
  return { ports: out, unresolved };
}

/** The ready pod a slice lists, or "" when it lists none ready (several: joined by ","). */
export function readyPodsOf(slice: Pick<OwnedSliceView, "endpoints"> | undefined): string {
  return (slice?.endpoints ?? [])
    .filter((e) => e.ready)
    .map((e) => e.podName ?? e.addresses.join("/"))
    .join(",");
}

/**
 * Decides podium's Service and EndpointSlice for the holder. A Service podium did not create
 * (no owner reference to the group) or that has a selector, and a slice of podium's name that
 * is not managed by podium or owned by the group, are refused: nothing is written.
 */
export function decideRoute(input: RouteInput): RoutePlan {
  const { spec, holder, service, slice, groupUID, manager } = input;
  const sliceName = sliceNameOf(spec.name);
  const conflict = conflictOf(input, sliceName);
  if (conflict !== undefined) {
    return {
      conflict,
      unresolved: [],
      condition: { status: "False", reason: "ServiceConflict", message: conflict },
    };
  }
  const plan: RoutePlan = {
    unresolved: [],
    condition: { status: "False", reason: "", message: "" },
  };
  const ports = servicePortsOf(spec);
  if (service === undefined) plan.createService = ports;
  else if (!samePorts(service.ports, ports)) {
    plan.updateService = { resourceVersion: service.resourceVersion, ports };
  }

  const resolved = resolvePorts(spec.ports, holder);
  plan.unresolved = resolved.unresolved;
  const routable = holder?.podIP !== undefined && resolved.unresolved.length === 0;
  const endpoints: SliceEndpoint[] = [];
  if (routable) {
    const endpoint: SliceEndpoint = {
      addresses: [holder.podIP ?? ""],
      ready: holder.ready && !holder.terminating,
      serving: holder.ready,
      terminating: holder.terminating,
      podName: holder.name,
      podUID: holder.uid,
    };
    if (holder.nodeName !== undefined) endpoint.nodeName = holder.nodeName;
    endpoints.push(endpoint);
  }
  const desired: DesiredSlice = {
    name: sliceName,
    serviceName: spec.name,
    addressType:
      slice?.addressType === "IPv6" || (holder?.podIP ?? "").includes(":") ? "IPv6" : "IPv4",
    endpoints,
    ports: resolved.ports,
  };
  if (slice === undefined || !sameSlice(slice, desired, manager, groupUID)) {
    plan.slice = { resourceVersion: slice?.resourceVersion, desired };
  }
  const before = readyPodsOf(slice);
  const after = readyPodsOf(desired);
  if (before !== after) plan.switched = { from: before, to: after };
  plan.condition = conditionOf(spec.name, sliceName, holder, endpoints, resolved.unresolved);
  return plan;
}

function conflictOf(input: RouteInput, sliceName: string): string | undefined {
  const { spec, service, slice, groupUID, manager } = input;
  if (service !== undefined && !service.ownerUIDs.includes(groupUID)) {
    return `Service ${spec.name} exists and was not created by this group (no owner reference to it); podium leaves it alone: delete it or choose another spec.service.name`;
  }
  if (service?.hasSelector === true) {
    return `Service ${spec.name} has a selector: the EndpointSlice controller would route it too; podium leaves it alone: remove the selector or delete the Service`;
  }
  if (slice !== undefined && (slice.managedBy !== manager || !slice.ownerUIDs.includes(groupUID))) {
    return `EndpointSlice ${sliceName} exists and is not managed by podium for this group (endpointslice.kubernetes.io/managed-by: ${slice.managedBy ?? "unset"}); podium leaves it alone`;
  }
  return undefined;
}

function conditionOf(
  serviceName: string,
  sliceName: string,
  holder: RoutePod | undefined,
  endpoints: readonly SliceEndpoint[],
  unresolved: readonly string[],
): RouteCondition {
  if (holder === undefined) {
    return {
      status: "False",
      reason: "NoHolder",
      message: `no pod leads: EndpointSlice ${sliceName} of Service ${serviceName} lists no endpoint`,
    };
  }
  if (unresolved.length > 0) {
    return {
      status: "False",
      reason: "PortNotFound",
      message: `holder ${holder.name} lacks ports: ${unresolved.join("; ")}; EndpointSlice ${sliceName} lists no endpoint`,
    };
  }
  if (holder.podIP === undefined) {
    return {
      status: "False",
      reason: "NoPodIP",
      message: `holder ${holder.name} has no pod IP yet; EndpointSlice ${sliceName} lists no endpoint`,
    };
  }
  if (endpoints[0]?.ready !== true) {
    return {
      status: "False",
      reason: "HolderNotReady",
      message: `EndpointSlice ${sliceName} lists holder ${holder.name} (${holder.podIP}) as not ready`,
    };
  }
  return {
    status: "True",
    reason: "Routed",
    message: `EndpointSlice ${sliceName} of Service ${serviceName} lists exactly the holder ${holder.name} (${holder.podIP}), ready`,
  };
}

function samePorts(a: readonly RouteServicePort[], b: readonly RouteServicePort[]): boolean {
  const key = (p: RouteServicePort): string =>
    `${p.name}|${String(p.port)}|${String(p.targetPort)}|${p.protocol}`;
  return a.length === b.length && a.every((p, i) => b[i] !== undefined && key(p) === key(b[i]));
}

function sameSlice(
  slice: OwnedSliceView,
  desired: DesiredSlice,
  manager: string,
  groupUID: string,
): boolean {
  const endpointKey = (e: SliceEndpoint): string =>
    JSON.stringify([
      e.addresses,
      e.ready,
      e.serving,
      e.terminating,
      e.podName ?? "",
      e.podUID ?? "",
      e.nodeName ?? "",
    ]);
  const portKey = (p: SlicePort): string => `${p.name}|${String(p.port)}|${p.protocol}`;
  return (
    slice.managedBy === manager &&
    slice.ownerUIDs.includes(groupUID) &&
    slice.serviceName === desired.serviceName &&
    slice.addressType === desired.addressType &&
    slice.endpoints.map(endpointKey).join("\n") === desired.endpoints.map(endpointKey).join("\n") &&
    slice.ports.map(portKey).join("\n") === desired.ports.map(portKey).join("\n")
  );
}

/**
 * Sets the ServiceRouted condition in `status`, or removes it when the group has no
 * spec.service (`condition` undefined): a condition about a Service podium no longer keeps
 * would say nothing true.
 */
export function fillServiceRouted(
  status: ElectionGroupStatus,
  condition: RouteCondition | undefined,
  generation: number,
  nowIso: string,
): void {
  const type = ConditionType.ServiceRouted;
  if (condition === undefined) {
    if (status.conditions?.some((c) => c.type === type) === true) {
      status.conditions = status.conditions.filter((c) => c.type !== type);
    }
    return;
  }
  status.conditions = setCondition(
    status.conditions,
    { type, observedGeneration: generation, ...condition },
    nowIso,
  );
}

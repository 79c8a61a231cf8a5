/**
 * Whether traffic reaches the leader: which Services route to a group's
 * leader, and what their EndpointSlices list. Pure: the shell gathers the
 * Services and endpoints from its caches.
 */
import type { Condition, ElectionGroupStatus, LeaderLabel } from "../api/types.ts";
import { setCondition } from "./status.ts";

/** One endpoint a Service's slices list: the pod it targets and whether it is ready. */
export interface EndpointView {
  name: string;
  uid: string;
  ready: boolean;
}

/** A Service whose selector contains the leader label, with every endpoint of its slices. */
export interface ServiceView {
  name: string;
  selector: Readonly<Record<string, string>>;
  endpoints: readonly EndpointView[];
}

/** A pod of the group as traffic routing reads it. */
export interface LabelledPodView {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** What TrafficRouted says; Unknown when no Service routes to the leader or podium does not look. */
export interface TrafficState {
  status: "True" | "False" | "Unknown";
  reason: TrafficReason;
  message: string;
}

/** The reasons of the TrafficRouted condition. */
export const TrafficReason = {
  /** Every leader Service lists exactly the holder as ready. */
  Routed: "Routed",
  /** A leader Service does not list the holder, or still lists another pod of the group. */
  TrafficNotRouted: "TrafficNotRouted",
  /** A leader Service lists a ready pod that is not of the group: its selector catches a non-leader. */
  ServiceSelectsNonLeader: "ServiceSelectsNonLeader",
  /** No Service of the namespace routes to the group's leader. */
  NoLeaderService: "NoLeaderService",
  /** podium does not watch Services and EndpointSlices (--traffic-routing=off). */
  TrafficRoutingOff: "TrafficRoutingOff",
} as const;
export type TrafficReason = (typeof TrafficReason)[keyof typeof TrafficReason];

/**
 * Whether `selector` (a Service's) routes to the group's leader: the leader
 * label completes it. It contains the leader label, and with the label added
 * it matches the holder (when leaderless, some pod of the group). A pod
 * without the label then never matches, so only the leader is reached.
 */
export function routesToLeader(
  selector: Readonly<Record<string, string>>,
  label: LeaderLabel,
  pods: readonly LabelledPodView[],
  holder: string | undefined,
): boolean {
  if (selector[label.key] !== label.value) return false;
  const matches = (p: LabelledPodView): boolean => {
    const labels: Record<string, string> = { ...p.labels, [label.key]: label.value };
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
  };
  const h = holder === undefined ? undefined : pods.find((p) => p.name === holder);
  return h !== undefined ? matches(h) : pods.some(matches);
}

/** The Services among `candidates` that route to the group's leader, by name. */
export function leaderServices(
  candidates: readonly ServiceView[],
  label: LeaderLabel,
  pods: readonly LabelledPodView[],
  holder: string | undefined,
): ServiceView[] {
  return candidates
    .filter((s) => routesToLeader(s.selector, label, pods, holder))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The names of the pods `service` lists as ready, each once (dual-stack slices repeat them). */
export function readyEndpoints(service: ServiceView): string[] {
  return [...new Set(service.endpoints.filter((e) => e.ready).map((e) => e.name))].sort();
}

/** Whether any of `services` lists pod `name` as ready. */
export function anyListsReady(services: readonly ServiceView[], name: string): boolean {
  return services.some((s) => s.endpoints.some((e) => e.ready && e.name === name));
}

/** Whether every one of `services` lists exactly pod `name` as ready, and no other. */
export function allListExactly(services: readonly ServiceView[], name: string): boolean {
  return services.every((s) => {
    const ready = readyEndpoints(s);
    return ready.length === 1 && ready[0] === name;
  });
}

/** "web-0 (ready), web-1 (not ready)" or "no endpoint". */
function describeEndpoints(service: ServiceView): string {
  const byName = new Map<string, boolean>();
  for (const e of service.endpoints) byName.set(e.name, (byName.get(e.name) ?? false) || e.ready);
  if (byName.size === 0) return "no endpoint";
  return [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([n, ready]) => `${n} (${ready ? "ready" : "not ready"})`)
    .join(", ");
}

/**
 * TrafficRouted for `services` (those that route to the leader, see
 * {@link leaderServices}): True when every one lists exactly the holder as
 * ready; False with ServiceSelectsNonLeader when one lists a ready pod that
 * is not of the group (its selector catches a non-leader: a lasting
 * misconfiguration), else False with TrafficNotRouted when one does not list
 * the holder or still lists another pod of the group (a cutover in
 * progress); Unknown when there is no such Service.
 */
export function trafficRouted(
  services: readonly ServiceView[],
  pods: readonly LabelledPodView[],
  holder: string | undefined,
  label: LeaderLabel,
): TrafficState {
  if (services.length === 0) {
    return {
      status: "Unknown",
      reason: TrafficReason.NoLeaderService,
      message: `no Service in the namespace selects the leader label ${label.key}=${label.value} together with the group's pods`,
    };
  }
  const names = services.map((s) => s.name).join(", ");
  const inGroup = new Set(pods.map((p) => p.name));
  const nonLeader: string[] = [];
  const notRouted: string[] = [];
  for (const s of services) {
    const ready = readyEndpoints(s);
    const strangers = ready.filter((n) => n !== holder && !inGroup.has(n));
    if (strangers.length > 0) {
      nonLeader.push(
        `Service ${s.name} also selects ${strangers.join(", ")}, not ${strangers.length === 1 ? "a pod" : "pods"} of the group (it lists ${describeEndpoints(s)})`,
      );
    } else if (holder === undefined || ready.length !== 1 || ready[0] !== holder) {
      notRouted.push(`Service ${s.name} lists ${describeEndpoints(s)}`);
    }
  }
  if (nonLeader.length > 0) {
    return {
      status: "False",
      reason: TrafficReason.ServiceSelectsNonLeader,
      message: [...nonLeader, ...notRouted].join("; "),
    };
  }
  if (notRouted.length > 0) {
    const want = holder === undefined ? "the group has no leader" : `the leader is ${holder}`;
    return {
      status: "False",
      reason: TrafficReason.TrafficNotRouted,
      message: `${notRouted.join("; ")}; ${want}`,
    };
  }
  return {
    status: "True",
    reason: TrafficReason.Routed,
    message: `${services.length === 1 ? "Service" : "Services"} ${names} ${services.length === 1 ? "lists" : "list"} exactly the leader ${holder ?? ""} as ready`,
  };
}

/** TrafficRouted when podium does not watch Services (`--traffic-routing=off`). */
export const TRAFFIC_NOT_WATCHED: TrafficState = {
  status: "Unknown",
  reason: TrafficReason.TrafficRoutingOff,
  message: "podium does not watch Services and EndpointSlices (--traffic-routing=off)",
};

/**
 * Writes TrafficRouted into `status` and relates it to Ready: while traffic
 * is not routed (False), Ready is False with the same reason and message, so
 * that kstatus does not call the group converged while a Service still
 * reaches the old leader, or none yet. Unknown TrafficRouted (no leader
 * Service, or not watched) leaves Ready as it is. Call after fillStatus.
 */
export function fillTraffic(
  status: ElectionGroupStatus,
  traffic: TrafficState,
  generation: number,
  nowIso: string,
): void {
  const observedGeneration = generation;
  const last = status.history?.[0];
  const note =
    last?.cutover === "TimedOut"
      ? `; the last cutover (to ${last.to}, epoch ${String(last.epoch)}) was not verified: the new leader was labelled while a Service still listed the old one`
      : "";
  status.conditions = setCondition(
    status.conditions,
    { type: "TrafficRouted", observedGeneration, ...traffic, message: traffic.message + note },
    nowIso,
  );
  const ready = status.conditions.find((c: Condition) => c.type === "Ready");
  if (traffic.status === "False" && ready?.status === "True") {
    status.conditions = setCondition(
      status.conditions,
      {
        type: "Ready",
        observedGeneration,
        status: "False",
        reason: traffic.reason,
        message: `a leader is elected, but traffic does not reach it alone: ${traffic.message}`,
      },
      nowIso,
    );
  }
}

/**
 * The traffic side of a reconcile: gathering the Services that route to the
 * leader from the caches, and the verify phase of a Verified cutover.
 */
import { EventReason } from "../api/constants.ts";
import type { ElectionGroupSpec } from "../api/types.ts";
import { cutoverOf } from "../api/defaults.ts";
import {
  anyListsReady,
  leaderServices,
  TRAFFIC_NOT_WATCHED,
  trafficRouted,
} from "../election/index.ts";
import type { Plan, ServiceView, TrafficState } from "../election/index.ts";
import { sleep } from "../kube/clock.ts";
import type { Clock } from "../kube/clock.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { CachedPod } from "../sources/pods.ts";
import type { Store } from "../sources/store.ts";
import type { Loaded } from "./load.ts";
import { subjectOf } from "./report.ts";

/** The Services that route to a group's leader, and when their slices last changed. */
export interface TrafficView {
  services: ServiceView[];
  /** The latest local time any of their EndpointSlices was seen to change; 0 when none. */
  changedAt: number;
}

/**
 * The Services of the group's namespace that route to its leader (holder
 * `holder`, or any pod when leaderless), each with its slices' endpoints.
 */
export function viewTraffic(
  store: Store,
  namespace: string,
  spec: Pick<ElectionGroupSpec, "leaderLabel">,
  pods: readonly CachedPod[],
  holder: string | undefined,
): TrafficView {
  const { key, value } = spec.leaderLabel;
  let changedAt = 0;
  const candidates: ServiceView[] = [];
  const times = new Map<string, number>();
  for (const { service, slices } of store.leaderServices(namespace, key, value)) {
    candidates.push({
      name: service.name,
      selector: service.selector,
      endpoints: slices.flatMap((s) => s.endpoints),
    });
    times.set(service.name, Math.max(0, ...slices.map((s) => s.observedAt)));
  }
  const services = leaderServices(candidates, spec.leaderLabel, pods, holder);
  for (const s of services) changedAt = Math.max(changedAt, times.get(s.name) ?? 0);
  return { services, changedAt };
}

/** TrafficRouted for the group as its status will say it, with the view it was judged from. */
export function judgeTraffic(
  store: Store,
  loaded: Loaded,
  spec: ElectionGroupSpec,
  holder: string | undefined,
): { state: TrafficState; view: TrafficView } {
  if (!store.watchesTraffic()) {
    return { state: TRAFFIC_NOT_WATCHED, view: { services: [], changedAt: 0 } };
  }
  const { namespace } = loaded.group.metadata;
  const view = viewTraffic(store, namespace, spec, loaded.pods, holder);
  return { state: trafficRouted(view.services, loaded.pods, holder, spec.leaderLabel), view };
}

/** What the verify phase needs. */
export interface VerifyDeps {
  store: Store;
  recorder: EventRecorder;
  clock: Clock;
}

/** How the verify phase ended: not needed (Immediate, no old leader listed), Verified or TimedOut. */
export interface VerifyResult {
  outcome: "NotNeeded" | "Verified" | "TimedOut";
  /** When the old leader was seen to leave the last Service (local time). */
  oldGoneAt?: number;
}

/** How often the verify phase looks at the caches again while it waits. */
export const VERIFY_POLL_MS = 10;

/**
 * Verify (Verified cutover, between the Lease and the new label): waits until
 * no Service that routes to the leader lists the old leader as ready, so that
 * no Service ever lists two leaders and kube-controller-manager's slice
 * cache is current before the new label reaches it. Bounded by
 * spec.cutover.timeoutSeconds: then the new leader is labelled anyway, with a
 * CutoverUnverified Event and a log line (the history entry says TimedOut,
 * TrafficRouted's message says it too).
 */
export async function verifyCutover(
  deps: VerifyDeps,
  loaded: Loaded,
  plan: Plan,
  spec: ElectionGroupSpec,
  signal: AbortSignal,
  log: Logger,
): Promise<VerifyResult> {
  const { transition } = plan;
  const { mode, timeoutSeconds } = cutoverOf(spec);
  if (
    mode !== "Verified" ||
    !deps.store.watchesTraffic() ||
    transition === undefined ||
    transition.from === "" ||
    transition.to === ""
  ) {
    return { outcome: "NotNeeded" };
  }
  const { namespace } = loaded.group.metadata;
  const old = transition.from;
  const listed = (): TrafficView =>
    viewTraffic(deps.store, namespace, spec, loaded.pods, transition.to);
  const first = listed();
  if (!anyListsReady(first.services, old)) {
    return { outcome: "Verified", oldGoneAt: first.changedAt };
  }
  const deadline = deps.clock.now() + timeoutSeconds * 1000;
  while (deps.clock.now() < deadline && !signal.aborted) {
    await sleep(deps.clock, Math.min(VERIFY_POLL_MS, deadline - deps.clock.now()), signal);
    const view = listed();
    if (!anyListsReady(view.services, old)) {
      return {
        outcome: "Verified",
        oldGoneAt: view.changedAt > 0 ? view.changedAt : deps.clock.now(),
      };
    }
  }
  const still = listed()
    .services.filter((s) => anyListsReady([s], old))
    .map((s) => s.name);
  const message = `cutover to ${transition.to} not verified: after ${String(timeoutSeconds)}s ${still.length === 1 ? "Service" : "Services"} ${still.join(", ")} still ${still.length === 1 ? "lists" : "list"} the old leader ${old} as ready; labelled the new leader anyway`;
  deps.recorder.record(
    subjectOf(loaded.group),
    "Warning",
    EventReason.CutoverUnverified,
    "Cutover",
    message,
  );
  log.info({ reason: EventReason.CutoverUnverified, services: still, from: old }, message);
  return { outcome: "TimedOut" };
}

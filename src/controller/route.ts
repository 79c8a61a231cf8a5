/**
 * The route phase (EndpointSlice mode, after make): keeps podium's selectorless Service and its
 * one EndpointSlice on the holder. The slice moves from the old holder to the new in one
 * optimistic write, so no watcher ever sees it list zero or two ready endpoints in between.
 */
import { Counter } from "prom-client";
import type { Registry } from "prom-client";
import { ConditionType, ENDPOINTSLICE_MANAGER, EventReason } from "../api/constants.ts";
import type { ElectionGroup, ElectionGroupSpec } from "../api/types.ts";
import { decideRoute, getCondition, sliceNameOf } from "../election/index.ts";
import type { RouteCondition, RoutePod } from "../election/index.ts";
import { perRegistry } from "../kube/metrics.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OwnedSlice } from "../sources/owned-services.ts";
import { keyOf } from "../sources/source.ts";
import type { Store } from "../sources/store.ts";
import { subjectOf } from "./report.ts";
import type { RouteWriter } from "./route-writer.ts";

/** What the route phase reads and writes through. */
export interface RouteDeps {
  store: Store;
  routeWriter: RouteWriter;
  recorder: EventRecorder;
  registry: Registry;
  now: () => number;
}

/** How the route phase ended. */
export interface RouteResult {
  /** The ServiceRouted condition; undefined when the group has no spec.service. */
  condition: RouteCondition | undefined;
  /** A write lost a race (or met an object created meanwhile): decide again shortly. */
  retry: boolean;
  /** When the slice write that moved the endpoint completed (epoch ms), if one did. */
  switchedAt?: number;
}

const sliceWrites = perRegistry(
  (registry) =>
    new Counter({
      name: "podium_endpointslice_writes_total",
      help: "EndpointSlice mode: writes of podium's EndpointSlices, by outcome (ok, conflict, gone).",
      labelNames: ["namespace", "name", "outcome"],
      registers: [registry],
    }),
);

/**
 * Keeps the Service and slice of each group with spec.service. Remembers the slices it wrote
 * until the cache shows them (read-own-writes), so that a reconcile that runs before the echo
 * arrives does not lose a round trip to a 409.
 */
export class Router {
  readonly #deps: RouteDeps;
  /** namespace/name → the slice podium wrote, and the version the write replaced. */
  readonly #written = new Map<string, { replaced: string | undefined; slice: OwnedSlice }>();

  constructor(deps: RouteDeps) {
    this.#deps = deps;
  }

  /** The route phase for `group`; `holder` is the pod that leads after this reconcile. */
  async route(
    group: ElectionGroup,
    spec: ElectionGroupSpec,
    holder: RoutePod | undefined,
    signal: AbortSignal,
    log: Logger,
  ): Promise<RouteResult> {
    const { store, routeWriter, recorder } = this.#deps;
    const { namespace, uid } = group.metadata;
    const wanted = spec.service;
    await this.#removeStale(group, wanted?.name, signal, log);
    if (wanted === undefined) return { condition: undefined, retry: false };

    const sliceName = sliceNameOf(wanted.name);
    const service =
      store.ownedService(namespace, wanted.name) ??
      (await routeWriter.readService(namespace, wanted.name, signal));
    const slice =
      this.#ownSlice(namespace, sliceName) ??
      (await routeWriter.readSlice(namespace, sliceName, signal));
    const plan = decideRoute({
      groupUID: uid,
      spec: wanted,
      holder,
      service,
      slice,
      manager: ENDPOINTSLICE_MANAGER,
    });
    const previous = getCondition(group.status?.conditions, ConditionType.ServiceRouted);
    const changed =
      previous?.reason !== plan.condition.reason || previous.message !== plan.condition.message;

    if (plan.conflict !== undefined) {
      if (changed) {
        recorder.record(
          subjectOf(group),
          "Warning",
          EventReason.ServiceConflict,
          "Route",
          plan.conflict,
        );
        log.info({ reason: EventReason.ServiceConflict, service: wanted.name }, plan.conflict);
      }
      return { condition: plan.condition, retry: false };
    }

    if (plan.createService !== undefined) {
      const outcome = await routeWriter.createService(
        group,
        wanted.name,
        plan.createService,
        signal,
      );
      if (outcome !== "ok") return { condition: plan.condition, retry: true };
      log.info({ service: wanted.name }, "created the selectorless Service of EndpointSlice mode");
    } else if (plan.updateService !== undefined) {
      const { resourceVersion, ports } = plan.updateService;
      const outcome = await routeWriter.updateServicePorts(
        namespace,
        wanted.name,
        resourceVersion,
        ports,
        signal,
      );
      if (outcome !== "ok") return { condition: plan.condition, retry: true };
      log.info({ service: wanted.name }, "updated the Service's ports to spec.service.ports");
    }

    const result: RouteResult = { condition: plan.condition, retry: false };
    if (plan.slice !== undefined) {
      const { desired, resourceVersion } = plan.slice;
      const { outcome, written } = await routeWriter.writeSlice(
        group,
        desired,
        resourceVersion,
        signal,
      );
      sliceWrites(this.#deps.registry).inc({ namespace, name: group.metadata.name, outcome });
      const key = keyOf(namespace, sliceName);
      if (outcome !== "ok") {
        this.#written.delete(key);
        log.debug({ slice: sliceName, outcome }, "EndpointSlice write lost a race; deciding again");
        return { condition: plan.condition, retry: true };
      }
      if (written !== undefined)
        this.#written.set(key, { replaced: resourceVersion, slice: written });
      if (plan.switched !== undefined) {
        result.switchedAt = this.#deps.now();
        const { from, to } = plan.switched;
        const message =
          `EndpointSlice ${sliceName} of Service ${wanted.name} lists ` +
          (to === "" ? "no ready endpoint" : `pod ${to}`) +
          (from === "" ? "" : ` (was ${from})`);
        recorder.record(subjectOf(group), "Normal", EventReason.ServiceRouted, "Route", message);
        log.info({ slice: sliceName, from, to }, "moved the EndpointSlice in one write");
      }
    }
    if (plan.unresolved.length > 0 && changed) {
      recorder.record(
        subjectOf(group),
        "Warning",
        EventReason.ServicePortNotFound,
        "Route",
        plan.condition.message,
      );
      log.info({ unresolved: plan.unresolved }, plan.condition.message);
    }
    return result;
  }

  /** The slice podium wrote, while the cache still shows the version it replaced; else the cache's. */
  #ownSlice(namespace: string, name: string): OwnedSlice | undefined {
    const key = keyOf(namespace, name);
    const cached = this.#deps.store.ownedSlice(namespace, name);
    const mine = this.#written.get(key);
    if (mine === undefined) return cached;
    if (
      cached === undefined ? mine.replaced === undefined : cached.resourceVersion === mine.replaced
    ) {
      return mine.slice;
    }
    this.#written.delete(key);
    return cached;
  }

  /**
   * Deletes the Services and slices this group owns under another name than spec.service's
   * (renamed or removed): podium's own objects only, found by owner reference.
   */
  async #removeStale(
    group: ElectionGroup,
    keep: string | undefined,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const { namespace, uid } = group.metadata;
    const { services, slices } = this.#deps.store.ownedBy(namespace, uid);
    for (const s of services) {
      if (s.name === keep) continue;
      await this.#deps.routeWriter.deleteService(namespace, s.name, s.uid, signal);
      log.info(
        { service: s.name },
        "deleted a Service of EndpointSlice mode no longer in spec.service",
      );
    }
    for (const s of slices) {
      if (keep !== undefined && s.name === sliceNameOf(keep)) continue;
      await this.#deps.routeWriter.deleteSlice(namespace, s.name, signal);
      this.#written.delete(keyOf(namespace, s.name));
      log.info({ slice: s.name }, "deleted an EndpointSlice no longer in spec.service");
    }
  }
}

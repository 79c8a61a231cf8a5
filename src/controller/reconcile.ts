import { EventReason } from "../api/constants.ts";
import {
  blockerMessage,
  fillNodeDisruption,
  fillRefusal,
  fillServiceRouted,
  fillStatus,
  fillTraffic,
  gate,
  nodeHeartbeatGraceMs,
  plan,
} from "../election/index.ts";
import { fillFailedProbes, fillProbeCondition } from "../election/index.ts";
import type { Blocker, Gate, Plan, ProbeRecord } from "../election/index.ts";
import type { ElectionGroupSpec } from "../api/types.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import { realClock } from "../kube/clock.ts";
import type { Clock } from "../kube/clock.ts";
import type { Result } from "../kube/workers.ts";
import type { SpecValidations } from "../sources/groups.ts";
import type { Store } from "../sources/store.ts";
import { breakLabels, makeLabel, writeLease } from "./act.ts";
import { Cutovers, labelPhases, withCutover } from "./cutover.ts";
import { ensureFinalizer, finalize } from "./finalize.ts";
import { GroupMetrics } from "./group-metrics.ts";
import { warnUnmappedHolder } from "./holder-notice.ts";
import { load } from "./load.ts";
import { forgetNodeDisruption, reportNodeDisruption } from "./node-report.ts";
import type { Loaded } from "./load.ts";
import type { OwnWrites } from "./own-writes.ts";
import type { RenewalScheduler } from "./renewals.ts";
import type { NodeRechecks } from "./node-rechecks.ts";
import {
  recordOncePerGeneration,
  reportLabelConflict,
  reportTransition,
  writeStatus,
} from "./report.ts";
import { judgeTraffic, verifyCutover } from "./traffic.ts";
import type { Writer } from "./writer.ts";
import { Router } from "./route.ts";
import type { RouteResult } from "./route.ts";
import type { RouteWriter } from "./route-writer.ts";
import type { Prober } from "./prober.ts";
import { syncProbes } from "./probe-report.ts";

/** Everything a reconcile reads and writes through. */
export interface ReconcilerDeps {
  store: Store;
  validations: SpecValidations;
  ownWrites: OwnWrites;
  writer: Writer;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  now: () => number;
  /** Timers of the verify phase; the wall clock when absent. */
  clock?: Clock;
  /** EndpointSlice mode's API calls; without it, spec.service is not acted on (unit tests). */
  routeWriter?: RouteWriter;
  /** Probes holders of groups with spec.failureDetection.probe; absent: nobody is probed. */
  prober?: Prober;
  probeRecord?: (groupKey: string, uid: string) => ProbeRecord | undefined;
  /**
   * Renews held Managed Leases on its own schedule (controller/renewals.ts);
   * without it, a group is requeued for each renewal and renewed by a reconcile.
   */
  renewals?: RenewalScheduler;
  /**
   * Watches lean groups' holders' nodes with one timer per node; without it,
   * a group is requeued for the instant its holder's heartbeat goes stale.
   */
  nodeRechecks?: NodeRechecks;
}

/** One reconcile's request: the group, the abort signal, when its cause was seen, its logger. */
export interface ReconcileRequest {
  namespace: string;
  name: string;
  /** Aborts the moment this replica stops leading the operator; every write takes it. */
  signal: AbortSignal;
  /** When the change that queued this reconcile was first seen (fail-over durations count from it). */
  detectedAt: number;
  log: Logger;
}

/** A 409 means the cache is behind a write; its watch event is on the way. */
const CONFLICT_RETRY_MS = 250;

/**
 * Reconciles ElectionGroups as a short list of phases:
 * load → gate → finalizer → decide → break → lease → verify → make → route → traffic → report.
 * The decision ({@link plan}) is complete and pure; the phases here only
 * read, ask and write, in that order, each write only after the previous one
 * succeeded.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #groupMetrics: GroupMetrics;
  readonly #cutovers: Cutovers;
  readonly #router: Router | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#groupMetrics = new GroupMetrics(deps.metrics);
    this.#cutovers = new Cutovers(deps.metrics);
    const { routeWriter } = deps;
    this.#router =
      routeWriter &&
      new Router({ ...deps, routeWriter, registry: deps.metrics.registry, now: deps.now });
  }

  async reconcile(req: ReconcileRequest): Promise<Result> {
    const deps = this.#deps;
    const { namespace, name, signal, log } = req;

    // load
    const loaded = load(deps, namespace, name);
    if (loaded === undefined) {
      deps.renewals?.cancel(`${namespace}/${name}`);
      deps.nodeRechecks?.forget(`${namespace}/${name}`);
      this.#groupMetrics.forget(namespace, name);
      forgetNodeDisruption(deps.metrics, namespace, name);
      deps.prober?.forget(`${namespace}/${name}`);
      deps.ownWrites.forgetGroup(namespace, name);
      this.#cutovers.forget(`${namespace}/${name}`);
      return {};
    }
    const { group } = loaded;

    // gate
    const verdict = gateOf(loaded);
    if (group.metadata.deletionTimestamp !== undefined) {
      if (!(await finalize(deps, loaded, verdict, signal, log))) {
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      this.#groupMetrics.forget(namespace, name);
      deps.prober?.forget(`${namespace}/${name}`);
      deps.nodeRechecks?.forget(`${namespace}/${name}`);
      return {};
    }
    const spec = verdict.spec;
    const refusal = verdict.blockers.find(
      (b): b is Extract<Blocker, { kind: "invalidSpec" | "conflict" }> =>
        b.kind === "invalidSpec" || b.kind === "conflict",
    );
    if (verdict.verdict === "refuse" || spec === undefined) {
      deps.prober?.forget(`${namespace}/${name}`);
      deps.nodeRechecks?.forget(`${namespace}/${name}`);
      if (refusal !== undefined) await this.#refuse(loaded, refusal, req);
      return {};
    }

    // finalizer
    if (!(await ensureFinalizer(deps, group, signal))) return { requeueAfterMs: CONFLICT_RETRY_MS };

    // decide
    const leaseConflict = verdict.blockers.find((b) => b.kind === "leaseConflict");
    if (leaseConflict !== undefined) {
      const message = blockerMessage(leaseConflict);
      if (recordOncePerGeneration(deps.recorder, group, EventReason.LeaseConflict, message)) {
        log.info({ lease: loaded.leaseName, holder: loaded.lease?.holder }, message);
      }
    }
    const next = plan({
      spec,
      pods: loaded.podViews,
      lease: loaded.leaseView,
      leaseHolderPod: loaded.leaseHolderPod,
      leaseName: loaded.leaseName,
      previousHolder: group.status?.holder ?? "",
      blockers: verdict.blockers,
      outranked: verdict.outranked,
      now: deps.now(),
    });

    // break
    const broke = await breakLabels(deps, loaded, next, spec.leaderLabel, signal);
    if (broke.conflict) {
      log.debug("a pod changed since the decision; deciding again");
      return { requeueAfterMs: CONFLICT_RETRY_MS };
    }
    const labelRemovedAt = broke.wrote ? deps.now() : undefined;
    // lease
    const leaseOutcome = await writeLease(deps, loaded, next, signal);
    if (leaseOutcome !== "ok") {
      log.debug({ lease: loaded.leaseName, outcome: leaseOutcome }, "lease write lost a race");
      return { requeueAfterMs: CONFLICT_RETRY_MS };
    }
    const leaseWrittenAt = next.lease === undefined ? undefined : deps.now();
    // verify
    const clock = deps.clock ?? realClock;
    const verified = await verifyCutover({ ...deps, clock }, loaded, next, spec, signal, log);
    // make
    const made = await makeLabel(deps, loaded, next, spec.leaderLabel, signal);
    if (made !== "ok") {
      log.info({ pod: next.addLabel?.name, outcome: made }, "new holder changed or vanished");
      // A vanished holder: Managed decides again at once (another candidate
      // may lead); Observed waits for the pods' own Lease to move. A holder
      // that changed since the decision: the watch is about to deliver it.
      const again = made === "gone" && spec.mode === "Managed" ? 0 : CONFLICT_RETRY_MS;
      return { requeueAfterMs: again };
    }
    const labelledAt = deps.now();

    // route (EndpointSlice mode): the Service's one slice follows the holder in one write
    let routed: RouteResult | undefined;
    if (this.#router !== undefined && !spec.paused) {
      const held = next.summary.holder;
      const holder =
        held &&
        (loaded.pods.find((p) => p.uid === held.uid) ??
          (loaded.leaseHolder?.uid === held.uid ? loaded.leaseHolder : undefined));
      routed = await this.#router.route(group, spec, holder, signal, log);
    }

    // traffic
    const key = `${namespace}/${name}`;
    const traffic = judgeTraffic(deps.store, loaded, spec, next.summary.holder?.name);
    if (next.transition) {
      const { from, to, epoch } = next.transition;
      const phases = labelPhases(req.detectedAt, {
        ...(labelRemovedAt === undefined ? {} : { labelRemoved: labelRemovedAt }),
        ...(leaseWrittenAt === undefined ? {} : { leaseWritten: leaseWrittenAt }),
        ...(next.addLabel === undefined ? {} : { labelWritten: labelledAt }),
      });
      if (verified.oldGoneAt !== undefined) {
        phases.oldEndpointGoneMs = Math.max(0, Math.round(verified.oldGoneAt - req.detectedAt));
      }
      if (routed?.switchedAt !== undefined) {
        // EndpointSlice mode: one write of podium's slice drops the old endpoint and adds the new.
        const switchedMs = Math.max(0, Math.round(routed.switchedAt - req.detectedAt));
        phases.oldEndpointGoneMs = switchedMs;
        phases.newEndpointReadyMs = switchedMs;
      }
      const outcome = verified.outcome === "NotNeeded" ? {} : { outcome: verified.outcome };
      this.#cutovers.start(key, {
        from,
        to,
        epoch,
        detectedAt: req.detectedAt,
        phases,
        ...outcome,
      });
    }
    const cutover = this.#cutovers.advance(key, traffic.view, deps.now());

    // report
    const durationMs = labelledAt - req.detectedAt;
    const { transition } = next;
    if (transition) {
      this.#groupMetrics.leader(namespace, name, transition.to);
      reportTransition(deps, group, transition, durationMs, log);
    } else if (broke.wrote || next.lease !== undefined || next.addLabel !== undefined) {
      log.debug({ plan: next }, "repaired labels or renewed the lease");
    }
    reportLabelConflict(deps.recorder, group, next.summary.labelConflict, log);
    if (next.unmappedHolder) warnUnmappedHolder(deps.recorder, group, next.unmappedHolder, log);
    const probe = syncProbes(deps, loaded, spec, next.summary.holder, transition, log);
    const { nodeDisruption } = loaded;
    if (nodeDisruption !== undefined) reportNodeDisruption(deps, group, nodeDisruption, log);
    await writeStatus(deps, group, signal, (s, nowIso) => {
      fillStatus(s, { ...next.summary, durationMs }, group.metadata.generation, nowIso);
      if (nodeDisruption !== undefined) {
        fillNodeDisruption(s, nodeDisruption, group.metadata.generation, nowIso);
      }
      const followed = cutover.done ?? this.#cutovers.inFlight(key);
      if (followed !== undefined && s.history !== undefined) {
        s.history = withCutover(s.history, followed);
      }
      fillTraffic(s, traffic.state, group.metadata.generation, nowIso);
      if (routed !== undefined) {
        fillServiceRouted(s, routed.condition, group.metadata.generation, nowIso);
      }
      fillProbeCondition(s, probe, group.metadata.generation, nowIso);
      fillFailedProbes(s, loaded.podViews);
    });
    const { holder, readyCandidates } = next.summary;
    this.#groupMetrics.set(namespace, name, spec.mode, holder?.name ?? "", readyCandidates);
    if (routed?.retry === true) return { requeueAfterMs: CONFLICT_RETRY_MS };
    const recheckMs =
      cutover.recheckAt === undefined ? undefined : Math.max(0, cutover.recheckAt - deps.now());
    const lean = this.#scheduleRenewal(loaded, spec, next);
    const watched = lean && this.#watchHolderNode(loaded, spec, next);
    const own = lean
      ? [next.recheckAfterMs, watched ? undefined : next.nodeRecheckAfterMs]
      : [next.requeueAfterMs];
    const requeueAfterMs = [...own, recheckMs].filter((ms) => ms !== undefined);
    return requeueAfterMs.length === 0 ? {} : { requeueAfterMs: Math.min(...requeueAfterMs) };
  }

  /**
   * Hands the plan's next renewal to the renewal scheduler, tied to the
   * Lease's version as podium now knows it; returns whether it did (then the
   * group is requeued only for its other rechecks).
   */
  #scheduleRenewal(loaded: Loaded, spec: ElectionGroupSpec, next: Plan): boolean {
    const { renewals, ownWrites, store } = this.#deps;
    const { namespace, name, uid } = loaded.group.metadata;
    const key = `${namespace}/${name}`;
    if (renewals === undefined) return false;
    const lease = ownWrites.lease(
      namespace,
      loaded.leaseName,
      store.lease(namespace, loaded.leaseName),
    );
    if (next.renewal === undefined || lease === undefined) {
      renewals.cancel(key);
      return false;
    }
    renewals.schedule(key, {
      namespace,
      leaseName: loaded.leaseName,
      groupUID: uid,
      spec,
      ticket: { holder: next.renewal.holder, resourceVersion: lease.resourceVersion },
      at: next.renewal.at,
    });
    return true;
  }

  /**
   * Hands the holder's node heartbeat recheck to the per-node timers; returns
   * whether it did. Not while heartbeats are distrusted (the group then looks
   * again on its own short timer) nor for a holder with no node heartbeat.
   */
  #watchHolderNode(loaded: Loaded, spec: ElectionGroupSpec, next: Plan): boolean {
    const { nodeRechecks } = this.#deps;
    if (nodeRechecks === undefined) return false;
    const { namespace, name } = loaded.group.metadata;
    const key = `${namespace}/${name}`;
    const uid = next.renewal?.holder.uid;
    const pod = uid === undefined ? undefined : loaded.podViews.find((p) => p.uid === uid);
    const node = pod?.nodeName;
    if (
      next.nodeRecheckAfterMs === undefined ||
      node === undefined ||
      node === "" ||
      loaded.nodeDisruption?.active === true
    ) {
      nodeRechecks.forget(key);
      return false;
    }
    nodeRechecks.watch(key, node, nodeHeartbeatGraceMs(spec));
    return true;
  }

  /** Reports why a refused group touches nothing: status, an Event once per generation, a log line. */
  async #refuse(
    loaded: Loaded,
    refusal: Extract<Blocker, { kind: "invalidSpec" | "conflict" }>,
    req: ReconcileRequest,
  ): Promise<void> {
    const { group } = loaded;
    await writeStatus(this.#deps, group, req.signal, (s, nowIso) => {
      fillRefusal(s, refusal, group.metadata.generation, nowIso);
    });
    const reason = refusal.kind === "invalidSpec" ? EventReason.InvalidSpec : EventReason.Conflict;
    recordOncePerGeneration(this.#deps.recorder, group, reason, blockerMessage(refusal));
    if (refusal.kind === "invalidSpec") {
      req.log.info({ errors: refusal.errors }, "invalid spec; touching nothing");
    } else {
      req.log.info({ olderGroups: refusal.olderGroups }, "lost a conflict; touching nothing");
    }
  }
}

/** The gate over what the load phase read. */
function gateOf(loaded: Loaded): Gate {
  return gate({
    group: loaded.group,
    validation: loaded.validation,
    pods: loaded.pods,
    others: loaded.others,
    lease: loaded.lease && { ownerUIDs: loaded.lease.ownerUIDs, holder: loaded.lease.holder },
  });
}

import { API_VERSION, ConditionType, EventReason, FINALIZER, KIND } from "../api/constants.ts";
import type { ElectionGroup, ElectionGroupSpec, ElectionGroupStatus } from "../api/types.ts";
import { leaseName, validateSpec } from "../api/validate.ts";
import type { ValidationResult } from "../api/validate.ts";
import {
  compareGroupAge,
  conflictingGroups,
  decideManaged,
  decideObserved,
  ownsConflict,
} from "../election/index.ts";
import type {
  GroupIdentity,
  LeaseView,
  ManagedDecision,
  ObservedDecision,
  PodRef,
} from "../election/index.ts";
import type { Result } from "../kube/workers.ts";
import type { EventRecorder, EventSubject } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import type { CachedLease, CachedPod } from "./cached.ts";
import { fillStatus, getCondition, sameStatus, setCondition } from "./status.ts";
import type { ConditionState } from "./status.ts";
import { identityOf, toLeaseView, toPodView } from "./views.ts";
import type { LeaseRecord, Writer } from "./writer.ts";

/** Read access to the controller's caches; the reconciler never lists from the API server. */
export interface Store {
  group(namespace: string, name: string): ElectionGroup | undefined;
  /** Groups whose selector may match one of `pods` (found through an index, then to be checked). */
  groupsSelectingAny(namespace: string, pods: readonly CachedPod[]): ElectionGroup[];
  /** Pods of `namespace` matching `selector`. */
  podsFor(namespace: string, selector: ElectionGroupSpec["selector"]): CachedPod[];
  pod(namespace: string, name: string): CachedPod | undefined;
  groupExists(uid: string): boolean;
  lease(namespace: string, name: string): CachedLease | undefined;
}

export interface ReconcilerDeps {
  store: Store;
  writer: Writer;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  now: () => number;
}

/** A 409 means our cache is behind a write; its watch event is on the way. */
const CONFLICT_RETRY_MS = 250;

function subjectOf(group: ElectionGroup): EventSubject {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    namespace: group.metadata.namespace,
    name: group.metadata.name,
    uid: group.metadata.uid,
  };
}

/**
 * Reconciles one ElectionGroup: reads the caches, asks the election core what
 * to do, carries the decision out in the safe order (break, Lease, make), and
 * writes status once at the end. Every write takes `signal`, which aborts the
 * moment this replica stops leading the operator.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  /** The pod each group's leader gauge names, so the series can be removed when it moves. */
  readonly #leaderSeries = new Map<string, string>();
  /**
   * What we last wrote, for as long as the caches still show the version it
   * was based on: the watch event of our own write can arrive after the next
   * reconcile starts, and deciding from the older version would undo the
   * write (status history) or repeat it (a Lease transition).
   */
  /**
   * The status each group last wrote, its resourceVersion, and every version
   * of the group that came before it from this reconciler's own writes (the
   * cached version the write was based on, earlier status writes, the
   * finalizer's): while the cache shows one of those, it has not caught up.
   */
  readonly #writtenStatus = new Map<
    string,
    { chain: Set<string>; latest: string; status: ElectionGroupStatus }
  >();
  /** resourceVersions of a group produced by this reconciler's finalizer writes (the last few). */
  readonly #ownGroupVersions = new Map<string, string[]>();
  /**
   * The Lease each group last wrote, with every resourceVersion of the chain
   * of writes that led to it (the cached version the first write was based
   * on, and each write's result but the last).
   */
  readonly #writtenLeases = new Map<string, { chain: Set<string>; lease: CachedLease }>();
  /** The record of the last Lease write sent per Lease, for {@link isOwnLeaseWrite}. */
  readonly #sentLeaseRecords = new Map<string, LeaseRecord>();
  /** Validation results by group uid, for the generation they were computed for. */
  readonly #validated = new Map<string, { generation: number; result: ValidationResult }>();

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /**
   * Reconciles the group `namespace/name`. `detectedAt` is when the change
   * that triggered this run was first seen, so fail-over durations include
   * the time spent in the queue.
   */
  async reconcile(
    namespace: string,
    name: string,
    signal: AbortSignal,
    detectedAt: number,
    log: Logger,
  ): Promise<Result> {
    const { store } = this.#deps;
    const group = this.#readOwnStatus(store.group(namespace, name));
    if (group === undefined) {
      this.#forgetMetrics(namespace, name);
      this.#writtenStatus.delete(`${namespace}/${name}`);
      this.#ownGroupVersions.delete(`${namespace}/${name}`);
      this.#forgetValidations();
      return {};
    }
    if (group.metadata.deletionTimestamp !== undefined) return this.#finalize(group, signal, log);

    const validation = this.#validate(group);
    if (!validation.ok) {
      const message = validation.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
      await this.#writeStatus(group, signal, (s, now) => {
        s.conditions = setCondition(
          s.conditions,
          {
            type: ConditionType.Ready,
            status: "False",
            reason: EventReason.InvalidSpec,
            message,
            observedGeneration: group.metadata.generation,
          },
          now,
        );
      });
      this.#recordOncePerGeneration(group, "Warning", EventReason.InvalidSpec, message);
      log.info({ errors: validation.errors }, "invalid spec; touching nothing");
      return {};
    }
    const spec = validation.spec;

    const pods = store.podsFor(namespace, spec.selector);

    const rivals = this.#rivals(group, spec, pods);
    const conflictNames = rivals.map((r) => r.name).join(", ");
    const me = identityOf(group, spec);
    if (rivals.length > 0 && !ownsConflict(me, rivals)) {
      const older = rivals.filter((r) => compareGroupAge(r, me) < 0).map((r) => r.name);
      const message = `ElectionGroup ${older.join(", ")} is older and selects the same pods with the leader label key ${spec.leaderLabel.key}; this group touches nothing`;
      await this.#writeStatus(group, signal, (s, now) => {
        const base = {
          observedGeneration: group.metadata.generation,
        };
        s.conditions = setCondition(
          s.conditions,
          { ...base, type: ConditionType.Conflict, status: "True", reason: "Conflict", message },
          now,
        );
        s.conditions = setCondition(
          s.conditions,
          { ...base, type: ConditionType.Ready, status: "False", reason: "Conflict", message },
          now,
        );
      });
      this.#recordOncePerGeneration(group, "Warning", EventReason.Conflict, message);
      return {};
    }

    // The finalizer goes on before any side effect, so no label can outlive
    // the group; a group that lost a conflict has none to clean up.
    if (!(group.metadata.finalizers ?? []).includes(FINALIZER)) {
      const { outcome, resourceVersion } = await this.#deps.writer.setFinalizer(
        group,
        true,
        signal,
      );
      if (outcome !== "ok") return { requeueAfterMs: CONFLICT_RETRY_MS };
      this.#rememberOwnVersion(group, resourceVersion);
    }

    const outranked = rivals.length > 0 ? conflictNames : "";
    if (spec.mode === "Observed") {
      return this.#reconcileObserved(group, spec, pods, outranked, { signal, detectedAt, log });
    }

    return this.#reconcileManaged(group, spec, pods, outranked, {
      signal,
      detectedAt,
      log,
    });
  }

  async #reconcileManaged(
    group: ElectionGroup,
    spec: ElectionGroupSpec,
    pods: CachedPod[],
    outranked: string,
    ctx: { signal: AbortSignal; detectedAt: number; log: Logger },
  ): Promise<Result> {
    const { store, writer, now } = this.#deps;
    const { namespace } = group.metadata;
    const { signal, log } = ctx;
    const lease = leaseName({ metadata: group.metadata, spec });
    const cachedLease = this.#readOwnLease(namespace, lease);
    const leaseView = cachedLease ? toLeaseView(cachedLease) : undefined;
    const decision = decideManaged({
      spec,
      pods: pods.map((p) => toPodView(p, spec.leaderLabel)),
      lease: leaseView,
      now: now(),
    });

    // A holder that left the selector is no pod of the group, so the core
    // cannot see its label; it must not keep attracting the Service's traffic.
    const formerHolder =
      cachedLease && cachedLease.holder !== ""
        ? store.pod(namespace, cachedLease.holder)
        : undefined;
    const removeLabel: PodRef[] = [...decision.removeLabel];
    const heldByFormer =
      formerHolder !== undefined &&
      (cachedLease?.holderUID === undefined || cachedLease.holderUID === formerHolder.uid);
    if (
      heldByFormer &&
      !pods.some((p) => p.uid === formerHolder.uid) &&
      formerHolder.labels[spec.leaderLabel.key] === spec.leaderLabel.value
    ) {
      removeLabel.push({ name: formerHolder.name, uid: formerHolder.uid });
    }
    // When leadership moves, the former holder loses the label first even if
    // the pod cache does not show it labelled: podium may have labelled it a
    // moment ago and the watch not have delivered that yet. Trusting the cache
    // here let two pods carry the label at once (found by the chaos suite).
    if (
      heldByFormer &&
      decision.transition !== undefined &&
      formerHolder.uid !== decision.holder?.uid &&
      !removeLabel.some((p) => p.uid === formerHolder.uid)
    ) {
      removeLabel.push({ name: formerHolder.name, uid: formerHolder.uid });
    }

    const ownedByOther =
      cachedLease !== undefined &&
      cachedLease.ownerUIDs.length > 0 &&
      !cachedLease.ownerUIDs.includes(group.metadata.uid);
    const leaseConflict = ownedByOther
      ? `Lease ${lease} belongs to another object; set spec.lease.name to a Lease of this group's own`
      : "";
    if (ownedByOther) {
      this.#recordOncePerGeneration(group, "Warning", EventReason.LeaseConflict, leaseConflict);
    }

    let wrote = false;
    if (!spec.paused && !ownedByOther) {
      // (a) break: no pod but the new holder may carry the label from here on.
      for (const pod of removeLabel) {
        const outcome = await writer.removeLeaderLabel(namespace, pod, spec.leaderLabel, signal);
        if (outcome === "ok") {
          wrote = true;
          if (!decision.transition && pod.name !== decision.holder?.name) {
            this.#deps.recorder.record(
              subjectOf(group),
              "Warning",
              EventReason.StrayLeaderLabelRemoved,
              "RemoveLabel",
              `removed ${spec.leaderLabel.key}=${spec.leaderLabel.value} from pod ${pod.name}, which does not lead`,
            );
          }
        }
      }
      // (b) the Lease, with optimistic concurrency: a 409 means someone moved first.
      const leaseOutcome = await this.#writeLease(
        group,
        spec,
        lease,
        cachedLease,
        decision,
        signal,
      );
      if (leaseOutcome !== "ok") {
        log.debug({ lease, outcome: leaseOutcome }, "lease write lost a race; retrying");
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      wrote ||= decision.lease.kind !== "none";
      // (c) make: the new holder gets the label and its epoch.
      if (decision.addLabel) {
        const { epoch, ...pod } = decision.addLabel;
        const outcome = await writer.setLeaderLabel(
          namespace,
          pod,
          spec.leaderLabel,
          epoch,
          signal,
        );
        if (outcome !== "ok") {
          log.info({ pod: pod.name, outcome }, "new holder vanished before it was labelled");
          return { requeueAfterMs: 0 };
        }
        wrote = true;
      }
    }
    const labelledAt = now();

    const transition = !spec.paused && !ownedByOther ? decision.transition : undefined;
    if (transition) this.#reportTransition(group, transition, ctx.detectedAt, labelledAt, log);
    if (wrote && !transition) log.debug({ decision }, "repaired labels or renewed the lease");

    await this.#writeStatus(group, signal, (s, nowIso) => {
      this.#managedStatus(s, group, spec, lease, decision, {
        transition,
        durationMs: labelledAt - ctx.detectedAt,
        nowIso,
        outranked,
        leaseConflict,
        leaseView,
        pods,
      });
    });

    this.#recordGroupMetrics(group, spec, decision.holder?.name ?? "", decision.readyCandidates);
    return decision.requeueAfterMs === undefined ? {} : { requeueAfterMs: decision.requeueAfterMs };
  }

  /**
   * Observed mode: the pods elect themselves on the Lease (client-go or
   * podium's elector); podium never writes it and only moves the label to
   * the valid holder, break before make, then looks again at the expiry.
   */
  async #reconcileObserved(
    group: ElectionGroup,
    spec: ElectionGroupSpec,
    pods: CachedPod[],
    outranked: string,
    ctx: { signal: AbortSignal; detectedAt: number; log: Logger },
  ): Promise<Result> {
    const { store, writer, now } = this.#deps;
    const { namespace } = group.metadata;
    const { signal, log } = ctx;
    const lease = leaseName({ metadata: group.metadata, spec });
    const cachedLease = store.lease(namespace, lease);
    const leaseView = cachedLease ? toLeaseView(cachedLease) : undefined;
    const decision = decideObserved({
      spec,
      pods: pods.map((p) => toPodView(p, spec.leaderLabel)),
      lease: leaseView,
      previousHolder: group.status?.holder ?? "",
      now: now(),
    });

    // As in Managed mode: the pod podium labelled last loses the label when
    // the holder changes, whether or not the pod cache shows the label yet.
    const removeLabel: PodRef[] = [...decision.removeLabel];
    const previous = pods.find((p) => p.name === group.status?.holder);
    if (
      previous !== undefined &&
      decision.transition !== undefined &&
      previous.uid !== decision.holder?.uid &&
      !removeLabel.some((p) => p.uid === previous.uid)
    ) {
      removeLabel.push({ name: previous.name, uid: previous.uid });
    }

    if (!spec.paused) {
      for (const pod of removeLabel) {
        const outcome = await writer.removeLeaderLabel(namespace, pod, spec.leaderLabel, signal);
        if (outcome === "ok" && pod.name !== group.status?.holder) {
          this.#deps.recorder.record(
            subjectOf(group),
            "Warning",
            EventReason.StrayLeaderLabelRemoved,
            "RemoveLabel",
            `removed ${spec.leaderLabel.key}=${spec.leaderLabel.value} from pod ${pod.name}, which does not hold Lease ${lease}`,
          );
        }
      }
      if (decision.addLabel) {
        const { epoch, ...pod } = decision.addLabel;
        const outcome = await writer.setLeaderLabel(
          namespace,
          pod,
          spec.leaderLabel,
          epoch,
          signal,
        );
        if (outcome !== "ok") return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
    }
    const labelledAt = now();
    const transition = spec.paused ? undefined : decision.transition;
    if (transition) this.#reportTransition(group, transition, ctx.detectedAt, labelledAt, log);

    const why: Record<NonNullable<ObservedDecision["idleReason"]>, string> = {
      NoLease: `Lease ${lease} does not exist yet`,
      Released: `Lease ${lease} was released`,
      Expired: `Lease ${lease} expired: its holder stopped renewing`,
      HolderNotInGroup: `Lease ${lease} is held by ${leaseView?.holder ?? ""}, which is no pod of this group`,
    };
    const holder = spec.paused ? undefined : decision.holder;
    const leaderElected: ConditionState = holder
      ? {
          status: "True",
          reason: EventReason.LeaderElected,
          message: `pod ${holder.name} holds Lease ${lease} in epoch ${String(leaseView?.transitions ?? 0)}`,
        }
      : {
          status: "False",
          reason: decision.idleReason ?? "NoLeader",
          message: decision.idleReason ? why[decision.idleReason] : "no leader",
        };
    const ready: ConditionState = spec.paused
      ? {
          status: "False",
          reason: "Paused",
          message: "spec.paused is true: podium reports but changes nothing",
        }
      : holder
        ? {
            status: "True",
            reason: EventReason.LeaderElected,
            message: `pod ${holder.name} holds Lease ${lease} and alone carries ${spec.leaderLabel.key}=${spec.leaderLabel.value}`,
          }
        : leaderElected;
    await this.#writeStatus(group, signal, (s, nowIso) => {
      fillStatus(
        s,
        {
          holder,
          leaseName: lease,
          epoch: leaseView?.transitions ?? 0,
          candidates: decision.candidates,
          readyCandidates: decision.readyCandidates,
          transition,
          durationMs: labelledAt - ctx.detectedAt,
          leaderElected,
          ready,
          outranked,
        },
        group.metadata.generation,
        nowIso,
      );
    });
    this.#recordGroupMetrics(group, spec, holder?.name ?? "", decision.readyCandidates);
    // Wake at the expiry instant (plus a hair, so the Lease is expired by then).
    return decision.requeueAfterMs === undefined
      ? {}
      : { requeueAfterMs: decision.requeueAfterMs + 1 };
  }

  async #writeLease(
    group: ElectionGroup,
    spec: ElectionGroupSpec,
    name: string,
    cached: CachedLease | undefined,
    decision: ManagedDecision,
    signal: AbortSignal,
  ): Promise<"ok" | "gone" | "conflict"> {
    const { writer, now } = this.#deps;
    const t = now();
    const record = this.#leaseRecord(spec, cached, decision, t);
    if (record === undefined) return "ok";
    const { namespace } = group.metadata;
    this.#sentLeaseRecords.set(`${namespace}/${name}`, record);
    const result =
      decision.lease.kind === "create"
        ? await writer.createLease(group, name, record, signal)
        : await writer.updateLease(namespace, name, cached?.resourceVersion ?? "", record, signal);
    if (result.outcome === "ok" && result.resourceVersion !== undefined) {
      const key = `${namespace}/${name}`;
      const lease: CachedLease = {
        namespace,
        name,
        uid: cached?.uid ?? "",
        resourceVersion: result.resourceVersion,
        holder: record.holder,
        transitions: record.transitions,
        durationSeconds: record.durationSeconds,
        renewTime: record.renewTime,
        acquireTime: record.acquireTime,
        observedAt: t,
        ownerUIDs: cached?.ownerUIDs ?? [group.metadata.uid],
      };
      if (record.holderUID !== undefined) lease.holderUID = record.holderUID;
      // `cached` may itself be an earlier write the watch has not delivered
      // yet: the new write extends that chain, so the overlay stays in force
      // until the cache shows the newest write or leaves the chain.
      const basedOn = cached?.resourceVersion ?? "";
      const previous = this.#writtenLeases.get(key);
      const continues =
        previous !== undefined &&
        (previous.chain.has(basedOn) || previous.lease.resourceVersion === basedOn);
      const chain = continues ? previous.chain : new Set<string>();
      chain.add(basedOn);
      this.#writtenLeases.set(key, { chain, lease });
    }
    return result.outcome;
  }

  /** The record a Lease write puts, or undefined when the decision writes none. */
  #leaseRecord(
    spec: ElectionGroupSpec,
    cached: CachedLease | undefined,
    decision: ManagedDecision,
    t: number,
  ): LeaseRecord | undefined {
    const base = { durationSeconds: spec.lease.durationSeconds, renewTime: t };
    const write = decision.lease;
    switch (write.kind) {
      case "none":
        return undefined;
      case "create":
        return {
          ...base,
          holder: write.holder?.name ?? "",
          holderUID: write.holder?.uid,
          transitions: write.holder ? 1 : 0,
          acquireTime: t,
        };
      case "acquire":
        return {
          ...base,
          holder: write.holder.name,
          holderUID: write.holder.uid,
          transitions: write.transitions,
          acquireTime: t,
        };
      case "renew":
        return {
          ...base,
          holder: write.holder.name,
          holderUID: write.holder.uid,
          transitions: cached?.transitions ?? 0,
          acquireTime: cached?.acquireTime ?? t,
        };
      case "release":
        // client-go's release record: no holder, a 1 s duration, transitions kept.
        return {
          holder: "",
          holderUID: undefined,
          durationSeconds: 1,
          transitions: write.transitions,
          acquireTime: t,
          renewTime: t,
        };
    }
  }

  #reportTransition(
    group: ElectionGroup,
    transition: NonNullable<ManagedDecision["transition"]>,
    detectedAt: number,
    labelledAt: number,
    log: Logger,
  ): void {
    const { metrics, recorder } = this.#deps;
    const labels = { namespace: group.metadata.namespace, name: group.metadata.name };
    metrics.transitions.inc({ ...labels, reason: transition.reason });
    this.#setLeaderSeries(labels.namespace, labels.name, transition.to);
    const subject = subjectOf(group);
    if (transition.to !== "") {
      if (transition.from !== "") {
        metrics.failoverSeconds.observe(labels, (labelledAt - detectedAt) / 1000);
      }
      recorder.record(
        subject,
        "Normal",
        EventReason.LeaderElected,
        "Elect",
        `pod ${transition.to} leads in epoch ${transition.epoch}` +
          (transition.from === "" ? "" : ` (was ${transition.from}: ${transition.reason})`),
      );
    }
    if (transition.from !== "") {
      recorder.record(
        subject,
        "Normal",
        EventReason.LeaderLost,
        "Elect",
        `pod ${transition.from} lost leadership: ${transition.reason}`,
      );
    }
    if (transition.to === "" && group.spec.mode !== "Observed") {
      recorder.record(
        subject,
        "Warning",
        EventReason.NoReadyCandidates,
        "Elect",
        "no ready pod matches the selector; the group is leaderless and the Lease is released",
      );
    }
    log.info(
      {
        from: transition.from,
        to: transition.to,
        epoch: transition.epoch,
        reason: transition.reason,
        durationMs: labelledAt - detectedAt,
      },
      "leadership moved",
    );
  }

  #managedStatus(
    s: ElectionGroupStatus,
    group: ElectionGroup,
    spec: ElectionGroupSpec,
    lease: string,
    decision: ManagedDecision,
    extra: {
      transition: ManagedDecision["transition"];
      durationMs: number;
      nowIso: string;
      outranked: string;
      leaseConflict: string;
      leaseView: LeaseView | undefined;
      pods: readonly CachedPod[];
    },
  ): void {
    const { transition, nowIso } = extra;
    const effective = spec.paused || extra.leaseConflict !== "";
    // Report-only (paused, or a Lease that is not ours): the holder is the
    // Lease's, as long as that pod still exists in the group.
    const leaseHolder = extra.leaseView?.holder ?? "";
    const leasePod = extra.pods.find(
      (p) =>
        p.name === leaseHolder &&
        (extra.leaseView?.holderUID === undefined || p.uid === extra.leaseView.holderUID),
    );
    const holder = effective
      ? leasePod && { name: leasePod.name, uid: leasePod.uid }
      : decision.holder;
    const created = decision.lease.kind === "create" ? (decision.holder ? 1 : 0) : undefined;
    const epoch = effective
      ? (extra.leaseView?.transitions ?? 0)
      : (transition?.epoch ?? created ?? extra.leaseView?.transitions ?? 0);
    const leaderElected: ConditionState =
      holder !== undefined
        ? {
            status: "True",
            reason: EventReason.LeaderElected,
            message: `pod ${holder.name} leads in epoch ${String(epoch)}`,
          }
        : {
            status: "False",
            reason: EventReason.NoReadyCandidates,
            message: `none of the ${String(decision.candidates)} pods matching the selector is ready`,
          };
    const ready: ConditionState = spec.paused
      ? {
          status: "False",
          reason: "Paused",
          message: "spec.paused is true: podium reports but changes nothing",
        }
      : extra.leaseConflict !== ""
        ? { status: "False", reason: EventReason.LeaseConflict, message: extra.leaseConflict }
        : holder !== undefined
          ? {
              status: "True",
              reason: EventReason.LeaderElected,
              message: `pod ${holder.name} holds the Lease and alone carries ${spec.leaderLabel.key}=${spec.leaderLabel.value}`,
            }
          : leaderElected;
    fillStatus(
      s,
      {
        holder,
        leaseName: lease,
        epoch,
        candidates: decision.candidates,
        readyCandidates: decision.readyCandidates,
        transition,
        durationMs: extra.durationMs,
        leaderElected,
        ready,
        outranked: extra.outranked,
      },
      group.metadata.generation,
      nowIso,
    );
  }

  /** The live groups that claim some of `pods` with the same leader label key. */
  #rivals(group: ElectionGroup, spec: ElectionGroupSpec, pods: CachedPod[]): GroupIdentity[] {
    const others = this.#deps.store
      .groupsSelectingAny(group.metadata.namespace, pods)
      .flatMap((g) => {
        const v = this.#validate(g);
        return v.ok && g.metadata.deletionTimestamp === undefined ? [identityOf(g, v.spec)] : [];
      });
    return conflictingGroups(identityOf(group, spec), others, pods);
  }

  /**
   * Removes the group's leader labels, then its finalizer; the Lease goes by
   * garbage collection. Labels are left alone where an older group claims the
   * same pods and key: they are that group's, not ours.
   */
  async #finalize(group: ElectionGroup, signal: AbortSignal, log: Logger): Promise<Result> {
    if (!(group.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    const { store, writer } = this.#deps;
    const validation = this.#validate(group);
    if (validation.ok) {
      const { selector, leaderLabel } = validation.spec;
      const pods = store.podsFor(group.metadata.namespace, selector);
      const rivals = this.#rivals(group, validation.spec, pods);
      const owned = rivals.length === 0 || ownsConflict(identityOf(group, validation.spec), rivals);
      for (const pod of owned ? pods : []) {
        if (pod.labels[leaderLabel.key] !== leaderLabel.value) continue;
        await writer.removeLeaderLabel(group.metadata.namespace, pod, leaderLabel, signal);
      }
    }
    const { outcome } = await writer.setFinalizer(group, false, signal);
    if (outcome === "conflict") return { requeueAfterMs: CONFLICT_RETRY_MS };
    this.#forgetMetrics(group.metadata.namespace, group.metadata.name);
    log.info("removed leader labels and the finalizer");
    return {};
  }

  async #writeStatus(
    group: ElectionGroup,
    signal: AbortSignal,
    update: (status: ElectionGroupStatus, nowIso: string) => void,
  ): Promise<void> {
    // A shallow copy is enough: the updates assign top-level fields and build
    // new condition and history arrays (setCondition, pushHistory), never
    // mutating the cached ones.
    const next: ElectionGroupStatus = { ...group.status };
    update(next, new Date(this.#deps.now()).toISOString());
    next.observedGeneration = group.metadata.generation;
    if (sameStatus(group.status, next)) return;
    const { outcome, resourceVersion } = await this.#deps.writer.patchStatus(group, next, signal);
    if (outcome === "conflict") throw new Error("status update conflicted");
    if (outcome === "ok") {
      const key = `${group.metadata.namespace}/${group.metadata.name}`;
      const basedOn = group.metadata.resourceVersion;
      const previous = this.#writtenStatus.get(key);
      const chain = new Set([basedOn, ...(this.#ownGroupVersions.get(key) ?? [])]);
      if (previous !== undefined && (previous.chain.has(basedOn) || previous.latest === basedOn)) {
        for (const v of previous.chain) chain.add(v);
        chain.add(previous.latest);
      }
      this.#writtenStatus.set(key, { chain, latest: resourceVersion ?? "", status: next });
    }
  }

  /** Remembers a resourceVersion of `group` that this reconciler's own metadata write produced. */
  #rememberOwnVersion(group: ElectionGroup, resourceVersion: string | undefined): void {
    if (resourceVersion === undefined) return;
    const key = `${group.metadata.namespace}/${group.metadata.name}`;
    const versions = [...(this.#ownGroupVersions.get(key) ?? []), resourceVersion].slice(-4);
    this.#ownGroupVersions.set(key, versions);
  }

  /** The cached group, with the status we last wrote while the cache has not caught up. */
  #readOwnStatus(group: ElectionGroup | undefined): ElectionGroup | undefined {
    if (group === undefined) return undefined;
    const key = `${group.metadata.namespace}/${group.metadata.name}`;
    const written = this.#writtenStatus.get(key);
    if (written === undefined) return group;
    const seen = group.metadata.resourceVersion;
    if (seen === written.latest || !written.chain.has(seen)) {
      this.#writtenStatus.delete(key);
      return group;
    }
    return { ...group, status: written.status };
  }

  /**
   * Reports whether `lease`, as a watch event delivered it, holds exactly the
   * record of this reconciler's last write to it (holder, transitions and the
   * renewTime, which is unique per write): the echo of a write whose
   * consequences, such as the next renewal's requeue, are already scheduled,
   * so it needs no reconcile. Renewal echoes are most of a steady cluster's
   * events. The record is remembered before the request is sent, because the
   * echo can arrive before the response.
   */
  isOwnLeaseWrite(lease: CachedLease): boolean {
    const sent = this.#sentLeaseRecords.get(`${lease.namespace}/${lease.name}`);
    return (
      sent?.holder === lease.holder &&
      sent.transitions === lease.transitions &&
      sent.renewTime === lease.renewTime
    );
  }

  /** Forgets what this reconciler wrote to a Lease that has been deleted. */
  forgetLease(namespace: string, name: string): void {
    this.#sentLeaseRecords.delete(`${namespace}/${name}`);
    this.#writtenLeases.delete(`${namespace}/${name}`);
  }

  /**
   * The cached Lease, or the one we last wrote while the cache still shows a
   * version from before it (any version our chain of writes went through).
   * Once the cache shows our last write, or a version outside the chain
   * (someone else wrote, or the Lease was deleted), the cache is the truth.
   */
  #readOwnLease(namespace: string, name: string): CachedLease | undefined {
    const cached = this.#deps.store.lease(namespace, name);
    const key = `${namespace}/${name}`;
    const written = this.#writtenLeases.get(key);
    if (written === undefined) return cached;
    const seen = cached?.resourceVersion ?? "";
    if (seen === written.lease.resourceVersion || !written.chain.has(seen)) {
      this.#writtenLeases.delete(key);
      return cached;
    }
    return written.lease;
  }

  /** validateSpec, remembered per uid and generation: a spec only changes with its generation. */
  #validate(group: ElectionGroup): ValidationResult {
    const known = this.#validated.get(group.metadata.uid);
    if (known?.generation === group.metadata.generation) return known.result;
    const result = validateSpec(group.spec);
    this.#validated.set(group.metadata.uid, { generation: group.metadata.generation, result });
    return result;
  }

  #recordOncePerGeneration(
    group: ElectionGroup,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): void {
    const ready = getCondition(group.status?.conditions, ConditionType.Ready);
    if (ready?.reason === reason && ready.observedGeneration === group.metadata.generation) return;
    this.#deps.recorder.record(subjectOf(group), type, reason, "Reconcile", message);
  }

  /** Sets a group's gauges after a reconcile: its leader, its ready candidates, its mode. */
  #recordGroupMetrics(
    group: ElectionGroup,
    spec: ElectionGroupSpec,
    holder: string,
    readyCandidates: number,
  ): void {
    const { namespace, name } = group.metadata;
    this.#setLeaderSeries(namespace, name, holder);
    this.#deps.metrics.readyCandidates.set({ namespace, name }, readyCandidates);
    this.#deps.metrics.groups.set({ namespace, name, mode: spec.mode }, 1);
  }

  #setLeaderSeries(namespace: string, name: string, pod: string): void {
    const key = `${namespace}/${name}`;
    const previous = this.#leaderSeries.get(key);
    if (previous === pod) return;
    if (previous !== undefined)
      this.#deps.metrics.leader.remove({ namespace, name, pod: previous });
    if (pod === "") {
      this.#leaderSeries.delete(key);
      return;
    }
    this.#deps.metrics.leader.set({ namespace, name, pod }, 1);
    this.#leaderSeries.set(key, pod);
  }

  /** Drops remembered validations of groups that no longer exist. */
  #forgetValidations(): void {
    if (this.#validated.size < 1024) return;
    const live = new Set(
      [...this.#validated.keys()].filter((uid) => this.#deps.store.groupExists(uid)),
    );
    for (const uid of this.#validated.keys()) if (!live.has(uid)) this.#validated.delete(uid);
  }

  #forgetMetrics(namespace: string, name: string): void {
    const { metrics } = this.#deps;
    this.#setLeaderSeries(namespace, name, "");
    metrics.readyCandidates.remove({ namespace, name });
    metrics.groups.remove({ namespace, name, mode: "Managed" });
    metrics.groups.remove({ namespace, name, mode: "Observed" });
  }
}

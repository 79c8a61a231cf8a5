import { pino } from "pino";
import { Registry } from "prom-client";
import { FINALIZER } from "../../../src/api/constants.ts";
import type { ElectionGroup, ElectionGroupStatus, LeaderLabel } from "../../../src/api/types.ts";
import type { LeaseRecord } from "../../../src/election/index.ts";
import { OwnWrites } from "../../../src/controller/own-writes.ts";
import { Reconciler } from "../../../src/controller/reconcile.ts";
import { Renewals } from "../../../src/controller/renewals.ts";
import { isUrgent } from "../../../src/kube/limiter.ts";
import type {
  PodTarget,
  WriteOutcome,
  WriteResult,
  Writer,
} from "../../../src/controller/writer.ts";
import type { Clock } from "../../../src/kube/clock.ts";
import type { EventRecorder } from "../../../src/observability/events.ts";
import { createMetrics } from "../../../src/observability/metrics.ts";
import { memoryStore } from "../../support/memory-store.ts";
import type { MemoryStore } from "../../support/memory-store.ts";

/** A fixed clock origin. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();

type WriteName = keyof Writer;

/**
 * A Writer that records every call as one line, in order, and answers "ok"
 * with a new resourceVersion unless a test scripted another outcome for the
 * next call of that kind.
 */
export class RecordingWriter implements Writer {
  readonly calls: string[] = [];
  /** The resourceVersion each label write was tied to, in order ("" when none). */
  readonly podVersions: string[] = [];
  readonly statuses: ElectionGroupStatus[] = [];
  readonly #scripted = new Map<WriteName, WriteOutcome[]>();
  #version = 100;

  /** The next call of `name` ends with `outcome` instead of "ok". */
  failNext(name: WriteName, outcome: Exclude<WriteOutcome, "ok">): void {
    this.#scripted.set(name, [...(this.#scripted.get(name) ?? []), outcome]);
  }

  #answer(name: WriteName): WriteResult {
    const outcome = this.#scripted.get(name)?.shift() ?? "ok";
    return outcome === "ok" ? { outcome, resourceVersion: String(++this.#version) } : { outcome };
  }

  setLeaderLabel(
    _namespace: string,
    pod: PodTarget,
    label: LeaderLabel,
    epoch: number | undefined,
  ): Promise<WriteOutcome> {
    this.calls.push(`label ${pod.name} ${label.key}=${label.value} epoch=${String(epoch)}`);
    this.podVersions.push(pod.resourceVersion ?? "");
    return Promise.resolve(this.#answer("setLeaderLabel").outcome);
  }

  removeLeaderLabel(_namespace: string, pod: PodTarget, label: LeaderLabel): Promise<WriteOutcome> {
    this.calls.push(`unlabel ${pod.name} ${label.key}`);
    this.podVersions.push(pod.resourceVersion ?? "");
    return Promise.resolve(this.#answer("removeLeaderLabel").outcome);
  }

  createLease(group: ElectionGroup, name: string, record: LeaseRecord): Promise<WriteResult> {
    this.calls.push(`create lease ${name} ${describeRecord(record)} owner=${group.metadata.name}`);
    return Promise.resolve(this.#answer("createLease"));
  }

  updateLease(
    _namespace: string,
    name: string,
    resourceVersion: string,
    record: LeaseRecord,
  ): Promise<WriteResult> {
    this.calls.push(`update lease ${name}@${resourceVersion} ${describeRecord(record)}`);
    return Promise.resolve(this.#answer("updateLease"));
  }

  renewLease(
    _namespace: string,
    name: string,
    resourceVersion: string,
    record: LeaseRecord,
  ): Promise<WriteResult> {
    this.calls.push(
      `renew lease ${name}@${resourceVersion} ${describeRecord(record)} renewTime=+${String(record.renewTime - T0)}` +
        (isUrgent() ? " (urgent)" : ""),
    );
    return Promise.resolve(this.#answer("renewLease"));
  }

  patchStatus(_group: ElectionGroup, status: ElectionGroupStatus): Promise<WriteResult> {
    this.calls.push(`status holder=${status.holder ?? ""} epoch=${String(status.epoch ?? 0)}`);
    this.statuses.push(status);
    return Promise.resolve(this.#answer("patchStatus"));
  }

  setFinalizer(group: ElectionGroup, present: boolean): Promise<WriteResult> {
    this.calls.push(`${present ? "add" : "remove"} finalizer ${group.metadata.name}`);
    return Promise.resolve(this.#answer("setFinalizer"));
  }
}

function describeRecord(r: LeaseRecord): string {
  return `holder=${r.holder} transitions=${String(r.transitions)}`;
}

/** An EventRecorder that keeps "Type Reason: message" lines. */
export class RecordingRecorder implements EventRecorder {
  readonly events: string[] = [];
  record(_subject: unknown, type: string, reason: string, _action: string, note: string): void {
    this.events.push(`${type} ${reason}: ${note}`);
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/** A group as the API server sends it; finalizer on unless `finalizer: false`. */
export function rawGroup(
  name: string,
  spec: Record<string, unknown>,
  o: { finalizer?: boolean; createdAt?: number; deleting?: boolean; status?: object } = {},
): Record<string, unknown> {
  return {
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: {
      name,
      namespace: "shop",
      uid: `uid-group-${name}`,
      generation: 1,
      resourceVersion: "10",
      creationTimestamp: iso(o.createdAt ?? T0),
      ...(o.finalizer === false ? {} : { finalizers: [FINALIZER] }),
      ...(o.deleting === true ? { deletionTimestamp: iso(T0) } : {}),
    },
    spec: { selector: { matchLabels: { app: "web" } }, ...spec },
    ...(o.status === undefined ? {} : { status: o.status }),
  };
}

/** A Running, Ready pod of app=web, as the API server sends it. */
export function rawPod(
  name: string,
  o: {
    ready?: boolean;
    labels?: Record<string, string>;
    epoch?: number;
    uid?: string;
    resourceVersion?: string;
    createdAt?: number;
    /** The Ready condition's lastTransitionTime; T0 unless given. */
    readyAt?: number;
  } = {},
): Record<string, unknown> {
  return {
    metadata: {
      name,
      namespace: "shop",
      uid: o.uid ?? `uid-${name}`,
      resourceVersion: o.resourceVersion ?? "1",
      creationTimestamp: iso(o.createdAt ?? T0),
      labels: { app: "web", ...o.labels },
      annotations: o.epoch === undefined ? {} : { "podium.dev/epoch": String(o.epoch) },
    },
    status: {
      phase: "Running",
      conditions: [
        {
          type: "Ready",
          status: (o.ready ?? true) ? "True" : "False",
          lastTransitionTime: iso(o.readyAt ?? T0),
        },
      ],
    },
  };
}

/** A Lease podium wrote for `holder` (its uid annotated), owned by the group `web`. */
export function rawLease(
  holder: string,
  transitions: number,
  o: { resourceVersion?: string; renewTime?: number; owner?: string } = {},
): Record<string, unknown> {
  const micro = (ms: number): string => new Date(ms).toISOString().replace("Z", "000Z");
  return {
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "uid-lease-web",
      resourceVersion: o.resourceVersion ?? "5",
      annotations: holder === "" ? {} : { "podium.dev/holder-uid": `uid-${holder}` },
      ownerReferences: [{ uid: o.owner ?? "uid-group-web" }],
    },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      leaseTransitions: transitions,
      acquireTime: micro(o.renewTime ?? T0),
      renewTime: micro(o.renewTime ?? T0),
    },
  };
}

/** A Reconciler over an in-memory store, a recording writer and recorder, and a settable clock. */
export interface Harness extends MemoryStore {
  reconciler: Reconciler;
  writer: RecordingWriter;
  recorder: RecordingRecorder;
  ownWrites: OwnWrites;
  clock: { now: number };
  /** Reconciles shop/`name` once. */
  reconcile(name?: string): ReturnType<Reconciler["reconcile"]>;
  /** With `renewals: true`: the scheduler, started, on a clock that moves only by {@link advance}. */
  renewals: Renewals | undefined;
  /** Groups the renewal scheduler handed to a full reconcile, in order. */
  handedToReconcile: string[];
  /** Groups whose reconcile counts as queued or running (the scheduler skips them). */
  busy: Set<string>;
  /** Groups a detected change waits for (the work queue's hasDetection). */
  detected: Set<string>;
  /** Moves the clock by `ms`, fires the renewal timers due by then and waits for their writes. */
  advance(ms: number): Promise<void>;
}

export function harness(
  options: {
    nodes?: boolean;
    traffic?: boolean;
    stalledWatches?: () => readonly string[];
    /** Called each time a timer of the reconcile fires, after the clock moved to it. */
    onTimer?: (now: number) => void;
    /** Renew held Leases with a {@link Renewals} scheduler instead of requeues. */
    renewals?: boolean;
  } = {},
): Harness {
  const clock = { now: T0 + 1000 };
  const now = (): number => clock.now;
  // The renewal scheduler's timers fire only when a test advances the clock.
  const pending = new Map<object, { at: number; fn: () => void }>();
  const manual: Clock = {
    now,
    setTimeout: (fn, ms) => {
      const timer = {};
      pending.set(timer, { at: clock.now + ms, fn });
      return timer;
    },
    clearTimeout: (timer) => {
      pending.delete(timer);
    },
  };
  // Timers fire at once, moving the clock by their delay: a wait takes no real time.
  const timers: Clock = {
    now,
    setTimeout: (fn, ms) => {
      const timer = {};
      queueMicrotask(() => {
        clock.now += ms;
        options.onTimer?.(clock.now);
        fn();
      });
      return timer;
    },
    clearTimeout: () => undefined,
  };
  const ownWrites = new OwnWrites();
  const mem = memoryStore(now, ownWrites, options);
  const writer = new RecordingWriter();
  const recorder = new RecordingRecorder();
  const log = pino({ level: "silent" });
  const handedToReconcile: string[] = [];
  const busy = new Set<string>();
  const detected = new Set<string>();
  const renewals =
    options.renewals === true
      ? new Renewals({
          store: mem.store,
          ownWrites,
          writer,
          clock: manual,
          log,
          isBusy: (key) => busy.has(key),
          hasDetection: (key) => detected.has(key),
          reconcile: (key) => handedToReconcile.push(key),
        })
      : undefined;
  renewals?.start(new AbortController().signal);
  const reconciler = new Reconciler({
    ...(renewals === undefined ? {} : { renewals }),
    store: mem.store,
    validations: mem.validations,
    ownWrites,
    writer,
    recorder,
    metrics: createMetrics(new Registry()),
    now,
    clock: timers,
  });
  const advance = async (ms: number): Promise<void> => {
    clock.now += ms;
    for (const [timer, { at, fn }] of pending) {
      if (at > clock.now) continue;
      pending.delete(timer);
      fn();
    }
    // Let the renewals' writes (resolved promises) and their follow-ups run.
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return {
    ...mem,
    reconciler,
    writer,
    recorder,
    ownWrites,
    clock,
    renewals,
    handedToReconcile,
    busy,
    detected,
    advance,
    reconcile: (name = "web") =>
      reconciler.reconcile({
        namespace: "shop",
        name,
        signal: new AbortController().signal,
        detectedAt: clock.now,
        log,
      }),
  };
}

import type { KubeConfig } from "@kubernetes/client-node";
import { setTimeout as delay } from "node:timers/promises";
import {
  EPOCH_ANNOTATION,
  GROUP,
  HOLDER_UID_ANNOTATION,
  PLURAL,
  VERSION,
} from "../../src/api/constants.ts";
import { httpError, kubeFetch, startWatch } from "../../src/kube/watch-stream.ts";
import type { RawObject, WatchStream } from "../../src/kube/watch-stream.ts";
import { checkInvariants, formatViolations } from "./invariant-core.ts";
import type {
  CheckOptions,
  CheckResult,
  GroupState,
  Interval,
  LeaseState,
  NodeFailure,
  PodState,
  RecordedEvent,
  Selector,
  Stream,
} from "./invariant-core.ts";

export * from "./invariant-core.ts";

/** Bound on how often one stream may restart in one checker's life. */
const MAX_RESTARTS = 10_000;

interface Meta {
  name?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

function meta(raw: RawObject): Meta {
  const m: Meta = raw.metadata ?? {};
  return m;
}

export function podState(raw: RawObject): PodState {
  const m = meta(raw);
  const status = (raw.status ?? {}) as {
    phase?: string;
    conditions?: { type?: string; status?: string }[];
  };
  const epoch = m.annotations?.[EPOCH_ANNOTATION];
  return {
    name: m.name ?? "",
    uid: m.uid ?? "",
    rv: m.resourceVersion ?? "",
    labels: m.labels ?? {},
    ...(epoch === undefined ? {} : { epoch }),
    phase: status.phase ?? "",
    ready: (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    terminating: m.deletionTimestamp !== undefined,
  };
}

export function leaseState(raw: RawObject): LeaseState {
  const m = meta(raw);
  const spec = (raw.spec ?? {}) as {
    holderIdentity?: string;
    leaseTransitions?: number;
    leaseDurationSeconds?: number;
  };
  const holderUID = m.annotations?.[HOLDER_UID_ANNOTATION];
  return {
    name: m.name ?? "",
    uid: m.uid ?? "",
    rv: m.resourceVersion ?? "",
    holder: spec.holderIdentity ?? "",
    ...(holderUID === undefined ? {} : { holderUID }),
    transitions: spec.leaseTransitions ?? 0,
    ...(spec.leaseDurationSeconds === undefined
      ? {}
      : { durationSeconds: spec.leaseDurationSeconds }),
  };
}

export function groupState(raw: RawObject): GroupState {
  const m = meta(raw);
  const spec = (raw.spec ?? {}) as {
    selector?: Selector;
    mode?: string;
    lease?: { name?: string };
    leaderLabel?: { key?: string; value?: string };
    preferredHolder?: string;
    handover?: { mode?: string };
    notReadyToleranceSeconds?: number;
  };
  const status = (raw.status ?? {}) as { epoch?: number };
  const name = m.name ?? "";
  return {
    name,
    uid: m.uid ?? "",
    rv: m.resourceVersion ?? "",
    generation: m.generation ?? 0,
    selector: spec.selector ?? {},
    mode: spec.mode === "Observed" ? "Observed" : "Managed",
    leaderLabel: {
      key: spec.leaderLabel?.key ?? "role",
      value: spec.leaderLabel?.value ?? "leader",
    },
    leaseName: spec.lease?.name ?? name,
    ...(spec.preferredHolder === undefined ? {} : { preferredHolder: spec.preferredHolder }),
    ...(spec.handover?.mode === undefined ? {} : { handover: spec.handover.mode }),
    notReadyToleranceSeconds: spec.notReadyToleranceSeconds ?? 0,
    ...(status.epoch === undefined ? {} : { statusEpoch: status.epoch }),
    deleting: m.deletionTimestamp !== undefined,
  };
}

export interface InvariantCheckerOptions {
  /** Only pods matching this label selector are watched. */
  podSelector?: string;
  /** Client-side watch inactivity deadline. Default 75 s (bookmarks come about every minute). */
  inactivityTimeoutMs?: number;
}

/**
 * Watches the pods, Leases and ElectionGroups of one namespace on its own
 * connections (independently of the operator and its caches), records every
 * change with its resourceVersion and arrival time, and checks the recorded
 * history with {@link checkInvariants}. Re-lists (after 410 Gone) are
 * recorded as one atomic event, never as a series of single changes, so a
 * re-list cannot invent an intermediate state.
 */
export class InvariantChecker {
  /** Everything the streams delivered, in arrival order. */
  readonly events: RecordedEvent[] = [];
  readonly #kc: KubeConfig;
  readonly #namespace: string;
  readonly #options: InvariantCheckerOptions;
  readonly #stop = new AbortController();
  readonly #watches = new Set<WatchStream>();
  readonly #loops: Promise<void>[] = [];
  readonly #foreign: { pod: string; rv: string }[] = [];
  readonly #excused: Interval[] = [];
  readonly #nodeFailures: NodeFailure[] = [];
  readonly #live = {
    pod: new Map<string, PodState>(),
    lease: new Map<string, LeaseState>(),
    group: new Map<string, GroupState>(),
  };
  #seq = 0;
  #relists = 0;
  #restarts = 0;
  #stoppedAt: number | undefined;

  constructor(kc: KubeConfig, namespace: string, options: InvariantCheckerOptions = {}) {
    this.#kc = kc;
    this.#namespace = namespace;
    this.#options = options;
  }

  /** Starts the three streams and resolves once each has listed (bounded: 60 s). */
  async start(): Promise<void> {
    const ns = this.#namespace;
    const synced = [
      this.#startStream(
        "pod",
        `/api/v1/namespaces/${ns}/pods`,
        podState,
        this.#options.podSelector,
      ),
      this.#startStream(
        "lease",
        `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
        leaseState,
        undefined,
      ),
      this.#startStream(
        "group",
        `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
        groupState,
        undefined,
      ),
    ];
    const timeout = delay(60_000, "timeout", { signal: this.#stop.signal }).catch(() => "stopped");
    const result = await Promise.race([Promise.all(synced).then(() => "ok"), timeout]);
    if (result !== "ok") throw new Error(`invariant checker: streams did not list (${result})`);
  }

  /** Stops every stream; the recorded history stays. */
  async stop(): Promise<void> {
    this.#stoppedAt ??= Date.now();
    this.#stop.abort();
    for (const w of this.#watches) w.abort();
    await Promise.all(this.#loops);
  }

  /** Declares that the test itself put the leader label on `pod` by a write that returned `rv`. */
  noteForeignLabel(pod: string, rv: string): void {
    this.#foreign.push({ pod, rv });
  }

  /** Declares that the test failed the node of `pods` now (a cause for check d). */
  noteNodeFailure(pods: readonly string[], what: string): void {
    this.#nodeFailures.push({ pods, at: Date.now(), what });
  }

  /**
   * Declares that the failed node of `pods` is back now (its machine started
   * again): a pod elected after this needs another cause to lose leadership.
   */
  endNodeFailure(pods: readonly string[]): void {
    const at = Date.now();
    for (const [i, f] of this.#nodeFailures.entries()) {
      if (f.until === undefined && f.pods.some((p) => pods.includes(p))) {
        this.#nodeFailures[i] = { ...f, until: at };
      }
    }
  }

  /** Declares a span during which the operator could not act (check b does not count it). */
  excuse(from: number, to: number, reason: string): void {
    this.#excused.push({ from, to, reason });
  }

  get excused(): readonly Interval[] {
    return this.#excused;
  }

  /** Re-lists (history gaps) and watch restarts so far. */
  stats(): { events: number; relists: number; restarts: number } {
    return { events: this.events.length, relists: this.#relists, restarts: this.#restarts };
  }

  /** The pods as last delivered (arrival order), for a test to choose targets. */
  pods(): PodState[] {
    return [...this.#live.pod.values()];
  }

  lease(name: string): LeaseState | undefined {
    return this.#live.lease.get(name);
  }

  group(name: string): GroupState | undefined {
    return this.#live.group.get(name);
  }

  /** Checks the history recorded so far, with the hijacks and excuses declared. */
  check(
    options: Omit<CheckOptions, "excused" | "foreignLabels" | "nodeFailures"> = {},
  ): CheckResult {
    return checkInvariants(this.events, {
      ...options,
      nodeFailures: this.#nodeFailures,
      excused: this.#excused,
      foreignLabels: this.#foreign,
      endAt: options.endAt ?? this.#stoppedAt ?? Date.now(),
    });
  }

  /** The violations of `result` with the events around each. */
  static format(result: CheckResult, context = 5): string {
    return formatViolations(result, context);
  }

  /** A method, so that a check after an await is not narrowed away. */
  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  #record(event: RecordedEvent): void {
    this.events.push(event);
    const live = this.#live[event.stream] as Map<string, PodState | LeaseState | GroupState>;
    if (event.type === "relist") {
      live.clear();
      for (const o of event.objects) live.set(o.name, o);
    } else if (event.type === "deleted") {
      live.delete(event.object.name);
    } else {
      live.set(event.object.name, event.object);
    }
  }

  /** Starts one stream's loop; resolves once its first list is recorded. */
  #startStream(
    stream: Stream,
    path: string,
    transform: (raw: RawObject) => PodState | LeaseState | GroupState,
    labelSelector: string | undefined,
  ): Promise<void> {
    let resolveSynced!: () => void;
    const synced = new Promise<void>((resolve) => {
      resolveSynced = resolve;
    });
    this.#loops.push(this.#run(stream, path, transform, labelSelector, resolveSynced));
    return synced;
  }

  async #run(
    stream: Stream,
    path: string,
    transform: (raw: RawObject) => PodState | LeaseState | GroupState,
    labelSelector: string | undefined,
    onSynced: () => void,
  ): Promise<void> {
    const signal = this.#stop.signal;
    let rv: string | undefined;
    let initial = true;
    let needList = true;
    for (let attempt = 0; attempt < MAX_RESTARTS && !signal.aborted; attempt++) {
      if (needList) {
        try {
          const { objects, resourceVersion } = await this.#list(path, labelSelector, signal);
          rv = resourceVersion;
          this.#record({
            seq: this.#seq++,
            at: Date.now(),
            stream,
            type: "relist",
            rv: resourceVersion,
            initial,
            objects: objects.map(transform),
          } as RecordedEvent);
          if (!initial) this.#relists++;
          if (initial) onSynced();
          initial = false;
          needList = false;
        } catch {
          if (this.#stopped()) return;
          await delay(300, undefined, { signal }).catch(() => undefined);
          continue;
        }
      }
      const watch = startWatch({
        kc: this.#kc,
        path,
        query: {
          resourceVersion: rv,
          allowWatchBookmarks: "true",
          timeoutSeconds: "300",
          labelSelector,
        },
        inactivityTimeoutMs: this.#options.inactivityTimeoutMs ?? 75_000,
        onEvent: (event) => {
          const eventRv = event.object.metadata?.resourceVersion;
          if (eventRv !== undefined && eventRv !== "") rv = eventRv;
          if (event.type === "BOOKMARK") return;
          const object = transform(event.object);
          this.#record({
            seq: this.#seq++,
            at: Date.now(),
            stream,
            type:
              event.type === "ADDED" ? "added" : event.type === "DELETED" ? "deleted" : "modified",
            rv: eventRv ?? "",
            object,
          } as RecordedEvent);
        },
      });
      this.#watches.add(watch);
      const end = await watch.done;
      this.#watches.delete(watch);
      if (this.#stopped()) return;
      this.#restarts++;
      if (end.reason === "expired") needList = true;
      else if (end.reason !== "closed") {
        await delay(300, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #list(
    path: string,
    labelSelector: string | undefined,
    signal: AbortSignal,
  ): Promise<{ objects: RawObject[]; resourceVersion: string }> {
    const objects: RawObject[] = [];
    let token: string | undefined;
    let resourceVersion = "";
    for (let page = 0; page < 1000; page++) {
      const response = await kubeFetch(
        this.#kc,
        path,
        { labelSelector, limit: "500", continue: token },
        AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
      );
      if (response.status !== 200) throw await httpError(response);
      const body = (await response.json()) as {
        metadata?: { resourceVersion?: string; continue?: string };
        items?: RawObject[];
      };
      objects.push(...(body.items ?? []));
      resourceVersion = body.metadata?.resourceVersion ?? resourceVersion;
      token = body.metadata?.continue;
      if (token === undefined || token === "") break;
    }
    return { objects, resourceVersion };
  }
}

import type { KubeConfig } from "@kubernetes/client-node";
import { ListWatch } from "../../src/kube/listwatch.ts";

// What the benchmarks observe, independently of the operator: one watch of the
// benchmark's pods and one of every EndpointSlice, each event stamped on
// arrival. A latency is always (first matching event after the cause) - (the cause).

/** Label on every pod a benchmark creates, so one watch sees them all. */
export const BENCH_LABEL = "podium-bench";

/** Wall-clock milliseconds with sub-millisecond resolution. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export async function sleep(msec: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, msec));
}

interface PodState {
  namespace: string;
  name: string;
  /** The `app` label: which group the pod belongs to. */
  app: string;
  leader: boolean;
}

/** A pod that gained or lost role=leader, as the watch delivered it. */
export interface LabelEdge {
  at: number;
  namespace: string;
  app: string;
  pod: string;
  leader: boolean;
}

/** Watches every benchmark pod and records each change of its role=leader label. */
export class LabelWatch {
  readonly edges: LabelEdge[] = [];
  readonly #state = new Map<string, boolean>();
  readonly #watch: ListWatch<PodState>;

  constructor(kc: KubeConfig) {
    this.#watch = new ListWatch<PodState>({
      kc,
      name: "bench-pods",
      path: "/api/v1/pods",
      labelSelector: `${BENCH_LABEL}=1`,
      transform: (raw) => {
        const meta = raw.metadata as {
          namespace: string;
          name: string;
          labels?: Record<string, string>;
        };
        return {
          namespace: meta.namespace,
          name: meta.name,
          app: meta.labels?.app ?? "",
          leader: meta.labels?.role === "leader",
        };
      },
      onEvent: (type, key, pod) => {
        const at = now();
        const leader = type !== "delete" && pod.leader;
        if ((this.#state.get(key) ?? false) === leader) return;
        this.#state.set(key, leader);
        this.edges.push({ at, namespace: pod.namespace, app: pod.app, pod: pod.name, leader });
      },
    });
  }

  async start(): Promise<void> {
    this.#watch.start();
    await this.#watch.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
  }

  /** The pods of group `app` in `namespace` that carry the label now. */
  leaders(namespace: string, app: string): string[] {
    return this.#watch
      .list()
      .filter((p) => p.namespace === namespace && p.app === app && p.leader)
      .map((p) => p.name);
  }

  /** The first time at or after `since` that a pod of the group other than `old` gained the label. */
  gained(namespace: string, app: string, old: string, since: number): LabelEdge | undefined {
    return this.edges.find(
      (e) =>
        e.at >= since && e.leader && e.namespace === namespace && e.app === app && e.pod !== old,
    );
  }

  /** The first time at or after `since` that `pod` lost the label (or vanished with it). */
  lost(namespace: string, pod: string, since: number): number | undefined {
    return this.edges.find(
      (e) => e.at >= since && !e.leader && e.namespace === namespace && e.pod === pod,
    )?.at;
  }
}

interface SliceState {
  namespace: string;
  service: string;
  name: string;
  ready: string[];
}

/** The ready endpoints of one Service (over all its slices) after one EndpointSlice event. */
export interface SliceObservation {
  at: number;
  namespace: string;
  service: string;
  ready: string[];
}

/** Watches every EndpointSlice and records, per Service, which pods it lists as ready. */
export class SliceWatch {
  readonly observations: SliceObservation[] = [];
  readonly #watch: ListWatch<SliceState>;

  constructor(kc: KubeConfig) {
    this.#watch = new ListWatch<SliceState>({
      kc,
      name: "bench-endpointslices",
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      labelSelector: "kubernetes.io/service-name",
      transform: (raw) => {
        const meta = raw.metadata as {
          namespace: string;
          name: string;
          labels?: Record<string, string>;
        };
        const endpoints =
          (
            raw as {
              endpoints?: { conditions?: { ready?: boolean }; targetRef?: { name?: string } }[];
            }
          ).endpoints ?? [];
        return {
          namespace: meta.namespace,
          name: meta.name,
          service: meta.labels?.["kubernetes.io/service-name"] ?? "",
          ready: endpoints
            .filter((e) => e.conditions?.ready === true)
            .map((e) => e.targetRef?.name ?? "")
            .sort(),
        };
      },
      onEvent: (_type, _key, slice) => {
        const at = now();
        this.observations.push({
          at,
          namespace: slice.namespace,
          service: slice.service,
          ready: this.ready(slice.namespace, slice.service),
        });
      },
    });
  }

  async start(): Promise<void> {
    this.#watch.start();
    await this.#watch.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
  }

  /** The pods the Service's slices list as ready now. */
  ready(namespace: string, service: string): string[] {
    return this.#watch
      .list()
      .filter((s) => s.namespace === namespace && s.service === service)
      .flatMap((s) => s.ready)
      .sort();
  }

  /** The first time at or after `since` that the Service listed `pod` alone as ready. */
  onlyReady(namespace: string, service: string, pod: string, since: number): number | undefined {
    return this.observations.find(
      (o) =>
        o.at >= since &&
        o.namespace === namespace &&
        o.service === service &&
        o.ready.length === 1 &&
        o.ready[0] === pod,
    )?.at;
  }
}

/**
 * Polls `probe` (no API calls: it reads the watches) every 10 ms until it
 * returns a value or `timeoutMs` passes; undefined on timeout.
 */
export async function until<T>(
  probe: () => T | undefined,
  timeoutMs: number,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(10);
  }
}

import { metricValue } from "../support/prometheus.ts";
import type { HeapSummary } from "./heap.ts";
import type { ProfileSummary } from "./cpu-profile.ts";

// What the scale scenario (test/bench/scale.ts) measures: the samples of a
// run, the figures of each phase computed from them, and one size's result.

/** One second of the run: CPU in cores over the last interval, RSS, and what /metrics said. */
export interface ScaleSample {
  /** Seconds since the operator was spawned. */
  t: number;
  phase: "converge" | "idle";
  rssMiB: number;
  cores: number;
  apiserverCores: number;
  etcdCores: number;
  kwokCores: number;
  readyGroups: number;
  reconcileTotal?: number;
  queueDepth?: number;
  apiRequests?: number;
}

export interface PhaseFigures {
  seconds: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  /** Average CPU in cores: (utime + stime delta) / wall time. */
  cores: number;
  peakCores: number;
  apiserverCores: number;
  etcdCores: number;
  kwokCores: number;
  reconciles: number;
  reconcilesPerSecond: number;
  queueDepthMax: number;
  queueDepthEnd: number;
  apiRequests: number;
  apiRequestsPerSecond: number;
  /** rest_client_requests_total delta by method. */
  requestsByMethod: Record<string, number>;
}

export interface ScaleResult {
  kubernetes: string;
  groups: number;
  pods: number;
  namespaces: number;
  flags: {
    qps: number;
    burst: number;
    concurrency: number;
    cpuProf: boolean;
    /** Extra Node flags of the operator process (SCALE_NODE_FLAGS). */
    node: string[];
    /** The entry point run, relative to the repository; absent in runs from src/main.ts. */
    entry?: string;
  };
  setup: {
    createSeconds: number;
    createsPerSecond: number;
    podsReadySeconds: number;
  };
  /** The API server alone: one label merge patch per group from the admin client. */
  baseline: {
    patches: number;
    concurrency: number;
    seconds: number;
    perSecond: number;
    apiserverCores: number;
  };
  cacheSyncSeconds: number | undefined;
  allLabelledSeconds: number | undefined;
  allReadySeconds: number | undefined;
  readyAtEnd: number;
  converge: PhaseFigures;
  idle: PhaseFigures;
  memory: Record<string, number>;
  profile?: ProfileSummary;
  /** A CPU profile of the idle period alone. */
  idleProfile?: ProfileSummary;
  /** Seconds into the idle period until the work queue was first empty (a convergence backlog). */
  idleQueueDrainedSeconds?: number;
  /** The operator's heap at the end of the idle period, by what holds it. */
  heap?: HeapSummary;
  operatorErrorLines: number;
  samples: ScaleSample[];
}

/** The figures of one phase from its samples, the processes' CPU seconds in it and its requests by method. */
export function phaseFigures(
  samples: readonly ScaleSample[],
  cpus: { apiserver: number; etcd: number; kwok: number; op: number; seconds: number },
  methods: Record<string, number>,
): PhaseFigures {
  const rss = samples.map((s) => s.rssMiB);
  const first = samples[0];
  const last = samples.at(-1);
  const reconciles = (last?.reconcileTotal ?? 0) - (first?.reconcileTotal ?? 0);
  const requests = (last?.apiRequests ?? 0) - (first?.apiRequests ?? 0);
  return {
    seconds: cpus.seconds,
    rssMaxMiB: Math.max(0, ...rss),
    rssEndMiB: last?.rssMiB ?? 0,
    cores: cpus.op / cpus.seconds,
    peakCores: Math.max(0, ...samples.map((s) => s.cores)),
    apiserverCores: cpus.apiserver / cpus.seconds,
    etcdCores: cpus.etcd / cpus.seconds,
    kwokCores: cpus.kwok / cpus.seconds,
    reconciles,
    reconcilesPerSecond: reconciles / cpus.seconds,
    queueDepthMax: Math.max(0, ...samples.map((s) => s.queueDepth ?? 0)),
    queueDepthEnd: last?.queueDepth ?? 0,
    apiRequests: requests,
    apiRequestsPerSecond: requests / cpus.seconds,
    requestsByMethod: methods,
  };
}

/** The HTTP methods the figures count podium's requests by. */
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** rest_client_requests_total by method in a /metrics body (none when there is no body). */
export function requestsByMethod(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (text === undefined) return out;
  for (const m of METHODS)
    out[m] = metricValue(text, "rest_client_requests_total", { method: m }) ?? 0;
  return out;
}

/** `b` - `a`, by method. */
export function requestsDelta(
  a: Record<string, number>,
  b: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of METHODS) out[m] = (b[m] ?? 0) - (a[m] ?? 0);
  return out;
}

/** The idle period from the first empty queue on: what a group costs once nothing is left to do. */
export interface SteadyFigures {
  seconds: number;
  /** Operator CPU, mean of the per-second samples. */
  cores: number;
  /** podium's API requests per group per minute (`rest_client_requests_total`). */
  requestsPerGroupMinute: number;
  rssEndMiB: number;
}

/**
 * The steady state of a result: its idle samples from `idleQueueDrainedSeconds`
 * on (the idle period's start is its first sample); undefined when the queue
 * never drained or fewer than two scrapes fall in it.
 */
export function steadyFigures(r: {
  groups: number;
  samples: readonly ScaleSample[];
  idleQueueDrainedSeconds?: number;
}): SteadyFigures | undefined {
  const idle = r.samples.filter((s) => s.phase === "idle");
  const start = idle[0]?.t;
  const drained = r.idleQueueDrainedSeconds;
  if (start === undefined || drained === undefined) return undefined;
  const steady = idle.filter((s) => s.t - start >= drained - 1e-6);
  const scraped = steady.filter((s) => s.apiRequests !== undefined);
  const first = scraped[0];
  const last = scraped.at(-1);
  if (first === undefined || last === undefined || last === first || steady.length === 0) {
    return undefined;
  }
  const minutes = (last.t - first.t) / 60;
  return {
    seconds: (steady.at(-1)?.t ?? start) - (steady[0]?.t ?? start),
    cores: steady.reduce((sum, s) => sum + s.cores, 0) / steady.length,
    requestsPerGroupMinute:
      ((last.apiRequests ?? 0) - (first.apiRequests ?? 0)) / minutes / r.groups,
    rssEndMiB: steady.at(-1)?.rssMiB ?? 0,
  };
}

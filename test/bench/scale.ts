import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import { createClientFactory } from "../../src/kube/client.ts";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { clusterPid, clusterScript, freshCluster } from "../support/cluster-control.ts";
import { installPodium, root } from "../support/install.ts";
import { describeMachine } from "../support/machine.ts";
import { freePort, spawnOperatorLogging, stopProcess } from "../support/operator.ts";
import { procSample } from "../support/proc.ts";
import type { ProcSample } from "../support/proc.ts";
import { metricValue, scrapeMetrics } from "../support/prometheus.ts";
import { log } from "./fixtures.ts";
import type { HeapSummary } from "./heap.ts";
import { summarizeHeapSnapshot } from "./heap.ts";
import type { Table } from "./report.ts";
import { markdownTable, mergeJsonKey, mergeMarkdownSection, textTable } from "./report.ts";
import { ms } from "./report.ts";
import { BENCH_LABEL, now, sleep } from "./watch.ts";

// Scenario: scale on one replica (DESIGN.md §5: 5,000 groups / 15,000 pods
// elected from a cold start in < 60 s, RSS < 512 MiB, steady CPU < 0.25 core).
// Runs on its own cluster (.cluster-bench-scale, ports +22000), fresh for each
// size, because a cold start needs every pod and group to exist before the
// operator does, and the other scenarios' cluster runs an operator throughout.
// N groups of 3 bare pods are created with bounded concurrency, kwok makes the
// pods Running and Ready, the API server's own speed for N label patches is
// measured, then the operator is started as a child process (optionally with
// --cpu-prof) and sampled every second from /proc and its /metrics until every
// group is Ready, and then over an idle period.

const CLUSTER_DIR = path.join(root, ".cluster-bench-scale");
const PORT_OFFSET = "22000";
/** Groups per namespace: a few namespaces, as a real cluster would have. */
const GROUPS_PER_NAMESPACE = 1000;
/** Create requests in flight at once while setting up (the admin client has no rate limit). */
const CREATE_CONCURRENCY = 24;

export interface ScaleSettings {
  groups: number[];
  idleSeconds: number;
  qps: number;
  burst: number;
  concurrency: number;
  /** Run the operator with --cpu-prof and summarize the profile. */
  profile: boolean;
  /** Upper bound for convergence. */
  convergeTimeoutMs: number;
  /** Extra Node flags for the operator, e.g. a heap cap as a container limit would imply. */
  nodeFlags: string[];
}

/** The settings of a run: sizes by mode, overridable through SCALE_* environment variables. */
export function scaleSettings(mode: "quick" | "full"): ScaleSettings {
  const env = process.env;
  const num = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: not a number: ${v}`);
    return n;
  };
  const groups =
    env.SCALE_GROUPS !== undefined && env.SCALE_GROUPS !== ""
      ? env.SCALE_GROUPS.split(",").map((s) => Number(s.trim()))
      : mode === "quick"
        ? [500]
        : [1000, 5000];
  if (groups.some((g) => !Number.isInteger(g) || g < 1 || g > 20_000)) {
    throw new Error(
      `SCALE_GROUPS: sizes must be integers in 1..20000: ${String(env.SCALE_GROUPS)}`,
    );
  }
  return {
    groups,
    idleSeconds: num("SCALE_IDLE_SECONDS", mode === "quick" ? 60 : 300),
    qps: num("SCALE_QPS", 500),
    burst: num("SCALE_BURST", 1000),
    concurrency: num("SCALE_CONCURRENCY", 16),
    profile: env.SCALE_PROFILE !== "0",
    convergeTimeoutMs: num("SCALE_CONVERGE_TIMEOUT_SECONDS", mode === "quick" ? 300 : 900) * 1000,
    nodeFlags: (env.SCALE_NODE_FLAGS ?? "").split(" ").filter((f) => f !== ""),
  };
}

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

export interface ProfileEntry {
  function: string;
  where: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  top: ProfileEntry[];
  byArea: { area: string; selfMs: number; percent: number }[];
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
  /** The operator's heap at the end of the idle period, by what holds it. */
  heap?: HeapSummary;
  operatorErrorLines: number;
  samples: ScaleSample[];
}

let operatorChild: ChildProcess | undefined;
let clusterUp = false;

/** Stops what the scale scenario started: its operator (by PID), then its cluster. */
export async function stopScale(): Promise<void> {
  const child = operatorChild;
  operatorChild = undefined;
  if (child) await stopProcess(child, "SIGKILL");
  if (clusterUp) {
    clusterUp = false;
    clusterScript("down", CLUSTER_DIR, PORT_OFFSET);
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; retries each call up to 5 times. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      for (let attempt = 1; ; attempt++) {
        try {
          await fn(item);
          break;
        } catch (err) {
          const code = (err as { code?: number }).code;
          if (code === 409 || attempt >= 5) {
            if (code === 409) break; // already exists (a retried create that had gone through)
            throw err;
          }
          await sleep(200 * attempt);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface PodState {
  app: string;
  ready: boolean;
  leader: boolean;
}

/** Counts, from watches, ready pods, groups with exactly one labelled pod and Ready groups. */
class Observer {
  readyPods = 0;
  labelledGroups = 0;
  readyGroups = 0;
  allLabelledAt: number | undefined;
  allReadyAt: number | undefined;
  readonly #leadersByApp = new Map<string, number>();
  readonly #pods: ListWatch<PodState>;
  readonly #groups: ListWatch<boolean>;
  readonly #groupCount: number;

  constructor(kc: KubeConfig, groupCount: number) {
    this.#groupCount = groupCount;
    this.#pods = new ListWatch<PodState>({
      kc,
      name: "scale-pods",
      path: "/api/v1/pods",
      labelSelector: `${BENCH_LABEL}=1`,
      transform: (raw) => {
        const meta = raw.metadata as { labels?: Record<string, string> };
        const status = raw.status as
          { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
        return {
          app: meta.labels?.app ?? "",
          leader: meta.labels?.role === "leader",
          ready:
            status?.phase === "Running" &&
            (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
        };
      },
      onEvent: (type, _key, pod, old) => {
        const cur = type === "delete" ? undefined : pod;
        this.readyPods += (cur?.ready ? 1 : 0) - (old?.ready ? 1 : 0);
        if (old?.leader) this.#leader(old.app, -1);
        if (cur?.leader) this.#leader(cur.app, 1);
      },
    });
    this.#groups = new ListWatch<boolean>({
      kc,
      name: "scale-groups",
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      transform: (raw) => {
        const status = raw.status as
          { conditions?: { type: string; status: string }[] } | undefined;
        return (status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
      },
      onEvent: (type, _key, ready, old) => {
        this.readyGroups += (type !== "delete" && ready ? 1 : 0) - (old === true ? 1 : 0);
        if (this.readyGroups >= this.#groupCount && this.allReadyAt === undefined) {
          this.allReadyAt = now();
        }
      },
    });
  }

  #leader(app: string, delta: number): void {
    const before = this.#leadersByApp.get(app) ?? 0;
    const after = before + delta;
    this.#leadersByApp.set(app, after);
    this.labelledGroups += (after === 1 ? 1 : 0) - (before === 1 ? 1 : 0);
    if (this.labelledGroups >= this.#groupCount && this.allLabelledAt === undefined) {
      this.allLabelledAt = now();
    }
  }

  async start(): Promise<void> {
    this.#pods.start();
    this.#groups.start();
    await this.#pods.waitForSync();
    await this.#groups.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#pods.stop();
    await this.#groups.stop();
  }
}

/** Polls `check` every 250 ms until it holds or `timeoutMs` passes; returns whether it held. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
  return true;
}

/** Sums self time per function of a V8 .cpuprofile; the top `n` and a split by area. */
export function summarizeProfile(file: string, n = 20): ProfileSummary {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const where = (url: string, line: number): string => {
    if (url === "") return "";
    const local = url.replace(/^file:\/\//, "").replace(`${root}/`, "");
    const short = local.replace(/^.*node_modules\//, "node_modules/");
    return `${short}:${String(line + 1)}`;
  };
  const area = (url: string, fn: string): string => {
    if (url === "") return fn.startsWith("(") ? fn : "(native)";
    if (url.startsWith("node:")) return "node: built-ins";
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (pkg) return pkg[1] ?? "node_modules";
    const src = /\/(src\/[^/]+)\//.exec(url);
    return src ? `podium ${src[1] ?? ""}` : "other";
  };
  const fns = new Map<string, ProfileEntry>();
  const areas = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName === "" ? "(anonymous)" : functionName;
    const w = where(url, lineNumber);
    const k = `${name} ${w}`;
    const entry = fns.get(k) ?? { function: name, where: w, selfMs: 0, percent: 0 };
    entry.selfMs += us / 1000;
    fns.set(k, entry);
    const a = area(url, name);
    areas.set(a, (areas.get(a) ?? 0) + us / 1000);
  }
  const totalMs = totalUs / 1000;
  const top = [...fns.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, n);
  for (const e of top) e.percent = (100 * e.selfMs) / totalMs;
  const byArea = [...areas.entries()]
    .map(([a, v]) => ({ area: a, selfMs: v, percent: (100 * v) / totalMs }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, 15);
  return { file, totalMs, top, byArea };
}

function phaseFigures(
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

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

function byMethod(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (text === undefined) return out;
  for (const m of METHODS)
    out[m] = metricValue(text, "rest_client_requests_total", { method: m }) ?? 0;
  return out;
}

function diffMethods(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of METHODS) out[m] = (b[m] ?? 0) - (a[m] ?? 0);
  return out;
}

async function runOne(groups: number, settings: ScaleSettings): Promise<ScaleResult> {
  const pods = groups * 3;
  const namespaces = Math.ceil(groups / GROUPS_PER_NAMESPACE);
  log(
    `scale: ${String(groups)} groups / ${String(pods)} pods in ${String(namespaces)} namespaces; fresh cluster in ${CLUSTER_DIR}`,
  );
  clusterUp = true;
  freshCluster(CLUSTER_DIR, PORT_OFFSET);
  const kubeconfig = path.join(CLUSTER_DIR, "kubeconfig");
  const operatorKubeconfig = installPodium(kubeconfig, CLUSTER_DIR);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  // podium's own client factory: one shared connection pool, no rate limit.
  const make = createClientFactory(kc, {
    qps: 0,
    burst: 1,
    requestTimeoutMs: 60_000,
    userAgent: "podium-bench-scale",
  });
  const core = make(CoreV1Api);
  const kubernetes = (await make(VersionApi).getCode()).gitVersion;
  const custom = make(CustomObjectsApi);

  const nsNames = Array.from({ length: namespaces }, (_v, i) => `scale-${String(i)}`);
  for (const ns of nsNames) await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const ns of nsNames) {
    for (let i = 0; i < 600; i++) {
      try {
        await core.readNamespacedServiceAccount({ name: "default", namespace: ns });
        break;
      } catch {
        await sleep(100);
      }
    }
  }
  const observer = new Observer(kc, groups);
  await observer.start();

  const nodes = ["kwok-node-0", "kwok-node-1"];
  const indexes = Array.from({ length: groups }, (_v, i) => i);
  const nsOf = (g: number): string => nsNames[Math.floor(g / GROUPS_PER_NAMESPACE)] ?? "scale-0";
  const app = (g: number): string => `g${String(g).padStart(5, "0")}`;
  const createStart = now();
  await pool(
    indexes.flatMap((g) => [0, 1, 2].map((p) => ({ g, p }))),
    CREATE_CONCURRENCY,
    ({ g, p }) =>
      core.createNamespacedPod({
        namespace: nsOf(g),
        body: {
          metadata: { name: `${app(g)}-${String(p)}`, labels: { app: app(g), [BENCH_LABEL]: "1" } },
          spec: {
            // Bound directly: no scheduler work, and no 110-pods-per-node capacity to plan for.
            nodeName: nodes[(g * 3 + p) % nodes.length] ?? "kwok-node-0",
            containers: [{ name: "app", image: "podium.test/app:1" }],
          },
        },
      }),
  );
  log(`scale: ${String(pods)} pods created in ${((now() - createStart) / 1000).toFixed(1)} s`);
  await pool(indexes, CREATE_CONCURRENCY, (g) =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: nsOf(g),
      plural: PLURAL,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ElectionGroup",
        metadata: { name: app(g) },
        spec: { selector: { matchLabels: { app: app(g) } } },
      },
    }),
  );
  const createSeconds = (now() - createStart) / 1000;
  log(`scale: ${String(groups)} groups created; ${createSeconds.toFixed(1)} s for all creates`);
  const readyOk = await waitUntil(() => observer.readyPods >= pods, 10 * 60_000);
  const podsReadySeconds = (now() - createStart) / 1000;
  if (!readyOk)
    throw new Error(`only ${String(observer.readyPods)}/${String(pods)} pods Ready after 10 min`);
  log(`scale: every pod Running and Ready ${podsReadySeconds.toFixed(1)} s after the first create`);

  // Baseline: the API server alone, one label patch per group (the operator makes ~4 writes a group).
  const apiPid = clusterPid(CLUSTER_DIR, "kube-apiserver");
  const etcdPid = clusterPid(CLUSTER_DIR, "etcd");
  const kwokPid = clusterPid(CLUSTER_DIR, "kwok");
  const baseApi0 = procSample(apiPid);
  const baseStart = now();
  await pool(indexes, settings.concurrency, (g) =>
    core.patchNamespacedPod(
      {
        namespace: nsOf(g),
        name: `${app(g)}-0`,
        body: { metadata: { labels: { "podium-bench-probe": "1" } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    ),
  );
  const baseSeconds = (now() - baseStart) / 1000;
  const baseApi1 = procSample(apiPid);
  const baseline = {
    patches: groups,
    concurrency: settings.concurrency,
    seconds: baseSeconds,
    perSecond: groups / baseSeconds,
    apiserverCores: ((baseApi1?.cpuSeconds ?? 0) - (baseApi0?.cpuSeconds ?? 0)) / baseSeconds,
  };
  log(
    `scale: API server baseline: ${String(groups)} label patches at concurrency ${String(settings.concurrency)} in ${baseSeconds.toFixed(1)} s`,
  );
  await sleep(3000); // let kwok and the watches settle

  // The operator, cold.
  const metricsPort = await freePort();
  const probePort = await freePort();
  const profDir = mkdtempSync(path.join(os.tmpdir(), "podium-scale-prof-"));
  const logFile = path.join(CLUSTER_DIR, "operator.log");
  const nodeFlags = [
    ...settings.nodeFlags,
    ...(settings.profile
      ? [
          "--cpu-prof",
          `--cpu-prof-dir=${profDir}`,
          "--heapsnapshot-signal=SIGUSR2",
          `--diagnostic-dir=${profDir}`,
        ]
      : []),
  ];
  const t0 = now();
  const child = spawnOperatorLogging(operatorKubeconfig, {
    logFile,
    metricsPort,
    probePort,
    identity: "podium-bench-scale",
    logLevel: "info",
    nodeFlags,
    args: [
      `--kube-api-qps=${String(settings.qps)}`,
      `--kube-api-burst=${String(settings.burst)}`,
      `--max-concurrent-reconciles=${String(settings.concurrency)}`,
    ],
  });
  operatorChild = child;
  const pid = child.pid;
  log(
    `scale: operator started (pid ${String(pid)}, --kube-api-qps=${String(settings.qps)} --kube-api-burst=${String(settings.burst)} --max-concurrent-reconciles=${String(settings.concurrency)}${settings.profile ? ", --cpu-prof" : ""}${settings.nodeFlags.length > 0 ? `, node ${settings.nodeFlags.join(" ")}` : ""})`,
  );

  let cacheSyncSeconds: number | undefined;
  const samples: ScaleSample[] = [];
  const procs = (): (ProcSample | undefined)[] => [
    procSample(pid),
    procSample(apiPid),
    procSample(etcdPid),
    procSample(kwokPid),
  ];
  let prev = procs();
  let prevAt = now();
  const startProcs = prev;
  let lastMetrics: string | undefined;
  const sampleOnce = async (phase: ScaleSample["phase"], scrapeNow: boolean): Promise<void> => {
    const cur = procs();
    const at = now();
    const dt = (at - prevAt) / 1000;
    const d = (i: number): number => ((cur[i]?.cpuSeconds ?? 0) - (prev[i]?.cpuSeconds ?? 0)) / dt;
    const sample: ScaleSample = {
      t: (at - t0) / 1000,
      phase,
      rssMiB: cur[0]?.rssMiB ?? 0,
      cores: d(0),
      apiserverCores: d(1),
      etcdCores: d(2),
      kwokCores: d(3),
      readyGroups: observer.readyGroups,
    };
    prev = cur;
    prevAt = at;
    if (scrapeNow) {
      const text = await scrapeMetrics(metricsPort);
      if (text !== undefined) {
        lastMetrics = text;
        const reconciles = metricValue(text, "controller_runtime_reconcile_total");
        const depth = metricValue(text, "workqueue_depth");
        const requests = metricValue(text, "rest_client_requests_total");
        if (reconciles !== undefined) sample.reconcileTotal = reconciles;
        if (depth !== undefined) sample.queueDepth = depth;
        if (requests !== undefined) sample.apiRequests = requests;
      }
    }
    samples.push(sample);
  };

  // Convergence: sample every second (metrics every 2 s) until every group is Ready.
  const convergeStart = now();
  const firstMetrics = byMethod(await scrapeMetrics(metricsPort));
  const deadline = Date.now() + settings.convergeTimeoutMs;
  let tick = 0;
  while (observer.readyGroups < groups && Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`operator exited with ${String(child.exitCode)}; see ${logFile}`);
    if (cacheSyncSeconds === undefined) {
      try {
        const res = await fetch(`http://127.0.0.1:${String(probePort)}/readyz`, {
          signal: AbortSignal.timeout(1000),
        });
        if (res.status === 200) cacheSyncSeconds = (now() - t0) / 1000;
      } catch {
        // not listening yet
      }
    }
    await sleep(1000 - ((now() - convergeStart) % 1000));
    await sampleOnce("converge", tick % 2 === 0);
    tick++;
  }
  await sampleOnce("converge", true);
  const convergeEndProcs = prev;
  const convergeSeconds = (now() - convergeStart) / 1000;
  const convergeMethods = diffMethods(firstMetrics, byMethod(lastMetrics));
  const memAt = (text: string | undefined, prefix: string): Record<string, number> => {
    const out: Record<string, number> = {};
    if (text === undefined) return out;
    for (const [k, name] of [
      ["rss", "process_resident_memory_bytes"],
      ["heapUsed", "nodejs_heap_size_used_bytes"],
      ["heapTotal", "nodejs_heap_size_total_bytes"],
      ["external", "nodejs_external_memory_bytes"],
    ] as const) {
      const v = metricValue(text, name);
      if (v !== undefined) out[`${prefix}${k}MiB`] = v / 2 ** 20;
    }
    return out;
  };
  const memory = memAt(lastMetrics, "converged.");
  const allReadySeconds =
    observer.allReadyAt === undefined ? undefined : (observer.allReadyAt - t0) / 1000;
  const allLabelledSeconds =
    observer.allLabelledAt === undefined ? undefined : (observer.allLabelledAt - t0) / 1000;
  log(
    `scale: ${String(observer.readyGroups)}/${String(groups)} groups Ready after ${((now() - t0) / 1000).toFixed(1)} s (all Ready at ${allReadySeconds?.toFixed(1) ?? "—"} s)`,
  );

  // Idle: the same sampling for the idle period.
  const idleStart = now();
  const idleFirstMetrics = byMethod(lastMetrics);
  const idleSamplesFrom = samples.length;
  const idleEnd = Date.now() + settings.idleSeconds * 1000;
  tick = 0;
  while (Date.now() < idleEnd) {
    if (child.exitCode !== null)
      throw new Error(`operator exited with ${String(child.exitCode)}; see ${logFile}`);
    await sleep(1000 - ((now() - idleStart) % 1000));
    await sampleOnce("idle", tick % 2 === 0);
    tick++;
  }
  await sampleOnce("idle", true);
  const idleSeconds = (now() - idleStart) / 1000;
  const idleMethods = diffMethods(idleFirstMetrics, byMethod(lastMetrics));
  Object.assign(memory, memAt(lastMetrics, "idle."));
  const endProcs = prev;
  const cpuDelta = (
    a: (ProcSample | undefined)[],
    b: (ProcSample | undefined)[],
    i: number,
  ): number => (b[i]?.cpuSeconds ?? 0) - (a[i]?.cpuSeconds ?? 0);
  const convergeSamples = samples.slice(0, idleSamplesFrom);
  const idleSamples = samples.slice(idleSamplesFrom - 1);
  const converge = phaseFigures(
    convergeSamples,
    {
      op: cpuDelta(startProcs, convergeEndProcs, 0),
      apiserver: cpuDelta(startProcs, convergeEndProcs, 1),
      etcd: cpuDelta(startProcs, convergeEndProcs, 2),
      kwok: cpuDelta(startProcs, convergeEndProcs, 3),
      seconds: convergeSeconds,
    },
    convergeMethods,
  );
  const idle = phaseFigures(
    idleSamples,
    {
      op: cpuDelta(convergeEndProcs, endProcs, 0),
      apiserver: cpuDelta(convergeEndProcs, endProcs, 1),
      etcd: cpuDelta(convergeEndProcs, endProcs, 2),
      kwok: cpuDelta(convergeEndProcs, endProcs, 3),
      seconds: idleSeconds,
    },
    idleMethods,
  );
  const readyAtEnd = observer.readyGroups;

  // A heap snapshot at the end of the idle period: V8 writes it synchronously
  // on SIGUSR2, so the file is complete once /metrics answers again.
  let heap: HeapSummary | undefined;
  if (settings.profile && child.exitCode === null) {
    child.kill("SIGUSR2");
    const deadline = Date.now() + 120_000;
    let file: string | undefined;
    while (Date.now() < deadline && file === undefined) {
      await sleep(1000);
      const found = readdirSync(profDir).find((f) => f.endsWith(".heapsnapshot"));
      const answers = await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`).then(
        (r) => r.ok,
        () => false,
      );
      if (found !== undefined && answers) file = path.join(profDir, found);
    }
    const size = file === undefined ? 0 : statSync(file).size;
    if (file === undefined) log(`scale: no heap snapshot in ${profDir} after 120 s`);
    else if (size > 400 * 1024 * 1024) {
      log(`scale: heap snapshot ${file} is ${String(size >> 20)} MiB; too large to summarize here`);
    } else {
      heap = summarizeHeapSnapshot(file, 15);
      log(`scale: heap snapshot ${file} (${String(size >> 20)} MiB file)`);
    }
  }

  // Stop the operator (SIGTERM: a clean exit writes the CPU profile).
  await stopProcess(child);
  operatorChild = undefined;
  await observer.stop();
  const operatorLog = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
  const operatorErrorLines = operatorLog
    .split("\n")
    .filter((l) => /"level":(50|60)\b/.test(l)).length;

  let profile: ProfileSummary | undefined;
  if (settings.profile) {
    const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
    if (file !== undefined) {
      profile = summarizeProfile(path.join(profDir, file));
      log(
        `scale: CPU profile ${path.join(profDir, file)} (${(profile.totalMs / 1000).toFixed(1)} s sampled)`,
      );
    } else {
      log(`scale: no .cpuprofile in ${profDir}`);
    }
  }
  clusterUp = false;
  clusterScript("down", CLUSTER_DIR, PORT_OFFSET);
  const result: ScaleResult = {
    kubernetes,
    groups,
    pods,
    namespaces,
    flags: {
      qps: settings.qps,
      burst: settings.burst,
      concurrency: settings.concurrency,
      cpuProf: settings.profile,
      node: settings.nodeFlags,
    },
    setup: { createSeconds, createsPerSecond: (pods + groups) / createSeconds, podsReadySeconds },
    baseline,
    cacheSyncSeconds,
    allLabelledSeconds,
    allReadySeconds,
    readyAtEnd,
    converge,
    idle,
    memory,
    operatorErrorLines,
    samples,
  };
  if (profile) result.profile = profile;
  if (heap) result.heap = heap;
  return result;
}

/** Runs every size of the scenario, each on a fresh cluster; the cluster is down afterwards. */
export async function runScale(settings: ScaleSettings): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  try {
    for (const groups of settings.groups) results.push(await runOne(groups, settings));
  } finally {
    await stopScale();
  }
  return results;
}

const sec = (v: number | undefined): string => (v === undefined ? "—" : `${v.toFixed(1)} s`);
const mib = (v: number | undefined): string => (v === undefined ? "—" : `${v.toFixed(0)} MiB`);
const cores = (v: number): string => v.toFixed(v < 0.1 ? 3 : 2);
const rate = (v: number): string => v.toFixed(v < 10 ? 1 : 0);

/** The tables of the scale scenario: convergence, idle, API server comparison, profile. */
export function scaleTables(results: readonly ScaleResult[]): Table[] {
  const tables: Table[] = [
    {
      title: "Cold start: from spawning the operator to every group Ready",
      header: [
        "groups / pods",
        "caches synced",
        "all labelled",
        "all Ready",
        "target",
        "RSS max",
        "CPU avg (cores)",
        "CPU peak",
        "reconciles/s",
        "queue max",
        "API req/s",
        "apiserver cores",
        "etcd cores",
      ],
      rows: results.map((r) => [
        `${String(r.groups)} / ${String(r.pods)}`,
        sec(r.cacheSyncSeconds),
        sec(r.allLabelledSeconds),
        r.allReadySeconds === undefined
          ? `timed out (${String(r.readyAtEnd)} Ready)`
          : sec(r.allReadySeconds),
        "< 60 s",
        mib(r.converge.rssMaxMiB),
        cores(r.converge.cores),
        cores(r.converge.peakCores),
        rate(r.converge.reconcilesPerSecond),
        String(r.converge.queueDepthMax),
        rate(r.converge.apiRequestsPerSecond),
        cores(r.converge.apiserverCores),
        cores(r.converge.etcdCores),
      ]),
      notes: [
        "`caches synced` is the first 200 from /readyz (polled every second, so up to 1 s late); " +
          "`all labelled` and `all Ready` are when the bench's own pod and ElectionGroup watches " +
          "first saw every group with exactly one `role=leader` pod and every group's Ready " +
          "condition True. CPU is utime+stime from /proc/<pid>/stat over the wall time of the " +
          "phase (2 cores in all on this machine); RSS is VmRSS sampled every second; reconciles " +
          "and API requests are deltas of `controller_runtime_reconcile_total` and " +
          "`rest_client_requests_total`, queue max the largest `workqueue_depth` scraped (every 2 s).",
      ],
    },
    {
      title: "Idle after convergence",
      header: [
        "groups",
        "idle",
        "RSS end",
        "RSS max",
        "CPU avg (cores)",
        "target",
        "reconciles/s",
        "API req/s",
        "by method",
        "queue end",
        "apiserver cores",
        "heap used",
        "external",
      ],
      rows: results.map((r) => [
        String(r.groups),
        `${r.idle.seconds.toFixed(0)} s`,
        mib(r.idle.rssEndMiB),
        mib(r.idle.rssMaxMiB),
        cores(r.idle.cores),
        "< 0.25",
        rate(r.idle.reconcilesPerSecond),
        rate(r.idle.apiRequestsPerSecond),
        Object.entries(r.idle.requestsByMethod)
          .filter(([, v]) => v > 0)
          .map(([m, v]) => `${m} ${String(v)}`)
          .join(", "),
        String(r.idle.queueDepthEnd),
        cores(r.idle.apiserverCores),
        mib(r.memory["idle.heapUsedMiB"]),
        mib(r.memory["idle.externalMiB"]),
      ]),
      notes: [
        "RSS target < 512 MiB. Heap used and external memory are prom-client's " +
          "`nodejs_heap_size_used_bytes` and `nodejs_external_memory_bytes` at the end of the idle period.",
      ],
    },
    {
      title: "Where the time goes: podium against the API server alone",
      header: [
        "groups",
        "setup creates/s",
        "pods Ready after",
        "baseline patches/s",
        "baseline apiserver cores",
        "operator writes",
        "operator writes/s",
        "writes per group",
      ],
      rows: results.map((r) => {
        const writes =
          (r.converge.requestsByMethod.POST ?? 0) +
          (r.converge.requestsByMethod.PUT ?? 0) +
          (r.converge.requestsByMethod.PATCH ?? 0);
        return [
          String(r.groups),
          rate(r.setup.createsPerSecond),
          sec(r.setup.podsReadySeconds),
          rate(r.baseline.perSecond),
          cores(r.baseline.apiserverCores),
          String(writes),
          rate(writes / r.converge.seconds),
          (writes / r.groups).toFixed(1),
        ];
      }),
      notes: [
        "`setup creates/s`: pods and groups created by the bench (admin client, 24 in flight, one " +
          "shared connection pool); `pods Ready after`: from the first create until kwok had made " +
          "every pod Running and Ready. `baseline`: one JSON merge patch of a pod label per group " +
          "from the admin client with as many in flight as the operator has workers, before the " +
          "operator starts: what the API server and etcd on this machine manage without podium. " +
          "`operator writes` are its POST/PUT/PATCH requests during convergence (finalizer, Lease, " +
          "leader label, status, Events).",
      ],
    },
  ];
  for (const r of results) {
    if (!r.profile) continue;
    tables.push({
      title: `CPU profile of the operator, ${String(r.groups)} groups (self time, top functions)`,
      header: ["function", "where", "self", "%"],
      rows: r.profile.top.map((e) => [
        `\`${e.function}\``,
        e.where === "" ? "" : `\`${e.where}\``,
        ms(e.selfMs),
        e.percent.toFixed(1),
      ]),
      notes: [
        `Sampled over the operator's whole life (start, convergence, ${r.idle.seconds.toFixed(0)} s idle, ` +
          `shutdown): ${(r.profile.totalMs / 1000).toFixed(1)} s of samples, (idle) included. By area: ` +
          r.profile.byArea
            .slice(0, 10)
            .map((a) => `${a.area} ${a.percent.toFixed(1)} %`)
            .join(", ") +
          ".",
      ],
    });
  }
  for (const r of results) {
    const heap = r.heap;
    if (!heap) continue;
    const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    tables.push({
      title: `Heap of the operator after ${r.idle.seconds.toFixed(0)} s idle, ${String(r.groups)} groups (self size by type and constructor)`,
      header: ["type", "constructor / kind", "count", "self size", "% of heap"],
      rows: heap.top.map((g) => [
        g.type,
        `\`${g.name.replaceAll("`", "'")}\``,
        String(g.count),
        mib(g.selfBytes),
        ((100 * g.selfBytes) / heap.totalBytes).toFixed(1),
      ]),
      notes: [
        `From a V8 heap snapshot taken with SIGUSR2 (\`--heapsnapshot-signal\`) at the end of the idle ` +
          `period: ${mib(heap.totalBytes)} in ${String(heap.nodes)} heap objects. RSS also counts ` +
          "V8's reserved but unused heap, code, Node itself and native buffers.",
      ],
    });
  }
  return tables;
}

/** Prints the tables and merges the scale section into docs/benchmarks.md and results.json. */
export async function writeScaleReport(
  results: readonly ScaleResult[],
  settings: ScaleSettings,
  run: {
    date: string;
    command: string;
    mode: string;
    runtimeSeconds: number;
    podiumCommit: string;
  },
  texts: string[] = [],
): Promise<void> {
  const tables = scaleTables(results);
  for (const t of tables) process.stdout.write(`\n${textTable(t)}\n`);
  const machine = describeMachine(results[0]?.kubernetes ?? "unknown", run.podiumCommit);
  const m = machine;
  const lines = [
    "Scale on one replica (DESIGN.md §5: 5,000 groups / 15,000 pods elected from a cold start in " +
      "< 60 s, RSS < 512 MiB, steady CPU < 0.25 core). For each size a fresh cluster " +
      "(`.cluster-bench-scale`, its own etcd and API server) gets N ElectionGroups (default spec: " +
      "Managed, 15 s Lease) of three bare pods each, bound to the two kwok nodes, in namespaces of " +
      `${String(GROUPS_PER_NAMESPACE)} groups, all created before the operator starts. Then the ` +
      "operator starts as a child process with its ServiceAccount's kubeconfig and " +
      `\`--kube-api-qps=${String(settings.qps)} --kube-api-burst=${String(settings.burst)} ` +
      `--max-concurrent-reconciles=${String(settings.concurrency)}\`` +
      (settings.profile ? " under `node --cpu-prof`" : "") +
      ", and is measured until every group is Ready, then over an idle period.",
    `- **Run:** \`${run.command}\` (${run.mode} variant; ${run.runtimeSeconds.toFixed(0)} s wall), ${run.date}`,
    `- **Machine:** ${String(m.cpus)} × ${m.cpuModel}, ${m.memoryGiB.toFixed(1)} GiB memory, ${m.os}; ` +
      `Node ${m.node}; Kubernetes ${m.kubernetes}; podium at ${m.podiumCommit}. The API server, ` +
      "etcd, kwok, the controller manager, the bench's watches and the operator share these cores.",
    ...texts,
  ];
  const body: string[] = [...lines.flatMap((l) => [l, ""])];
  for (const t of tables) {
    body.push(`### ${t.title}`, "", markdownTable(t), "");
    if (t.notes) body.push(...t.notes.flatMap((n) => [n, ""]));
  }
  const outDir = path.join(root, "docs/benchmarks");
  await mergeMarkdownSection(
    path.join(root, "docs/benchmarks.md"),
    "Scale on one replica",
    body.join("\n"),
  );
  mergeJsonKey(path.join(outDir, "results.json"), "scale", {
    ...run,
    machine,
    settings,
    results: results.map((r) => ({ ...r, samples: r.samples })),
  });
}

import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import { createClientFactory } from "../../src/kube/client.ts";
import { clusterPid, clusterScript, freshCluster } from "../support/cluster-control.ts";
import { installPodium, root } from "../support/install.ts";
import { freePort, spawnOperatorLogging, stopProcess } from "../support/operator.ts";
import { procSample } from "../support/proc.ts";
import type { ProcSample } from "../support/proc.ts";
import { metricValue, scrapeMetrics } from "../support/prometheus.ts";
import { kwokNode, log } from "./fixtures.ts";
import type { HeapSummary } from "./heap.ts";
import { summarizeHeapSnapshot } from "./heap.ts";
import { BENCH_LABEL, now, sleep } from "./watch.ts";
import { summarizeProfile } from "./cpu-profile.ts";
import { InspectorProfiler } from "./inspector-profile.ts";
import type { ProfileSummary } from "./cpu-profile.ts";
import { ScaleObserver } from "./scale-observer.ts";
import { phaseFigures, requestsByMethod, requestsDelta } from "./scale-results.ts";
import type { ScaleResult, ScaleSample } from "./scale-results.ts";
import { GROUPS_PER_NAMESPACE } from "./scale-settings.ts";
import type { ScaleSettings } from "./scale-settings.ts";

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
/** Create requests in flight at once while setting up (the admin client has no rate limit). */
const CREATE_CONCURRENCY = 24;
/** The idle period's /metrics interval once the queue has drained (a Prometheus' 15 s). */
const IDLE_SCRAPE_SECONDS = 15;

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
export async function pool<T>(
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

/** Polls `check` every 250 ms until it holds or `timeoutMs` passes; returns whether it held. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
  return true;
}

/**
 * Compiles src/ as the image ships it (`dist/main.js` there) into
 * build/bench-operator/ and returns its entry point. Run from src/, Node
 * strips the types itself with a TypeScript parser of its own: some 7 MiB of
 * heap and WebAssembly memory that no installed operator carries.
 */
function buildOperator(): string {
  const out = path.join(root, "build", "bench-operator");
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      path.join(root, "node_modules", "typescript", "bin", "tsc"),
      "-p",
      path.join(root, "tsconfig.build.json"),
      "--outDir",
      out,
      "--declaration",
      "false",
      "--sourceMap",
      "false",
    ],
    { cwd: root, stdio: "inherit" },
  );
  return path.join(out, "main.js");
}

async function runOne(
  groups: number,
  settings: ScaleSettings,
  entry: string,
): Promise<ScaleResult> {
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
  const observer = new ScaleObserver(kc, groups);
  await observer.start();

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
            nodeName: kwokNode(g * 3 + p),
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
  const inspectPort = await freePort();
  const logFile = path.join(CLUSTER_DIR, "operator.log");
  const nodeFlags = [
    ...settings.nodeFlags,
    // Profiled through the inspector (inspector-profile.ts), one profile per phase.
    ...(settings.profile ? [`--inspect=127.0.0.1:${String(inspectPort)}`] : []),
    ...(settings.heapSnapshot
      ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${profDir}`]
      : []),
  ];
  const t0 = now();
  const child = spawnOperatorLogging(operatorKubeconfig, {
    logFile,
    metricsPort,
    probePort,
    identity: "podium-bench-scale",
    entry,
    logLevel: process.env.PODIUM_BENCH_LOG_LEVEL ?? "info",
    nodeFlags,
    args: [
      `--kube-api-qps=${String(settings.qps)}`,
      `--kube-api-burst=${String(settings.burst)}`,
      `--max-concurrent-reconciles=${String(settings.concurrency)}`,
    ],
  });
  operatorChild = child;
  const profiler = settings.profile ? await InspectorProfiler.connect(inspectPort) : undefined;
  await profiler?.start();
  const pid = child.pid;
  log(
    `scale: operator started (pid ${String(pid)}, --kube-api-qps=${String(settings.qps)} --kube-api-burst=${String(settings.burst)} --max-concurrent-reconciles=${String(settings.concurrency)}${settings.profile ? `, --inspect=127.0.0.1:${String(inspectPort)}` : ""}${settings.nodeFlags.length > 0 ? `, node ${settings.nodeFlags.join(" ")}` : ""})`,
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
  const firstMetrics = requestsByMethod(await scrapeMetrics(metricsPort));
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
  const convergeMethods = requestsDelta(firstMetrics, requestsByMethod(lastMetrics));
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

  // Idle: the same sampling for the idle period, in a profile of its own.
  const convergeProfileFile = path.join(profDir, "converge.cpuprofile");
  const idleProfileFile = path.join(profDir, "idle.cpuprofile");
  if (profiler) {
    await profiler.stop(convergeProfileFile);
    await profiler.start();
  }
  const idleStart = now();
  const idleFirstMetrics = requestsByMethod(lastMetrics);
  const idleSamplesFrom = samples.length;
  const idleEnd = Date.now() + settings.idleSeconds * 1000;
  tick = 0;
  // /metrics every 2 s until the queue is first seen empty, then every 15 s as a Prometheus
  // would: at 5,000 groups a scrape every 2 s was itself ~4 % of a core (prom-client).
  let queueDrained = false;
  while (Date.now() < idleEnd) {
    if (child.exitCode !== null)
      throw new Error(`operator exited with ${String(child.exitCode)}; see ${logFile}`);
    await sleep(1000 - ((now() - idleStart) % 1000));
    const every = queueDrained ? IDLE_SCRAPE_SECONDS : 2;
    await sampleOnce("idle", tick % every === 0);
    if (!queueDrained && samples.at(-1)?.queueDepth === 0) {
      queueDrained = true;
      tick = 0;
    }
    tick++;
  }
  await sampleOnce("idle", true);
  const idleSeconds = (now() - idleStart) / 1000;
  if (profiler) {
    await profiler.stop(idleProfileFile);
    profiler.close();
  }
  const idleMethods = requestsDelta(idleFirstMetrics, requestsByMethod(lastMetrics));
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

  const heap =
    settings.heapSnapshot && child.exitCode === null
      ? await heapOfOperator(child, profDir, metricsPort)
      : undefined;

  // Stop the operator (SIGTERM: a clean exit writes the CPU profile).
  await stopProcess(child);
  operatorChild = undefined;
  await observer.stop();
  const operatorLog = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
  const operatorErrorLines = operatorLog
    .split("\n")
    .filter((l) => /"level":(50|60)\b/.test(l)).length;

  let profile: ProfileSummary | undefined;
  let idleProfile: ProfileSummary | undefined;
  if (profiler) {
    profile = summarizeProfile(convergeProfileFile);
    idleProfile = summarizeProfile(idleProfileFile);
    log(
      `scale: CPU profiles ${convergeProfileFile} (${(profile.totalMs / 1000).toFixed(1)} s sampled), ` +
        `${idleProfileFile} (${(idleProfile.totalMs / 1000).toFixed(1)} s)`,
    );
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
      entry: path.relative(root, entry),
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
  if (idleProfile) result.idleProfile = idleProfile;
  const drained = samples.slice(idleSamplesFrom).find((x) => x.queueDepth === 0);
  if (drained) result.idleQueueDrainedSeconds = drained.t - (idleStart - t0) / 1000;
  if (heap) result.heap = heap;
  return result;
}

/**
 * A heap snapshot of the operator, summarized; undefined when none came
 * within 120 s or it is too large to summarize here. V8 writes it
 * synchronously on SIGUSR2 (--heapsnapshot-signal), so the file in `profDir`
 * is complete once /metrics answers again.
 */
async function heapOfOperator(
  child: ChildProcess,
  profDir: string,
  metricsPort: number,
): Promise<HeapSummary | undefined> {
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
  if (file === undefined) {
    log(`scale: no heap snapshot in ${profDir} after 120 s`);
    return undefined;
  }
  const size = statSync(file).size;
  if (size > 400 * 1024 * 1024) {
    log(`scale: heap snapshot ${file} is ${String(size >> 20)} MiB; too large to summarize here`);
    return undefined;
  }
  log(`scale: heap snapshot ${file} (${String(size >> 20)} MiB file)`);
  return summarizeHeapSnapshot(file, 15);
}

/** Runs every size of the scenario, each on a fresh cluster; the cluster is down afterwards. */
export async function runScale(settings: ScaleSettings): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  try {
    const entry = buildOperator();
    log(`scale: the operator runs as built for the image: ${path.relative(root, entry)}`);
    for (const groups of settings.groups) results.push(await runOne(groups, settings, entry));
  } finally {
    await stopScale();
  }
  return results;
}

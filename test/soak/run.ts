// The soak (issue 7): `node test/soak/run.ts` (make soak). One podium operator
// with default flags runs for SOAK_MINUTES under continuous churn over
// SOAK_GROUPS ElectionGroups, on a local control plane of its own
// (.cluster-soak, ports +23000), and is sampled every 10 s: RSS, heap, open
// fds, CPU, watch restarts, queue depth, reconciles and transitions; an
// independent pod watch per namespace checks "at most one labelled pod per
// group" throughout. Afterwards the churn stops, every group must converge
// (bounded), and the run writes docs/soak/results.json, docs/soak/soak.svg
// and docs/soak.md (also printed on stdout). It exits non-zero on an
// invariant violation, a failed convergence or an operator that exited.
//
//   SOAK_MINUTES  minutes of churn (default 30)
//   SOAK_GROUPS   ElectionGroups (default 20; two of them of bare pods)
//   SOAK_SEED     replay a run's choices of operations and targets (timing still varies)
//
// The operator and the cluster are stopped by PID at the end, also on failure
// or Ctrl-C. The churn's operations are in churn.ts, the judge of the
// invariant in leaders.ts, the verdicts in analysis.ts and the output in
// report.ts.

import { CustomObjectsApi, VersionApi } from "@kubernetes/client-node";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { clusterScript, freshCluster } from "../support/cluster-control.ts";
import { installPodium, root } from "../support/install.ts";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import { describeMachine, podiumCommit } from "../support/machine.ts";
import { freePort, spawnOperatorLogging, stopProcess } from "../support/operator.ts";
import { openFds, procSample } from "../support/proc.ts";
import { metricValue, scrapeMetrics, sumByLabel } from "../support/prometheus.ts";
import { createGroup } from "../support/groups.ts";
import { LeaderLabelRecorder } from "../support/label-recorder.ts";
import { createBarePod, deployApp } from "../support/pods.ts";
import { seededRandom } from "../support/random.ts";
import type { ReportInput, SoakSample } from "./analysis.ts";
import { judge, warmupSeconds } from "./analysis.ts";
import { LeaderJudge } from "./leaders.ts";
import { BARE_PODS, Churn, OP_TIMEOUT_MS, REPLICAS, podWatch } from "./churn.ts";
import type { SoakGroup } from "./churn.ts";
import { writeSoakReport } from "./report.ts";

const CLUSTER_DIR = path.join(root, ".cluster-soak");
const PORT_OFFSET = "23000";
const SAMPLE_SECONDS = 10;
/** One churn operation every CHURN_MS[0]..CHURN_MS[1] ms. */
const CHURN_MS: [number, number] = [1000, 2000];
const CONVERGE_TIMEOUT_MS = 180_000;

function numEnv(name: string, fallback: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new Error(
      `${name}: ${JSON.stringify(v)} is not a number in ${String(min)}..${String(max)}`,
    );
  }
  return n;
}

const MINUTES = numEnv("SOAK_MINUTES", 30, 0.5, 24 * 60);
const GROUPS = Math.floor(numEnv("SOAK_GROUPS", 20, 1, 80));
const SEED = Math.floor(numEnv("SOAK_SEED", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1));
const BARE_GROUPS = GROUPS >= 4 ? 2 : GROUPS >= 2 ? 1 : 0;

function log(message: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// ---------------------------------------------------------------- processes

let operator: ChildProcess | undefined;
let clusterStarted = false;
let stopping = false;
const timers = new Set<NodeJS.Timeout>();

/** Stops the operator by PID (SIGTERM, SIGKILL after 20 s); resolves once it has exited. */
async function stopOperator(): Promise<void> {
  const child = operator;
  operator = undefined;
  if (child) await stopProcess(child);
}

let cleaned = false;
/** Stops everything the run started: timers, the operator, then the cluster. */
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  stopping = true;
  for (const t of timers) clearTimeout(t);
  timers.clear();
  await stopOperator();
  if (clusterStarted) {
    clusterStarted = false;
    try {
      clusterScript("down", CLUSTER_DIR, PORT_OFFSET);
    } catch (err) {
      log(`cluster down failed: ${String(err)}`);
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** Runs `fn` `ms` later unless the run is stopping; the timer is cleared on cleanup. */
function later(ms: number, fn: () => Promise<unknown>): void {
  const t = setTimeout(() => {
    timers.delete(t);
    if (!stopping) void fn().catch(() => undefined);
  }, ms);
  timers.add(t);
}

/** `p`, or a rejection after `ms` (the request itself is left to finish or fail). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${String(ms)} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ metrics

function procStatus(pid: number): { rssMiB: number; cpuSeconds: number; fds: number } | undefined {
  const sample = procSample(pid);
  const fds = openFds(pid);
  return sample === undefined || fds === undefined ? undefined : { ...sample, fds };
}

// --------------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = Date.now();
  const command =
    `SOAK_MINUTES=${String(MINUTES)} SOAK_GROUPS=${String(GROUPS)} SOAK_SEED=${String(SEED)} ` +
    "node test/soak/run.ts";
  log(`seed ${String(SEED)} (replay: ${command})`);
  log(
    `${String(MINUTES)} min of churn over ${String(GROUPS)} groups; fresh cluster in ${CLUSTER_DIR}`,
  );
  const loadStart = os.loadavg()[0] ?? 0;
  // The code the operator runs is what the tree holds when it starts.
  const commit = podiumCommit("src");

  clusterStarted = true;
  freshCluster(CLUSTER_DIR, PORT_OFFSET);
  const adminKubeconfig = path.join(CLUSTER_DIR, "kubeconfig");
  const operatorKubeconfig = installPodium(adminKubeconfig, CLUSTER_DIR);
  const clients = connect(adminKubeconfig);
  const kubernetes = (await clients.kc.makeApiClient(VersionApi).getCode()).gitVersion;
  const customApi = clients.kc.makeApiClient(CustomObjectsApi);

  // The operator: default flags, its ServiceAccount, probes and metrics on loopback.
  const metricsPort = await freePort();
  const probePort = await freePort();
  const logFile = path.join(CLUSTER_DIR, "operator.log");
  const child = spawnOperatorLogging(operatorKubeconfig, {
    logFile,
    metricsPort,
    probePort,
    identity: "podium-soak",
    // SOAK_LOG_LEVEL=debug keeps every decision, to explain a violation.
    logLevel: process.env.SOAK_LOG_LEVEL ?? "info",
  });
  operator = child;
  const pid = child.pid;
  if (pid === undefined) throw new Error("the operator did not start");
  // A function, so that the checks below read the value the exit handler set.
  let exitedEarly: string | undefined;
  const early = (): string | undefined => exitedEarly;
  child.once("exit", (code, signal) => {
    if (!stopping) {
      exitedEarly = `code ${String(code)}, signal ${String(signal)}`;
      log(`the operator exited: ${exitedEarly}; see ${logFile}`);
    }
  });
  await waitFor(
    "the operator's /readyz",
    async () => {
      if (exitedEarly !== undefined) throw new Error(`operator exited (${exitedEarly})`);
      const res = await fetch(`http://127.0.0.1:${String(probePort)}/readyz`, {
        signal: AbortSignal.timeout(2000),
      });
      return res.status === 200 ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  log(
    `operator ready (pid ${String(pid)}, metrics on 127.0.0.1:${String(metricsPort)}, log ${logFile})`,
  );

  // The groups, each in a namespace of its own with its own recorder.
  const groups: SoakGroup[] = [];
  for (let i = 0; i < GROUPS; i++) {
    const name = `g${String(i).padStart(2, "0")}`;
    const ns = await createNamespace(clients, `soak-${name}`);
    groups.push({
      name,
      namespace: ns.name,
      bare: i >= GROUPS - BARE_GROUPS,
      replicas: REPLICAS,
      recorder: new LeaderLabelRecorder(clients, ns.name, `app=${name}`),
      judge: new LeaderJudge(name),
    });
  }
  const namespaces = new Set(groups.map((g) => g.namespace));
  const pods = podWatch(clients, namespaces);
  const churn = new Churn({
    clients,
    groups,
    pods,
    random: seededRandom(SEED),
    later,
    within,
    log,
  });
  pods.start();
  if (!(await within(pods.waitForSync(), 60_000, "the pod watch"))) throw new Error("pod watch");
  for (const g of groups) await within(g.recorder.start(), 60_000, `recorder of ${g.name}`);

  const setupOne = async (g: SoakGroup): Promise<void> => {
    if (g.bare) {
      for (let p = 0; p < BARE_PODS; p++) {
        await createBarePod(clients, g.namespace, `${g.name}-${String(p)}`, {
          labels: { app: g.name },
        });
      }
    } else {
      await deployApp(clients, g.namespace, g.name, REPLICAS);
    }
    await createGroup(clients, g.namespace, g.name, { selector: { matchLabels: { app: g.name } } });
  };
  // Five at a time: the API server and kwok share two cores with everything else.
  for (let i = 0; i < groups.length; i += 5) {
    await Promise.all(groups.slice(i, i + 5).map(setupOne));
  }
  await waitFor(
    "a leader in every group",
    () => Promise.resolve(groups.every((g) => churn.leaderOf(g) !== undefined) ? true : undefined),
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  log(
    `${String(GROUPS)} groups (${String(GROUPS - BARE_GROUPS)} Deployments, ${String(BARE_GROUPS)} of bare pods) have a leader`,
  );

  // ---------------------------------------------------------- sampling
  const samples: SoakSample[] = [];
  const churnStart = Date.now();
  const churnEnd = churnStart + MINUTES * 60_000;
  let prevCpu = procStatus(pid)?.cpuSeconds ?? 0;
  let prevAt = Date.now();
  let lastMetrics = "";
  const violationCount = (): number => groups.reduce((s, g) => s + g.judge.violations.length, 0);
  const sampleOnce = async (phase: SoakSample["phase"]): Promise<void> => {
    const text = (await scrapeMetrics(metricsPort)) ?? "";
    if (text !== "") lastMetrics = text;
    const proc = procStatus(pid);
    const at = Date.now();
    const cpu = proc?.cpuSeconds ?? prevCpu;
    const cores = (cpu - prevCpu) / Math.max(0.001, (at - prevAt) / 1000);
    prevCpu = cpu;
    prevAt = at;
    for (const g of groups) g.judge.update(g.recorder.observations, at);
    const mib = (name: string): number => (metricValue(text, name) ?? Number.NaN) / 2 ** 20;
    const sample: SoakSample = {
      t: (at - churnStart) / 1000,
      phase,
      rssMiB: proc?.rssMiB ?? Number.NaN,
      heapUsedMiB: mib("nodejs_heap_size_used_bytes"),
      heapTotalMiB: mib("nodejs_heap_size_total_bytes"),
      externalMiB: mib("nodejs_external_memory_bytes"),
      fds: metricValue(text, "process_open_fds") ?? proc?.fds ?? Number.NaN,
      cpuCores: cores,
      watchRestarts: metricValue(text, "podium_watch_restarts_total") ?? 0,
      watchRestartsByReason: sumByLabel(text, "podium_watch_restarts_total", "reason"),
      queueDepth: metricValue(text, "workqueue_depth", { name: "electiongroup" }) ?? 0,
      reconciles: metricValue(text, "controller_runtime_reconcile_total") ?? 0,
      transitions: metricValue(text, "podium_electiongroup_transitions_total") ?? 0,
      apiRequests: metricValue(text, "rest_client_requests_total") ?? 0,
      cacheObjects: sumByLabel(text, "podium_cache_objects", "resource"),
      groupsWithOneLeader: groups.filter((g) => g.judge.labelledNow() === 1).length,
      violations: violationCount(),
      churnOps: churn.done,
    };
    samples.push(sample);
    log(
      `t=${sample.t.toFixed(0)}s RSS ${sample.rssMiB.toFixed(1)} MiB, heap ${sample.heapUsedMiB.toFixed(1)} MiB, ` +
        `fds ${String(sample.fds)}, watch restarts ${String(sample.watchRestarts)}, queue ${String(sample.queueDepth)}, ` +
        `reconciles ${String(sample.reconciles)}, transitions ${String(sample.transitions)}, ` +
        `one leader ${String(sample.groupsWithOneLeader)}/${String(GROUPS)}, ops ${String(churn.done)}, ` +
        `violations ${String(sample.violations)}`,
    );
  };

  const maxSamples = Math.ceil((MINUTES * 60) / SAMPLE_SECONDS) + 1;
  const samplingLoop = async (): Promise<void> => {
    for (let i = 0; i < maxSamples && !stopping && early() === undefined; i++) {
      const due = churnStart + i * SAMPLE_SECONDS * 1000;
      if (due > churnEnd) break;
      await sleep(due - Date.now());
      await sampleOnce("churn");
    }
  };
  const maxOps = Math.ceil((MINUTES * 60_000) / CHURN_MS[0]) + 1;
  const churnLoop = async (): Promise<void> => {
    let next = churnStart;
    for (let step = 0; step < maxOps && !stopping && early() === undefined; step++) {
      next += churn.between(CHURN_MS[0], CHURN_MS[1]);
      if (next >= churnEnd) break;
      await sleep(next - Date.now());
      await churn.recreateBarePods();
      const kind = churn.pickKind();
      try {
        const done = await within(churn.apply(kind, step), OP_TIMEOUT_MS, kind);
        churn.count(kind, done ? "ok" : "skipped");
        if (done) churn.done++;
      } catch (err) {
        churn.count(kind, "failed");
        const code = (err as { code?: number }).code;
        if (code !== 404 && code !== 409) log(`${kind} failed: ${String(err)}`);
      }
    }
  };
  log(
    `churn for ${String(MINUTES)} min: one operation every ${String(CHURN_MS[0])}-${String(CHURN_MS[1])} ms`,
  );
  await Promise.all([samplingLoop(), churnLoop()]);
  const churnSeconds = (Date.now() - churnStart) / 1000;
  log(`churn over after ${churnSeconds.toFixed(0)} s: ${String(churn.done)} operations`);

  // ------------------------------------------------------- convergence
  for (const t of timers) clearTimeout(t);
  timers.clear();
  const convergeStart = Date.now();
  let convergeDetail = "";
  let converged = false;
  if (early() === undefined) {
    for (const { namespace, name } of [...churn.flapped.values()]) {
      await churn.makeReady(namespace, name);
    }
    for (const g of groups.filter((x) => !x.bare && x.replicas !== REPLICAS)) {
      g.replicas = REPLICAS;
      await within(churn.patchDeployment(g, { replicas: REPLICAS }), OP_TIMEOUT_MS, "scale back");
    }
    const convergeDeadline = convergeStart + CONVERGE_TIMEOUT_MS;
    for (let i = 0; i < 1000 && Date.now() < convergeDeadline && early() === undefined; i++) {
      await churn.recreateBarePods();
      const list = (await within(
        customApi.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
        OP_TIMEOUT_MS,
        "list groups",
      )) as { items: ElectionGroup[] };
      const holders = new Map(
        list.items.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e.status?.holder]),
      );
      const pending: string[] = [];
      for (const g of groups) {
        const all = churn.podsOf(g);
        const live = all.filter((p) => !p.terminating);
        const labelled = all.filter((p) => p.leader);
        const holder = holders.get(`${g.namespace}/${g.name}`);
        const want = g.bare ? BARE_PODS : REPLICAS;
        if (all.length !== want || live.some((p) => !p.ready)) {
          pending.push(
            `${g.name}: ${String(live.filter((p) => p.ready).length)}/${String(want)} pods ready, ${String(all.length - live.length)} terminating`,
          );
        } else if (labelled.length !== 1 || labelled[0]?.name !== holder) {
          pending.push(
            `${g.name}: labelled [${labelled.map((p) => p.name).join(", ")}], holder ${String(holder)}`,
          );
        }
      }
      convergeDetail = pending.slice(0, 5).join("; ");
      if (pending.length === 0) {
        converged = true;
        break;
      }
      await sleep(1000);
    }
  }
  const convergeSeconds = (Date.now() - convergeStart) / 1000;
  if (converged) {
    convergeDetail = `every group: all pods Ready, one labelled pod, the group's holder`;
    log(`converged ${convergeSeconds.toFixed(1)} s after the churn`);
  } else {
    log(`NOT converged after ${convergeSeconds.toFixed(1)} s: ${convergeDetail}`);
  }
  await sampleOnce("converged");
  const loadEnd = os.loadavg()[0] ?? 0;

  // -------------------------------------------------------------- stop
  const operatorLog = readFileSync(logFile, "utf8").split("\n");
  const errorLines = operatorLog.filter((l) => /"level":(50|60)\b/.test(l));
  const warnLines = operatorLog.filter((l) => /"level":40\b/.test(l)).length;
  stopping = true;
  await stopOperator();
  await pods.stop();
  for (const g of groups) await g.recorder.stop();
  for (const g of groups) g.judge.update(g.recorder.observations, Date.now());
  clusterStarted = false;
  clusterScript("down", CLUSTER_DIR, PORT_OFFSET);

  // ------------------------------------------------------------ report
  const violations = groups.flatMap((g) => g.judge.violations).sort((a, b) => a.at - b.at);
  const reverts = groups.flatMap((g) => g.judge.revertMs).sort((a, b) => a - b);
  const warmup = warmupSeconds(churnSeconds);
  const watched = Math.max(
    3,
    Object.keys(sumByLabel(lastMetrics, "podium_cache_objects", "resource")).length,
  );
  const figures = judge(samples, warmup, GROUPS, watched);
  const input: ReportInput = {
    date: new Date(started).toISOString(),
    command,
    seed: SEED,
    minutes: MINUTES,
    groups: GROUPS,
    deploymentGroups: GROUPS - BARE_GROUPS,
    bareGroups: BARE_GROUPS,
    churnSeconds,
    warmupSeconds: warmup,
    machine: {
      ...describeMachine(kubernetes, commit),
      loadAverage: { start: loadStart, end: loadEnd },
    },
    ops: churn.ops,
    figures,
    samples,
    violations: violations.length,
    violationDetails: violations
      .slice(0, 20)
      .map((v) => `${new Date(v.at).toISOString()} ${v.what}`),
    violationContext: violations.slice(0, 20).map((v) => v.before ?? []),
    convergence: { ok: converged, seconds: convergeSeconds, detail: convergeDetail },
    hijacks: {
      seen: reverts.length,
      revertP50Ms: reverts[Math.floor((reverts.length - 1) / 2)] ?? Number.NaN,
      revertMaxMs: reverts.at(-1) ?? Number.NaN,
    },
    operator: { errorLines: errorLines.length, warnLines, exitedEarly: early() },
    churnIntervalMs: CHURN_MS,
    sampleSeconds: SAMPLE_SECONDS,
  };
  const { markdown, files } = await writeSoakReport(input, violations, errorLines);
  process.stdout.write(markdown);
  log(`wrote ${files.join(", ")}`);

  const failures: string[] = [];
  if (violations.length > 0) failures.push(`${String(violations.length)} invariant violation(s)`);
  if (!converged) failures.push("no convergence after the churn");
  if (early() !== undefined) failures.push(`the operator exited (${String(early())})`);
  if (failures.length > 0) {
    log(`FAILED: ${failures.join("; ")} (seed ${String(SEED)})`);
    return 1;
  }
  log(
    `passed (seed ${String(SEED)}); verdicts: ${figures.map((f) => `${f.metric} ${f.verdict}`).join(", ")}`,
  );
  return 0;
}

let code: number;
try {
  code = await main();
} catch (err) {
  log(
    `soak failed (seed ${String(SEED)}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);

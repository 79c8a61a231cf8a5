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
// or Ctrl-C.

import {
  CustomObjectsApi,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as prettier from "prettier";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { clusterScript, freshCluster } from "../support/cluster-control.ts";
import { installPodium, root } from "../support/install.ts";
import { connect, createNamespace, setPodReady, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { describeMachine, podiumCommit } from "../support/machine.ts";
import { freePort, spawnOperatorLogging, stopProcess } from "../support/operator.ts";
import { openFds, procSample } from "../support/proc.ts";
import { metricValue, scrapeMetrics, sumByLabel } from "../support/prometheus.ts";
import {
  LeaderLabelRecorder,
  createBarePod,
  createGroup,
  deletePod,
  deployApp,
  patchPodMetadata,
} from "../support/podium.ts";
import { seededRandom } from "../support/random.ts";
import type { ReportInput, SoakSample } from "./analysis.ts";
import { judge, soakMarkdown, soakSvg, warmupSeconds } from "./analysis.ts";
import { LeaderJudge } from "./leaders.ts";

const CLUSTER_DIR = path.join(root, ".cluster-soak");
const PORT_OFFSET = "23000";
const SAMPLE_SECONDS = 10;
/** One churn operation every CHURN_MS[0]..CHURN_MS[1] ms. */
const CHURN_MS: [number, number] = [1000, 2000];
/** A flapped leader is made Ready again this many ms later. */
const FLAP_MS: [number, number] = [2000, 6000];
/** An API operation of the churn that takes longer is abandoned (the loop goes on). */
const OP_TIMEOUT_MS = 15_000;
const CONVERGE_TIMEOUT_MS = 180_000;
const BARE_PODS = 3;
const REPLICAS = 3;

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

// ------------------------------------------------------------------- groups

interface Group {
  name: string;
  namespace: string;
  bare: boolean;
  /** The Deployment's replicas as last set by the churn. */
  replicas: number;
  recorder: LeaderLabelRecorder;
  judge: LeaderJudge;
}

interface PodView {
  namespace: string;
  name: string;
  app: string;
  ready: boolean;
  leader: boolean;
  terminating: boolean;
}

/** Every pod of the soak's namespaces, from one watch of the harness (not the operator's). */
function podWatch(clients: Clients, namespaces: ReadonlySet<string>): ListWatch<PodView> {
  return new ListWatch<PodView>({
    kc: clients.kc,
    name: "soak-pods",
    path: "/api/v1/pods",
    transform: (raw) => {
      const meta = raw.metadata as {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        deletionTimestamp?: string;
      };
      const namespace = meta.namespace ?? "";
      if (!namespaces.has(namespace)) return undefined;
      const status = raw.status as
        { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
      return {
        namespace,
        name: meta.name,
        app: meta.labels?.app ?? "",
        leader: meta.labels?.role === "leader",
        terminating: meta.deletionTimestamp !== undefined,
        ready:
          status?.phase === "Running" &&
          (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
      };
    },
    onEvent: () => undefined,
  });
}

// ------------------------------------------------------------------ metrics

function procStatus(pid: number): { rssMiB: number; cpuSeconds: number; fds: number } | undefined {
  const sample = procSample(pid);
  const fds = openFds(pid);
  return sample === undefined || fds === undefined ? undefined : { ...sample, fds };
}

// --------------------------------------------------------------------- main

type OpKind = "leaderFlap" | "deletePod" | "scale" | "rollout" | "hijack";
const WEIGHTS: Record<OpKind, number> = {
  leaderFlap: 3,
  deletePod: 2,
  scale: 1,
  rollout: 1,
  hijack: 2,
};
const KINDS = Object.keys(WEIGHTS) as OpKind[];

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
  const groups: Group[] = [];
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
  pods.start();
  if (!(await within(pods.waitForSync(), 60_000, "the pod watch"))) throw new Error("pod watch");
  for (const g of groups) await within(g.recorder.start(), 60_000, `recorder of ${g.name}`);

  const setupOne = async (g: Group): Promise<void> => {
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
  const podsOf = (g: Group): PodView[] =>
    pods.list().filter((p) => p.namespace === g.namespace && p.app === g.name);
  const leaderOf = (g: Group): PodView | undefined =>
    podsOf(g).find((p) => p.leader && !p.terminating);
  await waitFor(
    "a leader in every group",
    () => Promise.resolve(groups.every((g) => leaderOf(g) !== undefined) ? true : undefined),
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  log(
    `${String(GROUPS)} groups (${String(GROUPS - BARE_GROUPS)} Deployments, ${String(BARE_GROUPS)} of bare pods) have a leader`,
  );

  // ------------------------------------------------------------ the churn
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T | undefined =>
    items[Math.floor(random() * items.length)];
  const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const ops: Record<string, { ok: number; skipped: number; failed: number }> = {};
  const count = (kind: string, outcome: "ok" | "skipped" | "failed"): void => {
    const c = (ops[kind] ??= { ok: 0, skipped: 0, failed: 0 });
    c[outcome] += 1;
  };
  let opsDone = 0;
  /** Pods the churn made NotReady and has not made Ready again yet. */
  const flapped = new Map<string, { namespace: string; name: string }>();
  const makeReady = async (namespace: string, name: string): Promise<void> => {
    flapped.delete(`${namespace}/${name}`);
    try {
      await within(setPodReady(clients, namespace, name, true), OP_TIMEOUT_MS, "ready");
    } catch (err) {
      if ((err as { code?: number }).code !== 404) log(`making ${name} Ready: ${String(err)}`);
    }
  };
  const patchDeployment = (g: Group, spec: Record<string, unknown>): Promise<unknown> =>
    clients.apps.patchNamespacedDeployment(
      { name: g.name, namespace: g.namespace, body: { spec } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  /** Creates the bare pods the churn deleted, once their names are free. */
  const recreateBarePods = async (): Promise<void> => {
    for (const g of groups.filter((x) => x.bare)) {
      const present = new Set(podsOf(g).map((p) => p.name));
      for (let p = 0; p < BARE_PODS; p++) {
        const name = `${g.name}-${String(p)}`;
        if (present.has(name)) continue;
        try {
          await within(
            createBarePod(clients, g.namespace, name, { labels: { app: g.name } }),
            OP_TIMEOUT_MS,
            "create",
          );
          count("recreateBarePod", "ok");
        } catch (err) {
          // 409: the watch had not seen it yet, or it is still being deleted.
          count("recreateBarePod", (err as { code?: number }).code === 409 ? "skipped" : "failed");
        }
      }
    }
  };
  const pickKind = (): OpKind => {
    const total = KINDS.reduce((s, k) => s + WEIGHTS[k], 0);
    let r = random() * total;
    for (const k of KINDS) {
      r -= WEIGHTS[k];
      if (r < 0) return k;
    }
    return "leaderFlap";
  };
  /** One operation; false when there was nothing to act on. */
  const apply = async (kind: OpKind, step: number): Promise<boolean> => {
    const eligible =
      kind === "scale" || kind === "rollout" ? groups.filter((g) => !g.bare) : groups;
    const g = pick(eligible);
    if (g === undefined) return false;
    const live = podsOf(g).filter((p) => !p.terminating);
    const leader = live.find((p) => p.leader);
    switch (kind) {
      case "leaderFlap": {
        if (!leader?.ready) return false;
        const wait = between(FLAP_MS[0], FLAP_MS[1]);
        await setPodReady(clients, g.namespace, leader.name, false);
        flapped.set(`${g.namespace}/${leader.name}`, { namespace: g.namespace, name: leader.name });
        later(wait, () => makeReady(g.namespace, leader.name));
        return true;
      }
      case "deletePod": {
        const target =
          random() < 0.5 ? leader : pick(live.filter((p) => !p.leader && p !== leader));
        if (target === undefined) return false;
        await deletePod(clients, g.namespace, target.name);
        return true;
      }
      case "scale": {
        g.replicas = g.replicas === REPLICAS ? REPLICAS + 1 : REPLICAS;
        await patchDeployment(g, { replicas: g.replicas });
        return true;
      }
      case "rollout": {
        await patchDeployment(g, {
          template: { metadata: { annotations: { "soak.podium.dev/rev": String(step) } } },
        });
        return true;
      }
      case "hijack": {
        const target = pick(live.filter((p) => !p.leader));
        if (leader === undefined || target === undefined) return false;
        g.judge.hijacking(target.name, Date.now());
        await patchPodMetadata(clients, g.namespace, target.name, { labels: { role: "leader" } });
        return true;
      }
    }
  };

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
      churnOps: opsDone,
    };
    samples.push(sample);
    log(
      `t=${sample.t.toFixed(0)}s RSS ${sample.rssMiB.toFixed(1)} MiB, heap ${sample.heapUsedMiB.toFixed(1)} MiB, ` +
        `fds ${String(sample.fds)}, watch restarts ${String(sample.watchRestarts)}, queue ${String(sample.queueDepth)}, ` +
        `reconciles ${String(sample.reconciles)}, transitions ${String(sample.transitions)}, ` +
        `one leader ${String(sample.groupsWithOneLeader)}/${String(GROUPS)}, ops ${String(opsDone)}, ` +
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
      next += between(CHURN_MS[0], CHURN_MS[1]);
      if (next >= churnEnd) break;
      await sleep(next - Date.now());
      await recreateBarePods();
      const kind = pickKind();
      try {
        const done = await within(apply(kind, step), OP_TIMEOUT_MS, kind);
        count(kind, done ? "ok" : "skipped");
        if (done) opsDone++;
      } catch (err) {
        count(kind, "failed");
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
  log(`churn over after ${churnSeconds.toFixed(0)} s: ${String(opsDone)} operations`);

  // ------------------------------------------------------- convergence
  for (const t of timers) clearTimeout(t);
  timers.clear();
  const convergeStart = Date.now();
  let convergeDetail = "";
  let converged = false;
  if (early() === undefined) {
    for (const { namespace, name } of [...flapped.values()]) await makeReady(namespace, name);
    for (const g of groups.filter((x) => !x.bare && x.replicas !== REPLICAS)) {
      g.replicas = REPLICAS;
      await within(patchDeployment(g, { replicas: REPLICAS }), OP_TIMEOUT_MS, "scale back");
    }
    const convergeDeadline = convergeStart + CONVERGE_TIMEOUT_MS;
    for (let i = 0; i < 1000 && Date.now() < convergeDeadline && early() === undefined; i++) {
      await recreateBarePods();
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
        const all = podsOf(g);
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
    ops,
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
  const outDir = path.join(root, "docs/soak");
  mkdirSync(outDir, { recursive: true });
  const format = async (file: string, text: string): Promise<string> => {
    const config = (await prettier.resolveConfig(file)) ?? {};
    return prettier.format(text, { ...config, filepath: file });
  };
  const jsonFile = path.join(outDir, "results.json");
  const { samples: sampleList, ...summary } = input;
  writeFileSync(
    jsonFile,
    await format(
      jsonFile,
      JSON.stringify({
        ...summary,
        violationsAll: violations.map((v) => ({ at: new Date(v.at).toISOString(), what: v.what })),
        operatorErrorLines: errorLines.slice(0, 20),
        samples: sampleList,
      }),
    ),
  );
  writeFileSync(
    path.join(outDir, "soak.svg"),
    soakSvg(
      samples,
      warmup,
      `podium soak: ${String(GROUPS)} groups, ${(churnSeconds / 60).toFixed(0)} min of churn (seed ${String(SEED)})`,
    ),
  );
  const mdFile = path.join(root, "docs/soak.md");
  const markdown = await format(mdFile, soakMarkdown(input));
  writeFileSync(mdFile, markdown);
  process.stdout.write(markdown);
  log(`wrote ${jsonFile}, ${path.join(outDir, "soak.svg")} and ${mdFile}`);

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

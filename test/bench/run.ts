// podium's benchmarks: `node test/bench/run.ts [--quick|--full] [--only=failover,clientgo]`
// (make bench / make bench-quick). Starts its own local control plane in
// .cluster-bench/ (ports +21000), installs podium, runs the operator as a
// child process, runs the scenarios, prints a table per scenario and writes
// docs/benchmarks/results.json, docs/benchmarks/failover.svg and
// docs/benchmarks.md. The cluster, the operator and every candidate process
// are stopped at the end, also on failure or Ctrl-C.

import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { VersionApi } from "@kubernetes/client-node";
import { killAllCandidates } from "../support/candidates.ts";
import { root, installPodium } from "../support/install.ts";
import { connect } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import type { ClientGoCase, Stop } from "./clientgo.ts";
import { STOP_TITLES, runClientGo } from "./clientgo.ts";
import type { Cause, CauseResult } from "./failover.ts";
import { CAUSE_TITLES, runFailover } from "./failover.ts";
import { log } from "./fixtures.ts";
import type { FigureRow, Machine, ReportInput, Stats, Table } from "./report.ts";
import { latencySvg, ms, ratio, textTable, writeJson, writeMarkdown } from "./report.ts";
import { LabelWatch, SliceWatch } from "./watch.ts";

const SCENARIOS = ["failover", "clientgo"] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    full: { type: "boolean", default: false },
    only: { type: "string", default: SCENARIOS.join(",") },
  },
  strict: true,
});
if (values.quick && values.full) throw new Error("--quick and --full exclude each other");
const mode: "quick" | "full" = values.quick ? "quick" : "full";
const only = values.only.split(",").map((s) => s.trim());
for (const s of only) {
  if (!SCENARIOS.includes(s as Scenario)) {
    throw new Error(`--only: unknown scenario ${JSON.stringify(s)} (${SCENARIOS.join(", ")})`);
  }
}
const wants = (s: Scenario): boolean => only.includes(s);
const FAILOVER_TRIALS = mode === "quick" ? 20 : 100;

const clusterDir = path.join(root, ".cluster-bench");
const clusterEnv = { ...process.env, CLUSTER_DIR: clusterDir, PORT_OFFSET: "21000" };
const cluster = (command: "up" | "down"): void => {
  execFileSync(path.join(root, "hack/cluster.sh"), [command], {
    env: clusterEnv,
    // stdout to our stderr: stdout carries only the tables.
    stdio: ["ignore", 2, 2],
    timeout: 5 * 60_000,
  });
};

let cleaned = false;
/** Stops every process the run started: candidates, the operator, then the cluster. */
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await killAllCandidates().catch((err: unknown) => {
    log(`stopping candidates: ${String(err)}`);
  });
  await stopAllOperators();
  cluster("down");
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

function commit(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: root,
      encoding: "utf8",
    });
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8" });
    return `${sha.trim()}${dirty.trim() === "" ? "" : " (with uncommitted changes)"}`;
  } catch {
    return "unknown";
  }
}

function statCells(s: Stats): string[] {
  return [ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)];
}

function failoverTable(results: readonly CauseResult[]): Table {
  return {
    title: `podium fail-over (Managed mode), ${String(FAILOVER_TRIALS)} trials per cause`,
    header: [
      "cause",
      "trials",
      "timed out",
      "label p50",
      "p95",
      "p99",
      "max",
      "EndpointSlice p50",
      "p95",
      "p99",
      "max",
      "API write p50",
    ],
    rows: results.map((r) => [
      CAUSE_TITLES[r.cause],
      String(r.trials.length),
      String(r.label.timedOut),
      ...statCells(r.label),
      ...statCells(r.slice),
      ms(r.write.p50),
    ]),
    notes: [
      "Measured from the moment the API write that caused the fail-over returned (the JSON also " +
        "has when it was sent) to the first event of an independent pod watch in which another " +
        "pod of the group carries `role=leader`, and to the first event of an EndpointSlice watch " +
        "in which the Service `app=<group>,role=leader` lists that pod alone as ready. The two " +
        "watches are separate streams, so the EndpointSlice event can arrive a few ms before the " +
        "label event. The 20 node-deletion trials of a wave fail over together when a PodGC sweep " +
        "deletes their pods, so that row also measures podium under a burst of concurrent " +
        "fail-overs.",
    ],
  };
}

function clientGoTable(cases: readonly ClientGoCase[]): Table {
  return {
    title: "client-go leader election (Observed mode: podium labels the Lease holder)",
    header: [
      "timings (lease/renew/retry s)",
      "stop",
      "trials",
      "Lease p50",
      "label p50",
      "p95",
      "p99",
      "max",
      "EndpointSlice p50",
      "max",
    ],
    rows: cases.map((c) => [
      c.timing.title,
      STOP_TITLES[c.stop],
      String(c.trials.length),
      ms(c.lease.p50),
      ...statCells(c.label),
      ms(c.slice.p50),
      ms(c.slice.max),
    ]),
    notes: [
      "Measured from the signal to the holder process: `Lease` is when a watch of the Lease saw " +
        "another holder, `label` when the pod watch saw that pod carry `role=leader`.",
    ],
  };
}

/** Which podium cause is the counterpart of which way a client-go holder stops. */
const PAIRS: { stop: Stop; cause: Cause; why: string }[] = [
  { stop: "kill", cause: "notready", why: "a crash: the kubelet marks the pod NotReady" },
  { stop: "kill", cause: "node-delete", why: "the node is gone: nothing renews or reports" },
  { stop: "term", cause: "pod-delete", why: "a graceful stop: the pod is deleted" },
];

/** "374× faster" for a ratio of 0.00267, "3.4× slower" for 3.38. */
function factor(r: number): string {
  if (!Number.isFinite(r) || r <= 0) return "—";
  return r < 1 ? `${(1 / r).toPrecision(3)}× faster` : `${r.toPrecision(2)}× slower`;
}

function ratioTable(failover: readonly CauseResult[], clientgo: readonly ClientGoCase[]): Table {
  const rows: string[][] = [];
  for (const c of clientgo) {
    for (const pair of PAIRS.filter((p) => p.stop === c.stop)) {
      const r = failover.find((f) => f.cause === pair.cause);
      if (!r) continue;
      rows.push([
        `${CAUSE_TITLES[pair.cause]} vs ${STOP_TITLES[c.stop]}, ${c.timing.key}`,
        ratio(r.label.p50 / c.label.p50),
        ratio(r.label.p95 / c.label.p95),
        ratio(r.label.p99 / c.label.p99),
        ratio(r.label.max / c.label.max),
        factor(r.label.p50 / c.label.p50),
      ]);
    }
  }
  return {
    title: "podium / client-go (time to the new leader's label; below 1: podium is faster)",
    header: ["podium cause vs client-go stop", "p50", "p95", "p99", "max", "at p50, podium is"],
    rows,
    notes: [
      "Pairs: " +
        PAIRS.map((p) => `${CAUSE_TITLES[p.cause]} ↔ ${STOP_TITLES[p.stop]} (${p.why})`).join(
          "; ",
        ) +
        ".",
      "The podium side starts at the API write that a kubelet, PodGC or a person would make; the " +
        "time a kubelet needs to notice a crashed container (its probe period) is not included. " +
        "With few client-go trials, its p95 and p99 are its maximum. A deleted node is the one " +
        "cause where podium is slower than client-go: it waits for PodGC (40-80 s), while " +
        "client-go's standbys only wait for the Lease to expire.",
    ],
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const command = `node test/bench/run.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  log(`${mode} run: ${only.join(", ")}; cluster in ${clusterDir}`);
  cluster("down");
  rmSync(clusterDir, { recursive: true, force: true });
  cluster("up");
  const kubeconfig = path.join(clusterDir, "kubeconfig");
  const operatorKubeconfig = installPodium(kubeconfig, clusterDir);
  const clients = connect(kubeconfig);
  const version = await clients.kc.makeApiClient(VersionApi).getCode();
  const operator = await startOperator(operatorKubeconfig, {
    identity: "podium-bench",
    args: ["--log-level=info"],
  });
  log(`operator running (pid ${String(operator.pid)})`);
  const labels = new LabelWatch(clients.kc);
  const slices = new SliceWatch(clients.kc);
  await labels.start();
  await slices.start();

  let failover: CauseResult[] = [];
  let clientgo: ClientGoCase[] = [];
  const errors: string[] = [];
  try {
    if (wants("failover")) {
      try {
        failover = await runFailover({ clients, labels, slices, trials: FAILOVER_TRIALS });
      } catch (err) {
        errors.push(`failover: ${err instanceof Error ? err.message : String(err)}`);
        log(`failover failed: ${String(err)}`);
      }
    }
    if (wants("clientgo")) {
      try {
        clientgo = await runClientGo({ clients, kubeconfig, labels, slices }, mode);
      } catch (err) {
        errors.push(`clientgo: ${err instanceof Error ? err.message : String(err)}`);
        log(`clientgo failed: ${String(err)}`);
      }
    }
  } finally {
    await labels.stop();
    await slices.stop();
  }
  const operatorErrorLines = operator.logs.filter((l) => l.level === 50 || l.level === 60).length;

  const cpus = os.cpus();
  const machine: Machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    kubernetes: version.gitVersion,
    podiumCommit: commit(),
  };
  const runtimeSeconds = (Date.now() - started) / 1000;
  const date = new Date().toISOString();

  const tables: Table[] = [];
  const sections: ReportInput["sections"] = [];
  if (failover.length > 0) {
    const t = failoverTable(failover);
    tables.push(t);
    sections.push({
      heading: "Unplanned fail-over (Managed mode)",
      text: [
        "One ElectionGroup of three bare pods and a Service on `app=<group>,role=leader`; the " +
          "operator runs as a child process with its ServiceAccount's kubeconfig, default flags " +
          "and a single replica. Each trial takes the current leader away in one of three ways; " +
          "after it the group is restored to three ready pods (leadership stays where it went).",
        "- **NotReady:** the Ready and ContainersReady conditions set to False through the status " +
          "subresource, as a kubelet does when a readiness probe fails.\n" +
          "- **Pod deleted:** `DELETE` with the default grace period (the pod turns terminating; " +
          "kwok then removes it).\n" +
          "- **Node deleted:** each pod of these groups is bound to its own kwok node " +
          "(`spec.nodeName`), and the leader's Node object is deleted. podium does not watch " +
          "nodes (yet: DESIGN.md's fast dead-node detection), so it acts when PodGC marks the " +
          "orphaned pod Failed and deletes it, after a 40 s quarantine checked every 20 s. " +
          "These trials run in waves of up to 20 groups whose deletions are spread over 20 s.",
      ],
      tables: [t],
      figure: "![fail-over latency per cause](benchmarks/failover.svg)",
    });
  }
  if (clientgo.length > 0) {
    const t = clientGoTable(clientgo);
    tables.push(t);
    const sec: ReportInput["sections"][number] = {
      heading: "client-go leader election, for comparison",
      text: [
        "Three real client-go processes (`leaderelection.RunOrDie` with a `LeaseLock`, " +
          "test/clientgo) with `ReleaseOnCancel`, whose identities are the names of three bare " +
          "pods, and an ElectionGroup in Observed mode, so podium labels whoever holds the Lease " +
          "and the same Service setup applies. Each trial waits a random part of a retry period, " +
          "then SIGKILLs the holder (a crash: the others must wait for the Lease to expire) or " +
          "SIGTERMs it (it releases the Lease; the others take it at their next retry). The " +
          "stopped process is restarted with the same identity after each trial.",
        mode === "quick"
          ? "Quick run: 3 trials each; the seed article's 60/15/5 is scaled down ×5 to 12/3/1 " +
            "(`make bench` runs the real 60/15/5)."
          : "Full run: 10 trials each at 15/10/2 and 5 each at the seed article's 60/15/5.",
      ],
      tables: [t],
    };
    if (failover.length > 0) {
      const r = ratioTable(failover, clientgo);
      tables.push(r);
      sec.tables.push(r);
    }
    sections.push(sec);
  }
  if (errors.length > 0) {
    sections.push({
      heading: "Errors",
      text: errors.map((e) => `- ${e}`),
      tables: [],
    });
  }

  for (const t of tables) process.stdout.write(`\n${textTable(t)}\n`);
  for (const e of errors) process.stdout.write(`\nerror: ${e}\n`);

  const outDir = path.join(root, "docs/benchmarks");
  mkdirSync(outDir, { recursive: true });
  const palette = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  const rows: FigureRow[] = [
    ...failover.map((r, i) => ({
      label: `podium: ${CAUSE_TITLES[r.cause]}`,
      values: r.trials.flatMap((t) => (t.labelMs === undefined ? [] : [t.labelMs])),
      color: palette[i % palette.length] ?? "#000",
    })),
    ...clientgo.map((c) => ({
      label: `client-go ${c.timing.key}: ${c.stop === "kill" ? "SIGKILL" : "SIGTERM"}`,
      values: c.trials.flatMap((t) => (t.labelMs === undefined ? [] : [t.labelMs])),
      color: "#ff7f0e",
    })),
  ];
  if (rows.length > 0) {
    writeFileSync(
      path.join(outDir, "failover.svg"),
      latencySvg(
        `Fail-over: cause to new leader's label (${mode} run, ${date.slice(0, 10)})`,
        rows,
      ),
    );
  }
  writeJson(path.join(outDir, "results.json"), {
    date,
    command,
    mode,
    runtimeSeconds,
    machine,
    operatorErrorLogLines: operatorErrorLines,
    failover,
    clientgo,
    errors,
  });
  await writeMarkdown(path.join(root, "docs/benchmarks.md"), {
    date,
    command,
    mode,
    runtimeSeconds,
    machine,
    sections,
  });
  log(`done in ${runtimeSeconds.toFixed(0)} s; wrote docs/benchmarks.md and docs/benchmarks/`);
}

try {
  await main();
} finally {
  await cleanup();
}

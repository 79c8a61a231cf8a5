// podium's benchmarks:
// `node test/bench/run.ts [--quick|--full] [--only=failover,nodes,clientgo,controllerruntime,rollout,apicost]`
// (`--nodes-causes=machine-probe,...` runs only those causes of the nodes scenario and writes no report)
// (make bench / make bench-quick). Starts its own local control plane in
// .cluster-bench/ (ports +21000), installs podium, runs the operator as a
// child process, runs the scenarios, prints a table per scenario and writes
// docs/benchmarks/results.json, docs/benchmarks/failover.svg and
// docs/benchmarks.md. Results are merged by scenario: a run of some scenarios
// keeps the others' last results (with their own run details) in both files.
// The cluster, the operator and every candidate process are stopped at the
// end, also on failure or Ctrl-C.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { VersionApi } from "@kubernetes/client-node";
import { killAllCandidates } from "../support/candidates.ts";
import { clusterScript, freshCluster } from "../support/cluster-control.ts";
import { root, installPodium } from "../support/install.ts";
import { connect, waitFor } from "../support/kube.ts";
import { stopAllMachines } from "../support/kwok-machines.ts";
import { describeMachine, podiumCommit } from "../support/machine.ts";
import type { Machine } from "../support/machine.ts";
import { destroyAllNetworks } from "../support/netns.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import type { ActivitySnapshot } from "./activity.ts";
import { setOwnClusterDir, snapshotActivity } from "./activity.ts";
import type { ApiCostResult } from "./apicost.ts";
import { runApiCost } from "./apicost.ts";
import type { ClientGoCase, Stop } from "./clientgo.ts";
import { STOP_TITLES, runClientGo } from "./clientgo.ts";
import type { Cause, CauseResult } from "./failover.ts";
import { CAUSE_TITLES, runFailover } from "./failover.ts";
import { log } from "./fixtures.ts";
import type { NodeCause, NodeCauseResult } from "./nodes.ts";
import { NODE_CAUSES, runNodes } from "./nodes.ts";
import type { SharedOperator } from "./node-probe.ts";
import { NODES_HEADING, nodesFigure, nodesSection } from "./node-report.ts";
import type { FigureRow, ReportInput, RunInfo, Stats, Table } from "./report.ts";
import {
  latencySvg,
  mergeMarkdownSection,
  ms,
  ratio,
  textTable,
  writeJson,
  writeMarkdown,
} from "./report.ts";
import { DEFAULT_HANDOVER_MODE } from "../../src/api/defaults.ts";
import type { HandoverMode } from "../../src/api/types.ts";
import type { RolloutCutover, RolloutSize } from "./rollout.ts";
import { ROLLOUT_CUTOVERS, runRollout } from "./rollout.ts";
import { apiCostTables, rolloutPhaseTable, rolloutTable } from "./tables.ts";
import { LabelWatch, SliceWatch } from "./watch.ts";
import { runScale, stopScale } from "./scale.ts";
import { writeScaleReport } from "./scale-report.ts";
import type { SavedScaleRun } from "./scale-report.ts";
import { scaleSettings } from "./scale-settings.ts";

/**
 * In the order they run. apicost stops the operator, so it is the last on the
 * shared cluster; scale runs on its own cluster (.cluster-bench-scale) after them.
 */
const SCENARIOS = [
  "failover",
  "nodes",
  "clientgo",
  "controllerruntime",
  "rollout",
  "apicost",
  "scale",
] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    full: { type: "boolean", default: false },
    only: { type: "string", default: SCENARIOS.join(",") },
    // Rewrites docs/benchmarks.md and the figure from results.json, running nothing.
    "report-only": { type: "boolean", default: false },
    // The rollout scenario: spec.cutover.mode of its groups, or EndpointSlice (spec.service)
    // (comma-separated: each is measured).
    cutover: { type: "string", default: "Immediate" },
    // The rollout scenario: spec.handover.mode of its groups (comma-separated: each is measured).
    handover: { type: "string", default: DEFAULT_HANDOVER_MODE },
    // The rollout scenario: spec.handover.settleSeconds of OnRollout (comma-separated; default: the spec's).
    settle: { type: "string", default: "" },
    // The rollout scenario: rollouts per size, instead of the mode's (quick 3, full 20).
    rollouts: { type: "string", default: "" },
    // The nodes scenario: its causes (comma-separated; default all). A subset prints its tables
    // but writes no report: the report holds the scenario whole.
    "nodes-causes": { type: "string", default: "" },
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
// The fail-over scenario again with this many idle groups beside the measured one (0: not).
const FAILOVER_IDLE_GROUPS = Number(process.env.FAILOVER_IDLE_GROUPS ?? "0");
if (!Number.isInteger(FAILOVER_IDLE_GROUPS) || FAILOVER_IDLE_GROUPS < 0) {
  throw new Error(`FAILOVER_IDLE_GROUPS: ${String(process.env.FAILOVER_IDLE_GROUPS)} is no count`);
}
const ROLLOUTS = values.rollouts === "" ? (mode === "quick" ? 3 : 20) : Number(values.rollouts);
if (!Number.isInteger(ROLLOUTS) || ROLLOUTS < 1) {
  throw new Error(`--rollouts: ${JSON.stringify(values.rollouts)} is no positive integer`);
}
const CUTOVERS = values.cutover.split(",").map((c) => c.trim());
for (const c of CUTOVERS) {
  if (!(ROLLOUT_CUTOVERS as readonly string[]).includes(c)) {
    throw new Error(`--cutover: ${JSON.stringify(c)} is not one of ${ROLLOUT_CUTOVERS.join(", ")}`);
  }
}
const HANDOVERS = values.handover.split(",").map((c) => c.trim());
for (const h of HANDOVERS) {
  if (h !== "Disabled" && h !== "OnRollout") {
    throw new Error(`--handover: ${JSON.stringify(h)} is not Disabled or OnRollout`);
  }
}
const SETTLES = values.settle === "" ? [] : values.settle.split(",").map((v) => Number(v.trim()));
for (const v of SETTLES) {
  if (!Number.isInteger(v) || v < 0) {
    throw new Error(`--settle: ${JSON.stringify(values.settle)} is no list of whole seconds`);
  }
}
const NODES_CAUSES = (
  values["nodes-causes"] === "" ? Object.keys(NODE_CAUSES) : values["nodes-causes"].split(",")
).map((c) => c.trim()) as NodeCause[];
for (const c of NODES_CAUSES) {
  if (!(c in NODE_CAUSES)) {
    throw new Error(
      `--nodes-causes: ${JSON.stringify(c)} is not one of ${Object.keys(NODE_CAUSES).join(", ")}`,
    );
  }
}
const partialNodes = NODES_CAUSES.length < Object.keys(NODE_CAUSES).length;
const APICOST =
  mode === "quick" ? { groups: 10, phaseSeconds: 120 } : { groups: 100, phaseSeconds: 300 };

const clusterDir = path.join(root, ".cluster-bench");
setOwnClusterDir(clusterDir);
// PODIUM_BENCH_PORT_OFFSET moves the cluster, so that benches of two checkouts can run side by side.
const clusterPortOffset = process.env.PODIUM_BENCH_PORT_OFFSET ?? "21000";

let cleaned = false;
/** Whether main() started the shared .cluster-bench cluster. */
let sharedCluster = false;
/** The shared cluster's admin clients, once connected (to stop the simulated machines). */
let sharedClients: ReturnType<typeof connect> | undefined;
/** Stops every process the run started: candidates, the operator, then the cluster. */
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await killAllCandidates().catch((err: unknown) => {
    log(`stopping candidates: ${String(err)}`);
  });
  if (sharedClients) {
    await stopAllMachines(sharedClients).catch((err: unknown) => {
      log(`stopping machines: ${String(err)}`);
    });
  }
  await stopAllOperators();
  await destroyAllNetworks().catch((err: unknown) => {
    log(`deleting network namespaces: ${String(err)}`);
  });
  await stopScale();
  // The shared cluster only if this run started it (--only=scale runs on its own).
  if (sharedCluster) clusterScript("down", clusterDir, clusterPortOffset);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

function statCells(s: Stats): string[] {
  return [ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)];
}

function failoverTable(results: readonly CauseResult[]): Table {
  const trials = Math.max(...results.map((r) => r.trials.length));
  return {
    title: `podium fail-over (Managed mode), ${String(trials)} trials per cause`,
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
        "label event.",
    ],
  };
}

function clientGoTable(
  cases: readonly ClientGoCase[],
  title = "client-go leader election (Observed mode: podium labels the Lease holder)",
): Table {
  return {
    title,
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
        "With few client-go trials, its p95 and p99 are its maximum. Dead and deleted nodes " +
        "against client-go on the same machine death: the next section.",
    ],
  };
}

/** What results.json holds: every scenario's last results and the run each came from. */
interface Results {
  /** The latest run (which may have run only some scenarios). */
  date: string;
  command: string;
  mode: "quick" | "full";
  runtimeSeconds: number;
  machine: Machine;
  operatorErrorLogLines: number;
  failover: CauseResult[];
  /** Dead and deleted nodes, podium and client-go (absent in older results files). */
  nodes?: NodeCauseResult[];
  clientgo: ClientGoCase[];
  /** The same cases with controller-runtime managers (absent in older results files). */
  controllerruntime?: ClientGoCase[];
  rollout: RolloutSize[];
  apicost: ApiCostResult | null;
  /** "scenario: message" lines. */
  errors: string[];
  runs: Partial<Record<Scenario, RunInfo>>;
}

/** The previous results.json, if there is a readable one. */
function previousResults(file: string): Partial<Results> {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Partial<Results>;
  } catch (err) {
    log(`ignoring unreadable ${file}: ${String(err)}`);
    return {};
  }
}

function hasData(r: Partial<Results>, s: Scenario): boolean {
  switch (s) {
    case "failover":
      return (r.failover?.length ?? 0) > 0;
    case "nodes":
      return (r.nodes?.length ?? 0) > 0;
    case "clientgo":
      return (r.clientgo?.length ?? 0) > 0;
    case "controllerruntime":
      return (r.controllerruntime?.length ?? 0) > 0;
    case "rollout":
      return (r.rollout?.length ?? 0) > 0;
    case "apicost":
      return r.apicost !== undefined && r.apicost !== null;
    case "scale":
      // scale merges its own key and section (writeScaleReport).
      return false;
  }
}

/** The results of this run, with the scenarios it did not run taken from `old`. */
function merge(current: Results, old: Partial<Results>, ran: (s: Scenario) => boolean): Results {
  const merged: Results = { ...current, errors: [...current.errors], runs: { ...current.runs } };
  for (const s of SCENARIOS) {
    if (ran(s) || !hasData(old, s)) continue;
    // Files written before results were merged have one run for everything.
    const info: RunInfo | undefined =
      old.runs?.[s] ??
      (old.date !== undefined &&
      old.command !== undefined &&
      old.mode !== undefined &&
      old.machine !== undefined
        ? {
            date: old.date,
            command: old.command,
            mode: old.mode,
            runtimeSeconds: old.runtimeSeconds ?? Number.NaN,
            machine: old.machine,
          }
        : undefined);
    if (info === undefined) continue;
    merged.runs[s] = info;
    // The node-delete cause moved to the nodes scenario: older files have it here.
    if (s === "failover")
      merged.failover = (old.failover ?? []).filter((r) => (r.cause as string) !== "node-delete");
    if (s === "nodes") merged.nodes = old.nodes ?? [];
    if (s === "clientgo") merged.clientgo = old.clientgo ?? [];
    if (s === "controllerruntime") merged.controllerruntime = old.controllerruntime ?? [];
    if (s === "rollout") merged.rollout = old.rollout ?? [];
    if (s === "apicost") merged.apicost = old.apicost ?? null;
    merged.errors.push(...(old.errors ?? []).filter((e) => e.startsWith(`${s}:`)));
  }
  return merged;
}

/** Scenarios grouped by the run they come from, in SCENARIOS order. */
function runGroups(results: Results): { scenarios: string[]; info: RunInfo }[] {
  const groups: { scenarios: string[]; info: RunInfo }[] = [];
  for (const s of SCENARIOS) {
    const info = results.runs[s];
    if (info === undefined) continue;
    const same = groups.find((g) => g.info.date === info.date && g.info.command === info.command);
    if (same) same.scenarios.push(s);
    else groups.push({ scenarios: [s], info });
  }
  return groups;
}

function buildSections(results: Results): { sections: ReportInput["sections"]; tables: Table[] } {
  const { failover, clientgo, rollout, apicost } = results;
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
          "and a single replica. Each trial takes the current leader away in one of two ways; " +
          "after it the group is restored to three ready pods (leadership stays where it went).",
        "- **NotReady:** the Ready and ContainersReady conditions set to False through the status " +
          "subresource, as a kubelet does when a readiness probe fails.\n" +
          "- **Pod deleted:** `DELETE` with the default grace period (the pod turns terminating; " +
          "kwok then removes it).",
        "A deleted or dead node: the next section.",
      ],
      tables: [t],
      figure: "![fail-over latency per cause](benchmarks/failover.svg)",
    });
  }
  const nodes = results.nodes ?? [];
  if (nodes.length > 0) {
    const sec = nodesSection(nodes, results.runs.nodes?.mode ?? results.mode);
    tables.push(...sec.tables);
    sections.push(sec);
  }
  if (clientgo.length > 0) {
    const t = clientGoTable(clientgo);
    tables.push(t);
    const cgMode = results.runs.clientgo?.mode ?? results.mode;
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
        cgMode === "quick"
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
  const controllerruntime = results.controllerruntime ?? [];
  if (controllerruntime.length > 0) {
    const t = clientGoTable(
      controllerruntime,
      "controller-runtime leader election (Observed mode: podium labels the pod of `<hostname>_<uuid>`)",
    );
    tables.push(t);
    const crMode = results.runs.controllerruntime?.mode ?? results.mode;
    sections.push({
      heading: "controller-runtime leader election, for comparison",
      text: [
        "The same trials with the seed article's other half: three kubebuilder-style managers on " +
          "the real controller-runtime (test/controllerruntime: `ctrl.NewManager` with " +
          "`LeaderElection: true` and `LeaderElectionReleaseOnCancel`), each in a UTS namespace " +
          "whose hostname is its pod's name, so the Lease names `<pod>_<uuid>` as in a cluster " +
          "and podium maps that holder to the pod. A stopped manager restarts under a new uuid.",
        crMode === "quick"
          ? "Quick run: 3 trials each; 60/15/5 scaled down ×5 to 12/3/1."
          : "Full run: 10 trials each at 15/10/2 and 5 each at the seed article's 60/15/5.",
      ],
      tables: [t],
    });
  }
  if (rollout.length > 0) {
    const t = rolloutTable(rollout);
    const phases = rolloutPhaseTable(rollout);
    tables.push(t, ...(phases === undefined ? [] : [phases]));
    sections.push({
      heading: "Planned hand-over: rolling update (Managed mode)",
      text: [
        "A Deployment of 3 and one of 10 replicas (RollingUpdate, `maxSurge: 1`, " +
          "`maxUnavailable: 0`; kwok makes each new pod Running and Ready) under an ElectionGroup " +
          "in Managed mode with default settings, and a Service on `app=<group>,role=leader`. " +
          "Each rollout is triggered by a merge patch of an annotation of the pod template and " +
          "ends when the Deployment reports every replica updated and available, no old pod is " +
          "left (terminating ones included), one pod carries the label and the Service lists it " +
          "alone as ready, plus 1 s for late events. Rollouts follow each other after a random " +
          "0.5-2 s pause. Target (DESIGN.md §5): at most 1 transition per rollout, and the " +
          "Service never without a ready endpoint for more than 500 ms.",
        "Each size runs once per `spec.cutover.mode` measured (`--cutover=Immediate,Verified`): " +
          "Immediate labels the new leader as soon as the Lease is written; Verified first waits " +
          "until the Service no longer lists the old leader as ready (docs/semantics.md, Traffic). " +
          "And once per `spec.handover.mode` (`--handover=Disabled,OnRollout`): OnRollout moves " +
          "leadership to a pod of the new revision once it has been ready for `settleSeconds`, " +
          "while the old holder still runs (reason Handover); Disabled moves it when the holder " +
          "is deleted (docs/semantics.md, Hand-over).",
        "`--cutover=EndpointSlice` adds EndpointSlice mode (docs/service-mode.md): the group has " +
          "`spec.service` (port 80 to 8080) and no label-routed Service exists; the Service " +
          "measured is podium's selectorless `<group>-podium`, whose one EndpointSlice podium " +
          "writes, by the same EndpointSlice watch and the same gap measures. Its target: never " +
          "a rollout with a 0-ready or a 2+-ready event. Its endpoint phases are the slice write.",
      ],
      tables: phases === undefined ? [t] : [t, phases],
    });
  }
  if (apicost !== null) {
    const ts = apiCostTables(apicost);
    tables.push(...ts);
    sections.push({
      heading: "API cost in steady state: podium vs client-go",
      text: [
        `${String(apicost.groups)} groups of ${String(apicost.podsPerGroup)} bare pods, three ` +
          `phases of ${String(apicost.phaseSeconds)} s each, measured only once the phase is ` +
          "steady (every group led by exactly one labelled pod, or every Lease held and renewed " +
          "within its duration) and then 20 s more:",
        "- **podium:** the operator (one replica, default flags) manages the groups in Managed " +
          "mode with its default 90/60/2 Lease timings.\n" +
          "- **baseline:** the groups deleted and the operator stopped: only " +
          "kube-controller-manager, kube-scheduler, kwok and this harness's own watches.\n" +
          "- **client-go:** no podium; per group a Lease with three real client-go candidate " +
          "processes (test/clientgo, `leaderelection.RunOrDie` with a `LeaseLock`, 15/10/2).",
        "Requests are counted by the API server itself: its `apiserver_request_total`, scraped " +
          "from `/metrics` with the admin client certificate at the start and end of each phase. " +
          "That metric has no user-agent label, so requests are attributed by phase: the " +
          "baseline phase's rate (same length) is subtracted from the podium and client-go " +
          "phases' rates, which removes kube-controller-manager's, the scheduler's and kwok's " +
          "background (leader-election renewals, node heartbeats) and the scrapes themselves. " +
          "What remains is divided by the number of groups and the phase's minutes. WATCH " +
          "requests are long-lived and only counted by `apiserver_request_total` when they end; " +
          "they are left out of the per-minute figures and reported as connections instead. " +
          "podium's own `rest_client_requests_total` (its /metrics) is shown as a cross-check " +
          "that needs no baseline.",
      ],
      tables: ts,
    });
  }
  if (results.errors.length > 0) {
    sections.push({
      heading: "Errors",
      text: results.errors.map((e) => `- ${e}`),
      tables: [],
    });
  }
  return { sections, tables };
}

function failoverFigure(results: Results, outDir: string): void {
  const { failover, clientgo } = results;
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
  if (rows.length === 0) return;
  const info = results.runs.failover ?? results.runs.clientgo;
  const mode = info?.mode ?? results.mode;
  const date = (info?.date ?? results.date).slice(0, 10);
  writeFileSync(
    path.join(outDir, "failover.svg"),
    latencySvg(`Fail-over: cause to new leader's label (${mode} run, ${date})`, rows),
  );
}

/** The sections of a Markdown report, by `## ` heading (the text before the first is left out). */
function markdownSections(file: string): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(file)) return sections;
  let heading: string | undefined;
  let body: string[] = [];
  const flush = (): void => {
    if (heading !== undefined) sections.set(heading, body.join("\n").trim());
  };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("## ")) {
      flush();
      heading = line.slice(3);
      body = [];
    } else {
      body.push(line);
    }
  }
  flush();
  return sections;
}

/** Runs the scenarios of the shared cluster (all but scale) and writes their report. */
async function sharedScenarios(started: number, command: string): Promise<void> {
  const activity: ActivitySnapshot[] = [snapshotActivity("start")];
  log(`${mode} run: ${only.join(", ")}; cluster in ${clusterDir}`);
  if (activity[0] && activity[0].others.length > 0) {
    log(`other activity on this machine:\n  ${activity[0].others.join("\n  ")}`);
  }
  sharedCluster = true;
  freshCluster(clusterDir, clusterPortOffset);
  const kubeconfig = path.join(clusterDir, "kubeconfig");
  const operatorKubeconfig = installPodium(kubeconfig, clusterDir);
  const clients = connect(kubeconfig);
  sharedClients = clients;
  const version = await clients.kc.makeApiClient(VersionApi).getCode();
  const startShared = (): ReturnType<typeof startOperator> =>
    // 60 s for /readyz, as the probe cause's operator: after the nodes causes (dozens of kwok
    // processes still running, load 10+ on 2 cores) Node starts and lists slowly, and the
    // default 30 s was seen to expire when the probe cause started the shared operator again.
    startOperator(operatorKubeconfig, {
      identity: "podium-bench",
      args: [`--log-level=${process.env.PODIUM_BENCH_LOG_LEVEL ?? "info"}`],
      readyTimeoutMs: 60_000,
    });
  let operator = await startShared();
  log(`operator running (pid ${String(operator.pid)})`);
  // The nodes scenario's probe cause stands in for it meanwhile (node-probe.ts).
  const shared: SharedOperator = {
    kubeconfig: operatorKubeconfig,
    stop: async () => {
      await operator.stop();
    },
    start: async () => {
      operator = await startShared();
      log(`operator running again (pid ${String(operator.pid)})`);
    },
  };
  if (wants("nodes")) {
    // The dead-node causes measure nothing without node failure detection (cluster-wide: auto on).
    const started = await waitFor(
      "the operator's start log line",
      () =>
        Promise.resolve(
          operator.logs.find(
            (l) => typeof l.msg === "string" && l.msg.startsWith("podium started"),
          ),
        ),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    if (started.nodeFailureDetection !== true) {
      throw new Error(
        `the operator started without node failure detection: ${JSON.stringify(started)}`,
      );
    }
  }
  const labels = new LabelWatch(clients.kc);
  const slices = new SliceWatch(clients.kc);
  await labels.start();
  await slices.start();

  let failover: CauseResult[] = [];
  let nodes: NodeCauseResult[] = [];
  let clientgo: ClientGoCase[] = [];
  let controllerruntime: ClientGoCase[] = [];
  let rollout: RolloutSize[] = [];
  // Assigned in a callback: no narrowing to null here.
  let apicost = null as ApiCostResult | null;
  const errors: string[] = [];
  const attempt = async (s: Scenario, run: () => Promise<void>): Promise<void> => {
    if (!wants(s)) return;
    try {
      await run();
    } catch (err) {
      errors.push(`${s}: ${err instanceof Error ? err.message : String(err)}`);
      log(`${s} failed: ${String(err)}`);
    }
    activity.push(snapshotActivity(`after ${s}`));
  };
  try {
    await attempt("failover", async () => {
      failover = await runFailover({
        clients,
        labels,
        slices,
        trials: FAILOVER_TRIALS,
        idleGroups: FAILOVER_IDLE_GROUPS,
      });
    });
    await attempt("nodes", async () => {
      nodes = await runNodes({ clients, kubeconfig, labels, slices, shared }, mode, NODES_CAUSES);
      await stopAllMachines(clients);
    });
    await attempt("clientgo", async () => {
      clientgo = await runClientGo({ clients, kubeconfig, labels, slices }, mode);
    });
    await attempt("controllerruntime", async () => {
      const ctx = { clients, kubeconfig, labels, slices };
      controllerruntime = await runClientGo(ctx, mode, "controller-runtime");
    });
    await attempt("rollout", async () => {
      rollout = await runRollout({
        clients,
        labels,
        slices,
        rollouts: ROLLOUTS,
        cutovers: CUTOVERS as RolloutCutover[],
        handovers: HANDOVERS as HandoverMode[],
        settles: SETTLES,
      });
      for (const r of rollout)
        if (r.error) errors.push(`rollout: ${String(r.replicas)} replicas: ${r.error}`);
    });
    await attempt("apicost", async () => {
      apicost = await runApiCost({
        clients,
        kubeconfig,
        labels,
        operator,
        groups: APICOST.groups,
        phaseSeconds: APICOST.phaseSeconds,
      });
      activity.push(...apicost.phases.map((p) => p.activity));
    });
  } finally {
    await labels.stop();
    await slices.stop();
  }
  const operatorErrorLines = operator.logs.filter((l) => l.level === 50 || l.level === 60).length;
  // The shared operator's log, to read a slow trial against it (the trials log their sentAt).
  const operatorLog = path.join(tmpdir(), `podium-bench-operator-${String(process.pid)}.jsonl`);
  writeFileSync(operatorLog, operator.logs.map((l) => JSON.stringify(l)).join("\n") + "\n");
  log(`the shared operator's log is in ${operatorLog}`);
  activity.push(snapshotActivity("end"));

  const machine = describeMachine(version.gitVersion, podiumCommit());
  const runtimeSeconds = (Date.now() - started) / 1000;
  const date = new Date().toISOString();
  const info: RunInfo = { date, command, mode, runtimeSeconds, machine, activity };
  const current: Results = {
    date,
    command,
    mode,
    runtimeSeconds,
    machine,
    operatorErrorLogLines: operatorErrorLines,
    failover,
    nodes,
    clientgo,
    controllerruntime,
    rollout,
    apicost,
    errors,
    runs: Object.fromEntries(only.filter((s) => s !== "scale").map((s) => [s, info])),
  };
  // A subset of the nodes causes would replace the whole scenario in the report: print only.
  const write = !(wants("nodes") && partialNodes);
  await writeReports(current, write);
  log(
    `done in ${runtimeSeconds.toFixed(0)} s; ` +
      (write
        ? "wrote docs/benchmarks.md and docs/benchmarks/"
        : "no report written (--nodes-causes)"),
  );
}

/**
 * Merges `current` (this run's results; none with --report-only) into
 * docs/benchmarks/results.json and rewrites docs/benchmarks.md and the figure
 * from the merged results. Prints this run's tables on stdout.
 */
async function writeReports(current: Results | undefined, write = true): Promise<void> {
  const outDir = path.join(root, "docs/benchmarks");
  mkdirSync(outDir, { recursive: true });
  const resultsFile = path.join(outDir, "results.json");
  const previous = previousResults(resultsFile);
  const results =
    current === undefined
      ? merge(
          {
            date: previous.date ?? "",
            command: previous.command ?? "",
            mode: previous.mode ?? "quick",
            runtimeSeconds: previous.runtimeSeconds ?? Number.NaN,
            machine: previous.machine ?? ({} as Machine),
            operatorErrorLogLines: previous.operatorErrorLogLines ?? 0,
            failover: [],
            clientgo: [],
            rollout: [],
            apicost: null,
            errors: [],
            runs: {},
          },
          previous,
          () => false,
        )
      : merge(current, previous, wants);

  const { sections, tables } = buildSections(results);
  if (current !== undefined) {
    const printed = new Set(buildSections(current).tables.map((t) => t.title));
    for (const t of tables) if (printed.has(t.title)) process.stdout.write(`\n${textTable(t)}\n`);
    for (const e of current.errors) process.stdout.write(`\nerror: ${e}\n`);
  }
  if (!write) return;

  // Keys and sections this generator does not write (scale's) stay as they are.
  const mdFile = path.join(root, "docs/benchmarks.md");
  const ours = new Set([...OUR_HEADINGS, ...sections.map((x) => x.heading)]);
  const foreign = [...markdownSections(mdFile)].filter(([h]) => !ours.has(h));
  failoverFigure(results, outDir);
  if ((results.nodes ?? []).length > 0) {
    const info = results.runs.nodes;
    writeFileSync(
      path.join(outDir, "nodes.svg"),
      nodesFigure(results.nodes ?? [], info?.mode ?? results.mode, (info?.date ?? "").slice(0, 10)),
    );
  }
  writeJson(resultsFile, { ...previous, ...results });
  await writeMarkdown(mdFile, { runs: runGroups(results), sections });
  for (const [heading, body] of foreign) await mergeMarkdownSection(mdFile, heading, body);
}

/** The headings buildSections and writeMarkdown may write. */
const OUR_HEADINGS = [
  "Run",
  "Runs",
  "Errors",
  "Unplanned fail-over (Managed mode)",
  NODES_HEADING,
  "client-go leader election, for comparison",
  "controller-runtime leader election, for comparison",
  "Planned hand-over: rolling update (Managed mode)",
  "API cost in steady state: podium vs client-go",
];

/** Rewrites the scale section of docs/benchmarks.md from results.json's `scale` key, if any. */
async function rewriteScaleReport(): Promise<void> {
  const file = path.join(root, "docs/benchmarks/results.json");
  const saved = (previousResults(file) as { scale?: SavedScaleRun }).scale;
  if (saved !== undefined) await writeScaleReport(saved.results, saved.settings, saved);
}

/** The environment variables that change what a run measures, as `NAME=value` words of its command. */
function benchEnvironment(): string[] {
  return Object.entries(process.env)
    .filter(([name]) => /^(SCALE_|FAILOVER_|PODIUM_BENCH_)|^MALLOC_ARENA_MAX$/.test(name))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value = ""]) => `${name}=${/^[\w.,:/=-]*$/.test(value) ? value : `'${value}'`}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const command = [...benchEnvironment(), "node test/bench/run.ts", ...process.argv.slice(2)].join(
    " ",
  );
  if (values["report-only"]) {
    await writeReports(undefined);
    await rewriteScaleReport();
    return;
  }
  if (only.some((s) => s !== "scale")) await sharedScenarios(started, command);
  if (wants("scale")) {
    // On its own cluster, fresh for each size; it merges its own report section and JSON key.
    const settings = scaleSettings(mode);
    const results = await runScale(settings);
    await writeScaleReport(results, settings, {
      date: new Date().toISOString(),
      command,
      mode,
      runtimeSeconds: (Date.now() - started) / 1000,
      podiumCommit: podiumCommit(),
    });
  }
}

try {
  await main();
} finally {
  await cleanup();
}

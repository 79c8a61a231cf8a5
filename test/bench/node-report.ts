import type { NodeCause, NodeCauseResult } from "./nodes.ts";
import type { ReportInput, Stats, Table } from "./report.ts";
import { latencySvg, ms, ratio } from "./report.ts";

// The dead-node scenario's part of docs/benchmarks.md (nodes.ts measures).

export const NODES_HEADING = "Dead and deleted nodes: podium vs client-go";

/** Short names for the figure's rows. */
const FIGURE_LABELS: Record<NodeCause, string> = {
  "node-delete": "podium: node deleted",
  "machine-heartbeats": "podium: machine dies (heartbeats)",
  "machine-clientgo": "client-go 15/10/2: machine dies",
  "machine-probe": "podium: machine dies (probe)",
  "machine-probe-1": "podium: machine dies (probe, threshold 1)",
};

function statCells(s: Stats): string[] {
  return [ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)];
}

function nodesTable(results: readonly NodeCauseResult[]): Table {
  return {
    title: "Time to a new leader when the leader's node goes away",
    header: [
      "elector",
      "cause",
      "trials",
      "timed out",
      "label p50",
      "p95",
      "p99",
      "max",
      "EndpointSlice p50",
      "p99",
    ],
    rows: results.map((r) => [
      r.elector,
      r.title,
      String(r.trials.length),
      String(r.label.timedOut),
      ...statCells(r.label),
      ms(r.slice.p50),
      ms(r.slice.p99),
    ]),
    notes: [
      "Node deleted: from the moment the `DELETE` of the Node returned. Machine dies: from the " +
        "moment the SIGKILL was sent. `label` is the first event of an independent pod watch " +
        "in which another pod of the group carries `role=leader`; `EndpointSlice` the first " +
        "event of an EndpointSlice watch in which the Service lists that pod alone as ready.",
    ],
  };
}

function comparisonTable(results: readonly NodeCauseResult[]): Table | undefined {
  const podium = results.find((r) => r.cause === "machine-heartbeats");
  const clientGo = results.find((r) => r.cause === "machine-clientgo");
  if (!podium || !clientGo) return undefined;
  const at = (k: "p50" | "p95" | "p99" | "max"): string =>
    ratio(podium.label[k] / clientGo.label[k]);
  return {
    title:
      "podium (heartbeats only) / client-go on the same machine death (below 1: podium is faster)",
    header: ["p50", "p95", "p99", "max"],
    rows: [[at("p50"), at("p95"), at("p99"), at("max")]],
  };
}

/** The section: what each cause does, the table, the comparison and the figure. */
export function nodesSection(
  results: readonly NodeCauseResult[],
  mode: "quick" | "full",
): ReportInput["sections"][number] {
  const tables = [nodesTable(results)];
  const cmp = comparisonTable(results);
  if (cmp) tables.push(cmp);
  return {
    heading: NODES_HEADING,
    text: [
      "The failure that dominates production: the leader's machine dies, or its Node is " +
        "deleted. Every pod of these groups is bound (`spec.nodeName`) to a node of its own; " +
        "the operator runs with its default flags, so node failure detection is on " +
        "(docs/nodes.md; the run checks the operator's start log line says so), and the default " +
        "`nodeHeartbeatGraceSeconds` of 18 s applies.",
      "- **Node deleted:** one group of 10 pods, each on its own node of the cluster's kwok; " +
        "the leader's Node object is deleted (its pod stays Running and Ready until PodGC, 40 s " +
        "later). podium's Node watch sees it: reason `NodeLost`. One trial at a time, as in the " +
        "fail-over scenario; when fewer than 3 pods are left on live nodes, new pods on new " +
        "nodes fill the group up again between trials.\n" +
        "- **Machine dies, heartbeats only:** each pod's node is a simulated machine with its own " +
        "kwok process (`kwok --manage-single-node`, renewing the node's heartbeat Lease every " +
        "10 s like a kubelet). The leader's kwok is SIGKILLed at a random point of its renewal " +
        "cycle: its heartbeat stops and its pod stays Running and Ready in the API, as on a " +
        "dead machine. podium acts when the heartbeat is 18 s old (reason `NodeHeartbeatStale`); " +
        "no leader probe. The machine then comes back (kwok started again).\n" +
        "- **Machine dies, client-go:** the same machines, the same kill, with three real " +
        "client-go candidates (test/clientgo, `leaderelection.RunOrDie`, 15/10/2, identities = " +
        "the pods' names) and podium in Observed mode labelling the Lease's holder: the holder's " +
        "process is SIGKILLed with its machine, and the standbys take over when the Lease " +
        "expires. The killed candidate restarts with its machine.\n" +
        "- **Machine dies, leader probe:** the same machines and kill, groups with " +
        "`spec.failureDetection.probe: {tcpSocket: {port: 8080}}` (defaults 1 s / 1 s / 2), at a " +
        "random point of the probe's period. No probe may leave the machine (issue 13), so the " +
        "operator for this cause runs in a network namespace of the run's own where the pod " +
        "range is a local route and there is no default route (checked with `ip route get` " +
        "before each pod IP is served), with listeners standing in for the pods; the dead " +
        "machine's pod IP is routed into a veth where nothing answers, so probes time out as to " +
        "a powered-off host (test/bench/node-probe.ts, test/support/netns.ts). The shared " +
        "operator is stopped meanwhile and started again after (reason `ProbeFailed`).",
      "The heartbeat and client-go machine-death causes run at the same time, each over 4 " +
        "groups whose trials follow each other, after the node deletions; the probe cause " +
        "runs last, alone, over 4 groups. At most 8 of the run's 30-odd nodes are dead at once, " +
        "well under the disruption guard's 55 %.",
      mode === "quick"
        ? "Quick run: 20 node deletions, 8 trials per machine-death cause."
        : "Full run: 60 node deletions, 30 trials per machine-death cause, 60 with the probe.",
    ],
    tables,
    figure: "![dead-node latency per cause](benchmarks/nodes.svg)",
  };
}

export function nodesFigure(
  results: readonly NodeCauseResult[],
  mode: "quick" | "full",
  date: string,
): string {
  const colors: Record<NodeCause, string> = {
    "node-delete": "#1f77b4",
    "machine-heartbeats": "#2ca02c",
    "machine-clientgo": "#ff7f0e",
    "machine-probe": "#9467bd",
    "machine-probe-1": "#8c564b",
  };
  return latencySvg(
    `Dead and deleted nodes: cause to new leader's label (${mode} run, ${date})`,
    results.map((r) => ({
      label: FIGURE_LABELS[r.cause],
      values: r.trials.flatMap((t) => (t.labelMs === undefined ? [] : [t.labelMs])),
      color: colors[r.cause],
    })),
  );
}

import path from "node:path";
import { root } from "../support/install.ts";
import { describeMachine } from "../support/machine.ts";
import type { Table } from "./report.ts";
import { markdownTable, mergeJsonKey, mergeMarkdownSection, textTable } from "./report.ts";
import { ms } from "./report.ts";
import type { ScaleResult } from "./scale-results.ts";
import { steadyFigures } from "./scale-results.ts";
import { GROUPS_PER_NAMESPACE } from "./scale-settings.ts";
import type { ScaleSettings } from "./scale-settings.ts";

// The scale scenario's output: its tables on stdout, its section of
// docs/benchmarks.md and its key of docs/benchmarks/results.json.

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
          "`rest_client_requests_total`, queue max the largest `workqueue_depth` scraped (every 2 s; in the idle period every 15 s once the queue was first seen empty).",
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
      title: "Steady state: the idle period from the first empty work queue on",
      header: [
        "groups",
        "seconds",
        "CPU (cores)",
        "target",
        "API requests per group per minute",
        "target",
        "RSS end",
        "target",
      ],
      rows: results.map((r) => {
        const s = steadyFigures(r);
        return [
          String(r.groups),
          s === undefined ? "—" : s.seconds.toFixed(0),
          s === undefined ? "—" : cores(s.cores),
          "< 0.1 at 5,000",
          s === undefined ? "—" : s.requestsPerGroupMinute.toFixed(2),
          "≤ 1",
          s === undefined ? "—" : mib(s.rssEndMiB),
          "< 256 MiB at 5,000",
        ];
      }),
      notes: [
        "Issue #17's goals. CPU is the mean of the per-second samples from the first scrape that " +
          "found the work queue empty (convergence's backlog drained) to the end of the idle period; " +
          "requests are `rest_client_requests_total` between the first and last scrape in it.",
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
      title: `CPU profile of the operator until every group is Ready, ${String(r.groups)} groups (self time, top functions)`,
      header: ["function", "where", "self", "%"],
      rows: r.profile.top.map((e) => [
        `\`${e.function}\``,
        e.where === "" ? "" : `\`${e.where}\``,
        ms(e.selfMs),
        e.percent.toFixed(1),
      ]),
      notes: [
        `Sampled through the operator's inspector from its start (once the inspector answered, ms ` +
          `after the spawn) to every group Ready: ${(r.profile.totalMs / 1000).toFixed(1)} s of samples, (idle) included. By area: ` +
          r.profile.byArea
            .slice(0, 10)
            .map((a) => `${a.area} ${a.percent.toFixed(1)} %`)
            .join(", ") +
          ".",
      ],
    });
  }
  for (const r of results) {
    const p = r.idleProfile;
    if (!p) continue;
    const drained =
      r.idleQueueDrainedSeconds === undefined
        ? ""
        : ` The work queue was first empty ${r.idleQueueDrainedSeconds.toFixed(1)} s into the idle period (the rest of convergence's backlog before that).`;
    tables.push({
      title: `CPU profile of the operator in the idle period, ${String(r.groups)} groups (self time, top functions)`,
      header: ["function", "where", "self", "%"],
      rows: p.top.map((e) => [
        `\`${e.function}\``,
        e.where === "" ? "" : `\`${e.where}\``,
        ms(e.selfMs),
        e.percent.toFixed(1),
      ]),
      notes: [
        `A profile of its own over the ${r.idle.seconds.toFixed(0)} s idle period: ${(p.totalMs / 1000).toFixed(1)} s of samples, (idle) included.${drained} The bench scrapes /metrics every 2 s until the queue is empty, then every 15 s, as a Prometheus would. By area: ` +
          p.byArea
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
    if (heap.owners !== undefined) {
      tables.push({
        title: `Heap of the operator after ${r.idle.seconds.toFixed(0)} s idle, ${String(r.groups)} groups (self size by owner)`,
        header: ["owner", "heap objects", "self size", "% of heap"],
        rows: heap.owners.map((o) => [
          `\`${o.owner.replaceAll("`", "'")}\``,
          String(o.count),
          mib(o.selfBytes),
          ((100 * o.selfBytes) / heap.totalBytes).toFixed(1),
        ]),
        notes: [
          "The same snapshot, each object counted under the nearest instance of a named class on its " +
            "shortest path from the roots (a ListWatch by its resource; Node's module loader holds every " +
            "loaded module's code and source). An object shared by two owners counts under one.",
        ],
      });
    }
  }
  return tables;
}

/** The scale scenario's key in results.json: the run, where it ran, its settings and results. */
export interface SavedScaleRun {
  date: string;
  command: string;
  mode: string;
  runtimeSeconds: number;
  podiumCommit: string;
  machine: ReturnType<typeof describeMachine>;
  settings: ScaleSettings;
  results: readonly ScaleResult[];
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
    /** The machine it ran on, when rewriting a saved run's report; else this one. */
    machine?: ReturnType<typeof describeMachine>;
  },
  texts: string[] = [],
): Promise<void> {
  const tables = scaleTables(results);
  for (const t of tables) process.stdout.write(`\n${textTable(t)}\n`);
  const machine =
    run.machine ?? describeMachine(results[0]?.kubernetes ?? "unknown", run.podiumCommit);
  const m = machine;
  const lines = [
    "Scale on one replica (DESIGN.md §5: 5,000 groups / 15,000 pods elected from a cold start in " +
      "< 60 s, RSS < 512 MiB, steady CPU < 0.25 core). For each size a fresh cluster " +
      "(`.cluster-bench-scale`, its own etcd and API server) gets N ElectionGroups (default spec: " +
      "Managed, its 90 s Lease renewed every 60 s) of three bare pods each, bound to the two kwok nodes, in namespaces of " +
      `${String(GROUPS_PER_NAMESPACE)} groups, all created before the operator starts. Then the ` +
      "operator starts as a child process" +
      (results.some((r) => r.flags.entry?.endsWith(".js") === true)
        ? " (src/ compiled as for the image, not run through Node's type stripping)"
        : "") +
      " with its ServiceAccount's kubeconfig and " +
      `\`--kube-api-qps=${String(settings.qps)} --kube-api-burst=${String(settings.burst)} ` +
      `--max-concurrent-reconciles=${String(settings.concurrency)}\`` +
      (settings.profile ? " under the inspector's CPU profiler (`--inspect=127.0.0.1:PORT`)" : "") +
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
  const { date, command, mode, runtimeSeconds, podiumCommit } = run;
  const saved: SavedScaleRun = {
    date,
    command,
    mode,
    runtimeSeconds,
    podiumCommit,
    machine,
    settings,
    results,
  };
  mergeJsonKey(path.join(outDir, "results.json"), "scale", saved);
}

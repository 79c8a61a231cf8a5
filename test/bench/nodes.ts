import { createNamespace } from "../support/kube.ts";
import { clientGoCandidateBinary } from "../support/candidates.ts";
import { log, waitSteady } from "./fixtures.ts";
import type { FleetContext, FleetGroup, MachineGroup } from "./node-fleets.ts";
import {
  CLIENT_GO_TIMING,
  machineGroup,
  nodeGroup,
  replacePods,
  startClientGo,
} from "./node-fleets.ts";
import { inProbeNetwork, podIPOf, probeSpec, serveGroup } from "./node-probe.ts";
import type { Stats } from "./report.ts";
import { summarize } from "./report.ts";
import { now, sleep, until } from "./watch.ts";

// Scenario: dead nodes (issue 13, docs/nodes.md). Each cause takes the
// current leader's node away, and the trial measures from that moment until
// another pod of the group carries role=leader in an independent pod watch,
// and until the Service's EndpointSlices list it alone as ready. podium's
// causes and client-go's run side by side in the same run, on the same kind
// of machine death. Trials run in lanes (one group each) concurrently, few
// enough that the disruption guard never sees most nodes silent.

/** A cause of the scenario. */
export type NodeCause =
  "node-delete" | "machine-heartbeats" | "machine-clientgo" | "machine-probe" | "machine-probe-1";

type MachineCause = Exclude<NodeCause, "node-delete">;
/** The probe causes, with the failureThreshold of their groups' probe (undefined: the spec's default). */
const PROBE_THRESHOLDS: Partial<Record<NodeCause, number | undefined>> = {
  "machine-probe": undefined,
  "machine-probe-1": 1,
};
const isProbeCause = (cause: NodeCause): boolean => cause in PROBE_THRESHOLDS;

export interface NodeTrial {
  cause: NodeCause;
  namespace: string;
  group: string;
  old: string;
  node: string;
  next: string | undefined;
  /** Epoch ms (fractional) just before the cause was sent. */
  sentAt: number;
  /** When the cause's API write returned, or the killed process was seen gone. */
  returnedAt: number;
  /** From `returnedAt` (an API write) or `sentAt` (a kill) to the new holder's label. */
  labelMs: number | undefined;
  /** From the same instant to the EndpointSlices listing only the new holder as ready. */
  sliceMs: number | undefined;
}

export interface NodeCauseResult {
  cause: NodeCause;
  title: string;
  elector: "podium" | "client-go";
  trials: NodeTrial[];
  label: Stats;
  slice: Stats;
}

/** One group a cause's trials run on, one trial after the other. */
interface Lane {
  /** Takes the leader's node away and measures; leaves the group whole again. */
  trial(): Promise<NodeTrial>;
}

interface NodeCauseSpec {
  title: string;
  elector: "podium" | "client-go";
  trials: { quick: number; full: number };
  /** Groups running trials concurrently. */
  lanes: number;
  /** Bound on one trial's wait for the new leader. */
  timeoutMs: number;
  lane(ctx: FleetContext, namespace: string, i: number): Promise<Lane>;
}

const SLICE_TIMEOUT_MS = 30_000;

async function measure(
  ctx: FleetContext,
  g: FleetGroup,
  cause: NodeCause,
  old: string,
  timeoutMs: number,
  act: () => Promise<unknown>,
  from: "returned" | "sent",
): Promise<NodeTrial> {
  const sentAt = now();
  await act();
  const returnedAt = now();
  const t0 = from === "sent" ? sentAt : returnedAt;
  const gained = await until(() => ctx.labels.gained(g.namespace, g.app, old, sentAt), timeoutMs);
  const sliceAt =
    gained === undefined
      ? undefined
      : await until(
          () => ctx.slices.onlyReady(g.namespace, g.service, gained.pod, sentAt),
          SLICE_TIMEOUT_MS,
        );
  return {
    cause,
    namespace: g.namespace,
    group: g.app,
    old,
    node: g.nodeOf.get(old) ?? "",
    next: gained?.pod,
    sentAt,
    returnedAt,
    labelMs: gained === undefined ? undefined : gained.at - t0,
    sliceMs: sliceAt === undefined ? undefined : sliceAt - t0,
  };
}

/** Pods per node-delete group: replenished in bulk, between trials, when fewer than 3 are left. */
const NODE_DELETE_POOL = 10;

/**
 * Node deleted: the leader's Node object deleted (its pod stays, Ready,
 * until PodGC). The group starts with NODE_DELETE_POOL pods, each on its own
 * node; when fewer than three are left on live nodes, new pods on new nodes
 * fill it up again, between trials, so no set-up runs while one measures.
 */
async function nodeDeleteLane(ctx: FleetContext, namespace: string, i: number): Promise<Lane> {
  const g = await nodeGroup(ctx, namespace, `d${String(i)}`, NODE_DELETE_POOL);
  const live = new Set(g.nodeOf.keys());
  let generation = 0;
  return {
    async trial() {
      if (live.size < 3) {
        const added = Array.from(
          { length: NODE_DELETE_POOL - live.size },
          () => `${g.app}-r${String(++generation)}`,
        );
        await replacePods(ctx, g, added);
        for (const p of added) live.add(p);
      }
      const old = await waitSteady(ctx.labels, ctx.slices, namespace, g.app, g.service);
      // Decorrelate the cause from the operator's periodic Lease renewals.
      await sleep(Math.random() * 500);
      const node = g.nodeOf.get(old) ?? "";
      live.delete(old);
      return measure(
        ctx,
        g,
        "node-delete",
        old,
        NODE_CAUSES["node-delete"].timeoutMs,
        () => ctx.clients.core.deleteNode({ name: node }),
        "returned",
      );
    },
  };
}

/**
 * A machine whose kwok is SIGKILLed at a random point of its heartbeat cycle
 * (with the probe: of the probe's period), its network gone with it.
 */
async function machineLane(
  ctx: FleetContext,
  namespace: string,
  i: number,
  cause: MachineCause,
): Promise<Lane> {
  const clientGo = cause === "machine-clientgo";
  const { net } = ctx;
  const probed = isProbeCause(cause);
  const probe = probed ? net : undefined;
  if (probed && probe === undefined) throw new Error("probe: no network");
  const g: MachineGroup = await machineGroup(
    ctx,
    namespace,
    `${{ "machine-heartbeats": "h", "machine-clientgo": "c", "machine-probe": "p", "machine-probe-1": "q" }[cause]}${String(i)}`,
    clientGo ? "client-go" : "podium",
    probe
      ? {
          spec: probeSpec(PROBE_THRESHOLDS[cause]),
          beforeGroup: (x) => serveGroup(ctx, x),
        }
      : {},
  );
  const spec = NODE_CAUSES[cause];
  return {
    async trial() {
      const old = await waitSteady(ctx.labels, ctx.slices, namespace, g.app, g.service, {
        timeoutMs: 2 * spec.timeoutMs,
      });
      // A random point of the kubelet's 10 s renewal cycle, or of the probe's 1 s period.
      await sleep(Math.random() * (probe ? 1_000 : 10_000));
      const machine = g.machineOf.get(old);
      if (machine === undefined) throw new Error(`${namespace}/${old}: no machine`);
      const candidate = g.candidates.get(old);
      if (clientGo && candidate === undefined) throw new Error(`${namespace}/${old}: no candidate`);
      const ip = probe ? await podIPOf(ctx, namespace, old) : "";
      const trial = await measure(
        ctx,
        g,
        cause,
        old,
        spec.timeoutMs,
        // The whole machine dies: its kubelet, its network and, for client-go, the process on it.
        () => {
          probe?.silence(ip);
          return Promise.all([machine.kill(), candidate?.kill()]);
        },
        "sent",
      );
      await machine.revive();
      if (clientGo) await startClientGo(ctx, g, old);
      if (probe) {
        probe.unsilence(ip);
        await serveGroup(ctx, g);
      }
      return trial;
    },
  };
}

/** A machine-death cause: 8 trials quick, `fullTrials` full, in 4 lanes. */
function machineCause(
  cause: MachineCause,
  title: string,
  fullTrials: number,
  elector: NodeCauseSpec["elector"] = "podium",
  timeoutMs = 60_000,
): NodeCauseSpec {
  return {
    title,
    elector,
    trials: { quick: 8, full: fullTrials },
    lanes: 4,
    timeoutMs,
    lane: (ctx, ns, i) => machineLane(ctx, ns, i, cause),
  };
}

/**
 * The causes, in the order they run (the machine deaths concurrently). Trial
 * counts: 50+ for the fast cause; the slow ones take 10-20 s a trial.
 */
export const NODE_CAUSES: Record<NodeCause, NodeCauseSpec> = {
  "node-delete": {
    title: "node deleted (the Node object)",
    elector: "podium",
    trials: { quick: 20, full: 60 },
    // One trial at a time, as the failover scenario's: ms figures, no set-up beside them.
    lanes: 1,
    timeoutMs: 150_000,
    lane: nodeDeleteLane,
  },
  "machine-heartbeats": machineCause(
    "machine-heartbeats",
    "machine dies (its kwok SIGKILLed), heartbeats only",
    30,
  ),
  "machine-clientgo": machineCause(
    "machine-clientgo",
    `machine dies, client-go candidates ${String(CLIENT_GO_TIMING.lease)}/${String(CLIENT_GO_TIMING.renew)}/${String(CLIENT_GO_TIMING.retry)} (holder process SIGKILLed with it)`,
    30,
    "client-go",
    (CLIENT_GO_TIMING.lease + 2 * CLIENT_GO_TIMING.retry) * 1000 + 15_000,
  ),
  "machine-probe": machineCause(
    "machine-probe",
    "machine dies, leader probe (tcpSocket, 1 s / 1 s / 2; operator in a network namespace)",
    60,
  ),
  // The same with failureThreshold 1: one failed attempt demotes (docs/probe.md, Timings).
  "machine-probe-1": machineCause(
    "machine-probe-1",
    "machine dies, leader probe with failureThreshold 1 (tcpSocket, 1 s / 1 s / 1)",
    60,
  ),
};

/** Runs `n` trials of `cause` over its lanes; returns them in the order they ended. */
async function runCause(
  ctx: FleetContext,
  cause: NodeCause,
  mode: "quick" | "full",
): Promise<NodeCauseResult> {
  const spec = NODE_CAUSES[cause];
  const n = spec.trials[mode];
  const { name: ns } = await createNamespace(ctx.clients, `bench-${cause}`);
  const lanes = await Promise.all(
    Array.from({ length: Math.min(spec.lanes, n) }, (_, i) => spec.lane(ctx, ns, i)),
  );
  const trials: NodeTrial[] = [];
  let started = 0;
  await Promise.all(
    lanes.map(async (lane) => {
      while (started < n) {
        started++;
        const t = await lane.trial();
        trials.push(t);
        const f = (v: number | undefined): string =>
          v === undefined ? "timeout" : `${v.toFixed(0)} ms`;
        log(
          `nodes ${cause} ${String(trials.length)}/${String(n)}: ${t.old} (${t.node}) -> ${t.next ?? "?"}; ` +
            `sent ${new Date(t.sentAt).toISOString()}, ` +
            `label ${f(t.labelMs)}, EndpointSlice ${f(t.sliceMs)}`,
        );
      }
    }),
  );
  return {
    cause,
    title: spec.title,
    elector: spec.elector,
    trials,
    label: summarize(trials.map((t) => t.labelMs)),
    slice: summarize(trials.map((t) => t.sliceMs)),
  };
}

/**
 * Node deletion first, then the machine deaths of podium and client-go side
 * by side, then the machine deaths with the probe (node-probe.ts).
 */
export async function runNodes(
  ctx: FleetContext,
  mode: "quick" | "full",
  causes: readonly NodeCause[] = Object.keys(NODE_CAUSES) as NodeCause[],
): Promise<NodeCauseResult[]> {
  if (causes.includes("machine-clientgo")) clientGoCandidateBinary();
  const results: NodeCauseResult[] = [];
  if (causes.includes("node-delete")) results.push(await runCause(ctx, "node-delete", mode));
  const concurrent = causes.filter((c) => c !== "node-delete" && !isProbeCause(c));
  results.push(...(await Promise.all(concurrent.map((c) => runCause(ctx, c, mode)))));
  // Last and alone: their operator runs in a network namespace in place of the shared one.
  const probed = causes.filter(isProbeCause);
  if (probed.length > 0) {
    results.push(
      ...(await inProbeNetwork(ctx, async (inside) => {
        const out: NodeCauseResult[] = [];
        for (const c of probed) out.push(await runCause(inside, c, mode));
        return out;
      })),
    );
  }
  return results;
}

import type { Clients } from "../support/kube.ts";
import { createNamespace, setPodReady } from "../support/kube.ts";
import { createGroup } from "../support/groups.ts";
import { deletePod } from "../support/pods.ts";
import {
  createLeaderService,
  createNode,
  createPod,
  log,
  waitNodesReady,
  waitPodGone,
  waitPodsReady,
  waitSteady,
} from "./fixtures.ts";
import type { Stats } from "./report.ts";
import { summarize } from "./report.ts";
import type { LabelWatch, SliceWatch } from "./watch.ts";
import { now, sleep, until } from "./watch.ts";

// Scenario 1: unplanned fail-over of podium in Managed mode. Each trial makes
// the current leader stop being a candidate in one of three ways and measures,
// from the moment the API write that did it returned, until (a) another pod of
// the group gains role=leader in an independent pod watch and (b) the
// Service's EndpointSlices list that pod alone as ready.

export type Cause = "notready" | "pod-delete" | "node-delete";

export const CAUSES: readonly Cause[] = ["notready", "pod-delete", "node-delete"];

export const CAUSE_TITLES: Record<Cause, string> = {
  notready: "leader NotReady (status patch)",
  "pod-delete": "leader pod deleted",
  "node-delete": "leader's node deleted",
};

export interface FailoverTrial {
  cause: Cause;
  namespace: string;
  group: string;
  old: string;
  next: string | undefined;
  /** Epoch ms (fractional) just before the API write was sent, and when it returned. */
  sentAt: number;
  returnedAt: number;
  /** From returnedAt to the new holder's label in the pod watch; undefined: timed out. */
  labelMs: number | undefined;
  /** From returnedAt to the EndpointSlices listing only the new holder as ready. */
  sliceMs: number | undefined;
  /** From returnedAt to the old holder losing the label (or vanishing) in the pod watch. */
  oldUnlabelledMs: number | undefined;
}

export interface CauseResult {
  cause: Cause;
  trials: FailoverTrial[];
  label: Stats;
  slice: Stats;
  oldUnlabelled: Stats;
  /** How long the causing API write took (sent -> returned). */
  write: Stats;
}

export interface FailoverContext {
  clients: Clients;
  labels: LabelWatch;
  slices: SliceWatch;
  trials: number;
}

const LABEL_TIMEOUT_MS: Record<Cause, number> = {
  notready: 30_000,
  "pod-delete": 30_000,
  // With node failure detection on, the Node watch sees the deletion at once; without it,
  // PodGC deletes pods of a deleted node after a 40 s quarantine, checked every 20 s.
  "node-delete": 150_000,
};
const SLICE_TIMEOUT_MS = 30_000;
/** Node deletions of one wave are spread over PodGC's 20 s period, so its phase is sampled. */
const NODE_WAVE_SPREAD_MS = 20_000;
const NODE_WAVE_MAX_GROUPS = 20;

async function measure(
  ctx: FailoverContext,
  cause: Cause,
  namespace: string,
  app: string,
  service: string,
  old: string,
  write: () => Promise<unknown>,
): Promise<FailoverTrial> {
  const sentAt = now();
  await write();
  const returnedAt = now();
  const gained = await until(
    () => ctx.labels.gained(namespace, app, old, sentAt),
    LABEL_TIMEOUT_MS[cause],
  );
  const sliceAt =
    gained === undefined
      ? undefined
      : await until(
          () => ctx.slices.onlyReady(namespace, service, gained.pod, sentAt),
          SLICE_TIMEOUT_MS,
        );
  const lostAt = ctx.labels.lost(namespace, old, sentAt);
  return {
    cause,
    namespace,
    group: app,
    old,
    next: gained?.pod,
    sentAt,
    returnedAt,
    labelMs: gained === undefined ? undefined : gained.at - returnedAt,
    sliceMs: sliceAt === undefined ? undefined : sliceAt - returnedAt,
    oldUnlabelledMs: lostAt === undefined ? undefined : lostAt - returnedAt,
  };
}

function progress(trial: FailoverTrial, i: number, n: number): void {
  const f = (v: number | undefined): string => (v === undefined ? "timeout" : `${v.toFixed(0)} ms`);
  log(
    `failover ${trial.cause} ${String(i + 1)}/${String(n)}: ${trial.old} -> ${trial.next ?? "?"}; ` +
      `label ${f(trial.labelMs)}, EndpointSlice ${f(trial.sliceMs)}`,
  );
}

export function causeResult(cause: Cause, trials: FailoverTrial[]): CauseResult {
  return {
    cause,
    trials,
    label: summarize(trials.map((t) => t.labelMs)),
    slice: summarize(trials.map((t) => t.sliceMs)),
    oldUnlabelled: summarize(trials.map((t) => t.oldUnlabelledMs)),
    write: summarize(trials.map((t) => t.returnedAt - t.sentAt)),
  };
}

/** NotReady and pod deletion: one group of three bare pods, one trial after the other. */
async function sequentialCauses(ctx: FailoverContext): Promise<CauseResult[]> {
  const { clients } = ctx;
  const { name: ns } = await createNamespace(clients, "bench-failover");
  const app = "fo";
  const pods = ["fo-0", "fo-1", "fo-2"];
  for (const p of pods) await createPod(clients, ns, p, app);
  const service = await createLeaderService(clients, ns, app);
  await waitPodsReady(clients, ns, pods);
  await createGroup(clients, ns, app, { selector: { matchLabels: { app } } });

  const results: CauseResult[] = [];
  for (const cause of ["notready", "pod-delete"] as const) {
    const trials: FailoverTrial[] = [];
    for (let i = 0; i < ctx.trials; i++) {
      const old = await waitSteady(ctx.labels, ctx.slices, ns, app, service);
      // Decorrelate the cause from the operator's periodic Lease renewals.
      await sleep(Math.random() * 500);
      const trial = await measure(ctx, cause, ns, app, service, old, () =>
        cause === "notready" ? setPodReady(clients, ns, old, false) : deletePod(clients, ns, old),
      );
      trials.push(trial);
      progress(trial, i, ctx.trials);
      // Put the group back to three ready pods; leadership stays where it went.
      if (cause === "notready") {
        await setPodReady(clients, ns, old, true);
      } else {
        await waitPodGone(clients, ns, old);
        await createPod(clients, ns, old, app);
      }
      await waitPodsReady(clients, ns, pods);
    }
    results.push(causeResult(cause, trials));
  }
  return results;
}

/**
 * Node deletion: groups of three pods, each pod bound to its own kwok node.
 * Fail-over waits for PodGC (40-80 s), so the trials run in waves of up to 20
 * groups whose leaders' nodes are deleted at random instants spread over 20 s.
 * After a wave, each deleted pod comes back on a fresh node.
 */
async function nodeDeletion(ctx: FailoverContext): Promise<CauseResult> {
  const { clients } = ctx;
  const { name: ns } = await createNamespace(clients, "bench-nodes");
  const width = Math.min(ctx.trials, NODE_WAVE_MAX_GROUPS);
  const waves = Math.ceil(ctx.trials / width);
  const suffix = ns.slice(-6);
  const nodeOf = new Map<string, string>();
  let generation = 0;
  const nodeName = (pod: string): string => `bench-${suffix}-${pod}-${String(generation)}`;

  const groups = Array.from({ length: width }, (_, i) => `n${String(i)}`);
  const podsOf = (app: string): string[] => ["a", "b", "c"].map((x) => `${app}-${x}`);
  const allPods = groups.flatMap(podsOf);
  for (const p of allPods) nodeOf.set(p, nodeName(p));
  await Promise.all([...nodeOf.values()].map((n) => createNode(clients, n)));
  await waitNodesReady(clients, [...nodeOf.values()]);
  for (const p of allPods) {
    await createPod(clients, ns, p, p.slice(0, p.lastIndexOf("-")), nodeOf.get(p));
  }
  const services = new Map<string, string>();
  for (const app of groups) services.set(app, await createLeaderService(clients, ns, app));
  await waitPodsReady(clients, ns, allPods, 120_000);
  for (const app of groups)
    await createGroup(clients, ns, app, { selector: { matchLabels: { app } } });

  const trials: FailoverTrial[] = [];
  for (let wave = 0; wave < waves; wave++) {
    const count = Math.min(width, ctx.trials - trials.length);
    const active = groups.slice(0, count);
    const offsets = active.map(() => Math.random() * NODE_WAVE_SPREAD_MS);
    log(`failover node-delete wave ${String(wave + 1)}/${String(waves)}: ${String(count)} groups`);
    const waveTrials = await Promise.all(
      active.map(async (app, i) => {
        const service = services.get(app) ?? "";
        const old = await waitSteady(ctx.labels, ctx.slices, ns, app, service);
        await sleep(offsets[i] ?? 0);
        const node = nodeOf.get(old) ?? "";
        return measure(ctx, "node-delete", ns, app, service, old, () =>
          clients.core.deleteNode({ name: node }),
        );
      }),
    );
    waveTrials.forEach((t) => {
      trials.push(t);
      progress(t, trials.length - 1, ctx.trials);
    });
    if (wave === waves - 1) break;
    // Each deleted pod comes back on a new node.
    generation++;
    const gone = waveTrials.map((t) => t.old);
    await Promise.all(gone.map((p) => waitPodGone(clients, ns, p, 150_000)));
    for (const p of gone) nodeOf.set(p, nodeName(p));
    await Promise.all(gone.map((p) => createNode(clients, nodeOf.get(p) ?? "")));
    await waitNodesReady(
      clients,
      gone.map((p) => nodeOf.get(p) ?? ""),
    );
    for (const p of gone) {
      await createPod(clients, ns, p, p.slice(0, p.lastIndexOf("-")), nodeOf.get(p));
    }
    await waitPodsReady(clients, ns, allPods, 120_000);
  }
  return causeResult("node-delete", trials);
}

export async function runFailover(
  ctx: FailoverContext,
  causes: readonly Cause[] = CAUSES,
): Promise<CauseResult[]> {
  const results: CauseResult[] = [];
  if (causes.includes("notready") || causes.includes("pod-delete")) {
    results.push(...(await sequentialCauses(ctx)).filter((r) => causes.includes(r.cause)));
  }
  if (causes.includes("node-delete")) results.push(await nodeDeletion(ctx));
  return results;
}

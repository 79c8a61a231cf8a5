import type { Clients } from "../support/kube.ts";
import { createNamespace, setPodReady } from "../support/kube.ts";
import { createGroup } from "../support/groups.ts";
import { deletePod } from "../support/pods.ts";
import {
  createLeaderService,
  createPod,
  kwokNode,
  log,
  waitPodGone,
  waitPodsReady,
  waitSteady,
} from "./fixtures.ts";
import type { Stats } from "./report.ts";
import { summarize } from "./report.ts";
import type { LabelWatch, SliceWatch } from "./watch.ts";
import { now, sleep, until } from "./watch.ts";
import { pool } from "./scale.ts";

// Scenario 1: unplanned fail-over of podium in Managed mode. Each trial makes
// the current leader stop being a candidate in one of two ways and measures,
// from the moment the API write that did it returned, until (a) another pod of
// the group gains role=leader in an independent pod watch and (b) the
// Service's EndpointSlices list that pod alone as ready.

// A node deleted or dead: the nodes scenario (nodes.ts).
// The `-idle` causes: the same, with idle groups beside the measured one
// (FAILOVER_IDLE_GROUPS): their renewals, resyncs and rechecks must not delay it.
export type Cause = "notready" | "pod-delete" | "notready-idle" | "pod-delete-idle";

export const CAUSES: readonly Cause[] = [
  "notready",
  "pod-delete",
  "notready-idle",
  "pod-delete-idle",
];

export const CAUSE_TITLES: Record<Cause, string> = {
  notready: "leader NotReady (status patch)",
  "pod-delete": "leader pod deleted",
  "notready-idle": "leader NotReady, idle groups beside",
  "pod-delete-idle": "leader pod deleted, idle groups beside",
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
  /** Idle groups (one pod each) to create beside the measured group for the `-idle` causes; 0: none. */
  idleGroups?: number;
}

const LABEL_TIMEOUT_MS: Record<Cause, number> = {
  notready: 30_000,
  "pod-delete": 30_000,
  "notready-idle": 30_000,
  "pod-delete-idle": 30_000,
};
const SLICE_TIMEOUT_MS = 30_000;

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

/**
 * NotReady and pod deletion: one group of three bare pods, one trial after
 * the other; `suffix` names the causes ("" or "-idle").
 */
async function sequentialCauses(
  ctx: FailoverContext,
  suffix: "" | "-idle",
): Promise<CauseResult[]> {
  const { clients } = ctx;
  const { name: ns } = await createNamespace(clients, `bench-failover${suffix}`);
  const app = "fo";
  const pods = ["fo-0", "fo-1", "fo-2"];
  // Bound by nodeName: beside 1,000 idle groups the scheduler finds the kwok
  // nodes full (110 pods each) and would leave these Pending.
  const nodeOf = (pod: string): string => kwokNode(pods.indexOf(pod));
  for (const p of pods) await createPod(clients, ns, p, app, nodeOf(p));
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
        await createPod(clients, ns, old, app, nodeOf(old));
      }
      await waitPodsReady(clients, ns, pods);
    }
    results.push(causeResult(`${cause}${suffix}`, trials));
  }
  return results;
}

/** Creates `n` groups of one pod each in their own namespace and waits until each has its leader. */
async function createIdleGroups(ctx: FailoverContext, n: number): Promise<void> {
  const { clients } = ctx;
  const { name: ns } = await createNamespace(clients, "bench-idle");
  const apps = Array.from({ length: n }, (_v, i) => `idle-${String(i).padStart(4, "0")}`);
  const started = now();
  // Bound to the kwok nodes: through the scheduler, their capacity of 110
  // pods each left all but ~200 of 1,000 Pending.
  await pool(
    apps.map((app, i) => ({ app, node: kwokNode(i) })),
    16,
    ({ app, node }) => createPod(clients, ns, `${app}-0`, app, node),
  );
  await pool(apps, 16, (app) =>
    createGroup(clients, ns, app, { selector: { matchLabels: { app } } }),
  );
  const led = await until(
    () => (apps.every((app) => ctx.labels.leaders(ns, app).length === 1) ? true : undefined),
    600_000,
  );
  if (led === undefined) throw new Error(`${String(n)} idle groups: not every one led in 600 s`);
  log(
    `failover: ${String(n)} idle groups led ${((now() - started) / 1000).toFixed(1)} s after the first create`,
  );
}

export async function runFailover(
  ctx: FailoverContext,
  causes: readonly Cause[] = CAUSES,
): Promise<CauseResult[]> {
  const results: CauseResult[] = [];
  results.push(...(await sequentialCauses(ctx, "")).filter((r) => causes.includes(r.cause)));
  const idle = ctx.idleGroups ?? 0;
  if (idle > 0) {
    await createIdleGroups(ctx, idle);
    // Past the idle groups' first renewal time, so renewals run during the trials.
    results.push(...(await sequentialCauses(ctx, "-idle")).filter((r) => causes.includes(r.cause)));
  }
  return results;
}

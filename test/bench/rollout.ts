import { loadavg } from "node:os";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { CutoverMode, HandoverMode, TransitionPhases } from "../../src/api/types.ts";
import type { Clients } from "../support/kube.ts";
import { createNamespace, podCondition } from "../support/kube.ts";
import { createGroup, deleteGroup, getGroup, groupExists } from "../support/groups.ts";
import { createDeployment } from "../support/pods.ts";
import { createLeaderService, log, waitSteady } from "./fixtures.ts";
import type { Stats } from "./report.ts";
import { summarize } from "./report.ts";
import type { LabelWatch, SliceObservation, SliceWatch } from "./watch.ts";
import { BENCH_LABEL, now, sleep } from "./watch.ts";

// Scenario 3: planned hand-over. A Deployment (maxSurge 1, maxUnavailable 0)
// under an ElectionGroup in Managed mode is rolled N times by patching an
// annotation of its pod template. Per rollout: how many leadership
// transitions podium made (status.transitions before and after), and the
// longest time the Service on app=<group>,role=leader had no ready endpoint,
// from an independent EndpointSlice watch whose events are stamped on arrival.
// In EndpointSlice mode (`--cutover=EndpointSlice`) the group has spec.service
// and the Service measured is podium's own selectorless one: the same gaps()
// on the slice podium writes, with no label-routed Service in the namespace.

export interface RolloutTrial {
  replicas: number;
  index: number;
  /** Epoch ms just before the template patch was sent. */
  startedAt: number;
  /** When the rollout was complete and the group steady again. */
  endedAt: number;
  /** From the patch to the Deployment reporting every replica updated and available, old pods gone. */
  rolloutMs: number;
  leaderBefore: string;
  leaderAfter: string;
  /** status.transitions after minus before. */
  transitions: number;
  /** status.history entries written during the rollout (from -> to: reason). */
  history: string[];
  /** Transitions of the rollout with reason Handover (made while the old holder still ran). */
  handovers?: number;
  /** Pods that gained role=leader in the pod watch during the rollout. */
  labelMoves: number;
  /**
   * The longest stretch with no ready endpoint: from the arrival of the event
   * in which the Service's ready endpoints dropped to zero to the arrival of
   * the next event listing exactly one; 0 when none dropped to zero.
   */
  noEndpointMs: number;
  /** The longest stretch from leaving "exactly one ready endpoint" to the next event with exactly one. */
  notExactlyOneMs: number;
  /** EndpointSlice events of the Service during the rollout, and how many listed 0 or 2+ ready pods. */
  sliceEvents: number;
  zeroReadyEvents: number;
  multiReadyEvents: number;
  /** True when the window ended with the Service not listing exactly one ready pod. */
  endedOpen: boolean;
  /** The phases of each transition of the rollout, from its status.history entry. */
  phases?: TransitionPhases[];
}

/** The phases of a transition, in the order they happen. */
export const PHASES = [
  "labelRemovedMs",
  "leaseWrittenMs",
  "labelWrittenMs",
  "oldEndpointGoneMs",
  "newEndpointReadyMs",
] as const satisfies readonly (keyof TransitionPhases)[];

/**
 * How the rollout's traffic follows the leader: a label-routed Service with
 * spec.cutover.mode Immediate or Verified, or EndpointSlice mode (spec.service).
 */
export type RolloutCutover = CutoverMode | "EndpointSlice";

/** The values `--cutover` takes. */
export const ROLLOUT_CUTOVERS = ["Immediate", "Verified", "EndpointSlice"] as const;

/** The Service port of EndpointSlice mode's groups (the pods' port, as createService's). */
const SERVICE_PORTS = [{ name: "http", port: 80, targetPort: 8080 }];

export interface RolloutSize {
  replicas: number;
  /** spec.cutover.mode of the group, or EndpointSlice mode (absent in results of runs before it existed: Immediate). */
  cutover?: RolloutCutover;
  /** spec.handover.mode of the group (absent in results of runs before it existed: none). */
  handover?: HandoverMode;
  /** spec.handover.settleSeconds, when the run set it (else the spec's default). */
  settleSeconds?: number;
  /** The 1-minute load average when the size started and when it ended. */
  load?: { start: number; end: number };
  /** Each phase over every transition of the size's rollouts (ms from detection). */
  phases?: Partial<Record<(typeof PHASES)[number], Stats>>;
  rollouts: number;
  trials: RolloutTrial[];
  transitions: Stats;
  noEndpoint: Stats;
  notExactlyOne: Stats;
  rolloutTime: Stats;
  /** Set when a rollout failed (timed out); the trials before it are kept. */
  error?: string;
}

export interface RolloutContext {
  clients: Clients;
  labels: LabelWatch;
  slices: SliceWatch;
  rollouts: number;
  /** The cutover modes to measure, each at every size. */
  cutovers: readonly RolloutCutover[];
  /** The hand-over modes to measure, each at every size and cutover. */
  handovers: readonly HandoverMode[];
  /** spec.handover.settleSeconds to measure OnRollout at, each; the spec's default when empty. */
  settles: readonly number[];
}

export const ROLLOUT_SIZES = [3, 10] as const;
const ROLLOUT_TIMEOUT_MS = 180_000;
const STEADY_TIMEOUT_MS = 60_000;

/**
 * Waits (bounded) until the Deployment has rolled out its current generation:
 * every replica updated, ready and available, and no other pod of it left
 * (terminating ones included).
 */
async function waitRolledOut(
  clients: Clients,
  namespace: string,
  name: string,
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (let i = 0; i < 100_000; i++) {
    const d = await clients.apps.readNamespacedDeployment({ namespace, name });
    const s = d.status ?? {};
    const done =
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
      s.updatedReplicas === replicas &&
      s.replicas === replicas &&
      s.readyReplicas === replicas &&
      s.availableReplicas === replicas;
    if (done) {
      const pods = (
        await clients.core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })
      ).items;
      const live = pods.filter(
        (p) => p.metadata?.deletionTimestamp === undefined && podCondition(p, "Ready") === "True",
      );
      if (pods.length === replicas && live.length === replicas) return;
      last = `${String(pods.length)} pods, ${String(live.length)} ready and not terminating`;
    } else {
      last = JSON.stringify(s);
    }
    if (Date.now() >= deadline) break;
    await sleep(200);
  }
  throw new Error(`${namespace}/${name} not rolled out after ${String(timeoutMs)} ms: ${last}`);
}

/** The gap measures of one rollout window from the Service's EndpointSlice observations. */
export function gaps(
  observations: readonly SliceObservation[],
  initialReady: number,
  from: number,
  to: number,
): Pick<
  RolloutTrial,
  | "noEndpointMs"
  | "notExactlyOneMs"
  | "sliceEvents"
  | "zeroReadyEvents"
  | "multiReadyEvents"
  | "endedOpen"
> {
  let zeroSince = initialReady === 0 ? from : undefined;
  let notOneSince = initialReady === 1 ? undefined : from;
  let noEndpointMs = 0;
  let notExactlyOneMs = 0;
  let zero = 0;
  let multi = 0;
  let events = 0;
  for (const o of observations) {
    if (o.at < from || o.at > to) continue;
    events++;
    const n = o.ready.length;
    if (n === 0) zero++;
    if (n > 1) multi++;
    if (n === 0) zeroSince ??= o.at;
    if (n !== 1) notOneSince ??= o.at;
    if (n === 1) {
      if (zeroSince !== undefined) noEndpointMs = Math.max(noEndpointMs, o.at - zeroSince);
      if (notOneSince !== undefined)
        notExactlyOneMs = Math.max(notExactlyOneMs, o.at - notOneSince);
      zeroSince = undefined;
      notOneSince = undefined;
    }
  }
  // A window that ends without exactly one ready endpoint counts up to its end.
  if (zeroSince !== undefined) noEndpointMs = Math.max(noEndpointMs, to - zeroSince);
  if (notOneSince !== undefined) notExactlyOneMs = Math.max(notExactlyOneMs, to - notOneSince);
  return {
    noEndpointMs,
    notExactlyOneMs,
    sliceEvents: events,
    zeroReadyEvents: zero,
    multiReadyEvents: multi,
    endedOpen: notOneSince !== undefined,
  };
}

async function runSize(
  ctx: RolloutContext,
  replicas: number,
  cutover: RolloutCutover,
  handover: HandoverMode,
  settleSeconds: number | undefined,
): Promise<RolloutSize> {
  const { clients } = ctx;
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const { name: ns, remove } = await createNamespace(
    clients,
    `bench-rollout${String(replicas)}-${cutover.toLowerCase()}-${handover.toLowerCase()}${settleSeconds === undefined ? "" : `-${String(settleSeconds)}`}`,
  );
  const app = `ro${String(replicas)}`;
  const trials: RolloutTrial[] = [];
  let error: string | undefined;
  try {
    await createDeployment(clients, ns, app, replicas, { podLabels: { [BENCH_LABEL]: "1" } });
    const sliceMode = cutover === "EndpointSlice";
    // EndpointSlice mode: podium creates this Service with the group; no label-routed one.
    const service = sliceMode ? `${app}-podium` : await createLeaderService(clients, ns, app);
    await waitRolledOut(clients, ns, app, replicas, ROLLOUT_TIMEOUT_MS);
    await createGroup(clients, ns, app, {
      selector: { matchLabels: { app } },
      ...(sliceMode
        ? { service: { name: service, ports: SERVICE_PORTS } }
        : { cutover: { mode: cutover } }),
      handover: {
        mode: handover,
        ...(settleSeconds === undefined ? {} : { settleSeconds }),
      },
    });
    for (let i = 0; i < ctx.rollouts; i++) {
      const leaderBefore = await waitSteady(ctx.labels, ctx.slices, ns, app, service, {
        timeoutMs: STEADY_TIMEOUT_MS,
      });
      // Decorrelate the rollout from the operator's periodic Lease renewals.
      await sleep(500 + Math.random() * 1500);
      const beforeStatus = (await getGroup(clients, ns, app)).status;
      const before = beforeStatus?.transitions ?? 0;
      const epochBefore = beforeStatus?.epoch ?? 0;
      const initialReady = ctx.slices.ready(ns, service).length;
      const startedAt = now();
      await clients.apps.patchNamespacedDeployment(
        {
          namespace: ns,
          name: app,
          body: {
            spec: {
              template: {
                metadata: { annotations: { "podium.dev/bench-rollout": String(i + 1) } },
              },
            },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      await waitRolledOut(clients, ns, app, replicas, ROLLOUT_TIMEOUT_MS);
      const rolledOutAt = now();
      const leaderAfter = await waitSteady(ctx.labels, ctx.slices, ns, app, service, {
        timeoutMs: STEADY_TIMEOUT_MS,
      });
      // Let late events of the hand-over (status, slices) arrive.
      await sleep(1000);
      const endedAt = now();
      const group = await getGroup(clients, ns, app);
      const after = group.status?.transitions ?? 0;
      const entries = (group.status?.history ?? []).filter((h) => h.epoch > epochBefore);
      const history = entries.map(
        (h) =>
          `${h.from || "-"} -> ${h.to || "-"}: ${h.reason}${h.cutover === undefined ? "" : ` (${h.cutover})`}`,
      );
      const labelMoves = ctx.labels.edges.filter(
        (e) =>
          e.namespace === ns && e.app === app && e.leader && e.at >= startedAt && e.at <= endedAt,
      ).length;
      const observations = ctx.slices.observations.filter(
        (o) => o.namespace === ns && o.service === service,
      );
      const trial: RolloutTrial = {
        replicas,
        index: i + 1,
        startedAt,
        endedAt,
        rolloutMs: rolledOutAt - startedAt,
        leaderBefore,
        leaderAfter,
        transitions: after - before,
        history,
        handovers: entries.filter((h) => h.reason === "Handover").length,
        labelMoves,
        ...gaps(observations, initialReady, startedAt, endedAt),
        phases: entries.filter((h) => h.from !== "").map((h) => h.phases ?? {}),
      };
      trials.push(trial);
      log(
        `rollout ${cutover} ${handover} ${String(replicas)} replicas ${String(i + 1)}/${String(ctx.rollouts)}: ` +
          `${leaderBefore} -> ${leaderAfter}; ${String(trial.transitions)} transition(s) ${history.join(", ")}, ` +
          `no endpoint ${trial.noEndpointMs.toFixed(0)} ms, ≠1 ${trial.notExactlyOneMs.toFixed(0)} ms, rollout ${(trial.rolloutMs / 1000).toFixed(1)} s`,
      );
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    log(`rollout ${String(replicas)} replicas failed: ${error}`);
  } finally {
    await deleteGroup(clients, ns, app).catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while ((await groupExists(clients, ns, app)) && Date.now() < deadline) await sleep(200);
    await remove();
  }
  const phases = Object.fromEntries(
    PHASES.map((p) => [p, summarize(trials.flatMap((t) => (t.phases ?? []).map((x) => x[p])))]),
  );
  return {
    replicas,
    cutover,
    handover,
    ...(settleSeconds === undefined ? {} : { settleSeconds }),
    load: { start: loadAtStart, end: loadavg()[0] ?? Number.NaN },
    phases,
    rollouts: ctx.rollouts,
    trials,
    transitions: summarize(trials.map((t) => t.transitions)),
    noEndpoint: summarize(trials.map((t) => t.noEndpointMs)),
    notExactlyOne: summarize(trials.map((t) => t.notExactlyOneMs)),
    rolloutTime: summarize(trials.map((t) => t.rolloutMs)),
    ...(error === undefined ? {} : { error }),
  };
}

export async function runRollout(ctx: RolloutContext): Promise<RolloutSize[]> {
  const sizes: RolloutSize[] = [];
  for (const cutover of ctx.cutovers) {
    for (const handover of ctx.handovers) {
      const settles =
        handover === "OnRollout" && ctx.settles.length > 0 ? ctx.settles : [undefined];
      for (const settle of settles) {
        for (const replicas of ROLLOUT_SIZES) {
          sizes.push(await runSize(ctx, replicas, cutover, handover, settle));
        }
      }
    }
  }
  return sizes;
}

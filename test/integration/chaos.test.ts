import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoordinationV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ElectionGroup } from "../../src/api/types.ts";
import { restartApiServer } from "../support/cluster-control.ts";
import { startFaultProxy } from "../support/fault-proxy.ts";
import type { FaultProxy, FaultRule } from "../support/fault-proxy.ts";
import { InvariantChecker, unexcusedMs } from "../support/invariant-checker.ts";
import type { PodState } from "../support/invariant-checker.ts";
import { connect, createNamespace, podCondition, setPodReady, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import {
  createBarePod,
  createGroup,
  custom,
  deletePod,
  isCandidate,
  patchGroupSpec,
  patchPodMetadata,
  teardown,
} from "../support/podium.ts";
import { seededRandom } from "../support/random.ts";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";

// Randomized chaos (issue 7): a seeded run of many steps over 20 groups that
// mixes what kubelets, controllers, people, the network and the control plane
// do, while an independent InvariantChecker records every change of pods,
// Leases and groups. Afterwards every group must converge to one ready
// labelled holder within CONVERGE_MS and the checker must report nothing.
//
//   PODIUM_CHAOS_SEED=<n>               replay a run's choices (timing still varies)
//   PODIUM_CHAOS_STEPS=<n>              default 1000
//   PODIUM_CHAOS_APISERVER_RESTARTS=<n> default 1 (0 turns them off)
//   PODIUM_CHAOS_BLACKHOLES=<n>         default 1 (0 turns them off)
//   PODIUM_CHAOS_OPERATOR_DEFAULTS=1    the operator's default API and watch timeouts
//
// The run alternates calm phases (pods, Deployments, labels, specs) and storm
// phases (also operator kills and pauses, proxy faults, API server restarts).
// What the checker checks and what counts as a cause: invariant-core.ts.
// Check (b) does not count time during which the operator could not act
// (from a fault until the operator's own Lease is renewed again by a live
// replica, plus a grace); the summary prints how much of the run it covered.
// A failed run prints its seed and writes the merged history, the faults and
// every replica's log to a directory it names.
//
// Adding a step kind is one entry in WEIGHTS and one case in `apply`.

const OPERATOR_NAMESPACE = "podium-system";
const GROUPS = 20;
/** Groups 0..DEPLOYMENTS-1 are Deployments; the rest are bare pods. */
const DEPLOYMENTS = 14;
const BARE_PODS = 3;
/** These groups keep a NotReady leader for 1 s (notReadyToleranceSeconds). */
const TOLERANT = new Set([GROUPS - 1, DEPLOYMENTS - 1]);
const STEPS = intEnv("PODIUM_CHAOS_STEPS", 1000);
const MAX_APISERVER_RESTARTS = intEnv("PODIUM_CHAOS_APISERVER_RESTARTS", 1);
const MAX_BLACKHOLES = intEnv("PODIUM_CHAOS_BLACKHOLES", 1);
/** Bound on convergence once the chaos ended and every pod is healthy again. */
const CONVERGE_MS = 30_000;
/** Check (b)'s bound on a wrong label while the operator can act. */
const TRANSITION_WINDOW_MS = 2_000;
/** The operator's own Lease (client-go's rule: 4 > 3 > 1.2 x 1), as in ha.test.ts. */
const ELECTION_FLAGS = [
  "--leader-elect",
  "--leader-election-lease-duration=4s",
  "--leader-election-renew-deadline=3s",
  "--leader-election-retry-period=1s",
];
/**
 * PODIUM_CHAOS_OPERATOR_DEFAULTS=1 runs the operator with its default
 * --kube-api-timeout (10 s) and --watch-inactivity-timeout (90 s) instead of
 * the shorter ones below, while the excuses still assume the shorter ones:
 * it shows what a fault costs with the defaults.
 */
const OPERATOR_DEFAULTS = process.env.PODIUM_CHAOS_OPERATOR_DEFAULTS === "1";
/** The operator's API request timeout (--kube-api-timeout): a blackholed request hangs this long. */
const OPERATOR_REQUEST_TIMEOUT_MS = 5_000;
/**
 * The operator's watch inactivity deadline (--watch-inactivity-timeout): a
 * watch that a fault left open but silent (one started during a blackhole
 * never gets its response headers) is only noticed this late.
 */
const OPERATOR_WATCH_INACTIVITY_MS = 10_000;

function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
}

const WEIGHTS = {
  podNotReady: 12,
  podReady: 18,
  leaderNotReady: 10,
  deletePod: 5,
  deleteLeader: 6,
  recreateBarePod: 5,
  scale: 5,
  rollout: 5,
  hijack: 7,
  preferredHolder: 4,
  operatorKill: 3,
  operatorPause: 3,
  operatorMidTransition: 3,
  proxyFault: 4,
  apiserverRestart: 0.4,
} as const;
type StepKind = keyof typeof WEIGHTS;
const KINDS = Object.keys(WEIGHTS) as StepKind[];
/**
 * Faults of the operator's own machinery. While one is recovering, check (b)
 * does not count the time (fail-static), so the run alternates phases:
 * CALM_STEPS without these (a wrong label must go within
 * TRANSITION_WINDOW_MS; each calm phase starts once the operator recovered),
 * then STORM_STEPS with every kind.
 */
const INFRA_KINDS: readonly StepKind[] = [
  "operatorKill",
  "operatorPause",
  "operatorMidTransition",
  "proxyFault",
  "apiserverRestart",
];
const CALM_STEPS = 150;
const STORM_STEPS = 100;

interface GroupDef {
  name: string;
  bare: boolean;
}

/** One operator replica slot; a replica that exits is replaced by a new process. */
interface Slot {
  id: string;
  proc: OperatorProcess | undefined;
  paused: boolean;
  starts: number;
  starting: Promise<void> | undefined;
}

/**
 * Spans during which the operator could not act. A fault opens one; it is
 * `over` when the fault itself ends (process resumed, proxy cleared, API
 * server back); it closes once the operator's own Lease is renewed after
 * that by a live, running replica, plus a grace for the catch-up.
 */
interface Disruption {
  reason: string;
  start: number;
  overAt: number | undefined;
  graceMs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe("randomized chaos", () => {
  let clients: Clients;
  let namespace = "";
  let removeNamespace: () => Promise<void> = () => Promise.resolve();
  let proxy: FaultProxy | undefined;
  let checker: InvariantChecker | undefined;
  const electionId = `podium-chaos-${randomBytes(3).toString("hex")}`;

  const given = process.env.PODIUM_CHAOS_SEED;
  const seed =
    given !== undefined && /^\d+$/.test(given)
      ? Number(given)
      : Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  // Choices made in background callbacks come from their own source, so that
  // their timing does not shift the step sequence drawn from `random`.
  const backgroundRandom = seededRandom(seed ^ 0x5bd1e995);
  const pick = <T>(items: readonly T[]): T | undefined =>
    items[Math.floor(random() * items.length)];
  const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const replay = `seed ${String(seed)} (replay: PODIUM_CHAOS_SEED=${String(seed)})`;

  const groups: GroupDef[] = Array.from({ length: GROUPS }, (_, i) => ({
    name: `g${String(i).padStart(2, "0")}`,
    bare: i >= DEPLOYMENTS,
  }));
  const slots: Slot[] = [
    { id: "a", proc: undefined, paused: false, starts: 0, starting: undefined },
    { id: "b", proc: undefined, paused: false, starts: 0, starting: undefined },
  ];
  const background = new Set<Promise<unknown>>();
  const timers = new Set<NodeJS.Timeout>();
  const disruptions: Disruption[] = [];
  const exits: { slot: string; code: number | null; expected: boolean }[] = [];
  const expectedExit = new WeakSet<OperatorProcess>();
  let stopping = false;
  const allProcs: OperatorProcess[] = [];
  /** Every fault injected, for the diagnostics of a failed run. */
  const faults: { at: number; what: string }[] = [];

  const bg = (p: Promise<unknown>): void => {
    const tracked = p.catch((err: unknown) => {
      console.log(`chaos: background task failed: ${(err as Error).message}`);
    });
    background.add(tracked);
    void tracked.finally(() => background.delete(tracked));
  };
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const disrupt = (reason: string, graceMs = 3_000): Disruption => {
    const d: Disruption = { reason, start: Date.now(), overAt: undefined, graceMs };
    faults.push({ at: d.start, what: reason });
    disruptions.push(d);
    return d;
  };
  const over = (d: Disruption): void => {
    d.overAt ??= Date.now();
  };

  const electArgs = (): string[] => [
    `--namespace=${namespace}`,
    ...ELECTION_FLAGS,
    `--leader-election-id=${electionId}`,
    `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
    ...(OPERATOR_DEFAULTS
      ? []
      : [
          `--kube-api-timeout=${String(OPERATOR_REQUEST_TIMEOUT_MS / 1000)}s`,
          `--watch-inactivity-timeout=${String(OPERATOR_WATCH_INACTIVITY_MS / 1000)}s`,
        ]),
  ];

  const startSlot = (slot: Slot): Promise<void> => {
    slot.starting ??= (async () => {
      for (let attempt = 1; attempt <= 5 && !stopping; attempt++) {
        try {
          const kubeconfig = proxy?.kubeconfig ?? inject("operatorKubeconfig");
          slot.starts += 1;
          const proc = await startOperator(kubeconfig, {
            args: electArgs(),
            identity: `${electionId}-${slot.id}-${String(slot.starts)}`,
          });
          slot.proc = proc;
          slot.paused = false;
          allProcs.push(proc);
          void proc.exited.then((code) => {
            exits.push({ slot: slot.id, code, expected: expectedExit.has(proc) });
            if (slot.proc !== proc) return;
            slot.proc = undefined;
            slot.paused = false;
            // A replica that lost its Lease exits 1 by design: start another.
            if (!stopping) {
              later(Math.floor(backgroundRandom() * 1_500), () => {
                bg(startSlot(slot));
              });
            }
          });
          return;
        } catch (err) {
          console.log(`chaos: starting replica ${slot.id} failed: ${(err as Error).message}`);
        }
      }
    })().finally(() => {
      slot.starting = undefined;
    });
    return slot.starting;
  };

  const kill = (slot: Slot, signal: "SIGKILL" | "SIGTERM"): boolean => {
    const proc = slot.proc;
    if (!proc) return false;
    const d = disrupt(`operator ${proc.identity} ${signal}`);
    expectedExit.add(proc);
    bg(
      proc.stop(signal).finally(() => {
        over(d);
      }),
    );
    return true;
  };
  const pause = (slot: Slot, ms: number): boolean => {
    const proc = slot.proc;
    if (!proc || slot.paused) return false;
    const d = disrupt(`operator ${proc.identity} SIGSTOP ${String(ms)} ms`);
    process.kill(proc.pid, "SIGSTOP");
    slot.paused = true;
    later(ms, () => {
      if (slot.proc === proc) {
        process.kill(proc.pid, "SIGCONT");
        slot.paused = false;
      }
      over(d);
    });
    return true;
  };
  /** The replica holding the operator's Lease, if it is one of ours. */
  const activeSlot = async (): Promise<Slot | undefined> => {
    const lease = await clients.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: electionId, namespace: OPERATOR_NAMESPACE });
    const holder = lease.spec?.holderIdentity ?? "";
    return slots.find((s) => s.proc?.identity === holder);
  };

  /** True when the operator's Lease is held by a live, running replica that renewed it after `since`. */
  const operatorHealthy = async (since: number): Promise<boolean> => {
    const lease = await clients.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: electionId, namespace: OPERATOR_NAMESPACE });
    const holder = lease.spec?.holderIdentity ?? "";
    const renew = lease.spec?.renewTime;
    const renewedAt = renew === undefined ? 0 : new Date(renew).getTime();
    return slots.some((s) => s.proc?.identity === holder && !s.paused) && renewedAt > since;
  };

  /** Closes disruptions whose fault is over once the operator is healthy again; bounded by `until`. */
  const monitor = async (until: () => boolean): Promise<void> => {
    for (let i = 0; i < 20_000 && !until(); i++) {
      const pending = disruptions.filter((d) => d.overAt !== undefined);
      if (pending.length > 0) {
        const since = Math.max(...pending.map((d) => d.overAt ?? 0));
        const healthy = await operatorHealthy(since).catch(() => false);
        if (healthy) {
          const now = Date.now();
          for (const d of pending) {
            checker?.excuse(d.start, now + d.graceMs, d.reason);
            disruptions.splice(disruptions.indexOf(d), 1);
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  /**
   * Waits (bounded) until every fault has ended and the operator recovered
   * from it, with both replicas running: a calm phase starts from there.
   */
  const recovered = async (what: string): Promise<void> => {
    const t0 = Date.now();
    await waitFor(
      `the operator to recover before ${what}`,
      () =>
        Promise.resolve(
          disruptions.length === 0 && slots.every((s) => s.proc !== undefined && !s.paused)
            ? true
            : undefined,
        ),
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    recoveryWaitsMs.push(Date.now() - t0);
  };
  const recoveryWaitsMs: number[] = [];

  const podsOf = (g: GroupDef): PodState[] =>
    (checker?.pods() ?? []).filter((p) => p.labels.app === g.name && !p.terminating);
  const leaderOf = (g: GroupDef): PodState | undefined =>
    podsOf(g).find((p) => p.labels.role === "leader");

  const counts = new Map<string, { ok: number; skipped: number; failed: number }>();
  const count = (kind: string, outcome: "ok" | "skipped" | "failed"): void => {
    const c = counts.get(kind) ?? { ok: 0, skipped: 0, failed: 0 };
    c[outcome] += 1;
    counts.set(kind, c);
  };
  let apiserverRestarts = 0;
  let blackholes = 0;
  let proxyBusy = false;
  const restartMs: number[] = [];

  const pickKind = (storm: boolean): StepKind => {
    const kinds = storm ? KINDS : KINDS.filter((k) => !INFRA_KINDS.includes(k));
    const total = kinds.reduce((sum, k) => sum + WEIGHTS[k], 0);
    let r = random() * total;
    for (const k of kinds) {
      r -= WEIGHTS[k];
      if (r < 0) return k;
    }
    return "podReady";
  };

  /** Performs one step; false when it had nothing to act on. */
  const apply = async (kind: StepKind, step: number): Promise<boolean> => {
    const g = pick(groups);
    if (!g) return false;
    const pods = podsOf(g);
    switch (kind) {
      case "podNotReady": {
        const p = pick(pods.filter((x) => x.ready));
        if (!p) return false;
        await setPodReady(clients, namespace, p.name, false);
        return true;
      }
      case "podReady": {
        const notReady = pods.filter((x) => !x.ready && x.phase === "Running");
        const p = pick(notReady.length > 0 ? notReady : pods);
        if (!p) return false;
        await setPodReady(clients, namespace, p.name, true);
        return true;
      }
      case "leaderNotReady": {
        const p = leaderOf(g);
        if (!p) return false;
        await setPodReady(clients, namespace, p.name, false);
        return true;
      }
      case "deletePod":
      case "deleteLeader": {
        const p = kind === "deleteLeader" ? leaderOf(g) : pick(pods);
        if (!p) return false;
        await deletePod(clients, namespace, p.name, random() < 0.3 ? 0 : undefined);
        return true;
      }
      case "recreateBarePod": {
        if (!g.bare) return false;
        const present = new Set((checker?.pods() ?? []).map((p) => p.name));
        const missing = Array.from(
          { length: BARE_PODS },
          (_, i) => `${g.name}-${String(i)}`,
        ).filter((n) => !present.has(n));
        const name = pick(missing);
        if (name === undefined) return false;
        await createBarePod(clients, namespace, name, { labels: { app: g.name } });
        return true;
      }
      case "scale":
      case "rollout": {
        if (g.bare) return false;
        const spec =
          kind === "scale"
            ? { replicas: between(1, 4) }
            : { template: { metadata: { annotations: { "chaos.podium.dev/rev": String(step) } } } };
        await clients.apps.patchNamespacedDeployment(
          { name: g.name, namespace, body: { spec } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
        return true;
      }
      case "hijack": {
        const p = pick(pods.filter((x) => x.labels.role !== "leader"));
        if (!p) return false;
        const patched: V1Pod = await patchPodMetadata(clients, namespace, p.name, {
          labels: { role: "leader" },
        });
        checker?.noteForeignLabel(p.name, patched.metadata?.resourceVersion ?? "");
        return true;
      }
      case "preferredHolder": {
        const p = random() < 0.4 ? undefined : pick(pods);
        await patchGroupSpec(clients, namespace, g.name, { preferredHolder: p?.name ?? null });
        return true;
      }
      case "operatorKill": {
        const slot = pick(slots.filter((s) => s.proc !== undefined));
        if (!slot) return false;
        return kill(slot, slot.paused || random() < 0.5 ? "SIGKILL" : "SIGTERM");
      }
      case "operatorPause": {
        const slot = pick(slots.filter((s) => s.proc !== undefined && !s.paused));
        if (!slot) return false;
        return pause(slot, between(1_000, 6_000));
      }
      case "operatorMidTransition": {
        // DESIGN §2.8: the active replica stops (or dies) while it is moving a
        // leader; the standby takes over after the operator's Lease expires,
        // and the resumed replica must not write on the strength of what it
        // decided before.
        const active = await activeSlot();
        const led = pick(groups.filter((x) => leaderOf(x) !== undefined));
        const p = led ? leaderOf(led) : undefined;
        if (!active || active.paused || !p) return false;
        await setPodReady(clients, namespace, p.name, false);
        // 0-30 ms in, so that the reconcile it triggers is between its writes.
        if (between(0, 2) > 0) await new Promise((resolve) => setTimeout(resolve, between(0, 30)));
        return random() < 0.7 ? pause(active, between(3_500, 7_000)) : kill(active, "SIGKILL");
      }
      case "proxyFault": {
        if (!proxy || proxyBusy) return false;
        const px = proxy;
        const fault = pick(["latency", "reset", "fail", "blackhole"] as const);
        if (fault === undefined) return false;
        if (fault === "blackhole" && blackholes >= MAX_BLACKHOLES) return false;
        proxyBusy = true;
        let ms = 0;
        /** How long after the fault requests sent into it may still hang. */
        let hangMs = 0;
        switch (fault) {
          case "latency":
            ms = between(1_000, 4_000);
            px.setLatency(between(50, 400));
            break;
          case "reset":
            px.resetConnections();
            break;
          case "fail": {
            ms = 3_000;
            const status = pick([429, 500, 503]) ?? 503;
            const rule: FaultRule = { status, count: between(1, 5) };
            // Mostly writes; a failed list or watch costs the operator a
            // backoff that grows with each failure, so those fail once.
            const verb =
              random() < 0.8 ? pick(["patch", "update", "create"]) : pick(["list", "watch"]);
            if (verb === "list" || verb === "watch") rule.count = 1;
            const resource =
              random() < 0.7 ? pick(["pods", "leases", "electiongroups"]) : undefined;
            if (verb !== undefined) rule.verb = verb;
            if (resource !== undefined) rule.resource = resource;
            if (status === 429) rule.retryAfterSeconds = 1;
            px.failRequests(rule);
            break;
          }
          case "blackhole":
            blackholes += 1;
            ms = between(500, 2_000);
            // Requests sent into it hang until the request timeout, a watch
            // started in it until the inactivity deadline.
            hangMs = Math.max(OPERATOR_REQUEST_TIMEOUT_MS, OPERATOR_WATCH_INACTIVITY_MS) + 1_000;
            px.blackhole(ms);
            break;
        }
        const d = disrupt(`proxy ${fault}`);
        later(ms, () => {
          px.clear();
          proxyBusy = false;
        });
        later(ms + hangMs, () => {
          over(d);
        });
        return true;
      }
      case "apiserverRestart": {
        if (apiserverRestarts >= MAX_APISERVER_RESTARTS) return false;
        apiserverRestarts += 1;
        const d = disrupt("kube-apiserver restart", 10_000);
        try {
          const { ms } = await restartApiServer(inject("kubeconfig"), {
            signal: random() < 0.5 ? "KILL" : "TERM",
          });
          restartMs.push(ms);
        } finally {
          over(d);
        }
        return true;
      }
    }
  };

  beforeAll(async () => {
    console.log(`chaos: ${replay}, ${String(STEPS)} steps over ${String(GROUPS)} groups`);
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "chaos"));
    checker = new InvariantChecker(clients.kc, namespace);
    await checker.start();
    proxy = await startFaultProxy({
      kubeconfig: inject("operatorKubeconfig"),
      dir: mkdtempSync(path.join(tmpdir(), "podium-chaos-")),
    });

    // The apps: Deployments of 2-4 replicas, and bare pods.
    for (const g of groups) {
      const labels = { app: g.name };
      if (g.bare) {
        for (let i = 0; i < BARE_PODS; i++) {
          await createBarePod(clients, namespace, `${g.name}-${String(i)}`, { labels });
        }
      } else {
        await clients.apps.createNamespacedDeployment({
          namespace,
          body: {
            metadata: { name: g.name, labels },
            spec: {
              replicas: between(2, 4),
              selector: { matchLabels: labels },
              strategy: {
                type: "RollingUpdate",
                rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
              },
              template: {
                metadata: { labels },
                spec: { containers: [{ name: "app", image: "podium.test/app:1" }] },
              },
            },
          },
        });
      }
    }
    await waitFor(
      "every group to have a ready pod",
      () =>
        Promise.resolve(
          groups.every((g) => podsOf(g).some((p) => isCandidateState(p))) ? true : undefined,
        ),
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    await Promise.all(slots.map((s) => startSlot(s)));
    for (const [i, g] of groups.entries()) {
      await createGroup(clients, namespace, g.name, {
        selector: { matchLabels: { app: g.name } },
        ...(TOLERANT.has(i) ? { notReadyToleranceSeconds: 1 } : {}),
      });
    }
  }, 300_000);

  afterAll(async () => {
    stopping = true;
    for (const t of timers) clearTimeout(t);
    for (const s of slots) if (s.proc && s.paused) process.kill(s.proc.pid, "SIGCONT");
    await checker?.stop();
    await Promise.allSettled([...background]);
    try {
      // Finalize the groups with a fresh operator whatever the test left behind.
      await stopAllOperators();
      await startOperator(inject("operatorKubeconfig"), {
        args: [`--namespace=${namespace}`],
        identity: `${electionId}-cleanup`,
      });
      await teardown(clients, namespace, stopAllOperators, removeNamespace);
    } finally {
      await stopAllOperators();
      await proxy?.close();
      await clients.kc
        .makeApiClient(CoordinationV1Api)
        .deleteNamespacedLease({ name: electionId, namespace: OPERATOR_NAMESPACE })
        .catch(() => undefined);
    }
  }, 300_000);

  it(
    `keeps every invariant through ${String(STEPS)} seeded chaos steps and converges afterwards`,
    () => withSeed(chaos),
    30 * 60_000,
  );

  /** Any failure names the seed, whatever threw. */
  async function withSeed(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.includes(replay)) throw err;
      throw new Error(`${replay}: ${message}`, { cause: err });
    }
  }

  async function chaos(): Promise<void> {
    const startedAt = Date.now();
    let done = false;
    const monitoring = monitor(() => done);

    // Chaos: bursts of 1-8 steps back to back, then a 50-500 ms gap: the
    // workload's own pacing, nothing waits for the operator in between.
    let step = 0;
    for (let burst = 0; step < STEPS && burst < STEPS; burst++) {
      const size = between(1, 8);
      for (let i = 0; i < size && step < STEPS; i++) {
        step += 1;
        const pos = (step - 1) % (CALM_STEPS + STORM_STEPS);
        if (pos === 0 && step > 1) await recovered(`the calm phase from step ${String(step)}`);
        const kind = pickKind(pos >= CALM_STEPS);
        try {
          count(kind, (await apply(kind, step)) ? "ok" : "skipped");
        } catch {
          // A pod gone by now, a 409, the API server restarting: part of chaos.
          count(kind, "failed");
        }
      }
      await new Promise((resolve) => setTimeout(resolve, between(50, 500)));
    }
    const chaosMs = Date.now() - startedAt;

    // Heal: end every fault, resume and restart replicas, every pod Ready.
    stopping = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    proxy?.clear();
    proxyBusy = false;
    for (const s of slots) {
      if (s.proc && s.paused) {
        process.kill(s.proc.pid, "SIGCONT");
        s.paused = false;
      }
    }
    for (const d of disruptions) over(d);
    await Promise.allSettled([...background]);
    stopping = false;
    await Promise.all(slots.map((s) => (s.proc ? Promise.resolve() : startSlot(s))));
    const healStart = Date.now();
    await heal();
    const healedAt = Date.now();

    // Converge: every group, one labelled ready holder that status and Lease agree on.
    const firstConverged = new Map<string, number>();
    let last = "";
    try {
      await waitFor(
        `all ${String(GROUPS)} groups to converge`,
        async () => {
          const report = await convergence();
          last = [...report.entries()]
            .filter(([, why]) => why !== "")
            .map(([g, why]) => `${g}: ${why}`)
            .join("; ");
          for (const [g, why] of report) {
            if (why === "" && !firstConverged.has(g)) firstConverged.set(g, Date.now() - healedAt);
          }
          return last === "" ? true : undefined;
        },
        { timeoutMs: CONVERGE_MS, intervalMs: 200 },
      );
    } catch (err) {
      throw new Error(`${replay}: ${(err as Error).message}; not converged: ${last}`, {
        cause: err,
      });
    }
    const convergedAt = Date.now();
    done = true;
    await monitoring;
    // Whatever is still open never recovered by the operator's Lease: excuse it to the end.
    for (const d of disruptions) checker?.excuse(d.start, convergedAt, d.reason);
    if (!checker) throw new Error("no checker");
    await checker.stop();

    const result = checker.check({ transitionWindowMs: TRANSITION_WINDOW_MS });
    const durations = [...result.wrongLabelDurationsMs].sort((a, b) => a - b);
    const span = convergedAt - startedAt;
    const enforced = unexcusedMs(startedAt, convergedAt, checker.excused);
    const conv = [...firstConverged.values()].sort((a, b) => a - b);
    const summary = [
      `chaos: ${replay}: ${String(step)} steps in ${String(chaosMs)} ms; heal ${String(healedAt - healStart)} ms; all converged ${String(convergedAt - healedAt)} ms after heal (per group p50 ${String(percentile(conv, 50))} ms, max ${String(conv.at(-1) ?? NaN)} ms; bound ${String(CONVERGE_MS)} ms)`,
      `chaos: steps ${JSON.stringify(Object.fromEntries(counts))}`,
      `chaos: operator exits ${JSON.stringify(exits)}; replica starts ${slots.map((s) => `${s.id}=${String(s.starts)}`).join(" ")}; apiserver restarts ${JSON.stringify(restartMs)} ms; waits for recovery before calm phases ${JSON.stringify(recoveryWaitsMs)} ms; blackholes ${String(blackholes)}; proxy ${JSON.stringify(proxy?.stats())}`,
      `chaos: checker ${JSON.stringify(checker.stats())}; ${String(result.transitions.length)} holder changes; ${String(checker.excused.length)} excused spans: check (b) enforced ${String(enforced)} of ${String(span)} ms; wrong-label spans ${String(durations.length)}: p50 ${String(percentile(durations, 50))} ms, p99 ${String(percentile(durations, 99))} ms, max ${String(durations.at(-1) ?? NaN)} ms`,
    ].join("\n");
    console.log(summary);
    const causes = new Map<string, number>();
    for (const t of result.transitions) {
      const key = t.cause.replace(/ [a-z0-9-]+-[a-z0-9]{5}\b| g\d\d-\d/g, " <pod>");
      causes.set(key, (causes.get(key) ?? 0) + 1);
    }
    console.log(`chaos: holder changes by cause ${JSON.stringify(Object.fromEntries(causes))}`);
    if (result.violations.length > 0) {
      const dir = mkdtempSync(path.join(tmpdir(), `podium-chaos-${String(seed)}-`));
      writeFileSync(
        path.join(dir, "events.jsonl"),
        result.events.map((e) => JSON.stringify(e)).join("\n"),
      );
      writeFileSync(
        path.join(dir, "faults.json"),
        JSON.stringify({ faults, excused: checker.excused }, null, 1),
      );
      for (const proc of allProcs) {
        writeFileSync(
          path.join(dir, `operator-${proc.identity}.jsonl`),
          proc.logs.map((l) => JSON.stringify(l)).join("\n"),
        );
      }
      console.log(`chaos: ${replay}: diagnostics in ${dir}`);
    }
    expect(
      result.violations,
      `${replay}: ${String(result.violations.length)} invariant violations\n${InvariantChecker.format(result)}`,
    ).toEqual([]);
    const ok = [...counts.values()].reduce((s, c) => s + c.ok, 0);
    expect(ok, `${replay}: steps that acted`).toBeGreaterThan(STEPS / 2);
  }

  it("canary: the checker reports a second leader label that nobody declared", async () => {
    // The operators stop (fail-static), so nothing reverts the label below.
    stopping = true;
    await stopAllOperators();
    const canary = new InvariantChecker(clients.kc, namespace);
    await canary.start();
    // A pod of a group that has a labelled leader.
    const led = new Set(
      canary
        .pods()
        .filter((p) => p.labels.role === "leader")
        .map((p) => p.labels.app),
    );
    const target = canary.pods().find((p) => led.has(p.labels.app) && p.labels.role !== "leader");
    if (!target) throw new Error(`${replay}: no unlabelled pod for the canary`);
    await patchPodMetadata(clients, namespace, target.name, { labels: { role: "leader" } });
    await waitFor(`the canary to see ${target.name} labelled`, () =>
      Promise.resolve(
        canary.pods().some((p) => p.name === target.name && p.labels.role === "leader")
          ? true
          : undefined,
      ),
    );
    await patchPodMetadata(clients, namespace, target.name, { labels: { role: null } });
    await waitFor(`the canary to see ${target.name} unlabelled`, () =>
      Promise.resolve(
        canary.pods().some((p) => p.name === target.name && p.labels.role === undefined)
          ? true
          : undefined,
      ),
    );
    await canary.stop();
    const found = canary.check().violations.map((v) => v.check);
    expect(found).toContain("single-leader");
    expect(found).toContain("label-without-lease");
  });

  /** Every pod Running and Ready, missing bare pods back, rollouts finished (bounded). */
  async function heal(): Promise<void> {
    for (const g of groups.filter((x) => x.bare)) {
      const present = new Set((checker?.pods() ?? []).map((p) => p.name));
      for (let i = 0; i < BARE_PODS; i++) {
        const name = `${g.name}-${String(i)}`;
        if (!present.has(name)) {
          await createBarePod(clients, namespace, name, { labels: { app: g.name } }).catch(
            () => undefined,
          );
        }
      }
    }
    await waitFor(
      "every pod Running and Ready and every rollout complete",
      async () => {
        const pods = (await clients.core.listNamespacedPod({ namespace })).items;
        let healthy = true;
        for (const p of pods) {
          if (p.metadata?.deletionTimestamp !== undefined) continue;
          if (p.status?.phase !== "Running") {
            healthy = false;
            continue;
          }
          if (podCondition(p, "Ready") !== "True") {
            healthy = false;
            await setPodReady(clients, namespace, p.metadata?.name ?? "", true).catch(
              () => undefined,
            );
          }
        }
        const deployments = (await clients.apps.listNamespacedDeployment({ namespace })).items;
        const rolled = deployments.every((d) => {
          const want = d.spec?.replicas ?? 1;
          const s = d.status;
          return (
            s?.observedGeneration === d.metadata?.generation &&
            s?.updatedReplicas === want &&
            s.readyReplicas === want &&
            s.replicas === want
          );
        });
        return healthy && rolled ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
  }

  /** Per group: "" when converged, else why not. */
  async function convergence(): Promise<Map<string, string>> {
    const [podList, groupList, leaseList] = await Promise.all([
      clients.core.listNamespacedPod({ namespace }),
      custom(clients).listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
      }) as Promise<{ items: ElectionGroup[] }>,
      clients.kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace }),
    ]);
    const report = new Map<string, string>();
    for (const def of groups) {
      const group = groupList.items.find((x) => x.metadata.name === def.name);
      const lease = leaseList.items.find((l) => l.metadata?.name === def.name);
      const members = podList.items.filter((p) => p.metadata?.labels?.app === def.name);
      const labelled = members.filter((p) => p.metadata?.labels?.role === "leader");
      const candidates = members.filter(isCandidate);
      const s = group?.status ?? {};
      const holder = labelled[0];
      const ready = s.conditions?.find((c) => c.type === "Ready");
      const epoch = holder?.metadata?.annotations?.["podium.dev/epoch"];
      const why =
        labelled.length !== 1
          ? `${String(labelled.length)} labelled pods`
          : !holder || !isCandidate(holder)
            ? `labelled ${holder?.metadata?.name ?? "?"} is not a candidate`
            : s.holder !== holder.metadata?.name || s.holderUID !== holder.metadata?.uid
              ? `status.holder ${s.holder ?? "-"} != labelled ${holder.metadata?.name ?? "?"}`
              : lease?.spec?.holderIdentity !== s.holder
                ? `Lease holder ${lease?.spec?.holderIdentity ?? "-"} != ${s.holder}`
                : lease?.spec?.leaseTransitions !== s.epoch || epoch !== String(s.epoch)
                  ? `epochs: Lease ${String(lease?.spec?.leaseTransitions)}, status ${String(s.epoch)}, pod ${epoch ?? "-"}`
                  : ready?.status !== "True" || s.observedGeneration !== group?.metadata.generation
                    ? `Ready=${ready?.status ?? "-"} observedGeneration ${String(s.observedGeneration)}`
                    : s.readyCandidates !== candidates.length
                      ? `readyCandidates ${String(s.readyCandidates)} != ${String(candidates.length)}`
                      : "";
      report.set(def.name, why);
    }
    return report;
  }
});

function isCandidateState(p: PodState): boolean {
  return !p.terminating && p.phase === "Running" && p.ready;
}

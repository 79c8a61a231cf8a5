import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { healCluster } from "../support/cluster-control.ts";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { ChaosMachines } from "../support/chaos-machines.ts";
import { ChaosSteps } from "../support/chaos-steps.ts";
import type { GroupDef } from "../support/chaos-steps.ts";
import { startFaultProxy } from "../support/fault-proxy.ts";
import type { FaultProxy } from "../support/fault-proxy.ts";
import {
  InvariantChecker,
  isCandidate as isCandidateState,
  unexcusedMs,
} from "../support/invariant-checker.ts";
import { podCondition, setPodReady, waitFor } from "../support/kube.ts";
import { leaderElectionArgs, stopAllOperators } from "../support/operator.ts";
import { Background, Disruptions, OperatorReplicas } from "../support/operator-replicas.ts";
import { createGroup, custom } from "../support/groups.ts";
import { createBarePod, createDeployment, isCandidate, patchPodMetadata } from "../support/pods.ts";
import { seededRandom } from "../support/random.ts";
import { percentile } from "../support/stats.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

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
// Bare pod i of each bare group runs on simulated machine i (its own kwok,
// test/support/chaos-machines.ts): steps kill machines and delete their
// Nodes, and the operator runs with node failure detection on.
//
// The steps and the faults they inject: test/support/chaos-steps.ts; the
// operator's replicas and the disruptions they go through:
// test/support/operator-replicas.ts.

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

/**
 * Faults of the operator's own machinery (chaos-steps.ts: INFRA_KINDS) come
 * only in storm phases: while one is recovering, check (b) does not count the
 * time (fail-static), so the run alternates CALM_STEPS without them (a wrong
 * label must go within TRANSITION_WINDOW_MS; each calm phase starts once the
 * operator recovered), then STORM_STEPS with every kind.
 */
const CALM_STEPS = 150;
const STORM_STEPS = 100;

describe("randomized chaos", () => {
  const ns = new SuiteNamespace("chaos");
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
  const replay = `seed ${String(seed)} (replay: PODIUM_CHAOS_SEED=${String(seed)})`;

  const groups: GroupDef[] = Array.from({ length: GROUPS }, (_, i) => ({
    name: `g${String(i).padStart(2, "0")}`,
    bare: i >= DEPLOYMENTS,
  }));
  const background = new Background("chaos");
  const disruptions = new Disruptions();

  const electArgs = (): string[] => [
    `--namespace=${ns.namespace}`,
    "--node-failure-detection=on",
    // The operator's own Lease, as in ha.test.ts.
    ...leaderElectionArgs(electionId),
    ...(OPERATOR_DEFAULTS
      ? []
      : [
          `--kube-api-timeout=${String(OPERATOR_REQUEST_TIMEOUT_MS / 1000)}s`,
          `--watch-inactivity-timeout=${String(OPERATOR_WATCH_INACTIVITY_MS / 1000)}s`,
        ]),
  ];

  const replicas = new OperatorReplicas({
    ids: ["a", "b"],
    electionId,
    args: electArgs,
    kubeconfig: () => proxy?.kubeconfig ?? inject("operatorKubeconfig"),
    background,
    disruptions,
    random: backgroundRandom,
  });
  /** Set in beforeAll, once the namespace, the checker and the proxy exist. */
  let steps: ChaosSteps;
  let machines: ChaosMachines | undefined;
  /** The bare pods on machine `i` that the checker sees. */
  const podsOn = (i: number): string[] =>
    (checker?.pods() ?? [])
      .map((p) => p.name)
      .filter((n) => groups.some((g) => g.bare && n === `${g.name}-${String(i)}`));

  /** Closes disruptions whose fault is over once the operator is healthy again; bounded by `until`. */
  const monitor = async (until: () => boolean): Promise<void> => {
    for (let i = 0; i < 20_000 && !until(); i++) {
      const pending = disruptions.open.filter((d) => d.overAt !== undefined);
      if (pending.length > 0) {
        const since = Math.max(...pending.map((d) => d.overAt ?? 0));
        const healthy = await replicas.healthy(ns.clients, since).catch(() => false);
        if (healthy) {
          const now = Date.now();
          for (const d of pending) {
            checker?.excuse(d.start, now + d.graceMs, d.reason);
            disruptions.close(d);
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
          disruptions.open.length === 0 &&
            replicas.slots.every((s) => s.proc !== undefined && !s.paused)
            ? true
            : undefined,
        ),
      // A replica start may take up to 90 s on a loaded machine (operator-replicas.ts).
      { timeoutMs: 240_000, intervalMs: 100 },
    );
    recoveryWaitsMs.push(Date.now() - t0);
  };
  const recoveryWaitsMs: number[] = [];

  const counts = new Map<string, { ok: number; skipped: number; failed: number }>();
  const count = (kind: string, outcome: "ok" | "skipped" | "failed"): void => {
    const c = counts.get(kind) ?? { ok: 0, skipped: 0, failed: 0 };
    c[outcome] += 1;
    counts.set(kind, c);
  };

  beforeAll(async () => {
    console.log(`chaos: ${replay}, ${String(STEPS)} steps over ${String(GROUPS)} groups`);
    await ns.open();
    checker = new InvariantChecker(ns.clients.kc, ns.namespace);
    await checker.start();
    machines = new ChaosMachines(
      {
        kubeconfig: inject("kubeconfig"),
        clients: ns.clients,
        namespace: ns.namespace,
        podsOn,
        checker: () => checker,
        background,
      },
      BARE_PODS,
    );
    await machines.start();
    proxy = await startFaultProxy({
      kubeconfig: inject("operatorKubeconfig"),
      dir: mkdtempSync(path.join(tmpdir(), "podium-chaos-")),
    });
    steps = new ChaosSteps({
      kubeconfig: inject("kubeconfig"),
      clients: ns.clients,
      namespace: ns.namespace,
      groups,
      barePods: BARE_PODS,
      random,
      checker: () => checker,
      proxy: () => proxy,
      replicas,
      disruptions,
      background,
      machines,
      maxApiserverRestarts: MAX_APISERVER_RESTARTS,
      maxBlackholes: MAX_BLACKHOLES,
      requestTimeoutMs: OPERATOR_REQUEST_TIMEOUT_MS,
      watchInactivityMs: OPERATOR_WATCH_INACTIVITY_MS,
    });

    // The apps: Deployments of 2-4 replicas, and bare pods.
    for (const g of groups) {
      const labels = { app: g.name };
      if (g.bare) {
        for (let i = 0; i < BARE_PODS; i++) {
          await createBarePod(ns.clients, ns.namespace, `${g.name}-${String(i)}`, {
            labels,
            nodeName: machines.nodeName(i),
          });
        }
      } else {
        await createDeployment(ns.clients, ns.namespace, g.name, steps.between(2, 4));
      }
    }
    await waitFor(
      "every group to have a ready pod",
      () =>
        Promise.resolve(
          groups.every((g) => steps.podsOf(g).some((p) => isCandidateState(p))) ? true : undefined,
        ),
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    await Promise.all(replicas.slots.map((s) => replicas.start(s)));
    for (const [i, g] of groups.entries()) {
      await createGroup(ns.clients, ns.namespace, g.name, {
        selector: { matchLabels: { app: g.name } },
        ...(TOLERANT.has(i) ? { notReadyToleranceSeconds: 1 } : {}),
      });
    }
  }, 300_000);

  afterAll(async () => {
    // The suites after this one need a cluster that still schedules pods.
    healCluster(inject("kubeconfig"));
    background.stopping = true;
    background.clearTimers();
    replicas.resumeAll();
    await checker?.stop();
    await background.settle();
    // Pods of a dead machine never confirm their deletion: machines first, then the pods at once.
    await machines?.stop();
    await ns.clients.core
      .deleteCollectionNamespacedPod({ namespace: ns.namespace, gracePeriodSeconds: 0 })
      .catch(() => undefined);
    try {
      // Finalize the groups with a fresh operator whatever the test left behind.
      await ns.close({ freshOperator: `${electionId}-cleanup` });
    } finally {
      await stopAllOperators();
      await proxy?.close();
      await replicas.deleteLease(ns.clients);
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
      const size = steps.between(1, 8);
      for (let i = 0; i < size && step < STEPS; i++) {
        step += 1;
        const pos = (step - 1) % (CALM_STEPS + STORM_STEPS);
        if (pos === 0 && step > 1) await recovered(`the calm phase from step ${String(step)}`);
        const kind = steps.pickKind(pos >= CALM_STEPS);
        try {
          count(kind, (await steps.apply(kind, step)) ? "ok" : "skipped");
        } catch {
          // A pod gone by now, a 409, the API server restarting: part of chaos.
          count(kind, "failed");
        }
      }
      await new Promise((resolve) => setTimeout(resolve, steps.between(50, 500)));
    }
    const chaosMs = Date.now() - startedAt;

    // Heal: end every fault, resume and restart replicas, every pod Ready.
    background.stopping = true;
    background.clearTimers();
    proxy?.clear();
    steps.proxyBusy = false;
    replicas.resumeAll();
    for (const d of disruptions.open) disruptions.over(d);
    await background.settle();
    // Machines whose comeback the cleared timers dropped come back now.
    await machines?.reviveAll();
    background.stopping = false;
    await Promise.all(replicas.slots.map((s) => (s.proc ? Promise.resolve() : replicas.start(s))));
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
    for (const d of disruptions.open) checker?.excuse(d.start, convergedAt, d.reason);
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
      `chaos: operator exits ${JSON.stringify(replicas.exits)}; replica starts ${replicas.slots.map((s) => `${s.id}=${String(s.starts)}`).join(" ")}; apiserver restarts ${JSON.stringify(steps.restartMs)} ms; waits for recovery before calm phases ${JSON.stringify(recoveryWaitsMs)} ms; blackholes ${String(steps.blackholes)}; proxy ${JSON.stringify(proxy?.stats())}`,
      `chaos: machines ${JSON.stringify(machines?.stats)}`,
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
        JSON.stringify({ faults: disruptions.faults, excused: checker.excused }, null, 1),
      );
      for (const proc of replicas.all) {
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
    background.stopping = true;
    await stopAllOperators();
    const canary = new InvariantChecker(ns.clients.kc, ns.namespace);
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
    await patchPodMetadata(ns.clients, ns.namespace, target.name, { labels: { role: "leader" } });
    await waitFor(`the canary to see ${target.name} labelled`, () =>
      Promise.resolve(
        canary.pods().some((p) => p.name === target.name && p.labels.role === "leader")
          ? true
          : undefined,
      ),
    );
    await patchPodMetadata(ns.clients, ns.namespace, target.name, { labels: { role: null } });
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
    // API server restarts can leave the cluster without a scheduler (it exits
    // on a corrupted cache): the groups could never converge, nor later suites run.
    healCluster(inject("kubeconfig"));
    for (const g of groups.filter((x) => x.bare)) {
      const present = new Set((checker?.pods() ?? []).map((p) => p.name));
      for (let i = 0; i < BARE_PODS; i++) {
        const name = `${g.name}-${String(i)}`;
        if (!present.has(name)) {
          await createBarePod(ns.clients, ns.namespace, name, {
            labels: { app: g.name },
            nodeName: machines?.nodeName(i) ?? "",
          }).catch(() => undefined);
        }
      }
    }
    /** What kept the last check from passing, for the error. */
    let waiting: string[] = [];
    await waitFor(
      "every pod Running and Ready and every rollout complete",
      async () => {
        const pods = (await ns.clients.core.listNamespacedPod({ namespace: ns.namespace })).items;
        let healthy = true;
        waiting = [];
        for (const p of pods) {
          if (p.metadata?.deletionTimestamp !== undefined) continue;
          if (p.status?.phase !== "Running") {
            healthy = false;
            // A Pending pod marked Ready is one kwok's pod-ready stage never
            // matches. podReady picks only Running pods, but a recreated bare
            // pod reuses its name, so the checker's view may still say Running:
            // undo the test's own write.
            if (podCondition(p, "Ready") === "True") {
              console.log(
                `chaos: ${p.metadata?.name ?? "?"} Pending but Ready; marking it NotReady`,
              );
              await setPodReady(ns.clients, ns.namespace, p.metadata?.name ?? "", false).catch(
                () => undefined,
              );
            }
            waiting.push(
              `${p.metadata?.name ?? "?"} ${p.status?.phase ?? "-"} on ${p.spec?.nodeName ?? "-"}`,
            );
            continue;
          }
          if (podCondition(p, "Ready") !== "True") {
            healthy = false;
            waiting.push(`${p.metadata?.name ?? "?"} NotReady on ${p.spec?.nodeName ?? "-"}`);
            await setPodReady(ns.clients, ns.namespace, p.metadata?.name ?? "", true).catch(
              () => undefined,
            );
          }
        }
        const deployments = (
          await ns.clients.apps.listNamespacedDeployment({ namespace: ns.namespace })
        ).items;
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
        if (!rolled) waiting.push("a Deployment not rolled out");
        return healthy && rolled ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; waiting for: ${waiting.join("; ")}`, {
        cause: err,
      });
    });
  }

  /** Per group: "" when converged, else why not. */
  async function convergence(): Promise<Map<string, string>> {
    const [podList, groupList, leaseList] = await Promise.all([
      ns.clients.core.listNamespacedPod({ namespace: ns.namespace }),
      custom(ns.clients).listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns.namespace,
        plural: PLURAL,
      }) as Promise<{ items: ElectionGroup[] }>,
      ns.clients.kc
        .makeApiClient(CoordinationV1Api)
        .listNamespacedLease({ namespace: ns.namespace }),
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

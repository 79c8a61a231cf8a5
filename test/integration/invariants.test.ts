import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ElectionGroup } from "../../src/api/types.ts";
import { setPodReady, waitFor } from "../support/kube.ts";
import { createGroup, getGroup } from "../support/groups.ts";
import { deployApp, isCandidate, listPods, readyEndpoints } from "../support/pods.ts";
import { seededRandom } from "../support/random.ts";
import { percentile } from "../support/stats.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

const APP = "inv";
const SELECTOR = `app=${APP}`;
const STEPS = 40;
const CONVERGE_MS = 10_000;
/** Bursts: steps applied back to back, without waiting for the group in between. */
const BURSTS = 4;
const BURST = 6;

const STEP_KINDS = [
  "podNotReady",
  "podReady",
  "deletePod",
  "scale",
  "deleteLeader",
  "leaderNotReady",
] as const;
type StepKind = (typeof STEP_KINDS)[number];
/** Relative weights: readiness changes are the most common event in a real cluster. */
const WEIGHTS: Record<StepKind, number> = {
  podNotReady: 2,
  podReady: 3,
  deletePod: 1.5,
  scale: 1,
  deleteLeader: 1.5,
  leaderNotReady: 2,
};

// The labelling invariant under a seeded random sequence of what kubelets,
// controllers and people do to pods: at most one pod ever carries the label
// (in one watch stream of pods), the group converges to one ready labelled
// holder after each step, epochs only grow, and the leader Service routes to
// the holder alone.
describe("the labelling invariant under churn", () => {
  const ns = new SuiteNamespace("inv");

  const given = process.env.PODIUM_TEST_SEED;
  const seed =
    given !== undefined && /^\d+$/.test(given)
      ? Number(given)
      : Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T | undefined =>
    items[Math.floor(random() * items.length)];
  const pickKind = (): StepKind => {
    const total = STEP_KINDS.reduce((sum, k) => sum + WEIGHTS[k], 0);
    let r = random() * total;
    for (const k of STEP_KINDS) {
      r -= WEIGHTS[k];
      if (r < 0) return k;
    }
    return "podReady";
  };
  const podName = (p: V1Pod): string => p.metadata?.name ?? "";
  const hasLabel = (p: V1Pod): boolean => p.metadata?.labels?.role === "leader";

  /**
   * Waits until the group has converged: no candidate and no label and no
   * holder; or exactly one labelled pod, which is the holder, a candidate,
   * and carries the status epoch; and the READY count agrees. Returns the group.
   */
  const converge = async (step: string): Promise<ElectionGroup> => {
    let last = "";
    try {
      return await waitFor(
        `convergence after ${step}`,
        async () => {
          const [group, pods] = await Promise.all([
            getGroup(ns.clients, ns.namespace, APP),
            listPods(ns.clients, ns.namespace, SELECTOR),
          ]);
          const s = group.status ?? {};
          const holder = s.holder ?? "";
          const labelled = pods.filter(hasLabel).map(podName);
          const candidates = pods.filter(isCandidate);
          last = JSON.stringify({ holder, labelled, ready: candidates.map(podName), s });
          if (candidates.length === 0) {
            return labelled.length === 0 && holder === "" ? group : undefined;
          }
          const holderPod = candidates.find((p) => podName(p) === holder);
          return labelled.length === 1 &&
            labelled[0] === holder &&
            holderPod !== undefined &&
            holderPod.metadata?.annotations?.["podium.dev/epoch"] === String(s.epoch) &&
            s.readyCandidates === candidates.length
            ? group
            : undefined;
        },
        { timeoutMs: CONVERGE_MS, intervalMs: 50 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: ${last}`, { cause: err });
    }
  };

  const epochs: number[] = [];
  const leaderByEpoch = new Map<number, string>();
  const historyProblems: string[] = [];
  /** Checks a converged status: history newest first with epochs that never grow backwards. */
  const record = (group: ElectionGroup, step: string): void => {
    const s = group.status ?? {};
    epochs.push(s.epoch ?? 0);
    const history = s.history ?? [];
    history.forEach((h, i) => {
      const older = history[i + 1];
      if (older && older.epoch > h.epoch) {
        historyProblems.push(
          `${step}: history epoch ${String(older.epoch)} before ${String(h.epoch)}`,
        );
      }
      // A release (to "") keeps the epoch; each leadership (to a pod) has its own.
      if (h.to === "") return;
      const seen = leaderByEpoch.get(h.epoch);
      if (seen !== undefined && seen !== h.to) {
        historyProblems.push(`${step}: epoch ${String(h.epoch)} led by both ${seen} and ${h.to}`);
      }
      leaderByEpoch.set(h.epoch, h.to);
    });
  };

  /** Picks and performs one step; `holder` is the pod that leader-targeted steps hit. */
  const applyStep = async (
    label: string,
    holder: string,
  ): Promise<{ kind: StepKind; target: string | undefined; step: string; causeAt: number }> => {
    const pods = (await listPods(ns.clients, ns.namespace, SELECTOR)).filter(
      (p) => p.metadata?.deletionTimestamp === undefined,
    );
    let kind = pickKind();
    let target: string | undefined;
    let replicas: number | undefined;
    if ((kind === "deleteLeader" || kind === "leaderNotReady") && holder === "") kind = "podReady";
    switch (kind) {
      case "podNotReady":
      case "deletePod":
        target = pick(pods.map(podName));
        break;
      case "podReady": {
        const notReady = pods.filter((p) => !isCandidate(p)).map(podName);
        target = pick(notReady.length > 0 ? notReady : pods.map(podName));
        break;
      }
      case "scale":
        replicas = 3 + Math.floor(random() * 4);
        break;
      case "deleteLeader":
      case "leaderNotReady":
        target = holder;
        break;
    }
    const step = `${label} ${kind} ${target ?? String(replicas)}`;
    const causeAt = Date.now();
    try {
      if (kind === "podNotReady" || kind === "leaderNotReady") {
        if (target) await setPodReady(ns.clients, ns.namespace, target, false);
      } else if (kind === "podReady") {
        if (target) await setPodReady(ns.clients, ns.namespace, target, true);
      } else if (kind === "deletePod" || kind === "deleteLeader") {
        if (target)
          await ns.clients.core.deleteNamespacedPod({ name: target, namespace: ns.namespace });
      } else {
        await ns.clients.apps.patchNamespacedDeployment(
          { name: APP, namespace: ns.namespace, body: { spec: { replicas } } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
      }
    } catch (err) {
      // In a burst the pod may be gone already (deleted by a previous step or a scale-down).
      if ((err as { code?: number }).code !== 404) throw err;
    }
    return { kind, target, step, causeAt };
  };

  beforeAll(async () => {
    console.log(`invariants: seed ${String(seed)} (replay with PODIUM_TEST_SEED=${String(seed)})`);
    await ns.open([APP]);
    await ns.startOperator();
  });

  afterAll(async () => {
    await ns.close();
  });

  it(`converges to one ready labelled holder after each of ${String(STEPS)} seeded steps`, async () => {
    await deployApp(ns.clients, ns.namespace, APP, 5);
    await createGroup(ns.clients, ns.namespace, APP, { selector: { matchLabels: { app: APP } } });

    const failovers: { kind: string; ms: number }[] = [];
    let group = await converge("creation");
    record(group, "creation");
    const startedAt = Date.now();
    for (let i = 0; i < STEPS; i++) {
      const holder = group.status?.holder ?? "";
      const { kind, target, step, causeAt } = await applyStep(`step ${String(i + 1)}`, holder);
      group = await converge(step);
      record(group, step);
      const next = group.status?.holder ?? "";
      if (target !== undefined && target === holder && next !== "" && next !== holder) {
        const ledAt = ns.recorder.firstLed(next, causeAt);
        if (ledAt !== undefined) failovers.push({ kind, ms: ledAt - causeAt });
      }
    }
    console.log(`invariants: ${String(STEPS)} steps in ${String(Date.now() - startedAt)} ms`);
    const sorted = failovers.map((f) => f.ms).sort((a, b) => a - b);
    console.log(
      `invariants: ${String(failovers.length)} fail-overs of the leader (NotReady or deleted), write -> new label in the pod watch: p50 ${String(percentile(sorted, 50))} ms, max ${String(sorted.at(-1) ?? NaN)} ms; ` +
        failovers.map((f) => `${f.kind}=${String(f.ms)}`).join(" "),
    );
    expect(ns.recorder.violations()).toEqual([]);
    expect(historyProblems).toEqual([]);
    expect(failovers.length).toBeGreaterThan(0);
  });

  it(`converges after bursts of ${String(BURST)} steps with no pause between them`, async () => {
    for (let b = 0; b < BURSTS; b++) {
      for (let i = 0; i < BURST; i++) {
        // Leader-targeted steps hit whichever pod carries the label right now.
        const labelled = (
          await listPods(ns.clients, ns.namespace, `${SELECTOR},role=leader`)
        ).filter((p) => p.metadata?.deletionTimestamp === undefined);
        await applyStep(`burst ${String(b + 1)}.${String(i + 1)}`, podName(labelled[0] ?? {}));
      }
      record(await converge(`burst ${String(b + 1)}`), `burst ${String(b + 1)}`);
    }
    expect(ns.recorder.violations()).toEqual([]);
    expect(historyProblems).toEqual([]);
  });

  it("ends with epochs that never decreased and the leader Service routing to the holder alone", async () => {
    // Bring every pod back so that the group has a leader for the Service check.
    for (const p of await listPods(ns.clients, ns.namespace, SELECTOR)) {
      if (p.metadata?.deletionTimestamp === undefined && !isCandidate(p)) {
        await setPodReady(ns.clients, ns.namespace, podName(p), true);
      }
    }
    const group = await converge("final readiness");
    record(group, "final readiness");
    const holder = group.status?.holder ?? "";
    expect(holder).not.toBe("");

    expect(ns.recorder.violations()).toEqual([]);
    expect(historyProblems).toEqual([]);
    for (let i = 1; i < epochs.length; i++) {
      expect(epochs[i], `epoch after sample ${String(i)}`).toBeGreaterThanOrEqual(
        epochs[i - 1] ?? 0,
      );
    }
    const endpoints = await waitFor(
      `the ${APP}-leader Service to route to ${holder} alone`,
      async () => {
        const eps = await readyEndpoints(ns.clients, ns.namespace, `${APP}-leader`);
        return eps.length === 1 && eps[0] === holder ? eps : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(endpoints).toEqual([holder]);
  });
});

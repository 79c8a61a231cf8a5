import { randomBytes } from "node:crypto";
import {
  CoordinationV1Api,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { setPodReady, waitFor } from "../support/kube.ts";
import {
  leaderElectionArgs,
  logLines,
  startOperator,
  stopAllOperators,
} from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { createGroup, getGroup, readLease, waitForLeader } from "../support/groups.ts";
import { deployApp, labelledPods } from "../support/pods.ts";
import { metricValue } from "../support/prometheus.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

const OPERATOR_NAMESPACE = "podium-system";
/** The operator's own lease timings in these tests (client-go's rule: 4 > 3 > 1.2 x 1). */
const LEASE_DURATION_MS = 4_000;

// The operator's own high availability, on a real API server: a restart
// changes no leader, only the replica holding the operator's Lease acts, a
// SIGTERM hands over at once, a SIGKILL hands over after the Lease expires
// while every label stays where it is, and the probes and metrics a platform
// team scrapes are there.
describe("the operator's own high availability", () => {
  const ns = new SuiteNamespace("ha");
  const electionId = `podium-ha-${randomBytes(3).toString("hex")}`;
  const selector = "app=web";

  const plainArgs = (): string[] => [`--namespace=${ns.namespace}`];
  const electArgs = (): string[] => [
    `--namespace=${ns.namespace}`,
    ...leaderElectionArgs(electionId),
  ];
  const start = (identity: string, args: string[]): Promise<OperatorProcess> =>
    startOperator(inject("operatorKubeconfig"), { args, identity });

  /** leader_election_master_status of `op` for this file's Lease; undefined before it is exported. */
  const masterStatus = async (op: OperatorProcess): Promise<number | undefined> =>
    metricValue(await op.metrics(), "leader_election_master_status", { name: electionId });
  const reconciles = async (op: OperatorProcess): Promise<number> =>
    metricValue(await op.metrics(), "controller_runtime_reconcile_total", {
      controller: "electiongroup",
    }) ?? 0;
  /** Reconcile log lines: every line a reconcile logs carries controller=electiongroup. */
  const reconcileLogs = (op: OperatorProcess): Record<string, unknown>[] =>
    op.logs.filter((l) => l.controller === "electiongroup");
  const groupStatus = async (): Promise<{ holder: string; transitions: number; epoch: number }> => {
    const s = (await getGroup(ns.clients, ns.namespace, "web")).status;
    return { holder: s?.holder ?? "", transitions: s?.transitions ?? -1, epoch: s?.epoch ?? -1 };
  };
  /** Labelled pods seen by the independent pod watch at or after `since`, as distinct sets. */
  const labelSetsSince = (since: number): string[] => [
    ...new Set(
      ns.recorder.observations.filter((o) => o.at >= since).map((o) => o.labelled.join(",")),
    ),
  ];
  /** The label sets other than just `holder` that the pod watch saw at or after `since`. */
  const otherLabelSetsSince = (since: number, holder: string): string[] =>
    labelSetsSince(since).filter((set) => set !== holder);
  /** Makes the current leader NotReady, waits for the next one, makes the old one Ready again. */
  const causeFailover = async (): Promise<{ from: string; to: string; ms: number }> => {
    const from = await waitForLeader(ns.clients, ns.namespace, "web", selector);
    const causeAt = Date.now();
    await setPodReady(ns.clients, ns.namespace, from, false);
    const to = await waitForLeader(ns.clients, ns.namespace, "web", selector, {
      not: from,
      timeoutMs: 10_000,
    });
    const ms = (ns.recorder.firstLed(to, causeAt) ?? Number.NaN) - causeAt;
    await setPodReady(ns.clients, ns.namespace, from, true);
    return { from, to, ms };
  };

  // Set by each test for the next: the replica that leads the operator, and a standby.
  let active: OperatorProcess | undefined;
  let standby: OperatorProcess | undefined;

  beforeAll(async () => {
    await ns.open(["web"]);
    await deployApp(ns.clients, ns.namespace, "web", 3);
  });

  afterAll(async () => {
    // Whatever a failed test left behind, finalize the group with a fresh operator.
    await ns.close({ freshOperator: "podium-ha-cleanup" });
    await ns.clients.kc
      .makeApiClient(CoordinationV1Api)
      .deleteNamespacedLease({ name: electionId, namespace: OPERATOR_NAMESPACE })
      .catch(() => undefined);
  });

  it("an operator restart moves no label and counts no transition", async () => {
    const first = await start("podium-ha-plain-1", plainArgs());
    await createGroup(ns.clients, ns.namespace, "web", {
      selector: { matchLabels: { app: "web" } },
      lease: { durationSeconds: 6, renewDeadlineSeconds: 4, retryPeriodSeconds: 2 },
    });
    const holder = await waitForLeader(ns.clients, ns.namespace, "web", selector);
    const before = await groupStatus();
    expect(before).toMatchObject({ holder, transitions: 1, epoch: 1 });
    const leaseBefore = await readLease(ns.clients, ns.namespace, "web");
    expect(leaseBefore?.spec?.holderIdentity).toBe(holder);

    const stoppedAt = Date.now();
    expect(await first.stop("SIGTERM")).toBe(0);
    const second = await start("podium-ha-plain-2", plainArgs());
    // Bounded proof that the new operator has looked at the group and acted on
    // it: a successful reconcile, then a renewal of the group's Lease (due every
    // max(retry, duration/2) = 3 s) written after the restart.
    await waitFor("a reconcile by the restarted operator", async () =>
      (await reconciles(second)) >= 1 ? true : undefined,
    );
    const renewed = await waitFor(
      "the restarted operator to renew the group's Lease",
      async () => {
        const lease = await readLease(ns.clients, ns.namespace, "web");
        const renewTime = lease?.spec?.renewTime;
        return renewTime !== undefined && new Date(renewTime).getTime() > stoppedAt
          ? lease
          : undefined;
      },
      { timeoutMs: 10_000 },
    );

    expect(await groupStatus()).toEqual(before);
    expect(renewed.spec?.holderIdentity).toBe(holder);
    expect(renewed.spec?.leaseTransitions).toBe(leaseBefore?.spec?.leaseTransitions);
    expect(await labelledPods(ns.clients, ns.namespace, selector)).toEqual([holder]);
    // The independent pod watch saw the label on the holder alone the whole time.
    expect(otherLabelSetsSince(stoppedAt, holder)).toEqual([]);
    expect(logLines(second, "leadership moved")).toEqual([]);
    expect(await second.stop("SIGTERM")).toBe(0);
  });

  it("with two replicas, only the one holding the operator's Lease acts", async () => {
    // Nothing the previous test may have left running must act besides these two.
    await stopAllOperators();
    const [a, b] = await Promise.all([
      start(`${electionId}-a`, electArgs()),
      start(`${electionId}-b`, electArgs()),
    ]);
    const [leader, other] = await waitFor(
      "exactly one replica to lead the operator",
      async () => {
        const [sa, sb] = await Promise.all([masterStatus(a), masterStatus(b)]);
        if (sa === 1 && sb === 0) return [a, b] as const;
        if (sa === 0 && sb === 1) return [b, a] as const;
        return undefined;
      },
      { timeoutMs: 15_000 },
    );
    const lease = await readLease(ns.clients, OPERATOR_NAMESPACE, electionId);
    expect(lease?.spec?.holderIdentity).toBe(leader.identity);

    // The leader takes over the group (no transition: nothing changed).
    await waitFor("a reconcile by the operator's leader", async () =>
      (await reconciles(leader)) >= 1 ? true : undefined,
    );
    const t0 = (await groupStatus()).transitions;
    const { from, to } = await causeFailover();
    expect((await groupStatus()).transitions).toBe(t0 + 1);
    // Performed once, by the leader.
    const moves = logLines(leader, "leadership moved");
    expect(moves.map((l) => [l.from, l.to])).toEqual([[from, to]]);
    expect(logLines(other, "leadership moved")).toEqual([]);
    expect(reconcileLogs(other)).toEqual([]);
    expect(await reconciles(other)).toBe(0);
    expect(await masterStatus(other)).toBe(0);
    expect(await masterStatus(leader)).toBe(1);
    const history = (await getGroup(ns.clients, ns.namespace, "web")).status?.history ?? [];
    expect(history.filter((h) => h.from === from && h.to === to)).toHaveLength(1);
    active = leader;
    standby = other;
  });

  it("SIGTERM of the active replica releases the Lease and the standby takes over at once, then acts", async () => {
    if (!active || !standby) throw new Error("needs the previous test's two replicas");
    const [leaving, next] = [active, standby];
    const leaseBefore = await readLease(ns.clients, OPERATOR_NAMESPACE, electionId);
    const holder = await waitForLeader(ns.clients, ns.namespace, "web", selector);
    const t0 = (await groupStatus()).transitions;

    const stopAt = Date.now();
    const exited = leaving.stop("SIGTERM");
    const takeoverAt = await waitFor(
      "the standby to lead the operator",
      async () => ((await masterStatus(next)) === 1 ? Date.now() : undefined),
      { timeoutMs: 3 * LEASE_DURATION_MS, intervalMs: 25 },
    );
    expect(await exited).toBe(0);
    const handover = takeoverAt - stopAt;
    const released = logLines(leaving, "released leader lease")[0]?.time;
    const releasedAfter =
      typeof released === "string" ? String(Date.parse(released) - stopAt) : "?";
    console.log(
      `operator hand-over on SIGTERM: released ${releasedAfter} ms after the signal, standby leading after ${String(handover)} ms (lease duration ${String(LEASE_DURATION_MS)} ms)`,
    );
    // It released rather than let the Lease run out.
    expect(logLines(leaving, "released leader lease")).toHaveLength(1);
    expect(handover).toBeLessThan(LEASE_DURATION_MS);
    const lease = await readLease(ns.clients, OPERATOR_NAMESPACE, electionId);
    expect(["", next.identity]).toContain(lease?.spec?.holderIdentity);
    expect(lease?.spec?.leaseTransitions).toBe((leaseBefore?.spec?.leaseTransitions ?? 0) + 1);

    // The new leader picks the group up without moving it...
    await waitFor("a reconcile by the new operator leader", async () =>
      (await reconciles(next)) >= 1 ? true : undefined,
    );
    expect(await groupStatus()).toMatchObject({ holder, transitions: t0 });
    expect(otherLabelSetsSince(stopAt, holder)).toEqual([]);
    // ...and performs the next fail-over itself.
    const { from, to } = await causeFailover();
    expect((await groupStatus()).transitions).toBe(t0 + 1);
    expect(logLines(next, "leadership moved").map((l) => [l.from, l.to])).toEqual([[from, to]]);
    active = next;
    standby = undefined;
  });

  it("SIGKILL of the active replica: labels stay put until the standby takes over after the Lease expires", async () => {
    if (!active) throw new Error("needs the previous test's active replica");
    const killed = active;
    const next = await start(`${electionId}-c`, electArgs());
    await waitFor("the new replica to stand by", async () =>
      (await masterStatus(next)) === 0 ? true : undefined,
    );
    const holder = await waitForLeader(ns.clients, ns.namespace, "web", selector);
    const before = await groupStatus();

    const killAt = Date.now();
    await killed.stop("SIGKILL");
    // No operator leads now: poll that the leader keeps its label until one does.
    let polls = 0;
    const wrong: string[][] = [];
    const takeoverAt = await waitFor(
      "the standby to take over after the Lease expires",
      async () => {
        if ((await masterStatus(next)) === 1) return Date.now();
        const labelled = await labelledPods(ns.clients, ns.namespace, selector);
        if (labelled.length !== 1 || labelled[0] !== holder) wrong.push(labelled);
        polls += 1;
        return undefined;
      },
      { timeoutMs: 3 * LEASE_DURATION_MS, intervalMs: 100 },
    );
    const gap = takeoverAt - killAt;
    console.log(
      `operator take-over after SIGKILL: ${String(gap)} ms (lease duration ${String(LEASE_DURATION_MS)} ms); ${String(polls)} polls saw ${holder} keep the label meanwhile`,
    );
    // The standby waited for the Lease to run out (last renewal <= ~1.2 s before the kill).
    expect(gap).toBeGreaterThan(LEASE_DURATION_MS - 1_500);
    expect(polls).toBeGreaterThan(5);
    expect(wrong).toEqual([]);
    expect(otherLabelSetsSince(killAt, holder)).toEqual([]);

    // The group's own Lease may have run out meanwhile (6 s): still no transition.
    await waitFor("a reconcile by the replica that took over", async () =>
      (await reconciles(next)) >= 1 ? true : undefined,
    );
    await waitFor(
      "the group's Lease renewed by the replica that took over",
      async () => {
        const renewTime = (await readLease(ns.clients, ns.namespace, "web"))?.spec?.renewTime;
        return renewTime !== undefined && new Date(renewTime).getTime() > takeoverAt
          ? true
          : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(await groupStatus()).toEqual(before);
    expect(otherLabelSetsSince(killAt, holder)).toEqual([]);

    const { from, to, ms } = await causeFailover();
    expect(logLines(next, "leadership moved").map((l) => [l.from, l.to])).toEqual([[from, to]]);
    console.log(`fail-over by the replica that took over: ${String(ms)} ms`);
    active = next;
  });

  it("serves /healthz, /readyz and the metrics dashboards expect", async () => {
    if (!active) throw new Error("needs the previous test's active replica");
    const op = active;
    expect(await op.probe("/healthz")).toMatchObject({ status: 200 });
    expect(await op.probe("/readyz")).toMatchObject({ status: 200 });
    const text = await op.metrics();
    const series = (name: string, labels: Record<string, string> = {}): number | undefined =>
      metricValue(text, name, labels);
    expect(
      series("controller_runtime_reconcile_total", { controller: "electiongroup" }),
    ).toBeGreaterThan(0);
    expect(series("workqueue_depth")).toBeDefined();
    expect(series("rest_client_requests_total")).toBeGreaterThan(0);
    expect(series("leader_election_master_status", { name: electionId })).toBe(1);
    expect(
      series("podium_electiongroup_transitions_total", { namespace: ns.namespace, name: "web" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      series("podium_failover_seconds_count", { namespace: ns.namespace, name: "web" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      series("podium_failover_seconds_bucket", {
        namespace: ns.namespace,
        name: "web",
        le: "+Inf",
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("a replica whose Lease is taken stops acting and exits 1, leaving the labels in place", async () => {
    if (!active) throw new Error("needs the previous test's active replica");
    const op = active;
    const holder = await waitForLeader(ns.clients, ns.namespace, "web", selector);
    const before = await groupStatus();
    // Someone else takes the operator's Lease (an admin, or a replica that
    // judged it expired): the active replica must notice and stop.
    const stolenAt = Date.now();
    await ns.clients.kc.makeApiClient(CoordinationV1Api).patchNamespacedLease(
      {
        name: electionId,
        namespace: OPERATOR_NAMESPACE,
        body: {
          spec: {
            holderIdentity: "intruder",
            leaseDurationSeconds: 60,
            acquireTime: new V1MicroTime(),
            renewTime: new V1MicroTime(),
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const code = await Promise.race([
      op.exited,
      new Promise<string>((resolve) =>
        setTimeout(() => {
          resolve("still running");
        }, 8_000),
      ),
    ]);
    console.log(
      `replica whose Lease was taken: exit ${String(code)} after ${String(Date.now() - stolenAt)} ms`,
    );
    expect(code).toBe(1);
    expect(logLines(op, "leader election lost")).toHaveLength(1);
    // It did not take the Lease back, and it left the group as it was.
    const lease = await readLease(ns.clients, OPERATOR_NAMESPACE, electionId);
    expect(lease?.spec?.holderIdentity).toBe("intruder");
    expect(await groupStatus()).toEqual(before);
    expect(otherLabelSetsSince(stolenAt, holder)).toEqual([]);
    active = undefined;
  });
});

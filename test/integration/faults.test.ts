import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { healCluster, restartApiServer, restartEtcd } from "../support/cluster-control.ts";
import { startFaultProxy } from "../support/fault-proxy.ts";
import type { FaultProxy, FaultRule } from "../support/fault-proxy.ts";
import { setPodReady, waitFor } from "../support/kube.ts";
import {
  leaderElectionArgs,
  logLines,
  startOperator,
  stopAllOperators,
} from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { createGroup, getGroup, readLease } from "../support/groups.ts";
import { deployApp, isCandidate, listPods, podsLabelled } from "../support/pods.ts";
import { metricValue } from "../support/prometheus.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

const APP = "web";
const SELECTOR = `app=${APP}`;
const OPERATOR_NAMESPACE = "podium-system";
/** After a fault ends, the group has one ready labelled holder again within this. */
const CONVERGE_MS = 20_000;
/** A fail-over under latency, resets or 5xx answers completes within this. */
const FAILOVER_UNDER_FAULT_MS = 20_000;
const BLACKHOLE_MS = 10_000;
/**
 * A fail-over caused at the start of a blackhole completes within this of the
 * cause: the blackhole, plus the operator's 30 s per-request timeout (a write
 * sent into the blackhole is abandoned only then), plus slack.
 */
const FAILOVER_AFTER_BLACKHOLE_MS = BLACKHOLE_MS + 30_000 + 10_000;
/** After a control-plane component is back, a fail-over completes within this. */
const FAILOVER_AFTER_RESTART_MS = 30_000;

// DESIGN §2 invariants under API faults: the operator talks to the API server
// through a fault proxy (authenticated as its ServiceAccount), an independent
// pod watch (straight to the API server) records every label change, and each
// test checks that no two pods ever carried the label and that the group ends
// with one ready labelled holder.
describe("the invariants under API faults", () => {
  const ns = new SuiteNamespace("faults");
  let proxy: FaultProxy;
  let operator: OperatorProcess;
  const proxies: FaultProxy[] = [];
  const workDir = mkdtempSync(path.join(tmpdir(), "podium-faults-"));

  const newProxy = async (): Promise<FaultProxy> => {
    const p = await startFaultProxy({
      kubeconfig: inject("operatorKubeconfig"),
      dir: mkdtempSync(path.join(workDir, "proxy-")),
    });
    proxies.push(p);
    return p;
  };

  /** The pods carrying the label (terminating ones too: they still receive traffic). */
  const labelled = (): Promise<string[]> =>
    podsLabelled(ns.clients, ns.namespace, SELECTOR, "role", "leader");

  /**
   * Waits until exactly one pod carries the label, it is the group's
   * status.holder, and it is a candidate (Running, Ready, not terminating);
   * returns it. `not` excludes a pod (the one a fail-over must leave).
   */
  const converged = async (
    what: string,
    timeoutMs: number,
    not?: string,
  ): Promise<{ holder: string; at: number }> => {
    let last = "";
    try {
      return await waitFor(
        what,
        async () => {
          const [group, pods, lease] = await Promise.all([
            getGroup(ns.clients, ns.namespace, APP),
            listPods(ns.clients, ns.namespace, SELECTOR),
            readLease(ns.clients, ns.namespace, APP),
          ]);
          const holder = group.status?.holder ?? "";
          const withLabel = pods.filter((p) => p.metadata?.labels?.role === "leader");
          const names = withLabel.map((p) => p.metadata?.name ?? "");
          const leaseHolder = lease?.spec?.holderIdentity ?? "";
          const epoch = withLabel[0]?.metadata?.annotations?.["podium.dev/epoch"];
          const leaseEpoch = String(lease?.spec?.leaseTransitions ?? "");
          last = JSON.stringify({ holder, labelled: names, leaseHolder, epoch, leaseEpoch });
          const pod = withLabel[0];
          // The label, the status and the Lease agree, and the label carries the Lease's epoch.
          return names.length === 1 &&
            names[0] === holder &&
            leaseHolder === holder &&
            epoch === leaseEpoch &&
            holder !== not &&
            pod !== undefined &&
            isCandidate(pod)
            ? { holder, at: Date.now() }
            : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: ${last}`, { cause: err });
    }
  };

  /** No observation of the independent pod watch had two labelled pods. */
  const expectAtMostOneLabelled = (): void => {
    const violations = ns.recorder.violations();
    if (violations.length > 0) {
      console.log("label violations:", JSON.stringify(violations.slice(0, 10), null, 1));
    }
    expect(violations).toEqual([]);
  };

  /**
   * Makes the holder NotReady, waits (bounded) for another ready pod to hold
   * the label alone, and makes the old holder Ready again. `during` runs right
   * after the cause (to inject faults in the middle of the fail-over).
   */
  const failover = async (
    timeoutMs: number,
    during?: () => Promise<void>,
  ): Promise<{ from: string; to: string; ms: number }> => {
    const { holder: from } = await converged("a holder before the fail-over", CONVERGE_MS);
    const causeAt = Date.now();
    await setPodReady(ns.clients, ns.namespace, from, false);
    await during?.();
    const { holder: to } = await converged(`a fail-over away from ${from}`, timeoutMs, from);
    const ms = (ns.recorder.firstLed(to, causeAt) ?? Date.now()) - causeAt;
    await setPodReady(ns.clients, ns.namespace, from, true);
    return { from, to, ms };
  };

  const watchRestarts = async (op: OperatorProcess, reason?: string): Promise<number> =>
    metricValue(
      await op.metrics(),
      "podium_watch_restarts_total",
      reason === undefined ? {} : { reason },
    ) ?? 0;

  beforeAll(async () => {
    await ns.open([APP]);
    await deployApp(ns.clients, ns.namespace, APP, 3);
    proxy = await newProxy();
    operator = await startOperator(proxy.kubeconfig, {
      args: [`--namespace=${ns.namespace}`],
      identity: "podium-faults",
    });
    await createGroup(ns.clients, ns.namespace, APP, { selector: { matchLabels: { app: APP } } });
    await converged("the first leader", CONVERGE_MS);
  });

  afterEach(() => {
    for (const p of proxies) p.clear();
  });

  afterAll(async () => {
    // The suites after this one need a cluster that still schedules pods.
    healCluster(inject("kubeconfig"));
    // The operator's log, for a failed run: every JSON line it wrote.
    const logFile = path.join(workDir, "operator.log");
    writeFileSync(logFile, operator.logs.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const requestsFile = path.join(workDir, "proxy-requests.log");
    writeFileSync(
      requestsFile,
      proxies
        .flatMap((p, i) => p.requests().map((r) => JSON.stringify({ proxy: i, ...r })))
        .join("\n") + "\n",
    );
    console.log(`operator log: ${logFile}; proxy requests: ${requestsFile}`);
    for (const p of proxies) p.clear();
    // Whatever a failed test left behind, finalize the group with a fresh operator.
    await ns.close({ freshOperator: "podium-faults-cleanup" });
    await Promise.all(proxies.map((p) => p.close()));
  });

  it("keeps one leader and fails over with 300 ms added to every API request", async () => {
    proxy.setLatency(300);
    const before = proxy.stats().requests;
    const { from, to, ms } = await failover(FAILOVER_UNDER_FAULT_MS);
    console.log(`fail-over with 300 ms latency: ${from} -> ${to} in ${String(ms)} ms`);
    expect(proxy.stats().requests).toBeGreaterThan(before);
    proxy.clear();
    await converged("convergence after latency", CONVERGE_MS);
    expectAtMostOneLabelled();
  });

  it("keeps one leader when every connection is reset in the middle of fail-overs", async () => {
    const restartsBefore = await watchRestarts(operator);
    const resetsBefore = proxy.stats().resets;
    for (let i = 0; i < 3; i++) {
      const { from, to, ms } = await failover(FAILOVER_UNDER_FAULT_MS, async () => {
        // Resets at the cause and while the operator is writing the transition.
        for (const delayMs of [0, 50, 150]) {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          proxy.resetConnections();
        }
      });
      console.log(
        `fail-over ${String(i + 1)} with connection resets: ${from} -> ${to} in ${String(ms)} ms`,
      );
    }
    expect(proxy.stats().resets).toBeGreaterThan(resetsBefore);
    // The operator noticed its watches die and restarted them.
    expect(await watchRestarts(operator)).toBeGreaterThan(restartsBefore);
    await converged("convergence after resets", CONVERGE_MS);
    expectAtMostOneLabelled();
  });

  it("keeps one leader through 429 (Retry-After) and 500/503 answers to its writes", async () => {
    const rules: FaultRule[] = [
      { verb: "PATCH", resource: "pods", status: 429, count: 3, retryAfterSeconds: 1 },
      { verb: "PATCH", resource: "leases", status: 500, count: 2 },
      { verb: "PUT", resource: "leases", status: 503, count: 2 },
      { verb: "PATCH", resource: "electiongroups/status", status: 503, count: 2 },
    ];
    for (const rule of rules) proxy.failRequests(rule);
    const faultsFrom = proxy.requests().length;
    const { from, to, ms } = await failover(FAILOVER_UNDER_FAULT_MS);
    console.log(
      `fail-over through injected 429/500/503: ${from} -> ${to} in ${String(ms)} ms; unused faults: ${rules.map((r) => `${r.verb ?? "*"} ${r.resource ?? "*"} ${String(r.count)}`).join(", ")}`,
    );
    // When the retries came: a client that honours Retry-After waits 1 s after each 429.
    const answered = proxy.requests().slice(faultsFrom);
    const after429 = answered
      .map((r, i) => ({
        r,
        next: answered.slice(i + 1).find((n) => n.path === r.path && n.method === r.method),
      }))
      .filter(({ r }) => r.fate === "fault" && r.status === 429)
      .map(({ r, next }) => (next === undefined ? "none" : `${String(next.at - r.at)} ms`));
    console.log(
      `retries of the PATCH after each 429 (Retry-After: 1) came after: ${after429.join(", ")}`,
    );
    // The label and Lease writes of the transition met every injected error and were retried.
    expect(rules[0]?.count).toBe(0);
    expect(rules[1]?.count).toBe(0);
    // The status was written in the end despite the 503s.
    await waitFor(
      "the group's status to name the new holder",
      async () =>
        (await getGroup(ns.clients, ns.namespace, APP)).status?.holder === to ? true : undefined,
      { timeoutMs: CONVERGE_MS },
    );
    expect(rules[3]?.count).toBe(0);
    expect(operator.logs.filter((l) => l.level === "fatal")).toEqual([]);
    proxy.clear();
    await converged("convergence after 5xx", CONVERGE_MS);
    expectAtMostOneLabelled();
  });

  it(
    "acts on a fail-over caused during a 10 s blackhole once the network is back",
    async () => {
      const { holder: from } = await converged("a holder before the blackhole", CONVERGE_MS);
      const startedAt = Date.now();
      proxy.blackhole(BLACKHOLE_MS);
      await setPodReady(ns.clients, ns.namespace, from, false);
      // While nothing gets through, nothing moves: the label stays where it was. A sample counts
      // only if its read returned before the blackhole could have ended (it starts after
      // startedAt): the last poll may land after the end, when podium is free to move.
      const seen = new Set<string>();
      await waitFor(
        "the blackhole to end",
        async () => {
          const sample = (await labelled()).join(",");
          if (Date.now() - startedAt < BLACKHOLE_MS) seen.add(sample);
          return Date.now() - startedAt >= BLACKHOLE_MS ? true : undefined;
        },
        { timeoutMs: BLACKHOLE_MS + 5_000, intervalMs: 250 },
      );
      expect([...seen]).toEqual([from]);
      const swallowed = proxy
        .requests()
        .filter((r) => r.fate === "blackholed" && r.at >= startedAt)
        .map((r) => `${r.method} ${r.path}`);
      const { holder: to, at } = await converged(
        `a fail-over away from ${from} after the blackhole`,
        FAILOVER_AFTER_BLACKHOLE_MS - (Date.now() - startedAt),
        from,
      );
      console.log(
        `blackhole ${String(BLACKHOLE_MS)} ms: requests swallowed ${JSON.stringify(swallowed)}; fail-over ${from} -> ${to} ${String(at - startedAt)} ms after the cause`,
      );
      // The blackhole held the watch streams too: podium learnt of the cause only once the network
      // was back. (With Managed mode's 60 s renewals an idle operator may send no request at all
      // in 10 s, so swallowed requests are logged, not required.)
      expect(at - startedAt).toBeGreaterThanOrEqual(BLACKHOLE_MS);
      await setPodReady(ns.clients, ns.namespace, from, true);
      await converged("convergence after the blackhole", CONVERGE_MS);
      expectAtMostOneLabelled();
    },
    FAILOVER_AFTER_BLACKHOLE_MS + 2 * CONVERGE_MS + 10_000,
  );

  it("keeps one leader through an API server restart in the middle of a fail-over", async () => {
    const { holder: from } = await converged("a holder before the restart", CONVERGE_MS);
    const causeAt = Date.now();
    await setPodReady(ns.clients, ns.namespace, from, false);
    const { ms: restartMs } = await restartApiServer(inject("kubeconfig"), { signal: "KILL" });
    const { holder: to, at } = await converged(
      `a fail-over away from ${from} after the API server restart`,
      FAILOVER_AFTER_RESTART_MS,
      from,
    );
    console.log(
      `API server restart took ${String(restartMs)} ms; fail-over ${from} -> ${to} ${String(at - causeAt)} ms after the cause`,
    );
    await setPodReady(ns.clients, ns.namespace, from, true);
    // And the operator still works normally afterwards.
    const next = await failover(FAILOVER_UNDER_FAULT_MS);
    console.log(`fail-over after the API server restart: ${String(next.ms)} ms`);
    expect(operator.logs.filter((l) => l.level === "fatal")).toEqual([]);
    expectAtMostOneLabelled();
  });

  it("keeps one leader through an etcd restart in the middle of a fail-over", async () => {
    const { holder: from } = await converged("a holder before the restart", CONVERGE_MS);
    const causeAt = Date.now();
    await setPodReady(ns.clients, ns.namespace, from, false);
    const { ms: restartMs } = await restartEtcd(inject("kubeconfig"), { signal: "KILL" });
    const { holder: to, at } = await converged(
      `a fail-over away from ${from} after the etcd restart`,
      FAILOVER_AFTER_RESTART_MS,
      from,
    );
    console.log(
      `etcd restart took ${String(restartMs)} ms; fail-over ${from} -> ${to} ${String(at - causeAt)} ms after the cause`,
    );
    await setPodReady(ns.clients, ns.namespace, from, true);
    const next = await failover(FAILOVER_UNDER_FAULT_MS);
    console.log(`fail-over after the etcd restart: ${String(next.ms)} ms`);
    expectAtMostOneLabelled();
  });

  it("keeps label and Lease in agreement through back-to-back fail-overs while its Lease watch is stalled", async () => {
    // The Lease watch alone goes silent (half-open); pods and groups still flow.
    // podium must not decide from the Lease it cached before the stall once it
    // has written newer ones itself.
    proxy.stallWatches(true, "leases");
    const first = await failover(FAILOVER_UNDER_FAULT_MS);
    const second = await failover(FAILOVER_UNDER_FAULT_MS);
    console.log(
      `with the Lease watch stalled: ${first.from} -> ${first.to} (${String(first.ms)} ms), ${second.from} -> ${second.to} (${String(second.ms)} ms)`,
    );
    // The old holder turning Ready again (done by failover()) queues another reconcile.
    const { holder } = await converged(
      "label, status and Lease in agreement after both",
      CONVERGE_MS,
    );
    expect(holder).toBe(second.to);
    const since = Date.now() - CONVERGE_MS;
    const conflicts = logLines(operator, "lease write lost a race; retrying").filter(
      (l) => typeof l.time === "string" && Date.parse(l.time) >= since,
    );
    expect(conflicts.length).toBeLessThan(10);
    expectAtMostOneLabelled();
  });

  it("a replica paused (SIGSTOP) past its Lease writes nothing after it resumes, and exits", async () => {
    await stopAllOperators();
    const electionId = `podium-faults-${randomBytes(3).toString("hex")}`;
    const args = [`--namespace=${ns.namespace}`, ...leaderElectionArgs(electionId)];
    // Each replica has its own proxy: its request log is the audit of what it wrote.
    const [proxyA, proxyB] = await Promise.all([newProxy(), newProxy()]);
    const [a, b] = await Promise.all([
      startOperator(proxyA.kubeconfig, { args, identity: `${electionId}-a` }),
      startOperator(proxyB.kubeconfig, { args, identity: `${electionId}-b` }),
    ]);
    const master = async (op: OperatorProcess): Promise<number | undefined> =>
      metricValue(await op.metrics(), "leader_election_master_status", { name: electionId });
    const [leader, standby, leaderProxy] = await waitFor(
      "exactly one replica to lead the operator",
      async () => {
        const [ma, mb] = await Promise.all([master(a), master(b)]);
        if (ma === 1 && mb === 0) return [a, b, proxyA] as const;
        if (ma === 0 && mb === 1) return [b, a, proxyB] as const;
        return undefined;
      },
      { timeoutMs: 15_000 },
    );
    await waitFor("a reconcile by the operator's leader", async () =>
      (metricValue(await leader.metrics(), "controller_runtime_reconcile_total") ?? 0) >= 1
        ? true
        : undefined,
    );
    await converged("a holder before the pause", CONVERGE_MS);

    process.kill(leader.pid, "SIGSTOP");
    let resumedAt = 0;
    try {
      const stoppedAt = Date.now();
      await waitFor(
        "the standby to take over the operator's Lease",
        async () => ((await master(standby)) === 1 ? true : undefined),
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      console.log(`standby took over ${String(Date.now() - stoppedAt)} ms after SIGSTOP`);
      // Changes the paused replica will find in its socket buffers when it wakes:
      // a fail-over (done by the standby) and the old holder Ready again.
      const { from, to } = await failover(FAILOVER_UNDER_FAULT_MS);
      expect(logLines(standby, "leadership moved").map((l) => [l.from, l.to])).toContainEqual([
        from,
        to,
      ]);
      resumedAt = Date.now();
    } finally {
      process.kill(leader.pid, "SIGCONT");
    }
    if (resumedAt === 0) resumedAt = Date.now();

    // A replica that lost its Lease exits (exit code 1), as in ha.test.ts.
    const code = await Promise.race([
      leader.exited,
      new Promise<string>((resolve) =>
        setTimeout(() => {
          resolve("still running");
        }, 15_000),
      ),
    ]);
    // Give the standby a reconcile after the stale replica woke, then audit.
    const { holder } = await converged("the group after the stale replica woke", CONVERGE_MS);
    const namespacePath = `/namespaces/${ns.namespace}/`;
    const staleWrites = leaderProxy
      .requests()
      .filter(
        (r) =>
          r.at >= resumedAt &&
          r.method !== "GET" &&
          r.path.includes(namespacePath) &&
          r.fate === "forwarded",
      )
      .map((r) => `${r.method} ${r.path} -> ${String(r.status)}`);
    const staleMoves = logLines(leader, "leadership moved").filter(
      (l) => typeof l.time === "string" && Date.parse(l.time) >= resumedAt,
    );
    console.log(
      `stale replica: exit ${String(code)} ${String(Date.now() - resumedAt)} ms after SIGCONT; writes to ${ns.namespace} after it resumed: ${JSON.stringify(staleWrites)}`,
    );
    expect(staleWrites).toEqual([]);
    expect(staleMoves).toEqual([]);
    expect(code).toBe(1);
    expect(await labelled()).toEqual([holder]);
    expectAtMostOneLabelled();
    await ns.clients.kc
      .makeApiClient(CoordinationV1Api)
      .deleteNamespacedLease({ name: electionId, namespace: OPERATOR_NAMESPACE })
      .catch(() => undefined);
  }, 120_000);
});

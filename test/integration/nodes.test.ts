import { CoordinationV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { TransitionRecord } from "../../src/api/types.ts";
import { InvariantChecker } from "../support/invariant-checker.ts";
import { connect, createNamespace, sleep, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startMachine, stopAllMachines } from "../support/kwok-machines.ts";
import type { Machine } from "../support/kwok-machines.ts";
import { logLines, startOperator, stopAllOperators } from "../support/operator.ts";
import { metricValue } from "../support/prometheus.ts";
import type { OperatorProcess } from "../support/operator.ts";
import {
  createGroup,
  getGroup,
  groupCondition,
  groupEvents,
  teardown,
  waitForLeader,
} from "../support/groups.ts";

// Dead nodes (issue 13): a pod whose node is deleted, Ready=False/Unknown,
// tainted out-of-service or silent (heartbeat Lease not renewed for
// spec.failureDetection.nodeHeartbeatGraceSeconds) stops being a candidate,
// and a leader there loses leadership with reason NodeLost or
// NodeHeartbeatStale. Each machine is a Node with its own kwok process (its
// kubelet); SIGKILL stops its heartbeat and freezes its pods' status, as on a
// real dead machine. When most heartbeats stop at once, nobody is demoted.
//
// One namespace, one operator (node failure detection on), six machines:
// m5 survives every test and hosts each group's second pod; m0..m4 each fail
// once, in order. The invariant checker watches throughout; the failures the
// test causes are declared to it as causes (no pod event shows them).

const DEFAULT_GRACE_MS = 18_000;

describe("dead nodes and hung leaders", () => {
  let clients: Clients;
  let namespace = "";
  let removeNamespace: () => Promise<void> = () => Promise.resolve();
  let operator: OperatorProcess;
  let checker: InvariantChecker;
  const m: Machine[] = [];
  const figures: Record<string, number> = {};

  const machineName = (i: number): string => `${namespace}-m${String(i)}`;

  /** A pod of `app` bound to machine `i` (no scheduler: spec.nodeName). */
  async function podOn(app: string, name: string, i: number): Promise<void> {
    await clients.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { app } },
        spec: {
          nodeName: machineName(i),
          containers: [{ name: "app", image: "podium.test/app:1" }],
          tolerations: [{ key: "podium.test/machine", operator: "Exists" }],
        },
      },
    });
  }

  /** A group of two pods: `${app}-a` on machine `victim` (preferred), `${app}-b` on m5. */
  async function group(
    app: string,
    victim: number,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await podOn(app, `${app}-a`, victim);
    await podOn(app, `${app}-b`, 5);
    await createGroup(clients, namespace, app, {
      selector: { matchLabels: { app } },
      preferredHolder: `${app}-a`,
      ...extra,
    });
    await waitForLeader(clients, namespace, app, `app=${app}`, { expected: `${app}-a` });
  }

  async function history(app: string): Promise<TransitionRecord[]> {
    return (await getGroup(clients, namespace, app)).status?.history ?? [];
  }

  /** Patches node `i`'s status (strategic merge: conditions merge by type). */
  async function patchNodeStatus(i: number, body: unknown): Promise<void> {
    await clients.core.patchNodeStatus(
      { name: machineName(i), body },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
  }

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "nd"));
    for (let i = 0; i < 6; i++) {
      // m1 heartbeats like a kubelet (40 s Lease, renewed every 10 s); the
      // others every 2 s, so that the tests need not wait for slow cadences.
      m.push(
        await startMachine(clients, inject("kubeconfig"), machineName(i), {
          index: i,
          leaseDurationSeconds: i === 1 ? 40 : 8,
        }),
      );
    }
    checker = new InvariantChecker(clients.kc, namespace);
    await checker.start();
    operator = await startOperator(inject("operatorKubeconfig"), {
      args: [`--namespace=${namespace}`, "--node-failure-detection=on"],
    });
  }, 240_000);

  afterAll(async () => {
    await checker.stop();
    await stopAllMachines(clients);
    // Pods of dead machines never confirm their deletion: remove them at once.
    await clients.core
      .deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 })
      .catch(() => undefined);
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
    console.log(`node failure figures (ms): ${JSON.stringify(figures)}`);
  });

  it("node deleted: a new leader at once (NodeLost, the node in the history)", async () => {
    await group("del", 0);
    await m[0]?.signal("SIGKILL");
    checker.noteNodeFailure(["del-a"], `node ${machineName(0)} deleted`);
    const t0 = Date.now();
    await clients.core.deleteNode({ name: machineName(0) });
    await waitForLeader(clients, namespace, "del", "app=del", {
      expected: "del-b",
      timeoutMs: 10_000,
    });
    figures.nodeDeletedWallMs = Date.now() - t0;
    const [entry] = await history("del");
    expect(entry).toMatchObject({
      from: "del-a",
      to: "del-b",
      reason: "NodeLost",
      node: machineName(0),
    });
    figures.nodeDeletedDurationMs = entry?.durationMs ?? NaN;
    expect(entry?.durationMs).toBeLessThan(1_000);
  });

  it("heartbeat stopped (kwok killed): a new leader within the grace (NodeHeartbeatStale)", async () => {
    await group("hb", 1);
    const killedAt = Date.now();
    await m[1]?.signal("SIGKILL");
    checker.noteNodeFailure(["hb-a"], `machine ${machineName(1)} killed`);
    await waitForLeader(clients, namespace, "hb", "app=hb", {
      expected: "hb-b",
      timeoutMs: DEFAULT_GRACE_MS + 15_000,
    });
    figures.heartbeatStoppedWallMs = Date.now() - killedAt;
    const [entry] = await history("hb");
    expect(entry).toMatchObject({ reason: "NodeHeartbeatStale", node: machineName(1) });
    figures.heartbeatStoppedDurationMs = entry?.durationMs ?? NaN;
    // The pod itself still says Running and Ready: only its node tells.
    const pod = await clients.core.readNamespacedPod({ namespace, name: "hb-a" });
    expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    // Well before the node controller's 50 s grace.
    expect(figures.heartbeatStoppedWallMs).toBeLessThan(DEFAULT_GRACE_MS + 5_000);
    const lost = await groupEvents(clients, namespace, "hb", "LeaderLost");
    expect(lost.map((e) => e.note).join("\n")).toContain(`(node ${machineName(1)})`);
  });

  it("node Ready=Unknown: NodeLost, whatever the heartbeat grace", async () => {
    await group("unk", 2, { failureDetection: { nodeHeartbeatGraceSeconds: 600 } });
    // Its kubelet must not overwrite the condition the node controller would set.
    await m[2]?.signal("SIGKILL");
    checker.noteNodeFailure(["unk-a"], `node ${machineName(2)} Ready=Unknown`);
    await patchNodeStatus(2, {
      status: {
        conditions: [
          { type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "test" },
        ],
      },
    });
    await waitForLeader(clients, namespace, "unk", "app=unk", {
      expected: "unk-b",
      timeoutMs: 10_000,
    });
    expect((await history("unk"))[0]).toMatchObject({ reason: "NodeLost", node: machineName(2) });
  });

  it("out-of-service taint: NodeLost although the node is Ready", async () => {
    await group("oos", 3);
    checker.noteNodeFailure(["oos-a"], `node ${machineName(3)} out-of-service`);
    // NoSchedule rather than the usual NoExecute, so that no eviction races the test.
    await clients.core.patchNode(
      {
        name: machineName(3),
        body: {
          spec: {
            taints: [
              { key: "podium.test/machine", value: "true", effect: "NoSchedule" },
              { key: "node.kubernetes.io/out-of-service", value: "test", effect: "NoSchedule" },
            ],
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitForLeader(clients, namespace, "oos", "app=oos", {
      expected: "oos-b",
      timeoutMs: 10_000,
    });
    expect((await history("oos"))[0]).toMatchObject({ reason: "NodeLost", node: machineName(3) });
  });

  it("a heartbeat merely late (less than the grace) moves nobody", async () => {
    await group("late", 4);
    // Counted after the set-up: podium may first elect late-b, when it saw
    // late-a Ready a moment later, and then move to the preferred late-a.
    const transitions = (await history("late")).length;
    const leases = clients.kc.makeApiClient(CoordinationV1Api);
    const renewTime = async () =>
      String(
        (await leases.readNamespacedLease({ name: machineName(4), namespace: "kube-node-lease" }))
          .spec?.renewTime,
      );
    // Freeze its kubelet right after a renewal for half the grace: longer than
    // its own 8 s Lease (a reader judging by leaseDurationSeconds would give up
    // on it), well short of podium's grace even on a slow, loaded machine.
    const before = await renewTime();
    await waitFor(
      "a renewal of m4",
      async () => ((await renewTime()) !== before ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 50,
      },
    );
    await m[4]?.signal("SIGSTOP");
    await sleep(DEFAULT_GRACE_MS / 2);
    await m[4]?.signal("SIGCONT");
    const resumed = await renewTime();
    await waitFor(
      "m4 renewing again",
      async () => ((await renewTime()) !== resumed ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
    await sleep(DEFAULT_GRACE_MS / 2);
    const g = await getGroup(clients, namespace, "late");
    const entries = JSON.stringify(g.status?.history);
    expect(g.status?.holder, entries).toBe("late-a");
    expect(g.status?.history?.length, entries).toBe(transitions);
  });

  it("disruption guard: every machine silent at once demotes nobody, and says so", async () => {
    await group("guard", 4);
    const transitions = (await history("guard")).length;
    const leaders = async () =>
      Object.fromEntries(
        await Promise.all(
          ["late", "guard"].map(async (a) => [
            a,
            (await getGroup(clients, namespace, a)).status?.holder,
          ]),
        ),
      ) as Record<string, string | undefined>;
    expect(await leaders()).toEqual({ late: "late-a", guard: "guard-a" });
    // Every machine's kubelet at once (m5 hosts each group's other pod): with
    // m1 and m2 already silent, 5 of the cluster's 7 nodes stop renewing.
    const killedAt = Date.now();
    for (const i of [3, 4, 5]) await m[i]?.signal("SIGKILL");
    await waitFor(
      "NodeDisruption=True on guard",
      async () =>
        groupCondition(await getGroup(clients, namespace, "guard"), "NodeDisruption")?.status ===
        "True"
          ? true
          : undefined,
      { timeoutMs: DEFAULT_GRACE_MS + 10_000 },
    );
    // Past the grace of every heartbeat, and a few rechecks more.
    await sleep(Math.max(0, killedAt + DEFAULT_GRACE_MS + 8_000 - Date.now()));
    expect(await leaders()).toEqual({ late: "late-a", guard: "guard-a" });
    const g = await getGroup(clients, namespace, "guard");
    expect(groupCondition(g, "NodeDisruption")?.reason).toBe("MostHeartbeatsStale");
    expect(g.status?.history?.length).toBe(transitions);
    expect((await groupEvents(clients, namespace, "guard", "NodeDisruption")).length).toBe(1);
    expect(
      metricValue(await operator.metrics(), "podium_electiongroup_node_disruption", {
        namespace,
        name: "guard",
        reason: "MostHeartbeatsStale",
      }),
    ).toBe(1);
    expect(
      logLines(operator, "node heartbeats distrusted: demoting nobody on them").length,
    ).toBeGreaterThan(0);
  });

  it("kept every invariant throughout", () => {
    const result = checker.check();
    expect(result.violations, InvariantChecker.format(result)).toEqual([]);
    const causes = result.transitions.filter((t) => t.from !== "").map((t) => t.cause);
    expect(causes.length).toBeGreaterThanOrEqual(4);
  });
});

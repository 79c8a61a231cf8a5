import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setPodReady, waitFor } from "../support/kube.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { createGroup, getGroup, waitForLeader } from "../support/groups.ts";
import { deployApp, labelledPods, listPods } from "../support/pods.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

// The operator runs as a child process, authenticated as its ServiceAccount
// with only the role in config/rbac, against the real local API server.
describe("Managed mode on a real API server", () => {
  const ns = new SuiteNamespace("managed");
  let operator: OperatorProcess;

  beforeAll(async () => {
    await ns.open(["web"]);
    operator = await ns.startOperator();
  });

  afterAll(async () => {
    await ns.close();
  });

  it("labels exactly one ready pod, which the Service alone reaches", async () => {
    await deployApp(ns.clients, ns.namespace, "web", 3);
    await createGroup(ns.clients, ns.namespace, "web", {
      selector: { matchLabels: { app: "web" } },
    });
    const holder = await waitForLeader(ns.clients, ns.namespace, "web", "app=web");

    const group = await getGroup(ns.clients, ns.namespace, "web");
    expect(group.status?.epoch).toBe(1);
    expect(group.status?.readyCandidates).toBe(3);
    const pod = (await listPods(ns.clients, ns.namespace, "app=web")).find(
      (p) => p.metadata?.name === holder,
    );
    expect(pod?.metadata?.annotations?.["podium.dev/epoch"]).toBe("1");

    const endpoints = await waitFor("one ready endpoint on web-leader", async () => {
      const slices = await ns.clients.discovery.listNamespacedEndpointSlice({
        namespace: ns.namespace,
        labelSelector: "kubernetes.io/service-name=web-leader",
      });
      const eps = slices.items.flatMap((s) => s.endpoints ?? []);
      return eps.length === 1 && eps[0]?.conditions?.ready === true ? eps : undefined;
    });
    expect(endpoints[0]?.targetRef?.name).toBe(holder);
  });

  it("moves the label when the leader turns NotReady, and reports how long it took", async () => {
    const before = await waitForLeader(ns.clients, ns.namespace, "web", "app=web");
    const causeAt = Date.now();
    await setPodReady(ns.clients, ns.namespace, before, false);
    const after = await waitForLeader(ns.clients, ns.namespace, "web", "app=web", { not: before });
    const ledAt = ns.recorder.firstLed(after, causeAt);
    expect(ledAt).toBeDefined();
    console.log(
      `fail-over on NotReady: ${String((ledAt ?? 0) - causeAt)} ms from the status write to the new label in the pod watch stream`,
    );
    const group = await getGroup(ns.clients, ns.namespace, "web");
    expect(group.status?.epoch).toBe(2);
    expect(group.status?.history?.[0]).toMatchObject({
      from: before,
      to: after,
      reason: "HolderNotReady",
      epoch: 2,
    });
    expect(await labelledPods(ns.clients, ns.namespace, "app=web")).toEqual([after]);
  });

  it("never showed two labelled pods in the pod watch stream", () => {
    expect(ns.recorder.violations()).toEqual([]);
    expect(ns.recorder.observations.length).toBeGreaterThan(0);
    expect(operator.pid).toBeGreaterThan(0);
  });
});

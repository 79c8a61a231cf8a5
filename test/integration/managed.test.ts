import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, setPodReady, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import {
  LeaderLabelRecorder,
  createGroup,
  deployApp,
  getGroup,
  labelledPods,
  listPods,
  teardown,
  waitForLeader,
} from "../support/podium.ts";

// The operator runs as a child process, authenticated as its ServiceAccount
// with only the role in config/rbac, against the real local API server.
describe("Managed mode on a real API server", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let operator: OperatorProcess;
  let recorder: LeaderLabelRecorder;

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "managed"));
    operator = await startOperator(inject("operatorKubeconfig"), {
      args: [`--namespace=${namespace}`],
    });
    recorder = new LeaderLabelRecorder(clients, namespace, "app=web");
    await recorder.start();
  });

  afterAll(async () => {
    await recorder.stop();
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  it("labels exactly one ready pod, which the Service alone reaches", async () => {
    await deployApp(clients, namespace, "web", 3);
    await createGroup(clients, namespace, "web", { selector: { matchLabels: { app: "web" } } });
    const holder = await waitForLeader(clients, namespace, "web", "app=web");

    const group = await getGroup(clients, namespace, "web");
    expect(group.status?.epoch).toBe(1);
    expect(group.status?.readyCandidates).toBe(3);
    const pod = (await listPods(clients, namespace, "app=web")).find(
      (p) => p.metadata?.name === holder,
    );
    expect(pod?.metadata?.annotations?.["podium.dev/epoch"]).toBe("1");

    const endpoints = await waitFor("one ready endpoint on web-leader", async () => {
      const slices = await clients.discovery.listNamespacedEndpointSlice({
        namespace,
        labelSelector: "kubernetes.io/service-name=web-leader",
      });
      const eps = slices.items.flatMap((s) => s.endpoints ?? []);
      return eps.length === 1 && eps[0]?.conditions?.ready === true ? eps : undefined;
    });
    expect(endpoints[0]?.targetRef?.name).toBe(holder);
  });

  it("moves the label when the leader turns NotReady, and reports how long it took", async () => {
    const before = await waitForLeader(clients, namespace, "web", "app=web");
    const causeAt = Date.now();
    await setPodReady(clients, namespace, before, false);
    const after = await waitForLeader(clients, namespace, "web", "app=web", { not: before });
    const ledAt = recorder.firstLed(after, causeAt);
    expect(ledAt).toBeDefined();
    console.log(
      `fail-over on NotReady: ${String((ledAt ?? 0) - causeAt)} ms from the status write to the new label in the pod watch stream`,
    );
    const group = await getGroup(clients, namespace, "web");
    expect(group.status?.epoch).toBe(2);
    expect(group.status?.history?.[0]).toMatchObject({
      from: before,
      to: after,
      reason: "HolderNotReady",
      epoch: 2,
    });
    expect(await labelledPods(clients, namespace, "app=web")).toEqual([after]);
  });

  it("never showed two labelled pods in the pod watch stream", () => {
    expect(recorder.violations()).toEqual([]);
    expect(recorder.observations.length).toBeGreaterThan(0);
    expect(operator.pid).toBeGreaterThan(0);
  });
});

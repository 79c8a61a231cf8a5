import type { V1EndpointSlice, V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, podCondition, setPodReady, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { createDeployment, createService } from "../support/pods.ts";

// Proves the local control plane is real Kubernetes: the scheduler places pods
// on kwok nodes, kwok runs them, the Deployment and EndpointSlice controllers
// react, and pod readiness can be driven through the status subresource, which
// is how the operator's tests play the kubelet.
describe("the local control plane", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  const labels = { app: "web" };

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "cluster"));
  });

  afterAll(async () => {
    await removeNamespace();
  });

  const listPods = async (): Promise<V1Pod[]> =>
    (await clients.core.listNamespacedPod({ namespace, labelSelector: "app=web" })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );

  const sliceEndpoints = async (): Promise<
    { ip: string; ready: boolean | undefined; pod: string | undefined }[]
  > => {
    const slices = await clients.discovery.listNamespacedEndpointSlice({
      namespace,
      labelSelector: "kubernetes.io/service-name=web",
    });
    return slices.items.flatMap((s: V1EndpointSlice) =>
      (s.endpoints ?? []).map((e) => ({
        ip: e.addresses[0] ?? "",
        ready: e.conditions?.ready,
        pod: e.targetRef?.name,
      })),
    );
  };

  it("runs a 3-replica Deployment to availability on kwok nodes", async () => {
    await createDeployment(clients, namespace, "web", 3, { surgeOneAtATime: false });
    await createService(clients, namespace, "web", labels);

    const deployment = await waitFor("3 available replicas", async () => {
      const d = await clients.apps.readNamespacedDeployment({ name: "web", namespace });
      return d.status?.availableReplicas === 3 ? d : undefined;
    });
    expect(deployment.status?.readyReplicas).toBe(3);

    const pods = await listPods();
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-\d+$/);
      expect(pod.status?.phase).toBe("Running");
      expect(pod.status?.podIP).toMatch(/^10\.244\./);
    }
  });

  it("gives a ClusterIP Service an EndpointSlice with the 3 ready pods", async () => {
    const endpoints = await waitFor("3 ready endpoints", async () => {
      const eps = await sliceEndpoints();
      return eps.filter((e) => e.ready === true).length === 3 ? eps : undefined;
    });
    const podIPs = (await listPods()).map((p) => p.status?.podIP).sort();
    expect(endpoints.map((e) => e.ip).sort()).toEqual(podIPs);
  });

  it("replaces a deleted pod", async () => {
    const [victim] = await listPods();
    const victimName = victim?.metadata?.name ?? "";
    await clients.core.deleteNamespacedPod({ name: victimName, namespace });

    const pods = await waitFor("a replacement pod, Ready, and the victim gone", async () => {
      const all = (await clients.core.listNamespacedPod({ namespace, labelSelector: "app=web" }))
        .items;
      const names = all.map((p) => p.metadata?.name);
      const ready = all.filter((p) => podCondition(p, "Ready") === "True");
      return !names.includes(victimName) && ready.length === 3 ? all : undefined;
    });
    expect(pods.map((p) => p.metadata?.name)).not.toContain(victimName);
  });

  it("lets a test mark a pod NotReady through the status subresource, and the EndpointSlice follows", async () => {
    const [pod] = await listPods();
    const name = pod?.metadata?.name ?? "";
    const patched = await setPodReady(clients, namespace, name, false);
    expect(podCondition(patched, "Ready")).toBe("False");

    const endpoint = await waitFor(`${name} not ready in the EndpointSlice`, async () => {
      const e = (await sliceEndpoints()).find((x) => x.pod === name);
      return e?.ready === false ? e : undefined;
    });
    expect(endpoint.ip).toBe(pod?.status?.podIP);

    // Nobody (kwok in particular) wrote the pod after us: readiness is the test's to decide.
    const after = await clients.core.readNamespacedPod({ name, namespace });
    expect(after.metadata?.resourceVersion).toBe(patched.metadata?.resourceVersion);
    expect(podCondition(after, "Ready")).toBe("False");

    await setPodReady(clients, namespace, name, true);
    await waitFor(`${name} ready again in the EndpointSlice`, async () => {
      const e = (await sliceEndpoints()).find((x) => x.pod === name);
      return e?.ready === true ? e : undefined;
    });
  });

  it("runs a pod annotated for manual readiness without making it Ready", async () => {
    await clients.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: "manual",
          annotations: { "kwok.podium.dev/manual-readiness": "true" },
        },
        spec: { containers: [{ name: "app", image: "podium.test/app:1" }] },
      },
    });
    const running = await waitFor("the manual pod Running", async () => {
      const p = await clients.core.readNamespacedPod({ name: "manual", namespace });
      return p.status?.phase === "Running" ? p : undefined;
    });
    expect(running.status?.podIP).toMatch(/^10\.244\./);
    expect(podCondition(running, "Ready")).toBe("False");

    const ready = await setPodReady(clients, namespace, "manual", true);
    expect(podCondition(ready, "Ready")).toBe("True");
  });
});

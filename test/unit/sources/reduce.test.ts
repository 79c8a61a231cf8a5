import { describe, expect, it } from "vitest";
import { toCachedLease } from "../../../src/sources/leases.ts";
import { toCachedPod } from "../../../src/sources/pods.ts";

const pod = {
  metadata: {
    namespace: "shop",
    name: "web-1",
    uid: "u1",
    resourceVersion: "10",
    creationTimestamp: "2026-11-25T03:00:00Z",
    labels: { app: "web", "pod-template-hash": "abc" },
    annotations: { "podium.dev/priority": "5", "podium.dev/epoch": "3", big: "x".repeat(1000) },
  },
  spec: { containers: [{ name: "app", image: "x" }] },
  status: {
    phase: "Running",
    conditions: [{ type: "Ready", status: "True", lastTransitionTime: "2026-11-25T03:00:05Z" }],
  },
};

describe("toCachedPod", () => {
  it("keeps only what the election needs", () => {
    expect(toCachedPod(pod)).toEqual({
      namespace: "shop",
      name: "web-1",
      uid: "u1",
      resourceVersion: "10",
      labels: { app: "web", "pod-template-hash": "abc" },
      createdAt: Date.parse("2026-11-25T03:00:00Z"),
      terminating: false,
      phase: "Running",
      ready: true,
      readySince: Date.parse("2026-11-25T03:00:05Z"),
      readySeenAt: Date.parse("2026-11-25T03:00:05Z"),
      priorityAnnotation: "5",
      epochAnnotation: "3",
      revision: "abc",
    });
  });

  it("dates readiness by the local time it was seen to turn Ready, and keeps that while Ready", () => {
    const notReady = {
      ...pod,
      status: { phase: "Running", conditions: [{ type: "Ready", status: "False" }] },
    };
    const before = toCachedPod(notReady, 1_000);
    expect(before?.readySeenAt).toBeUndefined();
    // The condition says 03:00:05 (whole seconds, the kubelet's clock); podium saw it later.
    const seenAt = Date.parse("2026-11-25T03:00:05.700Z");
    const turned = toCachedPod(pod, seenAt, before);
    expect(turned?.readySeenAt).toBe(seenAt);
    expect(toCachedPod(pod, seenAt + 5_000, turned)?.readySeenAt).toBe(seenAt);
  });

  it("remembers when podium first saw the pod, across later events", () => {
    const first = toCachedPod(pod, 1_000);
    expect(first?.firstSeenAt).toBe(1_000);
    expect(toCachedPod(pod, 9_000, first)?.firstSeenAt).toBe(1_000);
  });

  it("sees a terminating, not-ready pod as such", () => {
    const terminating = {
      ...pod,
      metadata: { ...pod.metadata, deletionTimestamp: "2026-11-25T03:01:00Z" },
      status: { phase: "Running", conditions: [{ type: "Ready", status: "False" }] },
    };
    expect(toCachedPod(terminating)).toMatchObject({ terminating: true, ready: false });
  });

  it("keeps what maps a Lease holder to the pod: spec.hostname, hostNetwork, nodeName", () => {
    const hosted = {
      ...pod,
      spec: { ...pod.spec, hostname: "db", hostNetwork: true, nodeName: "n1" },
    };
    expect(toCachedPod(hosted)).toMatchObject({
      hostname: "db",
      hostNetwork: true,
      nodeName: "n1",
    });
    const plain = toCachedPod({ ...pod, spec: { ...pod.spec, hostname: "", hostNetwork: false } });
    expect(plain).not.toHaveProperty("hostname");
    expect(plain).not.toHaveProperty("hostNetwork");
  });

  it("keeps the pod IP and the containers' named ports (EndpointSlice mode), nothing else of them", () => {
    const served = {
      ...pod,
      spec: {
        containers: [
          { name: "db", ports: [{ name: "postgres", containerPort: 5432 }, { containerPort: 9 }] },
          { name: "exporter", ports: [{ name: "metrics", containerPort: 9187, protocol: "TCP" }] },
        ],
      },
      status: { ...pod.status, podIP: "10.244.0.7" },
    };
    expect(toCachedPod(served)).toMatchObject({
      podIP: "10.244.0.7",
      namedPorts: { postgres: 5432, metrics: 9187 },
    });
    expect(toCachedPod(pod)).not.toHaveProperty("namedPorts");
  });

  it("rejects what is not a pod", () => {
    expect(toCachedPod({})).toBeUndefined();
    expect(toCachedPod(null)).toBeUndefined();
    expect(toCachedPod({ metadata: { name: "x" } })).toBeUndefined();
  });
});

describe("toCachedLease", () => {
  const lease = (renewTime: string, rv: string) => ({
    metadata: { namespace: "shop", name: "web", uid: "l1", resourceVersion: rv },
    spec: {
      holderIdentity: "web-1",
      leaseDurationSeconds: 15,
      leaseTransitions: 4,
      renewTime,
      acquireTime: "2026-11-25T03:00:00.000000Z",
    },
  });

  it("parses the record with MicroTime strings", () => {
    const cached = toCachedLease(lease("2026-11-25T03:00:10.123456Z", "1"), 1000);
    expect(cached).toMatchObject({
      holder: "web-1",
      transitions: 4,
      durationSeconds: 15,
      renewTime: Date.parse("2026-11-25T03:00:10.123Z"),
      observedAt: 1000,
    });
  });

  it("keeps the observation time while the record is unchanged, as client-go judges expiry", () => {
    const first = toCachedLease(lease("2026-11-25T03:00:10.000000Z", "1"), 1000);
    const same = toCachedLease(lease("2026-11-25T03:00:10.000000Z", "2"), 5000, first);
    expect(same?.observedAt).toBe(1000);
    const renewed = toCachedLease(lease("2026-11-25T03:00:12.000000Z", "3"), 6000, same);
    expect(renewed?.observedAt).toBe(6000);
  });
});

import { describe, expect, it } from "vitest";
import { nodeLeaseSource, toCachedHeartbeat } from "../../../src/sources/node-leases.ts";
import { nodeSource, toCachedNode } from "../../../src/sources/nodes.ts";
import { toCachedPod } from "../../../src/sources/pods.ts";
import type { SourceEvent } from "../../../src/sources/source.ts";
import { memoryStore } from "../../support/memory-store.ts";

const T = Date.UTC(2026, 0, 1);
const noMemory = {
  isOwnEcho: () => false,
  forgetLease: () => undefined,
  settleLease: () => undefined,
};

function rawNode(name: string, ready = "True", taints: unknown[] = []) {
  return {
    metadata: { name, uid: `uid-${name}`, labels: { "kubernetes.io/hostname": name } },
    spec: { taints },
    status: {
      conditions: [
        { type: "MemoryPressure", status: "False" },
        { type: "Ready", status: ready, lastHeartbeatTime: "2026-01-01T00:00:00Z" },
      ],
      images: [{ names: ["a-large-image"], sizeBytes: 1 }],
    },
  };
}

function rawHeartbeat(node: string, renewTime: string) {
  return {
    metadata: { name: node, namespace: "kube-node-lease", uid: `uid-hb-${node}` },
    spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime },
  };
}

describe("the node and heartbeat reductions", () => {
  it("keeps a Node's name, Ready status and out-of-service taint only", () => {
    expect(toCachedNode(rawNode("n1"))).toEqual({ name: "n1", ready: "True", outOfService: false });
    expect(
      toCachedNode(
        rawNode("n1", "Unknown", [
          { key: "node.kubernetes.io/unreachable", effect: "NoExecute" },
          { key: "node.kubernetes.io/out-of-service", value: "nodeshutdown", effect: "NoExecute" },
        ]),
      ),
    ).toEqual({ name: "n1", ready: "Unknown", outOfService: true });
    expect(toCachedNode({ metadata: { name: "bare" } })).toEqual({
      name: "bare",
      ready: undefined,
      outOfService: false,
    });
    expect(toCachedNode({ metadata: {} })).toBeUndefined();
  });

  it("dates a heartbeat by when podium saw its renewTime change, with the node's cadence", () => {
    const first = toCachedHeartbeat(rawHeartbeat("n1", "2026-01-01T00:00:00.000000Z"), T);
    expect(first).toEqual({ node: "n1", renewTime: Date.UTC(2026, 0, 1), observedAt: T });
    // The kubelet's clock is ignored; an unchanged record keeps its observation.
    const same = toCachedHeartbeat(
      rawHeartbeat("n1", "2026-01-01T00:00:00.000000Z"),
      T + 5_000,
      first,
    );
    expect(same).toBe(first);
    const renewed = toCachedHeartbeat(
      rawHeartbeat("n1", "2025-12-31T00:00:10.000000Z"),
      T + 10_100,
      first,
    );
    expect(renewed).toMatchObject({ observedAt: T + 10_100, intervalMs: 10_100 });
  });

  it("caches the pod's node", () => {
    const pod = toCachedPod({
      metadata: { namespace: "shop", name: "p", uid: "u" },
      spec: { nodeName: "n1" },
      status: { phase: "Running" },
    });
    expect(pod?.nodeName).toBe("n1");
  });
});

describe("which groups a node or heartbeat event concerns", () => {
  let now = T;
  const m = memoryStore(() => now, noMemory, { nodes: true });
  m.groups.put({
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: { namespace: "shop", name: "web", uid: "g1", generation: 1 },
    spec: { selector: { matchLabels: { app: "web" } } },
  });
  m.groups.put({
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: { namespace: "shop", name: "slow", uid: "g2", generation: 1 },
    spec: {
      selector: { matchLabels: { app: "slow" } },
      failureDetection: { nodeHeartbeatGraceSeconds: 60 },
    },
  });
  for (const [name, app] of [
    ["w", "web"],
    ["s", "slow"],
  ]) {
    m.pods.put({
      metadata: { namespace: "shop", name, uid: `uid-${name ?? ""}`, labels: { app } },
      spec: { nodeName: "n1" },
      status: { phase: "Running" },
    });
  }
  const n1 = m.nodes?.put(rawNode("n1"));
  const concerns = <T>(source: typeof nodeSource | typeof nodeLeaseSource, e: SourceEvent<T>) =>
    [
      ...(source.concerns as (e: SourceEvent<T>, s: typeof m.store) => Iterable<string>)(
        e,
        m.store,
      ),
    ].sort();

  it("a node's Ready change, taint or deletion concerns the groups with a pod on it", () => {
    if (n1 === undefined) throw new Error("no node cache");
    const unknown = { ...n1, ready: "Unknown" as const };
    expect(concerns(nodeSource, { type: "update", item: unknown, old: n1 })).toEqual([
      "shop/slow",
      "shop/web",
    ]);
    expect(concerns(nodeSource, { type: "delete", item: n1, old: undefined })).toEqual([
      "shop/slow",
      "shop/web",
    ]);
    // The kubelet's periodic status updates change nothing podium reads.
    expect(concerns(nodeSource, { type: "update", item: { ...n1 }, old: n1 })).toEqual([]);
  });

  it("a renewal on time concerns nobody; one after a silence concerns the groups whose grace it spans", () => {
    const a = m.nodeLeases?.put(rawHeartbeat("n1", "2026-01-01T00:00:00.000000Z"));
    now += 10_000;
    const onTime = m.nodeLeases?.put(rawHeartbeat("n1", "2026-01-01T00:00:10.000000Z"));
    if (a === undefined || onTime === undefined) throw new Error("no heartbeat cache");
    expect(concerns(nodeLeaseSource, { type: "update", item: onTime, old: a })).toEqual([]);
    now += 30_000;
    const late = m.nodeLeases?.put(rawHeartbeat("n1", "2026-01-01T00:00:40.000000Z"));
    if (late === undefined) throw new Error("no heartbeat cache");
    expect(concerns(nodeLeaseSource, { type: "update", item: late, old: onTime })).toEqual([
      "shop/web",
    ]);
    expect(concerns(nodeLeaseSource, { type: "add", item: late, old: undefined })).toEqual([
      "shop/slow",
      "shop/web",
    ]);
  });

  it("the store joins a node with its heartbeat", () => {
    expect(m.store.watchesNodes()).toBe(true);
    expect(m.store.node("n1")?.ready).toBe("True");
    expect(m.store.nodeHeartbeat("n1")?.observedAt).toBe(now);
    expect(
      m.store
        .podsOnNode("n1")
        .map((p) => p.name)
        .sort(),
    ).toEqual(["s", "w"]);
  });
});

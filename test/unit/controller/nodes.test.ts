/**
 * The reconcile with node failure detection on: a holder on a failed node
 * is replaced in the usual write order with the node in the history, and the
 * disruption guard demotes nobody and says so (condition, Event).
 */
import { describe, expect, it } from "vitest";
import { harness, rawGroup, rawLease, rawPod } from "./fakes.ts";
import type { Harness } from "./fakes.ts";

const micro = (ms: number): string => new Date(ms).toISOString().replace("Z", "000Z");

function node(h: Harness, name: string, ready = "True"): void {
  h.nodes?.put({ metadata: { name }, status: { conditions: [{ type: "Ready", status: ready }] } });
}

/** A heartbeat of `name` renewed (as podium sees it) now. */
function beat(h: Harness, name: string): void {
  h.nodeLeases?.put({
    metadata: { name, namespace: "kube-node-lease" },
    spec: { renewTime: micro(h.clock.now) },
  });
}

function podOn(name: string, nodeName: string, o: Parameters<typeof rawPod>[1] = {}) {
  return { ...rawPod(name, o), spec: { nodeName } };
}

describe("the reconcile with nodes", () => {
  it("replaces a holder whose heartbeat went stale, naming the node", async () => {
    const h = harness({ nodes: true });
    for (const n of ["n1", "n2", "n3", "n4"]) {
      node(h, n);
      beat(h, n);
    }
    // client-go's timings: a renewal due (10 s) before n1's heartbeat goes stale (18 s).
    h.groups.put(
      rawGroup("web", {
        lease: { durationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
      }),
    );
    h.pods.put(podOn("web-a", "n1", { labels: { role: "leader" }, epoch: 1 }));
    h.pods.put(podOn("web-b", "n2"));
    h.leases.put(rawLease("web-a", 1, { renewTime: h.clock.now }));

    // On time: the group looks again the instant n1's heartbeat would go stale.
    expect(await h.reconcile()).toEqual({ requeueAfterMs: 10_000 });
    h.clock.now += 9_000;
    for (const n of ["n2", "n3", "n4"]) beat(h, n);
    h.clock.now += 9_000; // n1 silent for 18 s, the others renewed 9 s ago
    h.writer.calls.length = 0;
    await h.reconcile();

    expect(h.writer.calls).toEqual([
      "unlabel web-a role",
      "update lease web@5 holder=web-b transitions=2",
      "label web-b role=leader epoch=2",
      "status holder=web-b epoch=2",
    ]);
    expect(h.writer.statuses.at(-1)?.history?.[0]).toMatchObject({
      from: "web-a",
      to: "web-b",
      reason: "NodeHeartbeatStale",
      node: "n1",
    });
    expect(h.recorder.events).toContain(
      "Normal LeaderLost: pod web-a lost leadership: NodeHeartbeatStale (node n1)",
    );
    const guard = h.writer.statuses.at(-1)?.conditions?.find((c) => c.type === "NodeDisruption");
    expect(guard).toMatchObject({ status: "False", reason: "HeartbeatsTrusted" });
  });

  it("demotes nobody when most nodes fall silent at once, and says so once", async () => {
    const h = harness({ nodes: true });
    for (const n of ["n1", "n2", "n3"]) {
      node(h, n);
      beat(h, n);
    }
    h.groups.put(rawGroup("web", {}));
    h.pods.put(podOn("web-a", "n1", { labels: { role: "leader" }, epoch: 1 }));
    h.pods.put(podOn("web-b", "n2"));
    h.leases.put(rawLease("web-a", 1, { renewTime: h.clock.now }));
    h.clock.now += 30_000;
    h.leases.put(rawLease("web-a", 1, { renewTime: h.clock.now, resourceVersion: "6" }));

    const result = await h.reconcile();
    expect(h.writer.calls.filter((c) => !c.startsWith("status"))).toEqual([]);
    expect(result).toEqual({ requeueAfterMs: 5_000 });
    const status = h.writer.statuses.at(-1);
    expect(status?.holder).toBe("web-a");
    expect(status?.conditions?.find((c) => c.type === "NodeDisruption")).toMatchObject({
      status: "True",
      reason: "MostHeartbeatsStale",
    });
    expect(h.recorder.events.filter((e) => e.includes("NodeDisruption"))).toHaveLength(1);
  });

  it("holds the guard while podium's watches stall, and leaves a deleted node no shield", async () => {
    const h = harness({ nodes: true, stalledWatches: () => ["node-leases"] });
    node(h, "n2");
    beat(h, "n2");
    h.groups.put(rawGroup("web", {}));
    h.pods.put(podOn("web-a", "gone", { labels: { role: "leader" }, epoch: 1 }));
    h.pods.put(podOn("web-b", "n2"));
    h.leases.put(rawLease("web-a", 1, { renewTime: h.clock.now }));

    await h.reconcile();
    const status = h.writer.statuses.at(-1);
    expect(status?.history?.[0]).toMatchObject({ reason: "NodeLost", node: "gone" });
    expect(status?.conditions?.find((c) => c.type === "NodeDisruption")).toMatchObject({
      status: "True",
      reason: "WatchesStalled",
    });
  });

  it("without node watches, pods are judged by readiness alone and no condition is written", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}));
    h.pods.put(podOn("web-a", "gone", { labels: { role: "leader" }, epoch: 1 }));
    h.leases.put(rawLease("web-a", 1, { renewTime: h.clock.now }));
    await h.reconcile();
    const status = h.writer.statuses.at(-1);
    expect(status?.holder).toBe("web-a");
    expect(status?.conditions?.some((c) => c.type === "NodeDisruption")).toBe(false);
  });
});

/**
 * The traffic side of the reconcile: TrafficRouted and Ready after a
 * fail-over, and Verified cutover's verify phase between the Lease and the
 * new label, with its timeout.
 */
import { describe, expect, it } from "vitest";
import { T0, harness, rawGroup, rawLease, rawPod } from "./fakes.ts";
import type { Harness } from "./fakes.ts";

function rawService(): Record<string, unknown> {
  return {
    metadata: { name: "web-leader", namespace: "shop", uid: "uid-svc" },
    spec: { selector: { app: "web", role: "leader" } },
  };
}

function rawSlice(ready: string[]): Record<string, unknown> {
  return {
    metadata: {
      name: "web-leader-x",
      namespace: "shop",
      labels: { "kubernetes.io/service-name": "web-leader" },
    },
    endpoints: ready.map((p) => ({
      addresses: ["10.244.0.9"],
      conditions: { ready: true },
      targetRef: { kind: "Pod", name: p, uid: `uid-${p}` },
    })),
  };
}

/** web-a (holder, turned NotReady, still listed by the Service) beside a ready web-b. */
function failingOver(spec: Record<string, unknown>, onTimer?: (h: Harness, now: number) => void) {
  const box: { h?: Harness } = {};
  const h = harness({
    traffic: true,
    onTimer: (now) => {
      if (box.h !== undefined) onTimer?.(box.h, now);
    },
  });
  box.h = h;
  h.groups.put(rawGroup("web", spec));
  h.pods.put(rawPod("web-a", { ready: false, labels: { role: "leader" }, epoch: 1 }));
  h.pods.put(rawPod("web-b"));
  h.leases.put(rawLease("web-a", 1, { resourceVersion: "5" }));
  h.services?.put(rawService());
  h.endpointSlices?.put(rawSlice(["web-a"]));
  return h;
}

const condition = (h: Harness, type: string) =>
  h.writer.statuses.at(-1)?.conditions?.find((c) => c.type === type);

describe("traffic in the reconcile", () => {
  it("Immediate: labels at once; Ready is False while the Service still lists the old leader", async () => {
    const h = failingOver({});
    const start = h.clock.now;
    await h.reconcile();
    expect(h.clock.now).toBe(start);
    expect(h.writer.calls.slice(0, 3)).toEqual([
      "unlabel web-a role",
      "update lease web@5 holder=web-b transitions=2",
      "label web-b role=leader epoch=2",
    ]);
    expect(condition(h, "TrafficRouted")).toMatchObject({
      status: "False",
      reason: "TrafficNotRouted",
      message: "Service web-leader lists web-a (ready); the leader is web-b",
    });
    expect(condition(h, "Ready")).toMatchObject({ status: "False", reason: "TrafficNotRouted" });
    expect(h.writer.statuses.at(-1)?.history?.[0]?.phases).toMatchObject({
      labelRemovedMs: 0,
      leaseWrittenMs: 0,
      labelWrittenMs: 0,
    });

    // The slice follows: routed, Ready, and the cutover's endpoint steps in the history entry.
    h.clock.now += 80;
    h.endpointSlices?.put(rawSlice(["web-b"]));
    h.pods.put(rawPod("web-b", { labels: { role: "leader" }, epoch: 2, resourceVersion: "2" }));
    await h.reconcile();
    expect(condition(h, "TrafficRouted")).toMatchObject({ status: "True", reason: "Routed" });
    expect(condition(h, "Ready")?.status).toBe("True");
    expect(h.writer.statuses.at(-1)?.history?.[0]?.phases).toMatchObject({
      oldEndpointGoneMs: 80,
      newEndpointReadyMs: 80,
    });
  });

  it("Verified: waits until the Service drops the old leader before labelling the new one", async () => {
    const startAt = T0 + 1000;
    // 50 ms after the Lease write, kube-controller-manager drops the old leader from the slice.
    const h = failingOver({ cutover: { mode: "Verified", timeoutSeconds: 5 } }, (x, now) => {
      if (x.writer.calls.length === 2 && now >= startAt + 50) x.endpointSlices?.put(rawSlice([]));
    });
    expect(h.clock.now).toBe(startAt);
    await h.reconcile();
    expect(h.writer.calls.slice(0, 3)).toEqual([
      "unlabel web-a role",
      "update lease web@5 holder=web-b transitions=2",
      "label web-b role=leader epoch=2",
    ]);
    expect(h.clock.now - startAt).toBeGreaterThanOrEqual(50);
    expect(h.clock.now - startAt).toBeLessThan(100);
    expect(h.recorder.events.filter((e) => e.includes("CutoverUnverified"))).toEqual([]);
    const entry = h.writer.statuses.at(-1)?.history?.[0];
    expect(entry?.cutover).toBe("Verified");
    expect(entry?.phases?.oldEndpointGoneMs ?? Infinity).toBeLessThanOrEqual(
      entry?.phases?.labelWrittenMs ?? -1,
    );
  });

  it("Verified: at the timeout labels anyway, with an Event and TrafficRouted saying so", async () => {
    const h = failingOver({ cutover: { mode: "Verified", timeoutSeconds: 2 } });
    const startAt = h.clock.now;
    await h.reconcile();
    expect(h.clock.now - startAt).toBe(2000);
    expect(h.writer.calls[2]).toBe("label web-b role=leader epoch=2");
    expect(h.recorder.events).toContain(
      "Warning CutoverUnverified: cutover to web-b not verified: after 2s Service web-leader still lists the old leader web-a as ready; labelled the new leader anyway",
    );
    expect(h.writer.statuses.at(-1)?.history?.[0]?.cutover).toBe("TimedOut");
    expect(condition(h, "TrafficRouted")?.message).toContain(
      "the last cutover (to web-b, epoch 2) was not verified",
    );
    expect(condition(h, "Ready")?.status).toBe("False");
  });
});

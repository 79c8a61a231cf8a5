/**
 * A hand-over during a rollout through the reconcile's phases: the writes in
 * DESIGN §2's order while the old holder still runs, its Events, and with
 * Verified cutover the wait for the old endpoint to go before the new label.
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

/**
 * web-a (revision A, the holder, Ready and listed by the Service) and web-b of
 * the rollout's revision B, Ready since `bReadyAt`; the clock is at T0 + 1 s.
 */
function rollingOut(
  spec: Record<string, unknown>,
  bReadyAt: number,
  onTimer?: (h: Harness, now: number) => void,
): Harness {
  const box: { h?: Harness } = {};
  const h = harness({
    traffic: true,
    onTimer: (now) => {
      if (box.h !== undefined) onTimer?.(box.h, now);
    },
  });
  box.h = h;
  h.groups.put(rawGroup("web", spec));
  h.pods.put(
    rawPod("web-a", {
      labels: { role: "leader", "pod-template-hash": "A" },
      epoch: 1,
      createdAt: T0 - 600_000,
    }),
  );
  h.pods.put(
    rawPod("web-b", {
      labels: { "pod-template-hash": "B" },
      createdAt: T0 - 5000,
      readyAt: bReadyAt,
    }),
  );
  h.leases.put(rawLease("web-a", 1, { resourceVersion: "5" }));
  h.services?.put(rawService());
  h.endpointSlices?.put(rawSlice(["web-a"]));
  return h;
}

const HANDOVER_WRITES = [
  "unlabel web-a role",
  "update lease web@5 holder=web-b transitions=2",
  "label web-b role=leader epoch=2",
];

describe("hand-over during a rollout in the reconcile", () => {
  it("moves leadership to the settled new-revision pod while the old one runs: Handover", async () => {
    const h = rollingOut({}, T0);

    await h.reconcile();

    expect(h.writer.calls).toEqual([...HANDOVER_WRITES, "status holder=web-b epoch=2"]);
    expect(h.recorder.events).toEqual([
      "Normal LeaderElected: pod web-b leads in epoch 2 (was web-a: Handover)",
      "Normal LeadershipHandedOver: handed leadership from pod web-a to pod web-b of the new revision before web-a was terminated (spec.handover)",
      "Normal LeaderLost: pod web-a lost leadership: Handover",
    ]);
    const entry = h.writer.statuses.at(-1)?.history?.[0];
    expect(entry).toMatchObject({ from: "web-a", to: "web-b", epoch: 2, reason: "Handover" });
    expect(entry?.phases).toMatchObject({
      labelRemovedMs: 0,
      leaseWrittenMs: 0,
      labelWrittenMs: 0,
    });
  });

  it("waits for the settle time: no write but status, and a look again when it has passed", async () => {
    // web-b turned Ready 300 ms ago; the settle time is 1 s.
    const h = rollingOut({ handover: { mode: "OnRollout", settleSeconds: 1 } }, T0 + 700);

    const result = await h.reconcile();

    expect(h.writer.calls).toEqual(["status holder=web-a epoch=1"]);
    expect(h.recorder.events).toEqual([]);
    expect(result).toEqual({ requeueAfterMs: 700 });

    h.clock.now += 700;
    await h.reconcile();
    expect(h.writer.calls.slice(1, 4)).toEqual(HANDOVER_WRITES);
  });

  it("Disabled: the holder stays until it goes", async () => {
    const h = rollingOut({ handover: { mode: "Disabled" } }, T0);

    await h.reconcile();

    expect(h.writer.calls).toEqual(["status holder=web-a epoch=1"]);
    expect(h.recorder.events).toEqual([]);
  });

  it("Verified: labels the new pod only once the Service no longer lists the old one", async () => {
    const startAt = T0 + 1000;
    // 40 ms after the Lease write, kube-controller-manager drops web-a from the slice.
    const h = rollingOut({ cutover: { mode: "Verified", timeoutSeconds: 5 } }, T0, (x, now) => {
      if (x.writer.calls.length === 2 && now >= startAt + 40) x.endpointSlices?.put(rawSlice([]));
    });

    await h.reconcile();

    expect(h.writer.calls.slice(0, 3)).toEqual(HANDOVER_WRITES);
    expect(h.clock.now - startAt).toBeGreaterThanOrEqual(40);
    expect(h.clock.now - startAt).toBeLessThan(100);
    const entry = h.writer.statuses.at(-1)?.history?.[0];
    expect(entry).toMatchObject({ reason: "Handover", cutover: "Verified" });
    expect(entry?.phases?.oldEndpointGoneMs ?? Infinity).toBeLessThanOrEqual(
      entry?.phases?.labelWrittenMs ?? -1,
    );
  });
});

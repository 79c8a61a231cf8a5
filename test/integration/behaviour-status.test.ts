import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setPodReady, waitFor } from "../support/kube.ts";
import {
  createGroup,
  groupCondition,
  patchGroupSpec,
  readLease,
  waitForGroup,
  waitForObservedGeneration,
} from "../support/groups.ts";
import { getPod, patchPodMetadata } from "../support/pods.ts";
import type { LabelObservation } from "../support/label-recorder.ts";
import { EPOCH, HOLDER_UID, OperatedNamespace, spec } from "../support/operated-namespace.ts";

// Managed-mode behaviours (DESIGN.md §2) as a user sees them: the Lease, the
// epoch, the group's status, conditions, history and Events, stray labels and
// the leaderless state. Each describe has its own namespace and its own
// operator scoped to it (test/support/operated-namespace.ts), and a
// LeaderLabelRecorder per app that checks, from an independent pod watch, that
// no two pods of a group ever carried the label at once.

describe("the Lease, the epoch, the status, stray labels and the leaderless state", () => {
  const f = new OperatedNamespace("bh-lease");
  const names = ["e-a", "e-b", "e-c"];
  const lease = { durationSeconds: 6, renewDeadlineSeconds: 4, retryPeriodSeconds: 2 };
  let strayWindow: { pod: string; from: number; to: number } | undefined;
  beforeAll(async () => {
    await f.setUp(["ep"]);
    await f.pods("ep", names);
    await createGroup(f.clients, f.namespace, "ep", spec("ep", { lease }));
  });
  afterAll(() => f.tearDown());

  it("keeps a Lease owned by the group, naming the holder, and renews it", async () => {
    const holder = await f.leader("ep", "ep");
    const group = await f.group("ep");
    const pod = await getPod(f.clients, f.namespace, holder);
    const first = await readLease(f.clients, f.namespace, "ep");
    expect(first?.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: "podium.dev/v1alpha1",
        kind: "ElectionGroup",
        name: "ep",
        uid: group.metadata.uid,
        controller: true,
      }),
    ]);
    expect(first?.spec?.holderIdentity).toBe(holder);
    expect(first?.metadata?.annotations?.[HOLDER_UID]).toBe(pod?.metadata?.uid);
    expect(first?.spec?.leaseDurationSeconds).toBe(6);
    expect(first?.spec?.leaseTransitions).toBe(group.status?.epoch);

    const firstRenew = String(first?.spec?.renewTime);
    const renewed = await waitFor(
      "the Lease's renewTime to advance",
      async () => {
        const l = await readLease(f.clients, f.namespace, "ep");
        return String(l?.spec?.renewTime) !== firstRenew ? l : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    expect(new Date(String(renewed.spec?.renewTime)).getTime()).toBeGreaterThan(
      new Date(firstRenew).getTime(),
    );
    expect(renewed.spec?.holderIdentity).toBe(holder);
    expect(renewed.spec?.leaseTransitions).toBe(first?.spec?.leaseTransitions);
    expect((await f.group("ep")).status?.transitions).toBe(group.status?.transitions);
  });

  it("marks the leader with podium.dev/epoch = status.epoch = leaseTransitions, +1 per transition", async () => {
    const check = async (holder: string, epoch: number) => {
      const group = await f.group("ep");
      const pod = await getPod(f.clients, f.namespace, holder);
      const l = await readLease(f.clients, f.namespace, "ep");
      expect(group.status?.epoch).toBe(epoch);
      expect(group.status?.transitions).toBe(epoch);
      expect(l?.spec?.leaseTransitions).toBe(epoch);
      expect(pod?.metadata?.annotations?.[EPOCH]).toBe(String(epoch));
    };
    let holder = await f.leader("ep", "ep");
    let epoch = (await f.group("ep")).status?.epoch ?? 0;
    await check(holder, epoch);
    for (let i = 0; i < 2; i++) {
      const next = names.find((n) => n !== holder) ?? "";
      await patchGroupSpec(f.clients, f.namespace, "ep", { preferredHolder: next });
      await f.leader("ep", "ep", { expected: next, timeoutMs: 10_000 });
      epoch += 1;
      await check(next, epoch);
      const previous = await getPod(f.clients, f.namespace, holder);
      expect(previous?.metadata?.labels?.role).toBeUndefined();
      expect(previous?.metadata?.annotations?.[EPOCH]).toBeUndefined();
      holder = next;
    }
  });

  it("reports candidates, readiness, holder, Lease, conditions and the last 10 transitions", async () => {
    // 11 transitions by flipping preferredHolder between two pods.
    for (let i = 0; i < 11; i++) {
      const holder = (await f.group("ep")).status?.holder ?? "";
      const next = holder === "e-a" ? "e-b" : "e-a";
      await patchGroupSpec(f.clients, f.namespace, "ep", { preferredHolder: next });
      await f.leader("ep", "ep", { expected: next, timeoutMs: 10_000 });
    }
    const group = await waitForObservedGeneration(f.clients, f.namespace, "ep");
    const status = group.status ?? {};
    const pod = await getPod(f.clients, f.namespace, status.holder ?? "");
    expect(status).toMatchObject({
      holderUID: pod?.metadata?.uid,
      leaseName: "ep",
      candidates: 3,
      readyCandidates: 3,
      ready: "3/3",
    });
    const epoch = status.epoch ?? 0;
    expect(epoch).toBeGreaterThanOrEqual(14);
    expect(status.transitions).toBe(epoch);
    for (const type of ["Ready", "LeaderElected", "Conflict"]) {
      expect(groupCondition(group, type)).toMatchObject({
        observedGeneration: group.metadata.generation,
      });
    }
    expect(groupCondition(group, "Ready")?.status).toBe("True");
    expect(groupCondition(group, "LeaderElected")?.status).toBe("True");
    expect(groupCondition(group, "Conflict")?.status).toBe("False");

    const history = status.history ?? [];
    expect(history).toHaveLength(10);
    expect(history.map((h) => h.epoch)).toEqual(Array.from({ length: 10 }, (_, i) => epoch - i));
    expect(history[0]).toMatchObject({ to: status.holder, reason: "PreferredHolder" });
    for (let i = 1; i < history.length; i++) {
      expect(history[i - 1]?.from).toBe(history[i]?.to);
      expect(Date.parse(history[i - 1]?.time ?? "")).toBeGreaterThanOrEqual(
        Date.parse(history[i]?.time ?? ""),
      );
    }
    expect(status.lastTransitionTime).toBe(history[0]?.time);
  });

  it("removes a leader label put on another pod by hand, and keeps the holder", async () => {
    await patchGroupSpec(f.clients, f.namespace, "ep", { preferredHolder: null });
    await waitForObservedGeneration(f.clients, f.namespace, "ep");
    const holder = await f.leader("ep", "ep");
    const before = await f.group("ep");
    const stray = names.find((n) => n !== holder) ?? "";
    const from = Date.now();
    await patchPodMetadata(f.clients, f.namespace, stray, { labels: { role: "leader" } });
    await waitFor("the stray label to be removed", async () => {
      const pod = await getPod(f.clients, f.namespace, stray);
      return pod?.metadata?.labels?.role === undefined ? true : undefined;
    });
    strayWindow = { pod: stray, from, to: Date.now() };
    const after = await f.group("ep");
    expect(after.status?.holder).toBe(holder);
    expect(after.status?.transitions).toBe(before.status?.transitions);
    expect(await f.labelled("ep")).toEqual([holder]);
    const events = await f.waitForEvent("ep", "StrayLeaderLabelRemoved");
    expect(events.some((e) => e.note?.includes(stray))).toBe(true);
  });

  it("goes leaderless with no ready pod, and elects again when one is Ready", async () => {
    const holder = await f.leader("ep", "ep");
    const epoch = (await f.group("ep")).status?.epoch ?? 0;
    for (const name of [...names.filter((n) => n !== holder), holder]) {
      await setPodReady(f.clients, f.namespace, name, false);
    }
    const leaderless = await waitForGroup(
      f.clients,
      f.namespace,
      "ep",
      "LeaderElected=False",
      (g) => groupCondition(g, "LeaderElected")?.status === "False",
      { timeoutMs: 10_000 },
    );
    expect(groupCondition(leaderless, "LeaderElected")?.reason).toBe("NoReadyCandidates");
    expect(groupCondition(leaderless, "Ready")?.status).toBe("False");
    expect(leaderless.status).toMatchObject({ holder: "", readyCandidates: 0, ready: "0/3" });
    expect(await f.labelled("ep")).toEqual([]);
    const released = await readLease(f.clients, f.namespace, "ep");
    expect(released).toBeDefined();
    expect(released?.spec?.holderIdentity ?? "").toBe("");
    await f.waitForEvent("ep", "NoReadyCandidates");

    await setPodReady(f.clients, f.namespace, "e-c", true);
    expect(await f.leader("ep", "ep", { timeoutMs: 10_000 })).toBe("e-c");
    const elected = await f.group("ep");
    expect(elected.status?.epoch).toBeGreaterThan(epoch);
    expect(groupCondition(elected, "LeaderElected")?.status).toBe("True");
    expect((await readLease(f.clients, f.namespace, "ep"))?.spec?.holderIdentity).toBe("e-c");
  });

  it("never showed two labelled pods (but for the hand-made stray label)", () => {
    expect(strayWindow).toBeDefined();
    const allowed = (o: LabelObservation) =>
      strayWindow !== undefined &&
      o.labelled.includes(strayWindow.pod) &&
      o.at >= strayWindow.from &&
      o.at <= strayWindow.to;
    expect(f.violations("ep", allowed)).toEqual([]);
  });
});

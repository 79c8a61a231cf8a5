import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { setPodReady, waitFor } from "../support/kube.ts";
import {
  createGroup,
  getGroup,
  groupCondition,
  groupEvents,
  readLease,
  waitForLeader,
} from "../support/groups.ts";
import { getPod, labelledPods } from "../support/pods.ts";
import {
  apiMessage,
  createLease,
  expectHealthy,
  mergePatchLease,
  microTime,
  pods,
  startWatchedOperator,
  waitForReconciled,
  expectNoTimerOverflow,
  waitForEvent,
  groupWithGarbageLease,
} from "../support/hostile.ts";
import type { Watched } from "../support/hostile.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

// Hostile and broken input (issue 7), Leases: garbage in the Lease of a Managed
// group and of an Observed group (no fields, holders that are no pod, absurd
// durations and times, a holder rewritten by hand). In every case the operator
// keeps running with /healthz 200 and the group says what happened with a
// condition and an Event (helpers: test/support/hostile.ts). Already covered
// elsewhere, and not repeated here: a Lease held by a non-member and stray
// labels in Observed mode (observed.test.ts).

describe("garbage in a Managed group's Lease", () => {
  const ns = new SuiteNamespace("hx-lease");
  let w: Watched;

  beforeAll(async () => {
    await ns.open(["lg", "le", "lh", "lx"]);
    w = await startWatchedOperator(inject("operatorKubeconfig"), [ns.namespace]);
  });
  afterAll(() => ns.close());

  it("the API server refuses negative or zero durations and negative transitions", async () => {
    for (const [spec, field] of [
      [{ holderIdentity: "x", leaseDurationSeconds: -15 }, "spec.leaseDurationSeconds"],
      [{ holderIdentity: "x", leaseDurationSeconds: 0 }, "spec.leaseDurationSeconds"],
      [{ holderIdentity: "x", leaseTransitions: -1 }, "spec.leaseTransitions"],
    ] as const) {
      const refusal = await createLease(ns.clients, ns.namespace, "neg", spec).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refusal, JSON.stringify(spec)).toBeInstanceOf(ApiException);
      expect(apiMessage(refusal)).toContain(`${field}:`);
    }
  });

  it("takes over a Lease handed to it that names a pod that does not exist, with an Event naming it", async () => {
    await pods(ns.clients, ns.namespace, "lg", ["lg-a", "lg-b"]);
    await groupWithGarbageLease(ns.clients, ns.namespace, "lg", {
      holderIdentity: "ghost-pod",
      leaseDurationSeconds: 15,
      leaseTransitions: 7,
      renewTime: microTime(Date.now()),
    });
    const holder = await waitForLeader(ns.clients, ns.namespace, "lg", "app=lg");
    const lease = await readLease(ns.clients, ns.namespace, "lg");
    expect(lease?.spec?.holderIdentity).toBe(holder);
    expect(lease?.spec?.leaseTransitions).toBe(8);
    const group = await getGroup(ns.clients, ns.namespace, "lg");
    expect(group.status?.epoch).toBe(8);
    expect(group.status?.history?.[0]).toMatchObject({ from: "ghost-pod", to: holder });
    expect(groupCondition(group, "LeaderElected")?.status).toBe("True");
    await waitForEvent(ns.clients, ns.namespace, "lg", "LeaderElected", [holder, "ghost-pod"]);
    await expectHealthy(w);
  });

  it("elects on a Lease handed to it with no spec fields at all", async () => {
    await pods(ns.clients, ns.namespace, "le", ["le-a", "le-b"]);
    await groupWithGarbageLease(ns.clients, ns.namespace, "le", {});
    const holder = await waitForLeader(ns.clients, ns.namespace, "le", "app=le");
    const lease = await readLease(ns.clients, ns.namespace, "le");
    // Managed mode's default duration (the spec states no timing).
    expect(lease?.spec).toMatchObject({ holderIdentity: holder, leaseDurationSeconds: 90 });
    expect(lease?.spec?.leaseTransitions).toBe(1);
    expect(groupCondition(await getGroup(ns.clients, ns.namespace, "le"), "Ready")?.status).toBe(
      "True",
    );
    await waitForEvent(ns.clients, ns.namespace, "le", "LeaderElected", [holder]);
    await expectHealthy(w);
  });

  /**
   * After a person rewrote holderIdentity, podium must end with one labelled pod that the Lease
   * and the status name, and a fencing epoch that grew if that pod is not the one that led.
   */
  async function expectRepaired(before: { holder: string; epoch: number }) {
    const settled = await waitFor(
      "the Lease, the label and the status to agree again",
      async () => {
        const lease = await readLease(ns.clients, ns.namespace, "lh");
        const labelled = await labelledPods(ns.clients, ns.namespace, "app=lh");
        const g = await getGroup(ns.clients, ns.namespace, "lh");
        const holder = lease?.spec?.holderIdentity ?? "";
        const epoch = lease?.spec?.leaseTransitions ?? 0;
        return labelled.length === 1 &&
          labelled[0] === holder &&
          g.status?.holder === holder &&
          g.status.epoch === epoch
          ? { holder, epoch }
          : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const pod = await getPod(ns.clients, ns.namespace, settled.holder);
    expect(pod?.metadata?.annotations?.["podium.dev/epoch"]).toBe(String(settled.epoch));
    if (settled.holder !== before.holder) {
      // Leadership moved: the new leader must not share the old leader's fencing token.
      expect(settled.epoch, `moved ${before.holder} -> ${settled.holder}`).toBeGreaterThan(
        before.epoch,
      );
    }
    return settled;
  }

  it("repairs a Lease whose holderIdentity a person rewrote mid-flight", async () => {
    await pods(ns.clients, ns.namespace, "lh", ["lh-a", "lh-b", "lh-c"]);
    await createGroup(ns.clients, ns.namespace, "lh", { selector: { matchLabels: { app: "lh" } } });
    const holder = await waitForLeader(ns.clients, ns.namespace, "lh", "app=lh");
    const epoch = (await getGroup(ns.clients, ns.namespace, "lh")).status?.epoch ?? 0;
    const other = ["lh-a", "lh-b", "lh-c"].find((n) => n !== holder) ?? "";
    // The holder-uid annotation still names the real holder.
    await mergePatchLease(ns.clients, ns.namespace, "lh", { spec: { holderIdentity: other } });
    const settled = await expectRepaired({ holder, epoch });
    expect((await groupEvents(ns.clients, ns.namespace, "lh")).length).toBeGreaterThan(0);
    await expectHealthy(w);

    // Rewritten again, this time with the holder-uid annotation removed as well.
    const third = ["lh-a", "lh-b", "lh-c"].find((n) => n !== settled.holder) ?? "";
    await mergePatchLease(ns.clients, ns.namespace, "lh", {
      metadata: { annotations: { "podium.dev/holder-uid": null } },
      spec: { holderIdentity: third },
    });
    await expectRepaired(settled);
    await expectHealthy(w);
    expect(ns.recorders.get("lh")?.violations()).toEqual([]);
  });

  it("survives absurd leaseDurationSeconds and a renewTime in year 9999, across a restart, and still fails over", async () => {
    await pods(ns.clients, ns.namespace, "lx", ["lx-a", "lx-b"]);
    await createGroup(ns.clients, ns.namespace, "lx", { selector: { matchLabels: { app: "lx" } } });
    const holder = await waitForLeader(ns.clients, ns.namespace, "lx", "app=lx");
    const transitions = (await getGroup(ns.clients, ns.namespace, "lx")).status?.transitions;
    await mergePatchLease(ns.clients, ns.namespace, "lx", {
      spec: { leaseDurationSeconds: 2147483647, renewTime: "9999-12-31T23:59:59.000000Z" },
    });
    // A fresh operator reads the edited Lease at its first reconcile of the group.
    await w.op.stop();
    w = await startWatchedOperator(inject("operatorKubeconfig"), [ns.namespace]);
    await waitForReconciled(w, ns.namespace, "lx", holder);
    // The requeue podium computes from that renewTime is far beyond 2^31-1 ms, which Node's
    // timers cannot hold: they fire after 1 ms instead, and again, and again.
    await expectNoTimerOverflow(w);
    expect((await getGroup(ns.clients, ns.namespace, "lx")).status?.transitions).toBe(transitions);

    const other = holder === "lx-a" ? "lx-b" : "lx-a";
    await setPodReady(ns.clients, ns.namespace, holder, false);
    const next = await waitForLeader(ns.clients, ns.namespace, "lx", "app=lx", {
      not: holder,
      timeoutMs: 10_000,
    });
    expect(next).toBe(other);
    const lease = await readLease(ns.clients, ns.namespace, "lx");
    expect(lease?.spec?.leaseDurationSeconds).toBe(90);
    await waitForEvent(ns.clients, ns.namespace, "lx", "LeaderElected", [other, holder]);
    await expectHealthy(w);
    expect(ns.recorders.get("lx")?.violations()).toEqual([]);
  });
});

describe("garbage in an Observed group's Lease", () => {
  const ns = new SuiteNamespace("hx-obs");
  let w: Watched;

  beforeAll(async () => {
    await ns.open(["ob"]);
    w = await startWatchedOperator(inject("operatorKubeconfig"), [ns.namespace]);
  });
  afterAll(() => ns.close());

  const settle = (what: string, holder: string, reason?: string) =>
    waitFor(
      what,
      async () => {
        const g = await getGroup(ns.clients, ns.namespace, "ob");
        const labelled = await labelledPods(ns.clients, ns.namespace, "app=ob");
        const elected = groupCondition(g, "LeaderElected");
        const ok =
          (g.status?.holder ?? "") === holder &&
          labelled.join() === holder &&
          elected?.status === (holder === "" ? "False" : "True") &&
          (reason === undefined || elected.reason === reason);
        return ok ? g : undefined;
      },
      { timeoutMs: 10_000 },
    );

  it("follows a Lease that a person rewrites, and labels nobody for a holder that is no pod", async () => {
    await pods(ns.clients, ns.namespace, "ob", ["ob-a", "ob-b"]);
    await createLease(ns.clients, ns.namespace, "ob", {
      holderIdentity: "ob-a",
      leaseDurationSeconds: 30,
      leaseTransitions: 3,
      acquireTime: microTime(Date.now()),
      renewTime: microTime(Date.now()),
    });
    await createGroup(ns.clients, ns.namespace, "ob", {
      selector: { matchLabels: { app: "ob" } },
      mode: "Observed",
    });
    await settle("ob-a labelled", "ob-a");

    // Rewritten by hand to the other pod (without a transition count): podium follows the Lease.
    await mergePatchLease(ns.clients, ns.namespace, "ob", { spec: { holderIdentity: "ob-b" } });
    await settle("ob-b labelled", "ob-b");
    await waitForEvent(ns.clients, ns.namespace, "ob", "LeaderElected", ["ob-b"]);

    // A holder that is no pod of the group: nobody carries the label.
    await mergePatchLease(ns.clients, ns.namespace, "ob", { spec: { holderIdentity: "ghost" } });
    const g = await settle("no pod labelled", "", "HolderNotInGroup");
    expect(groupCondition(g, "LeaderElected")?.message).toContain("ghost");
    expect(groupCondition(g, "Ready")?.status).toBe("False");
    await waitForEvent(ns.clients, ns.namespace, "ob", "LeaderLost", ["ob-b"]);
    await expectHealthy(w);
  });

  it("labels the holder of a Lease with an absurd duration, without overflowing a timer", async () => {
    await mergePatchLease(ns.clients, ns.namespace, "ob", {
      spec: { holderIdentity: "ob-a", leaseDurationSeconds: 2147483647 },
    });
    await settle("ob-a labelled", "ob-a");
    // podium wakes at the Lease's expiry, 68 years away: far beyond a Node timer's 2^31-1 ms.
    // A fresh operator has no earlier wake-up pending that would hide the overflow.
    await w.op.stop();
    w = await startWatchedOperator(inject("operatorKubeconfig"), [ns.namespace]);
    await waitForReconciled(w, ns.namespace, "ob", "ob-a");
    await expectNoTimerOverflow(w);
    await expectHealthy(w);
  });

  it("treats a Lease whose fields were all removed as released", async () => {
    await mergePatchLease(ns.clients, ns.namespace, "ob", {
      spec: {
        holderIdentity: null,
        leaseDurationSeconds: null,
        acquireTime: null,
        renewTime: null,
        leaseTransitions: null,
      },
    });
    const g = await settle("no pod labelled", "", "Released");
    expect(g.status?.epoch).toBe(0);
    await waitForEvent(ns.clients, ns.namespace, "ob", "LeaderLost", ["ob-a"]);
    await expectHealthy(w);
    expect(ns.recorder.violations()).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ElectionGroup } from "../../src/api/types.ts";
import { connect, createNamespace, setPodReady, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import {
  LeaderLabelRecorder,
  createBarePod,
  createGroup,
  deleteGroup,
  deletePod,
  getGroup,
  getPod,
  groupCondition,
  groupExists,
  groupEvents,
  labelledPods,
  patchGroupSpec,
  patchPodMetadata,
  readLease,
  setPodReadySince,
  sleep,
  teardown,
  waitForGroup,
  waitForLeader,
  waitForObservedGeneration,
  waitForPods,
} from "../support/podium.ts";
import type { LabelObservation } from "../support/podium.ts";

// Managed-mode behaviours (DESIGN.md §2) as a user sees them: which pod carries
// role=leader, the Lease, the group's status, conditions, history and Events.
// Each describe has its own namespace and its own operator (scoped to that
// namespace with --namespace, authenticated as its ServiceAccount), and a
// LeaderLabelRecorder per app that checks, from an independent pod watch, that
// no two pods of a group ever carried the label at once.

const EPOCH = "podium.dev/epoch";
const FINALIZER = "podium.dev/cleanup";
const HOLDER_UID = "podium.dev/holder-uid";

/** A namespace with the operator watching it, and the label recorders of its apps. */
class Fixture {
  clients!: Clients;
  namespace = "";
  readonly recorders = new Map<string, LeaderLabelRecorder>();
  readonly prefix: string;
  #removeNamespace: (() => Promise<void>) | undefined;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  async setUp(apps: readonly string[]): Promise<void> {
    this.clients = connect(inject("kubeconfig"));
    const ns = await createNamespace(this.clients, this.prefix);
    this.namespace = ns.name;
    this.#removeNamespace = ns.remove;
    for (const app of apps) {
      const recorder = new LeaderLabelRecorder(this.clients, this.namespace, `app=${app}`);
      await recorder.start();
      this.recorders.set(app, recorder);
    }
    await startOperator(inject("operatorKubeconfig"), {
      args: [`--namespace=${this.namespace}`],
    });
  }

  async tearDown(): Promise<void> {
    for (const recorder of this.recorders.values()) await recorder.stop();
    const remove = this.#removeNamespace;
    if (remove === undefined) return;
    await teardown(this.clients, this.namespace, stopAllOperators, remove);
  }

  /** Observations of `app`'s pod stream at which two or more pods carried role=leader. */
  violations(app: string, allowed: (o: LabelObservation) => boolean = () => false) {
    const recorder = this.recorders.get(app);
    if (recorder === undefined) throw new Error(`no recorder for ${app}`);
    expect(recorder.observations.length).toBeGreaterThan(0);
    return recorder.violations().filter((o) => !allowed(o));
  }

  /** Creates bare pods app=`app` named `names` and waits until they are Running (and Ready). */
  async pods(
    app: string,
    names: readonly string[],
    extra: {
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      startNotReady?: boolean;
    } = {},
  ): Promise<void> {
    for (const name of names) {
      await createBarePod(this.clients, this.namespace, name, {
        labels: { app, ...extra.labels },
        ...(extra.annotations === undefined ? {} : { annotations: extra.annotations }),
        startNotReady: extra.startNotReady ?? false,
      });
    }
    await waitForPods(this.clients, this.namespace, names, { ready: !extra.startNotReady });
  }

  group(name: string): Promise<ElectionGroup> {
    return getGroup(this.clients, this.namespace, name);
  }

  leader(
    group: string,
    app: string,
    options: { expected?: string; not?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    return waitForLeader(this.clients, this.namespace, group, `app=${app}`, options);
  }

  labelled(app: string): Promise<string[]> {
    return labelledPods(this.clients, this.namespace, `app=${app}`);
  }

  async events(group: string, reason: string) {
    return groupEvents(this.clients, this.namespace, group, reason);
  }

  async waitForEvent(group: string, reason: string) {
    return waitFor(
      `an Event ${reason} about ElectionGroup ${group}`,
      async () => {
        const events = await this.events(group, reason);
        return events.length > 0 ? events : undefined;
      },
      { timeoutMs: 10_000 },
    );
  }
}

/** A group spec selecting app=`app`, plus `extra` fields. */
function spec(app: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { selector: { matchLabels: { app } }, ...extra };
}

describe("the holder is sticky, and hands over at once when it goes", () => {
  const f = new Fixture("bh-sticky");
  beforeAll(() => f.setUp(["sticky"]));
  afterAll(() => f.tearDown());

  it("keeps the holder when other pods turn NotReady, Ready again or appear", async () => {
    await f.pods("sticky", ["s-a", "s-b", "s-c"]);
    await createGroup(f.clients, f.namespace, "sticky", spec("sticky"));
    const holder = await f.leader("sticky", "sticky");
    const before = await f.group("sticky");
    expect(before.status?.transitions).toBe(1);
    const other = ["s-a", "s-b", "s-c"].find((p) => p !== holder) ?? "";

    await setPodReady(f.clients, f.namespace, other, false);
    await waitForGroup(
      f.clients,
      f.namespace,
      "sticky",
      "2 ready of 3",
      (g) => g.status?.ready === "2/3",
    );
    // Ready again, and (as far as the Ready condition says) Ready the longest:
    // a fresh election would now choose it.
    await setPodReadySince(f.clients, f.namespace, other, new Date(Date.now() - 3_600_000));
    await waitForGroup(
      f.clients,
      f.namespace,
      "sticky",
      "3 ready of 3",
      (g) => g.status?.ready === "3/3",
    );
    // A new pod that a fresh election would choose too: first by name, highest priority.
    await f.pods("sticky", ["s-0"], { annotations: { "podium.dev/priority": "10" } });
    const after = await waitForGroup(
      f.clients,
      f.namespace,
      "sticky",
      "4 ready of 4",
      (g) => g.status?.ready === "4/4",
    );

    expect(after.status?.holder).toBe(holder);
    expect(after.status?.transitions).toBe(before.status?.transitions);
    expect(after.status?.epoch).toBe(before.status?.epoch);
    expect(after.status?.history).toEqual(before.status?.history);
    expect(await f.labelled("sticky")).toEqual([holder]);
  });

  it("hands over at once when the holder is deleted", async () => {
    const old = await f.leader("sticky", "sticky");
    const epoch = (await f.group("sticky")).status?.epoch ?? 0;
    const causeAt = Date.now();
    // A force delete: the API server still writes the deletionTimestamp (one
    // watch event) before it removes the pod, so either reason is right.
    await deletePod(f.clients, f.namespace, old, 0);
    const next = await f.leader("sticky", "sticky", { not: old, timeoutMs: 10_000 });
    const ledAfter = (f.recorders.get("sticky")?.firstLed(next, causeAt) ?? Infinity) - causeAt;
    console.log(`holder deleted: the label moved ${String(ledAfter)} ms after the delete`);
    // "At once": far below the 15 s a client-go follower waits for the Lease to expire.
    expect(ledAfter).toBeLessThan(3000);
    const group = await f.group("sticky");
    expect(group.status?.epoch).toBe(epoch + 1);
    expect(group.status?.history?.[0]).toMatchObject({ from: old, to: next, epoch: epoch + 1 });
    expect(["HolderDeleted", "HolderTerminating"]).toContain(group.status?.history?.[0]?.reason);
    expect(await f.labelled("sticky")).toEqual([next]);
    expect((await f.events("sticky", "LeaderLost")).some((e) => e.note?.includes(old))).toBe(true);
  });

  it("hands over at once when the holder leaves the selector, and unlabels it", async () => {
    const old = await f.leader("sticky", "sticky");
    const epoch = (await f.group("sticky")).status?.epoch ?? 0;
    await patchPodMetadata(f.clients, f.namespace, old, { labels: { app: "elsewhere" } });
    const next = await f.leader("sticky", "sticky", { not: old, timeoutMs: 10_000 });
    const group = await f.group("sticky");
    expect(group.status?.history?.[0]).toMatchObject({
      from: old,
      to: next,
      reason: "HolderDeleted",
      epoch: epoch + 1,
    });
    await waitFor(
      `the leader label to leave ${old}`,
      async () => {
        const pod = await getPod(f.clients, f.namespace, old);
        return pod?.metadata?.labels?.role === undefined ? true : undefined;
      },
      { timeoutMs: 5000 },
    );
    const gone = await getPod(f.clients, f.namespace, old);
    expect(gone?.metadata?.annotations?.[EPOCH]).toBeUndefined();
    await deletePod(f.clients, f.namespace, old, 0);
  });

  it("moves the label off a holder that starts terminating, while it still terminates", async () => {
    const old = await f.leader("sticky", "sticky");
    const epoch = (await f.group("sticky")).status?.epoch ?? 0;
    // Our own finalizer keeps the pod in Terminating for as long as we like.
    await patchPodMetadata(f.clients, f.namespace, old, { finalizers: ["example.com/hold"] });
    try {
      await deletePod(f.clients, f.namespace, old);
      const next = await f.leader("sticky", "sticky", { not: old, timeoutMs: 10_000 });
      const terminating = await getPod(f.clients, f.namespace, old);
      expect(terminating?.metadata?.deletionTimestamp).toBeDefined();
      expect(terminating?.metadata?.labels?.role).toBeUndefined();
      expect(terminating?.metadata?.annotations?.[EPOCH]).toBeUndefined();
      const group = await f.group("sticky");
      expect(group.status?.history?.[0]).toMatchObject({
        from: old,
        to: next,
        reason: "HolderTerminating",
        epoch: epoch + 1,
      });
    } finally {
      await patchPodMetadata(f.clients, f.namespace, old, { finalizers: null });
    }
    await waitFor("the terminating pod to go", async () =>
      (await getPod(f.clients, f.namespace, old)) === undefined ? true : undefined,
    );
  });

  it("never showed two labelled pods", () => {
    expect(f.violations("sticky")).toEqual([]);
  });
});

describe("notReadyToleranceSeconds", () => {
  const f = new Fixture("bh-tolerance");
  beforeAll(() => f.setUp(["tol"]));
  afterAll(() => f.tearDown());

  it("lets a NotReady holder keep the label for the tolerance, then moves it", async () => {
    await f.pods("tol", ["t-a", "t-b", "t-c"]);
    await createGroup(f.clients, f.namespace, "tol", spec("tol", { notReadyToleranceSeconds: 3 }));
    const old = await f.leader("tol", "tol");
    const recorder = f.recorders.get("tol");
    const causeAt = Date.now();
    await setPodReady(f.clients, f.namespace, old, false);
    await waitForGroup(
      f.clients,
      f.namespace,
      "tol",
      "2 ready of 3",
      (g) => g.status?.ready === "2/3",
    );
    await sleep(Math.max(0, causeAt + 1000 - Date.now()));
    const during = await f.group("tol");
    expect(during.status?.holder).toBe(old);
    expect(await f.labelled("tol")).toEqual([old]);

    const next = await f.leader("tol", "tol", { not: old, timeoutMs: 10_000 });
    const movedAfter = (recorder?.firstLed(next, causeAt) ?? Date.now()) - causeAt;
    console.log(`tolerance 3 s: the label moved ${String(movedAfter)} ms after NotReady`);
    expect((await f.group("tol")).status?.history?.[0]).toMatchObject({
      from: old,
      to: next,
      reason: "HolderNotReady",
    });
    await setPodReady(f.clients, f.namespace, old, true);
  });

  it("moves the label at once with tolerance 0", async () => {
    await patchGroupSpec(f.clients, f.namespace, "tol", { notReadyToleranceSeconds: 0 });
    await waitForObservedGeneration(f.clients, f.namespace, "tol");
    const old = await f.leader("tol", "tol");
    const causeAt = Date.now();
    await setPodReady(f.clients, f.namespace, old, false);
    const next = await f.leader("tol", "tol", { not: old, timeoutMs: 10_000 });
    const movedAfter = (f.recorders.get("tol")?.firstLed(next, causeAt) ?? Date.now()) - causeAt;
    console.log(`tolerance 0: the label moved ${String(movedAfter)} ms after NotReady`);
    // With the 3 s tolerance it could not move before ~2 s (Ready times have 1 s resolution).
    expect(movedAfter).toBeLessThan(2000);
  });

  it("never showed two labelled pods", () => {
    expect(f.violations("tol")).toEqual([]);
  });
});

describe("the next holder: preferredHolder, priority, revision, Ready longest, name", () => {
  const f = new Fixture("bh-order");
  beforeAll(() => f.setUp(["pref", "prio", "rev", "name"]));
  afterAll(() => f.tearDown());

  it("moves leadership to a ready preferredHolder, and ignores it while it is NotReady", async () => {
    await f.pods("pref", ["pf-a", "pf-b", "pf-c"]);
    await createGroup(f.clients, f.namespace, "pref", spec("pref"));
    const first = await f.leader("pref", "pref");
    const [target, notReady] = ["pf-a", "pf-b", "pf-c"].filter((p) => p !== first);
    if (target === undefined || notReady === undefined) throw new Error("need 3 pods");

    await patchGroupSpec(f.clients, f.namespace, "pref", { preferredHolder: target });
    await f.leader("pref", "pref", { expected: target, timeoutMs: 10_000 });
    const moved = await f.group("pref");
    expect(moved.status?.history?.[0]).toMatchObject({
      from: first,
      to: target,
      reason: "PreferredHolder",
    });

    await setPodReady(f.clients, f.namespace, notReady, false);
    await waitForGroup(
      f.clients,
      f.namespace,
      "pref",
      "2 ready of 3",
      (g) => g.status?.ready === "2/3",
    );
    await patchGroupSpec(f.clients, f.namespace, "pref", { preferredHolder: notReady });
    await waitForObservedGeneration(f.clients, f.namespace, "pref");
    await sleep(1000);
    const after = await f.group("pref");
    expect(after.status?.holder).toBe(target);
    expect(after.status?.transitions).toBe(moved.status?.transitions);
    expect(await f.labelled("pref")).toEqual([target]);

    // Once the preferred pod is Ready, leadership moves to it.
    await setPodReady(f.clients, f.namespace, notReady, true);
    await f.leader("pref", "pref", { expected: notReady, timeoutMs: 10_000 });
    expect((await f.group("pref")).status?.history?.[0]).toMatchObject({
      from: target,
      to: notReady,
      reason: "PreferredHolder",
    });
  });

  it("chooses the highest podium.dev/priority on fail-over; a malformed one counts as 0", async () => {
    const pods: [string, string][] = [
      ["pr-lead", "100"],
      ["pr-high", "50"],
      ["pr-low", "1"],
      ["pr-bad", "1e3"], // not an integer: 0, not 1000
      ["pr-neg", "-5"],
    ];
    for (const [name, priority] of pods) {
      await createBarePod(f.clients, f.namespace, name, {
        labels: { app: "prio" },
        annotations: { "podium.dev/priority": priority },
      });
    }
    await waitForPods(
      f.clients,
      f.namespace,
      pods.map(([n]) => n),
    );
    await createGroup(f.clients, f.namespace, "prio", spec("prio"));
    let holder = await f.leader("prio", "prio");
    expect(holder).toBe("pr-lead");
    for (const expected of ["pr-high", "pr-low", "pr-bad"]) {
      await deletePod(f.clients, f.namespace, holder, 0);
      holder = await f.leader("prio", "prio", { not: holder, timeoutMs: 10_000 });
      expect(holder).toBe(expected);
    }
  });

  it("chooses a pod of the newest revision over an older one that has been Ready longer", async () => {
    const now = Date.now();
    await f.pods("rev", ["rv-old-a", "rv-old-b"], {
      labels: { "pod-template-hash": "old1" },
      startNotReady: true,
    });
    // creationTimestamp has 1 s resolution: the new revision's pod must be
    // created in a later second to be recognisably newer.
    const created = (await getPod(f.clients, f.namespace, "rv-old-b"))?.metadata?.creationTimestamp;
    const oldCreated = created === undefined ? Date.now() : new Date(created).getTime();
    await setPodReadySince(f.clients, f.namespace, "rv-old-a", new Date(now - 120_000));
    await setPodReadySince(f.clients, f.namespace, "rv-old-b", new Date(now - 60_000));
    await createGroup(f.clients, f.namespace, "rev", spec("rev"));
    expect(await f.leader("rev", "rev")).toBe("rv-old-a");

    await sleep(Math.max(0, oldCreated + 1100 - Date.now()));
    await f.pods("rev", ["rv-new-a"], {
      labels: { "pod-template-hash": "new2" },
      startNotReady: true,
    });
    await setPodReady(f.clients, f.namespace, "rv-new-a", true);
    await waitForGroup(
      f.clients,
      f.namespace,
      "rev",
      "3 ready of 3",
      (g) => g.status?.ready === "3/3",
    );
    expect((await f.group("rev")).status?.holder).toBe("rv-old-a");

    await deletePod(f.clients, f.namespace, "rv-old-a", 0);
    expect(await f.leader("rev", "rev", { not: "rv-old-a", timeoutMs: 10_000 })).toBe("rv-new-a");
  });

  it("prefers the pod Ready longest, then the first name", async () => {
    // Created in reverse name order, so creation order cannot pass for name order.
    await f.pods("name", ["nm-c", "nm-b", "nm-a"], { startNotReady: true });
    const base = Math.floor(Date.now() / 1000) * 1000;
    await setPodReadySince(f.clients, f.namespace, "nm-c", new Date(base - 90_000));
    await setPodReadySince(f.clients, f.namespace, "nm-b", new Date(base - 30_000));
    await setPodReadySince(f.clients, f.namespace, "nm-a", new Date(base - 30_000));
    await createGroup(f.clients, f.namespace, "name", spec("name"));
    expect(await f.leader("name", "name")).toBe("nm-c");
    await deletePod(f.clients, f.namespace, "nm-c", 0);
    expect(await f.leader("name", "name", { not: "nm-c", timeoutMs: 10_000 })).toBe("nm-a");
  });

  it("never showed two labelled pods", () => {
    for (const app of ["pref", "prio", "rev", "name"]) expect(f.violations(app)).toEqual([]);
  });
});

describe("the Lease, the epoch, the status, stray labels and the leaderless state", () => {
  const f = new Fixture("bh-lease");
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

describe("paused and invalid groups touch nothing", () => {
  const f = new Fixture("bh-paused");
  beforeAll(() => f.setUp(["pz", "inv"]));
  afterAll(() => f.tearDown());

  it("changes no label and no Lease while paused, and elects again when unpaused", async () => {
    await f.pods("pz", ["pz-a", "pz-b"]);
    await createGroup(f.clients, f.namespace, "pz", spec("pz"));
    const old = await f.leader("pz", "pz");
    await patchGroupSpec(f.clients, f.namespace, "pz", { paused: true });
    const paused = await waitForGroup(
      f.clients,
      f.namespace,
      "pz",
      "Ready=False reason Paused",
      (g) =>
        g.status?.observedGeneration === g.metadata.generation &&
        groupCondition(g, "Ready")?.reason === "Paused",
    );
    expect(groupCondition(paused, "Ready")?.status).toBe("False");
    const leaseBefore = await readLease(f.clients, f.namespace, "pz");

    await deletePod(f.clients, f.namespace, old, 0);
    await waitForGroup(
      f.clients,
      f.namespace,
      "pz",
      "1 candidate",
      (g) => g.status?.candidates === 1,
    );
    await sleep(1500);
    expect(await f.labelled("pz")).toEqual([]);
    const leaseDuring = await readLease(f.clients, f.namespace, "pz");
    expect(leaseDuring?.metadata?.resourceVersion).toBe(leaseBefore?.metadata?.resourceVersion);
    expect(leaseDuring?.spec?.holderIdentity).toBe(old);
    expect(groupCondition(await f.group("pz"), "Ready")?.reason).toBe("Paused");

    await patchGroupSpec(f.clients, f.namespace, "pz", { paused: false });
    expect(await f.leader("pz", "pz", { not: old, timeoutMs: 10_000 })).toBe("pz-b");
    const resumed = await f.group("pz");
    expect(groupCondition(resumed, "Ready")?.status).toBe("True");
    expect(resumed.status?.history?.[0]).toMatchObject({ from: old, to: "pz-b" });
  });

  it("reports InvalidSpec for a spec only podium's validation refuses, and writes nothing", async () => {
    await f.pods("inv", ["inv-a", "inv-b"]);
    // The CRD schema cannot check map keys; podium's own validation can.
    await createGroup(f.clients, f.namespace, "inv", {
      selector: { matchLabels: { app: "inv", "bad key!": "x" } },
    });
    const group = await waitForGroup(
      f.clients,
      f.namespace,
      "inv",
      "Ready=False reason InvalidSpec",
      (g) => groupCondition(g, "Ready")?.reason === "InvalidSpec",
    );
    const ready = groupCondition(group, "Ready");
    expect(ready?.status).toBe("False");
    expect(ready?.observedGeneration).toBe(group.metadata.generation);
    expect(ready?.message).toContain("spec.selector.matchLabels");
    const events = await f.waitForEvent("inv", "InvalidSpec");
    expect(events[0]?.type).toBe("Warning");
    await sleep(1000);
    expect(await readLease(f.clients, f.namespace, "inv")).toBeUndefined();
    expect(await f.labelled("inv")).toEqual([]);
    for (const name of ["inv-a", "inv-b"]) {
      const pod = await getPod(f.clients, f.namespace, name);
      expect(pod?.metadata?.labels?.role).toBeUndefined();
      expect(pod?.metadata?.annotations?.[EPOCH]).toBeUndefined();
    }
  });

  it("never showed two labelled pods", () => {
    expect(f.violations("pz")).toEqual([]);
    expect(f.violations("inv")).toEqual([]);
  });
});

describe("deleting groups, and groups that claim the same pods", () => {
  const f = new Fixture("bh-groups");
  beforeAll(() => f.setUp(["fin", "shared"]));
  afterAll(() => f.tearDown());

  it("removes its labels before it goes (finalizer), and its Lease is garbage-collected", async () => {
    await f.pods("fin", ["fn-a", "fn-b"]);
    const created = await createGroup(f.clients, f.namespace, "fin", spec("fin"));
    const holder = await f.leader("fin", "fin");
    expect((await f.group("fin")).metadata.finalizers).toContain(FINALIZER);
    expect(await readLease(f.clients, f.namespace, "fin")).toBeDefined();

    await deleteGroup(f.clients, f.namespace, "fin");
    await waitFor("ElectionGroup fin to be gone", async () =>
      (await groupExists(f.clients, f.namespace, "fin")) ? undefined : true,
    );
    expect(await f.labelled("fin")).toEqual([]);
    const pod = await getPod(f.clients, f.namespace, holder);
    expect(pod?.metadata?.labels?.role).toBeUndefined();
    expect(pod?.metadata?.annotations?.[EPOCH]).toBeUndefined();
    await waitFor(
      `the Lease of group ${created.metadata.uid} to be garbage-collected`,
      async () =>
        (await readLease(f.clients, f.namespace, "fin")) === undefined ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  it("lets only the older of two groups with the same label key act; another key is independent", async () => {
    await f.pods("shared", ["sh-a", "sh-b", "sh-c"]);
    await createGroup(f.clients, f.namespace, "older", spec("shared"));
    const holder = await f.leader("older", "shared");
    // creationTimestamp has 1 s resolution: make sure the second group is newer.
    await sleep(1100);
    await createGroup(f.clients, f.namespace, "newer", spec("shared"));
    await createGroup(
      f.clients,
      f.namespace,
      "other-key",
      spec("shared", { leaderLabel: { key: "tier", value: "primary" } }),
    );

    const newer = await waitForGroup(
      f.clients,
      f.namespace,
      "newer",
      "Conflict=True",
      (g) => groupCondition(g, "Conflict")?.status === "True",
    );
    expect(groupCondition(newer, "Ready")?.status).toBe("False");
    expect(groupCondition(newer, "Conflict")?.message).toContain("older");
    await f.waitForEvent("newer", "Conflict");

    // A different label key on the same pods: independent, and working.
    const other = await waitForGroup(
      f.clients,
      f.namespace,
      "other-key",
      "Ready=True",
      (g) => groupCondition(g, "Ready")?.status === "True",
    );
    expect(groupCondition(other, "Conflict")?.status).toBe("False");
    const tier = await f.clients.core.listNamespacedPod({
      namespace: f.namespace,
      labelSelector: "app=shared,tier=primary",
    });
    expect(tier.items.map((p) => p.metadata?.name)).toEqual([other.status?.holder]);
    expect((await readLease(f.clients, f.namespace, "other-key"))?.spec?.holderIdentity).toBe(
      other.status?.holder,
    );

    await sleep(1000);
    expect(await readLease(f.clients, f.namespace, "newer")).toBeUndefined();
    expect(await f.labelled("shared")).toEqual([holder]);
    const older = await f.group("older");
    expect(older.status?.holder).toBe(holder);
    expect(groupCondition(older, "Ready")?.status).toBe("True");
    expect(groupCondition(older, "Conflict")?.status).toBe("False");
  });

  it("deleting a newer, conflicting group leaves the older group's leader labelled", async () => {
    const older = await f.group("older");
    const holder = older.status?.holder ?? "";
    await createGroup(f.clients, f.namespace, "intruder", spec("shared"));
    await waitForGroup(
      f.clients,
      f.namespace,
      "intruder",
      "Conflict=True",
      (g) => groupCondition(g, "Conflict")?.status === "True",
    );
    const deletedAt = Date.now();
    await deleteGroup(f.clients, f.namespace, "intruder");
    await waitFor("ElectionGroup intruder to be gone", async () =>
      (await groupExists(f.clients, f.namespace, "intruder")) ? undefined : true,
    );
    await sleep(1000);
    // The intruder never led these pods: its finalizer must not strip the
    // label the older group put on its leader, not even for a moment.
    const seen = (f.recorders.get("shared")?.observations ?? []).filter((o) => o.at >= deletedAt);
    expect(seen.filter((o) => o.labelled.join() !== holder)).toEqual([]);
    expect(await f.labelled("shared")).toEqual([holder]);
    const after = await f.group("older");
    expect(after.status?.holder).toBe(holder);
    expect(after.status?.transitions).toBe(older.status?.transitions);
  });

  it("deleting the older group lets the newer one take over", async () => {
    const other = await f.group("other-key");
    await deleteGroup(f.clients, f.namespace, "older");
    const took = await waitForGroup(
      f.clients,
      f.namespace,
      "newer",
      "Ready=True after the older group went",
      (g) => groupCondition(g, "Ready")?.status === "True",
      { timeoutMs: 15_000 },
    );
    expect(groupCondition(took, "Conflict")?.status).toBe("False");
    const newHolder = await f.leader("newer", "shared");
    expect((await readLease(f.clients, f.namespace, "newer"))?.spec?.holderIdentity).toBe(
      newHolder,
    );
    // The other key's leader was never disturbed.
    expect((await f.group("other-key")).status?.transitions).toBe(other.status?.transitions);
  });

  it("never showed two labelled pods", () => {
    expect(f.violations("fin")).toEqual([]);
    expect(f.violations("shared")).toEqual([]);
  });
});

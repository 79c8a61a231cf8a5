import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setPodReady, sleep, waitFor } from "../support/kube.ts";
import {
  createGroup,
  patchGroupSpec,
  waitForGroup,
  waitForObservedGeneration,
} from "../support/groups.ts";
import { deletePod, getPod, patchPodMetadata, setPodReadySince } from "../support/pods.ts";
import { EPOCH, OperatedNamespace, spec } from "../support/operated-namespace.ts";

// Managed-mode behaviours (DESIGN.md §2) as a user sees them: the holder keeps
// role=leader while it is fit, and hands it over at once (or after
// notReadyToleranceSeconds) when it is not. Each describe has its own namespace
// and its own operator scoped to it (test/support/operated-namespace.ts), and a
// LeaderLabelRecorder per app that checks, from an independent pod watch, that
// no two pods of a group ever carried the label at once.

describe("the holder is sticky, and hands over at once when it goes", () => {
  const f = new OperatedNamespace("bh-sticky");
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
  const f = new OperatedNamespace("bh-tolerance");
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

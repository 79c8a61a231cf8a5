import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep, waitFor } from "../support/kube.ts";
import {
  createGroup,
  deleteGroup,
  groupCondition,
  groupExists,
  patchGroupSpec,
  readLease,
  waitForGroup,
} from "../support/groups.ts";
import { deletePod, getPod } from "../support/pods.ts";
import { EPOCH, FINALIZER, OperatedNamespace, spec } from "../support/operated-namespace.ts";

// Managed-mode behaviours (DESIGN.md §2) as a user sees them: paused and
// invalid groups write nothing, a deleted group removes its labels first, and
// of groups that claim the same pods only the older acts. Each describe has its
// own namespace and its own operator scoped to it
// (test/support/operated-namespace.ts), and a LeaderLabelRecorder per app that
// checks, from an independent pod watch, that no two pods of a group ever
// carried the label at once.

describe("paused and invalid groups touch nothing", () => {
  const f = new OperatedNamespace("bh-paused");
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
  const f = new OperatedNamespace("bh-groups");
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

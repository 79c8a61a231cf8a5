/**
 * The reconcile's phases against an in-memory store and a recording writer,
 * in the style of sample-controller's controller tests: each case asserts the
 * exact sequence of API writes, which is what keeps DESIGN §2's order (break,
 * Lease, make, status) and the finalizer-before-side-effects rule honest.
 */
import { describe, expect, it } from "vitest";
import { T0, harness, rawGroup, rawLease, rawPod } from "./fakes.ts";
import type { Harness } from "./fakes.ts";

/** A group whose holder web-a (epoch 1, Lease at version 5) turned NotReady beside a ready web-b. */
function failingOver(): Harness {
  const h = harness();
  h.groups.put(rawGroup("web", {}));
  h.pods.put(rawPod("web-a", { ready: false, labels: { role: "leader" }, epoch: 1 }));
  h.pods.put(rawPod("web-b"));
  h.leases.put(rawLease("web-a", 1, { resourceVersion: "5" }));
  return h;
}

describe("the reconcile", () => {
  it("elects a first leader: finalizer, then the Lease, then the label, then status", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}, { finalizer: false }));
    h.pods.put(rawPod("web-a"));
    h.pods.put(rawPod("web-b"));

    const result = await h.reconcile();

    expect(h.writer.calls).toEqual([
      "add finalizer web",
      "create lease web holder=web-a transitions=1 owner=web",
      "label web-a role=leader epoch=1",
      "status holder=web-a epoch=1",
    ]);
    expect(h.recorder.events).toEqual(["Normal LeaderElected: pod web-a leads in epoch 1"]);
    // Managed mode's default renewal interval (90/60/2).
    expect(result).toEqual({ requeueAfterMs: 60_000 });
    const ready = h.writer.statuses[0]?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "True", reason: "LeaderElected" });
  });

  it("keeps no copy of a Lease write whose echo came before the response", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}));
    h.pods.put(rawPod("web-a"));
    const before = h.leases.put(rawLease("", 2, { resourceVersion: "5" }));
    const update = h.writer.updateLease.bind(h.writer);
    h.writer.updateLease = async (namespace, name, resourceVersion, record) => {
      const result = await update(namespace, name, resourceVersion, record);
      // The watch delivers the write before its response arrives.
      h.leases.put(
        rawLease(record.holder, record.transitions, {
          resourceVersion: result.resourceVersion ?? "",
        }),
      );
      return result;
    };

    await h.reconcile();

    expect(h.writer.calls[0]).toBe("update lease web@5 holder=web-a transitions=3");
    // Nothing of the write is kept: at the older version, the cache is the answer.
    expect(h.ownWrites.lease("shop", "web", before)).toBe(before);
  });

  it("announces a re-election from leaderless with an Event, like a first election", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}));
    h.pods.put(rawPod("web-a"));
    h.leases.put(rawLease("", 2, { resourceVersion: "5" }));

    await h.reconcile();

    expect(h.writer.calls).toEqual([
      "update lease web@5 holder=web-a transitions=3",
      "label web-a role=leader epoch=3",
      "status holder=web-a epoch=3",
    ]);
    expect(h.recorder.events).toEqual(["Normal LeaderElected: pod web-a leads in epoch 3"]);
  });

  it("fails over: the old holder's label off, the Lease at its version, the new label, status", async () => {
    const h = failingOver();

    await h.reconcile();

    expect(h.writer.calls).toEqual([
      "unlabel web-a role",
      "update lease web@5 holder=web-b transitions=2",
      "label web-b role=leader epoch=2",
      "status holder=web-b epoch=2",
    ]);
    expect(h.recorder.events).toEqual([
      "Normal LeaderElected: pod web-b leads in epoch 2 (was web-a: HolderNotReady)",
      "Normal LeaderLost: pod web-a lost leadership: HolderNotReady",
    ]);
    expect(h.writer.statuses[0]?.history?.[0]).toMatchObject({
      from: "web-a",
      to: "web-b",
      epoch: 2,
      reason: "HolderNotReady",
    });
  });

  it("labels nothing and retries when the Lease update conflicts (someone moved first)", async () => {
    const h = failingOver();
    h.writer.failNext("updateLease", "conflict");

    const result = await h.reconcile();

    expect(h.writer.calls).toEqual([
      "unlabel web-a role",
      "update lease web@5 holder=web-b transitions=2",
    ]);
    expect(result).toEqual({ requeueAfterMs: 250 });
    expect(h.recorder.events).toEqual([]);
  });

  it("decides again at once when the new holder vanished before it was labelled", async () => {
    const h = failingOver();
    h.writer.failNext("setLeaderLabel", "gone");

    const result = await h.reconcile();

    expect(h.writer.calls).toEqual([
      "unlabel web-a role",
      "update lease web@5 holder=web-b transitions=2",
      "label web-b role=leader epoch=2",
    ]);
    expect(result).toEqual({ requeueAfterMs: 0 });
  });

  it("writes only status while paused, naming the Lease's holder", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", { paused: true }));
    h.pods.put(rawPod("web-a", { ready: false, labels: { role: "leader" }, epoch: 1 }));
    h.pods.put(rawPod("web-b"));
    h.leases.put(rawLease("web-a", 1));

    await h.reconcile();

    expect(h.writer.calls).toEqual(["status holder=web-a epoch=1"]);
    const ready = h.writer.statuses[0]?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "Paused" });
  });

  it("touches nothing but its status when an older group owns the pods (no finalizer either)", async () => {
    const h = harness();
    h.groups.put(rawGroup("old", {}, { createdAt: T0 - 60_000 }));
    h.groups.put(rawGroup("web", {}, { finalizer: false }));
    h.pods.put(rawPod("web-a"));

    await h.reconcile("web");

    expect(h.writer.calls).toEqual(["status holder= epoch=0"]);
    const conflict = h.writer.statuses[0]?.conditions?.find((c) => c.type === "Conflict");
    expect(conflict).toMatchObject({ status: "True", reason: "Conflict" });
    expect(h.recorder.events).toEqual([
      "Warning Conflict: ElectionGroup old is older and selects the same pods with the leader label key role; this group touches nothing",
    ]);
  });

  it("writes nothing but a status naming the field for an invalid spec", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", { lease: { durationSeconds: 0 } }, { finalizer: false }));
    h.pods.put(rawPod("web-a"));

    await h.reconcile();

    expect(h.writer.calls).toEqual(["status holder= epoch=0"]);
    expect(h.recorder.events).toHaveLength(1);
    expect(h.recorder.events[0]).toMatch(/^Warning InvalidSpec: spec\.lease\.durationSeconds/);
  });

  it("reads its own Lease writes while the watch has delivered neither of the last two", async () => {
    const h = failingOver();
    await h.reconcile();
    // The pods' watch delivers the labels; the Lease's watch delivers nothing.
    h.pods.put(rawPod("web-a", { ready: false }));
    h.pods.put(rawPod("web-b", { labels: { role: "leader" }, epoch: 2 }));
    h.writer.calls.length = 0;

    h.clock.now += 60_000;
    await h.reconcile();
    h.clock.now += 60_000;
    await h.reconcile();

    // Renewals of the new holder at the versions podium's own writes produced
    // (102, then 105): no second transition from the stale cached Lease.
    expect(h.writer.calls).toEqual([
      "update lease web@102 holder=web-b transitions=2",
      "update lease web@105 holder=web-b transitions=2",
    ]);
  });

  it("refuses a Lease it did not create (a client-go app's lock): status and an Event, no write to it", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}));
    h.pods.put(rawPod("web-a"));
    h.leases.put(rawLease("other-app-7d9f-abcde_1234", 4, { owner: "" }));

    await h.reconcile();
    await h.reconcile();

    expect(h.writer.calls).toEqual(["status holder= epoch=4"]);
    const ready = h.writer.statuses[0]?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "LeaseConflict" });
    expect(h.recorder.events).toHaveLength(1);
    expect(h.recorder.events[0]).toMatch(
      /^Warning LeaseConflict: Lease web \(held by other-app-7d9f-abcde_1234\) was not created by podium/,
    );
  });

  it("ties every label write to the resourceVersion the decision saw", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}));
    h.pods.put(
      rawPod("web-a", {
        ready: false,
        labels: { role: "leader" },
        epoch: 1,
        resourceVersion: "41",
      }),
    );
    h.pods.put(rawPod("web-b", { resourceVersion: "42" }));
    h.leases.put(rawLease("web-a", 1));

    await h.reconcile();

    expect(h.writer.podVersions).toEqual(["41", "42"]);
  });

  it("labels no new holder when the old one changed since the decision (409 on its removal)", async () => {
    const h = failingOver();
    h.writer.failNext("removeLeaderLabel", "conflict");

    const result = await h.reconcile();

    expect(h.writer.calls).toEqual(["unlabel web-a role"]);
    expect(result).toEqual({ requeueAfterMs: 250 });
  });

  it("never labels a pod whose leader key holds someone else's value, and says so", async () => {
    const h = harness();
    // A Deployment's pods: app=web is the ReplicaSet's selector; the group selects tier=fe
    // and (a mistake) uses app as its leader label key.
    h.groups.put(
      rawGroup("web", {
        selector: { matchLabels: { tier: "fe" } },
        leaderLabel: { key: "app", value: "leader" },
      }),
    );
    h.pods.put(rawPod("web-a", { labels: { tier: "fe" } }));
    h.pods.put(rawPod("web-b", { labels: { tier: "fe" } }));

    await h.reconcile();

    expect(h.writer.calls.filter((c) => c.startsWith("label") || c.startsWith("unlabel"))).toEqual(
      [],
    );
    const conflict = h.writer.statuses[0]?.conditions?.find((c) => c.type === "LabelConflict");
    expect(conflict).toMatchObject({ status: "True", reason: "LabelConflict" });
    expect(conflict?.message).toContain("web-a (app=web), web-b (app=web)");
    expect(h.recorder.events).toEqual([`Warning LabelConflict: ${conflict?.message ?? ""}`]);
  });

  it("on deletion removes only labels it set, then its finalizer", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}, { deleting: true }));
    h.pods.put(rawPod("web-a", { labels: { role: "leader" }, epoch: 1 }));
    // role=leader set by hand (no podium epoch beside it): not podium's to take away.
    h.pods.put(rawPod("web-c", { labels: { role: "leader" } }));
    h.leases.put(rawLease("web-a", 1));

    await h.reconcile();

    expect(h.writer.calls).toEqual(["unlabel web-a role", "remove finalizer web"]);
  });

  it("on deletion removes its leader labels, then its finalizer", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}, { deleting: true }));
    h.pods.put(rawPod("web-a", { labels: { role: "leader" }, epoch: 1 }));
    h.pods.put(rawPod("web-b"));
    h.leases.put(rawLease("web-a", 1));

    await h.reconcile();

    expect(h.writer.calls).toEqual(["unlabel web-a role", "remove finalizer web"]);
  });

  it("removes a stray leader label and says so with an Event", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", {}));
    h.pods.put(rawPod("web-a", { labels: { role: "leader" }, epoch: 1 }));
    h.pods.put(rawPod("web-b", { labels: { role: "leader" } }));
    h.leases.put(rawLease("web-a", 1));

    await h.reconcile();

    expect(h.writer.calls[0]).toBe("unlabel web-b role");
    expect(h.recorder.events).toEqual([
      "Warning StrayLeaderLabelRemoved: removed role=leader from pod web-b, which does not lead",
    ]);
  });

  it("warns once per Observed holder that stands for no pod: an Event saying what was tried", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", { mode: "Observed" }));
    h.pods.put(rawPod("web-a"));
    h.leases.put(rawLease("stranger", 1));

    await h.reconcile();
    await h.reconcile();

    const message =
      "Lease web names no pod of this group: holder stranger: no pod named stranger, spec.identity not set, no pod with hostname stranger, not <hostname>_<uuid>";
    expect(h.recorder.events).toEqual([`Warning HolderNotInGroup: ${message}`]);
    const ready = h.writer.statuses.at(-1)?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "HolderNotInGroup", message });

    h.leases.put(rawLease("stranger-2", 2, { resourceVersion: "6" }));
    await h.reconcile();
    expect(h.recorder.events).toHaveLength(2);
    expect(h.recorder.events[1]).toMatch(/^Warning HolderNotInGroup: .*holder stranger-2: /);
  });

  it("labels the pod of a controller-runtime holder in Observed mode", async () => {
    const h = harness();
    h.groups.put(rawGroup("web", { mode: "Observed" }));
    h.pods.put(rawPod("web-a"));
    h.pods.put(rawPod("web-b"));
    h.leases.put(rawLease("web-b_0b4ea3ac-5c1e-4c27-9a2f-3f1d3c1f2e4a", 3));

    await h.reconcile();

    expect(h.writer.calls).toEqual([
      "label web-b role=leader epoch=3",
      "status holder=web-b epoch=3",
    ]);
  });
});

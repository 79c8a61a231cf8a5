/**
 * The lean renewal path (controller/renewals.ts) against the in-memory store
 * and the recording writer: a held Managed Lease is renewed by one merge
 * patch at the version podium left, with no reconcile of the group and no
 * other write; anything else hands the group to a full reconcile.
 */
import { describe, expect, it } from "vitest";
import { leaseSource } from "../../../src/sources/leases.ts";
import { T0, harness, rawGroup, rawLease, rawPod } from "./fakes.ts";
import type { Harness } from "./fakes.ts";

/** Managed default 90/60/2: a renewal is due 60 s after the last write. */
const RENEW_MS = 60_000;

/** A group elected through a reconcile, the watch having delivered the Lease and labels. */
async function elected(): Promise<Harness> {
  const h = harness({ renewals: true });
  h.groups.put(rawGroup("web", {}));
  h.pods.put(rawPod("web-a"));
  h.pods.put(rawPod("web-b"));
  const result = await h.reconcile();
  // The renewal is the scheduler's: the group is not requeued for it.
  expect(result).toEqual({});
  h.pods.put(rawPod("web-a", { labels: { role: "leader" }, epoch: 1, resourceVersion: "2" }));
  h.writer.calls.length = 0;
  return h;
}

describe("lean renewals", () => {
  it("renews a held Lease once due with one patch at the version podium wrote, nothing else", async () => {
    const h = await elected();
    const electedAt = h.clock.now;

    await h.advance(RENEW_MS - 1);
    expect(h.writer.calls).toEqual([]);

    await h.advance(1);
    // create lease answered version 101; label 102; status 103.
    expect(h.writer.calls).toEqual([
      `renew lease web@101 holder=web-a transitions=1 renewTime=+${String(electedAt + RENEW_MS - T0)}`,
    ]);
    expect(h.handedToReconcile).toEqual([]);
    expect(h.recorder.events).toEqual(["Normal LeaderElected: pod web-a leads in epoch 1"]);

    // The next one chains on the renewal's own version (104), again with no reconcile.
    await h.advance(RENEW_MS);
    expect(h.writer.calls[1]).toMatch(/^renew lease web@104 holder=web-a transitions=1 /);
    expect(h.handedToReconcile).toEqual([]);
  });

  it("does not queue the group for the echo of its own renewal", async () => {
    const h = await elected();
    await h.advance(RENEW_MS);
    const renewedAt = h.clock.now;
    // The Lease watch delivers the renewal.
    const echo = h.leases.put(
      rawLease("web-a", 1, { resourceVersion: "104", renewTime: renewedAt }),
    );
    const keys = [
      ...leaseSource(h.ownWrites).concerns({ type: "update", item: echo, old: undefined }, h.store),
    ];
    expect(keys).toEqual([]);
    // Someone else's write to it does concern the group.
    const foreign = h.leases.put(
      rawLease("web-a", 1, { resourceVersion: "105", renewTime: renewedAt + 5 }),
    );
    const concerned = [
      ...leaseSource(h.ownWrites).concerns({ type: "update", item: foreign, old: echo }, h.store),
    ];
    expect(concerned).toEqual(["shop/web"]);
  });

  it("keeps no copy of a renewal whose echo came before the response", async () => {
    const h = await elected();
    const before = h.leases.put(rawLease("web-a", 1, { resourceVersion: "101", renewTime: T0 }));
    const renew = h.writer.renewLease.bind(h.writer);
    h.writer.renewLease = async (namespace, name, resourceVersion, record) => {
      const result = await renew(namespace, name, resourceVersion, record);
      // The watch delivers the renewal before its response arrives.
      h.leases.put(
        rawLease("web-a", 1, {
          resourceVersion: result.resourceVersion ?? "",
          renewTime: record.renewTime,
        }),
      );
      return result;
    };
    await h.advance(RENEW_MS);
    expect(h.writer.calls).toEqual([expect.stringMatching(/^renew lease web@101 /)]);
    // Nothing of the write is kept: at the older version, the cache is the answer.
    expect(h.ownWrites.lease("shop", "web", before)).toBe(before);
  });

  it("hands the group to a reconcile on a 409 (someone wrote the Lease)", async () => {
    const h = await elected();
    h.writer.failNext("renewLease", "conflict");

    await h.advance(RENEW_MS);

    expect(h.writer.calls).toHaveLength(1);
    expect(h.writer.calls[0]).toMatch(/^renew lease web@101 /);
    expect(h.handedToReconcile).toEqual(["shop/web"]);
    // Nothing more is scheduled: the reconcile schedules the next renewal.
    await h.advance(RENEW_MS);
    expect(h.writer.calls).toHaveLength(1);
  });

  it("writes nothing and hands the group to a reconcile when the Lease changed since", async () => {
    const h = await elected();
    h.leases.put(rawLease("web-b", 2, { resourceVersion: "150", renewTime: h.clock.now }));

    await h.advance(RENEW_MS);

    expect(h.writer.calls).toEqual([]);
    expect(h.handedToReconcile).toEqual(["shop/web"]);
  });

  it("writes nothing and hands the group to a reconcile when the holder turned NotReady", async () => {
    const h = await elected();
    h.pods.put(
      rawPod("web-a", { ready: false, labels: { role: "leader" }, epoch: 1, resourceVersion: "3" }),
    );

    await h.advance(RENEW_MS);

    expect(h.writer.calls).toEqual([]);
    expect(h.handedToReconcile).toEqual(["shop/web"]);
  });

  it("leaves a group whose reconcile is queued to that reconcile", async () => {
    const h = await elected();
    h.busy.add("shop/web");

    await h.advance(RENEW_MS);

    expect(h.writer.calls).toEqual([]);
    expect(h.handedToReconcile).toEqual([]);
  });

  it("sends the renewal ahead of the rate limit when a change of its group was detected meanwhile", async () => {
    const h = await elected();
    await h.advance(RENEW_MS);
    expect(h.writer.calls[0]).not.toMatch(/urgent/);
    // A fail-over's reconcile waits for the group's renewal in flight, so that write is urgent.
    h.detected.add("shop/web");
    await h.advance(RENEW_MS);
    expect(h.writer.calls[1]).toMatch(/^renew lease web@104 .* \(urgent\)$/);
  });

  it("forgets the renewal of a deleted group", async () => {
    const h = await elected();
    h.groups.delete("shop", "web");
    await h.reconcile();

    await h.advance(RENEW_MS);

    expect(h.writer.calls).toEqual([]);
  });

  it("a reconcile with nothing to change reschedules the renewal and writes nothing", async () => {
    const h = await elected();
    await h.advance(RENEW_MS / 2);
    // A resync.
    expect(await h.reconcile()).toEqual({});
    expect(h.writer.calls).toEqual([]);
    await h.advance(RENEW_MS / 2);
    expect(h.writer.calls).toHaveLength(1);
    expect(h.writer.calls[0]).toMatch(/^renew lease web@101 /);
  });
});

import { describe, expect, it } from "vitest";
import type { ElectionGroup, ElectionGroupStatus } from "../../../src/api/types.ts";
import { OwnWrites } from "../../../src/controller/own-writes.ts";
import type { LeaseRecord } from "../../../src/election/lease-record.ts";
import type { CachedLease } from "../../../src/sources/leases.ts";
import { electionGroup, spec, T0 } from "../election/fixtures.ts";

/** Group "shop/web" as the cache shows it at `resourceVersion`, with `holder` in its status. */
function groupAt(resourceVersion: string, holder = "cached"): ElectionGroup {
  return electionGroup(spec(), { resourceVersion }, { holder });
}

const statusA: ElectionGroupStatus = { holder: "web-a", epoch: 1 };
const statusB: ElectionGroupStatus = { holder: "web-b", epoch: 2 };

/** The holder of the status a reconcile reads: "cached" when the cache is the truth. */
function holderRead(own: OwnWrites, cacheVersion: string): string | undefined {
  return own.group(groupAt(cacheVersion))?.status?.holder;
}

describe("OwnWrites: the group status overlay", () => {
  it("reads the cache as is when podium wrote nothing, and nothing when the group is gone", () => {
    const own = new OwnWrites();
    const cached = groupAt("v1");
    expect(own.group(cached)).toBe(cached);
    expect(own.group(undefined)).toBeUndefined();
  });

  // Write A based on v1 gave v2. Write B, made while the cache still showed
  // v1 (so based on v1, read through the overlay) or after it showed v2,
  // gave v3. Neither echo has arrived when the table's cache version is read.
  const chained: Record<string, { bBasedOn: string; cache: string; want: string }> = {
    "B based on v1, cache still at v1: B's status": { bBasedOn: "v1", cache: "v1", want: "web-b" },
    "B based on v1, cache shows A's v2: B's status": { bBasedOn: "v1", cache: "v2", want: "web-b" },
    "B based on v2, cache still at v1: B's status": { bBasedOn: "v2", cache: "v1", want: "web-b" },
    "B based on v2, cache shows A's v2: B's status": { bBasedOn: "v2", cache: "v2", want: "web-b" },
    "cache shows B's own v3: the cache": { bBasedOn: "v2", cache: "v3", want: "cached" },
    "cache shows an unrelated v9 (someone else wrote): the cache": {
      bBasedOn: "v2",
      cache: "v9",
      want: "cached",
    },
  };
  it.each(Object.entries(chained))("two writes undelivered, %s", (_, c) => {
    const own = new OwnWrites();
    own.statusWritten(groupAt("v1"), statusA, "v2");
    own.statusWritten(groupAt(c.bBasedOn), statusB, "v3");
    expect(holderRead(own, c.cache)).toBe(c.want);
  });

  it("one write: its status while the cache shows the version it was based on", () => {
    const own = new OwnWrites();
    own.statusWritten(groupAt("v1"), statusA, "v2");
    const read = own.group(groupAt("v1"));
    expect(read?.status).toEqual(statusA);
    // Only the status is overlaid: the rest is the cache's.
    expect(read?.metadata.resourceVersion).toBe("v1");
  });

  it("once the cache has moved past the chain, the overlay is gone for good", () => {
    const own = new OwnWrites();
    own.statusWritten(groupAt("v1"), statusA, "v2");
    expect(holderRead(own, "v9")).toBe("cached");
    expect(holderRead(own, "v1")).toBe("cached");
  });

  it("a write based on an unrelated version does not revive the old chain", () => {
    const own = new OwnWrites();
    own.statusWritten(groupAt("v1"), statusA, "v2");
    // Someone else wrote v5; podium read it and wrote B on top.
    own.statusWritten(groupAt("v5"), statusB, "v6");
    expect(holderRead(own, "v5")).toBe("web-b");
    expect(holderRead(own, "v1")).toBe("cached");
  });

  it("the finalizer's version joins the chain: its echo does not hide the status write", () => {
    const own = new OwnWrites();
    own.groupVersionWritten(groupAt("v1"), "v2");
    own.statusWritten(groupAt("v1"), statusA, "v3");
    expect(holderRead(own, "v2")).toBe("web-a");
    expect(holderRead(own, "v3")).toBe("cached");
  });

  it("without the finalizer's version the same echo ends the overlay", () => {
    const own = new OwnWrites();
    own.statusWritten(groupAt("v1"), statusA, "v3");
    expect(holderRead(own, "v2")).toBe("cached");
  });

  it("keeps groups apart", () => {
    const own = new OwnWrites();
    own.statusWritten(groupAt("v1"), statusA, "v2");
    const other = groupAt("v1");
    other.metadata.name = "api";
    expect(own.group(other)?.status?.holder).toBe("cached");
    expect(holderRead(own, "v1")).toBe("web-a");
  });

  it("forgetGroup drops the overlay and the finalizer's versions", () => {
    const own = new OwnWrites();
    own.groupVersionWritten(groupAt("v1"), "v2");
    own.statusWritten(groupAt("v1"), statusA, "v3");
    own.forgetGroup("shop", "web");
    expect(holderRead(own, "v1")).toBe("cached");
    // A group of the same name created again: its finalizer version from before is no part of the chain.
    own.statusWritten(groupAt("v10"), statusB, "v11");
    expect(holderRead(own, "v2")).toBe("cached");
  });
});

/** Lease "shop/web" at `resourceVersion`, held by `holder`. */
function leaseAt(resourceVersion: string, holder: string, transitions = 1): CachedLease {
  return {
    namespace: "shop",
    name: "web",
    uid: "uid-lease",
    resourceVersion,
    holder,
    holderUID: `uid-${holder}`,
    transitions,
    durationSeconds: 15,
    renewTime: T0,
    acquireTime: T0,
    observedAt: T0,
    ownerUIDs: ["uid-web"],
  };
}

describe("OwnWrites: the Lease overlay", () => {
  /** The holder of the Lease a reconcile reads at `cache` ("" for none). */
  function holderOf(own: OwnWrites, cache: CachedLease | undefined): string | undefined {
    return own.lease("shop", "web", cache)?.holder;
  }

  it("reads the cache as is when podium wrote nothing", () => {
    const own = new OwnWrites();
    const cached = leaseAt("l1", "web-a");
    expect(own.lease("shop", "web", cached)).toBe(cached);
    expect(own.lease("shop", "web", undefined)).toBeUndefined();
  });

  // Write A based on l1 gave l2 (web-b); write B based on A's l2, read
  // through the overlay, gave l3 (web-c). Neither echo has arrived.
  const chained: Record<string, { cache: CachedLease | undefined; want: string | undefined }> = {
    "cache still at l1: B's Lease": { cache: leaseAt("l1", "web-a"), want: "web-c" },
    "cache shows A's l2: B's Lease": { cache: leaseAt("l2", "web-b"), want: "web-c" },
    "cache shows B's own l3: the cache": { cache: leaseAt("l3", "from-cache"), want: "from-cache" },
    "cache shows an unrelated l9: the cache": {
      cache: leaseAt("l9", "someone-else"),
      want: "someone-else",
    },
    "the Lease is gone from the cache: nothing": { cache: undefined, want: undefined },
  };
  it.each(Object.entries(chained))("two writes undelivered, %s", (_, { cache, want }) => {
    const own = new OwnWrites();
    own.leaseWritten(leaseAt("l1", "web-a"), leaseAt("l2", "web-b", 2));
    own.leaseWritten(own.lease("shop", "web", leaseAt("l1", "web-a")), leaseAt("l3", "web-c", 3));
    expect(holderOf(own, cache)).toBe(want);
  });

  it("a created Lease: the write while the cache does not show it yet, then the cache", () => {
    const own = new OwnWrites();
    own.leaseWritten(undefined, leaseAt("l1", "web-a"));
    expect(holderOf(own, undefined)).toBe("web-a");
    // An update on top of the undelivered create.
    own.leaseWritten(own.lease("shop", "web", undefined), leaseAt("l2", "web-b", 2));
    expect(holderOf(own, undefined)).toBe("web-b");
    expect(holderOf(own, leaseAt("l1", "web-a"))).toBe("web-b");
    expect(holderOf(own, leaseAt("l2", "cached"))).toBe("cached");
  });

  it("forgetLease drops the overlay: a Lease deleted and recreated is read from the cache", () => {
    const own = new OwnWrites();
    own.leaseWritten(leaseAt("l1", "web-a"), leaseAt("l2", "web-b", 2));
    own.forgetLease("shop", "web");
    expect(holderOf(own, leaseAt("l1", "web-a"))).toBe("web-a");
  });

  // The Lease source settles each event it delivers, so that a renewed Lease's
  // copy is not kept for a whole renewal interval.
  it("settleLease keeps the write while the watch delivers a version before it", () => {
    const own = new OwnWrites();
    own.leaseWritten(leaseAt("l1", "web-a"), leaseAt("l2", "web-b", 2));
    own.settleLease(leaseAt("l1", "web-a"));
    expect(holderOf(own, leaseAt("l1", "web-a"))).toBe("web-b");
  });

  it("settleLease forgets the write once the watch delivers it", () => {
    const own = new OwnWrites();
    own.leaseWritten(leaseAt("l1", "web-a"), leaseAt("l2", "web-b", 2));
    own.settleLease(leaseAt("l2", "web-b", 2));
    // Forgotten: an older version read afterwards is no longer overlaid.
    expect(holderOf(own, leaseAt("l1", "web-a"))).toBe("web-a");
  });
});

describe("OwnWrites.isOwnEcho", () => {
  const sent: LeaseRecord = {
    holder: "web-a",
    holderUID: "uid-web-a",
    durationSeconds: 15,
    transitions: 4,
    acquireTime: T0,
    renewTime: T0 + 5000,
  };
  const echo = { ...leaseAt("l2", "web-a", 4), renewTime: T0 + 5000 };

  const cases: Record<string, { lease: CachedLease; want: boolean }> = {
    "the exact record sent is the echo": { lease: echo, want: true },
    "another renewTime (a later or earlier write) is not": {
      lease: { ...echo, renewTime: T0 + 5001 },
      want: false,
    },
    "another holder is not": { lease: { ...echo, holder: "web-b" }, want: false },
    "other transitions are not": { lease: { ...echo, transitions: 5 }, want: false },
    "the same record on another Lease is not": { lease: { ...echo, name: "api" }, want: false },
    "the same record in another namespace is not": {
      lease: { ...echo, namespace: "other" },
      want: false,
    },
  };
  it.each(Object.entries(cases))("%s", (_, { lease, want }) => {
    const own = new OwnWrites();
    own.leaseSent("shop", "web", sent);
    expect(own.isOwnEcho(lease)).toBe(want);
  });

  it("nothing sent: no echo", () => {
    expect(new OwnWrites().isOwnEcho(echo)).toBe(false);
  });

  it("only the last record sent is recognised", () => {
    const own = new OwnWrites();
    own.leaseSent("shop", "web", sent);
    own.leaseSent("shop", "web", { ...sent, renewTime: T0 + 15_000 });
    expect(own.isOwnEcho(echo)).toBe(false);
    expect(own.isOwnEcho({ ...echo, renewTime: T0 + 15_000 })).toBe(true);
  });

  it("forgetLease forgets the record sent", () => {
    const own = new OwnWrites();
    own.leaseSent("shop", "web", sent);
    own.forgetLease("shop", "web");
    expect(own.isOwnEcho(echo)).toBe(false);
  });
});

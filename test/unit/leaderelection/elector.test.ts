import { pino } from "pino";
import { Registry } from "prom-client";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LeaderElector } from "../../../src/leaderelection/elector.ts";
import type { LeaderCallbacks, LeaderElectorOptions } from "../../../src/leaderelection/elector.ts";
import { prometheusMetrics } from "../../../src/leaderelection/prometheus.ts";
import { FakeLeaseLock, FakeLeaseStore } from "./fake-lease-lock.ts";

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const LD = 15_000;
const RD = 10_000;
const RP = 2_000;

/** Advances fake time by `ms`, running every timer and promise due meanwhile. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

function elapsed(): number {
  return Date.now() - T0;
}

interface Candidate {
  elector: LeaderElector;
  lock: FakeLeaseLock;
  events: string[];
  leading: () => AbortSignal | undefined;
  cancel: () => void;
  done: Promise<void>;
  finished: () => boolean;
}

/** Starts an elector on `store` with client-go's default timings and no jitter. */
function start(
  store: FakeLeaseStore,
  identity: string,
  overrides: Partial<LeaderElectorOptions> = {},
): Candidate {
  const lock = new FakeLeaseLock(store, identity);
  const events: string[] = [];
  let leading: AbortSignal | undefined;
  const elector = new LeaderElector({
    lock,
    identity,
    leaseDurationMs: LD,
    renewDeadlineMs: RD,
    retryPeriodMs: RP,
    random: () => 0,
    callbacks: {
      onStartedLeading: (signal) => {
        events.push(`started@${elapsed()}`);
        leading = signal;
        signal.addEventListener("abort", () => events.push(`aborted@${elapsed()}`));
      },
      onStoppedLeading: () => events.push(`stopped@${elapsed()}`),
      onNewLeader: (id) => events.push(`leader:${id}`),
    },
    ...overrides,
  });
  const controller = new AbortController();
  let finished = false;
  const done = elector.run(controller.signal).then(() => {
    finished = true;
  });
  return {
    elector,
    lock,
    events,
    leading: () => leading,
    cancel: () => {
      controller.abort();
    },
    done,
    finished: () => finished,
  };
}

async function statusOf(registry: Registry, name: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric("leader_election_master_status")?.get();
  return metric?.values.find((v) => v.labels.name === name)?.value;
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("LeaderElector options", () => {
  const store = new FakeLeaseStore();
  const base: LeaderElectorOptions = {
    lock: new FakeLeaseLock(store, "a"),
    identity: "a",
    leaseDurationMs: LD,
    renewDeadlineMs: RD,
    retryPeriodMs: RP,
    callbacks: { onStartedLeading: () => undefined, onStoppedLeading: () => undefined },
  };

  it.each<[string, Partial<LeaderElectorOptions>, RegExp]>([
    [
      "leaseDuration equal to renewDeadline",
      { leaseDurationMs: RD },
      /leaseDurationMs .*renewDeadlineMs/,
    ],
    [
      "renewDeadline equal to 1.2 × retryPeriod",
      { renewDeadlineMs: 2_400 },
      /renewDeadlineMs \(2400\).*retryPeriodMs × 1.2/,
    ],
    ["zero leaseDuration", { leaseDurationMs: 0 }, /leaseDurationMs must be .*greater than zero/],
    [
      "negative renewDeadline",
      { renewDeadlineMs: -1 },
      /renewDeadlineMs must be .*greater than zero/,
    ],
    ["NaN retryPeriod", { retryPeriodMs: Number.NaN }, /retryPeriodMs must be a finite number/],
    [
      "a fractional leaseDuration in seconds",
      { leaseDurationMs: 15_500 },
      /whole number of seconds/,
    ],
    ["an empty identity", { identity: "" }, /identity must be a non-empty string/],
    ["a zero request timeout", { requestTimeoutMs: 0 }, /requestTimeoutMs/],
    [
      "a missing onStoppedLeading",
      { callbacks: { onStartedLeading: () => undefined } as unknown as LeaderCallbacks },
      /callbacks.onStoppedLeading/,
    ],
  ])("rejects %s, naming the option", (_, override, message) => {
    expect(() => new LeaderElector({ ...base, ...override })).toThrow(message);
  });

  it("accepts renewDeadline just above 1.2 × retryPeriod, as client-go does", () => {
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_401 })).not.toThrow();
  });

  it("runs only once", async () => {
    const candidate = start(new FakeLeaseStore(), "a");
    await expect(candidate.elector.run(new AbortController().signal)).rejects.toThrow(/once/);
    candidate.cancel();
    await candidate.done;
  });
});

describe("LeaderElector acquisition", () => {
  it("creates and acquires an absent lease at once", async () => {
    const store = new FakeLeaseStore();
    const registry = new Registry();
    const a = start(store, "a", { metrics: prometheusMetrics(registry), name: "podium" });
    expect(await statusOf(registry, "podium")).toBe(0);
    await advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.getLeader()).toBe("a");
    expect(a.events).toEqual(["leader:a", "started@0"]);
    expect(a.leading()?.aborted).toBe(false);
    expect(store.read()?.record).toEqual({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      acquireTime: T0,
      renewTime: T0,
      leaseTransitions: 0,
    });
    expect(await statusOf(registry, "podium")).toBe(1);
    a.cancel();
    await a.done;
    expect(await statusOf(registry, "podium")).toBe(0);
  });

  it("does not acquire a lease another holder keeps renewing", async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: "b" });
    const a = start(store, "a");
    for (let i = 0; i < 30; i++) {
      await advance(2_000);
      store.put({ holderIdentity: "b", renewTime: Date.now() }, "b");
    }
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.getLeader()).toBe("b");
    expect(a.events).toEqual(["leader:b"]);
    expect(store.writes.every((w) => w.by !== "a")).toBe(true);
    a.cancel();
    await a.done;
  });

  it("waits a full lease duration from its own observation, however old renewTime is", async () => {
    const store = new FakeLeaseStore();
    const hourAgo = T0 - 3_600_000;
    store.put({
      holderIdentity: "b",
      acquireTime: hourAgo,
      renewTime: hourAgo,
      leaseTransitions: 3,
    });
    const a = start(store, "a");
    await advance(15_999); // attempts at 0, 2, ..., 14 s: all see a valid lease
    expect(a.elector.isLeader()).toBe(false);
    await advance(1); // the attempt at 16 s: 0 + 15 s is past
    expect(a.elector.isLeader()).toBe(true);
    expect(a.events).toEqual(["leader:b", "leader:a", "started@16000"]);
    expect(store.read()?.record).toMatchObject({
      holderIdentity: "a",
      acquireTime: T0 + 16_000,
      leaseTransitions: 4,
    });
    a.cancel();
    await a.done;
  });

  it("restarts the expiry clock whenever the record changes, never trusting renewTime", async () => {
    const store = new FakeLeaseStore();
    // The holder writes renewTimes far in the past (a skewed clock) but keeps changing them.
    store.put({ holderIdentity: "b", renewTime: 0 });
    const a = start(store, "a");
    await advance(10_000); // attempts at 0, 2, ..., 10 s saw the first record
    store.put({ holderIdentity: "b", renewTime: 1 }, "b"); // first seen at 12 s
    await advance(17_999); // valid until 12 s + 15 s = 27 s
    expect(a.elector.isLeader()).toBe(false);
    await advance(1); // the attempt at 28 s takes it
    expect(a.elector.isLeader()).toBe(true);
    expect(a.events.at(-1)).toBe("started@28000");
    a.cancel();
    await a.done;
  });

  it.each([
    [60, 60_000], // observed at 0: the attempt at exactly 60 s finds it expired
    [5, 6_000], // attempts at 4 s (valid) and 6 s (expired)
  ])(
    "judges expiry by the record's leaseDurationSeconds (%i s), not its own",
    async (seconds, acquiredAt) => {
      const store = new FakeLeaseStore();
      store.put({ holderIdentity: "b", leaseDurationSeconds: seconds });
      const a = start(store, "a");
      await advance(acquiredAt - 1);
      expect(a.elector.isLeader()).toBe(false);
      await advance(1);
      expect(a.elector.isLeader()).toBe(true);
      a.cancel();
      await a.done;
    },
  );

  it('takes a released lease (holder "") at once', async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 7 });
    const a = start(store, "a");
    await advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(store.read()?.record.leaseTransitions).toBe(8);
    a.cancel();
    await a.done;
  });

  it("treats a conflict on create or update as not acquired, and retries", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    a.lock.failNext("create", "conflict");
    await advance(0);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events).toEqual([]);
    await advance(RP);
    expect(a.elector.isLeader()).toBe(true);
    a.cancel();
    await a.done;

    const store2 = new FakeLeaseStore();
    store2.put({ holderIdentity: "" });
    const b = start(store2, "b");
    b.lock.failNext("update", "conflict", 2);
    await advance(RP); // attempts at 0 and 2 s
    expect(b.elector.isLeader()).toBe(false);
    expect(b.lock.calls).toEqual(["get", "update", "get", "update"]);
    await advance(RP);
    expect(b.elector.isLeader()).toBe(true);
    b.cancel();
    await b.done;
  });

  it("loses a real race to another candidate through optimistic concurrency", async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: "" });
    const a = start(store, "a");
    const b = start(store, "b");
    // Both read the same resourceVersion before either writes.
    a.lock.behaviour = { latency: (op) => ({ before: op === "get" ? 0 : 10, after: 0 }) };
    b.lock.behaviour = { latency: (op) => ({ before: op === "get" ? 0 : 20, after: 0 }) };
    await advance(30);
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    expect(store.writes.filter((w) => w.by === "b")).toEqual([]);
    a.cancel();
    b.cancel();
    await Promise.all([a.done, b.done]);
  });

  it("reports each change of the observed holder through onNewLeader", async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: "b", leaseDurationSeconds: 4 });
    const a = start(store, "a");
    await advance(2_000);
    store.put({ holderIdentity: "c", leaseDurationSeconds: 4 });
    await advance(8_000);
    expect(a.events.filter((e) => e.startsWith("leader:"))).toEqual([
      "leader:b",
      "leader:c",
      "leader:a",
    ]);
    a.cancel();
    await a.done;
  });
});

describe("LeaderElector leading", () => {
  it("renews every retryPeriod on the fast path, keeping acquireTime and leaseTransitions", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    await advance(0);
    const created = store.read();
    await advance(RP * 3);
    const renewed = store.read();
    expect(renewed?.record).toEqual({
      ...created?.record,
      renewTime: T0 + RP * 3,
    });
    expect(Number(renewed?.resourceVersion)).toBe(Number(created?.resourceVersion) + 3);
    expect(a.lock.calls).toEqual(["get", "create", "update", "update", "update"]);
    expect(a.elector.isLeader()).toBe(true);
    a.cancel();
    await a.done;
  });

  it("falls back to a read when the optimistic renewal conflicts, and counts it", async () => {
    const store = new FakeLeaseStore();
    const registry = new Registry();
    const a = start(store, "a", { metrics: prometheusMetrics(registry), name: "podium" });
    await advance(0);
    store.touch(); // someone labelled the Lease: same record, new resourceVersion
    await advance(RP);
    expect(a.lock.calls.slice(2)).toEqual(["update", "get", "update"]);
    expect(a.elector.isLeader()).toBe(true);
    const slowpath = await registry.getSingleMetric("leader_election_slowpath_total")?.get();
    expect(slowpath?.values[0]?.value).toBe(1);
    a.cancel();
    await a.done;
  });

  it("loses leadership exactly renewDeadline after the last successful renewal began", async () => {
    const store = new FakeLeaseStore();
    const registry = new Registry();
    const a = start(store, "a", { metrics: prometheusMetrics(registry), name: "podium" });
    await advance(RP); // acquired at 0, renewed at 2 s
    a.lock.behaviour = { fail: () => "other" };
    await advance(RD - 1); // retries at 4, 6, 8, 10 s all fail
    expect(a.elector.isLeader()).toBe(true);
    expect(a.leading()?.aborted).toBe(false);
    await advance(1); // 2 s + 10 s
    expect(a.elector.isLeader()).toBe(false);
    expect(a.leading()?.aborted).toBe(true);
    expect(await statusOf(registry, "podium")).toBe(0);
    await a.done;
    expect(a.events).toEqual(["leader:a", "started@0", "aborted@12000", "stopped@12000"]);
  });

  it("aborts the leading signal at the deadline even while a renewal hangs, and times requests out", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    await advance(0);
    a.lock.behaviour = { latency: () => ({ before: 60_000, after: 0 }) };
    await advance(RD - 1);
    expect(a.elector.isLeader()).toBe(true);
    await advance(1);
    expect(a.leading()?.aborted).toBe(true);
    await a.done;
    // The renewal at 2 s: its optimistic update times out at 7 s (min(RD/2, 5 s)),
    // the read it falls back to is cut at the deadline, 10 s.
    expect(a.lock.calls).toEqual(["get", "create", "update", "get"]);
    expect(store.writes).toHaveLength(1);
  });

  it("stops leading as soon as it reads another holder, without waiting for the deadline", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    await advance(0);
    store.put({ holderIdentity: "c", leaseTransitions: 1 }); // someone judged us expired
    await advance(RP);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events).toEqual(["leader:a", "started@0", "leader:c", "aborted@2000", "stopped@2000"]);
    expect(store.read()?.record.holderIdentity).toBe("c");
    await a.done;
  });

  it("increments leaseTransitions only when the holder changes", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    await advance(RP * 5);
    expect(store.writes.map((w) => w.record.leaseTransitions)).toEqual([0, 0, 0, 0, 0, 0]);
    a.cancel();
    await a.done;
    // The same identity restarted: it renews at once, keeping transitions and acquireTime.
    const a2 = start(store, "a");
    await advance(0);
    expect(a2.elector.isLeader()).toBe(true);
    expect(store.read()?.record).toMatchObject({ leaseTransitions: 0, acquireTime: T0 });
    a2.cancel();
    await a2.done;
    // Another identity takes over after expiry: one transition.
    const b = start(store, "b");
    await advance(LD + RP);
    expect(b.elector.isLeader()).toBe(true);
    expect(store.read()?.record.leaseTransitions).toBe(1);
    b.cancel();
    await b.done;
  });
});

describe("LeaderElector logging", () => {
  it("takes a pino logger", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const a = start(new FakeLeaseStore(), "a", { logger: pino({ level: "debug" }, sink) });
    await advance(0);
    a.cancel();
    await a.done;
    expect(lines.join("")).toContain("successfully acquired lease");
  });
});

describe("LeaderElector cancel and release", () => {
  it("releases on cancel, and a candidate acquires on its next retry", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a", { releaseOnCancel: true });
    await advance(0);
    const b = start(store, "b");
    await advance(RP * 2 + 500);
    expect(b.elector.isLeader()).toBe(false);
    a.cancel();
    await a.done;
    expect(a.leading()?.aborted).toBe(true);
    expect(store.read()?.record).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: Date.now(),
      renewTime: Date.now(),
      leaseTransitions: 0,
    });
    expect(a.events.at(-1)).toBe(`stopped@${elapsed()}`);
    const releasedAt = elapsed();
    await advance(RP);
    expect(b.elector.isLeader()).toBe(true);
    expect(elapsed() - releasedAt).toBeLessThanOrEqual(RP);
    expect(store.read()?.record).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    b.cancel();
    await b.done;
  });

  it("does not release without releaseOnCancel: the candidate waits for expiry", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    await advance(0);
    const b = start(store, "b");
    await advance(RP * 2 + 500); // a renewed at 4 s; b saw it at 4 s
    a.cancel();
    await a.done;
    expect(store.read()?.record.holderIdentity).toBe("a");
    await advance(14_000); // 18.5 s: 4 s + 15 s not yet past
    expect(b.elector.isLeader()).toBe(false);
    await advance(2_000);
    expect(b.elector.isLeader()).toBe(true);
    b.cancel();
    await b.done;
  });

  it("waits for the work to stop before releasing", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a", {
      releaseOnCancel: true,
      callbacks: {
        onStartedLeading: (signal) =>
          new Promise<void>((resolve) => {
            signal.addEventListener("abort", () => {
              setTimeout(resolve, 3_000); // the work drains for 3 s
            });
          }),
        onStoppedLeading: () => undefined,
      },
    });
    await advance(RP);
    a.cancel();
    await advance(2_999);
    expect(store.read()?.record.holderIdentity).toBe("a");
    expect(a.finished()).toBe(false);
    await advance(1);
    expect(store.read()?.record.holderIdentity).toBe("");
    await a.done;
  });

  it("does not release if the work outlives the renew deadline", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a", {
      releaseOnCancel: true,
      callbacks: {
        onStartedLeading: () => new Promise<void>(() => undefined), // never stops
        onStoppedLeading: () => undefined,
      },
    });
    await advance(RP); // renewed at 2 s: deadline 12 s
    a.cancel();
    await advance(RD);
    await a.done;
    expect(store.read()?.record.holderIdentity).toBe("a");
  });

  it("releases on the latest resourceVersion if only metadata changed, and not at all if another holder took over", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a", { releaseOnCancel: true });
    await advance(0);
    store.touch();
    a.cancel();
    await a.done;
    expect(store.read()?.record.holderIdentity).toBe("");

    const store2 = new FakeLeaseStore();
    const b = start(store2, "b", { releaseOnCancel: true });
    await advance(0);
    store2.put({ holderIdentity: "c" });
    b.cancel();
    await b.done;
    expect(store2.read()?.record.holderIdentity).toBe("c");
  });

  it("calls onStoppedLeading once even if it never led", async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: "b" });
    const a = start(store, "a", { releaseOnCancel: true });
    await advance(5_000);
    a.cancel();
    await a.done;
    expect(a.events).toEqual(["leader:b", "stopped@5000"]);
    expect(store.read()?.record.holderIdentity).toBe("b");
  });

  it("stops promptly when cancelled mid-request, and never starts leading", async () => {
    const store = new FakeLeaseStore();
    const a = start(store, "a");
    a.lock.behaviour = { latency: () => ({ before: 0, after: 1_000 }) };
    await advance(500); // the first get is still in flight
    a.cancel();
    await a.done;
    expect(a.events).toEqual(["stopped@500"]);
    expect(a.elector.isLeader()).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { NodeRechecks } from "../../../src/controller/node-rechecks.ts";
import type { Clock, Timer } from "../../../src/kube/clock.ts";

const T0 = 1_000_000;
const GRACE = 40_000;

/** A clock whose time moves only by `advance`, firing due timers in order. */
function manualClock(): Clock & { advance(ms: number): void; pending(): number } {
  let now = T0;
  let timers: { at: number; fn: () => void; handle: Timer }[] = [];
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const handle = {};
      timers.push({ at: now + ms, fn, handle });
      return handle;
    },
    clearTimeout: (handle) => {
      timers = timers.filter((t) => t.handle !== handle);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
    pending: () => timers.length,
  };
}

function setup() {
  const clock = manualClock();
  const heartbeats = new Map<string, number>();
  const queued: string[] = [];
  const rechecks = new NodeRechecks({
    clock,
    heartbeatAt: (name) => heartbeats.get(name),
    enqueue: (key, at) => queued.push(`${key}@+${String(at - T0)}`),
  });
  return { clock, heartbeats, queued, rechecks };
}

describe("node rechecks", () => {
  it("keeps one timer per node however many groups hold there, and queues nothing while the kubelet renews", () => {
    const { clock, heartbeats, queued, rechecks } = setup();
    heartbeats.set("n1", T0);
    for (let i = 0; i < 100; i++) rechecks.watch(`ns/g${String(i)}`, "n1", GRACE);
    expect(clock.pending()).toBe(1);

    // The kubelet renews every 10 s for ten minutes: no group is reconciled for it.
    for (let t = 10_000; t <= 600_000; t += 10_000) {
      clock.advance(10_000);
      heartbeats.set("n1", T0 + t);
    }
    expect(queued).toEqual([]);
    expect(clock.pending()).toBe(1);
  });

  it("queues only the groups whose holder is on the silent node, at the instant it went stale", () => {
    const { clock, heartbeats, queued, rechecks } = setup();
    heartbeats.set("n1", T0);
    heartbeats.set("n2", T0);
    rechecks.watch("ns/a", "n1", GRACE);
    rechecks.watch("ns/b", "n2", GRACE);
    rechecks.watch("ns/c", "n1", 2 * GRACE);

    // n2 keeps renewing; n1 falls silent.
    for (let t = 10_000; t <= 100_000; t += 10_000) {
      clock.advance(10_000);
      heartbeats.set("n2", T0 + t);
    }
    // Each group by its own grace; the group on the renewing node never.
    expect(queued).toEqual([`ns/a@+${String(GRACE)}`, `ns/c@+${String(2 * GRACE)}`]);
    expect(clock.pending()).toBe(1);
  });

  it("follows a holder to its new node and forgets a group", () => {
    const { clock, heartbeats, queued, rechecks } = setup();
    heartbeats.set("n1", T0);
    heartbeats.set("n2", T0 + 30_000);
    rechecks.watch("ns/a", "n1", GRACE);
    rechecks.watch("ns/a", "n2", GRACE);
    rechecks.watch("ns/b", "n1", GRACE);
    rechecks.forget("ns/b");
    expect(clock.pending()).toBe(1);

    clock.advance(GRACE);
    expect(queued).toEqual([]);
    clock.advance(30_000);
    expect(queued).toEqual([`ns/a@+${String(GRACE + 30_000)}`]);
    expect(clock.pending()).toBe(0);
  });
});

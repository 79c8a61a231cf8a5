import { describe, expect, it } from "vitest";
import { Backoff, ItemExponentialRateLimiter } from "../../../src/kube/backoff.ts";
import type { Clock } from "../../../src/kube/clock.ts";

/** A clock whose time only moves when the test says so; these tests set no timers. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    setTimeout: () => {
      throw new Error("unused");
    },
    clearTimeout: () => undefined,
    advance: (ms) => {
      now += ms;
    },
  };
}

describe("Backoff", () => {
  it("doubles from 800 ms to a 30 s cap without jitter", () => {
    const backoff = new Backoff({ clock: manualClock(), jitter: 0 });
    const delays = Array.from({ length: 9 }, () => backoff.next());
    expect(delays).toEqual([800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it("spreads each delay over [base, 2 * base) with jitter 1.0", () => {
    const low = new Backoff({ clock: manualClock(), random: () => 0 });
    const high = new Backoff({ clock: manualClock(), random: () => 0.999 });
    expect([low.next(), low.next()]).toEqual([800, 1600]);
    const first = high.next();
    const second = high.next();
    expect(first).toBeGreaterThan(1590);
    expect(first).toBeLessThan(1600);
    expect(second).toBeGreaterThan(3190);
    expect(second).toBeLessThan(3200);
  });

  it("starts over after two minutes without a failure", () => {
    const clock = manualClock();
    const backoff = new Backoff({ clock, jitter: 0 });
    backoff.next();
    backoff.next();
    clock.advance(119_000);
    expect(backoff.next()).toBe(3200);
    clock.advance(120_001);
    expect(backoff.next()).toBe(800);
  });

  it("starts over on reset()", () => {
    const backoff = new Backoff({ clock: manualClock(), jitter: 0 });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(800);
  });
});

describe("ItemExponentialRateLimiter", () => {
  it("doubles per item from 5 ms, independently per key, until forgotten", () => {
    const limiter = new ItemExponentialRateLimiter();
    expect([limiter.when("a"), limiter.when("a"), limiter.when("a")]).toEqual([5, 10, 20]);
    expect(limiter.when("b")).toBe(5);
    expect(limiter.numRequeues("a")).toBe(3);
    limiter.forget("a");
    expect(limiter.numRequeues("a")).toBe(0);
    expect(limiter.when("a")).toBe(5);
  });

  it("caps at maxMs, 1000 s by default, and never overflows", () => {
    const limiter = new ItemExponentialRateLimiter();
    let last = 0;
    for (let i = 0; i < 2000; i++) last = limiter.when("a");
    expect(last).toBe(1_000_000);
    const capped = new ItemExponentialRateLimiter({ baseMs: 100, maxMs: 300 });
    expect([capped.when("a"), capped.when("a"), capped.when("a")]).toEqual([100, 200, 300]);
  });
});

/**
 * The API requests' rate limit: the queue a burst makes, and the urgent lane
 * that lets a fail-over's writes go ahead of it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  RequestLimiter,
  TokenBucket,
  isUrgent,
  reconsiderUrgency,
  runUrgent,
  runUrgentWhile,
} from "../../../src/kube/limiter.ts";

describe("TokenBucket", () => {
  it("lets a burst through, then spaces requests at qps", () => {
    let now = 0;
    const bucket = new TokenBucket(10, 2, () => now);
    expect([1, 2, 3, 4].map(() => bucket.reserve())).toEqual([0, 0, 100, 200]);
    now = 1000;
    // 10 tokens came in a second, the queue of two is paid off and two are saved (the burst).
    expect([1, 2, 3].map(() => bucket.reserve())).toEqual([0, 0, 100]);
  });

  it("never waits without a limit (qps 0)", () => {
    const bucket = new TokenBucket(0, 1, () => 0);
    expect([1, 2, 3].map(() => bucket.reserve())).toEqual([0, 0, 0]);
  });
});

describe("RequestLimiter", () => {
  it("an urgent request goes ahead of a queue of ordinary ones, which then wait one slot longer", () => {
    const limiter = new RequestLimiter(10, 2, () => 0);
    // 20 status writes queue up: the last waits 1.8 s.
    const queued = Array.from({ length: 20 }, () => limiter.reserve(false));
    expect(queued.at(-1)).toBe(1800);
    // A fail-over's writes do not wait behind them.
    expect([1, 2, 3].map(() => limiter.reserve(true))).toEqual([0, 0, 100]);
    // Their tokens came out of the shared bucket too.
    expect(limiter.reserve(false)).toBe(2200);
  });

  it("bounds urgent requests by their own bucket (a mass fail-over)", () => {
    const limiter = new RequestLimiter(10, 2, () => 0);
    const waits = Array.from({ length: 12 }, () => limiter.reserve(true));
    expect(waits.slice(0, 3)).toEqual([0, 0, 100]);
    expect(waits.at(-1)).toBe(1000);
  });
});

describe("RequestLimiter.waitTurn", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("cuts an ordinary request's wait short once it turns urgent (its group's fail-over waits for it)", async () => {
    vi.useFakeTimers();
    const limiter = new RequestLimiter(10, 1, () => Date.now());
    for (let i = 0; i < 10; i++) limiter.reserve(false); // a second of renewals queued ahead
    let failoverWaiting = false;
    let wentAt: number | undefined;
    const started = Date.now();
    const request = runUrgentWhile(
      () => failoverWaiting,
      async () => {
        await limiter.waitTurn(undefined);
        wentAt = Date.now() - started;
      },
    );
    await vi.advanceTimersByTimeAsync(50);
    expect(wentAt).toBeUndefined();
    failoverWaiting = true;
    reconsiderUrgency();
    await vi.advanceTimersByTimeAsync(0);
    await request;
    expect(wentAt).toBe(50);
  });

  it("leaves an ordinary request queued when it is not urgent, and rejects when aborted", async () => {
    vi.useFakeTimers();
    const limiter = new RequestLimiter(10, 1, () => Date.now());
    limiter.reserve(false);
    let went = false;
    const request = runUrgentWhile(
      () => false,
      async () => {
        await limiter.waitTurn(undefined);
        went = true;
      },
    );
    reconsiderUrgency();
    await vi.advanceTimersByTimeAsync(99);
    expect(went).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await request;
    expect(went).toBe(true);

    const aborted = new AbortController();
    const waiting = limiter.waitTurn(aborted.signal);
    aborted.abort(new Error("stopped leading"));
    await expect(waiting).rejects.toThrow("stopped leading");
  });
});

describe("runUrgent", () => {
  it("marks the code it runs, across awaits, and nothing outside it", async () => {
    expect(isUrgent()).toBe(false);
    const seen = await runUrgent(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return isUrgent();
    });
    expect(seen).toBe(true);
    expect(isUrgent()).toBe(false);
  });

  it("asks runUrgentWhile's test at each request: ordinary work can turn urgent midway", async () => {
    let waitedFor = false;
    const seen = await runUrgentWhile(
      () => waitedFor,
      async () => {
        const before = isUrgent();
        waitedFor = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        return [before, isUrgent()];
      },
    );
    expect(seen).toEqual([false, true]);
    expect(isUrgent()).toBe(false);
  });
});

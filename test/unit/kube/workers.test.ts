import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RequestLimiter, isUrgent } from "../../../src/kube/limiter.ts";
import { TerminalError, runWorkers } from "../../../src/kube/workers.ts";
import type { Result } from "../../../src/kube/workers.ts";
import { WorkQueue } from "../../../src/kube/workqueue.ts";
import { metricValue } from "./metric-value.ts";

// The default clock of the queue and the workers reads the global timers at
// call time, so fake timers drive both; every wait below is virtual.
beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A promise and the function that resolves it, for handlers the test releases by hand. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe("runWorkers", () => {
  it("hands each key the earliest detection time of its round, and none to a requeue", async () => {
    const queue = new WorkQueue({ name: "test" });
    const got: (number | undefined)[] = [];
    const first = gate();
    let calls = 0;
    const runner = runWorkers(queue, 1, async (_key, _signal, detectedAt) => {
      got.push(detectedAt);
      calls++;
      if (calls === 1) await first.promise;
      return calls === 2 ? { requeueAfterMs: 10 } : {};
    });
    queue.add("ns/a", 100);
    queue.add("ns/a", 200); // the same change seen again: the earlier time stays
    await vi.advanceTimersByTimeAsync(0);
    queue.add("ns/a", 300); // seen while in flight: the next round's time
    first.open();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(10); // the requeue: no change was detected
    expect(got).toEqual([100, 300, undefined]);
    queue.shutDown();
    await runner;
  });

  it("runs a key queued for a detected change as urgent (its requests skip the limiter's queue)", async () => {
    const queue = new WorkQueue({ name: "test" });
    const urgent = new Map<string, boolean>();
    const runner = runWorkers(queue, 1, async (key) => {
      await Promise.resolve();
      urgent.set(key, isUrgent());
      return {};
    });
    queue.add("ns/failover", 100);
    queue.add("ns/resync");
    await vi.advanceTimersByTimeAsync(0);
    expect(Object.fromEntries(urgent)).toEqual({ "ns/failover": true, "ns/resync": false });
    queue.shutDown();
    await runner;
  });

  it("makes a running resync's requests urgent once a change is detected for its key", async () => {
    const queue = new WorkQueue({ name: "test" });
    const release = gate();
    const seen: boolean[] = [];
    const runner = runWorkers(queue, 1, async () => {
      seen.push(isUrgent());
      await release.promise;
      seen.push(isUrgent());
      return {};
    });
    queue.add("ns/a"); // a resync
    await vi.advanceTimersByTimeAsync(0);
    queue.add("ns/a", 100); // the leader's pod is deleted meanwhile: its fail-over waits for this
    release.open();
    await vi.advanceTimersByTimeAsync(0);
    // The resync's second request went urgent; the fail-over's reconcile ran urgent throughout.
    expect(seen).toEqual([false, true, true, true]);
    queue.shutDown();
    await runner;
  });

  it("sends a resync's request that waits for a token at once when its key's change is detected", async () => {
    const queue = new WorkQueue({ name: "test" });
    const limiter = new RequestLimiter(10, 2, () => Date.now());
    for (let i = 0; i < 12; i++) limiter.reserve(false); // a second of other requests queued
    const finished: number[] = [];
    const started = Date.now();
    const runner = runWorkers(queue, 1, async () => {
      await limiter.waitTurn(undefined);
      finished.push(Date.now() - started);
      return {};
    });
    queue.add("ns/a"); // a resync, its status write queued behind the others
    await vi.advanceTimersByTimeAsync(20);
    queue.add("ns/a", Date.now()); // the leader's pod is deleted
    await vi.advanceTimersByTimeAsync(0);
    // The resync's write went at 20 ms, the fail-over's reconcile right after it.
    expect(finished).toEqual([20, 20]);
    queue.shutDown();
    await runner;
  });

  it("processes with bounded concurrency and never one key twice at once", async () => {
    const queue = new WorkQueue({ name: "test" });
    const gates = new Map<string, { promise: Promise<void>; open: (v: undefined) => void }>();
    let running = 0;
    let peak = 0;
    const seen: string[] = [];
    const runner = runWorkers(queue, 2, async (key) => {
      seen.push(key);
      running++;
      peak = Math.max(peak, running);
      const g = gate<undefined>();
      gates.set(key, g);
      await g.promise;
      running--;
      return {};
    });
    for (const key of ["ns/a", "ns/b", "ns/c"]) queue.add(key);
    await vi.advanceTimersByTimeAsync(0);
    expect(running).toBe(2);
    queue.add("ns/a"); // re-added while a worker holds it
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(["ns/a", "ns/b"]);

    gates.get("ns/b")?.open(undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(["ns/a", "ns/b", "ns/c"]); // not ns/a: still in flight

    gates.get("ns/a")?.open(undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(["ns/a", "ns/b", "ns/c", "ns/a"]);
    expect(peak).toBe(2);

    gates.get("ns/c")?.open(undefined);
    gates.get("ns/a")?.open(undefined);
    await queue.shutDownWithDrain();
    await runner;
  });

  it("maps results: success forgets, requeueAfter forgets and delays, errors back off, terminal errors drop", async () => {
    const registry = new Registry();
    const queue = new WorkQueue({ name: "test", registry });
    const outcomes: Record<string, () => Result> = {
      "ns/ok": () => ({}),
      "ns/later": () => ({ requeueAfterMs: 1000 }),
      "ns/fail": () => {
        throw new Error("transient");
      },
      "ns/fatal": () => {
        throw new TerminalError("invalid spec");
      },
    };
    const calls: string[] = [];
    const runner = runWorkers(
      queue,
      1,
      (key) => {
        calls.push(key);
        const outcome = outcomes[key];
        return Promise.resolve().then(() => outcome?.() ?? {});
      },
      { registry },
    );
    // Give each key a backoff history first: success must clear it.
    queue.addRateLimited("ns/ok");
    queue.addRateLimited("ns/later");
    await vi.advanceTimersByTimeAsync(5);
    expect(queue.numRequeues("ns/ok")).toBe(0);
    expect(queue.numRequeues("ns/later")).toBe(0);

    for (const key of ["ns/fail", "ns/fatal"]) queue.add(key);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual(["ns/ok", "ns/later", "ns/fail", "ns/fatal"]);
    expect(queue.numRequeues("ns/fail")).toBe(1);
    expect(queue.numRequeues("ns/fatal")).toBe(0);

    await vi.advanceTimersByTimeAsync(5); // ns/fail's first retry
    expect(calls.filter((k) => k === "ns/fail")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10); // and its second, twice as late
    expect(calls.filter((k) => k === "ns/fail")).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.filter((k) => k === "ns/later")).toHaveLength(2);
    expect(calls.filter((k) => k === "ns/fatal")).toHaveLength(1);

    const c = { controller: "test" };
    expect(
      await metricValue(registry, "controller_runtime_reconcile_total", {
        ...c,
        result: "requeue",
      }),
    ).toBe(0);
    expect(
      await metricValue(registry, "controller_runtime_reconcile_total", {
        ...c,
        result: "success",
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, "controller_runtime_reconcile_total", {
        ...c,
        result: "requeue_after",
      }),
    ).toBe(2);
    const errors = await metricValue(registry, "controller_runtime_reconcile_errors_total", c);
    expect(errors).toBe(calls.filter((k) => k === "ns/fail" || k === "ns/fatal").length);
    expect(
      await metricValue(registry, "controller_runtime_terminal_reconcile_errors_total", c),
    ).toBe(1);
    expect(await metricValue(registry, "controller_runtime_max_concurrent_reconciles", c)).toBe(1);
    expect(await metricValue(registry, "controller_runtime_active_workers", c)).toBe(0);
    expect(await registry.metrics()).toContain("controller_runtime_reconcile_time_seconds_bucket");

    queue.shutDown();
    await runner;
  });

  it("lets in-flight work finish on shutDownWithDrain, then returns", async () => {
    const queue = new WorkQueue({ name: "test" });
    const g = gate();
    let finished = false;
    const runner = runWorkers(queue, 3, async () => {
      await g.promise;
      finished = true;
      return {};
    });
    queue.add("ns/a");
    queue.add("ns/b"); // both picked up by idle workers
    await vi.advanceTimersByTimeAsync(0);
    let drained = false;
    void queue.shutDownWithDrain().then(() => {
      drained = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(false);
    g.open();
    await runner;
    expect(finished).toBe(true);
    expect(drained).toBe(true);
  });
});

import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ItemExponentialRateLimiter } from "../../../src/kube/backoff.ts";
import { WorkQueue } from "../../../src/kube/workqueue.ts";
import { metricValue } from "./metric-value.ts";

// The queue's default clock reads the global timers at call time, so fake
// timers drive it; every wait below is virtual.
beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Collects what `get` resolves with, without awaiting (a pending get stays pending). */
function track(promise: Promise<string | undefined>): {
  value: string | undefined;
  settled: boolean;
} {
  const state: { value: string | undefined; settled: boolean } = {
    value: undefined,
    settled: false,
  };
  void promise.then((value) => {
    state.value = value;
    state.settled = true;
  });
  return state;
}

describe("WorkQueue", () => {
  it("queues a key once however often it is added", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.add("ns/a");
    queue.add("ns/b");
    queue.add("ns/a");
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe("ns/a");
    expect(await queue.get()).toBe("ns/b");
    expect(queue.len()).toBe(0);
  });

  it("never hands a key being processed to a second worker, and re-queues it on done if re-added", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.add("ns/a");
    expect(await queue.get()).toBe("ns/a");
    queue.add("ns/a"); // re-added while processing
    expect(queue.len()).toBe(0);
    const second = track(queue.get());
    await vi.advanceTimersByTimeAsync(0);
    expect(second.settled).toBe(false);
    queue.done("ns/a");
    await vi.advanceTimersByTimeAsync(0);
    expect(second).toEqual({ value: "ns/a", settled: true });
  });

  it("does not re-queue a key on done when nobody re-added it", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.add("ns/a");
    expect(await queue.get()).toBe("ns/a");
    queue.done("ns/a");
    expect(queue.len()).toBe(0);
  });

  it("hands a key to a worker already waiting in get", async () => {
    const queue = new WorkQueue({ name: "test" });
    const waiting = track(queue.get());
    queue.add("ns/a");
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting).toEqual({ value: "ns/a", settled: true });
  });

  it("hands out keys with a detected change before resyncs and requeues queued earlier", async () => {
    const queue = new WorkQueue({ name: "test" });
    for (let i = 0; i < 1000; i++) queue.add(`idle/g${String(i)}`);
    queue.add("shop/web", 5);
    expect(queue.len()).toBe(1001);
    expect(await queue.get()).toBe("shop/web");
    expect(queue.takeDetectedAt("shop/web")).toBe(5);
    expect(await queue.get()).toBe("idle/g0");
  });

  it("moves a queued resync ahead when a change for the same key is detected", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.add("ns/a");
    queue.add("ns/b");
    queue.add("ns/b", 7);
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe("ns/b");
    expect(await queue.get()).toBe("ns/a");
    // The stale entry of ns/b hands out nothing more.
    expect(queue.len()).toBe(0);
    const next = track(queue.get());
    await Promise.resolve();
    expect(next.settled).toBe(false);
    queue.add("ns/c");
    await Promise.resolve();
    expect(next.value).toBe("ns/c");
  });

  it("re-queues a key changed while it was processed ahead of resyncs", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.add("ns/a");
    const key = await queue.get();
    queue.add("ns/z");
    queue.add("ns/a", 9);
    if (key !== undefined) queue.done(key);
    expect(await queue.get()).toBe("ns/a");
    expect(await queue.get()).toBe("ns/z");
  });

  it("adds delayed keys in time order", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.addAfter("ns/late", 300);
    queue.addAfter("ns/early", 100);
    queue.addAfter("ns/mid", 200);
    await vi.advanceTimersByTimeAsync(99);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(queue.len()).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect([await queue.get(), await queue.get(), await queue.get()]).toEqual([
      "ns/early",
      "ns/mid",
      "ns/late",
    ]);
  });

  it("keeps the earliest pending time when a key is delayed twice", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.addAfter("ns/a", 1000);
    queue.addAfter("ns/a", 100); // earlier wins
    queue.addAfter("ns/a", 5000); // later is ignored
    await vi.advanceTimersByTimeAsync(100);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("ns/a");
    queue.done("ns/a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(queue.len()).toBe(0); // neither the 1 s nor the 5 s entry fires again
  });

  it("adds at once for a non-positive delay", () => {
    const queue = new WorkQueue({ name: "test" });
    queue.addAfter("ns/a", 0);
    expect(queue.len()).toBe(1);
  });

  it("backs off a failing key exponentially until it is forgotten", async () => {
    const queue = new WorkQueue({ name: "test" });
    const readyAfter = async (): Promise<number> => {
      let waited = 0;
      while (queue.len() === 0) {
        await vi.advanceTimersByTimeAsync(1);
        waited++;
      }
      const key = await queue.get();
      if (key) queue.done(key);
      return waited;
    };
    queue.addRateLimited("ns/a");
    expect(await readyAfter()).toBe(5);
    queue.addRateLimited("ns/a");
    expect(await readyAfter()).toBe(10);
    queue.addRateLimited("ns/a");
    expect(await readyAfter()).toBe(20);
    expect(queue.numRequeues("ns/a")).toBe(3);
    queue.forget("ns/a");
    queue.addRateLimited("ns/a");
    expect(await readyAfter()).toBe(5);
  });

  it("honours a configured backoff cap", async () => {
    const queue = new WorkQueue({
      name: "test",
      rateLimiter: new ItemExponentialRateLimiter({ baseMs: 1000, maxMs: 1500 }),
    });
    queue.addRateLimited("ns/a");
    await vi.advanceTimersByTimeAsync(1000);
    const first = await queue.get();
    if (first) queue.done(first);
    queue.addRateLimited("ns/a");
    await vi.advanceTimersByTimeAsync(1499);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(queue.len()).toBe(1);
  });

  it("on shutdown wakes waiting workers with undefined and ignores later adds", async () => {
    const queue = new WorkQueue({ name: "test" });
    const waiting = track(queue.get());
    queue.addAfter("ns/delayed", 10);
    await queue.shutDownWithDrain();
    await vi.advanceTimersByTimeAsync(100);
    expect(waiting).toEqual({ value: undefined, settled: true });
    queue.add("ns/a");
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });

  it("drains: shutDownWithDrain resolves only after in-flight keys are done", async () => {
    const queue = new WorkQueue({ name: "test" });
    queue.add("ns/a");
    queue.add("ns/b");
    const a = await queue.get();
    const b = await queue.get();
    let drained = false;
    void queue.shutDownWithDrain().then(() => {
      drained = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(false);
    if (a) queue.done(a);
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(false);
    if (b) queue.done(b);
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(true);
  });

  it("exports workqueue_* metrics with controller-runtime names and labels", async () => {
    const registry = new Registry();
    const queue = new WorkQueue({ name: "electiongroup", registry });
    // A second queue on the same registry must not collide.
    new WorkQueue({ name: "other", registry }).add("x/y");
    queue.add("ns/a");
    queue.add("ns/b");
    queue.add("ns/a");
    const labels = { name: "electiongroup", controller: "electiongroup" };
    expect(await metricValue(registry, "workqueue_depth", labels)).toBe(2);
    expect(await metricValue(registry, "workqueue_adds_total", labels)).toBe(2);
    await vi.advanceTimersByTimeAsync(2000);
    const key = await queue.get();
    await vi.advanceTimersByTimeAsync(3000);
    expect(await metricValue(registry, "workqueue_unfinished_work_seconds", labels)).toBe(3);
    expect(await metricValue(registry, "workqueue_longest_running_processor_seconds", labels)).toBe(
      3,
    );
    if (key) queue.done(key);
    queue.addRateLimited("ns/c");
    expect(await metricValue(registry, "workqueue_retries_total", labels)).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain(
      'workqueue_queue_duration_seconds_sum{name="electiongroup",controller="electiongroup"} 2',
    );
    expect(text).toContain(
      'workqueue_work_duration_seconds_sum{name="electiongroup",controller="electiongroup"} 3',
    );
  });
});

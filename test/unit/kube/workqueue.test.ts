import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ItemExponentialRateLimiter } from "../../../src/kube/backoff.ts";
import { TerminalError, WorkQueue, runWorkers } from "../../../src/kube/workqueue.ts";
import type { Result } from "../../../src/kube/workqueue.ts";

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

/** A promise and the function that resolves it, for handlers the test releases by hand. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric as { values?: { labels: Record<string, unknown>; value: number }[] })
    .values;
  return values?.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
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

describe("runWorkers", () => {
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

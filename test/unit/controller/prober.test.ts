import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Prober } from "../../../src/controller/prober.ts";
import type { ProbeTarget } from "../../../src/controller/prober.ts";
import type { Dial } from "../../../src/controller/probe-dial.ts";
import { realClock } from "../../../src/kube/clock.ts";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A dial whose answer per IP the test sets: "ok", "refused", or "hang" (fails at its timeout). */
function fakeDial() {
  const answers = new Map<string, "ok" | "refused" | "hang">();
  const calls: { ip: string; at: number }[] = [];
  const dial: Dial = (ip, _action, timeoutMs) => {
    calls.push({ ip, at: Date.now() });
    const a = answers.get(ip) ?? "ok";
    return new Promise((resolve) => {
      if (a === "hang") {
        setTimeout(() => {
          resolve("timed out");
        }, timeoutMs);
      } else {
        queueMicrotask(() => {
          resolve(a === "ok" ? undefined : "connection refused");
        });
      }
    });
  };
  return { dial, answers, calls };
}

const target = (uid: string, ip: string): ProbeTarget => ({
  uid,
  pod: uid,
  ip,
  action: { kind: "tcp", port: 80 },
  periodMs: 1000,
  timeoutMs: 1000,
  failureThreshold: 2,
});

describe("the prober", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function prober(dial: Dial, concurrency = 64) {
    const changes: { key: string; at: number }[] = [];
    const p = new Prober({
      clock: realClock,
      dial,
      concurrency,
      registry: new Registry(),
      onChange: (key, at) => changes.push({ key, at }),
    });
    return { p, changes };
  }

  it("probes each target once per period, and queues the group when it crosses the threshold and when it passes again", async () => {
    const f = fakeDial();
    const { p, changes } = prober(f.dial);
    p.set("ns/a", [target("u1", "10.244.0.1")]);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(f.calls.map((c) => c.at - T0)).toEqual([0, 1000, 2000]);
    expect(p.record("ns/a", "u1")?.consecutiveFailures).toBe(0);

    f.answers.set("10.244.0.1", "hang");
    await vi.advanceTimersByTimeAsync(3_000); // attempts at 3 s and 4 s time out at 4 s and 5 s
    expect(p.record("ns/a", "u1")).toMatchObject({
      consecutiveFailures: 2,
      lastError: "timed out",
    });
    // (fake timers may fire a re-armed timer a millisecond late, per period)
    expect(changes.map((c) => c.key)).toEqual(["ns/a"]);
    expect(Math.abs((changes[0]?.at ?? 0) - T0 - 5000)).toBeLessThanOrEqual(10);

    f.answers.set("10.244.0.1", "ok");
    await vi.advanceTimersByTimeAsync(1_500);
    expect(p.record("ns/a", "u1")?.consecutiveFailures).toBe(0);
    expect(changes).toHaveLength(2);
    expect(Math.abs((changes[1]?.at ?? 0) - T0 - 6000)).toBeLessThanOrEqual(10);
    p.stop();
  });

  it("stops probing a pod that is no longer a target, and a group it forgets", async () => {
    const f = fakeDial();
    const { p } = prober(f.dial);
    p.set("ns/a", [target("u1", "10.244.0.1"), target("u2", "10.244.0.2")]);
    await vi.advanceTimersByTimeAsync(500);
    p.set("ns/a", [target("u2", "10.244.0.2")]);
    expect(p.record("ns/a", "u1")).toBeUndefined();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(f.calls.filter((c) => c.ip === "10.244.0.1")).toHaveLength(1);
    p.forget("ns/a");
    const before = f.calls.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(f.calls.length).toBe(before);
    expect(p.size).toBe(0);
  });

  it("keeps at most `concurrency` attempts in flight", async () => {
    const f = fakeDial();
    const { p } = prober(f.dial, 2);
    for (let i = 0; i < 4; i++) f.answers.set(`10.244.0.${String(i)}`, "hang");
    p.set(
      "ns/a",
      [0, 1, 2, 3].map((i) => target(`u${String(i)}`, `10.244.0.${String(i)}`)),
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(f.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(f.calls).toHaveLength(4);
    p.stop();
  });

  it("probes 1,000 groups with one timer, each once per period, at a small cost", async () => {
    const f = fakeDial();
    const { p } = prober(f.dial, 256);
    for (let g = 0; g < 1000; g++) {
      p.set(`ns/g${String(g)}`, [
        target(`u${String(g)}`, `10.244.${String(g >> 8)}.${String(g & 255)}`),
      ]);
    }
    const cpu = process.cpuUsage();
    await vi.advanceTimersByTimeAsync(10_000);
    const used = process.cpuUsage(cpu);
    // 11 rounds (t = 0 .. 10 s) of 1,000 attempts; one scheduler timer pending, not one per group.
    expect(f.calls.length).toBe(11_000);
    expect(vi.getTimerCount()).toBe(1);
    const msPerAttempt = (used.user + used.system) / 1000 / f.calls.length;
    console.log(
      `prober: ${String(f.calls.length)} attempts, ${msPerAttempt.toFixed(4)} ms of CPU each (fake dial, fake timers)`,
    );
    expect(msPerAttempt).toBeLessThan(1);
    p.stop();
  });
});

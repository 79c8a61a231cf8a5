/**
 * Podium's elector against recorded client-go behaviour: each fixture in
 * test/fixtures/clientgo (recorded from real client-go candidates on a real API
 * server by hack/record-clientgo-traces.ts) is replayed into a fake Lease
 * store on the fake clock, and a podium LeaderElector campaigns on it, either
 * next to the recorded candidates or in the place of the one that took over.
 * All time is fake; nothing sleeps.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { JITTER_FACTOR } from "../../../src/leaderelection/elector.ts";
import {
  ReplayLeaseLock,
  acquisitionBy,
  actionAt,
  advanceTo,
  candidate,
  lastRecordBefore,
  loadTrace,
  startPodium,
} from "./trace-replay.ts";
import type { PodiumCandidate, Trace, TraceRecord, TraceSpec } from "./trace-replay.ts";

const steady = loadTrace("steady");
const crash = loadTrace("crash");
const release = loadTrace("release");
const recordDuration = loadTrace("record-duration");

/** Jitter draws for podium's retry period: from none to the maximum, `retryPeriod × 2.2`. */
const RANDOMS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.999];

/** A MicroTime as the API server serialises it, and as a PUT must carry it: six fractional digits. */
const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** The longest a candidate polling every retryPeriod (jittered) takes to notice a change. */
function pollGap(retryPeriodMs: number): number {
  return retryPeriodMs * (1 + JITTER_FACTOR);
}

function install(trace: Trace): void {
  vi.useRealTimers();
  vi.useFakeTimers({ now: trace.startedAtUnixMs });
}

afterEach(() => {
  vi.useRealTimers();
});

/** The writer's own clock when it wrote `record` (its renewTime), in trace time. */
function writtenAt(trace: Trace, record: TraceRecord): number {
  return Date.parse(record.spec.renewTime ?? "") - trace.startedAtUnixMs;
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("missing from the trace");
  return value;
}

function durationMs(record: TraceRecord): number {
  return (record.spec.leaseDurationSeconds ?? 0) * 1000;
}

async function finish(podium: PodiumCandidate): Promise<void> {
  podium.lock.stop();
  podium.cancel();
  await vi.advanceTimersByTimeAsync(0);
  await podium.done;
}

function traceNowOf(trace: Trace): number {
  return Date.now() - trace.startedAtUnixMs;
}

/**
 * Replays `trace` up to (not including) the takeover by `taker`, and starts
 * podium in the taker's place (its timings, `phase` ms after the taker was
 * started); runs until podium has led for `leadMs`.
 */
async function takeOver(
  trace: Trace,
  taker: string,
  options: { random?: number; phase?: number; leadMs?: number; releaseOnCancel?: boolean } = {},
): Promise<{ podium: PodiumCandidate; lock: ReplayLeaseLock; acquiredAt: number }> {
  install(trace);
  const takeover = acquisitionBy(trace, taker);
  const lock = new ReplayLeaseLock(trace, { until: takeover.t });
  await advanceTo(trace, actionAt(trace, taker, "start") + (options.phase ?? 0));
  const timings = candidate(trace, taker);
  const random = options.random ?? 0;
  const podium = startPodium(lock, {
    timings,
    random: () => random,
    releaseOnCancel: options.releaseOnCancel ?? false,
  });
  const limit = takeover.t + 4 * candidate(trace, "cg-a").leaseDurationMs;
  while (podium.startedLeadingAt() === undefined && traceNowOf(trace) < limit) {
    await vi.advanceTimersByTimeAsync(timings.retryPeriodMs / 4);
  }
  const acquiredAt = podium.startedLeadingAt();
  if (acquiredAt === undefined) throw new Error(`${trace.scenario}: podium never acquired`);
  await advanceTo(trace, acquiredAt + (options.leadMs ?? 0));
  return { podium, lock, acquiredAt };
}

/**
 * The relations a leader-election write has to the version it replaced:
 * which fields are set, whether the holder changed, how leaseTransitions
 * moved, which times were kept or renewed, and that times are MicroTimes.
 */
function shapeOf(previous: TraceSpec, next: TraceSpec): Record<string, unknown> {
  const renew = Date.parse(next.renewTime ?? "");
  const acquire = Date.parse(next.acquireTime ?? "");
  return {
    fields: Object.keys(next).sort(),
    released: next.holderIdentity === "",
    holderChanged: next.holderIdentity !== previous.holderIdentity,
    leaseTransitionsDelta: (next.leaseTransitions ?? 0) - (previous.leaseTransitions ?? 0),
    acquireTimeEqualsRenewTime: next.acquireTime === next.renewTime,
    acquireTimeKept: next.acquireTime === previous.acquireTime,
    renewTimeAdvanced: renew > Date.parse(previous.renewTime ?? ""),
    microTimes: MICROTIME.test(next.acquireTime ?? "") && MICROTIME.test(next.renewTime ?? ""),
    acquireNotAfterRenew: acquire <= renew,
  };
}

describe("the recorded traces", () => {
  it.each([steady, crash, release, recordDuration])(
    "$scenario: recorded from client-go $clientGo on Kubernetes $kubernetes, with only the leader-election fields",
    (trace) => {
      expect(trace.clientGo).toMatch(/^v0\.\d+\.\d+/);
      expect(trace.records.length).toBeGreaterThan(3);
      for (const record of trace.records) {
        expect(Object.keys(record).sort()).toEqual(["resourceVersion", "spec", "t"]);
        expect(Object.keys(record.spec).sort()).toEqual([
          "acquireTime",
          "holderIdentity",
          "leaseDurationSeconds",
          "leaseTransitions",
          "renewTime",
        ]);
        expect(record.spec.acquireTime).toMatch(MICROTIME);
        expect(record.spec.renewTime).toMatch(MICROTIME);
      }
      const times = trace.records.map((r) => r.t);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    },
  );
});

describe("steady: one client-go leader renewing (4s/3s/1s)", () => {
  const trace = steady;
  const leader = candidate(trace, "cg-a");
  const first = must(trace.records[0]);
  const last = must(trace.records.at(-1));

  it("is a leader that kept renewing: every version a renewal, never more than a retry period and a bit apart", () => {
    const stoppedAt = actionAt(trace, "cg-a", "sigterm");
    expect(stoppedAt - first.t).toBeGreaterThan(10_000);
    for (const [i, record] of trace.records.entries()) {
      expect(record.spec.holderIdentity).toBe("cg-a");
      if (i === 0) continue;
      const previous = must(trace.records[i - 1]);
      expect(record.t - previous.t).toBeLessThan(leader.retryPeriodMs + 200);
      expect(shapeOf(previous.spec, record.spec)).toMatchObject({
        holderChanged: false,
        leaseTransitionsDelta: 0,
        acquireTimeKept: true,
        renewTimeAdvanced: true,
      });
    }
  });

  it("podium creates a missing Lease with the shape of cg-a's recorded create", async () => {
    install(trace);
    const lock = new ReplayLeaseLock(trace, { until: 0 });
    const podium = startPodium(lock, { timings: leader });
    await advanceTo(trace, 1);
    const created = lock.writes[0];
    expect(created?.op).toBe("create");
    const shape = (spec: TraceSpec): Record<string, unknown> => ({
      fields: Object.keys(spec).sort(),
      leaseTransitions: spec.leaseTransitions,
      acquireTimeEqualsRenewTime: spec.acquireTime === spec.renewTime,
      microTimes: MICROTIME.test(spec.acquireTime ?? "") && MICROTIME.test(spec.renewTime ?? ""),
    });
    expect(shape(created?.spec ?? {})).toEqual(shape(first.spec));
    expect(created?.spec).toMatchObject({ holderIdentity: "podium", leaseDurationSeconds: 4 });
    await finish(podium);
  });

  it.each(RANDOMS)(
    "podium (random %s) never acquires while client-go renews, and only a lease duration after the renewals stop",
    async (random) => {
      install(trace);
      const lock = new ReplayLeaseLock(trace);
      await advanceTo(trace, first.t + 1);
      const podium = startPodium(lock, { timings: leader, random: () => random });

      // Until a lease duration after the last renewal, the lease was valid for
      // anyone who saw that renewal, so an acquisition would be a split brain.
      await advanceTo(trace, last.t + durationMs(last) - 1);
      expect(lock.writes).toEqual([]);
      expect(podium.elector.isLeader()).toBe(false);
      expect(podium.elector.getLeader()).toBe("cg-a");
      expect(podium.events).toEqual([{ t: first.t + 1, event: "new_leader", leader: "cg-a" }]);
      // It was campaigning all along, not idle.
      expect(lock.gets.length).toBeGreaterThanOrEqual(
        Math.floor((last.t - first.t) / pollGap(leader.retryPeriodMs)),
      );

      // cg-a stopped without releasing: podium takes over once the record has
      // not changed for leaseDurationSeconds on its own clock.
      await advanceTo(trace, last.t + durationMs(last) + 2 * pollGap(leader.retryPeriodMs) + 1);
      const write = lock.writes[0];
      expect(write?.t).toBeGreaterThanOrEqual(last.t + durationMs(last));
      expect(write?.replaced).toBe(last.resourceVersion);
      expect(write?.spec.leaseTransitions).toBe((last.spec.leaseTransitions ?? 0) + 1);
      await finish(podium);
    },
  );
});

describe("crash: the client-go leader is SIGKILLed, a second client-go candidate takes over after expiry", () => {
  const trace = crash;
  const taker = candidate(trace, "cg-b");
  const takeover = acquisitionBy(trace, "cg-b");
  const last = lastRecordBefore(trace, takeover.t);
  const killedAt = actionAt(trace, "cg-a", "sigkill");

  it("is recorded as expected: cg-b took over no earlier than leaseDurationSeconds after cg-a's last write", () => {
    expect(last.spec.holderIdentity).toBe("cg-a");
    expect(killedAt).toBeGreaterThanOrEqual(last.t - 50);
    expect(takeover.t - writtenAt(trace, last)).toBeGreaterThanOrEqual(durationMs(last));
    expect(takeover.t - last.t).toBeLessThanOrEqual(
      durationMs(last) + 2 * pollGap(taker.retryPeriodMs) + 100,
    );
    const started = trace.callbacks.find((c) => c.id === "cg-b" && c.event === "started_leading");
    expect(Math.abs((started?.t ?? 0) - takeover.t)).toBeLessThan(50);
  });

  it.each(RANDOMS)(
    "podium in cg-b's place (random %s) acquires leaseDurationSeconds after the last change it saw, when cg-b did",
    async (random) => {
      const { podium, lock, acquiredAt } = await takeOver(trace, "cg-b", { random });
      // Never before: the record last changed at last.t, and podium's clock
      // starts counting only when it sees that change.
      expect(acquiredAt).toBeGreaterThanOrEqual(last.t + durationMs(last));
      // At the latest one poll to see the last change, one to act after expiry.
      expect(acquiredAt).toBeLessThanOrEqual(
        last.t + durationMs(last) + 2 * pollGap(taker.retryPeriodMs),
      );
      // The same instant as the real client-go candidate, up to polling: each
      // of the two acts between 0 and 2 jittered retry periods after expiry.
      expect(Math.abs(acquiredAt - takeover.t)).toBeLessThanOrEqual(
        2 * pollGap(taker.retryPeriodMs),
      );
      // Before acquiring it reported cg-a, and took over on cg-a's last resourceVersion.
      expect(podium.events.filter((e) => e.event === "new_leader").map((e) => e.leader)).toEqual([
        "cg-a",
        "podium",
      ]);
      expect(lock.writes[0]).toMatchObject({
        op: "update",
        replaced: last.resourceVersion,
        spec: {
          holderIdentity: "podium",
          leaseDurationSeconds: taker.leaseDurationMs / 1000,
          leaseTransitions: takeover.spec.leaseTransitions,
        },
      });
      expect(lock.conflicts).toEqual([]);
      await finish(podium);
    },
  );

  it.each(RANDOMS)(
    "podium next to cg-b (random %s) never writes before the lease is acquirable, and follows whoever wins",
    async (random) => {
      install(trace);
      const lock = new ReplayLeaseLock(trace);
      await advanceTo(trace, actionAt(trace, "cg-b", "start"));
      const podium = startPodium(lock, { timings: taker, random: () => random });
      await advanceTo(trace, trace.records.at(-1)?.t ?? 0);
      await vi.advanceTimersByTimeAsync(taker.retryPeriodMs * 3);
      const write = lock.writes[0];
      if (write === undefined) {
        // cg-b won: podium saw it, and never wrote while cg-b renewed.
        expect(podium.elector.getLeader()).toBe("cg-b");
        expect(podium.events.at(-1)).toMatchObject({ event: "new_leader", leader: "cg-b" });
      } else {
        // podium was first (in this counterfactual cg-b's write would have conflicted).
        expect(write.t).toBeGreaterThanOrEqual(last.t + durationMs(last));
        expect(write.t).toBeLessThanOrEqual(takeover.t);
        expect(write.replaced).toBe(last.resourceVersion);
      }
      await finish(podium);
    },
  );

  it.each(RANDOMS)(
    "podium joining only after cg-a died (random %s) still waits a full lease duration from its own first look, whatever renewTime says",
    async (random) => {
      install(trace);
      const lock = new ReplayLeaseLock(trace, { until: takeover.t });
      // By the record's renewTime the lease has long expired when podium starts.
      const joinAt = writtenAt(trace, last) + 2 * durationMs(last);
      await advanceTo(trace, joinAt);
      const podium = startPodium(lock, { timings: taker, random: () => random });
      await advanceTo(trace, joinAt + durationMs(last) + 2 * pollGap(taker.retryPeriodMs));
      expect(lock.gets[0]).toBe(joinAt);
      expect(lock.writes[0]?.t).toBeGreaterThanOrEqual(joinAt + durationMs(last));
      expect(lock.writes[0]?.t).toBeLessThanOrEqual(
        joinAt + durationMs(last) + pollGap(taker.retryPeriodMs),
      );
      await finish(podium);
    },
  );

  it("podium's acquisition and renewals have the shape of cg-b's recorded ones", async () => {
    const { podium, lock } = await takeOver(trace, "cg-b", { leadMs: 3.5 * taker.retryPeriodMs });
    const recorded = trace.records.filter((r) => r.t >= takeover.t);
    expect(recorded.length).toBeGreaterThanOrEqual(3);
    expect(lock.writes.length).toBeGreaterThanOrEqual(3);

    // The acquisition, relative to cg-a's last record.
    expect(shapeOf(last.spec, lock.writes[0]?.spec ?? {})).toEqual(
      shapeOf(last.spec, takeover.spec),
    );
    expect(shapeOf(last.spec, takeover.spec)).toMatchObject({
      holderChanged: true,
      leaseTransitionsDelta: 1,
      acquireTimeEqualsRenewTime: true,
    });
    // Renewals, each relative to the version before it.
    const renewalShape = (specs: TraceSpec[]): Record<string, unknown>[] =>
      specs.slice(1).map((spec, i) => shapeOf(specs[i] ?? {}, spec));
    const cg = renewalShape(recorded.map((r) => r.spec));
    const ours = renewalShape(lock.writes.map((w) => w.spec));
    expect(ours.slice(0, 2)).toEqual(cg.slice(0, 2));
    expect(new Set(ours.map((s) => JSON.stringify(s)))).toEqual(
      new Set(cg.map((s) => JSON.stringify(s))),
    );
    // Every write on the resourceVersion of the one before.
    for (const [i, write] of lock.writes.entries()) {
      expect(write.replaced).toBe(
        i === 0 ? last.resourceVersion : lock.writes[i - 1]?.resourceVersion,
      );
    }
    await finish(podium);
  });
});

describe("release: the client-go leader (--release-on-cancel) gets SIGTERM and releases", () => {
  const trace = release;
  const taker = candidate(trace, "cg-b");
  const takeover = acquisitionBy(trace, "cg-b");
  const released = must(trace.records.find((r) => r.spec.holderIdentity === ""));
  const lastHeld = lastRecordBefore(trace, released.t);

  it("is recorded as expected: a release record, then cg-b's acquisition at its next retry", () => {
    expect(released.t).toBeGreaterThanOrEqual(actionAt(trace, "cg-a", "sigterm"));
    expect(lastHeld.spec.holderIdentity).toBe("cg-a");
    expect(released.spec).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      leaseTransitions: lastHeld.spec.leaseTransitions,
      acquireTime: released.spec.renewTime,
      renewTime: released.spec.renewTime,
    });
    expect(lastRecordBefore(trace, takeover.t)).toBe(released);
    expect(takeover.t - released.t).toBeLessThanOrEqual(pollGap(taker.retryPeriodMs) + 100);
    expect(takeover.t).toBeLessThan(lastHeld.t + durationMs(lastHeld));
    expect(takeover.spec.leaseTransitions).toBe((released.spec.leaseTransitions ?? 0) + 1);
  });

  it.each(RANDOMS)(
    "podium in cg-b's place (random %s) takes the released lease at its next retry, without waiting for expiry",
    async (random) => {
      const { podium, lock, acquiredAt } = await takeOver(trace, "cg-b", { random });
      // Its first poll after the release record is the one that acquires.
      expect(lock.gets.find((g) => g >= released.t)).toBe(acquiredAt);
      expect(acquiredAt - released.t).toBeLessThanOrEqual(pollGap(taker.retryPeriodMs));
      expect(acquiredAt).toBeLessThan(lastHeld.t + durationMs(lastHeld));
      expect(Math.abs(acquiredAt - takeover.t)).toBeLessThanOrEqual(pollGap(taker.retryPeriodMs));
      expect(lock.writes[0]).toMatchObject({
        replaced: released.resourceVersion,
        spec: { holderIdentity: "podium", leaseTransitions: takeover.spec.leaseTransitions },
      });
      expect(lock.writes[0]?.spec.leaseTransitions).toBe((released.spec.leaseTransitions ?? 0) + 1);
      expect(shapeOf(released.spec, lock.writes[0]?.spec ?? {})).toEqual(
        shapeOf(released.spec, takeover.spec),
      );
      await finish(podium);
    },
  );

  it("podium's release record has exactly the shape of client-go's recorded release", async () => {
    const { podium, lock } = await takeOver(trace, "cg-b", {
      leadMs: 2.5 * taker.retryPeriodMs,
      releaseOnCancel: true,
    });
    const heldBefore = lock.writes.length;
    expect(heldBefore).toBeGreaterThanOrEqual(2);
    await finish(podium);
    expect(lock.writes.length).toBe(heldBefore + 1);
    const ours = lock.writes.at(-1);
    const previous = lock.writes.at(-2);
    expect(ours?.replaced).toBe(previous?.resourceVersion);
    expect(ours?.spec).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      leaseTransitions: previous?.spec.leaseTransitions,
      acquireTime: ours?.spec.renewTime,
      renewTime: ours?.spec.renewTime,
    });
    expect(shapeOf(previous?.spec ?? {}, ours?.spec ?? {})).toEqual(
      shapeOf(lastHeld.spec, released.spec),
    );
    expect(podium.events.at(-1)).toMatchObject({ event: "stopped_leading" });
  });
});

describe("record-duration: a 6s/3s/1s leader dies; a 2s/1500ms/500ms candidate takes over", () => {
  const trace = recordDuration;
  const taker = candidate(trace, "cg-b");
  const takeover = acquisitionBy(trace, "cg-b");
  const last = lastRecordBefore(trace, takeover.t);
  /** When the taker would have acted, at the latest, had it used its own lease duration. */
  const byOwnDuration = last.t + taker.leaseDurationMs + 2 * pollGap(taker.retryPeriodMs);

  it("is recorded as expected: cg-b waited the record's 6 s, not its own 2 s", () => {
    expect(last.spec.leaseDurationSeconds).toBe(6);
    expect(taker.leaseDurationMs).toBe(2000);
    expect(takeover.t - writtenAt(trace, last)).toBeGreaterThanOrEqual(durationMs(last));
    expect(takeover.t).toBeGreaterThan(byOwnDuration);
    expect(takeover.spec.leaseDurationSeconds).toBe(2);
  });

  it.each(RANDOMS)(
    "podium with cg-b's timings (random %s) also waits the record's leaseDurationSeconds, then writes its own",
    async (random) => {
      const { podium, lock, acquiredAt } = await takeOver(trace, "cg-b", { random });
      expect(acquiredAt).toBeGreaterThanOrEqual(last.t + durationMs(last));
      expect(acquiredAt).toBeGreaterThan(byOwnDuration);
      expect(acquiredAt).toBeLessThanOrEqual(
        last.t + durationMs(last) + 2 * pollGap(taker.retryPeriodMs),
      );
      expect(Math.abs(acquiredAt - takeover.t)).toBeLessThanOrEqual(
        2 * pollGap(taker.retryPeriodMs),
      );
      expect(lock.writes[0]?.spec).toMatchObject({
        holderIdentity: "podium",
        leaseDurationSeconds: 2,
        leaseTransitions: takeover.spec.leaseTransitions,
      });
      await finish(podium);
    },
  );
});

describe("podium's expiry judgement matches the real client-go candidates'", () => {
  /**
   * The earliest instant podium's elector finds the lease acquirable: its
   * acquisition time minimised over the phase of its polls (no jitter, start
   * offsets spread over one retry period), so that some phase polls right
   * after the decisive change.
   */
  async function acquirableInstant(
    trace: Trace,
  ): Promise<{ earliest: number; latest: number; step: number }> {
    const retryPeriodMs = candidate(trace, "cg-b").retryPeriodMs;
    const step = retryPeriodMs / 20;
    const times: number[] = [];
    for (let phase = 0; phase < retryPeriodMs; phase += step) {
      const { podium, acquiredAt } = await takeOver(trace, "cg-b", { phase });
      times.push(acquiredAt);
      await finish(podium);
    }
    return { earliest: Math.min(...times), latest: Math.max(...times), step };
  }

  it.each([
    ["crash", crash],
    ["release", release],
    ["record-duration", recordDuration],
  ] as const)(
    "%s: cg-b took over no earlier than podium finds the lease acquirable, and within its own polling lag of it",
    async (_, trace) => {
      const takeover = acquisitionBy(trace, "cg-b");
      const decisive = lastRecordBefore(trace, takeover.t);
      const taker = candidate(trace, "cg-b");
      // Released: acquirable at once; otherwise leaseDurationSeconds (of the record) after it.
      const expected =
        decisive.spec.holderIdentity === "" ? decisive.t : decisive.t + durationMs(decisive);
      const { earliest, latest, step } = await acquirableInstant(trace);
      expect(earliest).toBeGreaterThanOrEqual(expected);
      expect(earliest).toBeLessThanOrEqual(expected + step);
      // client-go never acted before podium would have...
      expect(takeover.t).toBeGreaterThanOrEqual(earliest);
      // ...and acted within its own lag: a poll to notice, a poll to act.
      const lag = decisive.spec.holderIdentity === "" ? 1 : 2;
      expect(takeover.t - earliest).toBeLessThanOrEqual(lag * pollGap(taker.retryPeriodMs) + 100);
      // Podium's unjittered window spans at most the same lag.
      expect(latest - earliest).toBeLessThanOrEqual(lag * taker.retryPeriodMs);
    },
  );

  it("steady: the lease never became acquirable while the client-go leader renewed", async () => {
    const trace = steady;
    const last = must(trace.records.at(-1));
    install(trace);
    const lock = new ReplayLeaseLock(trace);
    await advanceTo(trace, (trace.records[0]?.t ?? 0) + 1);
    const podium = startPodium(lock, { timings: candidate(trace, "cg-a") });
    await advanceTo(trace, actionAt(trace, "cg-a", "sigterm"));
    expect(lock.writes).toEqual([]);
    await advanceTo(trace, last.t + durationMs(last) + 2 * candidate(trace, "cg-a").retryPeriodMs);
    expect(lock.writes[0]?.t).toBeGreaterThanOrEqual(last.t + durationMs(last));
    await finish(podium);
  });
});

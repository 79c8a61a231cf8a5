import { describe, expect, it } from "vitest";
import {
  isLeaseHeldAndValid,
  leaseExpiresAt,
  renewDueAt,
  renewIntervalMs,
} from "../../../src/election/lease.ts";
import type { LeaseView } from "../../../src/election/types.ts";
import { lease, spec, T0 } from "./fixtures.ts";

describe("leaseExpiresAt", () => {
  it.each([
    ["the Lease's own duration", lease("a", 1, { durationSeconds: 20 }), T0 + 20_000],
    [
      "the fallback when the Lease states none",
      lease("a", 1, { durationSeconds: undefined }),
      T0 + 15_000,
    ],
    [
      "observedAt, not the writer's renewTime",
      lease("a", 1, { renewTime: T0 + 60_000, observedAt: T0 + 1_000 }),
      T0 + 16_000,
    ],
  ] as [string, LeaseView, number][])("uses %s", (_, l, want) => {
    expect(leaseExpiresAt(l, 15)).toBe(want);
  });
});

describe("isLeaseHeldAndValid", () => {
  const cases: Record<string, { lease: LeaseView; now: number; want: boolean }> = {
    "held, 1 ms before expiry": { lease: lease("a", 1), now: T0 + 14_999, want: true },
    "held, exactly at expiry": { lease: lease("a", 1), now: T0 + 15_000, want: false },
    "released, not expired": { lease: lease("", 1), now: T0, want: false },
  };
  it.each(Object.entries(cases))("%s", (_, { lease: l, now, want }) => {
    expect(isLeaseHeldAndValid(l, now, 15)).toBe(want);
  });
});

describe("renewIntervalMs", () => {
  it.each([
    [15, 10, 2, 10_000],
    [60, 15, 5, 15_000],
    [3, 2, 1, 2_000],
    // Not admitted by the CRD (renewDeadline must exceed 1.2 x retry), but the
    // interval still never undercuts the retry period.
    [15, 1, 2, 2_000],
    // Managed mode's defaults: one write per group per minute.
    [90, 60, 2, 60_000],
  ])(
    "duration %d s, renew deadline %d s, retry %d s -> %d ms",
    (durationSeconds, renewDeadlineSeconds, retryPeriodSeconds, want) => {
      const s = spec({ lease: { durationSeconds, renewDeadlineSeconds, retryPeriodSeconds } });
      expect(renewIntervalMs(s)).toBe(want);
    },
  );
});

describe("renewal policy at Managed mode's defaults (90/60/2)", () => {
  const managed = spec({
    lease: { durationSeconds: 90, renewDeadlineSeconds: 60, retryPeriodSeconds: 2 },
  });
  // A reader's clock starts when it sees a write, so the reader's view is what matters.
  const seen = (at: number) =>
    lease("a", 1, { durationSeconds: 90, observedAt: at, renewTime: at });
  it.each([
    ["just before the next renewal is due", T0 + 59_999, true],
    ["a renewal 29 s late", T0 + 89_000, true],
    ["90 s after the last renewal a reader saw (podium stopped)", T0 + 90_000, false],
  ] as [string, number, boolean][])("a reader sees a valid holder %s: %s", (_, now, want) => {
    expect(isLeaseHeldAndValid(seen(T0), now, 15)).toBe(want);
  });
  it("renews once a minute, 30 s before any reader could see the Lease expire", () => {
    const due = renewDueAt(seen(T0), managed);
    expect(due).toBe(T0 + 60_000);
    expect(leaseExpiresAt(seen(T0), 15) - due).toBe(30_000);
  });
});

describe("renewDueAt", () => {
  it("counts from renewTime, or from observedAt when renewTime is missing", () => {
    expect(renewDueAt(lease("a", 1, { renewTime: T0 + 1000, observedAt: T0 + 5000 }), spec())).toBe(
      T0 + 11_000,
    );
    expect(renewDueAt(lease("a", 1, { renewTime: undefined, observedAt: T0 + 5000 }), spec())).toBe(
      T0 + 15_000,
    );
  });

  it("does not let a renewTime in the future postpone the renewal", () => {
    const year9999 = Date.parse("9999-12-31T23:59:59Z");
    expect(renewDueAt(lease("a", 1, { renewTime: year9999, observedAt: T0 }), spec())).toBe(
      T0 + 10_000,
    );
  });
});

import { describe, expect, it } from "vitest";
import { leaseRecord } from "../../../src/election/lease-record.ts";
import type { LeaseRecord } from "../../../src/election/lease-record.ts";
import type { LeaseView, LeaseWrite } from "../../../src/election/types.ts";
import { lease, spec, T0 } from "./fixtures.ts";

const NOW = T0 + 10_000;
const web = { name: "web-a", uid: "uid-web-a" };
/** A spec whose Lease duration differs from the fixtures' Lease, to see which one a record takes. */
const thirty = spec({
  lease: { durationSeconds: 30, renewDeadlineSeconds: 20, retryPeriodSeconds: 2 },
});

interface Case {
  current: LeaseView | undefined;
  write: LeaseWrite;
  want: LeaseRecord | undefined;
}

const cases: Record<string, Case> = {
  "none: nothing is written": {
    current: lease("web-a", 3),
    write: { kind: "none" },
    want: undefined,
  },
  "create with a holder: its first election, transitions 1, acquired now": {
    current: undefined,
    write: { kind: "create", holder: web },
    want: {
      holder: "web-a",
      holderUID: "uid-web-a",
      durationSeconds: 30,
      transitions: 1,
      acquireTime: NOW,
      renewTime: NOW,
    },
  },
  "create without a holder: empty, transitions 0": {
    current: undefined,
    write: { kind: "create", holder: undefined },
    want: {
      holder: "",
      holderUID: undefined,
      durationSeconds: 30,
      transitions: 0,
      acquireTime: NOW,
      renewTime: NOW,
    },
  },
  "acquire: the new holder at the given transitions, acquired now": {
    current: lease("web-b", 3, { acquireTime: T0 - 60_000 }),
    write: { kind: "acquire", holder: web, transitions: 4 },
    want: {
      holder: "web-a",
      holderUID: "uid-web-a",
      durationSeconds: 30,
      transitions: 4,
      acquireTime: NOW,
      renewTime: NOW,
    },
  },
  "renew: transitions and acquireTime kept, renewTime now": {
    current: lease("web-a", 3, { acquireTime: T0 - 60_000, durationSeconds: 15 }),
    write: { kind: "renew", holder: web },
    want: {
      holder: "web-a",
      holderUID: "uid-web-a",
      durationSeconds: 30,
      transitions: 3,
      acquireTime: T0 - 60_000,
      renewTime: NOW,
    },
  },
  "renew a Lease that recorded no acquireTime: acquired now": {
    current: lease("web-a", 3, { acquireTime: undefined }),
    write: { kind: "renew", holder: web },
    want: {
      holder: "web-a",
      holderUID: "uid-web-a",
      durationSeconds: 30,
      transitions: 3,
      acquireTime: NOW,
      renewTime: NOW,
    },
  },
  "release: client-go's record, no holder, 1 s, transitions kept": {
    current: lease("web-a", 3),
    write: { kind: "release", transitions: 3 },
    want: {
      holder: "",
      holderUID: undefined,
      durationSeconds: 1,
      transitions: 3,
      acquireTime: NOW,
      renewTime: NOW,
    },
  },
};

describe("leaseRecord", () => {
  it.each(Object.entries(cases))("%s", (_, { current, write, want }) => {
    expect(leaseRecord(thirty, current, write, NOW)).toEqual(want);
  });
});

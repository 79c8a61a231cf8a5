import { describe, expect, it } from "vitest";
import {
  newestRevision,
  nextHolderComparator,
  rankNextHolders,
} from "../../../src/election/order.ts";
import type { PodView } from "../../../src/election/types.ts";
import { pod, T0 } from "./fixtures.ts";

describe("rankNextHolders", () => {
  const cases: Record<string, { pods: PodView[]; preferredHolder?: string; want: string[] }> = {
    "name breaks a full tie": {
      pods: [pod("c"), pod("a"), pod("b")],
      want: ["a", "b", "c"],
    },
    "non-candidates are never ranked": {
      pods: [
        pod("a", { ready: false }),
        pod("b", { terminating: true }),
        pod("c", { phase: "Pending" }),
        pod("d"),
      ],
      want: ["d"],
    },
    "Ready longest first": {
      pods: [pod("a", { readySince: T0 + 2 }), pod("b", { readySince: T0 + 1 })],
      want: ["b", "a"],
    },
    "a missing Ready time ranks after a present one": {
      pods: [pod("a", { readySince: undefined }), pod("b", { readySince: T0 + 100 })],
      want: ["b", "a"],
    },
    "priority beats Ready time": {
      pods: [pod("a"), pod("b", { readySince: T0 + 5, priorityAnnotation: "1" })],
      want: ["b", "a"],
    },
    "negative priority ranks below the default": {
      pods: [pod("a", { priorityAnnotation: "-1" }), pod("b", { readySince: T0 + 5 })],
      want: ["b", "a"],
    },
    "a malformed priority counts as 0": {
      pods: [
        pod("a", { priorityAnnotation: "high" }),
        pod("b", { readySince: T0 - 5, priorityAnnotation: "0" }),
      ],
      want: ["b", "a"],
    },
    "preferredHolder beats priority": {
      pods: [pod("a", { priorityAnnotation: "100" }), pod("b")],
      preferredHolder: "b",
      want: ["b", "a"],
    },
    "a non-candidate preferredHolder is ignored": {
      pods: [pod("a"), pod("b", { ready: false }), pod("c", { readySince: T0 + 1 })],
      preferredHolder: "b",
      want: ["a", "c"],
    },
    "newest revision beats Ready time": {
      pods: [
        pod("old-1", { revision: "A", createdAt: T0 }),
        pod("new-1", { revision: "B", createdAt: T0 + 60_000, readySince: T0 + 70_000 }),
      ],
      want: ["new-1", "old-1"],
    },
    "priority beats newest revision": {
      pods: [
        pod("old-1", { revision: "A", priorityAnnotation: "2" }),
        pod("new-1", { revision: "B", createdAt: T0 + 60_000 }),
      ],
      want: ["old-1", "new-1"],
    },
    "newest revision is judged over all pods, ready or not": {
      pods: [
        // An old-ReplicaSet pod recreated mid-rollout is the newest *candidate*...
        pod("old-1", { revision: "A", createdAt: T0 + 2000, readySince: T0 + 2500 }),
        pod("new-1", { revision: "B", createdAt: T0 + 1000, readySince: T0 + 5000 }),
        // ...but the rollout's unready surge pod is the newest pod, so B ranks first.
        pod("new-2", { revision: "B", createdAt: T0 + 3000, ready: false }),
      ],
      want: ["new-1", "old-1"],
    },
    "pods without a revision form their own bucket": {
      pods: [
        pod("bare", { createdAt: T0 + 9000, readySince: T0 + 9000 }),
        pod("rev", { revision: "A", createdAt: T0 }),
      ],
      want: ["bare", "rev"],
    },
  };

  it.each(Object.entries(cases))("%s", (_, { pods, preferredHolder, want }) => {
    const ranked = rankNextHolders(pods, preferredHolder === undefined ? {} : { preferredHolder });
    expect(ranked.map((p) => p.name)).toEqual(want);
  });

  it("does not depend on the input order", () => {
    const pods = [
      pod("a", { revision: "A", readySince: T0 + 3 }),
      pod("b", { revision: "B", createdAt: T0 + 1, readySince: T0 + 4 }),
      pod("c", { revision: "B", createdAt: T0 + 1, readySince: T0 + 2 }),
      pod("d", { priorityAnnotation: "1" }),
      pod("e", { readySince: undefined }),
    ];
    const want = ["d", "c", "b", "a", "e"];
    for (const order of [
      pods,
      [...pods].reverse(),
      [pods[2], pods[4], pods[0], pods[3], pods[1]],
    ]) {
      expect(rankNextHolders(order as PodView[], {}).map((p) => p.name)).toEqual(want);
    }
  });
});

describe("newestRevision", () => {
  const cases: Record<string, { pods: PodView[]; want: string | undefined }> = {
    "no pods": { pods: [], want: undefined },
    "the revision of the latest created pod": {
      pods: [pod("a", { revision: "A", createdAt: T0 + 5 }), pod("b", { revision: "B" })],
      want: "A",
    },
    "a latest pod without a revision gives the empty bucket": {
      pods: [pod("a", { revision: "A" }), pod("b", { createdAt: T0 + 1 })],
      want: "",
    },
    "a creation-time tie goes to the greater revision": {
      pods: [pod("a", { revision: "x1" }), pod("b", { revision: "x2" })],
      want: "x2",
    },
  };
  it.each(Object.entries(cases))("%s", (_, { pods, want }) => {
    expect(newestRevision(pods)).toBe(want);
    expect(newestRevision([...pods].reverse())).toBe(want);
  });
});

describe("nextHolderComparator", () => {
  it("orders by the context it is given", () => {
    const cmp = nextHolderComparator({ preferredHolder: undefined, newestRevision: "B" });
    const a = pod("a", { revision: "A" });
    const b = pod("b", { revision: "B", readySince: T0 + 1 });
    expect(cmp(b, a)).toBeLessThan(0);
    expect(cmp(a, b)).toBeGreaterThan(0);
    expect(cmp(a, a)).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import type { ElectionGroupSpec } from "../../../src/api/types.ts";
import { labelsToRemoveOnDelete } from "../../../src/election/cleanup.ts";
import type { Gate } from "../../../src/election/gate.ts";
import { leader, pod, spec } from "./fixtures.ts";

const pods = [
  leader("web-a", 3),
  leader("web-b", 2),
  pod("web-c"),
  pod("web-d", { leaderLabelValue: "follower" }),
  pod("web-e", { leaderLabelValue: "primary", epochAnnotation: "4" }),
  // The leader value, but set by someone else: no podium epoch beside it.
  pod("web-f", { leaderLabelValue: "primary" }),
];

function verdict(v: Gate["verdict"], s: ElectionGroupSpec | undefined): Gate {
  const out: Gate = { verdict: v, blockers: [], outranked: [] };
  if (s !== undefined) out.spec = s;
  return out;
}

const cases: Record<string, { gate: Gate; want: string[] }> = {
  "refused for an invalid spec: no label is trusted, none removed": {
    gate: verdict("refuse", undefined),
    want: [],
  },
  "refused for a lost conflict: the labels are the older group's, none removed": {
    gate: verdict("refuse", spec()),
    want: [],
  },
  "acting: every pod carrying the leader value loses it, the holder and strays alike": {
    gate: verdict("act", spec()),
    want: ["web-a", "web-b"],
  },
  "report-only (paused, a foreign Lease): the labels still go with the group": {
    gate: verdict("report", spec({ paused: true })),
    want: ["web-a", "web-b"],
  },
  "a custom leader value: only pods podium labelled with that value (its epoch beside it)": {
    gate: verdict("act", spec({ leaderLabel: { key: "role", value: "primary" } })),
    want: ["web-e"],
  },
};

describe("labelsToRemoveOnDelete", () => {
  it.each(Object.entries(cases))("%s", (_, { gate, want }) => {
    const removed = labelsToRemoveOnDelete(gate, pods);
    expect(removed.map((p) => p.name)).toEqual(want);
    // Every removal is tied to the uid of the pod seen, so a recreated pod keeps its label.
    for (const p of removed) expect(p.uid).toBe(`uid-${p.name}`);
  });
});

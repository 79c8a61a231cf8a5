import { describe, expect, it } from "vitest";
import {
  conflictingGroups,
  ownsConflict,
  type GroupIdentity,
  type LabelledPod,
} from "../../../src/election/conflict.ts";
import { T0 } from "./fixtures.ts";

function group(name: string, o: Partial<GroupIdentity> = {}): GroupIdentity {
  return {
    namespace: "shop",
    name,
    uid: `uid-${name}`,
    createdAt: T0,
    selector: { matchLabels: { app: "web" } },
    leaderLabelKey: "role",
    ...o,
  };
}

const pods: LabelledPod[] = [
  { name: "web-0", labels: { app: "web", tier: "a" } },
  { name: "web-1", labels: { app: "web", tier: "b" } },
  { name: "api-0", labels: { app: "api" } },
];

describe("conflictingGroups", () => {
  const cases: Record<string, { others: GroupIdentity[]; want: string[] }> = {
    "same pods, same label key": { others: [group("web2")], want: ["web2"] },
    "overlap on one pod is enough": {
      others: [group("tier-b", { selector: { matchLabels: { tier: "b" } } })],
      want: ["tier-b"],
    },
    "a different label key coexists": {
      others: [group("web2", { leaderLabelKey: "primary" })],
      want: [],
    },
    "another namespace never conflicts": {
      others: [group("web2", { namespace: "other" })],
      want: [],
    },
    "disjoint pods do not conflict": {
      others: [group("api", { selector: { matchLabels: { app: "api" } } })],
      want: [],
    },
    "the group itself is not a conflict": { others: [group("web")], want: [] },
  };
  it.each(Object.entries(cases))("%s", (_, { others, want }) => {
    expect(conflictingGroups(group("web"), others, pods).map((g) => g.name)).toEqual(want);
  });
});

describe("ownsConflict", () => {
  const cases: Record<string, { me: GroupIdentity; others: GroupIdentity[]; want: boolean }> = {
    "no conflict: keeps working": { me: group("b"), others: [], want: true },
    "older group keeps working": {
      me: group("z", { createdAt: T0 }),
      others: [group("a", { createdAt: T0 + 1 })],
      want: true,
    },
    "newer group stands down": {
      me: group("a", { createdAt: T0 + 1 }),
      others: [group("z", { createdAt: T0 })],
      want: false,
    },
    "same creation time: name decides (a wins)": {
      me: group("a"),
      others: [group("b")],
      want: true,
    },
    "same creation time: name decides (b loses)": {
      me: group("b"),
      others: [group("a")],
      want: false,
    },
    "must be older than every other": {
      me: group("m", { createdAt: T0 + 1 }),
      others: [group("n", { createdAt: T0 + 2 }), group("o", { createdAt: T0 })],
      want: false,
    },
  };
  it.each(Object.entries(cases))("%s", (_, { me, others, want }) => {
    expect(ownsConflict(me, others)).toBe(want);
  });
});

import { describe, expect, it } from "vitest";
import type { ElectionGroup, ElectionGroupSpec } from "../../../src/api/types.ts";
import { validateSpec } from "../../../src/api/validate.ts";
import type { ValidationResult } from "../../../src/api/validate.ts";
import type { GroupIdentity, LabelledPod } from "../../../src/election/conflict.ts";
import { blockerMessage, gate } from "../../../src/election/gate.ts";
import type { Blocker, Gate } from "../../../src/election/gate.ts";
import { electionGroup, spec, T0 } from "./fixtures.ts";

/** The group under test, "web" in "shop", created one second after T0 so rivals can be older or newer. */
const CREATED = T0 + 1000;

function groupUnderTest(s: ElectionGroupSpec): ElectionGroup {
  return electionGroup(s, { creationTimestamp: new Date(CREATED).toISOString() });
}

/** Another group of "shop" selecting app=web with the key `role`, created at `createdAt`. */
function rival(name: string, createdAt: number, o: Partial<GroupIdentity> = {}): GroupIdentity {
  return {
    namespace: "shop",
    name,
    uid: `uid-${name}`,
    createdAt,
    selector: { matchLabels: { app: "web" } },
    leaderLabelKey: "role",
    ...o,
  };
}

const pods: LabelledPod[] = [
  { name: "web-0", labels: { app: "web" } },
  { name: "web-1", labels: { app: "web" } },
  { name: "api-0", labels: { app: "api" } },
];

const older = CREATED - 1;
const newer = CREATED + 1;

/** A renewDeadline longer than the duration: the API server would refuse it, a CRD without validation lets it in. */
const INVALID = validateSpec({
  selector: { matchLabels: { app: "web" } },
  lease: { durationSeconds: 5, renewDeadlineSeconds: 10 },
});

interface Case {
  spec?: Partial<ElectionGroupSpec>;
  /** Replaces the validation of `spec` (an invalid spec). */
  validation?: ValidationResult;
  others?: GroupIdentity[] | undefined;
  /** The Lease's owner uids; undefined when there is no Lease. Its holder is "app-0". */
  leaseOwnerUIDs?: string[] | undefined;
  want: Pick<Gate, "verdict" | "blockers" | "outranked">;
}

const act: Case["want"] = { verdict: "act", blockers: [], outranked: [] };
const foreignLease: Blocker = {
  kind: "leaseConflict",
  lease: "web",
  holder: "app-0",
  foreignOwner: true,
};

const cases: Record<string, Case> = {
  "a valid group with no rival and no Lease elects": { want: act },
  "an invalid spec is refused, naming the offending field": {
    validation: INVALID,
    others: [rival("old", older)],
    leaseOwnerUIDs: ["uid-someone-else"],
    want: {
      verdict: "refuse",
      blockers: [
        {
          kind: "invalidSpec",
          errors: [
            {
              field: "spec.lease.renewDeadlineSeconds",
              message: "renewDeadlineSeconds must be less than durationSeconds",
            },
          ],
        },
      ],
      outranked: [],
    },
  },
  "a paused group reports but writes nothing": {
    spec: { paused: true },
    want: { verdict: "report", blockers: [{ kind: "paused" }], outranked: [] },
  },

  // --- conflicts between groups
  "a newer rival on the same pods is ignored, and listed as outranked": {
    others: [rival("web-canary", newer)],
    want: { ...act, outranked: ["web-canary"] },
  },
  "several newer rivals are all listed": {
    others: [rival("b", newer), rival("c", newer + 1)],
    want: { ...act, outranked: ["b", "c"] },
  },
  "an older rival with the same label key wins: this group touches nothing": {
    others: [rival("old", older)],
    want: {
      verdict: "refuse",
      blockers: [{ kind: "conflict", olderGroups: ["old"], labelKey: "role" }],
      outranked: [],
    },
  },
  "older and newer rivals: only the older ones are named, none is outranked": {
    others: [rival("old-1", older - 1), rival("new", newer), rival("old-2", older)],
    want: {
      verdict: "refuse",
      blockers: [{ kind: "conflict", olderGroups: ["old-1", "old-2"], labelKey: "role" }],
      outranked: [],
    },
  },
  "an older rival with another leader label key shares the pods: no conflict": {
    others: [rival("old", older, { leaderLabelKey: "primary" })],
    want: act,
  },
  "an older rival selecting other pods: no conflict": {
    others: [rival("old", older, { selector: { matchLabels: { app: "api" } } })],
    want: act,
  },
  "an older rival of another namespace: no conflict": {
    others: [rival("old", older, { namespace: "other" })],
    want: act,
  },
  "same creation time: the name earlier in order wins over this group": {
    others: [rival("aaa", CREATED)],
    want: {
      verdict: "refuse",
      blockers: [{ kind: "conflict", olderGroups: ["aaa"], labelKey: "role" }],
      outranked: [],
    },
  },
  "same creation time: this group wins over a name later in order": {
    others: [rival("zzz", CREATED)],
    want: { ...act, outranked: ["zzz"] },
  },
  "rivals unknown (no right to list groups): no conflict is judged": {
    others: undefined,
    want: act,
  },

  // --- the Lease's owner
  "Managed, a Lease owned by another object: report with leaseConflict": {
    leaseOwnerUIDs: ["uid-someone-else"],
    want: { verdict: "report", blockers: [foreignLease], outranked: [] },
  },
  "Managed, the Lease conflict names spec.lease.name": {
    spec: { lease: { ...spec().lease, name: "shared" } },
    leaseOwnerUIDs: ["uid-someone-else"],
    want: {
      verdict: "report",
      blockers: [{ ...foreignLease, lease: "shared" }],
      outranked: [],
    },
  },
  "Managed, a Lease owned by this group: elects": {
    leaseOwnerUIDs: ["uid-web"],
    want: act,
  },
  "Managed, a Lease owned by this group and another object: elects": {
    leaseOwnerUIDs: ["uid-someone-else", "uid-web"],
    want: act,
  },
  "Managed, a Lease with no owners (a client-go app's lock, a hand-made one): refused, not taken": {
    leaseOwnerUIDs: [],
    want: {
      verdict: "report",
      blockers: [{ ...foreignLease, foreignOwner: false }],
      outranked: [],
    },
  },
  "Managed, no Lease yet: elects": {
    leaseOwnerUIDs: undefined,
    want: act,
  },
  "Observed, a Lease owned by another object is the pods' own: elects": {
    spec: { mode: "Observed" },
    leaseOwnerUIDs: ["uid-the-pods-deployment"],
    want: act,
  },

  // --- several blockers at once
  "paused and a foreign Lease: both reported, paused first": {
    spec: { paused: true },
    leaseOwnerUIDs: ["uid-someone-else"],
    want: { verdict: "report", blockers: [{ kind: "paused" }, foreignLease], outranked: [] },
  },
  "paused, a lost conflict and a foreign Lease: refused, in the order paused, conflict, Lease": {
    spec: { paused: true },
    others: [rival("old", older)],
    leaseOwnerUIDs: ["uid-someone-else"],
    want: {
      verdict: "refuse",
      blockers: [
        { kind: "paused" },
        { kind: "conflict", olderGroups: ["old"], labelKey: "role" },
        foreignLease,
      ],
      outranked: [],
    },
  },
};

function gateFor(c: Case): Gate {
  const s = spec(c.spec);
  return gate({
    group: groupUnderTest(s),
    validation: c.validation ?? { ok: true, spec: s },
    pods,
    others: "others" in c ? c.others : [],
    lease: c.leaseOwnerUIDs && { ownerUIDs: c.leaseOwnerUIDs, holder: "app-0" },
  });
}

describe("gate", () => {
  it.each(Object.entries(cases))("%s", (_, c) => {
    const { verdict, blockers, outranked } = gateFor(c);
    expect({ verdict, blockers, outranked }).toEqual(c.want);
  });

  it("hands the validated spec on when valid, and none when invalid", () => {
    const s = spec({ mode: "Observed" });
    expect(gateFor({ spec: { mode: "Observed" }, want: act }).spec).toEqual(s);
    expect(gateFor({ validation: INVALID, want: act }).spec).toBeUndefined();
  });
});

describe("blockerMessage", () => {
  const cases: Record<string, { blocker: Blocker; want: string }> = {
    "an invalid spec names every field and its problem": {
      blocker: {
        kind: "invalidSpec",
        errors: [
          {
            field: "spec.lease.renewDeadlineSeconds",
            message: "must be less than durationSeconds",
          },
          { field: "spec.mode", message: "Unsupported value" },
        ],
      },
      want: "spec.lease.renewDeadlineSeconds: must be less than durationSeconds; spec.mode: Unsupported value",
    },
    "paused names the field": {
      blocker: { kind: "paused" },
      want: "spec.paused is true: podium reports but changes nothing",
    },
    "a conflict names the older groups and the label key": {
      blocker: { kind: "conflict", olderGroups: ["old-1", "old-2"], labelKey: "role" },
      want: "ElectionGroup old-1, old-2 is older and selects the same pods with the leader label key role; this group touches nothing",
    },
    "a Lease conflict names the Lease, its holder and the ways out": {
      blocker: { kind: "leaseConflict", lease: "shared", holder: "app-0", foreignOwner: true },
      want: "Lease shared (held by app-0) belongs to another object; podium writes only a Lease it created and touches nothing: set spec.mode: Observed to follow the election of whoever uses it, or spec.lease.name to a Lease of this group's own",
    },
    "a Lease podium did not create says so": {
      blocker: { kind: "leaseConflict", lease: "lock", holder: "", foreignOwner: false },
      want: "Lease lock (no holder) was not created by podium; podium writes only a Lease it created and touches nothing: set spec.mode: Observed to follow the election of whoever uses it, or spec.lease.name to a Lease of this group's own",
    },
  };
  it.each(Object.entries(cases))("%s", (_, { blocker, want }) => {
    expect(blockerMessage(blocker)).toBe(want);
  });
});

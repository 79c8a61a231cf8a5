import type { ElectionGroup, ElectionGroupSpec } from "../api/types.ts";
import type { FieldError, ValidationResult } from "../api/validate.ts";
import { leaseName } from "../api/defaults.ts";
import { compareGroupAge, conflictingGroups, identityOf, ownsConflict } from "./conflict.ts";
import type { GroupIdentity, LabelledPod } from "./conflict.ts";

/** Something that stops podium from electing in a group, or from writing anything for it. */
export type Blocker =
  /** The spec is invalid (a CRD installed without validation, or edited): nothing is touched. */
  | { kind: "invalidSpec"; errors: FieldError[] }
  /** spec.paused: podium reports but writes no label and no Lease. */
  | { kind: "paused" }
  /** Older groups claim some of the same pods with the same label key: this one touches nothing. */
  | { kind: "conflict"; olderGroups: string[]; labelKey: string }
  /** Managed: the Lease belongs to another object; podium writes no label and no Lease. */
  | { kind: "leaseConflict"; lease: string };

/** What the gate reads: the group, its validated spec, its pods, its rivals and its Lease. */
export interface GateInput {
  group: ElectionGroup;
  validation: ValidationResult;
  /** The group's pods (matching its selector); empty when the spec is invalid. */
  pods: readonly LabelledPod[];
  /**
   * The other live groups of the namespace with a valid spec that may claim
   * some of `pods`; undefined when they are unknown (the plugin without the
   * right to list groups), and then no conflict is judged.
   */
  others: readonly GroupIdentity[] | undefined;
  /** The owner uids of the group's Lease; undefined when the Lease does not exist. */
  leaseOwnerUIDs: readonly string[] | undefined;
}

/** Everything the gate found, and what it means for the reconcile. */
export interface Gate {
  /** Every blocker, in the order invalidSpec, paused, conflict, leaseConflict. */
  blockers: Blocker[];
  /**
   * - `refuse`: touch nothing, not even the finalizer (invalid spec, a lost conflict);
   * - `report`: add the finalizer and report, but write no label and no Lease (paused, a Lease
   *   that is not the group's);
   * - `act`: elect.
   */
  verdict: "refuse" | "report" | "act";
  /** The validated spec, when valid. */
  spec?: ElectionGroupSpec;
  /** Newer groups that claim some of the same pods and are ignored (this group owns the conflict). */
  outranked: string[];
}

/**
 * Returns what stands between a group and an election (DESIGN §2, the
 * invariants on conflicts): an invalid spec, `paused`, older groups that
 * claim the same pods with the same leader label key (the older group wins,
 * so creating a group can never take pods away from one already serving),
 * and, in Managed mode, a Lease owned by another object. The operator and
 * `kubectl podium` both ask this function, so their answers cannot drift.
 */
export function gate(input: GateInput): Gate {
  const { group, validation } = input;
  if (!validation.ok) {
    return {
      blockers: [{ kind: "invalidSpec", errors: validation.errors }],
      verdict: "refuse",
      outranked: [],
    };
  }
  const spec = validation.spec;
  const blockers: Blocker[] = [];
  if (spec.paused) blockers.push({ kind: "paused" });

  const me = identityOf(group, spec);
  const rivals = input.others ? conflictingGroups(me, input.others, input.pods) : [];
  const owns = ownsConflict(me, rivals);
  if (!owns) {
    const olderGroups = rivals.filter((r) => compareGroupAge(r, me) < 0).map((r) => r.name);
    blockers.push({ kind: "conflict", olderGroups, labelKey: spec.leaderLabel.key });
  }

  const owners = input.leaseOwnerUIDs ?? [];
  if (spec.mode === "Managed" && owners.length > 0 && !owners.includes(group.metadata.uid)) {
    blockers.push({ kind: "leaseConflict", lease: leaseName({ metadata: group.metadata, spec }) });
  }

  const verdict = !owns ? "refuse" : blockers.length > 0 ? "report" : "act";
  return { blockers, verdict, spec, outranked: owns ? rivals.map((r) => r.name) : [] };
}

/** Returns the message a blocker's condition and Event carry. */
export function blockerMessage(blocker: Blocker): string {
  switch (blocker.kind) {
    case "invalidSpec":
      return blocker.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    case "paused":
      return "spec.paused is true: podium reports but changes nothing";
    case "conflict":
      return `ElectionGroup ${blocker.olderGroups.join(", ")} is older and selects the same pods with the leader label key ${blocker.labelKey}; this group touches nothing`;
    case "leaseConflict":
      return `Lease ${blocker.lease} belongs to another object; set spec.lease.name to a Lease of this group's own`;
  }
}

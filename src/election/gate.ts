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
  /**
   * Managed: the Lease exists and this group did not create it (no owner reference to the
   * group): podium writes no label and no Lease. `holder` is its holderIdentity, `foreignOwner`
   * whether another object owns it.
   */
  | { kind: "leaseConflict"; lease: string; holder: string; foreignOwner: boolean };

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
  /** The group's Lease (its owners' uids and holder); undefined when it does not exist. */
  lease: { ownerUIDs: readonly string[]; holder: string } | undefined;
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

  // podium writes only a Lease it created: one whose owner references name
  // this group. Anything else (a client-go app's lock, another group's Lease,
  // a hand-made one) is refused, never taken; whoever may write the Lease can
  // hand it over by adding the owner reference (docs/semantics.md).
  const { lease } = input;
  if (spec.mode === "Managed" && lease && !lease.ownerUIDs.includes(group.metadata.uid)) {
    blockers.push({
      kind: "leaseConflict",
      lease: leaseName({ metadata: group.metadata, spec }),
      holder: lease.holder,
      foreignOwner: lease.ownerUIDs.length > 0,
    });
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
    case "leaseConflict": {
      const holder = blocker.holder === "" ? "no holder" : `held by ${blocker.holder}`;
      const origin = blocker.foreignOwner
        ? "belongs to another object"
        : "was not created by podium";
      return `Lease ${blocker.lease} (${holder}) ${origin}; podium writes only a Lease it created and touches nothing: set spec.mode: Observed to follow the election of whoever uses it, or spec.lease.name to a Lease of this group's own`;
    }
  }
}

import { GROUP, PLURAL, VERSION } from "../api/constants.ts";
import { DEFAULT_LEADER_LABEL_KEY, DEFAULT_LEADER_LABEL_VALUE } from "../api/defaults.ts";
import type { ElectionGroup } from "../api/types.ts";
import { validateSpec } from "../api/validate.ts";
import type { ValidationResult } from "../api/validate.ts";
import { isWellFormedSelector } from "../election/index.ts";
import type { RawObject } from "../kube/listwatch.ts";
import { keyOf } from "./source.ts";
import type { Source } from "./source.ts";

/** Groups by each matchLabels pair of their selector, "namespace/key=value", or "namespace/*". */
export const BY_SELECTOR_LABEL = "selectorLabel";
/** Groups by the Lease they name, "namespace/lease". */
export const BY_LEASE = "lease";
/** Groups by their leader label, "namespace/key=value" (defaults applied). */
export const BY_LEADER_LABEL = "leaderLabel";

/** Reduces an ElectionGroup: all of it but managedFields, which is never read. */
export function toGroup(raw: RawObject): ElectionGroup | undefined {
  const group = raw as unknown as ElectionGroup;
  if (typeof group.metadata !== "object" || typeof group.metadata.name !== "string") {
    return undefined;
  }
  const copy = structuredClone(group);
  // managedFields can be larger than the rest of the object.
  delete (copy.metadata as { managedFields?: unknown }).managedFields;
  return copy;
}

/** The spec as written, before validation: any field may be missing or malformed. */
function rawSpec(group: ElectionGroup): Partial<ElectionGroup["spec"]> | undefined {
  const spec: unknown = group.spec;
  return spec as Partial<ElectionGroup["spec"]> | undefined;
}

/** The index values of a group's selector (see {@link BY_SELECTOR_LABEL}). */
export function selectorKeys(group: ElectionGroup): string[] {
  const ns = group.metadata.namespace;
  const labels = rawSpec(group)?.selector?.matchLabels;
  const pairs = labels ? Object.entries(labels) : [];
  return pairs.length > 0 ? pairs.map(([k, v]) => `${ns}/${k}=${v}`) : [`${ns}/*`];
}

/** The index value of the Lease a group names (see {@link BY_LEASE}). */
export function leaseKeys(group: ElectionGroup): string[] {
  return [keyOf(group.metadata.namespace, rawSpec(group)?.lease?.name ?? group.metadata.name)];
}

/** The index value of a group's leader label (see {@link BY_LEADER_LABEL}). */
export function leaderLabelKeys(group: ElectionGroup): string[] {
  const label = rawSpec(group)?.leaderLabel;
  const key = label?.key ?? DEFAULT_LEADER_LABEL_KEY;
  const value = label?.value ?? DEFAULT_LEADER_LABEL_VALUE;
  return [`${group.metadata.namespace}/${key}=${value}`];
}

/**
 * validateSpec per group, remembered by uid for the generation it was
 * computed for (a spec only changes with its generation), so that the groups
 * a reconcile compares itself with are not validated again every time.
 */
export class SpecValidations {
  readonly #byUID = new Map<string, { generation: number; result: ValidationResult }>();

  /** The validation of `group`'s spec, with defaults applied when valid. */
  of(group: ElectionGroup): ValidationResult {
    const known = this.#byUID.get(group.metadata.uid);
    if (known?.generation === group.metadata.generation) return known.result;
    const result = validateSpec(group.spec);
    this.#byUID.set(group.metadata.uid, { generation: group.metadata.generation, result });
    return result;
  }

  forget(uid: string): void {
    this.#byUID.delete(uid);
  }
}

/**
 * ElectionGroups. A group's event concerns the group itself; a group
 * appearing, going or changing its spec can also start or end a conflict
 * with the groups that select the same pods or name the same Lease, which
 * must then look again. Only those: requeueing the whole namespace made
 * applying N groups cost N² reconciles. Before the first sync every group is
 * queued anyway.
 */
export function groupSource(validations: SpecValidations): Source<ElectionGroup> {
  return {
    name: "electiongroups",
    path: (ns) =>
      `/apis/${GROUP}/${VERSION}${ns === undefined ? "" : `/namespaces/${ns}`}/${PLURAL}`,
    reduce: (raw) => toGroup(raw),
    indexes: {
      [BY_SELECTOR_LABEL]: selectorKeys,
      [BY_LEASE]: leaseKeys,
      [BY_LEADER_LABEL]: leaderLabelKeys,
    },
    *concerns({ type, item: group, old }, store) {
      const { namespace, name } = group.metadata;
      if (type === "delete") validations.forget(group.metadata.uid);
      yield keyOf(namespace, name);
      const specChanged =
        old === undefined || JSON.stringify(old.spec) !== JSON.stringify(group.spec);
      if (!store.synced() || (!specChanged && group.metadata.deletionTimestamp === undefined)) {
        return;
      }
      const neighbours = new Set<string>();
      for (const version of old === undefined ? [group] : [group, old]) {
        const selector = rawSpec(version)?.selector;
        if (isWellFormedSelector(selector)) {
          const pods = store.podsFor(namespace, selector);
          for (const g of store.groupsSelectingAny(namespace, pods))
            neighbours.add(g.metadata.name);
        }
        const lease = rawSpec(version)?.lease?.name ?? version.metadata.name;
        for (const g of store.groupsNamingLease(namespace, lease)) neighbours.add(g.metadata.name);
      }
      neighbours.delete(name);
      for (const n of neighbours) yield keyOf(namespace, n);
    },
  };
}

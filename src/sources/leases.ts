import { HOLDER_UID_ANNOTATION } from "../api/constants.ts";
import { obj, str, stringMap, time } from "./json.ts";
import { keyOf } from "./source.ts";
import type { Source } from "./source.ts";
import type { LeaseView } from "../election/index.ts";

/**
 * The fields of a Lease that podium keeps: the record as the election core
 * reads it (with when podium saw it change), and the metadata the shell needs.
 */
export interface CachedLease extends LeaseView {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** uids of the objects that own the Lease (metadata.ownerReferences). */
  ownerUIDs: readonly string[];
}

/**
 * Reduces a Lease to a CachedLease. `previous` is what the cache held before:
 * client-go judges expiry from the local time a *change* of the record was
 * observed, so an unchanged record keeps its old observedAt.
 */
export function toCachedLease(
  raw: unknown,
  now: number,
  previous?: CachedLease,
): CachedLease | undefined {
  const lease = obj(raw);
  const meta = obj(lease.metadata);
  const spec = obj(lease.spec);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  if (!namespace || !name) return undefined;
  const annotations = stringMap(meta.annotations);
  const owners = Array.isArray(meta.ownerReferences)
    ? (meta.ownerReferences as unknown[]).map((o) => str(obj(o).uid) ?? "")
    : [];
  const cached: CachedLease = {
    namespace,
    name,
    uid: str(meta.uid) ?? "",
    resourceVersion: str(meta.resourceVersion) ?? "",
    holder: str(spec.holderIdentity) ?? "",
    transitions: typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0,
    observedAt: now,
    ownerUIDs: owners.filter((u) => u !== ""),
  };
  const holderUID = annotations[HOLDER_UID_ANNOTATION];
  if (holderUID !== undefined) cached.holderUID = holderUID;
  if (typeof spec.leaseDurationSeconds === "number")
    cached.durationSeconds = spec.leaseDurationSeconds;
  const renewTime = time(spec.renewTime);
  if (renewTime !== undefined) cached.renewTime = renewTime;
  const acquireTime = time(spec.acquireTime);
  if (acquireTime !== undefined) cached.acquireTime = acquireTime;
  if (previous && sameRecord(previous, cached)) cached.observedAt = previous.observedAt;
  return cached;
}

function sameRecord(a: CachedLease, b: CachedLease): boolean {
  return (
    a.holder === b.holder &&
    a.transitions === b.transitions &&
    a.durationSeconds === b.durationSeconds &&
    a.renewTime === b.renewTime &&
    a.acquireTime === b.acquireTime
  );
}

/** What the Lease source asks of the reconciler's own-writes memory. */
export interface LeaseWriteMemory {
  /** Whether `lease` is the echo of podium's own last write, whose consequences are scheduled. */
  isOwnEcho(lease: CachedLease): boolean;
  /** Forgets what podium wrote to a Lease that has been deleted. */
  forgetLease(namespace: string, name: string): void;
  /** Forgets podium's write to this Lease once the cache holds it or a version outside its chain. */
  settleLease(lease: CachedLease): void;
}

/**
 * Leases, cached as {@link CachedLease}. A Lease event concerns the groups
 * whose Lease it is, except the echo of podium's own write (renewal echoes
 * are most of a steady cluster's events, and the next renewal is already
 * scheduled). Node heartbeats in kube-node-lease renew every 10 s and never
 * belong to a group, so a cluster-wide watch leaves them out.
 */
export function leaseSource(own: LeaseWriteMemory): Source<CachedLease> {
  return {
    name: "leases",
    path: (ns) =>
      `/apis/coordination.k8s.io/v1${ns === undefined ? "" : `/namespaces/${ns}`}/leases`,
    fieldSelector: (ns) => (ns === undefined ? "metadata.namespace!=kube-node-lease" : undefined),
    reduce: (raw, now, previous) => toCachedLease(raw, now, previous),
    indexes: {},
    *concerns({ type, item }, store) {
      if (type === "delete") {
        own.forgetLease(item.namespace, item.name);
      } else {
        own.settleLease(item);
        if (own.isOwnEcho(item)) return;
      }
      for (const g of store.groupsNamingLease(item.namespace, item.name)) {
        yield keyOf(g.metadata.namespace, g.metadata.name);
      }
    },
  };
}

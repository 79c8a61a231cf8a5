import type { ElectionGroup, ElectionGroupStatus } from "../api/types.ts";
import type { LeaseRecord } from "../election/index.ts";
import type { CachedLease } from "../sources/leases.ts";
import type { LeaseWriteMemory } from "../sources/leases.ts";

/**
 * Read-own-writes: what podium last wrote to a group's status and to a
 * Lease, for as long as the caches still show a version from before it. The
 * watch event of podium's own write can arrive after the next reconcile
 * starts, and deciding from the older version would undo the write (status
 * history) or repeat it (a Lease transition, a second epoch).
 *
 * Each write is remembered with the chain of resourceVersions that led to it
 * (the cached version it was based on, and earlier writes of the same chain
 * the watch has not delivered yet): while the cache shows one of those, the
 * write is what the reconcile reads; once the cache shows the write itself,
 * or a version outside the chain (someone else wrote, or the object was
 * deleted and recreated), the cache is the truth again.
 */
export class OwnWrites implements LeaseWriteMemory {
  readonly #status = new Map<
    string,
    { chain: Set<string>; latest: string; status: ElectionGroupStatus }
  >();
  /** resourceVersions of a group produced by podium's own metadata writes (the last few). */
  readonly #groupVersions = new Map<string, string[]>();
  readonly #leases = new Map<string, { chain: Set<string>; lease: CachedLease }>();
  /** The record of the last Lease write sent per Lease, for {@link isOwnEcho}. */
  readonly #sentLeases = new Map<string, LeaseRecord>();

  /** The cached group, with the status podium last wrote while the cache has not caught up. */
  group(cached: ElectionGroup | undefined): ElectionGroup | undefined {
    if (cached === undefined) return undefined;
    const key = keyOfGroup(cached);
    const written = this.#status.get(key);
    if (written === undefined) return cached;
    const seen = cached.metadata.resourceVersion;
    if (seen === written.latest || !written.chain.has(seen)) {
      this.#status.delete(key);
      return cached;
    }
    return { ...cached, status: written.status };
  }

  /** Remembers that a status write based on `group` produced `resourceVersion`. */
  statusWritten(group: ElectionGroup, status: ElectionGroupStatus, resourceVersion: string): void {
    const key = keyOfGroup(group);
    const basedOn = group.metadata.resourceVersion;
    const previous = this.#status.get(key);
    const chain = new Set([basedOn, ...(this.#groupVersions.get(key) ?? [])]);
    if (previous !== undefined && (previous.chain.has(basedOn) || previous.latest === basedOn)) {
      for (const v of previous.chain) chain.add(v);
      chain.add(previous.latest);
    }
    this.#status.set(key, { chain, latest: resourceVersion, status });
  }

  /** Remembers a resourceVersion of `group` that podium's own metadata write (the finalizer) produced. */
  groupVersionWritten(group: ElectionGroup, resourceVersion: string): void {
    const key = keyOfGroup(group);
    const versions = [...(this.#groupVersions.get(key) ?? []), resourceVersion].slice(-4);
    this.#groupVersions.set(key, versions);
  }

  /** Forgets a group that no longer exists. */
  forgetGroup(namespace: string, name: string): void {
    this.#status.delete(`${namespace}/${name}`);
    this.#groupVersions.delete(`${namespace}/${name}`);
  }

  /**
   * Forgets the write remembered for `cached`'s Lease once the watch has
   * delivered it (or a version outside its chain). The next read would forget
   * it too, but a renewed Lease is next read a renewal interval later, and
   * until then the copy is only memory: at 5,000 groups, 3.5 MiB of heap.
   */
  settleLease(cached: CachedLease): void {
    this.lease(cached.namespace, cached.name, cached);
  }

  /** The cached Lease, or the one podium last wrote while the cache shows a version before it. */
  lease(namespace: string, name: string, cached: CachedLease | undefined): CachedLease | undefined {
    const key = `${namespace}/${name}`;
    const written = this.#leases.get(key);
    if (written === undefined) return cached;
    const seen = cached?.resourceVersion ?? "";
    if (seen === written.lease.resourceVersion || !written.chain.has(seen)) {
      this.#leases.delete(key);
      return cached;
    }
    return written.lease;
  }

  /**
   * Remembers the record of a Lease write about to be sent: its echo can
   * arrive before the response.
   */
  leaseSent(namespace: string, name: string, record: LeaseRecord): void {
    this.#sentLeases.set(`${namespace}/${name}`, record);
  }

  /** Remembers that a Lease write based on `basedOn` succeeded and gave `written`. */
  leaseWritten(basedOn: CachedLease | undefined, written: CachedLease): void {
    const key = `${written.namespace}/${written.name}`;
    // `basedOn` may itself be an earlier write the watch has not delivered
    // yet: the new write extends that chain.
    const version = basedOn?.resourceVersion ?? "";
    const previous = this.#leases.get(key);
    const continues =
      previous !== undefined &&
      (previous.chain.has(version) || previous.lease.resourceVersion === version);
    const chain = continues ? previous.chain : new Set<string>();
    chain.add(version);
    this.#leases.set(key, { chain, lease: written });
  }

  /**
   * Reports whether `lease`, as a watch event delivered it, holds exactly the
   * record of podium's last write to it (holder, transitions and renewTime,
   * which is unique per write).
   */
  isOwnEcho(lease: CachedLease): boolean {
    const sent = this.#sentLeases.get(`${lease.namespace}/${lease.name}`);
    return (
      sent?.holder === lease.holder &&
      sent.transitions === lease.transitions &&
      sent.renewTime === lease.renewTime
    );
  }

  forgetLease(namespace: string, name: string): void {
    this.#sentLeases.delete(`${namespace}/${name}`);
    this.#leases.delete(`${namespace}/${name}`);
  }
}

function keyOfGroup(group: ElectionGroup): string {
  return `${group.metadata.namespace}/${group.metadata.name}`;
}

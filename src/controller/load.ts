import type { ElectionGroup } from "../api/types.ts";
import type { ValidationResult } from "../api/validate.ts";
import { leaseName } from "../api/defaults.ts";
import {
  identityOf,
  judgePodNodes,
  judgePodProbes,
  nodeHeartbeatGraceMs,
} from "../election/index.ts";
import type { ProbeRecord } from "../election/index.ts";
import type { GroupIdentity, LeaseView, NodeDisruption, PodView } from "../election/index.ts";
import type { SpecValidations } from "../sources/groups.ts";
import type { CachedLease } from "../sources/leases.ts";
import type { CachedPod } from "../sources/pods.ts";
import type { Store } from "../sources/store.ts";
import { nodeView, nodeViews, toPodView } from "../sources/views.ts";
import type { OwnWrites } from "./own-writes.ts";

/** Everything one reconcile reads, from the caches and podium's own recent writes. */
export interface Loaded {
  /** The group, with the status podium last wrote while the cache has not caught up. */
  group: ElectionGroup;
  validation: ValidationResult;
  /** The group's pods (matching its selector); empty when the spec is invalid. */
  pods: CachedPod[];
  /** The election core's view of `pods`, for the group's leader label, with their nodes judged. */
  podViews: PodView[];
  /** Whether node heartbeats are trusted; undefined when podium does not watch nodes. */
  nodeDisruption?: NodeDisruption;
  /** The other live, valid groups of the namespace that may claim some of `pods`. */
  others: GroupIdentity[];
  /** The name of the group's Lease; "" when the spec is invalid. */
  leaseName: string;
  /** The Lease, or podium's own last write to it while the cache has not caught up. */
  lease: CachedLease | undefined;
  leaseView: LeaseView | undefined;
  /** The pod the Lease names, wherever it is (it may have left the selector). */
  leaseHolder: CachedPod | undefined;
  /** The election core's view of `leaseHolder`. */
  leaseHolderPod: PodView | undefined;
}

/** What the load phase reads from. */
export interface LoadSources {
  store: Store;
  ownWrites: OwnWrites;
  validations: SpecValidations;
  now: () => number;
  /** The prober's record of a pod of a group (`namespace/name`), when podium probes it. */
  probeRecord?: (groupKey: string, uid: string) => ProbeRecord | undefined;
}

/**
 * The load phase: reads the group `namespace/name` and everything its
 * reconcile decides from; undefined when the group no longer exists.
 */
export function load(
  { store, ownWrites, validations, now, probeRecord }: LoadSources,
  namespace: string,
  name: string,
): Loaded | undefined {
  const group = ownWrites.group(store.group(namespace, name));
  if (group === undefined) return undefined;
  const validation = validations.of(group);
  if (!validation.ok) {
    const none = { pods: [], podViews: [], others: [], leaseName: "" };
    return {
      group,
      validation,
      ...none,
      lease: undefined,
      leaseView: undefined,
      leaseHolder: undefined,
      leaseHolderPod: undefined,
    };
  }
  const { spec } = validation;
  const pods = store.podsFor(namespace, spec.selector);
  const others = store.groupsSelectingAny(namespace, pods).flatMap((g) => {
    if (g.metadata.uid === group.metadata.uid || g.metadata.deletionTimestamp !== undefined) {
      return [];
    }
    const v = validations.of(g);
    return v.ok ? [identityOf(g, v.spec)] : [];
  });
  const lease = leaseName({ metadata: group.metadata, spec });
  const cachedLease = ownWrites.lease(namespace, lease, store.lease(namespace, lease));
  const holderPod =
    cachedLease && cachedLease.holder !== "" ? store.pod(namespace, cachedLease.holder) : undefined;
  const views = pods.map((p) => toPodView(p, spec.leaderLabel));
  // The election core judges each pod's node; the shell only gathers the facts.
  const judged = store.watchesNodes()
    ? judgePodNodes(views, {
        nodes: nodeViews(store),
        node: (n) => nodeView(store, n),
        graceMs: nodeHeartbeatGraceMs(spec),
        now: now(),
        stalledWatches: store.stalledWatches(),
      })
    : undefined;
  // The election core judges the prober's results too (election/probe.ts).
  const probe = spec.failureDetection?.probe;
  const key = `${namespace}/${name}`;
  const podViews =
    probe && probeRecord
      ? judgePodProbes(judged?.pods ?? views, probe, (uid) => probeRecord(key, uid))
      : (judged?.pods ?? views);
  return {
    group,
    validation,
    pods,
    podViews,
    ...(judged === undefined ? {} : { nodeDisruption: judged.disruption }),
    others,
    leaseName: lease,
    lease: cachedLease,
    // A CachedLease is the core's LeaseView plus metadata: no copy needed.
    leaseView: cachedLease,
    leaseHolder: holderPod,
    leaseHolderPod: holderPod && toPodView(holderPod, spec.leaderLabel),
  };
}

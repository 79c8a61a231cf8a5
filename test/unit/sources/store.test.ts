import { describe, expect, it } from "vitest";
import type { ElectionGroup, LabelSelector } from "../../../src/api/types.ts";
import { groupSource, SpecValidations } from "../../../src/sources/groups.ts";
import { leaseSource } from "../../../src/sources/leases.ts";
import type { CachedLease, LeaseWriteMemory } from "../../../src/sources/leases.ts";
import { podSource } from "../../../src/sources/pods.ts";
import type { CachedPod } from "../../../src/sources/pods.ts";
import { keyOf } from "../../../src/sources/source.ts";
import type { Cache, Source, SourceEvent } from "../../../src/sources/source.ts";
import { createStore } from "../../../src/sources/store.ts";
import type { Store } from "../../../src/sources/store.ts";

/**
 * A cache held in memory that answers `byIndex` through the source's own
 * index functions, as the list-watch cache does: a query through an index
 * the source does not declare fails instead of silently finding nothing.
 */
class IndexedMemoryCache<
  T extends { namespace: string; name: string } | ElectionGroup,
> implements Cache<T> {
  readonly #indexes: Source<T>["indexes"];
  readonly #items = new Map<string, T>();

  constructor(source: Source<T>, items: readonly T[]) {
    this.#indexes = source.indexes;
    for (const item of items) this.#items.set(itemKey(item), item);
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  byIndex(index: string, value: string): T[] {
    const fn = this.#indexes[index];
    if (fn === undefined) throw new Error(`no index ${index}`);
    return this.list().filter((item) => fn(item).includes(value));
  }
}

function itemKey(item: { namespace: string; name: string } | ElectionGroup): string {
  return "metadata" in item
    ? keyOf(item.metadata.namespace, item.metadata.name)
    : keyOf(item.namespace, item.name);
}

function cachedPod(name: string, labels: Record<string, string>, namespace = "shop"): CachedPod {
  return {
    namespace,
    name,
    uid: `uid-${namespace}-${name}`,
    resourceVersion: "1",
    labels,
    createdAt: 0,
    terminating: false,
    phase: "Running",
    ready: true,
  };
}

/** A group as the API server may send it: the spec is raw, only what routing reads is set. */
function electionGroup(
  name: string,
  spec: { selector?: LabelSelector; lease?: { name?: string } },
  namespace = "shop",
): ElectionGroup {
  return {
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: {
      namespace,
      name,
      uid: `uid-${namespace}-${name}`,
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: "2026-01-01T00:00:00Z",
    },
    spec: spec as ElectionGroup["spec"],
  };
}

function cachedLease(name: string, namespace = "shop"): CachedLease {
  return {
    namespace,
    name,
    uid: `uid-lease-${name}`,
    resourceVersion: "1",
    holder: "web-0",
    transitions: 1,
    observedAt: 0,
    ownerUIDs: [],
  };
}

const pods = [
  cachedPod("web-0", { app: "web", tier: "a" }),
  cachedPod("web-1", { app: "web", tier: "b" }),
  cachedPod("api-0", { app: "api" }),
  cachedPod("db-0", { app: "db" }),
  cachedPod("web-0", { app: "web", tier: "a" }, "other"),
];

/**
 * The groups of "shop", and one of "other". `web` and `web-a` select app=web
 * pods; `tier-b` one of them; `web-or-api` selects through matchExpressions
 * only; `api` other pods; `shared-1` and `shared-2` name the same Lease.
 */
const groups = [
  electionGroup("web", { selector: { matchLabels: { app: "web" } } }),
  electionGroup("web-a", { selector: { matchLabels: { app: "web", tier: "a" } } }),
  electionGroup("tier-b", { selector: { matchLabels: { tier: "b" } } }),
  electionGroup("web-or-api", {
    selector: { matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] },
  }),
  electionGroup("api", { selector: { matchLabels: { app: "api" } } }),
  electionGroup("shared-1", {
    selector: { matchLabels: { app: "db" } },
    lease: { name: "shared" },
  }),
  electionGroup("shared-2", {
    selector: { matchLabels: { app: "queue" } },
    lease: { name: "shared" },
  }),
  electionGroup("web", { selector: { matchLabels: { app: "web" } } }, "other"),
];

/** A Lease memory that records what it was told to forget and knows one echo. */
class FakeLeaseMemory implements LeaseWriteMemory {
  readonly forgotten: string[] = [];
  echo: CachedLease | undefined;

  isOwnEcho(lease: CachedLease): boolean {
    return lease === this.echo;
  }

  forgetLease(namespace: string, name: string): void {
    this.forgotten.push(keyOf(namespace, name));
  }

  readonly settled: string[] = [];

  settleLease(lease: CachedLease): void {
    this.settled.push(keyOf(lease.namespace, lease.name));
  }
}

function storeOf(o: { synced?: boolean; groups?: ElectionGroup[] } = {}): Store {
  const validations = new SpecValidations();
  const memory = new FakeLeaseMemory();
  return createStore(
    {
      groups: new IndexedMemoryCache(groupSource(validations), o.groups ?? groups),
      pods: new IndexedMemoryCache(podSource, pods),
      leases: new IndexedMemoryCache(leaseSource(memory), [cachedLease("web")]),
    },
    () => o.synced ?? true,
  );
}

const names = (items: readonly { name: string }[]): string[] => items.map((i) => i.name).sort();
const groupNames = (items: readonly ElectionGroup[]): string[] =>
  items.map((g) => g.metadata.name).sort();

describe("Store.podsFor", () => {
  const cases: Record<string, { namespace?: string; selector: LabelSelector; want: string[] }> = {
    "matchLabels: the pods carrying the label": {
      selector: { matchLabels: { app: "web" } },
      want: ["web-0", "web-1"],
    },
    "matchLabels with two pairs: every pair must hold": {
      selector: { matchLabels: { app: "web", tier: "b" } },
      want: ["web-1"],
    },
    "matchLabels and matchExpressions: both must hold": {
      selector: {
        matchLabels: { app: "web" },
        matchExpressions: [{ key: "tier", operator: "NotIn", values: ["a"] }],
      },
      want: ["web-1"],
    },
    "matchExpressions only: found among the namespace's pods": {
      selector: { matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] },
      want: ["api-0", "web-0", "web-1"],
    },
    "matchExpressions only, another namespace: only that namespace's pods": {
      namespace: "other",
      selector: { matchExpressions: [{ key: "app", operator: "Exists" }] },
      want: ["web-0"],
    },
    "a label no pod carries: none": { selector: { matchLabels: { app: "queue" } }, want: [] },
    "an empty selector: none (a group never takes the whole namespace)": {
      selector: {},
      want: [],
    },
  };
  it.each(Object.entries(cases))("%s", (_, { namespace, selector, want }) => {
    expect(names(storeOf().podsFor(namespace ?? "shop", selector))).toEqual(want);
  });
});

describe("Store.groupsSelectingAny and groupsNamingLease", () => {
  it("finds the groups that may select a pod, through its labels and the catch-all", () => {
    const store = storeOf();
    const web1 = pods[1];
    expect(groupNames(store.groupsSelectingAny("shop", web1 ? [web1] : []))).toEqual([
      // web-a is a candidate through app=web; callers check the selector.
      "tier-b",
      "web",
      "web-a",
      "web-or-api",
    ]);
  });

  it("finds the groups that select any of several pods, each once", () => {
    const found = storeOf().groupsSelectingAny("shop", pods.slice(0, 4));
    expect(groupNames(found)).toEqual(["api", "shared-1", "tier-b", "web", "web-a", "web-or-api"]);
  });

  it("with no pods, only the groups whose selector has no matchLabels", () => {
    expect(groupNames(storeOf().groupsSelectingAny("shop", []))).toEqual(["web-or-api"]);
  });

  const leaseCases: Record<string, { namespace: string; lease: string; want: string[] }> = {
    "groups sharing spec.lease.name": {
      namespace: "shop",
      lease: "shared",
      want: ["shared-1", "shared-2"],
    },
    "a group without spec.lease.name names its own": {
      namespace: "shop",
      lease: "web",
      want: ["web"],
    },
    "the namespace is part of the Lease's name": { namespace: "other", lease: "shared", want: [] },
    "a Lease no group names": { namespace: "shop", lease: "kube-scheduler", want: [] },
  };
  it.each(Object.entries(leaseCases))("groupsNamingLease: %s", (_, c) => {
    expect(groupNames(storeOf().groupsNamingLease(c.namespace, c.lease))).toEqual(c.want);
  });
});

describe("podSource.concerns", () => {
  const cases: Record<string, { event: SourceEvent<CachedPod>; want: string[] }> = {
    "a new pod: the groups whose selector matches it, not mere index candidates": {
      event: { type: "add", item: cachedPod("web-2", { app: "web", tier: "b" }), old: undefined },
      want: ["shop/tier-b", "shop/web", "shop/web-or-api"],
    },
    "a pod relabelled out of one group into another: both look again, each once": {
      event: {
        type: "update",
        item: cachedPod("web-1", { app: "api" }),
        old: cachedPod("web-1", { app: "web" }),
      },
      want: ["shop/api", "shop/web", "shop/web-or-api"],
    },
    "a deleted pod: the groups it was in": {
      event: { type: "delete", item: cachedPod("api-0", { app: "api" }), old: undefined },
      want: ["shop/api", "shop/web-or-api"],
    },
    "a pod of another namespace: only that namespace's groups": {
      event: { type: "add", item: cachedPod("web-9", { app: "web" }, "other"), old: undefined },
      want: ["other/web"],
    },
    "a pod no group selects: none": {
      event: { type: "add", item: cachedPod("cache-0", { app: "cache" }), old: undefined },
      want: [],
    },
  };
  it.each(Object.entries(cases))("%s", (_, { event, want }) => {
    expect([...podSource.concerns(event, storeOf())].sort()).toEqual(want);
  });
});

describe("leaseSource.concerns", () => {
  function route(
    event: SourceEvent<CachedLease>,
    echo?: CachedLease,
  ): { keys: string[]; forgotten: string[]; settled: string[] } {
    const memory = new FakeLeaseMemory();
    memory.echo = echo;
    const keys = [...leaseSource(memory).concerns(event, storeOf())].sort();
    return { keys, forgotten: memory.forgotten, settled: memory.settled };
  }
  const shared = cachedLease("shared");

  const cases: Record<
    string,
    {
      event: SourceEvent<CachedLease>;
      echo?: CachedLease;
      want: { keys: string[]; forgotten: string[]; settled: string[] };
    }
  > = {
    "a changed Lease: every group naming it, and podium's write there is settled": {
      event: { type: "update", item: shared, old: cachedLease("shared") },
      want: { keys: ["shop/shared-1", "shop/shared-2"], forgotten: [], settled: ["shop/shared"] },
    },
    "a group's own Lease by default name": {
      event: { type: "add", item: cachedLease("web"), old: undefined },
      want: { keys: ["shop/web"], forgotten: [], settled: ["shop/web"] },
    },
    "the echo of podium's own write: nobody, and the write is settled": {
      event: { type: "update", item: shared, old: cachedLease("shared") },
      echo: shared,
      want: { keys: [], forgotten: [], settled: ["shop/shared"] },
    },
    "a Lease no group names: nobody": {
      event: { type: "update", item: cachedLease("kube-scheduler"), old: undefined },
      want: { keys: [], forgotten: [], settled: ["shop/kube-scheduler"] },
    },
    "a deleted Lease: its groups, and podium forgets what it wrote there, even its echo": {
      event: { type: "delete", item: shared, old: undefined },
      echo: shared,
      want: {
        keys: ["shop/shared-1", "shop/shared-2"],
        forgotten: ["shop/shared"],
        settled: [],
      },
    },
  };
  it.each(Object.entries(cases))("%s", (_, { event, echo, want }) => {
    expect(route(event, echo)).toEqual(want);
  });
});

describe("groupSource.concerns", () => {
  function route(event: SourceEvent<ElectionGroup>, synced = true): string[] {
    return [...groupSource(new SpecValidations()).concerns(event, storeOf({ synced }))].sort();
  }
  const tierB = groups[2];
  if (tierB === undefined) throw new Error("fixture");
  const withStatus: ElectionGroup = { ...tierB, status: { holder: "web-1" } };
  const reselected = electionGroup("tier-b", { selector: { matchLabels: { app: "api" } } });
  const sharing = electionGroup("shared-1", {
    selector: { matchLabels: { app: "nothing-yet" } },
    lease: { name: "shared" },
  });

  /**
   * Neighbours are the store's index candidates, not checked against the
   * selectors (a spurious reconcile costs little; a missed one leaves a
   * conflict unjudged), so the cases say which groups must look again and
   * which must not, rather than the exact list.
   */
  interface Case {
    event: SourceEvent<ElectionGroup>;
    synced?: boolean;
    includes: string[];
    excludes: string[];
  }
  /** Groups that share nothing with tier-b, before or after its change: never neighbours. */
  const strangers = ["shop/shared-1", "shop/shared-2", "other/web"];
  const cases: Record<string, Case> = {
    "a status-only change: the group alone": {
      event: { type: "update", item: withStatus, old: tierB },
      includes: ["shop/tier-b"],
      excludes: ["shop/web", "shop/web-or-api", "shop/api", ...strangers],
    },
    "a new group: itself and the groups selecting the same pods": {
      event: { type: "add", item: tierB, old: undefined },
      includes: ["shop/tier-b", "shop/web", "shop/web-or-api"],
      excludes: ["shop/api", ...strangers],
    },
    "a selector changed: the groups of the old pods and of the new pods": {
      event: { type: "update", item: reselected, old: tierB },
      includes: ["shop/api", "shop/tier-b", "shop/web", "shop/web-or-api"],
      excludes: strangers,
    },
    "a group naming a shared Lease: the groups naming it too, even on other pods": {
      event: { type: "update", item: sharing, old: groups[5] },
      includes: ["shop/shared-1", "shop/shared-2"],
      excludes: ["shop/web", "shop/tier-b", "shop/api", "other/web"],
    },
    "a group being deleted with no spec change: its neighbours may now win": {
      event: {
        type: "update",
        item: {
          ...tierB,
          metadata: { ...tierB.metadata, deletionTimestamp: "2026-01-01T00:01:00Z" },
        },
        old: tierB,
      },
      includes: ["shop/tier-b", "shop/web", "shop/web-or-api"],
      excludes: ["shop/api", ...strangers],
    },
    "before the first sync: the group alone (every group is queued anyway)": {
      event: { type: "update", item: reselected, old: tierB },
      synced: false,
      includes: ["shop/tier-b"],
      excludes: ["shop/web", "shop/web-or-api", "shop/api", ...strangers],
    },
    "a malformed selector: no pods to compare, only the Lease's neighbours": {
      event: {
        type: "add",
        item: electionGroup("broken", {
          selector: { matchExpressions: [{ key: "app", operator: "Near" as "In" }] },
          lease: { name: "shared" },
        }),
        old: undefined,
      },
      includes: ["shop/broken", "shop/shared-1", "shop/shared-2"],
      excludes: ["shop/web", "shop/web-or-api", "shop/tier-b", "other/web"],
    },
  };
  it.each(Object.entries(cases))("%s", (_, { event, synced, includes, excludes }) => {
    const keys = route(event, synced);
    expect(keys).toEqual(expect.arrayContaining(includes));
    expect(keys.filter((k) => excludes.includes(k))).toEqual([]);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("a deleted group's validation is forgotten", () => {
    const validations = new SpecValidations();
    const first = validations.of(tierB);
    expect(validations.of(tierB)).toBe(first);
    const event: SourceEvent<ElectionGroup> = { type: "delete", item: tierB, old: undefined };
    expect([...groupSource(validations).concerns(event, storeOf())]).toContain("shop/tier-b");
    expect(validations.of(tierB)).not.toBe(first);
  });
});

import { describe, expect, it } from "vitest";
import { nextHolderComparator } from "../../../src/election/index.ts";
import type { PodView, RankContext } from "../../../src/election/index.ts";
import { buildReport, decidingRule } from "../../../src/cli/explain.ts";
import type { GroupInput } from "../../../src/cli/report.ts";
import { T0, group, leaderPod, rawLease, rawPod } from "./fixtures.ts";

function report(input: Partial<GroupInput> & Pick<GroupInput, "pods">) {
  return buildReport({ group: group(), lease: undefined, now: T0 + 60_000, ...input });
}

describe("decidingRule", () => {
  // A small deterministic PRNG, so a failure reproduces.
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const randomPod = (i: number): PodView => {
    const pod: PodView = {
      name: `p${rand(4)}-${i}`,
      uid: `u${i}`,
      createdAt: T0 + rand(3),
      terminating: false,
      phase: "Running",
      ready: true,
    };
    if (rand(3) > 0) pod.readySince = T0 + rand(3) * 1000;
    if (rand(2) > 0) pod.priorityAnnotation = ["1", "-2", "x", "10", "0"][rand(5)] ?? "0";
    if (rand(3) > 0) pod.revision = ["a", "b"][rand(2)] ?? "a";
    return pod;
  };

  it("agrees with nextHolderComparator on which pod goes first, over many random pairs", () => {
    for (let i = 0; i < 5000; i++) {
      const a = randomPod(2 * i);
      const b = randomPod(2 * i + 1);
      const ctx: RankContext = {
        preferredHolder: [a.name, b.name, undefined][rand(3)],
        newestRevision: ["a", "b", "", undefined][rand(4)],
      };
      const cmp = nextHolderComparator(ctx)(a, b);
      const { aFirst } = decidingRule(a, b, ctx);
      expect(aFirst, JSON.stringify({ a, b, ctx })).toBe(cmp < 0);
    }
  });

  it("names the first rule on which two pods differ", () => {
    const base: PodView = {
      name: "a",
      uid: "ua",
      createdAt: T0,
      terminating: false,
      phase: "Running",
      ready: true,
      readySince: T0,
    };
    const ctx: RankContext = { preferredHolder: undefined, newestRevision: undefined };
    expect(decidingRule(base, { ...base, name: "b" }, ctx).rule).toEqual({ kind: "name" });
    expect(
      decidingRule({ ...base, priorityAnnotation: "5" }, { ...base, name: "b" }, ctx).rule,
    ).toEqual({ kind: "priority", winner: 5, loser: 0 });
    expect(decidingRule(base, { ...base, name: "b" }, { ...ctx, preferredHolder: "b" })).toEqual({
      rule: { kind: "preferredHolder" },
      aFirst: false,
    });
    expect(
      decidingRule(
        { ...base, revision: "new" },
        { ...base, name: "b", revision: "old" },
        {
          ...ctx,
          newestRevision: "new",
        },
      ).rule,
    ).toEqual({ kind: "newestRevision", revision: "new" });
    expect(decidingRule(base, { ...base, name: "b", readySince: T0 - 1000 }, ctx)).toMatchObject({
      rule: { kind: "readyLongest" },
      aFirst: false,
    });
  });
});

describe("buildReport", () => {
  it("says why each pod is or is not eligible, and ranks the candidates with their rule", () => {
    const r = report({
      group: group({}, "a"),
      pods: [
        leaderPod("a"),
        rawPod("b", { annotations: { "podium.dev/priority": "10" } }),
        rawPod("c", { ready: false, since: T0 + 30_000 }),
        rawPod("d", { terminating: true }),
        rawPod("e", { phase: "Pending", ready: false }),
        rawPod("f", { since: T0 - 5000 }),
        rawPod("other", { labels: { app: "other" } }),
      ],
      lease: rawLease("a", 1),
    });
    expect(r.pods.map((p) => [p.name, p.rank, p.eligibility.kind, p.rule?.kind, p.after])).toEqual([
      ["b", 1, "eligible", "priority", undefined],
      ["f", 2, "eligible", "priority", "b"],
      ["a", 3, "eligible", "readyLongest", "f"],
      ["c", undefined, "notReady", undefined, undefined],
      ["d", undefined, "terminating", undefined, undefined],
      ["e", undefined, "notRunning", undefined, undefined],
    ]);
    expect(r.pods.find((p) => p.name === "c")?.eligibility).toEqual({
      kind: "notReady",
      since: T0 + 30_000,
    });
    expect(r.pods.find((p) => p.name === "a")).toMatchObject({ holder: true, labelled: true });
    expect(r).toMatchObject({ candidates: 6, readyCandidates: 3, next: "b", blockers: [] });
    // Sticky: podium keeps a, although b ranks first.
    expect(r.expectedHolder).toBe("a");
    expect(r.pending).toBeUndefined();
  });

  it("ranks the preferredHolder first and a sole candidate as the only one", () => {
    const r = report({
      group: group({ preferredHolder: "b" }),
      pods: [rawPod("a"), rawPod("b")],
    });
    expect(r.pods.map((p) => [p.name, p.rule?.kind])).toEqual([
      ["b", "preferredHolder"],
      ["a", "preferredHolder"],
    ]);
    const alone = report({ pods: [rawPod("a"), rawPod("b", { ready: false })] });
    expect(alone.pods[0]).toMatchObject({ name: "a", rank: 1, rule: { kind: "only" } });
  });

  it("reports the transition podium's rules call for when the holder is NotReady", () => {
    const r = report({
      group: group({}, "a"),
      pods: [leaderPod("a", { ready: false, since: T0 + 10_000 }), rawPod("b")],
      lease: rawLease("a", 3),
    });
    expect(r.pending).toEqual({ from: "a", to: "b", reason: "HolderNotReady" });
    expect(r.expectedHolder).toBe("b");
  });

  it("names what blocks podium: paused, invalid spec, an older conflicting group, a foreign Lease", () => {
    expect(report({ group: group({ paused: true }), pods: [] }).blockers).toEqual([
      { kind: "paused" },
    ]);
    const invalid = report({
      group: group({ lease: { durationSeconds: 5, renewDeadlineSeconds: 10 } }),
      pods: [rawPod("a")],
    });
    expect(invalid.blockers[0]?.kind).toBe("invalidSpec");
    expect(invalid.pods.map((p) => [p.name, p.eligibility.kind, p.rank])).toEqual([
      ["a", "eligible", undefined],
    ]);
    const older = group({}, "", {
      name: "old",
      uid: "old-uid",
      creationTimestamp: new Date(T0 - 3_600_000).toISOString(),
    });
    const me = group();
    expect(report({ group: me, pods: [rawPod("a")], siblings: [older, me] }).blockers).toEqual([
      { kind: "conflict", olderGroups: ["old"], labelKey: "role" },
    ]);
    // The older group keeps working.
    expect(report({ group: older, pods: [rawPod("a")], siblings: [older, me] }).blockers).toEqual(
      [],
    );
    const foreign = rawLease("a", 1);
    (foreign.metadata as { ownerReferences: unknown[] }).ownerReferences = [{ uid: "someone" }];
    expect(report({ pods: [rawPod("a")], lease: foreign }).blockers).toEqual([
      { kind: "leaseConflict", lease: "web", holder: "a", foreignOwner: true },
    ]);
  });

  it("does not rank pods in Observed mode, where the pods elect themselves", () => {
    const r = report({ group: group({ mode: "Observed" }), pods: [rawPod("a"), rawPod("b")] });
    expect(r.pods.map((p) => p.rank)).toEqual([undefined, undefined]);
    expect(r.next).toBeUndefined();
  });
});

describe("pods on failed nodes", () => {
  const onNode = (pod: Record<string, unknown>, node: string) => ({
    ...pod,
    spec: { nodeName: node },
  });
  const rawNode = (name: string, ready: string) => ({
    metadata: { name },
    status: { conditions: [{ type: "Ready", status: ready }] },
  });
  const heartbeat = (name: string, renewedAt: number) => ({
    metadata: { name, namespace: "kube-node-lease" },
    spec: { renewTime: new Date(renewedAt).toISOString().replace("Z", "000Z") },
  });
  const NOW = T0 + 60_000;

  it("says which node rule disqualifies a pod, and moves the leader off it", () => {
    const r = report({
      group: group({}, "a"),
      pods: [
        onNode(leaderPod("a"), "dead"),
        onNode(rawPod("b"), "fine"),
        onNode(rawPod("c"), "gone"),
      ],
      lease: rawLease("a", 1),
      nodes: new Map([
        ["dead", { node: rawNode("dead", "True"), heartbeat: heartbeat("dead", NOW - 30_000) }],
        ["fine", { node: rawNode("fine", "True"), heartbeat: heartbeat("fine", NOW - 1_000) }],
        ["gone", { node: undefined, heartbeat: undefined }],
      ]),
    });
    const byName = Object.fromEntries(r.pods.map((p) => [p.name, p]));
    expect(byName.a?.eligibility).toEqual({
      kind: "nodeProblem",
      problem: { kind: "heartbeatStale", node: "dead", silentMs: 30_000 },
    });
    expect(byName.a?.node).toBe("dead");
    expect(byName.b?.eligibility).toEqual({ kind: "eligible" });
    expect(byName.c?.eligibility).toEqual({
      kind: "nodeProblem",
      problem: { kind: "deleted", node: "gone" },
    });
    expect(r.pending).toEqual({ from: "a", to: "b", reason: "NodeHeartbeatStale" });
  });

  it("keeps a silent node's pod while the operator reports a disruption", () => {
    const g = group({}, "a");
    g.status = {
      ...g.status,
      conditions: [
        {
          type: "NodeDisruption",
          status: "True",
          reason: "MostHeartbeatsStale",
          message: "",
          lastTransitionTime: "2026-01-01T12:00:00Z",
        },
      ],
    };
    const r = report({
      group: g,
      pods: [onNode(leaderPod("a"), "dead")],
      lease: rawLease("a", 1),
      nodes: new Map([
        ["dead", { node: rawNode("dead", "Unknown"), heartbeat: heartbeat("dead", NOW - 30_000) }],
      ]),
    });
    expect(r.pods[0]?.eligibility).toEqual({ kind: "eligible" });
  });

  it("leaves nodes out when they could not be read", () => {
    const r = report({ pods: [onNode(rawPod("a"), "dead")] });
    expect(r.pods[0]?.eligibility).toEqual({ kind: "eligible" });
  });
});

import { describe, expect, it } from "vitest";
import { TransitionReason } from "../../../src/api/constants.ts";
import { decideManaged } from "../../../src/election/managed.ts";
import {
  assessDisruption,
  DISRUPTION_RECHECK_MS,
  judgeNode,
  judgePodNodes,
  missedRenewal,
  nodeHeartbeatGraceMs,
  nodeProblemText,
} from "../../../src/election/nodes.ts";
import type { NodeDisruption, NodeView } from "../../../src/election/nodes.ts";
import { isCandidate } from "../../../src/election/candidates.ts";
import { lease, leader, pod, spec, T0 } from "./fixtures.ts";

const GRACE = 18_000;
const NOW = T0 + 60_000;

/** A node Ready, not tainted, whose heartbeat podium saw renewed `ageMs` ago, every 10 s. */
function node(
  name: string,
  ageMs = 1_000,
  o: { [K in keyof NodeView]?: NodeView[K] | undefined } = {},
): NodeView {
  const view = {
    name,
    ready: "True",
    outOfService: false,
    heartbeatObservedAt: NOW - ageMs,
    heartbeatIntervalMs: 10_000,
    ...o,
  };
  // exactOptionalPropertyTypes: an override of undefined removes the field.
  return Object.fromEntries(
    Object.entries(view).filter(([, v]) => v !== undefined),
  ) as unknown as NodeView;
}

const TRUSTED: NodeDisruption = assessDisruption([], GRACE, NOW, []);
const GUARDED: NodeDisruption = { ...TRUSTED, active: true, reason: "MostHeartbeatsStale" };

function judge(nodes: NodeView[], name: string | undefined, disruption = TRUSTED) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  return judgeNode(
    name,
    { nodes, node: (n) => byName.get(n), graceMs: GRACE, now: NOW, stalledWatches: [] },
    disruption,
  );
}

describe("judgeNode: which nodes disqualify their pods", () => {
  it.each([
    [
      "a healthy node, recheck when its heartbeat would go stale",
      [node("n")],
      "n",
      TRUSTED,
      { recheckAt: NOW - 1_000 + GRACE },
    ],
    ["no node yet (not scheduled)", [], undefined, TRUSTED, {}],
    ["a deleted node", [], "n", TRUSTED, { problem: { kind: "deleted", node: "n" } }],
    [
      "Ready=False",
      [node("n", 1_000, { ready: "False" })],
      "n",
      TRUSTED,
      { problem: { kind: "notReady", node: "n", status: "False" } },
    ],
    [
      "Ready=Unknown",
      [node("n", 1_000, { ready: "Unknown" })],
      "n",
      TRUSTED,
      { problem: { kind: "notReady", node: "n", status: "Unknown" } },
    ],
    [
      "out-of-service, even while Ready",
      [node("n", 1_000, { outOfService: true })],
      "n",
      TRUSTED,
      { problem: { kind: "outOfService", node: "n" } },
    ],
    [
      "a heartbeat silent for exactly the grace",
      [node("n", GRACE)],
      "n",
      TRUSTED,
      { problem: { kind: "heartbeatStale", node: "n", silentMs: GRACE } },
    ],
    [
      "a heartbeat merely late (grace not reached)",
      [node("n", GRACE - 1)],
      "n",
      TRUSTED,
      { recheckAt: NOW + 1 },
    ],
    [
      "no heartbeat Lease at all: judged by Ready only",
      [node("n", 0, { heartbeatObservedAt: undefined })],
      "n",
      TRUSTED,
      {},
    ],
    [
      "stale, but the guard holds: look again soon",
      [node("n", GRACE * 2)],
      "n",
      GUARDED,
      { recheckAt: NOW + DISRUPTION_RECHECK_MS },
    ],
    [
      "Unknown, but the guard holds",
      [node("n", 1_000, { ready: "Unknown" })],
      "n",
      GUARDED,
      { recheckAt: NOW + DISRUPTION_RECHECK_MS },
    ],
    [
      "the guard never shields a deleted node",
      [],
      "n",
      GUARDED,
      { problem: { kind: "deleted", node: "n" } },
    ],
    [
      "nor Ready=False",
      [node("n", GRACE * 2, { ready: "False" })],
      "n",
      GUARDED,
      { problem: { kind: "notReady", node: "n", status: "False" } },
    ],
    [
      "nor out-of-service",
      [node("n", GRACE * 2, { outOfService: true })],
      "n",
      GUARDED,
      { problem: { kind: "outOfService", node: "n" } },
    ],
  ] as const)("%s", (_what, nodes, name, disruption, want) => {
    expect(judge([...nodes], name, disruption)).toEqual(want);
  });
});

describe("missedRenewal: a renewal visibly late for the node's own cadence", () => {
  it.each([
    ["within the cadence", node("n", 10_000), false],
    ["within the jitter allowance", node("n", 10_700), false],
    ["beyond it", node("n", 10_800), true],
    ["a fast cadence (2 s)", node("n", 2_500, { heartbeatIntervalMs: 2_000 }), true],
    [
      "cadence unknown: only at the grace",
      node("n", 17_000, { heartbeatIntervalMs: undefined }),
      false,
    ],
    [
      "a long silence before the last renewal is capped at the grace",
      node("n", GRACE, { heartbeatIntervalMs: 600_000 }),
      false,
    ],
    ["no heartbeat Lease", node("n", 0, { heartbeatObservedAt: undefined }), false],
  ] as const)("%s", (_what, n, want) => {
    expect(missedRenewal(n, GRACE, NOW)).toBe(want);
  });
});

describe("assessDisruption: the guard", () => {
  const healthy = (k: number) => Array.from({ length: k }, (_, i) => node(`h${String(i)}`));
  const silent = (k: number) => Array.from({ length: k }, (_, i) => node(`s${String(i)}`, 12_000));

  it.each([
    ["no nodes", [], false, "HeartbeatsTrusted"],
    ["one silent node of ten", [...healthy(9), ...silent(1)], false, "HeartbeatsTrusted"],
    ["half of the nodes (not most)", [...healthy(5), ...silent(5)], false, "HeartbeatsTrusted"],
    ["six of ten", [...healthy(4), ...silent(6)], true, "MostHeartbeatsStale"],
    ["every node", silent(4), true, "MostHeartbeatsStale"],
    ["a lone node", silent(1), true, "MostHeartbeatsStale"],
    [
      "Unknown counts as silent",
      [...healthy(1), node("u", 0, { ready: "Unknown" }), node("v", 0, { ready: "Unknown" })],
      true,
      "MostHeartbeatsStale",
    ],
    [
      "Ready=False does not (the kubelet spoke)",
      [...healthy(1), node("f", 0, { ready: "False" }), node("g", 0, { ready: "False" })],
      false,
      "HeartbeatsTrusted",
    ],
  ] as const)("%s", (_what, nodes, active, reason) => {
    const d = assessDisruption([...nodes], GRACE, NOW, []);
    expect({ active: d.active, reason: d.reason }).toEqual({ active, reason });
  });

  it("holds while podium's own watches stall, whatever the heartbeats say", () => {
    const d = assessDisruption(healthy(3), GRACE, NOW, ["node-leases"]);
    expect(d).toMatchObject({ active: true, reason: "WatchesStalled" });
    expect(d.message).toContain("node-leases");
  });

  it("when every heartbeat stops at once, engages before the first goes stale", () => {
    // Ten nodes renewing every 10 s at evenly spread phases, all silent from STOP on.
    const STOP = NOW - 30_000;
    const nodes = Array.from({ length: 10 }, (_, i) =>
      node(`n${String(i)}`, 0, { heartbeatObservedAt: STOP - i * 1_040 }),
    );
    const firstStaleAt = Math.min(...nodes.map((n) => (n.heartbeatObservedAt ?? 0) + GRACE));
    expect(assessDisruption(nodes, GRACE, firstStaleAt, []).active).toBe(true);
    // ... and not before anything was missed.
    expect(assessDisruption(nodes, GRACE, STOP + 500, []).active).toBe(false);
  });
});

describe("judgePodNodes and the managed decision", () => {
  const nodes = [node("good"), node("dead", 20_000), node("fine", 12_000), node("h1"), node("h2")];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const input = {
    nodes,
    node: (n: string) => byName.get(n),
    graceMs: GRACE,
    now: NOW,
    stalledWatches: [],
  };

  it("a pod on a silent node is no candidate; the holder there loses leadership, naming the node", () => {
    const { pods } = judgePodNodes(
      [leader("a", 3, { nodeName: "dead" }), pod("b", { nodeName: "good" })],
      input,
    );
    expect(pods.map(isCandidate)).toEqual([false, true]);
    const d = decideManaged({ spec: spec(), pods, lease: lease("a", 3), now: NOW });
    expect(d.transition).toEqual({
      from: "a",
      to: "b",
      reason: TransitionReason.NodeHeartbeatStale,
      epoch: 4,
      node: "dead",
    });
  });

  it("a holder on a deleted node: NodeLost, and leaderless when nobody else can lead", () => {
    const { pods } = judgePodNodes([leader("a", 3, { nodeName: "gone" })], input);
    const d = decideManaged({ spec: spec(), pods, lease: lease("a", 3), now: NOW });
    expect(d.transition).toEqual({
      from: "a",
      to: "",
      reason: TransitionReason.NodeLost,
      epoch: 3,
      node: "gone",
    });
    expect(d.holder).toBeUndefined();
  });

  it("a kept holder is looked at again the instant its heartbeat would go stale", () => {
    const { pods } = judgePodNodes([leader("a", 3, { nodeName: "fine" })], input);
    const d = decideManaged({
      spec: spec(),
      pods,
      lease: lease("a", 3, { observedAt: NOW, renewTime: NOW }),
      now: NOW,
    });
    expect(d.transition).toBeUndefined();
    expect(d.requeueAfterMs).toBe(GRACE - 12_000);
  });

  it("a heartbeat merely late keeps the holder (no flapping) and the requeue shrinks", () => {
    const late = [node("late", GRACE - 200)];
    const { pods } = judgePodNodes([leader("a", 3, { nodeName: "late" }), pod("b")], {
      ...input,
      nodes: [...late, node("x"), node("y")],
      node: (n) => late.find((l) => l.name === n),
    });
    const d = decideManaged({
      spec: spec(),
      pods,
      lease: lease("a", 3, { observedAt: NOW, renewTime: NOW }),
      now: NOW,
    });
    expect(d.transition).toBeUndefined();
    expect(d.requeueAfterMs).toBe(200);
  });

  it("a re-judged pod carries no older judgement", () => {
    const { pods } = judgePodNodes(
      [
        pod("a", {
          nodeName: "good",
          nodeProblem: { kind: "deleted", node: "good" },
          nodeRecheckAt: 1,
        }),
      ],
      input,
    );
    expect(pods[0]?.nodeProblem).toBeUndefined();
    expect(pods[0]?.nodeRecheckAt).toBe(NOW - 1_000 + GRACE);
  });
});

describe("nodeHeartbeatGraceMs and nodeProblemText", () => {
  it("defaults to 18 s for a spec written before the field", () => {
    expect(nodeHeartbeatGraceMs({})).toBe(18_000);
    expect(nodeHeartbeatGraceMs({ failureDetection: { nodeHeartbeatGraceSeconds: 5 } })).toBe(
      5_000,
    );
  });
  it.each([
    [{ kind: "deleted", node: "n" }, "node n no longer exists"],
    [{ kind: "outOfService", node: "n" }, "node n is tainted node.kubernetes.io/out-of-service"],
    [{ kind: "notReady", node: "n", status: "Unknown" }, "node n is Ready=Unknown"],
    [
      { kind: "heartbeatStale", node: "n", silentMs: 21_400 },
      "node n has not renewed its heartbeat for 21s",
    ],
  ] as const)("%j", (problem, text) => {
    expect(nodeProblemText(problem)).toBe(text);
  });
});

import { describe, expect, it } from "vitest";
import { decideObserved } from "../../../src/election/observed.ts";
import type { ObservedDecision, ObservedInput } from "../../../src/election/types.ts";
import { T0, lease, leader, pod, spec } from "./fixtures.ts";

const observed = spec({ mode: "Observed" });

interface Case {
  input: Omit<ObservedInput, "spec" | "previousHolder"> & { previousHolder?: string };
  want: Partial<ObservedDecision>;
}

const names = (refs: { name: string }[]): string[] => refs.map((r) => r.name).sort();

const cases: Record<string, Case> = {
  "labels the pod named by a valid Lease": {
    input: { pods: [pod("a"), pod("b")], lease: lease("a", 3), now: T0 + 1000 },
    want: {
      holder: { name: "a", uid: "uid-a" },
      addLabel: { name: "a", uid: "uid-a", epoch: 3 },
      requeueAfterMs: 14_000,
      transition: { from: "", to: "a", reason: "LeaseHolderChanged", epoch: 3 },
    },
  },
  "leaves a correctly labelled holder alone and only schedules the expiry": {
    input: {
      pods: [leader("a", 3), pod("b")],
      lease: lease("a", 3),
      now: T0 + 5000,
      previousHolder: "a",
    },
    want: { holder: { name: "a", uid: "uid-a" }, removeLabel: [], requeueAfterMs: 10_000 },
  },
  "judges expiry from the local observation, not renewTime": {
    input: {
      pods: [leader("a", 1)],
      lease: lease("a", 1, { renewTime: T0 - 3_600_000, observedAt: T0 }),
      now: T0 + 14_999,
      previousHolder: "a",
    },
    want: { holder: { name: "a", uid: "uid-a" }, requeueAfterMs: 1 },
  },
  "uses the record's own leaseDurationSeconds": {
    input: {
      pods: [leader("a", 1)],
      lease: lease("a", 1, { durationSeconds: 60 }),
      now: T0 + 30_000,
      previousHolder: "a",
    },
    want: { holder: { name: "a", uid: "uid-a" }, requeueAfterMs: 30_000 },
  },
  "removes the label at the expiry instant": {
    input: {
      pods: [leader("a", 1), pod("b")],
      lease: lease("a", 1),
      now: T0 + 15_000,
      previousHolder: "a",
    },
    want: {
      holder: undefined,
      idleReason: "Expired",
      transition: { from: "a", to: "", reason: "LeaseExpired", epoch: 1 },
    },
  },
  "removes the label when the Lease is released": {
    input: {
      pods: [leader("a", 1)],
      lease: lease("", 1, { durationSeconds: 1 }),
      now: T0,
      previousHolder: "a",
    },
    want: {
      holder: undefined,
      idleReason: "Released",
      transition: { from: "a", to: "", reason: "LeaseExpired", epoch: 1 },
    },
  },
  "labels nobody when the holder is no pod of the group": {
    input: { pods: [pod("a")], lease: lease("outsider", 2), now: T0 },
    want: { holder: undefined, idleReason: "HolderNotInGroup", requeueAfterMs: 15_000 },
  },
  "labels the pod of a controller-runtime holder (<hostname>_<uuid>)": {
    input: {
      pods: [pod("a"), pod("b")],
      lease: lease("b_0b4ea3ac-5c1e-4c27-9a2f-3f1d3c1f2e4a", 2),
      now: T0,
    },
    want: {
      holder: { name: "b", uid: "uid-b" },
      addLabel: { name: "b", uid: "uid-b", epoch: 2 },
      transition: { from: "", to: "b", reason: "LeaseHolderChanged", epoch: 2 },
    },
  },
  "a restarted controller-runtime process (new uuid, same pod) is no transition": {
    input: {
      pods: [leader("b", 2)],
      lease: lease("b_6f1d3c1f-2e4a-4c27-9a2f-0b4ea3ac5c1e", 3),
      now: T0,
      previousHolder: "b",
    },
    want: { holder: { name: "b", uid: "uid-b" }, addLabel: { name: "b", uid: "uid-b", epoch: 3 } },
  },
  "labels nobody for a holder that fits two pods, and unlabels the previous one": {
    input: {
      pods: [leader("a", 1, { hostname: "shared" }), pod("b", { hostname: "shared" })],
      lease: lease("shared_0b4ea3ac-5c1e-4c27-9a2f-3f1d3c1f2e4a", 2),
      now: T0,
      previousHolder: "a",
    },
    want: {
      holder: undefined,
      idleReason: "HolderNotInGroup",
      removeLabel: [{ name: "a", uid: "uid-a" }],
      transition: { from: "a", to: "", reason: "HolderGone", epoch: 2 },
    },
  },
  "labels nobody without a Lease": {
    input: { pods: [leader("a", 1)], lease: undefined, now: T0, previousHolder: "a" },
    want: {
      holder: undefined,
      idleReason: "NoLease",
      transition: { from: "a", to: "", reason: "LeaseExpired", epoch: 0 },
    },
  },
  "moves the label from the old holder to the new one": {
    input: {
      pods: [leader("a", 1), pod("b")],
      lease: lease("b", 2),
      now: T0,
      previousHolder: "a",
    },
    want: {
      holder: { name: "b", uid: "uid-b" },
      addLabel: { name: "b", uid: "uid-b", epoch: 2 },
      transition: { from: "a", to: "b", reason: "LeaseHolderChanged", epoch: 2 },
    },
  },
  "repairs a stale epoch annotation on the holder": {
    input: { pods: [leader("a", 1)], lease: lease("a", 2), now: T0, previousHolder: "a" },
    want: { addLabel: { name: "a", uid: "uid-a", epoch: 2 } },
  },
  "labels a NotReady holder: the pods, not podium, decide who leads": {
    input: {
      pods: [leader("a", 1, { ready: false })],
      lease: lease("a", 1),
      now: T0,
      previousHolder: "a",
    },
    want: { holder: { name: "a", uid: "uid-a" }, readyCandidates: 0, candidates: 1 },
  },
};

describe("decideObserved", () => {
  it.each(Object.entries(cases))("%s", (_name, { input, want }) => {
    const decision = decideObserved({ spec: observed, previousHolder: "", ...input });
    const { removeLabel, ...rest } = want;
    expect(decision).toMatchObject(rest);
    if (want.holder === undefined && "holder" in want) expect(decision.holder).toBeUndefined();
    if (!("transition" in want)) expect(decision.transition).toBeUndefined();
    if (!("addLabel" in want)) expect(decision.addLabel).toBeUndefined();
    if (removeLabel) expect(names(decision.removeLabel)).toEqual(names(removeLabel));
  });

  it("reaps stray labels: only the holder keeps one", () => {
    const decision = decideObserved({
      spec: observed,
      pods: [leader("a", 1), leader("b", 1), leader("c", 0)],
      lease: lease("b", 1),
      previousHolder: "b",
      now: T0,
    });
    expect(names(decision.removeLabel)).toEqual(["a", "c"]);
    expect(decision.holder?.name).toBe("b");
  });

  it("removes every label when nobody may lead", () => {
    const decision = decideObserved({
      spec: observed,
      pods: [leader("a", 1), leader("b", 1)],
      lease: lease("a", 1),
      previousHolder: "a",
      now: T0 + 20_000,
    });
    expect(names(decision.removeLabel)).toEqual(["a", "b"]);
    expect(decision.requeueAfterMs).toBeUndefined();
  });
});

describe("an Observed holder whose leader label key holds another value", () => {
  it("is not labelled, and the reason says why", () => {
    const d = decideObserved({
      spec: spec({ mode: "Observed" }),
      pods: [pod("web-a", { leaderLabelValue: "web", foreignLabelValue: "web" })],
      lease: lease("web-a", 3),
      previousHolder: "",
      now: T0 + 1000,
    });
    expect(d.holder).toBeUndefined();
    expect(d.addLabel).toBeUndefined();
    expect(d.idleReason).toBe("HolderLabelConflict");
  });
});

import type { ElectionGroupStatus } from "../../../src/api/types.ts";
import { describe, expect, it } from "vitest";
import type { TransitionRecord } from "../../../src/api/types.ts";
import {
  HISTORY_LIMIT,
  pushHistory,
  sameStatus,
  setCondition,
} from "../../../src/election/status.ts";

describe("setCondition", () => {
  const ready = {
    type: "Ready",
    status: "True" as const,
    reason: "LeaderElected",
    message: "a",
    observedGeneration: 1,
  };

  it("keeps lastTransitionTime while the status stays, and moves it when it changes", () => {
    const first = setCondition(undefined, ready, "t1");
    const same = setCondition(first, { ...ready, message: "b", observedGeneration: 2 }, "t2");
    expect(same).toEqual([
      { ...ready, message: "b", observedGeneration: 2, lastTransitionTime: "t1" },
    ]);
    const flipped = setCondition(same, { ...ready, status: "False", reason: "X" }, "t3");
    expect(flipped[0]?.lastTransitionTime).toBe("t3");
  });

  it("adds a condition of a new type beside the others", () => {
    const list = setCondition(
      setCondition(undefined, ready, "t1"),
      { ...ready, type: "Conflict" },
      "t2",
    );
    expect(list.map((c) => c.type)).toEqual(["Ready", "Conflict"]);
  });
});

describe("pushHistory", () => {
  it("keeps the newest entries first, at most HISTORY_LIMIT", () => {
    let history: TransitionRecord[] = [];
    for (let epoch = 1; epoch <= 13; epoch++) {
      history = pushHistory(history, {
        from: "a",
        to: "b",
        epoch,
        reason: "HolderNotReady",
        time: "t",
        durationMs: 1,
      });
    }
    expect(history).toHaveLength(HISTORY_LIMIT);
    expect(history.map((h) => h.epoch)).toEqual([13, 12, 11, 10, 9, 8, 7, 6, 5, 4]);
  });
});

describe("sameStatus", () => {
  it("ignores key order and undefined fields, and sees real differences", () => {
    expect(sameStatus({ holder: "a", epoch: 1 }, { epoch: 1, holder: "a" })).toBe(true);
    const condition = { type: "Ready", status: "True" as const, reason: "r", message: "m" };
    expect(
      sameStatus(
        { conditions: [{ ...condition, lastTransitionTime: "t" }] },
        { conditions: [{ lastTransitionTime: "t", ...condition }] },
      ),
    ).toBe(true);
    expect(sameStatus({ holder: "a" }, { holder: "b" })).toBe(false);
    expect(sameStatus(undefined, {})).toBe(true);
  });

  it("reads an undefined field as absent, on either side", () => {
    // Typed code cannot build one (exactOptionalPropertyTypes); a spread of a
    // partial object can.
    const withUndefined = { holder: "a", epoch: undefined } as unknown as ElectionGroupStatus;
    expect(sameStatus(withUndefined, { holder: "a" })).toBe(true);
    expect(sameStatus({ holder: "a" }, withUndefined)).toBe(true);
    expect(sameStatus(withUndefined, { holder: "a", candidates: 3 })).toBe(false);
  });

  it("compares lists element by element, in order", () => {
    const entry = (to: string) => ({
      from: "x",
      to,
      reason: "r",
      epoch: 1,
      time: "t",
      durationMs: 1,
    });
    expect(sameStatus({ history: [entry("a"), entry("b")] }, { history: [entry("a")] })).toBe(
      false,
    );
    expect(
      sameStatus({ history: [entry("a"), entry("b")] }, { history: [entry("b"), entry("a")] }),
    ).toBe(false);
    expect(sameStatus({ history: [entry("a")] }, { history: [entry("a")] })).toBe(true);
    expect(sameStatus({ history: [] }, {})).toBe(false);
  });
});

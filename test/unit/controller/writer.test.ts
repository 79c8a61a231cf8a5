import { describe, expect, it } from "vitest";
import { statusPatch } from "../../../src/controller/writer.ts";

describe("statusPatch", () => {
  it("removes a field the new status no longer has (null in the merge patch)", () => {
    const failed = [{ pod: "a", uid: "u", since: "2026-01-01T00:00:00Z", error: "refused" }];
    expect(
      statusPatch({ holder: "b", epoch: 2, failedProbes: failed }, { holder: "b", epoch: 2 }),
    ).toEqual({ holder: "b", epoch: 2, failedProbes: null });
  });

  it("sends the status as it is when nothing was removed", () => {
    expect(statusPatch(undefined, { holder: "a" })).toEqual({ holder: "a" });
    expect(statusPatch({ holder: "a" }, { holder: "b", epoch: 1 })).toEqual({
      holder: "b",
      epoch: 1,
    });
  });
});

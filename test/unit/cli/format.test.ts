import { describe, expect, it } from "vitest";
import { humanDuration, listing, table } from "../../../src/cli/format.ts";

describe("humanDuration", () => {
  it.each([
    [-5000, "<invalid>"],
    [0, "0s"],
    [119_000, "119s"],
    [200_000, "3m20s"],
    [300_000, "5m"],
    [25 * 60_000, "25m"],
    [(5 * 60 + 10) * 60_000, "5h10m"],
    [20 * 3_600_000, "20h"],
    [51 * 3_600_000, "2d3h"],
    [40 * 86_400_000, "40d"],
    [(2 * 365 + 10) * 86_400_000, "2y10d"],
  ])("%d ms -> %s (as kubectl's AGE)", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe("table", () => {
  it("aligns columns three spaces apart without trailing spaces", () => {
    expect(
      table(
        ["NAME", "X"],
        [
          ["a", ""],
          ["long-name", "y"],
        ],
      ),
    ).toBe("NAME        X\na\nlong-name   y\n");
  });
});

describe("listing", () => {
  it("joins with commas and 'and'", () => {
    expect(listing(["a"])).toBe("a");
    expect(listing(["a", "b", "c"])).toBe("a, b and c");
  });
});

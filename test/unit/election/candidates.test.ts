import { describe, expect, it } from "vitest";
import { isCandidate, parsePriority } from "../../../src/election/candidates.ts";
import type { PodView } from "../../../src/election/types.ts";
import { pod } from "./fixtures.ts";

describe("isCandidate", () => {
  const cases: Record<string, { pod: PodView; want: boolean }> = {
    "Running and Ready": { pod: pod("a"), want: true },
    "Running, not Ready": { pod: pod("a", { ready: false }), want: false },
    "Ready but terminating": { pod: pod("a", { terminating: true }), want: false },
    Pending: { pod: pod("a", { phase: "Pending", ready: false }), want: false },
    "Succeeded with a stale Ready": { pod: pod("a", { phase: "Succeeded" }), want: false },
    "Unknown phase": { pod: pod("a", { phase: "Unknown" }), want: false },
  };
  it.each(Object.entries(cases))("%s", (_, { pod, want }) => {
    expect(isCandidate(pod)).toBe(want);
  });
});

describe("parsePriority", () => {
  const cases: [string | undefined, number][] = [
    [undefined, 0],
    ["", 0],
    ["10", 10],
    ["+7", 7],
    ["-3", -3],
    ["-0", 0],
    ["007", 7],
    [" 5 ", 5],
    ["1000000000", 1_000_000_000],
    ["-1000000000", -1_000_000_000],
    ["1000000001", 0],
    ["99999999999999999999", 0],
    ["1.5", 0],
    ["1e3", 0],
    ["0x10", 0],
    ["high", 0],
    ["5 apples", 0],
    ["--1", 0],
    ["Infinity", 0],
  ];
  it.each(cases)("%j -> %d", (text, want) => {
    expect(Object.is(parsePriority(text), want)).toBe(true);
  });
});

describe("a pod whose leader label key holds someone else's value", () => {
  it("is no candidate: podium would have to overwrite that value to label it", () => {
    expect(isCandidate(pod("web-a", { leaderLabelValue: "web", foreignLabelValue: "web" }))).toBe(
      false,
    );
    expect(isCandidate(pod("web-a", { leaderLabelValue: "leader" }))).toBe(true);
  });
});

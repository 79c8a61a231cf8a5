import { describe, expect, it } from "vitest";
import type { LabelSelector } from "../../../src/api/types.ts";
import {
  isWellFormedSelector,
  matchesSelector,
  selectorToString,
} from "../../../src/election/selector.ts";

describe("matchesSelector", () => {
  const web = { app: "web", tier: "a" };
  const cases: Record<
    string,
    { labels: Record<string, string> | undefined; selector: LabelSelector; want: boolean }
  > = {
    "matchLabels all present": {
      labels: web,
      selector: { matchLabels: { app: "web" } },
      want: true,
    },
    "matchLabels value differs": {
      labels: web,
      selector: { matchLabels: { app: "api" } },
      want: false,
    },
    "matchLabels key missing": {
      labels: web,
      selector: { matchLabels: { app: "web", zone: "x" } },
      want: false,
    },
    "matchLabels and matchExpressions are ANDed": {
      labels: web,
      selector: {
        matchLabels: { app: "web" },
        matchExpressions: [{ key: "tier", operator: "In", values: ["b"] }],
      },
      want: false,
    },
    "In with the value": {
      labels: web,
      selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["a", "b"] }] },
      want: true,
    },
    "In with the key absent": {
      labels: { app: "web" },
      selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["a"] }] },
      want: false,
    },
    "In with no values matches nothing": {
      labels: web,
      selector: { matchExpressions: [{ key: "tier", operator: "In", values: [] }] },
      want: false,
    },
    "NotIn with the value": {
      labels: web,
      selector: { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["a"] }] },
      want: false,
    },
    "NotIn with another value": {
      labels: web,
      selector: { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["b"] }] },
      want: true,
    },
    "NotIn matches when the key is absent": {
      labels: { app: "web" },
      selector: { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["a"] }] },
      want: true,
    },
    "Exists with the key (empty value)": {
      labels: { canary: "" },
      selector: { matchExpressions: [{ key: "canary", operator: "Exists" }] },
      want: true,
    },
    "Exists without the key": {
      labels: web,
      selector: { matchExpressions: [{ key: "canary", operator: "Exists" }] },
      want: false,
    },
    "DoesNotExist without the key": {
      labels: web,
      selector: { matchExpressions: [{ key: "canary", operator: "DoesNotExist" }] },
      want: true,
    },
    "DoesNotExist with the key": {
      labels: { ...web, canary: "" },
      selector: { matchExpressions: [{ key: "canary", operator: "DoesNotExist" }] },
      want: false,
    },
    "a pod without labels against NotIn": {
      labels: undefined,
      selector: { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["a"] }] },
      want: true,
    },
    "empty selector matches nothing": { labels: web, selector: {}, want: false },
    "empty matchLabels and matchExpressions match nothing": {
      labels: web,
      selector: { matchLabels: {}, matchExpressions: [] },
      want: false,
    },
    "inherited object keys are not labels": {
      labels: {},
      selector: { matchExpressions: [{ key: "toString", operator: "Exists" }] },
      want: false,
    },
  };

  it.each(Object.entries(cases))("%s", (_, { labels, selector, want }) => {
    expect(matchesSelector(labels, selector)).toBe(want);
  });

  // What a CRD installed without validation lets through: each matches
  // nothing instead of throwing (a throw in the cache's event routing used to
  // stop pod events from reaching the well-formed groups of the namespace).
  const malformed: Record<string, unknown> = {
    "matchExpressions an object": { matchExpressions: { key: "app", operator: "Exists" } },
    "a null requirement": { matchExpressions: [null] },
    "a requirement without key": { matchExpressions: [{ operator: "Exists" }] },
    "an unknown operator": { matchExpressions: [{ key: "app", operator: "Gt", values: ["1"] }] },
    "values not a list": { matchExpressions: [{ key: "app", operator: "In", values: "web" }] },
    "a number among values": { matchExpressions: [{ key: "app", operator: "In", values: [1] }] },
    "matchLabels a list": { matchLabels: ["app"] },
    "a matchLabels value not a string": { matchLabels: { app: 1 } },
    "the selector a string": "app=web",
    "the selector null": null,
  };
  it.each(Object.entries(malformed))("malformed: %s matches nothing", (_, selector) => {
    expect(isWellFormedSelector(selector)).toBe(false);
    expect(matchesSelector(web, selector as LabelSelector)).toBe(false);
  });

  it("accepts the well-formed shapes", () => {
    expect(isWellFormedSelector({ matchLabels: { app: "web" } })).toBe(true);
    expect(
      isWellFormedSelector({ matchExpressions: [{ key: "tier", operator: "In", values: ["a"] }] }),
    ).toBe(true);
    expect(isWellFormedSelector({ matchExpressions: [{ key: "x", operator: "Exists" }] })).toBe(
      true,
    );
  });
});

describe("selectorToString", () => {
  const cases: Record<string, { selector: LabelSelector; want: string }> = {
    "matchLabels sorted by key": {
      selector: { matchLabels: { tier: "a", app: "web" } },
      want: "app=web,tier=a",
    },
    "every operator": {
      selector: {
        matchLabels: { app: "web" },
        matchExpressions: [
          { key: "tier", operator: "In", values: ["b", "a"] },
          { key: "foo", operator: "DoesNotExist" },
          { key: "bar", operator: "Exists" },
          { key: "zone", operator: "NotIn", values: ["x"] },
        ],
      },
      want: "app=web,bar,!foo,tier in (a,b),zone notin (x)",
    },
    "duplicate values collapse": {
      selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["a", "a"] }] },
      want: "tier in (a)",
    },
    "empty selector selects nothing rather than everything": {
      selector: {},
      want: "podium.dev/match-nothing,!podium.dev/match-nothing",
    },
    "In () selects nothing": {
      selector: {
        matchLabels: { app: "web" },
        matchExpressions: [{ key: "tier", operator: "In", values: [] }],
      },
      want: "podium.dev/match-nothing,!podium.dev/match-nothing",
    },
    "NotIn () is always true and left out": {
      selector: {
        matchLabels: { app: "web" },
        matchExpressions: [{ key: "tier", operator: "NotIn", values: [] }],
      },
      want: "app=web",
    },
  };

  it.each(Object.entries(cases))("%s", (_, { selector, want }) => {
    expect(selectorToString(selector)).toBe(want);
  });
});

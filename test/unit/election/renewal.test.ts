import { describe, expect, it } from "vitest";
import { nextRenewal } from "../../../src/election/renewal.ts";
import type { RenewalInput } from "../../../src/election/renewal.ts";
import { lease, leader, pod, spec, T0 } from "./fixtures.ts";

/** web-a holds the Lease (epoch 3, renewed at T0, version 7); its renewal is due at T0 + 10 s. */
function input(o: Partial<RenewalInput> = {}): RenewalInput {
  return {
    spec: spec(),
    ticket: { holder: { name: "web-a", uid: "uid-web-a" }, resourceVersion: "7" },
    lease: { ...lease("web-a", 3), resourceVersion: "7" },
    holder: leader("web-a", 3),
    now: T0 + 10_000,
    ...o,
  };
}

describe("nextRenewal (a renewal without the whole decision)", () => {
  it("renews once due, keeping transitions and acquireTime, at the version podium left", () => {
    expect(nextRenewal(input())).toEqual({
      kind: "renew",
      resourceVersion: "7",
      record: {
        holder: "web-a",
        holderUID: "uid-web-a",
        durationSeconds: 15,
        transitions: 3,
        acquireTime: T0,
        renewTime: T0 + 10_000,
      },
    });
  });

  it("waits until the renewal is due", () => {
    expect(nextRenewal(input({ now: T0 + 4000 }))).toEqual({ kind: "wait", at: T0 + 10_000 });
  });

  const toReconcile: [string, Partial<RenewalInput>, string][] = [
    ["no Lease", { lease: undefined }, "the Lease is gone"],
    [
      "someone wrote the Lease",
      { lease: { ...lease("web-a", 3), resourceVersion: "8" } },
      "the Lease changed since podium wrote it",
    ],
    [
      "another holder",
      { lease: { ...lease("web-b", 3), resourceVersion: "7" } },
      "the Lease names another holder",
    ],
    ["the holder pod is gone", { holder: undefined }, "the holder is gone"],
    [
      "the holder was recreated",
      { holder: leader("web-a", 3, { uid: "uid-other" }) },
      "the holder is gone",
    ],
    [
      "the holder is NotReady",
      { holder: leader("web-a", 3, { ready: false }) },
      "the holder is no candidate",
    ],
    [
      "the holder is terminating",
      { holder: leader("web-a", 3, { terminating: true }) },
      "the holder is no candidate",
    ],
    [
      "the holder lost its label",
      { holder: pod("web-a") },
      "the holder's label or epoch needs repair",
    ],
    [
      "the holder's epoch is stale",
      { holder: leader("web-a", 2) },
      "the holder's label or epoch needs repair",
    ],
  ];
  it.each(toReconcile)("hands the group to a reconcile: %s", (_, o, why) => {
    expect(nextRenewal(input(o))).toEqual({ kind: "reconcile", why });
  });
});

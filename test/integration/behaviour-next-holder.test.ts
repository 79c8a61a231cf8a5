import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setPodReady, sleep } from "../support/kube.ts";
import {
  createGroup,
  patchGroupSpec,
  waitForGroup,
  waitForObservedGeneration,
} from "../support/groups.ts";
import {
  createBarePod,
  deletePod,
  getPod,
  setPodReadySince,
  waitForPods,
} from "../support/pods.ts";
import { OperatedNamespace, spec } from "../support/operated-namespace.ts";

// Managed-mode behaviours (DESIGN.md §2) as a user sees them: which pod the
// group elects next, by preferredHolder, priority, revision, readiness age and
// name. Each describe has its own namespace and its own operator scoped to it
// (test/support/operated-namespace.ts), and a LeaderLabelRecorder per app that
// checks, from an independent pod watch, that no two pods of a group ever
// carried the label at once.

describe("the next holder: preferredHolder, priority, revision, Ready longest, name", () => {
  const f = new OperatedNamespace("bh-order");
  beforeAll(() => f.setUp(["pref", "prio", "rev", "name"]));
  afterAll(() => f.tearDown());

  it("moves leadership to a ready preferredHolder, and ignores it while it is NotReady", async () => {
    await f.pods("pref", ["pf-a", "pf-b", "pf-c"]);
    await createGroup(f.clients, f.namespace, "pref", spec("pref"));
    const first = await f.leader("pref", "pref");
    const [target, notReady] = ["pf-a", "pf-b", "pf-c"].filter((p) => p !== first);
    if (target === undefined || notReady === undefined) throw new Error("need 3 pods");

    await patchGroupSpec(f.clients, f.namespace, "pref", { preferredHolder: target });
    await f.leader("pref", "pref", { expected: target, timeoutMs: 10_000 });
    const moved = await f.group("pref");
    expect(moved.status?.history?.[0]).toMatchObject({
      from: first,
      to: target,
      reason: "PreferredHolder",
    });

    await setPodReady(f.clients, f.namespace, notReady, false);
    await waitForGroup(
      f.clients,
      f.namespace,
      "pref",
      "2 ready of 3",
      (g) => g.status?.ready === "2/3",
    );
    await patchGroupSpec(f.clients, f.namespace, "pref", { preferredHolder: notReady });
    await waitForObservedGeneration(f.clients, f.namespace, "pref");
    await sleep(1000);
    const after = await f.group("pref");
    expect(after.status?.holder).toBe(target);
    expect(after.status?.transitions).toBe(moved.status?.transitions);
    expect(await f.labelled("pref")).toEqual([target]);

    // Once the preferred pod is Ready, leadership moves to it.
    await setPodReady(f.clients, f.namespace, notReady, true);
    await f.leader("pref", "pref", { expected: notReady, timeoutMs: 10_000 });
    expect((await f.group("pref")).status?.history?.[0]).toMatchObject({
      from: target,
      to: notReady,
      reason: "PreferredHolder",
    });
  });

  it("chooses the highest podium.dev/priority on fail-over; a malformed one counts as 0", async () => {
    const pods: [string, string][] = [
      ["pr-lead", "100"],
      ["pr-high", "50"],
      ["pr-low", "1"],
      ["pr-bad", "1e3"], // not an integer: 0, not 1000
      ["pr-neg", "-5"],
    ];
    for (const [name, priority] of pods) {
      await createBarePod(f.clients, f.namespace, name, {
        labels: { app: "prio" },
        annotations: { "podium.dev/priority": priority },
      });
    }
    await waitForPods(
      f.clients,
      f.namespace,
      pods.map(([n]) => n),
    );
    await createGroup(f.clients, f.namespace, "prio", spec("prio"));
    let holder = await f.leader("prio", "prio");
    expect(holder).toBe("pr-lead");
    for (const expected of ["pr-high", "pr-low", "pr-bad"]) {
      await deletePod(f.clients, f.namespace, holder, 0);
      holder = await f.leader("prio", "prio", { not: holder, timeoutMs: 10_000 });
      expect(holder).toBe(expected);
    }
  });

  it("chooses a pod of the newest revision over an older one that has been Ready longer", async () => {
    const now = Date.now();
    await f.pods("rev", ["rv-old-a", "rv-old-b"], {
      labels: { "pod-template-hash": "old1" },
      startNotReady: true,
    });
    // creationTimestamp has 1 s resolution: the new revision's pod must be
    // created in a later second to be recognisably newer.
    const created = (await getPod(f.clients, f.namespace, "rv-old-b"))?.metadata?.creationTimestamp;
    const oldCreated = created === undefined ? Date.now() : new Date(created).getTime();
    await setPodReadySince(f.clients, f.namespace, "rv-old-a", new Date(now - 120_000));
    await setPodReadySince(f.clients, f.namespace, "rv-old-b", new Date(now - 60_000));
    // Hand-over off: this is the order's rule when the holder goes, not a hand-over (handover.test.ts).
    await createGroup(
      f.clients,
      f.namespace,
      "rev",
      spec("rev", { handover: { mode: "Disabled" } }),
    );
    expect(await f.leader("rev", "rev")).toBe("rv-old-a");

    await sleep(Math.max(0, oldCreated + 1100 - Date.now()));
    await f.pods("rev", ["rv-new-a"], {
      labels: { "pod-template-hash": "new2" },
      startNotReady: true,
    });
    await setPodReady(f.clients, f.namespace, "rv-new-a", true);
    await waitForGroup(
      f.clients,
      f.namespace,
      "rev",
      "3 ready of 3",
      (g) => g.status?.ready === "3/3",
    );
    expect((await f.group("rev")).status?.holder).toBe("rv-old-a");

    await deletePod(f.clients, f.namespace, "rv-old-a", 0);
    expect(await f.leader("rev", "rev", { not: "rv-old-a", timeoutMs: 10_000 })).toBe("rv-new-a");
  });

  it("prefers the pod Ready longest, then the first name", async () => {
    // Created in reverse name order, so creation order cannot pass for name order.
    await f.pods("name", ["nm-c", "nm-b", "nm-a"], { startNotReady: true });
    const base = Math.floor(Date.now() / 1000) * 1000;
    await setPodReadySince(f.clients, f.namespace, "nm-c", new Date(base - 90_000));
    await setPodReadySince(f.clients, f.namespace, "nm-b", new Date(base - 30_000));
    await setPodReadySince(f.clients, f.namespace, "nm-a", new Date(base - 30_000));
    await createGroup(f.clients, f.namespace, "name", spec("name"));
    expect(await f.leader("name", "name")).toBe("nm-c");
    await deletePod(f.clients, f.namespace, "nm-c", 0);
    expect(await f.leader("name", "name", { not: "nm-c", timeoutMs: 10_000 })).toBe("nm-a");
  });

  it("never showed two labelled pods", () => {
    for (const app of ["pref", "prio", "rev", "name"]) expect(f.violations(app)).toEqual([]);
  });
});

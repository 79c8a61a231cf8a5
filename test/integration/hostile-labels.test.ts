import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { setPodReady, waitFor } from "../support/kube.ts";
import {
  createGroup,
  getGroup,
  groupCondition,
  readLease,
  waitForGroup,
  waitForLeader,
} from "../support/groups.ts";
import {
  getPod,
  labelledPods,
  listPods,
  patchPodMetadata,
  readyEndpoints,
} from "../support/pods.ts";
import { expectHealthy, pods, startWatchedOperator, waitForEvent } from "../support/hostile.ts";
import type { Watched } from "../support/hostile.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

// Hostile and broken input (issue 7), labels and annotations: malformed
// priority annotations, groups fighting over pods or over a Lease, pods that
// label themselves leader, a long non-ASCII selector key. In every case the
// operator keeps running with /healthz 200 and the group says what happened
// with a condition and an Event (helpers: test/support/hostile.ts). Already
// covered elsewhere, and not repeated here: the older-of-two-groups rule with
// identical selectors (behaviour-lifecycle.test.ts), a hand-made stray label on
// a Managed group (behaviour-status.test.ts) and "1e3"/"-5" priorities
// (behaviour-next-holder.test.ts).

describe("malformed annotations, groups fighting over pods, pods that label themselves", () => {
  const ns = new SuiteNamespace("hx-misc");
  let w: Watched;

  beforeAll(async () => {
    await ns.open(["prio", "fight", "self"]);
    w = await startWatchedOperator(inject("operatorKubeconfig"), [ns.namespace]);
  });
  afterAll(() => ns.close());

  it("ranks malformed podium.dev/priority values as 0, below a valid 2", async () => {
    const priorities: Record<string, string> = {
      "pr-abc": "abc",
      "pr-exp": "1e99",
      "pr-dash": "-",
      "pr-huge": "99999999999999999999",
      "pr-long": "9".repeat(100_000),
      "pr-hex": "0x7fffffff",
      "pr-two": "2",
      "pr-three": "3",
    };
    await pods(ns.clients, ns.namespace, "prio", Object.keys(priorities), (n) => ({
      "podium.dev/priority": priorities[n] ?? "",
    }));
    await createGroup(ns.clients, ns.namespace, "prio", {
      selector: { matchLabels: { app: "prio" } },
    });
    expect(await waitForLeader(ns.clients, ns.namespace, "prio", "app=prio")).toBe("pr-three");
    await setPodReady(ns.clients, ns.namespace, "pr-three", false);
    expect(
      await waitForLeader(ns.clients, ns.namespace, "prio", "app=prio", {
        not: "pr-three",
        timeoutMs: 10_000,
      }),
    ).toBe("pr-two");
    await waitForEvent(ns.clients, ns.namespace, "prio", "LeaderElected", ["pr-two", "pr-three"]);

    // The leader's own annotation turned to garbage: it stays leader (sticky), nothing moves.
    const before = await getGroup(ns.clients, ns.namespace, "prio");
    await patchPodMetadata(ns.clients, ns.namespace, "pr-two", {
      annotations: { "podium.dev/priority": "-" },
    });
    await setPodReady(ns.clients, ns.namespace, "pr-three", true);
    await waitForGroup(
      ns.clients,
      ns.namespace,
      "prio",
      "8 ready candidates",
      (g) => g.status?.readyCandidates === 8,
    );
    const after = await getGroup(ns.clients, ns.namespace, "prio");
    expect(after.status?.holder).toBe("pr-two");
    expect(after.status?.transitions).toBe(before.status?.transitions);
    expect(groupCondition(after, "LeaderElected")?.status).toBe("True");
    expect(await labelledPods(ns.clients, ns.namespace, "app=prio")).toEqual(["pr-two"]);
    await expectHealthy(w);
    expect(ns.recorders.get("prio")?.violations()).toEqual([]);
  });

  it("lets the older of two groups win over overlapping selectors and modes; the newer touches nothing", async () => {
    await pods(ns.clients, ns.namespace, "fight", ["fi-a", "fi-b", "fi-c"], () => ({}), {
      tier: "db",
    });
    const older = await createGroup(ns.clients, ns.namespace, "fa", {
      selector: { matchLabels: { app: "fight" } },
    });
    const holder = await waitForLeader(ns.clients, ns.namespace, "fa", "app=fight");
    // A second later, so that the newer group is newer by its creationTimestamp, not by name.
    await waitFor("a new second", () =>
      Promise.resolve(
        Date.now() >= Date.parse(older.metadata.creationTimestamp) + 1000 ? true : undefined,
      ),
    );
    // Another selector form (matchExpressions on another label) and the other mode.
    await createGroup(ns.clients, ns.namespace, "fb", {
      selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["db", "cache"] }] },
      mode: "Observed",
      lease: { name: "fb" },
    });
    const fb = await waitForGroup(
      ns.clients,
      ns.namespace,
      "fb",
      "Conflict=True",
      (g) => groupCondition(g, "Conflict")?.status === "True",
    );
    expect(groupCondition(fb, "Ready")).toMatchObject({ status: "False", reason: "Conflict" });
    expect(groupCondition(fb, "Conflict")?.message).toContain("fa");
    await waitForEvent(ns.clients, ns.namespace, "fb", "Conflict", ["fa"]);
    expect(fb.metadata.finalizers ?? []).toEqual([]);

    // The older group keeps working while the newer one stands by: it fails over.
    await setPodReady(ns.clients, ns.namespace, holder, false);
    const next = await waitForLeader(ns.clients, ns.namespace, "fa", "app=fight", {
      not: holder,
      timeoutMs: 10_000,
    });
    const fbAfter = await getGroup(ns.clients, ns.namespace, "fb");
    expect(fbAfter.metadata.resourceVersion).toBe(fb.metadata.resourceVersion);
    expect(await readLease(ns.clients, ns.namespace, "fb")).toBeUndefined();
    for (const pod of await listPods(ns.clients, ns.namespace, "app=fight")) {
      expect(pod.metadata?.labels?.role === "leader").toBe(pod.metadata?.name === next);
    }
    await expectHealthy(w);
    expect(ns.recorders.get("fight")?.violations()).toEqual([]);
  });

  it("a group that names another group's Lease touches neither the Lease nor the pods", async () => {
    const lease = await readLease(ns.clients, ns.namespace, "fa");
    const holder = lease?.spec?.holderIdentity ?? "";
    // A different label key: no conflict over the pods, but the Lease belongs to `fa`.
    await createGroup(ns.clients, ns.namespace, "fc", {
      selector: { matchLabels: { app: "fight" } },
      leaderLabel: { key: "tier-leader", value: "yes" },
      lease: { name: "fa" },
    });
    const fc = await waitForGroup(
      ns.clients,
      ns.namespace,
      "fc",
      "Ready=False LeaseConflict",
      (g) => groupCondition(g, "Ready")?.reason === "LeaseConflict",
    );
    expect(groupCondition(fc, "Ready")?.message).toContain("spec.lease.name");
    const pods = await listPods(ns.clients, ns.namespace, "app=fight");
    expect(pods.filter((p) => p.metadata?.labels?.["tier-leader"] !== undefined)).toEqual([]);
    expect((await readLease(ns.clients, ns.namespace, "fa"))?.spec?.holderIdentity).toBe(holder);
    await expectHealthy(w);
    // What the user sees in `kubectl describe eg fc`, besides the condition.
    await waitForEvent(ns.clients, ns.namespace, "fc", "LeaseConflict", ["fa"], 5000);
  });

  it("reverts pods that are born with, or keep giving themselves, the leader label", async () => {
    // Pods whose template carries role=leader and a forged epoch, as a careless chart might.
    await pods(
      ns.clients,
      ns.namespace,
      "self",
      ["se-a", "se-b", "se-c"],
      () => ({ "podium.dev/epoch": "999" }),
      { role: "leader" },
    );
    await ns.clients.core.createNamespacedService({
      namespace: ns.namespace,
      body: {
        metadata: { name: "self-leader" },
        spec: { selector: { app: "self", role: "leader" }, ports: [{ port: 80 }] },
      },
    });
    await createGroup(ns.clients, ns.namespace, "self", {
      selector: { matchLabels: { app: "self" } },
    });
    const holder = await waitForLeader(ns.clients, ns.namespace, "self", "app=self");
    const epoch = (await getGroup(ns.clients, ns.namespace, "self")).status?.epoch ?? 0;
    for (const pod of await listPods(ns.clients, ns.namespace, "app=self")) {
      const name = pod.metadata?.name ?? "";
      expect(pod.metadata?.annotations?.["podium.dev/epoch"], name).toBe(
        name === holder ? String(epoch) : undefined,
      );
    }

    // A pod that keeps labelling itself, five times: reverted each time, the holder stays.
    const rogue = ["se-a", "se-b", "se-c"].find((n) => n !== holder) ?? "";
    for (let i = 0; i < 5; i++) {
      await patchPodMetadata(ns.clients, ns.namespace, rogue, { labels: { role: "leader" } });
      await waitFor(`${rogue}'s label reverted (${String(i + 1)})`, async () => {
        const pod = await getPod(ns.clients, ns.namespace, rogue);
        return pod?.metadata?.labels?.role === undefined ? true : undefined;
      });
    }
    const group = await getGroup(ns.clients, ns.namespace, "self");
    expect(group.status?.holder).toBe(holder);
    expect(group.status?.epoch).toBe(epoch);
    await waitForEvent(ns.clients, ns.namespace, "self", "StrayLeaderLabelRemoved", [rogue]);
    await waitFor("the Service to reach the holder alone", async () => {
      const endpoints = await readyEndpoints(ns.clients, ns.namespace, "self-leader");
      return endpoints.join() === holder ? true : undefined;
    });
    await expectHealthy(w);
  });

  it("reports an invalid selector key that is long and not ASCII in the InvalidSpec Event", async () => {
    // The CRD cannot check matchLabels keys; podium refuses them. The Event's note is limited
    // to 1024 bytes, and this key makes the message longer than that in bytes, not characters.
    const key = "é".repeat(600);
    await createGroup(ns.clients, ns.namespace, "uni", {
      selector: { matchLabels: { [key]: "x" } },
    });
    const g = await waitForGroup(
      ns.clients,
      ns.namespace,
      "uni",
      "Ready=False InvalidSpec",
      (x) => groupCondition(x, "Ready")?.reason === "InvalidSpec",
    );
    expect(groupCondition(g, "Ready")?.message).toContain("spec.selector.matchLabels.");
    await waitForEvent(
      ns.clients,
      ns.namespace,
      "uni",
      "InvalidSpec",
      ["spec.selector.matchLabels."],
      5000,
    );
    await expectHealthy(w);
  });
});

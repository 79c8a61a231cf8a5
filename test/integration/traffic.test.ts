import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ElectionGroup } from "../../src/api/types.ts";
import { InvariantChecker } from "../support/invariant-checker.ts";
import { createGroup, groupCondition, waitForGroup } from "../support/groups.ts";
import {
  createBarePod,
  createService,
  deletePod,
  getPod,
  readyEndpoints,
} from "../support/pods.ts";
import { OperatedNamespace, spec } from "../support/operated-namespace.ts";

// TrafficRouted and the cutover as a user sees them (issue 15): the Services
// that route to a group's leader, what their EndpointSlices list, the phases
// of each transition, and Verified cutover's wait and its timeout. The
// invariant checker watches the namespace throughout.

const routed = (g: ElectionGroup): string | undefined => groupCondition(g, "TrafficRouted")?.status;

describe("TrafficRouted and the cutover", () => {
  const f = new OperatedNamespace("traffic");
  let checker: InvariantChecker;
  beforeAll(async () => {
    await f.open(["tr", "vf"]);
    checker = new InvariantChecker(f.clients.kc, f.namespace);
    await checker.start();
    await f.startOperator();
  }, 120_000);
  afterAll(async () => {
    await checker.stop();
    await f.tearDown();
  });

  /** Waits until TrafficRouted of `group` is `status` (and `accept` holds); returns the group. */
  const waitRouted = (
    group: string,
    status: string,
    accept: (g: ElectionGroup) => boolean = () => true,
  ): Promise<ElectionGroup> =>
    waitForGroup(
      f.clients,
      f.namespace,
      group,
      `TrafficRouted ${status}`,
      (g) => routed(g) === status && accept(g),
      { timeoutMs: 20_000 },
    );

  it("is Unknown without a leader Service, True once one lists the leader alone", async () => {
    await f.pods("tr", ["tr-a", "tr-b", "tr-c"]);
    await createGroup(f.clients, f.namespace, "tr", spec("tr"));
    const holder = await f.leader("tr", "tr");
    const before = await waitRouted("tr", "Unknown");
    expect(groupCondition(before, "TrafficRouted")?.reason).toBe("NoLeaderService");
    expect(groupCondition(before, "Ready")?.status).toBe("True");
    // A Service on the app alone reaches every pod: it does not route to the leader.
    await createService(f.clients, f.namespace, "tr-all", { app: "tr" });
    await createService(f.clients, f.namespace, "tr-leader", { app: "tr", role: "leader" });
    const after = await waitRouted("tr", "True");
    expect(groupCondition(after, "TrafficRouted")?.message).toContain(`Service tr-leader lists`);
    expect(groupCondition(after, "TrafficRouted")?.message).toContain(holder);
    expect(groupCondition(after, "Ready")?.status).toBe("True");
  });

  it("follows fail-overs, and times each phase of them", async () => {
    for (let i = 0; i < 2; i++) {
      const old = await f.leader("tr", "tr");
      const epoch = (await f.group("tr")).status?.epoch ?? 0;
      await deletePod(f.clients, f.namespace, old, 0);
      const next = await f.leader("tr", "tr", { not: old, timeoutMs: 10_000 });
      const g = await waitRouted(
        "tr",
        "True",
        (x) =>
          x.status?.epoch === epoch + 1 &&
          x.status.history?.[0]?.phases?.newEndpointReadyMs !== undefined,
      );
      expect(await readyEndpoints(f.clients, f.namespace, "tr-leader")).toEqual([next]);
      const entry = g.status?.history?.[0];
      expect(entry).toMatchObject({ from: old, to: next, epoch: epoch + 1 });
      const p = entry?.phases ?? {};
      console.log(`fail-over ${String(i + 1)}: phases ${JSON.stringify(p)}`);
      expect(p.labelRemovedMs ?? 0).toBeLessThanOrEqual(p.leaseWrittenMs ?? Infinity);
      expect(p.leaseWrittenMs ?? 0).toBeLessThanOrEqual(p.labelWrittenMs ?? Infinity);
      expect(p.labelWrittenMs).toBeDefined();
      expect(p.oldEndpointGoneMs).toBeDefined();
      expect(p.labelWrittenMs ?? 0).toBeLessThanOrEqual(p.newEndpointReadyMs ?? -1);
      expect(entry?.cutover).toBeUndefined();
      await f.pods("tr", [`${old}-again`]);
    }
  });

  it("says which Service lists a pod that is not the group's, and Ready is False meanwhile", async () => {
    await createService(f.clients, f.namespace, "tr-any-leader", { role: "leader" });
    const two = await waitRouted("tr", "True", (g) =>
      (groupCondition(g, "TrafficRouted")?.message ?? "").includes("tr-any-leader, tr-leader"),
    );
    expect(groupCondition(two, "TrafficRouted")?.message).toMatch(
      /^Services tr-any-leader, tr-leader list/,
    );
    // A pod of another app carrying role=leader: tr-any-leader routes to it too.
    await createBarePod(f.clients, f.namespace, "stranger", {
      labels: { app: "elsewhere", role: "leader" },
    });
    const caught = await waitRouted("tr", "False");
    const condition = groupCondition(caught, "TrafficRouted");
    expect(condition?.reason).toBe("ServiceSelectsNonLeader");
    expect(condition?.message).toContain("Service tr-any-leader also selects stranger");
    expect(groupCondition(caught, "Ready")).toMatchObject({
      status: "False",
      reason: "ServiceSelectsNonLeader",
    });
    await deletePod(f.clients, f.namespace, "stranger", 0);
    const fixed = await waitRouted("tr", "True");
    expect(groupCondition(fixed, "Ready")?.status).toBe("True");
  });

  it("goes back to Unknown when the leader Services go", async () => {
    await f.clients.core.deleteNamespacedService({ namespace: f.namespace, name: "tr-any-leader" });
    await f.clients.core.deleteNamespacedService({ namespace: f.namespace, name: "tr-leader" });
    const g = await waitRouted("tr", "Unknown");
    expect(groupCondition(g, "Ready")?.status).toBe("True");
  });

  it("Verified cutover: labels the new leader once the old one left the Service", async () => {
    await f.pods("vf", ["vf-a", "vf-b", "vf-c"]);
    await createService(f.clients, f.namespace, "vf-leader", { app: "vf", role: "leader" });
    await createGroup(
      f.clients,
      f.namespace,
      "vf",
      spec("vf", { cutover: { mode: "Verified", timeoutSeconds: 2 } }),
    );
    await waitRouted("vf", "True");
    const old = await f.leader("vf", "vf");
    await deletePod(f.clients, f.namespace, old, 0);
    const next = await f.leader("vf", "vf", { not: old, timeoutMs: 10_000 });
    const g = await waitRouted(
      "vf",
      "True",
      (x) => x.status?.history?.[0]?.phases?.newEndpointReadyMs !== undefined,
    );
    const entry = g.status?.history?.[0];
    console.log(`verified cutover: phases ${JSON.stringify(entry?.phases)}`);
    expect(entry).toMatchObject({ from: old, to: next, cutover: "Verified" });
    // The old endpoint was gone before the new leader was labelled.
    expect(entry?.phases?.oldEndpointGoneMs ?? Infinity).toBeLessThanOrEqual(
      entry?.phases?.labelWrittenMs ?? -1,
    );
    expect(await f.events("vf", "CutoverUnverified")).toEqual([]);
  });

  it("Verified cutover: after the timeout, labels the new leader anyway and says so", async () => {
    const old = await f.leader("vf", "vf");
    const pod = await getPod(f.clients, f.namespace, old);
    // A slice of the Service that nobody but this test writes: it keeps listing the old leader.
    await f.clients.discovery.createNamespacedEndpointSlice({
      namespace: f.namespace,
      body: {
        metadata: {
          name: "vf-leader-pinned",
          labels: { "kubernetes.io/service-name": "vf-leader" },
        },
        addressType: "IPv4",
        endpoints: [
          {
            addresses: ["10.244.255.1"],
            conditions: { ready: true },
            targetRef: {
              kind: "Pod",
              name: old,
              uid: pod?.metadata?.uid ?? "",
              namespace: f.namespace,
            },
          },
        ],
        ports: [{ port: 8080, protocol: "TCP" }],
      },
    });
    // Both slices list the holder alone: still routed.
    await waitRouted("vf", "True");
    const epoch = (await f.group("vf")).status?.epoch ?? 0;
    const causeAt = Date.now();
    await deletePod(f.clients, f.namespace, old, 0);
    const next = await f.leader("vf", "vf", { not: old, timeoutMs: 15_000 });
    const ledAfter = (f.recorderOf("vf").firstLed(next, causeAt) ?? Infinity) - causeAt;
    console.log(
      `verified cutover timed out: the new leader was labelled ${String(ledAfter)} ms after the delete`,
    );
    // The 2 s timeout, not the 15 s a stale Lease would take.
    expect(ledAfter).toBeGreaterThanOrEqual(1500);
    expect(ledAfter).toBeLessThan(10_000);
    const events = await f.waitForEvent("vf", "CutoverUnverified");
    expect(events.some((e) => e.note?.includes(`old leader ${old}`))).toBe(true);
    const g = await waitForGroup(
      f.clients,
      f.namespace,
      "vf",
      "history says TimedOut",
      (x) => x.status?.history?.[0]?.cutover === "TimedOut" && x.status.epoch === epoch + 1,
    );
    const condition = groupCondition(g, "TrafficRouted");
    expect(condition?.message).toContain("was not verified");
    // The pinned slice still lists the old leader: traffic is not routed, and Ready says so.
    expect(condition?.status).toBe("False");
    expect(groupCondition(g, "Ready")?.status).toBe("False");
    await f.clients.discovery.deleteNamespacedEndpointSlice({
      namespace: f.namespace,
      name: "vf-leader-pinned",
    });
    await waitRouted("vf", "True");
  });

  it("never had two leaders, nor a Lease and labels that disagree", () => {
    const result = checker.check();
    expect(result.violations, InvariantChecker.format(result)).toEqual([]);
  });
});

import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ElectionGroup } from "../../src/api/types.ts";
import { InvariantChecker } from "../support/invariant-checker.ts";
import { createGroup, groupCondition, waitForGroup } from "../support/groups.ts";
import { podCondition, waitFor } from "../support/kube.ts";
import { createDeployment, createService, getPod, readyEndpoints } from "../support/pods.ts";
import { OperatedNamespace, spec } from "../support/operated-namespace.ts";

// Planned hand-over during a rollout (spec.handover OnRollout, issue 15): a
// Deployment rolls out under a group, and leadership moves once, to a pod of
// the new revision, while the old holder still runs, through a Verified
// cutover. The Deployment's minReadySeconds (6 s) holds each old pod for that
// long after a new one turned Ready; the hand-over's settle time is 1 s, so the
// hand-over comes first whichever old pod the ReplicaSet deletes first.

const APP = "ho";
const REPLICAS = 3;

describe("hand-over during a rollout", () => {
  const f = new OperatedNamespace("handover");
  let checker: InvariantChecker;
  beforeAll(async () => {
    await f.open([APP]);
    checker = new InvariantChecker(f.clients.kc, f.namespace);
    await checker.start();
    await f.startOperator();
  }, 120_000);
  afterAll(async () => {
    await checker.stop();
    await f.tearDown();
  });

  /** The Deployment's pods: names, revision and whether terminating. */
  const pods = async () =>
    (
      await f.clients.core.listNamespacedPod({
        namespace: f.namespace,
        labelSelector: `app=${APP}`,
      })
    ).items.map((p) => ({
      name: p.metadata?.name ?? "",
      revision: p.metadata?.labels?.["pod-template-hash"] ?? "",
      terminating: p.metadata?.deletionTimestamp !== undefined,
      ready: podCondition(p, "Ready") === "True",
    }));

  /** Waits (bounded) until every pod is of one revision, Ready, none terminating; returns it. */
  const rolledOut = (what: string, not?: string): Promise<string> =>
    waitFor(
      what,
      async () => {
        const all = await pods();
        const revisions = new Set(all.map((p) => p.revision));
        const [revision] = [...revisions];
        const done =
          all.length === REPLICAS &&
          revisions.size === 1 &&
          revision !== not &&
          all.every((p) => p.ready && !p.terminating);
        return done ? revision : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );

  const routed = (g: ElectionGroup): boolean =>
    groupCondition(g, "TrafficRouted")?.status === "True";

  it("moves leadership once, to a new-revision pod, while the old holder still runs", async () => {
    await createDeployment(f.clients, f.namespace, APP, REPLICAS, { minReadySeconds: 6 });
    await createService(f.clients, f.namespace, `${APP}-leader`, { app: APP, role: "leader" });
    const before = await rolledOut("the Deployment's first pods");
    await createGroup(
      f.clients,
      f.namespace,
      APP,
      spec(APP, {
        handover: { mode: "OnRollout", settleSeconds: 1 },
        cutover: { mode: "Verified", timeoutSeconds: 5 },
      }),
    );
    const old = await f.leader(APP, APP);
    const steady = await waitForGroup(f.clients, f.namespace, APP, "routed", routed, {
      timeoutMs: 20_000,
    });
    const { epoch = 0, transitions = 0 } = steady.status ?? {};

    const startedAt = Date.now();
    await f.clients.apps.patchNamespacedDeployment(
      {
        namespace: f.namespace,
        name: APP,
        body: { spec: { template: { metadata: { annotations: { "podium.dev/rollout": "1" } } } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const next = await f.leader(APP, APP, { not: old, timeoutMs: 30_000 });
    // The old holder still runs, Ready and not terminating, when the new one leads.
    const oldPod = await getPod(f.clients, f.namespace, old);
    expect(oldPod?.metadata?.deletionTimestamp).toBeUndefined();
    expect(podCondition(oldPod ?? {}, "Ready")).toBe("True");
    const nextPod = await getPod(f.clients, f.namespace, next);
    expect(nextPod?.metadata?.labels?.["pod-template-hash"]).not.toBe(before);

    const after = await rolledOut("the rollout to finish", before);
    expect(nextPod?.metadata?.labels?.["pod-template-hash"]).toBe(after);
    const g = await waitForGroup(
      f.clients,
      f.namespace,
      APP,
      "routed to the new leader, its cutover followed",
      (x) =>
        routed(x) &&
        x.status?.holder === next &&
        x.status.history?.[0]?.phases?.newEndpointReadyMs !== undefined,
      { timeoutMs: 20_000 },
    );
    // Exactly one transition for the whole rollout, a Handover through a Verified cutover.
    expect(g.status?.transitions).toBe(transitions + 1);
    expect(g.status?.epoch).toBe(epoch + 1);
    const entry = g.status?.history?.[0];
    console.log(`hand-over: ${JSON.stringify(entry)}`);
    expect(entry).toMatchObject({ from: old, to: next, reason: "Handover", cutover: "Verified" });
    expect(entry?.phases?.oldEndpointGoneMs ?? Infinity).toBeLessThanOrEqual(
      entry?.phases?.labelWrittenMs ?? -1,
    );
    expect(await readyEndpoints(f.clients, f.namespace, `${APP}-leader`)).toEqual([next]);
    const handed = await f.waitForEvent(APP, "LeadershipHandedOver");
    expect(handed.map((e) => e.note)).toEqual([
      `handed leadership from pod ${old} to pod ${next} of the new revision before ${old} was terminated (spec.handover)`,
    ]);
    // One pod gained the label during the rollout, in an independent pod watch.
    const gained = f
      .recorderOf(APP)
      .observations.filter((o) => o.at >= startedAt)
      .flatMap((o) => o.labelled)
      .filter((p) => p !== old);
    expect([...new Set(gained)]).toEqual([next]);
  }, 180_000);

  it("never had two leaders, nor a Lease and labels that disagree", () => {
    const result = checker.check();
    expect(result.violations, InvariantChecker.format(result)).toEqual([]);
    expect(f.violations(APP)).toEqual([]);
  });
});

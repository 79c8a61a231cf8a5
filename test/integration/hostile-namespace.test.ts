import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { stopAllOperators } from "../support/operator.ts";
import { createGroup, getGroup, teardown, waitForLeader } from "../support/groups.ts";
import { deletePod } from "../support/pods.ts";
import { expectHealthy, pods, startWatchedOperator } from "../support/hostile.ts";
import type { Watched } from "../support/hostile.ts";
import { metricValue } from "../support/prometheus.ts";

// Hostile and broken input (issue 7): a namespace deleted under its groups. The
// operator keeps running with /healthz 200, and the group of another namespace
// keeps failing over (helpers: test/support/hostile.ts).

describe("a namespace deleted under its groups", () => {
  let clients: Clients;
  let w: Watched;
  let gone: string;
  let stay: string;
  let removeStay: () => Promise<void>;

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    gone = (await createNamespace(clients, "hx-gone")).name;
    ({ name: stay, remove: removeStay } = await createNamespace(clients, "hx-stay"));
    w = await startWatchedOperator(inject("operatorKubeconfig"), [gone, stay]);
  });
  afterAll(async () => {
    await teardown(clients, stay, stopAllOperators, removeStay);
  });

  it("lets the namespace go, keeps the operator healthy and the other namespace's group working", async () => {
    for (const ns of [gone, stay]) {
      await pods(clients, ns, "ns", ["ns-a", "ns-b"]);
      await createGroup(clients, ns, "grp", { selector: { matchLabels: { app: "ns" } } });
      await createGroup(clients, ns, "obs", {
        selector: { matchLabels: { app: "ns" } },
        mode: "Observed",
        leaderLabel: { key: "observed-leader", value: "yes" },
      });
      await waitForLeader(clients, ns, "grp", "app=ns");
    }
    const goneLeader = (await getGroup(clients, gone, "grp")).status?.holder ?? "";
    expect(
      metricValue(await w.op.metrics(), "podium_electiongroup_leader", {
        namespace: gone,
        name: "grp",
      }),
    ).toBe(1);

    await clients.core.deleteNamespace({ name: gone });
    // The groups' finalizers are podium's: a namespace stuck in Terminating would be its fault.
    await waitFor(
      `namespace ${gone} to be gone`,
      async () => {
        try {
          await clients.core.readNamespace({ name: gone });
          return undefined;
        } catch (err) {
          if (err instanceof ApiException && err.code === 404) return true;
          throw err;
        }
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(goneLeader).not.toBe("");
    await waitFor("the deleted groups' series to go", async () => {
      const text = await w.op.metrics();
      return metricValue(text, "podium_electiongroup_leader", { namespace: gone }) === undefined &&
        metricValue(text, "podium_electiongroup_ready_candidates", { namespace: gone }) ===
          undefined
        ? true
        : undefined;
    });

    // The other namespace is unaffected: its group still fails over.
    const holder = await waitForLeader(clients, stay, "grp", "app=ns");
    await deletePod(clients, stay, holder, 0);
    const next = await waitForLeader(clients, stay, "grp", "app=ns", {
      not: holder,
      timeoutMs: 10_000,
    });
    expect(next).not.toBe(holder);
    // Writes refused in a terminating namespace may fail a reconcile (retried until the group
    // is gone); nothing else may go wrong.
    await expectHealthy(w, ["because it is being terminated"]);
  });
});

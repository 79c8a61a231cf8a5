/**
 * podium touches only what it owns (docs/semantics.md, "What podium writes"):
 * the two mistakes a new user makes most (naming another app's Lease; a
 * leader label key that another controller selects by) replayed on a real
 * API server, and the confused-deputy check: a user who may only edit
 * ElectionGroups cannot, through podium, change a Lease or a label that the
 * user could not change directly.
 */
import {
  ApiException,
  CoordinationV1Api,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { V1Lease } from "@kubernetes/client-node";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { kubectl, serviceAccountKubeconfig } from "../support/install.ts";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import {
  createGroup,
  deleteGroup,
  groupCondition,
  groupEvents,
  groupExists,
  teardown,
  waitForGroup,
} from "../support/groups.ts";
import { createBarePod, listPods, waitForPods } from "../support/pods.ts";

/** Short lease timings, so that "several renew periods" (2 s each) pass in seconds. */
const FAST_LEASE = { durationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 };

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/** A Lease as a client-go app's LeaseLock leaves it: no owner, its own holder, an hour long. */
async function clientGoLease(clients: Clients, namespace: string, name: string): Promise<V1Lease> {
  return clients.kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
    namespace,
    body: {
      metadata: { name, namespace },
      // MicroTime as the API server sends it: a string with six fractional digits.
      spec: {
        holderIdentity: "other-app-7d9f-abcde_1234",
        leaseDurationSeconds: 3600,
        leaseTransitions: 3,
        acquireTime: microTime(Date.now()),
        renewTime: microTime(Date.now()),
      } as Record<string, unknown>,
    },
  });
}

async function readLease(clients: Clients, namespace: string, name: string): Promise<V1Lease> {
  return clients.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace });
}

/**
 * Runs `check` every 250 ms for `ms` (at most 200 times): what must stay
 * true over several renew periods, in which a renewal, a takeover or a
 * relabel would have shown.
 */
async function expectSteady(ms: number, check: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  for (let i = 0; i < 200 && Date.now() < until; i++) {
    await check();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await check();
}

/** Fails at the first change of the Lease within `ms`; podium must never be a field manager. */
async function expectLeaseUntouched(
  clients: Clients,
  namespace: string,
  before: V1Lease,
  ms: number,
): Promise<void> {
  await expectSteady(ms, async () => {
    const now = await readLease(clients, namespace, before.metadata?.name ?? "");
    expect(now.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(now.spec).toEqual(before.spec);
  });
  const managers = (await readLease(clients, namespace, before.metadata?.name ?? "")).metadata
    ?.managedFields;
  expect((managers ?? []).map((m) => m.manager)).not.toContain("podium");
}

async function bareReadyPods(
  clients: Clients,
  namespace: string,
  names: readonly string[],
  labels: Record<string, string>,
): Promise<void> {
  for (const name of names) await createBarePod(clients, namespace, name, { labels });
  await waitForPods(clients, namespace, names);
}

describe("a Managed group that names a Lease podium did not create", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "own-lease"));
    await startOperator(inject("operatorKubeconfig"), { args: [`--namespace=${namespace}`] });
  });
  afterAll(async () => {
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  it("leaves a client-go app's Lease untouched over several renew periods, and says why", async () => {
    await bareReadyPods(clients, namespace, ["web-a", "web-b"], { app: "web" });
    const lease = await clientGoLease(clients, namespace, "other-app-lock");
    await createGroup(clients, namespace, "web", {
      selector: { matchLabels: { app: "web" } },
      lease: { name: "other-app-lock", ...FAST_LEASE },
    });
    const group = await waitForGroup(
      clients,
      namespace,
      "web",
      "Ready=False LeaseConflict",
      (g) => groupCondition(g, "Ready")?.reason === "LeaseConflict",
    );
    const message = groupCondition(group, "Ready")?.message ?? "";
    expect(message).toContain("Lease other-app-lock (held by other-app-7d9f-abcde_1234)");
    expect(message).toContain("spec.mode: Observed");
    const events = await waitFor("a LeaseConflict Event", async () => {
      const found = await groupEvents(clients, namespace, "web", "LeaseConflict");
      return found.length > 0 ? found : undefined;
    });
    expect(events[0]?.note).toContain("other-app-lock");

    await expectLeaseUntouched(clients, namespace, lease, 3 * 2_000 + 500);
    expect(await listPods(clients, namespace, "role=leader")).toEqual([]);
  });

  it("does the same when the group is named after the app's lock and mode is left out", async () => {
    await bareReadyPods(clients, namespace, ["lock-a"], { app: "lock" });
    const lease = await clientGoLease(clients, namespace, "lock-app");
    await createGroup(clients, namespace, "lock-app", {
      selector: { matchLabels: { app: "lock" } },
      lease: FAST_LEASE,
    });
    await waitForGroup(
      clients,
      namespace,
      "lock-app",
      "Ready=False LeaseConflict",
      (g) => groupCondition(g, "Ready")?.reason === "LeaseConflict",
    );
    await expectLeaseUntouched(clients, namespace, lease, 3 * 2_000 + 500);
    expect(await listPods(clients, namespace, "app=lock,role=leader")).toEqual([]);
  });
});

describe("a leader label key that another controller selects by", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "own-label"));
    await startOperator(inject("operatorKubeconfig"), { args: [`--namespace=${namespace}`] });
  });
  afterAll(async () => {
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  it("labels no pod, orphans none, keeps every label after the group is deleted", async () => {
    const labels = { app: "shop", tier: "fe" };
    await clients.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "shop" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "shop" } },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: "app", image: "podium.test/app:1" }] },
          },
        },
      },
    });
    const original = await waitFor("3 ready pods of the Deployment", async () => {
      const pods = await listPods(clients, namespace, "tier=fe");
      const ready = pods.filter((p) =>
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      );
      return ready.length === 3 ? pods : undefined;
    });
    // Admission cannot know that app is the Deployment's selector: the group is accepted.
    await createGroup(clients, namespace, "fe", {
      selector: { matchLabels: { tier: "fe" } },
      leaderLabel: { key: "app", value: "leader" },
      lease: FAST_LEASE,
    });
    const group = await waitForGroup(
      clients,
      namespace,
      "fe",
      "LabelConflict=True",
      (g) => groupCondition(g, "LabelConflict")?.status === "True",
    );
    expect(groupCondition(group, "LabelConflict")?.message).toContain("(app=shop)");
    expect(group.status?.readyCandidates).toBe(0);
    await waitFor("a LabelConflict Event", async () => {
      const found = await groupEvents(clients, namespace, "fe", "LabelConflict");
      return found.length > 0 ? found : undefined;
    });

    // Over several renew periods: the same three pods, each still the ReplicaSet's, with its labels.
    const uids = original.map((p) => p.metadata?.uid).sort();
    await expectSteady(3 * 2_000, async () => {
      const during = await listPods(clients, namespace, "tier=fe");
      expect(during.map((p) => p.metadata?.uid).sort()).toEqual(uids);
      for (const pod of during) {
        expect(pod.metadata?.labels).toMatchObject(labels);
        expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe("ReplicaSet");
      }
    });

    await deleteGroup(clients, namespace, "fe");
    await waitFor("the group to be gone", async () =>
      (await groupExists(clients, namespace, "fe")) ? undefined : true,
    );
    const after = await listPods(clients, namespace, "tier=fe");
    expect(after.map((p) => p.metadata?.uid).sort()).toEqual(uids);
    for (const pod of after) expect(pod.metadata?.labels).toMatchObject(labels);
  });
});

describe("a user who may only edit ElectionGroups (the confused deputy)", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let editor: Clients;

  beforeAll(async () => {
    const admin = inject("kubeconfig");
    clients = connect(admin);
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "own-deputy"));
    await clients.core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: "eg-editor" } },
    });
    kubectl(admin, [
      "create",
      "rolebinding",
      "eg-editor",
      "-n",
      namespace,
      "--clusterrole=podium-electiongroup-editor",
      `--serviceaccount=${namespace}:eg-editor`,
    ]);
    const dir = mkdtempSync(path.join(tmpdir(), "podium-deputy-"));
    editor = connect(
      serviceAccountKubeconfig(admin, namespace, "eg-editor", path.join(dir, "kubeconfig")),
    );
    await startOperator(inject("operatorKubeconfig"), { args: [`--namespace=${namespace}`] });
  });
  afterAll(async () => {
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  it("cannot write the Lease or the pods' labels directly (the premise)", async () => {
    await bareReadyPods(clients, namespace, ["api-a", "api-b"], { app: "api", team: "payments" });
    await clientGoLease(clients, namespace, "api-lock");
    const refused = async (write: () => Promise<unknown>): Promise<number | undefined> =>
      write().then(
        () => undefined,
        (err: unknown) => (err instanceof ApiException ? err.code : -1),
      );
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    expect(
      await refused(() =>
        editor.kc
          .makeApiClient(CoordinationV1Api)
          .patchNamespacedLease(
            { name: "api-lock", namespace, body: { spec: { holderIdentity: "me" } } },
            merge,
          ),
      ),
    ).toBe(403);
    expect(
      await refused(() =>
        editor.core.patchNamespacedPod(
          { name: "api-a", namespace, body: { metadata: { labels: { team: "leader" } } } },
          merge,
        ),
      ),
    ).toBe(403);
  });

  it("cannot make podium write them either", async () => {
    const lease = await readLease(clients, namespace, "api-lock");
    // Two groups the editor may create: one aimed at the app's Lease, one at a label key
    // the pods already carry with another value.
    await createGroup(editor, namespace, "api-lock", {
      selector: { matchLabels: { app: "api" } },
      lease: FAST_LEASE,
    });
    await createGroup(editor, namespace, "api-team", {
      selector: { matchLabels: { app: "api" } },
      leaderLabel: { key: "team", value: "leader" },
      lease: FAST_LEASE,
    });
    await waitForGroup(
      clients,
      namespace,
      "api-lock",
      "Ready=False LeaseConflict",
      (g) => groupCondition(g, "Ready")?.reason === "LeaseConflict",
    );
    await waitForGroup(
      clients,
      namespace,
      "api-team",
      "LabelConflict=True",
      (g) => groupCondition(g, "LabelConflict")?.status === "True",
    );
    await expectLeaseUntouched(clients, namespace, lease, 3 * 2_000 + 500);
    for (const pod of await listPods(clients, namespace, "app=api")) {
      expect(pod.metadata?.labels?.team).toBe("payments");
    }
  });
});

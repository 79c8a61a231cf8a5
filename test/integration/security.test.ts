import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  EventsV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { dump, load, loadAll } from "js-yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  OPERATOR_NAMESPACE,
  OPERATOR_SERVICE_ACCOUNT,
  kubectl,
  kubectlPath,
  root,
} from "../support/install.ts";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import {
  createGroup,
  getGroup,
  groupCondition,
  groupEvents,
  readLease,
  teardown,
  waitForGroup,
  waitForLeader,
} from "../support/groups.ts";
import { createBarePod, listPods, waitForPods } from "../support/pods.ts";

// Security (issue 7): the operator runs with the shipped least-privilege role and nothing else
// (the tests authenticate as its ServiceAccount), cannot read Secrets, touches nothing outside
// the namespaces it is told to watch, cannot reach pods of another namespace through a group,
// and its Deployment passes the restricted Pod Security Standard.
//
// install.test.ts already checks `kubectl auth can-i` answers for the role (impersonated) and
// the Deployment's securityContext fields; here the same is proved by the API server itself.

const SA_USER = `system:serviceaccount:${OPERATOR_NAMESPACE}:${OPERATOR_SERVICE_ACCOUNT}`;

/** Log lines of forbidden (403) requests. */
function forbidden(op: OperatorProcess): unknown[] {
  return op.logs.filter((l) => /HTTP-Code: 403|forbidden/i.test(JSON.stringify(l)));
}

/** Writes a kubeconfig for the admin's cluster that authenticates with `token`. */
function tokenKubeconfig(admin: string, token: string, dir: string, name: string): string {
  const config = load(kubectl(admin, ["config", "view", "--raw", "--minify"])) as {
    clusters: { cluster: Record<string, unknown> }[];
  };
  const file = path.join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    dump({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "local", cluster: config.clusters[0]?.cluster }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: "local", user: name } }],
      "current-context": name,
    }),
    { mode: 0o600 },
  );
  return file;
}

async function pods(clients: Clients, namespace: string, app: string, names: string[]) {
  for (const name of names) await createBarePod(clients, namespace, name, { labels: { app } });
  await waitForPods(clients, namespace, names);
}

describe("the operator's identity and least privilege", () => {
  let admin: Clients;
  let operator: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;

  beforeAll(async () => {
    admin = connect(inject("kubeconfig"));
    operator = connect(inject("operatorKubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(admin, "sx-priv"));
  });
  afterAll(async () => {
    await teardown(admin, namespace, stopAllOperators, removeNamespace);
  });

  it("authenticates as the podium ServiceAccount, bound to the shipped roles only", async () => {
    const review = await operator.kc
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(SA_USER);
    expect(review.status?.userInfo?.groups).not.toContain("system:masters");

    const rbac = admin.kc.makeApiClient(RbacAuthorizationV1Api);
    const isSa = (s: { kind: string; name: string; namespace?: string }) =>
      s.kind === "ServiceAccount" &&
      s.name === OPERATOR_SERVICE_ACCOUNT &&
      s.namespace === OPERATOR_NAMESPACE;
    const cluster = (await rbac.listClusterRoleBinding()).items
      .filter((b) => (b.subjects ?? []).some(isSa))
      .map((b) => `${b.metadata?.name ?? ""} -> ${b.roleRef.name}`);
    const namespaced = (await rbac.listRoleBindingForAllNamespaces()).items
      .filter((b) => (b.subjects ?? []).some(isSa))
      .map((b) => `${b.metadata?.namespace ?? ""}/${b.metadata?.name ?? ""} -> ${b.roleRef.name}`);
    // What config/rbac binds, and nothing else.
    const shipped = loadAll(
      kubectl(inject("kubeconfig"), ["kustomize", path.join(root, "config/rbac")]),
    ).map(
      (d) =>
        d as {
          kind: string;
          metadata: { name: string; namespace?: string };
          roleRef?: { name: string };
        },
    );
    expect(cluster.sort()).toEqual(
      shipped
        .filter((d) => d.kind === "ClusterRoleBinding")
        .map((d) => `${d.metadata.name} -> ${d.roleRef?.name ?? ""}`)
        .sort(),
    );
    expect(namespaced.sort()).toEqual(
      shipped
        .filter((d) => d.kind === "RoleBinding")
        .map(
          (d) =>
            `${d.metadata.namespace ?? OPERATOR_NAMESPACE}/${d.metadata.name} -> ${d.roleRef?.name ?? ""}`,
        )
        .sort(),
    );
  });

  it("cannot read Secrets: the API server says so and refuses with 403", async () => {
    await admin.core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "db-password" }, stringData: { password: "hunter2" } },
    });
    const authz = operator.kc.makeApiClient(AuthorizationV1Api);
    for (const verb of ["get", "list", "watch"]) {
      for (const ns of [namespace, OPERATOR_NAMESPACE, ""]) {
        const review = await authz.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { verb, resource: "secrets", namespace: ns } } },
        });
        expect(review.status?.allowed, `${verb} secrets in "${ns}"`).toBe(false);
      }
    }
    const refused = async (call: () => Promise<unknown>) =>
      call().then(
        () => 200,
        (err: unknown) => (err instanceof ApiException ? err.code : -1),
      );
    expect(
      await refused(() => operator.core.readNamespacedSecret({ name: "db-password", namespace })),
    ).toBe(403);
    expect(await refused(() => operator.core.listNamespacedSecret({ namespace }))).toBe(403);
    expect(await refused(() => operator.core.listSecretForAllNamespaces())).toBe(403);
    // Nor anything it does not need: ConfigMaps, deleting pods, creating them.
    expect(await refused(() => operator.core.listNamespacedConfigMap({ namespace }))).toBe(403);
    expect(
      await refused(() =>
        operator.core.createNamespacedPod({
          namespace,
          body: { metadata: { name: "x" }, spec: { containers: [{ name: "x", image: "x" }] } },
        }),
      ),
    ).toBe(403);
  });

  it("elects a leader with that role alone, with leader election on, as the Deployment runs it", async () => {
    await pods(admin, namespace, "lp", ["lp-a", "lp-b"]);
    const op = await startOperator(inject("operatorKubeconfig"), {
      args: [
        `--namespace=${namespace}`,
        "--leader-elect",
        `--leader-election-id=podium-sx-${namespace}`,
      ],
    });
    await createGroup(admin, namespace, "lp", { selector: { matchLabels: { app: "lp" } } });
    await waitForLeader(admin, namespace, "lp", "app=lp");
    await waitFor("an Event about lp", async () => {
      const events = await groupEvents(admin, namespace, "lp", "LeaderElected");
      return events.length > 0 ? true : undefined;
    });
    expect(forbidden(op)).toEqual([]);
    const own = await admin.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: `podium-sx-${namespace}`, namespace: OPERATOR_NAMESPACE });
    expect(own.spec?.holderIdentity).toBe(op.identity);
  });
});

describe("namespaced mode and namespace boundaries", () => {
  let admin: Clients;
  const namespaces: { name: string; remove: () => Promise<void> }[] = [];
  let w1 = ""; // watched by an operator with the namespaced Role only
  let w2 = ""; // watched by an operator with the shipped ClusterRole, scoped by --namespace
  let x = ""; // also watched by that operator: the "other namespace" of the boundary tests
  let u = ""; // watched by nobody
  let narrowSa = "";
  let narrow: OperatorProcess;
  let wide: OperatorProcess;

  beforeAll(async () => {
    admin = connect(inject("kubeconfig"));
    for (const prefix of ["sx-w1", "sx-w2", "sx-x", "sx-u"]) {
      namespaces.push(await createNamespace(admin, prefix));
    }
    [w1, w2, x, u] = namespaces.map((n) => n.name) as [string, string, string, string];

    // A ServiceAccount with config/rbac/namespaced bound in w1 and nothing else.
    const adminPath = inject("kubeconfig");
    narrowSa = `podium-narrow-${w1.slice(-6)}`;
    kubectl(adminPath, ["create", "serviceaccount", narrowSa, "-n", OPERATOR_NAMESPACE]);
    const docs = loadAll(
      kubectl(adminPath, ["kustomize", path.join(root, "config/rbac/namespaced")]),
    ) as Record<string, unknown>[];
    for (const doc of docs) {
      const meta = doc.metadata as { name: string; namespace?: string };
      meta.namespace = w1;
      if (doc.kind === "RoleBinding") {
        doc.subjects = [{ kind: "ServiceAccount", name: narrowSa, namespace: OPERATOR_NAMESPACE }];
      }
    }
    kubectl(adminPath, ["apply", "-f", "-"], docs.map((d) => dump(d)).join("---\n"));
    const token = kubectl(adminPath, [
      "create",
      "token",
      narrowSa,
      "-n",
      OPERATOR_NAMESPACE,
      "--duration=1h",
    ]).trim();
    const dir = mkdtempSync(path.join(tmpdir(), "podium-sx-"));
    narrow = await startOperator(tokenKubeconfig(adminPath, token, dir, narrowSa), {
      args: [`--namespace=${w1}`],
    });
    wide = await startOperator(inject("operatorKubeconfig"), {
      args: [`--namespace=${w2}`, `--namespace=${x}`],
    });
  });

  afterAll(async () => {
    for (const ns of [w1, w2, x]) {
      await teardown(
        admin,
        ns,
        () => Promise.resolve(),
        () => Promise.resolve(),
      );
    }
    await stopAllOperators();
    for (const ns of namespaces) await ns.remove();
    kubectl(inject("kubeconfig"), [
      "delete",
      "serviceaccount",
      narrowSa,
      "-n",
      OPERATOR_NAMESPACE,
      "--ignore-not-found",
    ]);
  });

  it("works in its namespaces and leaves a group in any other namespace alone", async () => {
    // The unwatched group first, so that by the time the watched ones lead, it had its chance.
    for (const ns of [u, w1, w2]) {
      await pods(admin, ns, "app", ["app-a", "app-b"]);
      await createGroup(admin, ns, "grp", { selector: { matchLabels: { app: "app" } } });
    }
    await waitForLeader(admin, w1, "grp", "app=app");
    await waitForLeader(admin, w2, "grp", "app=app");
    expect(forbidden(narrow), "the namespaced Role was not enough").toEqual([]);

    const untouched = await getGroup(admin, u, "grp");
    expect(untouched.status).toBeUndefined();
    expect(untouched.metadata.finalizers ?? []).toEqual([]);
    expect(await readLease(admin, u, "grp")).toBeUndefined();
    expect(await groupEvents(admin, u, "grp")).toEqual([]);
    for (const pod of await listPods(admin, u, "app=app")) {
      expect(pod.metadata?.labels?.role).toBeUndefined();
      expect((pod.metadata?.managedFields ?? []).map((m) => m.manager)).not.toContain("podium");
    }
  });

  it("the narrow operator cannot reach outside its namespace even if asked to", async () => {
    // Its token can patch pods in w1 and in no other namespace.
    const review = (ns: string) =>
      admin.kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${OPERATOR_NAMESPACE}:${narrowSa}`,
            resourceAttributes: { verb: "patch", resource: "pods", namespace: ns },
          },
        },
      });
    expect((await review(w1)).status?.allowed).toBe(true);
    for (const ns of [u, w2, x, "kube-system"]) {
      expect((await review(ns)).status?.allowed, ns).toBe(false);
    }
  });

  it("a group selects and labels pods of its own namespace only", async () => {
    // Same labels, and even the same pod name, in x; a preferredHolder that exists only in x.
    await pods(admin, x, "cross", ["cross-a", "only-in-x"]);
    await pods(admin, w2, "cross", ["cross-a"]);
    await createGroup(admin, w2, "cross", {
      selector: { matchLabels: { app: "cross" } },
      preferredHolder: "only-in-x",
    });
    const g = await waitForGroup(
      admin,
      w2,
      "cross",
      "a leader",
      (v) => v.status?.holder !== undefined && v.status.holder !== "",
    );
    expect(g.status).toMatchObject({ holder: "cross-a", candidates: 1, readyCandidates: 1 });
    const mine = (await listPods(admin, w2, "app=cross"))[0];
    expect(g.status?.holderUID).toBe(mine?.metadata?.uid);
    // An Observed group whose Lease names the pod of the other namespace.
    await admin.kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: w2,
      body: {
        metadata: { name: "obs-cross" },
        spec: { holderIdentity: "only-in-x", leaseDurationSeconds: 30 },
      },
    });
    await createGroup(admin, w2, "obs-cross", {
      selector: { matchLabels: { app: "cross" } },
      mode: "Observed",
      leaderLabel: { key: "observed-leader", value: "yes" },
      lease: { name: "obs-cross" },
    });
    const obs = await waitForGroup(
      admin,
      w2,
      "obs-cross",
      "LeaderElected reported",
      (v) => groupCondition(v, "LeaderElected") !== undefined,
    );
    expect(groupCondition(obs, "LeaderElected")).toMatchObject({
      status: "False",
      reason: "HolderNotInGroup",
    });
    // The pods of x were never written by podium, although it watches x.
    const inX: V1Pod[] = await listPods(admin, x, "app=cross");
    expect(inX).toHaveLength(2);
    for (const pod of inX) {
      expect(pod.metadata?.labels?.role).toBeUndefined();
      expect(pod.metadata?.labels?.["observed-leader"]).toBeUndefined();
      expect((pod.metadata?.managedFields ?? []).map((m) => m.manager)).not.toContain("podium");
    }
    expect(forbidden(wide)).toEqual([]);
  });
});

describe("the manager Deployment under the restricted Pod Security Standard", () => {
  let admin: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let deployment: Record<string, unknown>;

  /** Runs kubectl and returns its exit status, stdout and stderr (where warnings go). */
  const run = (args: string[], input: string) => {
    const res = spawnSync(kubectlPath(), ["--kubeconfig", inject("kubeconfig"), ...args], {
      input,
      encoding: "utf8",
    });
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
  };

  beforeAll(async () => {
    admin = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(admin, "sx-pss"));
    await admin.core.patchNamespace(
      {
        name: namespace,
        body: {
          metadata: {
            labels: Object.fromEntries(
              ["enforce", "warn", "audit"].map((mode) => [
                `pod-security.kubernetes.io/${mode}`,
                "restricted",
              ]),
            ),
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await admin.core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: OPERATOR_SERVICE_ACCOUNT } },
    });
    const docs = loadAll(
      kubectl(inject("kubeconfig"), ["kustomize", path.join(root, "config/manager")]),
    ) as Record<string, unknown>[];
    const found = docs.find((d) => d.kind === "Deployment");
    if (!found) throw new Error("config/manager has no Deployment");
    (found.metadata as { namespace: string }).namespace = namespace;
    deployment = found;
  });
  afterAll(async () => {
    await removeNamespace();
  });

  it("the namespace refuses a pod that breaks the standard (the check is live)", () => {
    const res = run(
      ["apply", "--dry-run=server", "-f", "-"],
      dump({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "root-pod", namespace },
        spec: { containers: [{ name: "c", image: "x", securityContext: { privileged: true } }] },
      }),
    );
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/violates PodSecurity "restricted/);
  });

  it("admits the manager's pod and its Deployment with no warning", async () => {
    const spec = deployment.spec as { template: { metadata: unknown; spec: unknown } };
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "podium-manager", namespace },
      spec: spec.template.spec,
    };
    const podRes = run(["apply", "--dry-run=server", "-f", "-"], dump(pod));
    expect(podRes.status, podRes.stderr).toBe(0);
    expect(podRes.stderr).not.toMatch(/Warning/i);

    const res = run(["apply", "-f", "-"], dump(deployment));
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).not.toMatch(/Warning/i);
    // The ReplicaSet's pods go through the enforcing admission for real.
    await waitFor(
      "the Deployment's 2 pods to be created",
      async () => {
        const list = await admin.core.listNamespacedPod({
          namespace,
          labelSelector: "app.kubernetes.io/name=podium",
        });
        return list.items.length === 2 ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const events = await admin.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
    expect(events.items.filter((e) => e.reason === "FailedCreate")).toEqual([]);
  });
});

import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadAll } from "js-yaml";
import { connect, createNamespace } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { kubectl, root } from "../support/install.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import { createGroup, teardown, waitForLeader } from "../support/groups.ts";
import { deployApp } from "../support/pods.ts";

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

// What a platform engineer installs: config/default must be accepted by a real
// API server, the operator's role must be least privilege, and the container
// image's contents (dist/ and production dependencies only) must run the operator.
describe("installing podium", () => {
  let admin: string;

  beforeAll(() => {
    admin = inject("kubeconfig");
  });

  it("kubectl apply -k config/default is accepted by the API server (server-side dry run)", () => {
    const out = kubectl(admin, [
      "apply",
      "-k",
      path.join(root, "config/default"),
      "--dry-run=server",
    ]);
    for (const object of [
      "namespace/podium-system",
      "customresourcedefinition.apiextensions.k8s.io/electiongroups.podium.dev",
      "serviceaccount/podium",
      "clusterrole.rbac.authorization.k8s.io/podium-manager",
      "clusterrolebinding.rbac.authorization.k8s.io/podium-manager",
      "role.rbac.authorization.k8s.io/podium-leader-election",
      "deployment.apps/podium-controller-manager",
      "poddisruptionbudget.policy/podium-controller-manager",
      "service/podium-metrics",
    ]) {
      expect(out).toContain(object);
    }
  });

  it("runs 2 replicas with leader election, probes and a locked-down security context", () => {
    const docs = loadAll(
      kubectl(admin, ["kustomize", path.join(root, "config/default")]),
    ) as Manifest[];
    const deployment = docs.find((d) => d.kind === "Deployment");
    const spec = deployment?.spec as {
      replicas: number;
      template: {
        spec: {
          automountServiceAccountToken: boolean;
          securityContext: Record<string, unknown>;
          containers: {
            args: string[];
            livenessProbe: unknown;
            readinessProbe: unknown;
            securityContext: Record<string, unknown>;
          }[];
        };
      };
    };
    expect(spec.replicas).toBe(2);
    const pod = spec.template.spec;
    const manager = pod.containers[0];
    expect(manager?.args).toContain("--leader-elect");
    expect(manager?.livenessProbe).toBeDefined();
    expect(manager?.readinessProbe).toBeDefined();
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(manager?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it("grants the operator what it uses and nothing on Secrets", () => {
    const can = (verb: string, resource: string): string => {
      try {
        return kubectl(admin, [
          "auth",
          "can-i",
          verb,
          resource,
          "--as=system:serviceaccount:podium-system:podium",
          "-n",
          "default",
        ]).trim();
      } catch (err) {
        // kubectl auth can-i answers "no" with exit code 1.
        const stdout = (err as { stdout?: string | Buffer }).stdout;
        return (typeof stdout === "string" ? stdout : (stdout?.toString() ?? "")).trim();
      }
    };
    expect(can("patch", "pods")).toBe("yes");
    expect(can("update", "leases.coordination.k8s.io")).toBe("yes");
    expect(can("patch", "electiongroups.podium.dev/status")).toBe("yes");
    expect(can("create", "events.events.k8s.io")).toBe("yes");
    expect(can("watch", "nodes")).toBe("yes");
    expect(can("patch", "nodes")).toBe("no");
    expect(can("watch", "services")).toBe("yes");
    expect(can("watch", "endpointslices.discovery.k8s.io")).toBe("yes");
    // EndpointSlice mode patches podium's own Service and slice; it never updates one.
    expect(can("patch", "services")).toBe("yes");
    expect(can("update", "services")).toBe("no");
    expect(can("update", "endpointslices.discovery.k8s.io")).toBe("no");
    expect(can("get", "secrets")).toBe("no");
    expect(can("delete", "pods")).toBe("no");
    expect(can("create", "electiongroups.podium.dev")).toBe("no");
  });

  it("alerts only on metrics the operator exposes", () => {
    const rules = loadAll(
      kubectl(admin, ["kustomize", path.join(root, "config/prometheus")]),
    ) as Manifest[];
    const exprs = JSON.stringify(rules.find((r) => r.kind === "PrometheusRule")?.spec);
    for (const metric of [
      "podium_electiongroup_ready_candidates",
      "podium_electiongroup_transitions_total",
      "leader_election_master_status",
    ]) {
      expect(exprs).toContain(metric);
    }
    expect(rules.map((r) => r.kind).sort()).toEqual(["PrometheusRule", "ServiceMonitor"]);
  });
});

describe("the container image's contents", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let imageDir: string;

  beforeAll(async () => {
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "image"));
    // What the Dockerfile's runtime stage holds: package.json, production
    // node_modules and the compiled dist/, nothing else (no src/, no TypeScript).
    imageDir = mkdtempSync(path.join(tmpdir(), "podium-image-"));
    execFileSync(
      "npx",
      ["tsc", "-p", "tsconfig.build.json", "--outDir", path.join(imageDir, "dist")],
      {
        cwd: root,
        stdio: "inherit",
      },
    );
    cpSync(path.join(root, "package.json"), path.join(imageDir, "package.json"));
    cpSync(path.join(root, "package-lock.json"), path.join(imageDir, "package-lock.json"));
    execFileSync("npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], {
      cwd: imageDir,
      stdio: "inherit",
    });
  }, 300_000);

  afterAll(async () => {
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
    rmSync(imageDir, { recursive: true, force: true });
  });

  it("has no development dependencies", () => {
    const installed = execFileSync("npm", ["ls", "--omit=dev", "--depth=0", "--json"], {
      cwd: imageDir,
      encoding: "utf8",
    });
    const names = Object.keys((JSON.parse(installed) as { dependencies: object }).dependencies);
    expect(names).toContain("@kubernetes/client-node");
    for (const dev of ["typescript", "vitest", "eslint", "prettier"])
      expect(names).not.toContain(dev);
  });

  it("runs the operator from dist/ and elects a leader", async () => {
    await startOperator(inject("operatorKubeconfig"), {
      args: [`--namespace=${namespace}`],
      entry: path.join(imageDir, "dist/main.js"),
      cwd: imageDir,
    });
    await deployApp(clients, namespace, "img", 2);
    await createGroup(clients, namespace, "img", { selector: { matchLabels: { app: "img" } } });
    const holder = await waitForLeader(clients, namespace, "img", "app=img");
    expect(holder).toMatch(/^img-/);
  });
});

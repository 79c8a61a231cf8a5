import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chartDir, helm } from "../support/helm.ts";
import { kubectl } from "../support/install.ts";
import { waitFor } from "../support/kube.ts";

const RELEASE = "chart-it";
const NAMESPACE = "podium-chart-it";
/** The chart names everything after the release: RELEASE-podium-... */
const PREFIX = `${RELEASE}-podium`;

// What a platform team runs: helm install, pods Ready (kwok plays the kubelet, so no container
// runs and no image is pulled), the CRD served, then helm uninstall removing what it installed.
describe("helm install charts/podium", () => {
  let admin: string;
  let cache: string;
  const env = (): NodeJS.ProcessEnv => ({
    KUBECONFIG: admin,
    // Helm's caches and config in a scratch folder, not the user's home.
    HELM_CACHE_HOME: path.join(cache, "cache"),
    HELM_CONFIG_HOME: path.join(cache, "config"),
    HELM_DATA_HOME: path.join(cache, "data"),
  });

  beforeAll(() => {
    admin = inject("kubeconfig");
    cache = mkdtempSync(path.join(tmpdir(), "podium-helm-"));
  });

  afterAll(() => {
    helm(["uninstall", RELEASE, "--namespace", NAMESPACE, "--ignore-not-found"], env());
    try {
      kubectl(admin, ["delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"]);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("installs, its Deployment becomes Ready, the CRD is served, and uninstall removes the rest", async () => {
    // The suite's global setup applied crds/ with kubectl already, and a CRD exists once per
    // cluster: --take-ownership lets Helm adopt that identical object instead of refusing it.
    // It stays after uninstall (crds.keep), as the other test files need it.
    const install = helm(
      [
        "install",
        RELEASE,
        chartDir,
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--take-ownership",
        "--wait",
        "--timeout",
        "180s",
      ],
      env(),
    );
    expect(install.stderr).toBe("");
    expect(install.status).toBe(0);
    expect(install.stdout).toContain("STATUS: deployed");

    const deployment = JSON.parse(
      kubectl(admin, [
        "get",
        "deployment",
        `${PREFIX}-controller-manager`,
        "-n",
        NAMESPACE,
        "-o",
        "json",
      ]),
    ) as { status: { readyReplicas?: number } };
    expect(deployment.status.readyReplicas).toBe(2);

    // The CRD is served: its short name resolves and a list answers.
    expect(kubectl(admin, ["get", "eg", "-A", "-o", "name"])).toBeDefined();
    const crd = JSON.parse(
      kubectl(admin, ["get", "crd", "electiongroups.podium.dev", "-o", "json"]),
    ) as { metadata: { annotations?: Record<string, string> } };
    expect(crd.metadata.annotations?.["meta.helm.sh/release-name"]).toBe(RELEASE);

    const uninstall = helm(["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"], env());
    expect(uninstall.status).toBe(0);
    await waitFor(
      "the release's objects to be gone",
      () => {
        const left: string[][] = [
          ["deployment", `${PREFIX}-controller-manager`, NAMESPACE],
          ["serviceaccount", PREFIX, NAMESPACE],
          ["service", `${PREFIX}-metrics`, NAMESPACE],
          ["clusterrole", `${PREFIX}-manager`, ""],
          ["clusterrolebinding", `${PREFIX}-manager`, ""],
        ].filter(([kind = "", name = "", ns = ""]) => {
          const out = kubectl(admin, [
            "get",
            kind,
            name,
            "--ignore-not-found",
            "-o",
            "name",
            ...(ns ? ["-n", ns] : []),
          ]);
          return out.trim() !== "";
        });
        return Promise.resolve(left.length === 0 ? true : undefined);
      },
      { timeoutMs: 60_000 },
    );
    // The CRD is kept (helm.sh/resource-policy: keep): removing it would delete every group.
    expect(kubectl(admin, ["get", "crd", "electiongroups.podium.dev", "-o", "name"]).trim()).toBe(
      "customresourcedefinition.apiextensions.k8s.io/electiongroups.podium.dev",
    );
  });
});

import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { load } from "js-yaml";
import {
  chartDir,
  helm,
  objectKey,
  renderChart,
  renderKustomize,
  withoutHelmKeys,
} from "../support/helm.ts";
import type { KubeObject } from "../support/helm.ts";
import { root } from "../support/install.ts";

const byKey = (objects: KubeObject[]): KubeObject[] =>
  [...objects].sort((a, b) => objectKey(a).localeCompare(objectKey(b)));

/** The Deployment's manager container of a rendered chart. */
function manager(objects: KubeObject[]): { args: string[]; image: string } {
  const deployment = objects.find((o) => o.kind === "Deployment") as
    | { spec: { template: { spec: { containers: { args: string[]; image: string }[] } } } }
    | undefined;
  const container = deployment?.spec.template.spec.containers[0];
  if (!container) throw new Error("no manager container in the rendered chart");
  return container;
}

const keys = (objects: KubeObject[]): string[] => objects.map(objectKey).sort();

// The chart is the second way to install podium; config/ is the first. Neither may drift from
// the other, and the chart must refuse values that would render a broken install.
describe("the Helm chart", () => {
  let admin: string;

  beforeAll(() => {
    admin = inject("kubeconfig");
  });

  it("passes helm lint --strict", () => {
    const result = helm(["lint", "--strict", chartDir]);
    expect(result.stderr + result.stdout).toContain("0 chart(s) failed");
    expect(result.status).toBe(0);
  });

  it("renders with default values the objects of config/default (less Helm's labels and the Namespace)", () => {
    // `helm install --create-namespace` makes the release's namespace, so the chart has no
    // Namespace object; everything else must be the same object, field by field.
    const kustomize = renderKustomize(admin, "config/default").filter(
      (o) => o.kind !== "Namespace",
    );
    const chart = renderChart().map(withoutHelmKeys);
    expect(keys(chart)).toEqual(keys(kustomize));
    expect(byKey(chart)).toEqual(byKey(kustomize));
  });

  it("renders with the monitoring toggles the objects of config/prometheus", () => {
    const kustomize = renderKustomize(admin, "config/prometheus");
    const chart = renderChart([
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.prometheusRule.enabled=true",
    ])
      .filter((o) => o.kind === "ServiceMonitor" || o.kind === "PrometheusRule")
      .map(withoutHelmKeys);
    expect(byKey(chart)).toEqual(byKey(kustomize));
  });

  it("ships config/grafana/podium-dashboard.json unchanged, as a ConfigMap behind dashboard.enabled", () => {
    const dashboard = readFileSync(path.join(root, "config/grafana/podium-dashboard.json"), "utf8");
    expect(readFileSync(path.join(chartDir, "files/podium-dashboard.json"), "utf8")).toBe(
      dashboard,
    );
    expect(renderChart().some((o) => o.kind === "ConfigMap")).toBe(false);
    const configMap = renderChart(["--set", "dashboard.enabled=true"]).find(
      (o) => o.kind === "ConfigMap",
    ) as (KubeObject & { data: Record<string, string> }) | undefined;
    expect(configMap?.metadata.labels?.grafana_dashboard).toBe("1");
    expect(JSON.parse(configMap?.data["podium-dashboard.json"] ?? "")).toEqual(
      JSON.parse(dashboard),
    );
  });

  it("installs the CRD (kept on uninstall) unless crds.enabled is false", () => {
    const crd = renderChart().find((o) => o.kind === "CustomResourceDefinition");
    expect(crd?.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    expect(withoutHelmKeys(crd)).toEqual(
      load(readFileSync(path.join(root, "crds/podium.dev_electiongroups.yaml"), "utf8")),
    );
    expect(
      renderChart(["--set", "crds.enabled=false"]).some(
        (o) => o.kind === "CustomResourceDefinition",
      ),
    ).toBe(false);
    const notKept = renderChart(["--set", "crds.keep=false"]).find(
      (o) => o.kind === "CustomResourceDefinition",
    );
    expect(notKept?.metadata.annotations).toBeUndefined();
  });

  it("watches only the namespaces it is given, with a Role in each and no ClusterRole on pods", () => {
    const objects = renderChart(["--set", "watchNamespaces={shop,billing}"]);
    expect(manager(objects).args).toEqual(
      expect.arrayContaining(["--namespace=shop", "--namespace=billing"]),
    );
    const roles = objects.filter((o) => o.kind === "Role" || o.kind === "RoleBinding");
    expect(keys(roles)).toEqual(
      [
        "Role/billing/podium-manager",
        "Role/shop/podium-manager",
        "Role/podium-system/podium-leader-election",
        "RoleBinding/billing/podium-manager",
        "RoleBinding/shop/podium-manager",
        "RoleBinding/podium-system/podium-leader-election",
      ].sort(),
    );
    // Only the aggregated viewer/editor roles remain cluster-wide; they grant nothing to podium.
    expect(
      keys(objects.filter((o) => o.kind.startsWith("Cluster") && o.kind !== "ClusterRole")),
    ).toEqual([]);
    expect(keys(objects.filter((o) => o.kind === "ClusterRole"))).toEqual([
      "ClusterRole//podium-electiongroup-editor",
      "ClusterRole//podium-electiongroup-viewer",
    ]);
    // Node failure detection in a namespaced install reads Nodes and the heartbeat Leases only.
    const withNodes = renderChart([
      "--set",
      "watchNamespaces={shop}",
      "--set",
      "nodeFailureDetection=on",
    ]);
    expect(manager(withNodes).args).toContain("--node-failure-detection=on");
    expect(keys(withNodes.filter((o) => o.metadata.name.includes("node")))).toEqual([
      "ClusterRole//podium-node-reader",
      "ClusterRoleBinding//podium-node-reader",
      "Role/kube-node-lease/podium-node-heartbeat-reader",
      "RoleBinding/kube-node-lease/podium-node-heartbeat-reader",
    ]);
  });

  it("passes image, leader election and log settings to the Deployment", () => {
    const objects = renderChart([
      "--set",
      "image.repository=registry.example/podium",
      "--set",
      "image.tag=0.2.0",
      "--set",
      "leaderElection.leaseName=ops-leader",
      "--set",
      "leaderElection.leaseDuration=30s",
      "--set",
      "logLevel=debug",
    ]);
    const container = manager(objects);
    expect(container.image).toBe("registry.example/podium:0.2.0");
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--leader-election-id=ops-leader",
        "--leader-election-lease-duration=30s",
        "--log-level=debug",
      ]),
    );
    const digest = `sha256:${"a".repeat(64)}`;
    expect(manager(renderChart(["--set", `image.digest=${digest}`])).image).toBe(
      `podium@${digest}`,
    );
  });

  it("drops what its toggles turn off", () => {
    const objects = renderChart([
      "--set",
      "metrics.service.enabled=false",
      "--set",
      "podDisruptionBudget.enabled=false",
      "--set",
      "rbac.aggregateToDefaultRoles=false",
      "--set",
      "replicas=1",
      "--set",
      "leaderElection.enabled=false",
    ]);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "CustomResourceDefinition",
      "Deployment",
      "ServiceAccount",
    ]);
    expect(manager(objects).args).not.toContain("--leader-elect");
  });

  it("refuses a ServiceMonitor without the metrics Service it scrapes", () => {
    const result = helm([
      "template",
      "podium",
      chartDir,
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.service.enabled=false",
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("metrics.serviceMonitor.enabled needs metrics.service.enabled");
  });

  // Each bad value is refused by values.schema.json, and the error names the field.
  it.each([
    ["replicas=0", "/replicas"],
    ["replicas=two", "/replicas"],
    ["replica=2", "'replica' not allowed"],
    ["image.repository=", "/image/repository"],
    ["image.pullPolicy=Sometimes", "/image/pullPolicy"],
    ["image.digest=latest", "/image/digest"],
    ["leaderElection.enabled=false", "/leaderElection/enabled"],
    ["leaderElection.leaseDuration=15 seconds", "/leaderElection/leaseDuration"],
    ["watchNamespaces={Bad_NS}", "/watchNamespaces/0"],
    ["nodeFailureDetection=maybe", "/nodeFailureDetection"],
    ["logLevel=verbose", "/logLevel"],
    ["metrics.port=70000", "/metrics/port"],
    ["metrics.serviceMonitor.interval=30", "/metrics/serviceMonitor/interval"],
    ["resources.limits.memory=lots", "/resources/limits/memory"],
    ["crds.enabled=yes", "/crds/enabled"],
    ["extraArgs={leader-elect}", "/extraArgs/0"],
  ])("refuses --set %s, naming %s", (value, field) => {
    const result = helm(["template", "podium", chartDir, "--set", value]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(field);
  });
});

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { loadAll } from "js-yaml";
import { kubectl, root } from "./install.ts";

/** The chart in this repository. */
export const chartDir = path.join(root, "charts/podium");

/** A Kubernetes object as far as these tests read it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** The Helm built by hack/build-helm.sh (`make helm`); throws, naming the target, when it is missing. */
export function helmPath(): string {
  const helm = execFileSync(path.join(root, "hack/build-helm.sh"), ["--print"], {
    encoding: "utf8",
  }).trim();
  if (!existsSync(helm)) throw new Error(`${helm} is missing: run \`make helm\``);
  return helm;
}

/** Runs helm with `args`; returns its exit code, stdout and stderr (never throws on a non-zero exit). */
export function helm(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(helmPath(), args, {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 180_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template podium charts/podium -n podium-system` with `args` (e.g. --set), as objects; throws on failure. */
export function renderChart(args: readonly string[] = []): KubeObject[] {
  const result = helm(["template", "podium", chartDir, "--namespace", "podium-system", ...args]);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseObjects(result.stdout);
}

/** `kubectl kustomize <dir>` (dir relative to the repository root), as objects. */
export function renderKustomize(kubeconfig: string, dir: string): KubeObject[] {
  return parseObjects(kubectl(kubeconfig, ["kustomize", path.join(root, dir)]));
}

function parseObjects(yaml: string): KubeObject[] {
  return (loadAll(yaml) as (KubeObject | null)[]).filter((o): o is KubeObject => o !== null);
}

/** Labels and annotations that only Helm adds; config/ has none of them. */
const HELM_KEYS = new Set([
  "helm.sh/chart",
  "app.kubernetes.io/managed-by",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "helm.sh/resource-policy",
]);

/**
 * A deep copy of `value` without Helm's own labels and annotations wherever they appear (metadata,
 * selectors, pod templates) and without the maps that leaves empty, so that a rendered chart and
 * config/ compare field by field.
 */
export function withoutHelmKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withoutHelmKeys(v)) as T;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (HELM_KEYS.has(key)) continue;
    const stripped: unknown = withoutHelmKeys(child);
    const emptyMap =
      (key === "labels" || key === "annotations") &&
      typeof stripped === "object" &&
      stripped !== null &&
      Object.keys(stripped).length === 0;
    if (!emptyMap) out[key] = stripped;
  }
  return out as T;
}

/** `kind/namespace/name` of an object, for sorting and messages. */
export function objectKey(o: KubeObject): string {
  return `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

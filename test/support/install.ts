import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { dump, load } from "js-yaml";

export const root = path.resolve(import.meta.dirname, "../..");

/** The kubectl built with the local control plane (the machine's may be too old). */
export function kubectlPath(): string {
  const bin = execFileSync(path.join(root, "hack/build-components.sh"), ["--print"], {
    encoding: "utf8",
  }).trim();
  return path.join(bin, "kubectl");
}

/** Runs kubectl against `kubeconfig` and returns its stdout; throws with its stderr. */
export function kubectl(kubeconfig: string, args: readonly string[], input?: string): string {
  return execFileSync(kubectlPath(), ["--kubeconfig", kubeconfig, ...args], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Namespace and ServiceAccount the operator runs as, from config/rbac. */
export const OPERATOR_NAMESPACE = "podium-system";
export const OPERATOR_SERVICE_ACCOUNT = "podium";

/**
 * Installs the CRD and the operator's RBAC from the repository (as a user
 * would) and writes a kubeconfig that authenticates as the operator's
 * ServiceAccount with a bound token, so tests prove the least-privilege role
 * is enough. Returns that kubeconfig's path.
 */
export function installPodium(adminKubeconfig: string, workDir: string): string {
  kubectl(adminKubeconfig, ["apply", "-f", path.join(root, "crds/podium.dev_electiongroups.yaml")]);
  kubectl(adminKubeconfig, [
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/electiongroups.podium.dev",
  ]);
  kubectl(
    adminKubeconfig,
    ["apply", "-f", "-"],
    kubectl(adminKubeconfig, [
      "create",
      "namespace",
      OPERATOR_NAMESPACE,
      "--dry-run=client",
      "-o",
      "yaml",
    ]),
  );
  kubectl(adminKubeconfig, ["apply", "-k", path.join(root, "config/rbac")]);
  return serviceAccountKubeconfig(
    adminKubeconfig,
    OPERATOR_NAMESPACE,
    OPERATOR_SERVICE_ACCOUNT,
    path.join(workDir, "podium-operator.kubeconfig"),
  );
}

/**
 * Writes to `file` a kubeconfig that authenticates as the ServiceAccount
 * `namespace/name` with a bound token (24 h), on the cluster of
 * `adminKubeconfig`, and returns `file`.
 */
export function serviceAccountKubeconfig(
  adminKubeconfig: string,
  namespace: string,
  name: string,
  file: string,
): string {
  const token = kubectl(adminKubeconfig, [
    "create",
    "token",
    name,
    "-n",
    namespace,
    "--duration=24h",
  ]).trim();
  const admin = load(kubectl(adminKubeconfig, ["config", "view", "--raw", "--minify"])) as {
    clusters: { cluster: Record<string, unknown> }[];
  };
  const cluster = admin.clusters[0]?.cluster;
  if (!cluster) throw new Error(`no cluster in ${adminKubeconfig}`);
  writeFileSync(
    file,
    dump({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "local", cluster }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: "local", user: name } }],
      "current-context": name,
    }),
    { mode: 0o600 },
  );
  return file;
}

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { installPodium } from "../support/install.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig for the cluster the integration tests run against. */
    kubeconfig: string;
    /** A kubeconfig that authenticates as the operator's ServiceAccount (config/rbac). */
    operatorKubeconfig: string;
  }
}

const root = path.resolve(import.meta.dirname, "../..");

/**
 * Starts a fresh local control plane for the run (its own state directory and
 * ports, so a developer's `make cluster-up` cluster is left alone) and stops it
 * when the run ends. With PODIUM_TEST_KUBECONFIG set, uses that cluster instead
 * and starts nothing.
 */
export default function setup(project: TestProject): (() => void) | undefined {
  const external = process.env.PODIUM_TEST_KUBECONFIG;
  if (external) {
    project.provide("kubeconfig", external);
    project.provide(
      "operatorKubeconfig",
      installPodium(external, mkdtempSync(path.join(tmpdir(), "podium-test-"))),
    );
    return undefined;
  }
  const clusterDir = path.join(root, ".cluster-test");
  const env = {
    ...process.env,
    CLUSTER_DIR: clusterDir,
    PORT_OFFSET: process.env.PODIUM_TEST_PORT_OFFSET ?? "20000",
  };
  const cluster = (command: "up" | "down"): void => {
    execFileSync(path.join(root, "hack/cluster.sh"), [command], {
      env,
      stdio: ["ignore", "inherit", "inherit"],
    });
  };
  cluster("down");
  rmSync(clusterDir, { recursive: true, force: true });
  try {
    cluster("up");
  } catch (err) {
    cluster("down");
    throw err;
  }
  const kubeconfig = path.join(clusterDir, "kubeconfig");
  project.provide("kubeconfig", kubeconfig);
  try {
    project.provide("operatorKubeconfig", installPodium(kubeconfig, clusterDir));
  } catch (err) {
    cluster("down");
    throw err;
  }
  return () => {
    cluster("down");
  };
}

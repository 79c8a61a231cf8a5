import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";

/** The typed API clients the tests use, all from one kubeconfig. */
export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
}

/** Builds API clients for the cluster described by the kubeconfig file at `path`. */
export function connect(path: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns a value other than undefined and returns it;
 * fails after `timeoutMs` with `what` and the last error the probe threw, so a
 * timeout says what was being waited for.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 100 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Creates a namespace with a random suffix and waits for its default
 * ServiceAccount (the admission plugin refuses pods until it exists); returns
 * its name and a function that deletes it.
 */
export async function createNamespace(
  clients: Clients,
  prefix: string,
): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await clients.core.createNamespace({ body: { metadata: { name } } });
  await waitFor(`the default ServiceAccount in ${name}`, () =>
    clients.core.readNamespacedServiceAccount({ name: "default", namespace: name }),
  );
  return {
    name,
    remove: async () => {
      await clients.core.deleteNamespace({ name });
    },
  };
}

/** The status of a pod's condition of `type`, or undefined when it has none. */
export function podCondition(pod: V1Pod, type: string): string | undefined {
  return pod.status?.conditions?.find((c) => c.type === type)?.status;
}

/**
 * Sets a pod's Ready (and ContainersReady) condition through the status
 * subresource, as a kubelet would after a readiness probe changes; the
 * condition's lastTransitionTime is `since` (default now).
 */
export async function setPodReady(
  clients: Clients,
  namespace: string,
  name: string,
  ready: boolean,
  since: Date = new Date(),
): Promise<V1Pod> {
  const status = ready ? "True" : "False";
  const lastTransitionTime = since.toISOString();
  return clients.core.patchNamespacedPodStatus(
    {
      name,
      namespace,
      body: {
        status: {
          conditions: [
            { type: "Ready", status, lastTransitionTime },
            { type: "ContainersReady", status, lastTransitionTime },
          ],
        },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
}

/** Resolves after `ms` milliseconds. */
export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

import { CoordinationV1Api } from "@kubernetes/client-node";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { clusterDirOf } from "./cluster-control.ts";
import { root } from "./install.ts";
import type { Clients } from "./kube.ts";
import { waitFor } from "./kube.ts";

/** Annotation that marks a node as a test machine (the cluster's own kwok ignores it). */
const MACHINE_ANNOTATION = "kwok.podium.dev/machine";
/** Keeps the scheduler's pods off the machines: tests bind their pods by spec.nodeName. */
export const MACHINE_TAINT = "podium.test/machine";

/**
 * One simulated machine: a Node and its own kwok process (`--manage-single-node`),
 * which is its kubelet. SIGKILL the process and the machine is dead: its
 * heartbeat Lease stops and its pods keep their last status, as on a real
 * dead node. The cluster's kwok manages only nodes annotated
 * kwok.x-k8s.io/node=fake, which machines are not.
 */
export interface Machine {
  readonly name: string;
  /** PID of its kwok process. */
  readonly pid: number;
  /** Sends `signal` to its kwok process (by PID); KILL waits for the exit. */
  signal(signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): Promise<void>;
  readonly alive: boolean;
}

const machines = new Set<{ child: ChildProcess; name: string }>();

let kwokBinary: string | undefined;
function kwokPath(): string {
  if (kwokBinary !== undefined) return kwokBinary;
  const bin = execFileSync(path.join(root, "hack/build-components.sh"), ["--print"], {
    encoding: "utf8",
  }).trim();
  kwokBinary = path.join(bin, "kwok");
  return kwokBinary;
}

/**
 * Creates the Node of machine `name` (tainted so that the scheduler places
 * nothing there: tests bind their pods by spec.nodeName), without its kwok.
 */
export async function createMachineNode(clients: Clients, name: string): Promise<void> {
  await clients.core.createNode({
    body: {
      metadata: {
        name,
        annotations: { [MACHINE_ANNOTATION]: name, "node.alpha.kubernetes.io/ttl": "0" },
        labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", type: "machine" },
      },
      spec: {
        providerID: `kwok://${name}`,
        taints: [{ key: MACHINE_TAINT, value: "true", effect: "NoSchedule" }],
      },
    },
  });
}

/**
 * Creates node `name` (unless `existing`: a machine that died comes back,
 * its Node and pods still there) and starts its kwok (heartbeat every
 * leaseDurationSeconds / 4, as the kubelet renews a 40 s Lease every 10 s),
 * and waits (bounded) until the node is Ready and its heartbeat Lease exists.
 */
export async function startMachine(
  clients: Clients,
  kubeconfig: string,
  name: string,
  {
    index,
    leaseDurationSeconds = 40,
    existing = false,
  }: { index: number; leaseDurationSeconds?: number; existing?: boolean },
): Promise<Machine> {
  const leases = clients.kc.makeApiClient(CoordinationV1Api);
  const renewTime = async (): Promise<string | undefined> => {
    const lease = await leases
      .readNamespacedLease({ name, namespace: "kube-node-lease" })
      .catch(() => undefined);
    const t = lease?.spec?.renewTime;
    return t === undefined ? undefined : new Date(t).toISOString();
  };
  // A machine that comes back is alive once it renewed its heartbeat again.
  const before = existing ? await renewTime() : undefined;
  if (!existing) await createMachineNode(clients, name);
  const clusterDir = clusterDirOf(kubeconfig);
  const home = mkdtempSync(path.join(tmpdir(), `podium-machine-${name}-`));
  const log = openSync(path.join(home, "kwok.log"), "a");
  const child = spawn(
    kwokPath(),
    [
      `--kubeconfig=${kubeconfig}`,
      `--config=${path.join(clusterDir, "kwok-stages.yaml")}`,
      `--manage-single-node=${name}`,
      // Private addresses that no test connects to; distinct per machine.
      `--cidr=10.244.${String(100 + index)}.0/24`,
      `--node-ip=10.200.1.${String(10 + index)}`,
      `--node-lease-duration-seconds=${String(leaseDurationSeconds)}`,
    ],
    { env: { ...process.env, HOME: home }, stdio: ["ignore", log, log], detached: true },
  );
  closeSync(log);
  const entry = { child, name };
  machines.add(entry);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
  });
  child.once("exit", () => machines.delete(entry));
  const machine: Machine = {
    name,
    pid: child.pid ?? 0,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    async signal(signal) {
      if (!machine.alive) return;
      process.kill(machine.pid, signal);
      if (signal === "SIGKILL") await exited;
    },
  };
  try {
    await waitFor(
      `machine ${name} Ready with a heartbeat`,
      async () => {
        if (!machine.alive) throw new Error(`kwok for ${name} exited; see ${home}/kwok.log`);
        const node = await clients.core.readNode({ name });
        const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
        const renewed = await renewTime();
        return ready && renewed !== undefined && renewed !== before ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
  } catch (err) {
    // No kwok left behind for a machine that did not come up.
    await machine.signal("SIGKILL");
    throw err;
  }
  return machine;
}

/** Kills every machine's kwok (by PID) and deletes their nodes; for afterAll hooks. */
export async function stopAllMachines(clients: Clients): Promise<void> {
  const names: string[] = [];
  for (const { child, name } of machines) {
    names.push(name);
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  }
  machines.clear();
  for (const name of names) {
    await clients.core.deleteNode({ name }).catch(() => undefined);
    await clients.kc
      .makeApiClient(CoordinationV1Api)
      .deleteNamespacedLease({ name, namespace: "kube-node-lease" })
      .catch(() => undefined);
  }
}

import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { root } from "./install.ts";

/** How a component is stopped before it starts again: TERM (graceful) or KILL (a crash). */
export type RestartSignal = "TERM" | "KILL";

export interface RestartOptions {
  /** Default KILL: the process dies as in a crash, without draining its connections. */
  signal?: RestartSignal;
  /** Bound on the whole restart, including the wait for /readyz. Default 120 s. */
  timeoutMs?: number;
}

/**
 * The state directory of the local cluster whose admin kubeconfig is
 * `kubeconfigPath` (hack/cluster.sh writes $CLUSTER_DIR/kubeconfig and
 * $CLUSTER_DIR/ports.env), checked to be one that script started.
 */
export function clusterDirOf(kubeconfigPath: string): string {
  const dir = path.dirname(path.resolve(kubeconfigPath));
  if (!existsSync(path.join(dir, "ports.env")) || !existsSync(path.join(dir, "pids"))) {
    throw new Error(
      `${kubeconfigPath} is not the kubeconfig of a cluster started by hack/cluster.sh (no ports.env and pids/ next to it)`,
    );
  }
  return dir;
}

/**
 * The ports hack/cluster.sh recorded for the cluster in `clusterDir`
 * (ports.env: ETCD_PORT=..., APISERVER_PORT=...).
 */
export function clusterPorts(clusterDir: string): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const line of readFileSync(path.join(clusterDir, "ports.env"), "utf8").split("\n")) {
    const match = /^([A-Z_]+)=(\d+)$/.exec(line.trim());
    if (match?.[1] !== undefined) ports[match[1]] = Number(match[2]);
  }
  return ports;
}

/**
 * Runs `hack/cluster.sh up` or `down` for the cluster whose state lives in
 * `clusterDir`, at ports +`portOffset`; for a run that brings up a cluster of
 * its own. The script's output goes to stderr: the runs keep stdout for
 * their report.
 */
export function clusterScript(
  command: "up" | "down" | "heal",
  clusterDir: string,
  portOffset: string,
): void {
  execFileSync(path.join(root, "hack/cluster.sh"), [command], {
    env: { ...process.env, CLUSTER_DIR: clusterDir, PORT_OFFSET: portOffset },
    stdio: ["ignore", 2, 2],
    timeout: 5 * 60_000,
  });
}

/**
 * Starts again whichever of kube-controller-manager, kube-scheduler and kwok
 * has exited in the cluster of `kubeconfigPath` (`hack/cluster.sh heal`):
 * kube-scheduler exits on purpose when it finds its cache corrupted, which
 * API server restarts can cause, and then nothing is scheduled.
 */
export function healCluster(kubeconfigPath: string): void {
  const clusterDir = clusterDirOf(kubeconfigPath);
  const port = clusterPorts(clusterDir).APISERVER_PORT;
  if (port === undefined) throw new Error(`no APISERVER_PORT in ${clusterDir}/ports.env`);
  clusterScript("heal", clusterDir, String(port - 6443));
}

/** Stops whatever a former run left in `clusterDir`, wipes it, and starts a new cluster there. */
export function freshCluster(clusterDir: string, portOffset: string): void {
  clusterScript("down", clusterDir, portOffset);
  rmSync(clusterDir, { recursive: true, force: true });
  clusterScript("up", clusterDir, portOffset);
}

/** The PID hack/cluster.sh recorded for `component` (etcd, kube-apiserver, kwok, ...), if any. */
export function clusterPid(clusterDir: string, component: string): number | undefined {
  try {
    const pid = Number(
      readFileSync(path.join(clusterDir, "pids", `${component}.pid`), "utf8").trim(),
    );
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function restart(
  command: "restart-apiserver" | "restart-etcd",
  kubeconfigPath: string,
  { signal = "KILL", timeoutMs = 120_000 }: RestartOptions,
): Promise<{ ms: number; output: string }> {
  const clusterDir = clusterDirOf(kubeconfigPath);
  const ports = clusterPorts(clusterDir);
  const apiserverPort = ports.APISERVER_PORT;
  if (apiserverPort === undefined) throw new Error(`no APISERVER_PORT in ${clusterDir}/ports.env`);
  const started = Date.now();
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      path.join(root, "hack/cluster.sh"),
      [command],
      {
        env: {
          ...process.env,
          CLUSTER_DIR: clusterDir,
          // The script takes the ports from ports.env while the cluster runs;
          // the offset is only a fallback that reproduces them.
          PORT_OFFSET: String(apiserverPort - 6443),
          RESTART_SIGNAL: signal,
          UP_TIMEOUT: String(Math.ceil(timeoutMs / 1000)),
        },
        timeout: timeoutMs + 15_000,
        killSignal: "SIGKILL",
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`hack/cluster.sh ${command} failed: ${err.message}\n${stderr}`));
        } else {
          resolve(`${stdout}${stderr}`);
        }
      },
    );
  });
  return { ms: Date.now() - started, output };
}

/**
 * Kills the kube-apiserver of the local cluster (etcd keeps running), starts
 * it again with the same flags and waits until it is ready; resolves with how
 * long that took.
 */
export function restartApiServer(
  kubeconfigPath: string,
  options: RestartOptions = {},
): Promise<{ ms: number; output: string }> {
  return restart("restart-apiserver", kubeconfigPath, options);
}

/**
 * Kills etcd (its data directory is kept; the API server keeps running and
 * reconnects), starts it again and waits until the API server is ready.
 */
export function restartEtcd(
  kubeconfigPath: string,
  options: RestartOptions = {},
): Promise<{ ms: number; output: string }> {
  return restart("restart-etcd", kubeconfigPath, options);
}

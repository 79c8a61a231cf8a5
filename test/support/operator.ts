import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { waitFor } from "./kube.ts";
import { root } from "./install.ts";
import type { PodNetwork } from "./netns.ts";

/** A podium operator running as a child process, as it would run in a pod. */
export interface OperatorProcess {
  readonly pid: number;
  readonly identity: string;
  readonly metricsPort: number;
  readonly probePort: number;
  /** Every JSON log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends `signal` and waits (at most 20 s, then SIGKILL) for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** GETs a path of the probe server; returns status and body. */
  probe(p: string): Promise<{ status: number; body: string }>;
  metrics(): Promise<string>;
}

const running = new Set<ChildProcess>();

/** A TCP port free on 127.0.0.1 right now (for a child process to bind). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** How a podium process is started: the flags every test, benchmark and soak gives it. */
interface OperatorCommand {
  kubeconfig: string;
  metricsPort: number;
  probePort: number;
  /** POD_NAME: the identity it elects with and names itself by. */
  identity: string;
  logLevel: string;
  /** Flags of podium after the standard ones. */
  args?: readonly string[];
  /** Flags of Node before the entry point (--cpu-prof, a heap cap, ...). */
  nodeFlags?: readonly string[];
  entry?: string;
  cwd?: string;
  /** A command that runs the rest elsewhere, e.g. PodNetwork's `ip netns exec NAME`. */
  prefix?: readonly string[];
}

/** Spawns `node [nodeFlags] entry` as the operator would run in its pod, with probes and metrics on loopback. */
function spawnPodium(
  command: OperatorCommand,
  stdio: ["ignore", "pipe" | number, "pipe" | number],
): ChildProcess {
  const { kubeconfig, metricsPort, probePort, identity, logLevel, prefix = [] } = command;
  return spawn(
    prefix[0] ?? process.execPath,
    [
      ...(prefix.length > 0 ? [...prefix.slice(1), process.execPath] : []),
      ...(command.nodeFlags ?? []),
      command.entry ?? path.join(root, "src/main.ts"),
      `--kubeconfig=${kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${String(metricsPort)}`,
      `--health-probe-bind-address=127.0.0.1:${String(probePort)}`,
      `--log-level=${logLevel}`,
      ...(command.args ?? []),
    ],
    {
      cwd: command.cwd ?? root,
      env: { ...process.env, POD_NAME: identity, POD_NAMESPACE: "podium-system" },
      stdio,
    },
  );
}

/**
 * Sends `signal` to `child` and resolves once it has exited, sending SIGKILL
 * after `killAfterMs`; resolves at once when it has exited already.
 */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = "SIGTERM",
  killAfterMs = 20_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts the operator for a long run (a benchmark, the soak) with its output
 * appended to `logFile`, and returns at once: the caller measures from the
 * spawn and decides what "ready" means. `metricsPort` and `probePort` are
 * the caller's (from freePort) so that nothing but the spawn lies between
 * the caller's clock and the process start.
 */
export function spawnOperatorLogging(
  kubeconfig: string,
  { logFile, ...rest }: Omit<OperatorCommand, "kubeconfig" | "cwd"> & { logFile: string },
): ChildProcess {
  const logFd = openSync(logFile, "a");
  try {
    return spawnPodium({ kubeconfig, ...rest }, ["ignore", logFd, logFd]);
  } finally {
    closeSync(logFd);
  }
}

/**
 * Starts `node src/main.ts` against `kubeconfig` with probes and metrics on
 * free loopback ports, and waits (bounded) until /readyz says its caches are
 * synced. Extra flags go in `args`.
 */
export async function startOperator(
  kubeconfig: string,
  {
    args = [],
    identity = `podium-test-${String(process.pid)}-${String(running.size)}`,
    entry = path.join(root, "src/main.ts"),
    cwd = root,
    readyTimeoutMs = 30_000,
    netns,
  }: {
    args?: string[];
    identity?: string;
    entry?: string;
    cwd?: string;
    /** Bound on the wait for /readyz (a loaded 2-core machine starts Node slowly). */
    readyTimeoutMs?: number;
    /**
     * Runs it inside this network namespace (its API server bridged in
     * already), with its metrics and health ports exposed on the host's
     * loopback under the same numbers.
     */
    netns?: PodNetwork;
  } = {},
): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const probePort = await freePort();
  if (netns !== undefined) {
    await netns.expose(metricsPort);
    await netns.expose(probePort);
  }
  const child = spawnPodium(
    {
      kubeconfig,
      metricsPort,
      probePort,
      identity,
      logLevel: "debug",
      args,
      entry,
      cwd,
      ...(netns === undefined ? {} : { prefix: netns.exec }),
    },
    ["ignore", "pipe", "pipe"],
  );
  const { stdout, stderr: stderrStream } = child;
  if (stdout === null || stderrStream === null) throw new Error("the operator has no pipes");
  running.add(child);
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: stdout }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  createInterface({ input: stderrStream }).on("line", (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    });
  });

  const get = async (port: number, p: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${String(port)}${p}`);
    return { status: res.status, body: await res.text() };
  };
  const operator: OperatorProcess = {
    pid: child.pid ?? 0,
    identity,
    metricsPort,
    probePort,
    logs,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      await stopProcess(child, signal);
      return exited;
    },
    probe: (p) => get(probePort, p),
    metrics: async () => (await get(metricsPort, "/metrics")).body,
  };
  try {
    await waitFor(
      "the operator's /readyz",
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`operator exited with ${String(child.exitCode)}: ${stderr.join("\n")}`);
        }
        return (await operator.probe("/readyz")).status === 200 ? true : undefined;
      },
      { timeoutMs: readyTimeoutMs },
    );
  } catch (err) {
    await operator.stop("SIGKILL");
    throw err;
  }
  return operator;
}

/**
 * The flags of a replica that elects itself with the Lease `electionId` in
 * podium-system, with timings of seconds (4/3/1 s; client-go's rule: duration
 * > renew deadline > 1.2 x retry period) so that a hand-over fits in a test.
 */
export function leaderElectionArgs(electionId: string): string[] {
  return [
    "--leader-elect",
    `--leader-election-id=${electionId}`,
    "--leader-election-namespace=podium-system",
    "--leader-election-lease-duration=4s",
    "--leader-election-renew-deadline=3s",
    "--leader-election-retry-period=1s",
  ];
}

/** Kills every operator a test left running (by PID); for afterAll hooks. */
export async function stopAllOperators(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once("exit", () => {
            resolve();
          });
          child.kill("SIGKILL");
        }),
    ),
  );
}

/** The operator's parsed log lines whose message is `msg`. */
export function logLines(operator: OperatorProcess, msg: string): Record<string, unknown>[] {
  return operator.logs.filter((l) => l.msg === msg);
}

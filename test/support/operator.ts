import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { waitFor } from "./kube.ts";
import { root } from "./install.ts";

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
  }: { args?: string[]; identity?: string; entry?: string; cwd?: string } = {},
): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const probePort = await freePort();
  const child = spawn(
    process.execPath,
    [
      entry,
      `--kubeconfig=${kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${String(metricsPort)}`,
      `--health-probe-bind-address=127.0.0.1:${String(probePort)}`,
      "--log-level=debug",
      ...args,
    ],
    {
      cwd,
      env: { ...process.env, POD_NAME: identity, POD_NAMESPACE: "podium-system" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  running.add(child);
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  createInterface({ input: child.stderr }).on("line", (line) => stderr.push(line));
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
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
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
      { timeoutMs: 30_000 },
    );
  } catch (err) {
    await operator.stop("SIGKILL");
    throw err;
  }
  return operator;
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

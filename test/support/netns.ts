import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { load } from "js-yaml";
import type { AgentCommand, ServeMode } from "./netns-agent.ts";
import { root } from "./install.ts";
import { join } from "./socket-join.ts";

// The network rule of issue 13 for tests that enable podium's leader probe:
// kwok's pod IPs (10.244.0.0/16) belong to nobody here, so the operator under
// test runs inside a network namespace this module creates, with loopback up,
// no default route, and the whole pod range a local route: every pod IP
// answers inside the namespace, and a probe has nowhere else to go. The
// listeners that stand in for the pods run there too (netns-agent.ts). The API
// server stays on the host's 127.0.0.1: Unix sockets, which cross network
// namespaces, bridge it in (and bridge the operator's metrics and health ports
// out). A "dead machine" is a pod IP routed into a veth whose far end answers
// nothing, so connections time out as to a powered-off host, still inside the
// namespace.

/** The pod range of hack/cluster.sh (kwok's pod IPs, machines' ranges included). */
export const POD_CIDR = "10.244.0.0/16";
const NAME_PREFIX = "podium-probe-";
/** A MAC nobody has: frames to it die at the veth's far end. */
const NOWHERE_MAC = "02:00:00:00:00:01";
const AGENT_READY_MS = 30_000;
const COMMAND_MS = 15_000;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", timeout: COMMAND_MS });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deletes namespaces of this module whose creating process is gone (a run that crashed). */
function sweepStale(): void {
  for (const line of ip("netns", "list").split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = new RegExp(`^${NAME_PREFIX}(\\d+)$`).exec(name);
    if (m !== null && !alive(Number(m[1]))) ip("netns", "del", name);
  }
}

const live = new Set<PodNetwork>();

/** Destroys every PodNetwork of this process not destroyed yet (a benchmark's cleanup on failure). */
export async function destroyAllNetworks(): Promise<void> {
  for (const net of [...live]) await net.destroy();
}

/** A network namespace of the test's own, `podium-probe-<pid>`, and its agent. */
export class PodNetwork {
  /** The namespace's name. */
  readonly name: string;
  /** Prefix of a command that runs inside the namespace. */
  readonly exec: readonly string[];
  readonly #dir: string;
  readonly #agent: ChildProcess;
  readonly #hostServers: Server[] = [];
  readonly #hostSockets = new Set<Socket>();
  readonly #exited: Promise<{ ok: false; error: string }>;
  readonly #pending = new Map<number, (answer: { ok: boolean; error?: string }) => void>();
  readonly #served = new Set<string>();
  #nextId = 1;

  private constructor(name: string, dir: string, agent: ChildProcess) {
    this.name = name;
    this.exec = ["ip", "netns", "exec", name];
    this.#dir = dir;
    this.#agent = agent;
    this.#exited = new Promise((resolve) => {
      agent.once("exit", (code) => {
        resolve({ ok: false, error: `the agent exited (${String(code)})` });
      });
    });
    if (agent.stdout === null) throw new Error("the netns agent has no stdout");
    createInterface({ input: agent.stdout }).on("line", (line) => {
      const answer = JSON.parse(line) as { id: number; ok: boolean; error?: string };
      this.#pending.get(answer.id)?.(answer);
      this.#pending.delete(answer.id);
    });
  }

  /**
   * Creates the namespace (loopback up, no default route, POD_CIDR local, a
   * veth pair for silenced IPs) and starts its agent. One per process.
   */
  static async create(): Promise<PodNetwork> {
    sweepStale();
    const name = `${NAME_PREFIX}${String(process.pid)}`;
    ip("netns", "add", name);
    try {
      ip("-n", name, "link", "set", "lo", "up");
      ip("-n", name, "route", "add", "local", POD_CIDR, "dev", "lo");
      ip("-n", name, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1");
      ip("-n", name, "link", "set", "pv0", "up");
      ip("-n", name, "link", "set", "pv1", "up");
    } catch (err) {
      ip("netns", "del", name);
      throw err;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "podium-netns-"));
    const agent = spawn(
      "ip",
      ["netns", "exec", name, process.execPath, path.join(root, "test/support/netns-agent.ts")],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    const net = new PodNetwork(name, dir, agent);
    live.add(net);
    await net.#ask({ id: 0 } as AgentCommand, AGENT_READY_MS).catch(async (err: unknown) => {
      await net.destroy();
      throw err;
    });
    return net;
  }

  /** PID of the agent (inside the namespace). */
  get agentPid(): number {
    return this.#agent.pid ?? 0;
  }

  /** Sends a command to the agent; resolves on its answer (bounded). */
  async #ask(cmd: AgentCommand, timeoutMs = COMMAND_MS): Promise<void> {
    const answered = new Promise<{ ok: boolean; error?: string }>((resolve) => {
      this.#pending.set(cmd.id, resolve);
    });
    if (cmd.id !== 0) this.#agent.stdin?.write(`${JSON.stringify(cmd)}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ ok: false; error: string }>((resolve) => {
      timer = setTimeout(() => {
        resolve({ ok: false, error: `no answer within ${String(timeoutMs)} ms` });
      }, timeoutMs);
    });
    const answer = await Promise.race([answered, timeout, this.#exited]);
    clearTimeout(timer);
    if (!answer.ok) {
      throw new Error(`netns ${this.name}: ${JSON.stringify(cmd)}: ${answer.error ?? "?"}`);
    }
  }

  #id(): number {
    return this.#nextId++;
  }

  /** A server on the host at `at` (TCP port of 127.0.0.1, or a Unix socket) joined to `to()`. */
  async #hostBridge(at: number | string, to: () => Socket): Promise<void> {
    const server = createServer((client) => {
      const other = to();
      for (const s of [client, other]) {
        this.#hostSockets.add(s);
        s.once("close", () => this.#hostSockets.delete(s));
      }
      join(client, other);
    });
    this.#hostServers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (typeof at === "number") server.listen(at, "127.0.0.1", resolve);
      else server.listen(at, resolve);
    });
  }

  /**
   * Makes the API server of `kubeconfig` (https://127.0.0.1:PORT) reachable
   * at the same address inside the namespace, so the file works unchanged there.
   */
  async bridgeApiServer(kubeconfig: string): Promise<void> {
    const config = load(readFileSync(kubeconfig, "utf8")) as {
      clusters?: { cluster?: { server?: string } }[];
    };
    const server = new URL(config.clusters?.[0]?.cluster?.server ?? "");
    if (server.hostname !== "127.0.0.1") throw new Error(`${kubeconfig}: not on 127.0.0.1`);
    const port = Number(server.port);
    const socket = path.join(this.#dir, `api-${String(port)}.sock`);
    await this.#hostBridge(socket, () => connect(port, "127.0.0.1"));
    await this.#ask({ id: this.#id(), op: "tcpToUnix", port, socket });
  }

  /** Makes TCP port `port` of the namespace's 127.0.0.1 reachable on the host's 127.0.0.1:`port`. */
  async expose(port: number): Promise<void> {
    const socket = path.join(this.#dir, `port-${String(port)}.sock`);
    await this.#ask({ id: this.#id(), op: "unixToTcp", socket, port });
    await this.#hostBridge(port, () => connect(socket));
  }

  /**
   * Fails unless `ip route get <podIP>` inside the namespace names a local
   * route on lo and no gateway, and the namespace has no default route: the
   * check the network rule demands before any probe is enabled.
   */
  assertLocal(podIP: string): void {
    const route = execFileSync("ip", [...this.exec.slice(1), "ip", "route", "get", podIP], {
      encoding: "utf8",
      timeout: COMMAND_MS,
    });
    const ok = route.startsWith(`local ${podIP} dev lo `) && !route.includes(" via ");
    if (!ok) throw new Error(`netns ${this.name}: ${podIP} is not local: ${route.trim()}`);
    const defaults = ip("-n", this.name, "route", "show", "default").trim();
    if (defaults !== "") throw new Error(`netns ${this.name} has a default route: ${defaults}`);
  }

  /** Runs a stand-in listener on podIP:port inside the namespace (assertLocal first). */
  async serve(podIP: string, port: number, mode: ServeMode): Promise<void> {
    this.assertLocal(podIP);
    await this.#ask({ id: this.#id(), op: "serve", ip: podIP, port, mode });
    this.#served.add(`${podIP}:${String(port)}`);
  }

  /** Whether a listener of {@link serve} answers on podIP:port. */
  serving(podIP: string, port: number): boolean {
    return this.#served.has(`${podIP}:${String(port)}`);
  }

  /** Closes the listener on podIP:port and its connections (the process died). */
  async close(podIP: string, port: number): Promise<void> {
    this.#served.delete(`${podIP}:${String(port)}`);
    await this.#ask({ id: this.#id(), op: "close", ip: podIP, port });
  }

  /** Routes `podIP` into the veth, where nothing answers: connections time out (the machine died). */
  silence(podIP: string): void {
    ip("-n", this.name, "route", "add", `${podIP}/32`, "dev", "pv0", "table", "local");
    ip("-n", this.name, "neigh", "replace", podIP, "lladdr", NOWHERE_MAC, "dev", "pv0");
  }

  /** Undoes {@link silence}: `podIP` is local again. */
  unsilence(podIP: string): void {
    ip("-n", this.name, "route", "del", `${podIP}/32`, "dev", "pv0", "table", "local");
    ip("-n", this.name, "neigh", "del", podIP, "dev", "pv0");
  }

  /**
   * Stops the agent (by PID, bounded), then any process still inside the
   * namespace (only this test starts processes there), deletes the namespace
   * (its veth goes with it) and the socket directory.
   */
  async destroy(): Promise<void> {
    if (!live.delete(this)) return;
    const closed = this.#hostServers.map(
      (s) =>
        new Promise<void>((resolve) =>
          s.close(() => {
            resolve();
          }),
        ),
    );
    for (const s of this.#hostSockets) s.destroy();
    await Promise.all(closed);
    const agent = this.#agent;
    if (agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent.once("exit", resolve));
      agent.stdin?.end();
      const timer = setTimeout(() => agent.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    for (const pid of ip("netns", "pids", this.name).split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    ip("netns", "del", this.name);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

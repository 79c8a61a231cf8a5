import { createServer as createHttpServer } from "node:http";
import { connect, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { createInterface } from "node:readline";
import { join } from "./socket-join.ts";

// The agent of a test's network namespace (test/support/netns.ts starts it
// with `ip netns exec`): inside the namespace it bridges TCP ports to Unix
// sockets (which cross namespaces) and runs the listeners that stand in for
// pods' processes on their pod IPs. Commands come as JSON lines on stdin; each
// is answered by a JSON line on stdout with the same id. It exits when stdin
// closes, so it cannot outlive the test that started it.

/** A command of netns.ts; `id` comes back in the answer. */
export type AgentCommand = { id: number } & (
  | { op: "tcpToUnix"; port: number; socket: string }
  | { op: "unixToTcp"; socket: string; port: number }
  | { op: "serve"; ip: string; port: number; mode: ServeMode }
  | { op: "close"; ip: string; port: number }
);

/**
 * How a stand-in listener answers: `tcp` accepts and closes, `http` answers
 * every request 200, `hang` accepts and reads but never answers (a hung process).
 */
export type ServeMode = "tcp" | "http" | "hang";

/** What a stand-in listener holds: its server and open connections (closed with it). */
interface Listener {
  server: Server;
  sockets: Set<Socket>;
}

const listeners = new Map<string, Listener>();
const bridges: Server[] = [];

/** Listens on `at` (a TCP port of 127.0.0.1 or a Unix socket path); resolves once listening. */
async function bridge(at: number | string, to: () => Socket): Promise<void> {
  const server = createServer((client) => {
    join(client, to());
  });
  bridges.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (typeof at === "number") server.listen(at, "127.0.0.1", resolve);
    else server.listen(at, resolve);
  });
}

async function serve(ip: string, port: number, mode: ServeMode): Promise<void> {
  const key = `${ip}:${String(port)}`;
  if (listeners.has(key)) throw new Error(`${key} is served already`);
  const sockets = new Set<Socket>();
  let server: Server;
  if (mode === "http") {
    server = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    });
  } else {
    server = createServer((socket) => {
      if (mode === "tcp") socket.end();
      else socket.resume();
    });
  }
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, ip, resolve);
  });
  listeners.set(key, { server, sockets });
}

/** Stops listening on ip:port and drops its connections, as when the process dies. */
async function close(ip: string, port: number): Promise<void> {
  const key = `${ip}:${String(port)}`;
  const l = listeners.get(key);
  if (l === undefined) throw new Error(`${key} is not served`);
  listeners.delete(key);
  const closed = new Promise<void>((resolve) =>
    l.server.close(() => {
      resolve();
    }),
  );
  for (const s of l.sockets) s.destroy();
  await closed;
}

async function run(cmd: AgentCommand): Promise<void> {
  switch (cmd.op) {
    case "tcpToUnix":
      return bridge(cmd.port, () => connect(cmd.socket));
    case "unixToTcp":
      return bridge(cmd.socket, () => connect(cmd.port, "127.0.0.1"));
    case "serve":
      return serve(cmd.ip, cmd.port, cmd.mode);
    case "close":
      return close(cmd.ip, cmd.port);
  }
}

function answer(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

if (process.argv[1] === import.meta.filename) {
  const input = createInterface({ input: process.stdin });
  input.on("line", (line) => {
    const cmd = JSON.parse(line) as AgentCommand;
    run(cmd).then(
      () => {
        answer({ id: cmd.id, ok: true });
      },
      (err: unknown) => {
        answer({ id: cmd.id, ok: false, error: err instanceof Error ? err.message : String(err) });
      },
    );
  });
  input.once("close", () => process.exit(0));
  answer({ id: 0, ok: true });
}

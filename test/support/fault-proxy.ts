import { KubeConfig } from "@kubernetes/client-node";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { dump } from "js-yaml";

/**
 * Answer requests that match with an error instead of forwarding them.
 * `verb` is an HTTP method (GET, PUT, PATCH, POST, DELETE) or a Kubernetes
 * verb (get, list, watch, create, update, patch, delete); `resource` is the
 * plural resource ("pods" matches pods and its subresources, "pods/status"
 * only the status subresource). The first `count` matching requests fail.
 */
export interface FaultRule {
  verb?: string;
  resource?: string;
  status: number;
  count: number;
  retryAfterSeconds?: number;
}

/** A loopback HTTP proxy in front of the API server that a test steers. */
export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** A kubeconfig pointing at the proxy, with the token of the kubeconfig it was started from. */
  readonly kubeconfig: string;
  /** Delays every request (before it is forwarded) by `ms`. */
  setLatency(ms: number): void;
  /** Destroys every open client and upstream socket with a TCP RST. */
  resetConnections(): void;
  /**
   * While on: every open watch response stops forwarding bytes for good (a
   * half-open connection: the socket stays open and nothing ever arrives on
   * it again, even after the stall is turned off; only the client's own
   * inactivity deadline ends it), and new watches get their response headers
   * and then nothing (as from a proxy that buffers streams), while other
   * requests (lists, gets, writes) pass. Turning it off ends the watches
   * opened during the stall cleanly (the path recovered: the client may
   * resume at once) and lets new watches through again. With `resource`
   * (e.g. "leases"), only watches of that resource stall.
   */
  stallWatches(on: boolean, resource?: string): void;
  /**
   * Adds a rule; rules are tried in the order they were added. The rule's
   * `count` is decremented in place, so the caller sees how many were used.
   */
  failRequests(rule: FaultRule): void;
  /**
   * For `ms`: requests that arrive are accepted but never answered (nor
   * forwarded, not even after the window), and responses in flight forward
   * nothing until the window ends.
   */
  blackhole(ms: number): void;
  /** Ends latency, rules, the stall and the blackhole; half-open connections stay dead. */
  clear(): void;
  stats(): { requests: number; watches: number; faults: number; resets: number };
  /** Every request so far, in arrival order (an audit of who wrote what through this proxy). */
  requests(): readonly ProxiedRequest[];
  close(): Promise<void>;
}

/** One request the proxy received and what became of it. */
export interface ProxiedRequest {
  at: number;
  method: string;
  verb: string;
  resource: string;
  subresource: string;
  path: string;
  /** The status sent to the client; undefined while pending or when never answered. */
  status?: number;
  /** How the proxy treated it. */
  fate: "forwarded" | "fault" | "blackholed";
}

interface Upstream {
  server: URL;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  insecure: boolean;
  token: string | undefined;
}

function fileOrData(data: string | undefined, file: string | undefined): Buffer | undefined {
  if (data !== undefined && data !== "") return Buffer.from(data, "base64");
  if (file !== undefined && file !== "") return readFileSync(file);
  return undefined;
}

function readUpstream(kubeconfig: string): Upstream {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new Error(`no current cluster in ${kubeconfig}`);
  return {
    server: new URL(cluster.server),
    ca: fileOrData(cluster.caData, cluster.caFile),
    cert: fileOrData(user?.certData, user?.certFile),
    key: fileOrData(user?.keyData, user?.keyFile),
    insecure: cluster.skipTLSVerify,
    token: user?.token,
  };
}

/** A response being streamed to a client. */
interface Flow {
  upstream: IncomingMessage;
  watch: boolean;
  resource: string;
  /** Silenced by a stall: nothing more reaches the client, the socket stays open. */
  dead: boolean;
  /** Opened during a stall: ended cleanly when the stall ends. */
  held?: () => void;
}

/** What a request asks the API server, as far as the fault rules care. */
interface RequestInfo {
  method: string;
  verb: string;
  resource: string;
  subresource: string;
  watch: boolean;
}

/**
 * Parses `/api/v1/namespaces/ns/pods/name/status` and
 * `/apis/group/version/...` into resource, subresource and Kubernetes verb.
 */
export function describeRequest(method: string, rawUrl: string): RequestInfo {
  const url = new URL(rawUrl, "http://proxy");
  const watchParam = url.searchParams.get("watch");
  const watch = method === "GET" && (watchParam === "true" || watchParam === "1");
  const parts = url.pathname.split("/").filter((p) => p !== "");
  // Drop the API prefix: ["api", version] or ["apis", group, version].
  let rest = parts[0] === "api" ? parts.slice(2) : parts[0] === "apis" ? parts.slice(3) : [];
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const resource = rest[0] ?? "";
  const hasName = rest.length >= 2;
  const subresource = rest[2] ?? "";
  let verb: string;
  switch (method) {
    case "GET":
      verb = watch ? "watch" : hasName ? "get" : "list";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = hasName ? "delete" : "deletecollection";
      break;
    default:
      verb = method.toLowerCase();
  }
  return { method, verb, resource, subresource, watch };
}

function ruleMatches(rule: FaultRule, info: RequestInfo): boolean {
  if (rule.count <= 0) return false;
  if (rule.verb !== undefined) {
    const v = rule.verb;
    if (v.toUpperCase() !== info.method && v.toLowerCase() !== info.verb) return false;
  }
  if (rule.resource !== undefined) {
    const [res, sub] = rule.resource.split("/");
    if (res !== info.resource) return false;
    if (sub !== undefined && sub !== info.subresource) return false;
  }
  return true;
}

const REASONS: Record<number, string> = {
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/**
 * Starts the proxy on a free port of 127.0.0.1 and writes
 * `<dir>/fault-proxy.kubeconfig` pointing at it with the same credentials
 * (a bearer token, passed through). A kubeconfig with a client certificate
 * works too: the proxy then presents it upstream itself.
 */
export async function startFaultProxy(opts: {
  kubeconfig: string;
  dir: string;
}): Promise<FaultProxy> {
  const upstream = readUpstream(opts.kubeconfig);
  const agent = new Agent({
    keepAlive: true,
    ...(upstream.ca ? { ca: upstream.ca } : {}),
    ...(upstream.cert ? { cert: upstream.cert } : {}),
    ...(upstream.key ? { key: upstream.key } : {}),
    rejectUnauthorized: !upstream.insecure,
  });

  let latencyMs = 0;
  let stalled = false;
  let stalledResource: string | undefined;
  const stalls = (info: RequestInfo): boolean =>
    stalled && info.watch && (stalledResource === undefined || stalledResource === info.resource);
  let blackholeUntil = 0;
  let blackholeTimer: NodeJS.Timeout | undefined;
  const rules: FaultRule[] = [];
  const counts = { requests: 0, watches: 0, faults: 0, resets: 0 };
  const clientSockets = new Set<Socket>();
  const upstreamSockets = new Set<Socket>();
  /** Responses being streamed: paused during a blackhole, silenced for good by a stall. */
  const flows = new Set<Flow>();
  const pendingDelays = new Set<NodeJS.Timeout>();

  const blackholed = (): boolean => Date.now() < blackholeUntil;

  const answerFault = (res: ServerResponse, rule: FaultRule): void => {
    counts.faults++;
    const reason = REASONS[rule.status] ?? "InternalError";
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (rule.retryAfterSeconds !== undefined) {
      headers["retry-after"] = String(rule.retryAfterSeconds);
    }
    res.writeHead(rule.status, headers).end(
      JSON.stringify({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `fault-proxy: injected ${String(rule.status)}`,
        reason,
        code: rule.status,
        ...(rule.retryAfterSeconds !== undefined
          ? { details: { retryAfterSeconds: rule.retryAfterSeconds } }
          : {}),
      }),
    );
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    record: ProxiedRequest,
  ): void => {
    if (blackholed()) {
      // Accepted, never answered: the client's own timeout is all that ends it.
      counts.faults++;
      record.fate = "blackholed";
      req.resume();
      return;
    }
    const rule = rules.find((r) => ruleMatches(r, info));
    if (rule) {
      // In place: the test that passed the rule sees how many were used.
      rule.count--;
      record.fate = "fault";
      record.status = rule.status;
      req.resume();
      answerFault(res, rule);
      return;
    }
    const headers: Record<string, string | string[] | undefined> = {
      ...req.headers,
      host: upstream.server.host,
    };
    delete headers.connection;
    delete headers["keep-alive"];
    if (upstream.token !== undefined && headers.authorization === undefined) {
      headers.authorization = `Bearer ${upstream.token}`;
    }
    const up: ClientRequest = httpsRequest({
      protocol: "https:",
      hostname: upstream.server.hostname,
      port: upstream.server.port === "" ? 443 : Number(upstream.server.port),
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    up.on("socket", (socket: Socket) => {
      // Pooled sockets serve many requests: track (and listen on) each once.
      if (upstreamSockets.has(socket)) return;
      upstreamSockets.add(socket);
      socket.once("close", () => upstreamSockets.delete(socket));
    });
    let flow: Flow | undefined;
    up.on("error", () => {
      if (flow?.dead === true) return;
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "application/json" }).end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            message: "fault-proxy: upstream error",
            reason: "InternalError",
            code: 502,
          }),
        );
      } else {
        res.destroy();
      }
    });
    up.on("response", (upRes) => {
      record.status = upRes.statusCode ?? 502;
      const resHeaders = { ...upRes.headers };
      delete resHeaders.connection;
      delete resHeaders["keep-alive"];
      res.writeHead(upRes.statusCode ?? 502, resHeaders);
      res.flushHeaders();
      const current: Flow = {
        upstream: upRes,
        watch: info.watch,
        resource: info.resource,
        dead: stalls(info),
      };
      flow = current;
      flows.add(current);
      const finish = (): void => {
        flows.delete(current);
      };
      if (current.dead) {
        // A new watch during the stall: headers, then silence until the stall ends.
        upRes.destroy();
        current.held = () => {
          finish();
          res.end();
        };
        return;
      }
      if (blackholed()) upRes.pause();
      upRes.on("data", (chunk: Buffer) => {
        if (current.dead) return;
        res.write(chunk);
      });
      upRes.on("end", () => {
        finish();
        if (!current.dead) res.end();
      });
      upRes.on("error", () => {
        finish();
        if (!current.dead) res.destroy();
      });
      upRes.on("close", finish);
    });
    // Client gone: drop the upstream request too.
    res.on("close", () => {
      if (flow) flows.delete(flow);
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  const log: ProxiedRequest[] = [];
  const server = createServer((req, res) => {
    counts.requests++;
    const info = describeRequest(req.method ?? "GET", req.url ?? "/");
    if (info.watch) counts.watches++;
    const record: ProxiedRequest = {
      at: Date.now(),
      method: info.method,
      verb: info.verb,
      resource: info.resource,
      subresource: info.subresource,
      path: new URL(req.url ?? "/", "http://proxy").pathname,
      fate: "forwarded",
    };
    log.push(record);
    if (latencyMs > 0) {
      req.pause();
      const timer = setTimeout(() => {
        pendingDelays.delete(timer);
        forward(req, res, info, record);
      }, latencyMs);
      pendingDelays.add(timer);
      return;
    }
    forward(req, res, info, record);
  });
  server.on("connection", (socket: Socket) => {
    clientSockets.add(socket);
    socket.once("close", () => clientSockets.delete(socket));
  });
  // Watches must not be cut by the server's own timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 5_000;
  server.timeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${String(port)}`;

  const kubeconfig = path.join(opts.dir, "fault-proxy.kubeconfig");
  writeFileSync(
    kubeconfig,
    dump({
      apiVersion: "v1",
      kind: "Config",
      // client-node refuses a plain http:// server unless TLS verification
      // is off; there is no TLS between the client and the loopback proxy.
      clusters: [
        { name: "fault-proxy", cluster: { server: url, "insecure-skip-tls-verify": true } },
      ],
      users: [
        { name: "user", user: upstream.token !== undefined ? { token: upstream.token } : {} },
      ],
      contexts: [{ name: "fault-proxy", context: { cluster: "fault-proxy", user: "user" } }],
      "current-context": "fault-proxy",
    }),
    { mode: 0o600 },
  );

  const endBlackhole = (): void => {
    if (blackholeTimer !== undefined) clearTimeout(blackholeTimer);
    blackholeTimer = undefined;
    blackholeUntil = 0;
    for (const flow of flows) if (!flow.dead) flow.upstream.resume();
  };

  const proxy: FaultProxy = {
    url,
    kubeconfig,
    setLatency(ms) {
      latencyMs = Math.max(0, ms);
    },
    resetConnections() {
      for (const socket of clientSockets) {
        counts.resets++;
        socket.resetAndDestroy();
      }
      // TLS sockets cannot send an RST from Node; closing them is what the
      // API server sees of a dead peer anyway.
      for (const socket of upstreamSockets) {
        counts.resets++;
        socket.destroy();
      }
    },
    stallWatches(on, resource) {
      stalled = on;
      stalledResource = on ? resource : undefined;
      if (!on) {
        for (const flow of flows) flow.held?.();
        return;
      }
      for (const flow of flows) {
        if (!flow.watch || flow.dead) continue;
        if (resource !== undefined && flow.resource !== resource) continue;
        flow.dead = true;
        // Let the upstream go; the client's socket stays open and silent.
        flow.upstream.destroy();
      }
    },
    failRequests(rule) {
      rules.push(rule);
    },
    blackhole(ms) {
      endBlackhole();
      blackholeUntil = Date.now() + ms;
      for (const flow of flows) flow.upstream.pause();
      blackholeTimer = setTimeout(endBlackhole, ms);
    },
    clear() {
      latencyMs = 0;
      proxy.stallWatches(false);
      rules.length = 0;
      endBlackhole();
    },
    stats() {
      return { ...counts };
    },
    requests() {
      return log;
    },
    async close() {
      proxy.clear();
      for (const timer of pendingDelays) clearTimeout(timer);
      pendingDelays.clear();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of [...clientSockets, ...upstreamSockets]) socket.destroy();
      });
      agent.destroy();
    },
  };
  return proxy;
}

import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** A named check behind /healthz or /readyz: returns "" when healthy, else why not. */
export interface Check {
  name: string;
  check: () => string;
}

/** A running HTTP endpoint; `port` is the bound port (useful with port 0). */
export interface Endpoint {
  port: number;
  close: () => Promise<void>;
}

/**
 * Parses a bind address the way controller-runtime's flags take it: ":8080"
 * (all interfaces), "127.0.0.1:8080", or "0" to disable; returns undefined for
 * "0".
 */
export function parseBindAddress(value: string): { host: string; port: number } | undefined {
  if (value === "0") return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(value);
  if (!match)
    throw new Error(`invalid bind address ${JSON.stringify(value)}: want [host]:port or 0`);
  const port = Number(match[2]);
  if (port > 65535)
    throw new Error(`invalid bind address ${JSON.stringify(value)}: port out of range`);
  let host = match[1] ?? "";
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host: host === "" ? "::" : host, port };
}

function listen(server: Server, host: string, port: number): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => {
              done();
            });
          }),
      });
    });
  });
}

function renderChecks(checks: readonly Check[], verbose: boolean): { ok: boolean; body: string } {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks) {
    let failure: string;
    try {
      failure = c.check();
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    if (failure !== "") ok = false;
    lines.push(failure === "" ? `[+]${c.name} ok` : `[-]${c.name} failed: ${failure}`);
  }
  const summary = ok ? "ok" : "unhealthy";
  return { ok, body: verbose || !ok ? `${lines.join("\n")}\n${summary}\n` : `${summary}\n` };
}

/**
 * Serves /healthz (liveness) and /readyz (readiness) from the given checks, in
 * the Kubernetes style: 200 "ok" or 500 with the failing checks listed;
 * `?verbose` lists every check.
 */
export function startProbeServer(
  bind: { host: string; port: number },
  probes: { healthz: readonly Check[]; readyz: readonly Check[] },
): Promise<Endpoint> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://probe");
    const checks =
      url.pathname === "/healthz" || url.pathname === "/livez"
        ? probes.healthz
        : url.pathname === "/readyz"
          ? probes.readyz
          : undefined;
    if (checks === undefined) {
      res.writeHead(404).end("not found\n");
      return;
    }
    const { ok, body } = renderChecks(checks, url.searchParams.has("verbose"));
    res.writeHead(ok ? 200 : 500, { "content-type": "text/plain; charset=utf-8" }).end(body);
  });
  return listen(server, bind.host, bind.port);
}

/** Serves the registry's metrics at /metrics in the Prometheus text format. */
export function startMetricsServer(
  bind: { host: string; port: number },
  registry: Registry,
): Promise<Endpoint> {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://metrics").pathname !== "/metrics") {
      res.writeHead(404).end("not found\n");
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType }).end(text);
      },
      (err: unknown) => {
        res.writeHead(500).end(`${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  return listen(server, bind.host, bind.port);
}

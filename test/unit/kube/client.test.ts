import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import {
  callOptions,
  createApiClients,
  createClientFactory,
  retryAfterMs,
} from "../../../src/kube/client.ts";

// The API client against a loopback HTTP server that answers what each test
// scripts: no cluster, only the request plumbing (timeouts, cancellation,
// metrics) that every reconcile goes through.

type Handler = (res: ServerResponse, req: IncomingMessage) => void;

let server: Server | undefined;
const stalled: ServerResponse[] = [];

async function serve(handler: Handler): Promise<string> {
  server = createServer((req, res) => {
    handler(res, req);
  });
  await new Promise<void>((resolve) => {
    server?.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${String(port)}`;
}

afterEach(async () => {
  for (const res of stalled.splice(0)) res.destroy();
  await new Promise<void>((resolve) => {
    if (server === undefined) resolve();
    else
      server.close(() => {
        resolve();
      });
    server?.closeAllConnections();
  });
  server = undefined;
});

function kubeconfig(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: url, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

function client(url: string, requestTimeoutMs: number, registry?: Registry): CoreV1Api {
  const make = createClientFactory(kubeconfig(url), {
    qps: 0,
    burst: 1,
    requestTimeoutMs,
    userAgent: "podium-test",
    ...(registry ? { registry } : {}),
  });
  return make(CoreV1Api);
}

const NAMESPACE = { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } };

/** Sends the status line and headers and the first bytes of a body, then nothing more. */
const stallAfterHeaders: Handler = (res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.write('{"apiVersion":');
  stalled.push(res);
};

describe("the API client", () => {
  it("returns what the server answers and counts it in rest_client_requests_total", async () => {
    const url = await serve((res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(NAMESPACE));
    });
    const registry = new Registry();
    const ns = await client(url, 5_000, registry).readNamespace({ name: "x" });
    expect(ns.metadata?.name).toBe("x");
    const metrics = await registry.getMetricsAsJSON();
    const requests = metrics.find((m) => m.name === "rest_client_requests_total");
    expect(requests?.values.map((v) => [v.labels.code, v.value])).toEqual([["200", 1]]);
  });

  it("abandons a request whose body stops arriving after the headers, at the timeout", async () => {
    const url = await serve(stallAfterHeaders);
    const started = performance.now();
    const error = await client(url, 300)
      .readNamespace({ name: "x" })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/timed out|TimeoutError|abort/i);
    // Bounded: it did not wait for anything but the 300 ms timeout.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("abandons a request in flight when the caller's signal aborts", async () => {
    const url = await serve(stallAfterHeaders);
    const controller = new AbortController();
    const pending = client(url, 60_000).readNamespace(
      { name: "x" },
      callOptions(controller.signal),
    );
    const outcome = pending.then(
      () => "resolved",
      (err: unknown) => err,
    );
    setTimeout(() => {
      controller.abort(new Error("lost leadership"));
    }, 100);
    const error = await outcome;
    expect(String(error)).toMatch(/lost leadership|abort/i);
  });

  it("refuses to send when the caller's signal has already aborted", async () => {
    let requests = 0;
    const url = await serve((res) => {
      requests++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(NAMESPACE));
    });
    const controller = new AbortController();
    controller.abort(new Error("lost leadership"));
    await expect(
      client(url, 5_000).readNamespace({ name: "x" }, callOptions(controller.signal)),
    ).rejects.toThrow(/lost leadership/);
    expect(requests).toBe(0);
  });
});

/** A renewal's raw merge patch of Lease shop/web through the raw sender. */
function renew(url: string, body: string, requestTimeoutMs: number, registry?: Registry) {
  const { send } = createApiClients(kubeconfig(url), {
    qps: 0,
    burst: 1,
    requestTimeoutMs,
    userAgent: "podium-test",
    ...(registry ? { registry } : {}),
  });
  return send({
    method: "PATCH",
    path: "/apis/coordination.k8s.io/v1/namespaces/shop/leases/web",
    body,
    contentType: "application/merge-patch+json",
    signal: new AbortController().signal,
  });
}

describe("the raw sender (Lease renewals)", () => {
  it("sends the body as is with auth, Content-Type and User-Agent, and returns the status and unparsed body", async () => {
    let seen: Partial<Pick<IncomingMessage, "method" | "url" | "headers">> & { body?: string } = {};
    const url = await serve((res, req) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        seen = { headers: req.headers, body };
        if (req.method !== undefined) seen.method = req.method;
        if (req.url !== undefined) seen.url = req.url;
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"metadata":{"resourceVersion":"42"}}');
      });
    });
    const registry = new Registry();
    const res = await renew(url, '{"spec":{"holderIdentity":"web-a"}}', 5_000, registry);
    expect(res).toEqual({ status: 200, body: '{"metadata":{"resourceVersion":"42"}}' });
    expect(seen.method).toBe("PATCH");
    expect(seen.url).toBe("/apis/coordination.k8s.io/v1/namespaces/shop/leases/web");
    expect(seen.body).toBe('{"spec":{"holderIdentity":"web-a"}}');
    expect(seen.headers?.["content-type"]).toBe("application/merge-patch+json");
    expect(seen.headers?.["user-agent"]).toBe("podium-test");
    expect(seen.headers?.authorization).toBe("Bearer t");
    const metrics = await registry.getMetricsAsJSON();
    const requests = metrics.find((m) => m.name === "rest_client_requests_total");
    expect(requests?.values.map((v) => [v.labels.method, v.labels.code, v.value])).toEqual([
      ["PATCH", "200", 1],
    ]);
  });

  it("abandons a renewal whose answer stalls, at the timeout", async () => {
    const url = await serve(stallAfterHeaders);
    const error = await renew(url, "{}", 300).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(String(error)).toMatch(/timed out|TimeoutError|abort/i);
  });
});

describe("Retry-After", () => {
  it.each([
    [429, { "retry-after": "1" }, 1000],
    [503, { "retry-after": "2" }, 2000],
    [429, { "retry-after": "120" }, 10_000],
    [429, {}, undefined],
    [429, { "retry-after": "Wed, 21 Oct 2026 07:28:00 GMT" }, undefined],
    [409, { "retry-after": "1" }, undefined],
    [200, { "retry-after": "1" }, undefined],
  ])("status %d with %j: wait %s ms", (httpStatusCode, headers, want) => {
    expect(retryAfterMs({ httpStatusCode, headers })).toBe(want);
  });

  it("repeats a request refused with 429 and Retry-After once the wait is over", async () => {
    const arrivals: number[] = [];
    const url = await serve((res) => {
      arrivals.push(performance.now());
      if (arrivals.length === 1) {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
        res.end(JSON.stringify({ kind: "Status", code: 429, reason: "TooManyRequests" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(NAMESPACE));
    });
    const registry = new Registry();
    const ns = await client(url, 5_000, registry).readNamespace({ name: "x" });
    expect(ns.metadata?.name).toBe("x");
    expect(arrivals).toHaveLength(2);
    expect((arrivals[1] ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(950);
    const requests = (await registry.getMetricsAsJSON()).find(
      (m) => m.name === "rest_client_requests_total",
    );
    expect(requests?.values.map((v) => [v.labels.code, v.value]).sort()).toEqual([
      ["200", 1],
      ["429", 1],
    ]);
  });

  it("gives up after three repeats and returns the refusal", async () => {
    let arrivals = 0;
    const url = await serve((res) => {
      arrivals++;
      res.writeHead(429, { "content-type": "application/json", "retry-after": "0" });
      res.end(JSON.stringify({ kind: "Status", code: 429, reason: "TooManyRequests" }));
    });
    await expect(client(url, 5_000).readNamespace({ name: "x" })).rejects.toThrow(/429/);
    expect(arrivals).toBe(4);
  });

  it("stops waiting when the caller's signal aborts", async () => {
    const url = await serve((res) => {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "10" });
      res.end(JSON.stringify({ kind: "Status", code: 429 }));
    });
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort(new Error("lost leadership"));
    }, 200);
    const started = performance.now();
    await expect(
      client(url, 60_000).readNamespace({ name: "x" }, callOptions(controller.signal)),
    ).rejects.toThrow(/lost leadership/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import type { V1Lease } from "@kubernetes/client-node";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  KubeLeaseLock,
  LeaseLockError,
  snapshotOf,
} from "../../../src/leaderelection/lease-lock.ts";
import type { LeaderElectionRecord } from "../../../src/leaderelection/lease-lock.ts";

const NS = "podium-system";
const NAME = "podium-leader";
const ITEM = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${NAME}`;
const COLLECTION = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

/**
 * A one-Lease API server over real HTTP, enforcing resourceVersion on PUT as
 * the real one does, so that the lock is exercised through client-node's
 * serializer, middleware and fetch.
 */
class FakeApiServer {
  lease: Record<string, unknown> | undefined;
  version = 1;
  bodies: string[] = [];
  failWith: number | undefined;
  hang = false;
  closedWhileHanging = 0;
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = "";
    for await (const chunk of req) text += String(chunk);
    if (text !== "") this.bodies.push(text);
    if (this.hang) {
      res.on("close", () => {
        this.closedWhileHanging++;
      });
      return;
    }
    const [code, body] = this.#answer(req.method ?? "", req.url?.split("?")[0] ?? "", text);
    this.#send(res, code, body);
  }

  #answer(method: string, path: string, text: string): [number, unknown] {
    if (this.failWith !== undefined) return status(this.failWith, "InternalError");
    if (method === "GET" && path === ITEM) {
      return this.lease ? [200, this.lease] : status(404, "NotFound");
    }
    if (method === "POST" && path === COLLECTION) {
      if (this.lease) return status(409, "AlreadyExists");
      return [201, this.#store(JSON.parse(text) as Record<string, unknown>)];
    }
    if (method === "PUT" && path === ITEM) {
      if (!this.lease) return status(404, "NotFound");
      const body = JSON.parse(text) as Record<string, unknown>;
      const metadata = body.metadata as { resourceVersion?: string } | undefined;
      if (metadata?.resourceVersion !== String(this.version)) return status(409, "Conflict");
      return [200, this.#store(body)];
    }
    return status(405, "MethodNotAllowed");
  }

  #store(body: Record<string, unknown>): Record<string, unknown> {
    this.version++;
    const metadata = { ...(body.metadata as object), resourceVersion: String(this.version) };
    this.lease = { ...body, metadata };
    return this.lease;
  }

  #send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }
}

function status(code: number, reason: string): [number, unknown] {
  return [code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, code }];
}

const server = new FakeApiServer();
let api: CoordinationV1Api;

beforeAll(async () => {
  const url = await server.listen();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
    users: [{ name: "fake" }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
    currentContext: "fake",
  });
  api = kc.makeApiClient(CoordinationV1Api);
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.lease = undefined;
  server.bodies = [];
  server.failWith = undefined;
  server.hang = false;
});

const T = Date.UTC(2026, 10, 25, 3, 4, 5, 123);
const record: LeaderElectionRecord = {
  holderIdentity: "podium-0",
  leaseDurationSeconds: 15,
  acquireTime: T,
  renewTime: T,
  leaseTransitions: 2,
};

function signal(): AbortSignal {
  return AbortSignal.timeout(5_000);
}

describe("KubeLeaseLock", () => {
  it("reads an absent Lease as undefined, creates it with MicroTimes, and reads it back", async () => {
    const lock = new KubeLeaseLock({ api, namespace: NS, name: NAME });
    expect(lock.describe()).toBe(`${NS}/${NAME}`);
    expect(await lock.get(signal())).toBeUndefined();

    const created = await lock.create(record, signal());
    expect(created.record).toEqual(record);
    expect(created.resourceVersion).toBe(String(server.version));
    const sent = JSON.parse(server.bodies[0] ?? "{}") as V1Lease;
    expect(sent.spec).toEqual({
      holderIdentity: "podium-0",
      leaseDurationSeconds: 15,
      acquireTime: "2026-11-25T03:04:05.123000Z",
      renewTime: "2026-11-25T03:04:05.123000Z",
      leaseTransitions: 2,
    });

    const read = await lock.get(signal());
    expect(read).toEqual(created);
  });

  it("classifies a create of an existing Lease as a conflict", async () => {
    const lock = new KubeLeaseLock({ api, namespace: NS, name: NAME });
    await lock.create(record, signal());
    await expect(lock.create(record, signal())).rejects.toMatchObject({
      name: "LeaseLockError",
      kind: "conflict",
    });
  });

  it("updates only on the named resourceVersion, keeping metadata and other spec fields", async () => {
    const lock = new KubeLeaseLock({ api, namespace: NS, name: NAME });
    const created = await lock.create(record, signal());
    // Someone labels the Lease and sets a field the record does not model.
    server.version++;
    server.lease = {
      ...server.lease,
      metadata: {
        ...(server.lease?.metadata as object),
        labels: { app: "podium" },
        resourceVersion: String(server.version),
      },
      spec: { ...(server.lease?.spec as object), strategy: "OldestEmulationVersion" },
    };
    const renewed = { ...record, renewTime: T + 2_000 };
    const stale = lock.update(renewed, created.resourceVersion, signal());
    await expect(stale).rejects.toBeInstanceOf(LeaseLockError);
    await expect(stale).rejects.toMatchObject({ kind: "conflict" });

    const current = await lock.get(signal());
    expect(current?.raw).not.toBe(created.raw); // the strategy changed
    const updated = await lock.update(renewed, current?.resourceVersion ?? "", signal());
    expect(updated.record.renewTime).toBe(T + 2_000);
    const sent = JSON.parse(server.bodies.at(-1) ?? "{}") as V1Lease;
    expect(sent.metadata?.labels).toEqual({ app: "podium" });
    expect(sent.spec?.strategy).toBe("OldestEmulationVersion");
    expect(sent.spec?.renewTime).toBe("2026-11-25T03:04:07.123000Z");
  });

  it("classifies 404 on update as notFound and other statuses as other", async () => {
    const lock = new KubeLeaseLock({ api, namespace: NS, name: NAME });
    await expect(lock.update(record, "1", signal())).rejects.toMatchObject({ kind: "notFound" });
    server.failWith = 500;
    await expect(lock.get(signal())).rejects.toMatchObject({ kind: "other" });
    server.failWith = 403;
    await expect(lock.create(record, signal())).rejects.toMatchObject({ kind: "other" });
  });

  it("cancels the HTTP request itself when the signal aborts", async () => {
    const lock = new KubeLeaseLock({ api, namespace: NS, name: NAME });
    server.hang = true;
    const controller = new AbortController();
    const pending = lock.get(controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error("renew deadline"));
    await expect(pending).rejects.toMatchObject({ kind: "other" });
    await expect(pending).rejects.toThrow(/aborted \(renew deadline\)/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.closedWhileHanging).toBe(1);
  });
});

describe("snapshotOf", () => {
  it("tolerates missing fields, strings and Dates, and keeps microseconds in raw", () => {
    expect(snapshotOf({}).record).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 0,
      acquireTime: 0,
      renewTime: 0,
      leaseTransitions: 0,
    });
    const a = snapshotOf({
      metadata: { resourceVersion: "7" },
      spec: { renewTime: "2026-11-25T03:04:05.123456Z" as never, holderIdentity: "x" },
    });
    const b = snapshotOf({
      spec: { renewTime: "2026-11-25T03:04:05.123457Z" as never, holderIdentity: "x" },
    });
    expect(a.resourceVersion).toBe("7");
    expect(a.record.renewTime).toBe(T);
    expect(b.record.renewTime).toBe(T);
    expect(a.raw).not.toBe(b.raw);
    const fromDate = snapshotOf({ spec: { acquireTime: new Date(T) } });
    expect(fromDate.record.acquireTime).toBe(T);
  });
});

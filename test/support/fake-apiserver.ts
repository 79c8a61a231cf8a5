import { KubeConfig } from "@kubernetes/client-node";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** An object as the fake server stores and serves it. */
export interface FakeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [field: string]: unknown;
}

/** One watch request the fake server accepted, which the test drives by hand. */
export interface FakeWatch {
  /** The request's query parameters (resourceVersion, timeoutSeconds…). */
  readonly query: URLSearchParams;
  /** True once the stream ended, from either side. */
  readonly closed: boolean;
  /** Writes one event line. */
  send(type: string, object: unknown): void;
  /** Sends `ERROR` with a Status of `code` (410 = expired resourceVersion). */
  sendError(code: number, message?: string): void;
  /** Ends the stream cleanly, as the API server does when `timeoutSeconds` elapse. */
  end(): void;
  /** Resets the TCP connection mid-stream. */
  reset(): void;
}

/**
 * A loopback HTTP server that serves one collection like the API server:
 * paginated lists from an in-memory store (`limit`/`continue`) and chunked
 * watch streams that the test writes to, with scripted failures. It never
 * replays history on a watch; the test decides what each stream carries.
 */
export class FakeApiServer {
  readonly url: string;
  /** Every request, in order: path and query. */
  readonly requests: { path: string; query: URLSearchParams }[] = [];
  /** Every accepted watch, in order. */
  readonly watches: FakeWatch[] = [];
  /** Statuses the next list requests answer with, one per request, before lists work again. */
  readonly failLists: number[] = [];
  /** Statuses the next watch requests answer with, one per request. */
  readonly failWatches: number[] = [];
  /** How many of the next watch requests are swallowed: no status, no headers, ever. */
  holdWatches = 0;
  readonly #held: ServerResponse[] = [];

  readonly #server: Server;
  readonly #objects = new Map<string, FakeObject>();
  #resourceVersion = 100;

  private constructor(server: Server) {
    this.#server = server;
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Starts a server on an ephemeral port of 127.0.0.1. */
  static async start(): Promise<FakeApiServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const fake = new FakeApiServer(server);
    server.on("request", (req, res) => {
      fake.#handle(req, res);
    });
    return fake;
  }

  /**
   * A kubeconfig for this server: plain HTTP, no credentials. client-node
   * refuses an `http:` server unless `skipTLSVerify` is set (there is no TLS
   * to verify anyway).
   */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: this.url, skipTLSVerify: true }],
      users: [{ name: "nobody" }],
      contexts: [{ name: "fake", cluster: "fake", user: "nobody" }],
      currentContext: "fake",
    });
    return kc;
  }

  /** The store's current resourceVersion. */
  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  /** Creates or replaces an object in the store (no watch event); returns it with its new resourceVersion. */
  put(namespace: string, name: string, labels?: Record<string, string>): FakeObject {
    this.#resourceVersion++;
    const object: FakeObject = {
      kind: "Pod",
      metadata: {
        name,
        namespace,
        resourceVersion: String(this.#resourceVersion),
        ...(labels ? { labels } : {}),
      },
    };
    this.#objects.set(`${namespace}/${name}`, object);
    return object;
  }

  /** Removes an object from the store (no watch event); returns it as last stored. */
  remove(namespace: string, name: string): FakeObject | undefined {
    const key = `${namespace}/${name}`;
    const object = this.#objects.get(key);
    this.#objects.delete(key);
    this.#resourceVersion++;
    return object;
  }

  /** The list requests made so far. */
  lists(): { path: string; query: URLSearchParams }[] {
    return this.requests.filter((r) => r.query.get("watch") !== "true");
  }

  /** The watches still open. */
  openWatches(): FakeWatch[] {
    return this.watches.filter((w) => !w.closed);
  }

  /** The most recent watch; throws if there is none. */
  lastWatch(): FakeWatch {
    const watch = this.watches.at(-1);
    if (!watch) throw new Error("no watch yet");
    return watch;
  }

  /** Closes every connection and the server. */
  async close(): Promise<void> {
    for (const watch of this.openWatches()) watch.reset();
    for (const res of this.#held.splice(0)) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    this.requests.push({ path: url.pathname, query: url.searchParams });
    const watching = url.searchParams.get("watch") === "true";
    const failure = watching ? this.failWatches.shift() : this.failLists.shift();
    if (failure !== undefined) {
      res.writeHead(failure, { "Content-Type": "application/json" });
      res.end(JSON.stringify(status(failure, "scripted failure")));
      return;
    }
    if (watching && this.holdWatches > 0) {
      this.holdWatches--;
      this.#held.push(res);
      return;
    }
    if (watching) this.#watch(url.searchParams, res);
    else this.#list(url.searchParams, res);
  }

  #list(query: URLSearchParams, res: ServerResponse): void {
    const all = [...this.#objects.values()];
    const limit = Number(query.get("limit") ?? all.length) || all.length;
    const offset = Number(query.get("continue") ?? 0);
    const items = all.slice(offset, offset + limit);
    const next = offset + limit < all.length ? String(offset + limit) : undefined;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({
        kind: "List",
        apiVersion: "v1",
        metadata: { resourceVersion: this.resourceVersion, ...(next ? { continue: next } : {}) },
        items,
      }),
    );
  }

  #watch(query: URLSearchParams, res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
    res.flushHeaders();
    let closed = false;
    res.on("close", () => {
      closed = true;
    });
    const write = (type: string, object: unknown): void => {
      if (!closed) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    this.watches.push({
      query,
      get closed() {
        return closed;
      },
      send: write,
      sendError: (code, message = "scripted error") => {
        write("ERROR", status(code, message));
      },
      end: () => {
        if (!closed) res.end();
      },
      reset: () => {
        closed = true;
        res.socket?.resetAndDestroy();
      },
    });
  }
}

function status(code: number, message: string): Record<string, unknown> {
  const reasons: Record<number, string> = {
    410: "Expired",
    500: "InternalError",
    403: "Forbidden",
  };
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: reasons[code] ?? "Unknown",
    code,
  };
}

/**
 * Polls `condition` every 5 ms until it returns true; fails after `timeoutMs`
 * with `what`, so that no test waits unbounded.
 */
export async function eventually(
  what: string,
  condition: () => boolean,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

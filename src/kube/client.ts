import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  Observable,
  ServerConfiguration,
  createConfiguration,
} from "@kubernetes/client-node";
import type {
  ConfigurationOptions,
  HttpLibrary,
  KubeConfig,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
} from "@kubernetes/client-node";
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import { RequestLimiter } from "./limiter.ts";
import { perRegistry } from "./metrics.ts";
import { RequestHttpLibrary } from "./request-library.ts";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

function of<T>(value: T): Observable<T> {
  return new Observable(Promise.resolve(value));
}

/** Options of the API clients podium builds. */
export interface ClientOptions {
  /** Sustained requests per second (client-go's --kube-api-qps); 0 disables the limit. */
  qps: number;
  /** Requests allowed in a burst above qps. */
  burst: number;
  /** Every request is abandoned after this long. */
  requestTimeoutMs: number;
  userAgent: string;
  registry?: Registry;
}

/** A constructor of a generated API class, as `KubeConfig.makeApiClient` takes it. */
export type ApiType<T> = new (config: ReturnType<typeof createConfiguration>) => T;

/** Makes a typed API client that shares the factory's limits, pool and metrics. */
export type ClientFactory = <T>(api: ApiType<T>) => T;

/** Retries of a request the API server asked to repeat later (client-go allows 10). */
const MAX_RETRIES = 3;
/** The longest Retry-After podium honours; a longer one is waited out this long. */
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * How long to wait before repeating a request the server refused with 429
 * (or a 5xx) and a Retry-After of whole seconds, as client-go's REST client
 * does (priority and fairness sends 429s with Retry-After under load);
 * undefined when the response is no such refusal.
 */
export function retryAfterMs(
  response: Pick<ResponseContext, "httpStatusCode" | "headers">,
): number | undefined {
  const code = response.httpStatusCode;
  if (code !== 429 && code < 500) return undefined;
  // fetch gives header names in lower case.
  const header = response.headers["retry-after"];
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(Number(header.trim()) * 1000, MAX_RETRY_AFTER_MS);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
async function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface ClientMetrics {
  requests: Counter<"code" | "method" | "host">;
  latency: Histogram<"verb" | "host">;
}

/** The `rest_client_*` metrics, shared by every API client on a registry. */
const clientMetrics = perRegistry((registry: Registry): ClientMetrics => ({
  requests: new Counter({
    name: "rest_client_requests_total",
    help: "Number of HTTP requests to the API server, partitioned by status code, method, and host.",
    labelNames: ["code", "method", "host"],
    registers: [registry],
  }),
  latency: new Histogram({
    name: "rest_client_request_duration_seconds",
    help: "Request latency in seconds, by verb and host.",
    labelNames: ["verb", "host"],
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
    registers: [registry],
  }),
}));

/**
 * Sends requests with client-go's manners: a client-side rate limit, a
 * per-request timeout, `rest_client_*` metrics, and one shared connection pool.
 * client-node 2.0 builds a new undici Agent for every request, so no TLS
 * connection is ever reused; we keep the first one and reuse it, refreshing it
 * periodically so rotated client certificates are picked up.
 */
class InstrumentedHttpLibrary implements HttpLibrary {
  readonly #inner = new IsomorphicFetchHttpLibrary();
  readonly #lean = new RequestHttpLibrary();
  readonly #limiter: RequestLimiter;
  readonly #metrics: ClientMetrics | undefined;
  readonly #timeoutMs: number;
  #dispatcher: { value: Dispatcher; createdAt: number } | undefined;

  constructor(options: ClientOptions) {
    this.#limiter = new RequestLimiter(options.qps, options.burst);
    this.#metrics = options.registry ? clientMetrics(options.registry) : undefined;
    this.#timeoutMs = options.requestTimeoutMs;
  }

  send(request: RequestContext): Observable<ResponseContext> {
    return new Observable(this.#send(request, this.#inner));
  }

  /** {@link send} through undici's `request` rather than `fetch` (string bodies only). */
  sendLean(request: RequestContext): Promise<ResponseContext> {
    return this.#send(request, this.#lean);
  }

  async #send(request: RequestContext, inner: HttpLibrary): Promise<ResponseContext> {
    // The caller's signal, before #sendOnce replaces it with a per-attempt one.
    const signal = request.getSignal();
    this.#shareDispatcher(request);
    for (let attempt = 1; ; attempt++) {
      const response = await this.#sendOnce(request, signal, inner);
      const delayMs = attempt <= MAX_RETRIES ? retryAfterMs(response) : undefined;
      if (delayMs === undefined) return response;
      // Drain the refusal (which also clears its timer), then wait as told.
      await response.body.text().catch(() => undefined);
      await sleepUnlessAborted(delayMs, signal);
    }
  }

  async #sendOnce(
    request: RequestContext,
    signal: AbortSignal | undefined,
    inner: HttpLibrary,
  ): Promise<ResponseContext> {
    await this.#limiter.waitTurn(signal);
    signal?.throwIfAborted();
    // One controller per request, its timer and its listener on the caller's
    // signal removed when the request ends. AbortSignal.timeout() would keep
    // a timer (and raise a TimeoutError) for every finished request until it
    // fires, and AbortSignal.any() over the long-lived leadership signal
    // accumulates dependants; at hundreds of requests a second both show up in
    // CPU and memory profiles.
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new DOMException("the request timed out", "TimeoutError"));
    }, this.#timeoutMs);
    const forward = (): void => {
      controller.abort(signal?.reason);
    };
    signal?.addEventListener("abort", forward, { once: true });
    request.setSignal(controller.signal);

    const method: string = request.getHttpMethod();
    const host = new URL(request.getUrl()).host;
    const started = performance.now();
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    };
    let code = "<error>";
    try {
      const response = await inner.send(request).toPromise();
      code = String(response.httpStatusCode);
      // The timeout and the caller's signal keep covering the body, which
      // the generated client reads after this returns.
      const body = response.body;
      response.body = {
        text: () => body.text().finally(settle),
        binary: () => body.binary().finally(settle),
        // A streamed body is the caller's to bound.
        stream: () => {
          settle();
          return body.stream();
        },
      };
      return response;
    } catch (err) {
      settle();
      throw err;
    } finally {
      this.#metrics?.requests.inc({ code, method, host });
      this.#metrics?.latency.observe({ verb: method, host }, (performance.now() - started) / 1000);
    }
  }

  #shareDispatcher(request: RequestContext): void {
    const fresh = request.getDispatcher();
    if (fresh === undefined) return;
    const now = Date.now();
    if (this.#dispatcher === undefined || now - this.#dispatcher.createdAt > 10 * 60_000) {
      const old = this.#dispatcher?.value;
      this.#dispatcher = { value: fresh, createdAt: now };
      // Let requests in flight on the old pool finish before its sockets close.
      if (old) setTimeout(() => void old.close().catch(() => undefined), 60_000).unref();
      return;
    }
    // The fresh Agent never connected; dropping it is enough. Closing it
    // would build a ClientDestroyedError per request for nothing.
    request.setDispatcher(this.#dispatcher.value);
  }
}

/** A request sent as is: the API path, its JSON body already serialised, its Content-Type. */
export interface RawRequest {
  method: "PATCH";
  path: string;
  body: string;
  contentType: string;
  signal: AbortSignal;
}

/** The status code and the unparsed body of a raw request's response. */
export interface RawResponse {
  status: number;
  body: string;
}

/** Sends a {@link RawRequest} with the factory's limits, pool and metrics. */
export type RawSend = (request: RawRequest) => Promise<RawResponse>;

/** The typed API clients' factory and the raw sender, over one rate limit, pool and metrics. */
export interface ApiClients {
  make: ClientFactory;
  /**
   * Sends a request without client-node's serialisation of the body or
   * deserialisation of the response: for the hot writes whose response
   * podium reads one field of (a Lease renewal's resourceVersion).
   */
  send: RawSend;
}

/**
 * Builds typed API clients that share one rate limit, one connection pool and
 * one set of `rest_client_*` metrics; the drop-in for `kc.makeApiClient`.
 */
export function createClientFactory(kc: KubeConfig, options: ClientOptions): ClientFactory {
  return createApiClients(kc, options).make;
}

/** {@link createClientFactory}, with a raw sender beside it on the same limits and pool. */
export function createApiClients(kc: KubeConfig, options: ClientOptions): ApiClients {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const httpApi = new InstrumentedHttpLibrary(options);
  const server = new ServerConfiguration(cluster.server, {});
  const userAgent: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setHeaderParam("User-Agent", options.userAgent);
      return of(ctx);
    },
    post: (ctx) => of(ctx),
  };
  const config = createConfiguration({
    baseServer: server,
    authMethods: { default: kc },
    middleware: [userAgent],
    httpApi,
  });
  const send: RawSend = async (req) => {
    req.signal.throwIfAborted();
    const ctx = server.makeRequestContext(req.path, HttpMethod[req.method]);
    ctx.setHeaderParam("Content-Type", req.contentType);
    ctx.setHeaderParam("Accept", "application/json");
    ctx.setHeaderParam("User-Agent", options.userAgent);
    ctx.setBody(req.body);
    await kc.applySecurityAuthentication(ctx);
    ctx.setSignal(req.signal);
    const response = await httpApi.sendLean(ctx);
    return { status: response.httpStatusCode, body: await response.body.text() };
  };
  return { make: <T>(api: ApiType<T>) => new api(config), send };
}

/**
 * Per-call options that tie a request to `signal` (a write is abandoned the
 * moment the signal aborts, e.g. when this replica stops leading) and
 * optionally set its Content-Type (merge patch, apply patch).
 */
export function callOptions(
  signal: AbortSignal | undefined,
  contentType?: string,
): ConfigurationOptions {
  const middleware: ObservableMiddleware[] = [];
  if (signal) {
    middleware.push({
      pre: (ctx) => {
        signal.throwIfAborted();
        ctx.setSignal(signal);
        return of(ctx);
      },
      post: (ctx) => of(ctx),
    });
  }
  if (contentType !== undefined) {
    middleware.push({
      pre: (ctx) => {
        ctx.setHeaderParam("Content-Type", contentType);
        return of(ctx);
      },
      post: (ctx) => of(ctx),
    });
  }
  return { middleware, middlewareMergeStrategy: "append" };
}

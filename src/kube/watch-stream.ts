import { HttpMethod, RequestContext } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { STATUS_CODES } from "node:http";
import { fetch } from "undici";
import type { Response } from "undici";
import { realClock } from "./clock.ts";
import type { Clock, Timer } from "./clock.ts";

/**
 * An object as the API server sends it: plain JSON, not the client's typed
 * classes (timestamps are strings).
 */
export interface RawObject {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** A non-2xx answer from the API server, with the reason from its Status body when it sent one. */
export class KubeHttpError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;

  constructor(statusCode: number, message: string, reason?: string) {
    super(message);
    this.name = "KubeHttpError";
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

/**
 * Sends `GET {server}{path}?{query}` with the kubeconfig's TLS and credentials,
 * as the client's own `Watch` does (a `RequestContext` authenticated by
 * `applySecurityAuthentication`, then undici's fetch with its dispatcher), so
 * that lists and watches of any resource share one code path. Resolves with
 * the response whatever its status; rejects on network errors and on `signal`.
 */
export async function kubeFetch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | undefined>,
  signal: AbortSignal,
): Promise<Response> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  // Concatenated, not resolved: a server URL may carry a path prefix (a proxy).
  const url = new URL(cluster.server + path);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(name, value);
  }
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  ctx.setHeaderParam("Accept", "application/json");
  await kc.applySecurityAuthentication(ctx);
  const dispatcher = ctx.getDispatcher();
  return fetch(url, {
    method: "GET",
    headers: ctx.getHeaders(),
    signal,
    ...(dispatcher ? { dispatcher } : {}),
  });
}

/** Builds a `KubeHttpError` from a non-2xx response, reading its Status body if any. */
export async function httpError(response: Response): Promise<KubeHttpError> {
  const fallback =
    response.statusText !== ""
      ? response.statusText
      : (STATUS_CODES[response.status] ?? "HTTP error");
  let text = "";
  try {
    text = await response.text();
  } catch {
    // The status code alone still says what happened.
  }
  const status = parseStatus(text);
  return new KubeHttpError(
    response.status,
    `${response.status} ${status?.message ?? fallback}`,
    status?.reason,
  );
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

/** One event of a watch; `ERROR` events never reach the caller, they end the stream. */
export interface WatchEvent {
  type: WatchEventType;
  object: RawObject;
}

/** Why a watch stream ended; every stream ends exactly once. */
export type WatchEnd =
  /** The server closed the stream cleanly (its `timeoutSeconds` elapsed): resume from the last resourceVersion. */
  | { reason: "closed" }
  /** 410 Gone, as the response status or an in-stream ERROR: the resourceVersion is too old; re-list. */
  | { reason: "expired"; message: string }
  /** Nothing arrived within the inactivity deadline: the connection is presumed dead. */
  | { reason: "inactive" }
  /** A non-200 response, a network error, an unparseable line or a non-410 ERROR event. */
  | { reason: "error"; error: Error }
  /** `abort()` was called. */
  | { reason: "aborted" };

export interface WatchStreamOptions {
  kc: KubeConfig;
  /** The collection path, e.g. `/api/v1/namespaces/ns/pods`. */
  path: string;
  /** Query parameters besides `watch=true`: resourceVersion, selectors, timeoutSeconds… */
  query: Record<string, string | undefined>;
  /**
   * How long the stream may stay silent (no bytes at all) before it is
   * presumed dead. With `allowWatchBookmarks=true` the API server sends a
   * BOOKMARK about every minute, so a healthy stream is never silent longer.
   */
  inactivityTimeoutMs: number;
  /**
   * How long connecting and the response headers may take; defaults to the
   * inactivity deadline. A watch request that a dead or blackholed
   * connection swallows is abandoned after this, not after the (much longer)
   * inactivity deadline.
   */
  connectTimeoutMs?: number;
  clock?: Clock;
  /** Called once the server answered 200 and the stream is open. */
  onConnect?: () => void;
  /** Called synchronously for each event, in order. If it throws, the stream ends with that error. */
  onEvent: (event: WatchEvent) => void;
}

/** A running watch: `done` resolves (never rejects) with why it ended. */
export interface WatchStream {
  readonly done: Promise<WatchEnd>;
  /** Ends the stream and releases its connection; `done` then resolves `aborted` unless it already ended. */
  abort(): void;
}

/**
 * Opens one watch HTTP stream (`?watch=true`) and reads it line by line,
 * ending it at the first of: server close, network error, ERROR event,
 * inactivity deadline, or `abort()`. Unlike the client's `Watch` there is no
 * fixed 30 s lifetime: the server's `timeoutSeconds` bounds the stream and the
 * inactivity deadline catches dead connections.
 */
export function startWatch(options: WatchStreamOptions): WatchStream {
  const clock = options.clock ?? realClock;
  const controller = new AbortController();
  let ended: WatchEnd | undefined;
  let timer: Timer | undefined;

  // The first reason wins; aborting then unblocks whatever the reader awaits.
  const end = (why: WatchEnd): void => {
    ended ??= why;
    controller.abort();
  };
  const clearTimer = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };
  const resetTimer = (): void => {
    clearTimer();
    timer = clock.setTimeout(() => {
      end({ reason: "inactive" });
    }, options.inactivityTimeoutMs);
  };
  const armConnectTimer = (): void => {
    clearTimer();
    const ms = Math.min(
      options.connectTimeoutMs ?? options.inactivityTimeoutMs,
      options.inactivityTimeoutMs,
    );
    timer = clock.setTimeout(() => {
      end({
        reason: "error",
        error: new Error(`no response to the watch request in ${String(ms)} ms`),
      });
    }, ms);
  };

  const handleLine = (line: string): void => {
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line) as { type?: unknown; object?: unknown };
    } catch {
      // Skipping the line would silently lose an event; re-watching from the
      // last resourceVersion replays it instead.
      end({ reason: "error", error: new Error("unparseable watch event") });
      return;
    }
    const object = (event.object ?? {}) as RawObject;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
      case "DELETED":
      case "BOOKMARK":
        options.onEvent({ type: event.type, object });
        return;
      case "ERROR": {
        const status = parseStatus(object);
        const message = status?.message ?? "watch ERROR event";
        if (status?.code === 410) {
          end({ reason: "expired", message });
        } else {
          end({
            reason: "error",
            error: new KubeHttpError(status?.code ?? 500, message, status?.reason),
          });
        }
        return;
      }
      default:
        end({
          reason: "error",
          error: new Error(`unknown watch event type ${String(event.type)}`),
        });
    }
  };

  const read = async (): Promise<void> => {
    armConnectTimer();
    const response = await kubeFetch(
      options.kc,
      options.path,
      { ...options.query, watch: "true" },
      controller.signal,
    );
    if (response.status !== 200) {
      const error = await httpError(response);
      end(
        error.statusCode === 410
          ? { reason: "expired", message: error.message }
          : { reason: "error", error },
      );
      return;
    }
    options.onConnect?.();
    resetTimer();
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      resetTimer();
      buffered += decoder.decode(chunk, { stream: true });
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== "") handleLine(line);
        if (ended) return;
      }
    }
    const rest = (buffered + decoder.decode()).trim();
    if (rest !== "") handleLine(rest);
  };

  const done = read().then(
    (): WatchEnd => ended ?? { reason: "closed" },
    (err: unknown): WatchEnd =>
      ended ?? {
        reason: "error",
        error: err instanceof Error ? err : new Error(String(err)),
      },
  );
  // Whatever ended the stream, close the connection and stop the timer.
  const settled = done.then((why) => {
    clearTimer();
    controller.abort();
    return why;
  });

  return {
    done: settled,
    abort: () => {
      end({ reason: "aborted" });
    },
  };
}

interface Status {
  code?: number;
  reason?: string;
  message?: string;
}

/** Reads a `metav1.Status` from a JSON text or an already parsed object; undefined if it is not one. */
function parseStatus(body: unknown): Status | undefined {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { code, reason, message } = value as Record<string, unknown>;
  const status: Status = {};
  if (typeof code === "number") status.code = code;
  if (typeof reason === "string") status.reason = reason;
  if (typeof message === "string") status.message = message;
  return status;
}

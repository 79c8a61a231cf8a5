import { Observable, ResponseContext } from "@kubernetes/client-node";
import type { HttpLibrary, RequestContext } from "@kubernetes/client-node";
import { request } from "undici";

/**
 * Sends a client-node request with undici's `request` instead of its
 * `fetch`: the same dispatcher (TLS, pool), headers, body and signal, with no
 * WHATWG Request, Headers, Response or stream objects around it. For the
 * hot writes (a Lease renewal a second per 60 groups), where fetch's layers
 * were most of the request's CPU. Bodies are strings (podium's raw sends).
 */
export class RequestHttpLibrary implements HttpLibrary {
  send(ctx: RequestContext): Observable<ResponseContext> {
    return new Observable(this.#send(ctx));
  }

  async #send(ctx: RequestContext): Promise<ResponseContext> {
    const body = ctx.getBody();
    if (body !== undefined && typeof body !== "string") {
      throw new TypeError("RequestHttpLibrary sends string bodies only");
    }
    const dispatcher = ctx.getDispatcher();
    const res = await request(ctx.getUrl(), {
      method: ctx.getHttpMethod(),
      headers: ctx.getHeaders(),
      ...(body === undefined ? {} : { body }),
      signal: ctx.getSignal() ?? null,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    return new ResponseContext(res.statusCode, headers, {
      text: () => res.body.text(),
      binary: async () => Buffer.from(await res.body.arrayBuffer()),
      stream: () => res.body as never,
    });
  }
}

import { connect } from "node:net";
import { Agent, request } from "undici";
import type { ProbeAction } from "../election/index.ts";

/** Attempts one probe of `ip`; resolves to undefined on success, else to what went wrong. */
export type Dial = (
  ip: string,
  action: ProbeAction,
  timeoutMs: number,
) => Promise<string | undefined>;

// HTTPS probes do not verify the certificate, as the kubelet's do not; no keep-alive, so every
// attempt is a fresh connection (a hung process behind a kept-alive socket must still fail).
const insecure = new Agent({ connect: { rejectUnauthorized: false }, pipelining: 0 });

/**
 * The real dial: TCP connects with node:net, HTTP(S) GETs with undici.
 * A timeout fires through setImmediate, after the poll phase: when the
 * event loop was busy, an answer that already arrived wins over the timer.
 */
export const dial: Dial = (ip, action, timeoutMs) =>
  new Promise((resolve) => {
    let done = false;
    const finish = (error: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve(error);
    };
    const timer = setTimeout(() => {
      setImmediate(() => {
        finish(`timed out after ${String(timeoutMs / 1000)}s`);
      });
    }, timeoutMs);
    let cleanup = (): void => undefined;
    if (action.kind === "tcp") {
      const socket = connect({ host: ip, port: action.port });
      cleanup = () => socket.destroy();
      socket.once("connect", () => {
        finish(undefined);
      });
      socket.once("error", (err) => {
        finish(err.message);
      });
      return;
    }
    const controller = new AbortController();
    cleanup = () => {
      controller.abort();
    };
    const host = ip.includes(":") ? `[${ip}]` : ip;
    const url = `${action.scheme.toLowerCase()}://${host}:${String(action.port)}${action.path}`;
    request(url, {
      method: "GET",
      signal: controller.signal,
      headers: { "user-agent": "podium-probe", connection: "close" },
      ...(action.scheme === "HTTPS" ? { dispatcher: insecure } : {}),
    })
      .then(async (res) => {
        await res.body.dump();
        finish(
          res.statusCode >= 200 && res.statusCode < 400
            ? undefined
            : `HTTP ${String(res.statusCode)}`,
        );
      })
      .catch((err: unknown) => {
        finish(err instanceof Error ? err.message : String(err));
      });
  });

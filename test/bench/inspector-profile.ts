import { writeFileSync } from "node:fs";
import { sleep } from "./watch.ts";

// A CPU profiler of another Node process through its inspector (the process
// started with `--inspect=127.0.0.1:PORT`), so that a benchmark profiles
// exactly the window it measures. `node --cpu-prof` profiles the whole life
// and writes at exit, which at 5,000 groups did not finish within 120 s.

interface Reply {
  id?: number;
  result?: unknown;
  error?: { message: string };
}

/** One inspector session to a process's Profiler domain. */
export class InspectorProfiler {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  #nextId = 1;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener("message", (event: MessageEvent) => {
      const reply = JSON.parse(String(event.data)) as Reply;
      if (reply.id === undefined) return;
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
  }

  /** Connects to the inspector on 127.0.0.1:`port`, retrying until it answers (bounded). */
  static async connect(port: number, timeoutMs = 30_000): Promise<InspectorProfiler> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${String(port)}/json/list`, {
          signal: AbortSignal.timeout(1000),
        });
        const targets = (await res.json()) as { webSocketDebuggerUrl?: string }[];
        const url = targets[0]?.webSocketDebuggerUrl;
        if (url !== undefined) {
          const ws = new WebSocket(url);
          await new Promise<void>((resolve, reject) => {
            ws.addEventListener("open", () => {
              resolve();
            });
            ws.addEventListener("error", () => {
              reject(new Error(`inspector ${url}: could not connect`));
            });
          });
          return new InspectorProfiler(ws);
        }
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`no inspector on 127.0.0.1:${String(port)}`);
      await sleep(200);
    }
  }

  #call(
    method: string,
    params: Record<string, unknown> = {},
    timeoutMs = 60_000,
  ): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector ${method}: no reply in ${String(timeoutMs)} ms`));
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error) reject(new Error(`inspector ${method}: ${reply.error.message}`));
        else resolve(reply.result);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Starts sampling every `intervalUs` microseconds. */
  async start(intervalUs = 1000): Promise<void> {
    await this.#call("Profiler.enable");
    await this.#call("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.#call("Profiler.start");
  }

  /** Stops sampling and writes the profile (the .cpuprofile format) to `file`. */
  async stop(file: string): Promise<void> {
    const result = (await this.#call("Profiler.stop")) as { profile: unknown };
    writeFileSync(file, JSON.stringify(result.profile));
  }

  close(): void {
    this.#ws.close();
  }
}

import { createServer as createHttpServer } from "node:http";
import type { Server } from "node:http";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { dial } from "../../../src/controller/probe-dial.ts";

// The real dial, against listeners of this test on 127.0.0.1 only.

const servers: { close(): unknown }[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

async function listen(server: Server | ReturnType<typeof createServer>): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

describe("dial", () => {
  it("TCP: an accepted connection passes, a closed port fails", async () => {
    const port = await listen(createServer((s) => s.destroy()));
    expect(await dial("127.0.0.1", { kind: "tcp", port }, 1000)).toBeUndefined();
    const closed = await listen(createServer());
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(await dial("127.0.0.1", { kind: "tcp", port: closed }, 1000)).toMatch(/ECONNREFUSED/);
  });

  it("HTTP: 200-399 pass, 500 fails, a server that never answers times out", async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        if (req.url === "/hang") return;
        res.statusCode = req.url === "/bad" ? 500 : req.url === "/moved" ? 302 : 200;
        res.end();
      }),
    );
    const get = (path: string) =>
      dial("127.0.0.1", { kind: "http", port, path, scheme: "HTTP" }, 300);
    expect(await get("/")).toBeUndefined();
    expect(await get("/moved")).toBeUndefined();
    expect(await get("/bad")).toBe("HTTP 500");
    expect(await get("/hang")).toBe("timed out after 0.3s");
  });
});

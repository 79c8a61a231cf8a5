import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { realClock } from "../../../src/kube/clock.ts";
import type { Clock } from "../../../src/kube/clock.ts";
import { ListWatch } from "../../../src/kube/listwatch.ts";
import type { CacheEventType, ListWatchOptions, RawObject } from "../../../src/kube/listwatch.ts";
import { FakeApiServer, eventually } from "../../support/fake-apiserver.ts";

// Real timers and a real loopback server; every deadline and backoff is
// shrunk to milliseconds, and every wait polls a condition with a deadline.

interface Pod {
  name: string;
  role: string | undefined;
  rv: string | undefined;
}

const PATH = "/api/v1/namespaces/ns/pods";

let server: FakeApiServer | undefined;
const caches: ListWatch<Pod>[] = [];

afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.stop()));
  await server?.close();
  server = undefined;
});

function toPod(raw: RawObject): Pod {
  const labels = raw.metadata?.labels as Record<string, string> | undefined;
  return { name: raw.metadata?.name ?? "", role: labels?.role, rv: raw.metadata?.resourceVersion };
}

interface Harness {
  server: FakeApiServer;
  cache: ListWatch<Pod>;
  events: { type: CacheEventType; key: string; obj: Pod; old?: Pod }[];
  registry: Registry;
}

async function setup(
  prepare: (server: FakeApiServer) => void = () => undefined,
  options: Partial<ListWatchOptions<Pod>> = {},
): Promise<Harness> {
  const fake = await FakeApiServer.start();
  server = fake;
  prepare(fake);
  const events: Harness["events"] = [];
  const registry = new Registry();
  const cache = new ListWatch<Pod>({
    kc: fake.kubeConfig(),
    path: PATH,
    name: "pods",
    labelSelector: "app=db",
    transform: toPod,
    onEvent: (type, key, obj, old) => {
      events.push(old ? { type, key, obj, old } : { type, key, obj });
    },
    metrics: registry,
    inactivityTimeoutMs: 5000,
    backoff: { initialMs: 20, maxMs: 100 },
    ...options,
  });
  caches.push(cache);
  cache.start();
  return { server: fake, cache, events, registry };
}

/** A real clock that records every delay asked of it, to tell a backoff from an immediate retry. */
function recordingClock(): Clock & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => realClock.now(),
    setTimeout: (fn, ms) => {
      delays.push(ms);
      return realClock.setTimeout(fn, ms);
    },
    clearTimeout: (timer) => {
      realClock.clearTimeout(timer);
    },
  };
}

/** A pod as the API server would send it in a watch event. */
function pod(name: string, rv: string, role?: string): RawObject {
  return {
    kind: "Pod",
    metadata: { name, namespace: "ns", resourceVersion: rv, ...(role ? { labels: { role } } : {}) },
  };
}

async function restarts(registry: Registry, reason: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find(
    (m) => m.name === "podium_watch_restarts_total",
  ) as { values: { labels: Record<string, unknown>; value: number }[] } | undefined;
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe("ListWatch", () => {
  it("lists every page, syncs, then watches from the list's resourceVersion with bookmarks and a randomized timeout", async () => {
    const { server, cache, events } = await setup(
      (s) => {
        for (const name of ["a", "b", "c", "d", "e"]) s.put("ns", name);
      },
      { pageSize: 2 },
    );
    expect(await cache.waitForSync(AbortSignal.timeout(3000))).toBe(true);
    expect(cache.hasSynced()).toBe(true);
    expect(cache.keys().sort()).toEqual(["ns/a", "ns/b", "ns/c", "ns/d", "ns/e"]);
    expect(events.map((e) => `${e.type} ${e.key}`).sort()).toEqual([
      "add ns/a",
      "add ns/b",
      "add ns/c",
      "add ns/d",
      "add ns/e",
    ]);
    const lists = server.lists();
    expect(lists.map((l) => l.query.get("continue"))).toEqual([null, "2", "4"]);
    expect(lists.every((l) => l.path === PATH && l.query.get("labelSelector") === "app=db")).toBe(
      true,
    );
    expect(lists[0]?.query.get("limit")).toBe("2");

    await eventually("a watch", () => server.openWatches().length === 1);
    const query = server.lastWatch().query;
    expect(query.get("resourceVersion")).toBe(server.resourceVersion);
    expect(query.get("allowWatchBookmarks")).toBe("true");
    expect(query.get("labelSelector")).toBe("app=db");
    const timeoutSeconds = Number(query.get("timeoutSeconds"));
    expect(timeoutSeconds).toBeGreaterThanOrEqual(300);
    expect(timeoutSeconds).toBeLessThanOrEqual(600);
  });

  it("applies watch events to the cache and reports add, update and delete", async () => {
    const { server, cache, events, registry } = await setup((s) => s.put("ns", "a"));
    await eventually("a watch", () => server.openWatches().length === 1);
    events.length = 0;
    const watch = server.lastWatch();
    watch.send("ADDED", pod("b", "201", "follower"));
    watch.send("MODIFIED", pod("b", "202", "leader"));
    watch.send("DELETED", pod("a", "203"));
    await eventually("three events", () => events.length === 3);
    expect(events).toEqual([
      { type: "add", key: "ns/b", obj: { name: "b", role: "follower", rv: "201" } },
      {
        type: "update",
        key: "ns/b",
        obj: { name: "b", role: "leader", rv: "202" },
        old: { name: "b", role: "follower", rv: "201" },
      },
      { type: "delete", key: "ns/a", obj: { name: "a", role: undefined, rv: "101" } },
    ]);
    expect(cache.get("ns/b")?.role).toBe("leader");
    expect(cache.get("ns/a")).toBeUndefined();
    expect(cache.resourceVersion()).toBe("203");
    expect(await registry.getSingleMetricAsString("podium_cache_objects")).toContain(
      'podium_cache_objects{resource="pods"} 1',
    );
  });

  it("retries a failed list (HTTP 500) with backoff until it succeeds", async () => {
    const { server, cache, registry } = await setup((s) => {
      s.put("ns", "a");
      s.failLists.push(500, 500);
    });
    expect(await cache.waitForSync(AbortSignal.timeout(3000))).toBe(true);
    expect(server.lists()).toHaveLength(3);
    expect(cache.keys()).toEqual(["ns/a"]);
    expect(await restarts(registry, "list_error")).toBe(2);
    await eventually("a watch after recovery", () => server.openWatches().length === 1);
  });

  it("restarts a watch refused with HTTP 500 from the same resourceVersion, without re-listing", async () => {
    const { server, registry } = await setup((s) => {
      s.put("ns", "a");
      s.failWatches.push(500);
    });
    await eventually("a watch after the refused one", () => server.openWatches().length === 1);
    const watches = server.requests.filter((r) => r.query.get("watch") === "true");
    expect(watches).toHaveLength(2);
    expect(watches[1]?.query.get("resourceVersion")).toBe(watches[0]?.query.get("resourceVersion"));
    expect(server.lists()).toHaveLength(1);
    expect(await restarts(registry, "watch_error")).toBe(1);
  });

  it("resumes after a TCP reset mid-stream from the last event's resourceVersion", async () => {
    const { server, events, registry } = await setup();
    await eventually("a watch", () => server.openWatches().length === 1);
    server.lastWatch().send("ADDED", pod("a", "150"));
    await eventually("the event", () => events.length === 1);
    server.lastWatch().reset();
    await eventually(
      "a second watch",
      () => server.watches.length === 2 && !server.lastWatch().closed,
    );
    expect(server.lastWatch().query.get("resourceVersion")).toBe("150");
    expect(server.lists()).toHaveLength(1);
    expect(await restarts(registry, "watch_error")).toBe(1);
    server.lastWatch().send("MODIFIED", pod("a", "151", "leader"));
    await eventually("events flow again", () => events.length === 2);
  });

  it("re-lists on an in-stream 410 and synthesizes the delete of an object removed during the gap", async () => {
    const { server, cache, events, registry } = await setup((s) => {
      s.put("ns", "stays");
      s.put("ns", "vanishes");
      s.put("ns", "changes");
    });
    await eventually("a watch", () => server.openWatches().length === 1);
    events.length = 0;
    // While the client is not told: one deleted, one changed, one created.
    server.remove("ns", "vanishes");
    server.put("ns", "changes", { role: "leader" });
    server.put("ns", "appears");
    server.lastWatch().sendError(410, "too old resource version: 1 (2)");

    await eventually("the re-list diff", () => events.length === 3);
    expect(events.map((e) => `${e.type} ${e.key}`).sort()).toEqual([
      "add ns/appears",
      "delete ns/vanishes",
      "update ns/changes",
    ]);
    expect(cache.keys().sort()).toEqual(["ns/appears", "ns/changes", "ns/stays"]);
    expect(server.lists()).toHaveLength(2);
    expect(await restarts(registry, "expired")).toBe(1);
    await eventually("a new watch", () => server.openWatches().length === 1);
    expect(server.lastWatch().query.get("resourceVersion")).toBe(server.resourceVersion);
  });

  it("re-lists when the watch request itself answers 410 Gone", async () => {
    const { server } = await setup((s) => {
      s.put("ns", "a");
      s.failWatches.push(410);
    });
    await eventually("a watch after the re-list", () => server.openWatches().length === 1);
    expect(server.lists()).toHaveLength(2);
  });

  it("abandons a watch request that gets no response by the request timeout, not the inactivity deadline", async () => {
    const { server, registry } = await setup(
      (s) => {
        s.holdWatches = 1;
      },
      { inactivityTimeoutMs: 60_000, requestTimeoutMs: 200 },
    );
    // The first watch request is swallowed; a second one follows within the request timeout
    // plus a backoff, far sooner than the 60 s inactivity deadline.
    await eventually("a watch that got an answer", () => server.openWatches().length === 1, 3000);
    expect(await restarts(registry, "watch_error")).toBe(1);
    expect(await restarts(registry, "inactivity")).toBe(0);
  });

  it("re-lists when a silent stream passes the inactivity deadline", async () => {
    const { server, cache, registry } = await setup(() => undefined, { inactivityTimeoutMs: 200 });
    await eventually("a watch", () => server.openWatches().length === 1);
    const first = server.lastWatch();
    const activityBefore = cache.lastActivityAt();
    await eventually("a second watch", () => server.watches.length === 2, 3000);
    expect(await restarts(registry, "inactivity")).toBe(1);
    await eventually("the silent connection closed by the client", () => first.closed);
    // A stream that went silent may have dropped changes: the cache starts over from a list
    // (which works even while watches hang), not from the last resourceVersion.
    expect(server.lists()).toHaveLength(2);
    await eventually("activity after the re-list", () => cache.lastActivityAt() > activityBefore);
  });

  it("re-watches at once from the last resourceVersion after a clean close", async () => {
    const clock = recordingClock();
    const { server, events, registry } = await setup(() => undefined, {
      clock,
      backoff: { initialMs: 10_000, maxMs: 10_000 },
      requestTimeoutMs: 3000,
    });
    await eventually("a watch", () => server.openWatches().length === 1);
    server.lastWatch().send("ADDED", pod("a", "170"));
    await eventually("the event", () => events.length === 1);
    server.lastWatch().end();
    // A 10 s backoff would blow this 2 s deadline: the re-watch must not wait for one.
    await eventually(
      "an immediate second watch",
      () => server.watches.length === 2 && server.openWatches().length === 1,
      2000,
    );
    expect(server.lastWatch().query.get("resourceVersion")).toBe("170");
    expect(server.lists()).toHaveLength(1);
    expect(await restarts(registry, "closed")).toBe(1);
    expect(clock.delays.filter((ms) => ms >= 10_000)).toEqual([]);
  });

  it("starts its backoff over once the server proved healthy, so a blip after an outage is retried at the first delay", async () => {
    const clock = recordingClock();
    const { server, events } = await setup(
      (s) => {
        s.failLists.push(500, 500, 500);
      },
      { clock, backoff: { initialMs: 20, maxMs: 10_000, random: () => 0 } },
    );
    await eventually("a watch after the outage", () => server.openWatches().length === 1);
    // The outage: three failed lists, each waiting twice as long as the one before.
    expect(clock.delays.filter((ms) => ms < 1000)).toEqual([20, 40, 80]);
    server.lastWatch().send("ADDED", pod("a", "150"));
    await eventually("the event", () => events.length === 1);
    server.lastWatch().reset();
    await eventually(
      "a watch after the blip",
      () => server.watches.length === 2 && !server.lastWatch().closed,
    );
    // Not 160 ms, where the outage's sequence would have gone on.
    expect(clock.delays.filter((ms) => ms < 1000)).toEqual([20, 40, 80, 20]);
  });

  it("backs off when the server keeps closing watches at once without events", async () => {
    const clock = recordingClock();
    const { server, registry } = await setup(() => undefined, {
      clock,
      backoff: { initialMs: 10_000, maxMs: 10_000 },
      requestTimeoutMs: 3000,
    });
    await eventually("watch 1", () => server.openWatches().length === 1);
    server.lastWatch().end();
    await eventually(
      "watch 2, at once",
      () => server.watches.length === 2 && server.openWatches().length === 1,
    );
    expect(clock.delays.filter((ms) => ms >= 10_000)).toEqual([]);
    server.lastWatch().end();
    // The second unproductive watch in a row earns a backoff sleep in [10 s, 20 s).
    await eventually("a backoff sleep", () => clock.delays.some((ms) => ms >= 10_000));
    expect(server.watches).toHaveLength(2);
    expect(await restarts(registry, "closed")).toBe(2);
  });

  it("advances the resourceVersion on bookmarks without reporting them", async () => {
    const { server, cache, events } = await setup();
    await eventually("a watch", () => server.openWatches().length === 1);
    const before = cache.lastActivityAt();
    server.lastWatch().send("BOOKMARK", { kind: "Pod", metadata: { resourceVersion: "4242" } });
    await eventually("the bookmark", () => cache.resourceVersion() === "4242");
    expect(events).toEqual([]);
    expect(cache.lastActivityAt()).toBeGreaterThanOrEqual(before);
    server.lastWatch().end();
    await eventually("a second watch", () => server.watches.length === 2);
    expect(server.lastWatch().query.get("resourceVersion")).toBe("4242");
  });

  it("keeps the stream alive when an event handler throws", async () => {
    let calls = 0;
    const { server, cache } = await setup(() => undefined, {
      onEvent: () => {
        calls++;
        throw new Error("handler bug");
      },
    });
    await eventually("a watch", () => server.openWatches().length === 1);
    server.lastWatch().send("ADDED", pod("a", "180"));
    server.lastWatch().send("ADDED", pod("b", "181"));
    await eventually("both events", () => calls === 2);
    expect(cache.keys().sort()).toEqual(["ns/a", "ns/b"]);
    expect(server.watches).toHaveLength(1);
  });

  it("treats an object the transform rejects as absent, and one that leaves it as deleted", async () => {
    const { server, cache, events } = await setup(() => undefined, {
      transform: (raw) => (raw.metadata?.labels ? toPod(raw) : undefined),
    });
    await eventually("a watch", () => server.openWatches().length === 1);
    server.lastWatch().send("ADDED", pod("a", "190"));
    server.lastWatch().send("ADDED", pod("b", "191", "leader"));
    server.lastWatch().send("MODIFIED", pod("b", "192"));
    await eventually("add then delete of b", () => events.length === 2);
    expect(events.map((e) => `${e.type} ${e.key}`)).toEqual(["add ns/b", "delete ns/b"]);
    expect(cache.list()).toEqual([]);
  });

  it("makes restarts single-flight: repeated resyncs give one list and one watch", async () => {
    const { server, cache, registry } = await setup((s) => s.put("ns", "a"));
    await eventually("a watch", () => server.openWatches().length === 1);
    cache.resync();
    cache.resync();
    cache.resync();
    await eventually("the re-list", () => server.lists().length === 2);
    await eventually(
      "one new watch",
      () => server.watches.length === 2 && server.openWatches().length === 1,
    );
    // A marker event on the new watch proves the loop settled with that single watch.
    server.lastWatch().send("ADDED", pod("marker", "300"));
    await eventually("the marker", () => cache.get("ns/marker") !== undefined);
    expect(server.watches.map((w) => w.closed)).toEqual([true, false]);
    expect(server.lists()).toHaveLength(2);
    expect(await restarts(registry, "resync")).toBe(1);
  });

  it("serves secondary indexes through add, update and delete", async () => {
    const { server, cache } = await setup((s) => s.put("ns", "a"));
    cache.addIndex("role", (p) => (p.role ? [p.role] : []));
    await eventually("a watch", () => server.openWatches().length === 1);
    server.lastWatch().send("ADDED", pod("b", "201", "leader"));
    server.lastWatch().send("ADDED", pod("c", "202", "follower"));
    await eventually("b and c", () => cache.keys().length === 3);
    expect(cache.byIndex("role", "leader").map((p) => p.name)).toEqual(["b"]);
    server.lastWatch().send("MODIFIED", pod("c", "203", "leader"));
    server.lastWatch().send("MODIFIED", pod("b", "204", "follower"));
    await eventually("the swap", () => cache.get("ns/b")?.role === "follower");
    expect(cache.byIndex("role", "leader").map((p) => p.name)).toEqual(["c"]);
    server.lastWatch().send("DELETED", pod("c", "205", "leader"));
    await eventually("the delete", () => cache.get("ns/c") === undefined);
    expect(cache.byIndex("role", "leader")).toEqual([]);
    expect(cache.byIndex("role", "follower").map((p) => p.name)).toEqual(["b"]);
    expect(() => cache.byIndex("nope", "x")).toThrow(/no index/);
  });

  it("stops: closes its watch and makes no further requests", async () => {
    const { server, cache } = await setup((s) => s.put("ns", "a"));
    await eventually("a watch", () => server.openWatches().length === 1);
    await cache.stop();
    const requests = server.requests.length;
    await eventually("the watch closed by the client", () => server.openWatches().length === 0);
    expect(server.requests.length).toBe(requests);
    expect(cache.get("ns/a")).toBeDefined(); // the cache keeps its contents
  });

  it("stops during list backoff and unblocks waitForSync with false", async () => {
    const { server, cache } = await setup((s) => s.failLists.push(...Array<number>(50).fill(500)));
    const synced = cache.waitForSync();
    await eventually("a failed list", () => server.lists().length >= 1);
    await cache.stop();
    expect(await synced).toBe(false);
    const requests = server.requests.length;
    expect(await cache.waitForSync()).toBe(false);
    expect(server.requests.length).toBe(requests);
  });

  it("waitForSync resolves false when its signal aborts first", async () => {
    const { cache } = await setup((s) => s.failLists.push(...Array<number>(50).fill(500)));
    expect(await cache.waitForSync(AbortSignal.timeout(50))).toBe(false);
    expect(cache.hasSynced()).toBe(false);
  });
});

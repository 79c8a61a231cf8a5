import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Clock } from "../kube/clock.ts";
import { ListWatch } from "../kube/listwatch.ts";
import type { Source, SourceEvent } from "./source.ts";
import type { Cache } from "./source.ts";

/** What every list-watch shares: the client, the clock, the logger, metrics and deadlines. */
export interface WatchSettings {
  kc: KubeConfig;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  inactivityTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * A source's cache over every watched namespace: one list-watch per
 * namespace, or one cluster-wide when `namespaces` is empty. Each change is
 * handed to `onEvent` after the cache has applied it.
 */
export class WatchedCache<T> implements Cache<T> {
  readonly source: Source<T>;
  readonly #watches: ListWatch<T>[];

  constructor(
    source: Source<T>,
    namespaces: readonly string[],
    settings: WatchSettings,
    onEvent: (event: SourceEvent<T>) => void,
  ) {
    this.source = source;
    const scopes =
      source.scopes?.(namespaces) ?? (namespaces.length > 0 ? namespaces : [undefined]);
    this.#watches = scopes.map((ns) => {
      const fieldSelector = source.fieldSelector?.(ns);
      const watch: ListWatch<T> = new ListWatch<T>({
        kc: settings.kc,
        clock: settings.clock,
        logger: settings.logger,
        metrics: settings.metrics,
        inactivityTimeoutMs: settings.inactivityTimeoutMs,
        requestTimeoutMs: settings.requestTimeoutMs,
        name: source.name,
        path: source.path(ns),
        ...(fieldSelector === undefined ? {} : { fieldSelector }),
        ...(source.labelSelector === undefined ? {} : { labelSelector: source.labelSelector }),
        transform: (raw) => {
          const meta = raw.metadata as { namespace?: string; name?: string } | undefined;
          const previous =
            meta?.namespace && meta.name ? watch.get(`${meta.namespace}/${meta.name}`) : undefined;
          return source.reduce(raw, settings.clock.now(), previous);
        },
        onEvent: (type, _key, item, old) => {
          onEvent({ type, item, old });
        },
      });
      for (const [name, fn] of Object.entries(source.indexes)) watch.addIndex(name, fn);
      return watch;
    });
  }

  get(key: string): T | undefined {
    for (const w of this.#watches) {
      const v = w.get(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  list(): T[] {
    return this.#watches.flatMap((w) => w.list());
  }

  byIndex(index: string, value: string): T[] {
    return this.#watches.length === 1
      ? (this.#watches[0]?.byIndex(index, value) ?? [])
      : this.#watches.flatMap((w) => w.byIndex(index, value));
  }

  /** The list-watches, for the manager's start, sync, health and resync. */
  watches(): readonly ListWatch<T>[] {
    return this.#watches;
  }
}

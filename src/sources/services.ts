import { keyOf } from "./source.ts";
import { obj, str, stringMap } from "./json.ts";
import type { Source } from "./source.ts";
import type { Store } from "./store.ts";

/**
 * The fields of a Service that podium keeps: its name and its label
 * selector. Only Services with a selector are cached: a selectorless Service
 * (its endpoints written by someone else) cannot route by the leader label.
 */
export interface CachedService {
  namespace: string;
  name: string;
  selector: Readonly<Record<string, string>>;
}

/** Services by each pair of their selector: "namespace/key=value". */
export const BY_SELECTOR_PAIR = "selectorPair";

/** Reduces a Service; undefined when it is not one or has no selector. */
export function toCachedService(raw: unknown): CachedService | undefined {
  const service = obj(raw);
  const meta = obj(service.metadata);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  if (!namespace || !name) return undefined;
  const selector = stringMap(obj(service.spec).selector);
  if (Object.keys(selector).length === 0) return undefined;
  return { namespace, name, selector };
}

/** The keys of the groups whose leader label is one of the pairs of `service`'s selector. */
export function* groupsRoutedBy(service: CachedService, store: Store): Iterable<string> {
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(service.selector)) {
    for (const g of store.groupsWithLeaderLabel(service.namespace, key, value)) {
      const k = keyOf(g.metadata.namespace, g.metadata.name);
      if (!seen.has(k)) {
        seen.add(k);
        yield k;
      }
    }
  }
}

/**
 * Services, cached as {@link CachedService}. An event concerns the groups
 * whose leader label the selector (before or after the change) contains:
 * only those can have the Service route to their leader.
 */
export const serviceSource: Source<CachedService> = {
  name: "services",
  path: (ns) => `/api/v1${ns === undefined ? "" : `/namespaces/${ns}`}/services`,
  reduce: (raw) => toCachedService(raw),
  indexes: {
    [BY_SELECTOR_PAIR]: (s) =>
      Object.entries(s.selector).map(([k, v]) => `${s.namespace}/${k}=${v}`),
  },
  *concerns({ item, old }, store) {
    const keys = new Set(groupsRoutedBy(item, store));
    if (old !== undefined) for (const k of groupsRoutedBy(old, store)) keys.add(k);
    yield* keys;
  },
};

import type { Registry } from "prom-client";

/**
 * Wraps `build` so that it runs at most once per registry: every later call
 * with the same registry returns the first call's result.
 *
 * A registry refuses a second metric of the same name, so everything that is
 * created more than once on one registry (a queue per controller, a cache per
 * resource, an API client per caller) must share one set of metric objects.
 */
export function perRegistry<T extends object>(
  build: (registry: Registry) => T,
): (registry: Registry) => T {
  // Weak, so that a registry dropped by its owner takes its metrics with it.
  const built = new WeakMap<Registry, T>();
  return (registry) => {
    let value = built.get(registry);
    if (value === undefined) {
      value = build(registry);
      built.set(registry, value);
    }
    return value;
  };
}

/**
 * The metric named `name` already in `registry` if it is a `kind`, else
 * undefined.
 *
 * For metrics that code outside this module may register too, such as another
 * copy of the leader-election library in the same app: `perRegistry` only
 * knows what its own `build` registered.
 */
export function registeredMetric<M>(
  registry: Registry,
  name: string,
  kind: abstract new (...args: never[]) => M,
): M | undefined {
  const metric = registry.getSingleMetric(name);
  return metric instanceof kind ? metric : undefined;
}

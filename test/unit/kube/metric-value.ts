import type { Registry } from "prom-client";

/** The value of the series `name` in `registry` whose labels include every pair of `labels`. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric as { values?: { labels: Record<string, unknown>; value: number }[] })
    .values;
  return values?.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

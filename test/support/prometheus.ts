// Reading the Prometheus text format that podium's /metrics and the API
// server's /metrics serve: what the tests, the benchmarks and the soak need of
// it (series by name and labels), not the whole format.

/** One series of a metric: its labels and its value. */
export interface Series {
  labels: Map<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every series of metric `name` in a Prometheus text body, in the order they appear. */
export function series(text: string, name: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match?.[1] !== name) continue;
    const labels = new Map(
      [...(match[2] ?? "").matchAll(LABEL_PAIR)].map((m) => [m[1] ?? "", m[2] ?? ""] as const),
    );
    out.push({ labels, value: Number(match[3]) });
  }
  return out;
}

/**
 * The value of the series `name` in `text` whose labels include every pair of
 * `labels`; the sum when several match, undefined when none does.
 */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let sum: number | undefined;
  for (const s of series(text, name)) {
    if (Object.entries(labels).every(([k, v]) => s.labels.get(k) === v)) {
      sum = (sum ?? 0) + s.value;
    }
  }
  return sum;
}

/** The sum of metric `name`'s series by the value of their label `label` ("" where absent). */
export function sumByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of series(text, name)) {
    const k = s.labels.get(label) ?? "";
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** The body of http://127.0.0.1:`port`/metrics, or undefined when it does not answer 200 within 5 s. */
export async function scrapeMetrics(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${String(port)}/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

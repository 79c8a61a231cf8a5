import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as prettier from "prettier";
import type { Machine } from "../support/machine.ts";
import { percentile } from "../support/stats.ts";
import type { ActivitySnapshot } from "./activity.ts";

// Statistics and output of the benchmarks: plain-text tables on stdout, the
// machine-readable results, the Markdown report and an SVG of the fail-over
// latency distributions. No assertions: benchmarks measure, they do not judge.

/** Summary of one set of latencies in milliseconds. Percentiles are nearest-rank. */
export interface Stats {
  /** Trials that produced a value. */
  n: number;
  /** Trials that ran into their deadline and produced no value. */
  timedOut: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Stats of `values`; undefined entries are trials that timed out. */
export function summarize(values: readonly (number | undefined)[]): Stats {
  const sorted = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    timedOut: values.length - sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

/** A latency in ms for a table: "43 ms", "1.24 s", "62.1 s", "—" when there is none. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return "—";
  if (value < 1000) return `${value.toFixed(value < 10 ? 1 : 0)} ms`;
  return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
}

/** A ratio for a table, with three significant digits. */
export function ratio(value: number): string {
  if (!Number.isFinite(value)) return "—";
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

export interface Table {
  title: string;
  header: string[];
  rows: string[][];
  /** Lines printed under the table (Markdown). */
  notes?: string[];
}

/** A table as Markdown (Prettier aligns it when the report is written). */
export function markdownTable(table: Table): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [
    line(table.header),
    line(table.header.map((_h, i) => (i === 0 ? "---" : "--:"))),
    ...table.rows.map(line),
  ].join("\n");
}

/** A table as aligned plain text for the console. */
export function textTable(table: Table): string {
  const widths = table.header.map((h, i) =>
    Math.max(h.length, ...table.rows.map((r) => (r[i] ?? "").length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ");
  return [
    table.title,
    line(table.header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...table.rows.map(line),
  ].join("\n");
}

/** One run of `run.ts`: where some scenarios' results come from. */
export interface RunInfo {
  date: string;
  command: string;
  mode: "quick" | "full";
  runtimeSeconds: number;
  machine: Machine;
  /** What else ran on the machine, sampled at scenario boundaries (absent in older files). */
  activity?: ActivitySnapshot[];
}

export interface ReportInput {
  /** The runs the results come from, each with the scenarios it ran. */
  runs: { scenarios: string[]; info: RunInfo }[];
  /** Markdown paragraphs that say what each scenario measures, by section. */
  sections: { heading: string; text: string[]; tables: Table[]; figure?: string }[];
}

/** One line on what else ran on the machine during a run. */
function activityLine(activity: readonly ActivitySnapshot[] | undefined): string {
  if (activity === undefined) return "not recorded";
  const maxLoad = Math.max(...activity.map((a) => a.load[0] ?? 0));
  // The command without pid, CPU and memory, so each process is named once.
  const others = new Set<string>();
  for (const a of activity) {
    for (const o of a.others) {
      const command = o.split(" ").slice(4).join(" ");
      const apiserver = /kube-apiserver.*--secure-port=(\d+)/.exec(command);
      if (apiserver)
        others.add(`another local cluster (kube-apiserver on port ${apiserver[1] ?? "?"})`);
      else if (/kube-apiserver|etcd|kube-controller-manager|kube-scheduler|kwok/.test(command))
        continue;
      else others.add(`\`${command.slice(0, 120)}\``);
    }
  }
  const seen =
    others.size === 0
      ? "no other benchmark, test run or cluster seen"
      : `seen at ${String(activity.length)} samples (start, scenario and phase ends): ${[...others].join("; ")}`;
  return `${seen}; highest 1-minute load average ${maxLoad.toFixed(2)}`;
}

/** Writes the Markdown report, formatted by the repository's Prettier configuration. */
export async function writeMarkdown(file: string, input: ReportInput): Promise<void> {
  const lines = [
    "# Benchmarks",
    "",
    "Generated by `test/bench/run.ts` from `docs/benchmarks/results.json` (the raw trials); " +
      "a run replaces the results of the scenarios it ran and keeps the others', so each " +
      "section below comes from the run listed for it. Do not edit by hand.",
    "",
    "Benchmarks, not tests: nothing here asserts a speed. The targets they are read against are " +
      "in DESIGN.md §5 (fail-over: label p50 < 100 ms, p99 < 250 ms; EndpointSlice p99 < 1 s; " +
      "rolling update: at most 1 transition and no more than 500 ms without a ready endpoint; " +
      "API cost: at least 10× fewer requests per group than client-go).",
    "",
    input.runs.length === 1 ? "## Run" : "## Runs",
    "",
  ];
  for (const { scenarios, info } of input.runs) {
    const m = info.machine;
    const runtime = Number.isFinite(info.runtimeSeconds)
      ? `${info.runtimeSeconds.toFixed(0)} s wall`
      : "wall time not recorded";
    if (input.runs.length > 1) lines.push(`### ${scenarios.join(", ")}`, "");
    lines.push(
      `- **Scenarios:** ${scenarios.join(", ")}`,
      `- **Command:** \`${info.command}\` (${info.mode} variant; ${runtime})`,
      `- **Date:** ${info.date}`,
      `- **Machine:** ${String(m.cpus)} × ${m.cpuModel}, ${m.memoryGiB.toFixed(1)} GiB memory, ${m.os}`,
      `- **Software:** Node ${m.node}; Kubernetes ${m.kubernetes} (the local control plane of ` +
        "`hack/cluster.sh`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok " +
        `on this same machine); podium at ${m.podiumCommit}`,
      `- **Other activity on the machine:** ${activityLine(info.activity)}`,
      "",
    );
  }
  lines.push(
    "**Percentiles** are nearest-rank over the trials that produced a value: with 20 trials p95 " +
      "is the 19th value and p99 the maximum. Trials that hit their deadline are counted in the " +
      "`timed out` column and left out of the percentiles.",
    "",
  );
  for (const s of input.sections) {
    lines.push(`## ${s.heading}`, "", ...s.text.flatMap((t) => [t, ""]));
    for (const t of s.tables) {
      lines.push(`### ${t.title}`, "", markdownTable(t), "");
      if (t.notes) lines.push(...t.notes.flatMap((n) => [n, ""]));
    }
    if (s.figure) lines.push(s.figure, "");
  }
  const text = lines.join("\n");
  const config = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(text, { ...config, filepath: file }));
}

/** One row of the latency figure: a label and its trials' latencies in ms. */
export interface FigureRow {
  label: string;
  values: readonly number[];
  color: string;
}

/**
 * A hand-written SVG strip plot on a logarithmic time axis (10 ms to 200 s):
 * one dot per trial, the median as a bar, p99 as a thin bar.
 */
export function latencySvg(title: string, rows: readonly FigureRow[]): string {
  const left = 230;
  const right = 30;
  const width = 900;
  const rowHeight = 34;
  const top = 44;
  const plotWidth = width - left - right;
  const height = top + rows.length * rowHeight + 46;
  const lo = Math.log10(10);
  const hi = Math.log10(200_000);
  const x = (v: number): number =>
    left + ((Math.log10(Math.max(v, 10)) - lo) / (hi - lo)) * plotWidth;
  const esc = (s: string): string =>
    s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${String(left)}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  const ticks: [number, string][] = [
    [10, "10 ms"],
    [100, "100 ms"],
    [250, "250 ms"],
    [1000, "1 s"],
    [10_000, "10 s"],
    [60_000, "1 min"],
    [100_000, "100 s"],
  ];
  const bottom = top + rows.length * rowHeight;
  for (const [v, label] of ticks) {
    const px = x(v).toFixed(1);
    out.push(
      `<line x1="${px}" y1="${String(top - 6)}" x2="${px}" y2="${String(bottom)}" stroke="#ddd"/>`,
      `<text x="${px}" y="${String(bottom + 16)}" text-anchor="middle" fill="#555">${label}</text>`,
    );
  }
  out.push(
    `<text x="${String(left + plotWidth / 2)}" y="${String(bottom + 36)}" text-anchor="middle" fill="#555">latency from the cause to the new leader's label (log scale); dot = trial, thick bar = p50, thin bar = p99</text>`,
  );
  rows.forEach((row, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    out.push(
      `<text x="${String(left - 10)}" y="${String(cy + 4)}" text-anchor="end">${esc(row.label)}</text>`,
      `<line x1="${String(left)}" y1="${String(cy)}" x2="${String(width - right)}" y2="${String(cy)}" stroke="#f0f0f0"/>`,
    );
    const sorted = [...row.values].sort((a, b) => a - b);
    sorted.forEach((v, j) => {
      // Deterministic vertical jitter so equal values stay visible.
      const dy = ((j * 7) % 11) - 5;
      out.push(
        `<circle cx="${x(v).toFixed(1)}" cy="${String(cy + dy)}" r="3" fill="${row.color}" fill-opacity="0.55"/>`,
      );
    });
    if (sorted.length > 0) {
      const p50 = x(percentile(sorted, 50)).toFixed(1);
      const p99 = x(percentile(sorted, 99)).toFixed(1);
      out.push(
        `<line x1="${p50}" y1="${String(cy - 12)}" x2="${p50}" y2="${String(cy + 12)}" stroke="#000" stroke-width="3"/>`,
        `<line x1="${p99}" y1="${String(cy - 10)}" x2="${p99}" y2="${String(cy + 10)}" stroke="#000" stroke-width="1"/>`,
      );
    }
  });
  out.push("</svg>", "");
  return out.join("\n");
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Replaces the section `## heading` of the Markdown report `file` with `body`
 * (up to the next `## ` heading), or appends it when the report has none,
 * leaving every other scenario's section as it is; formats with Prettier.
 */
export async function mergeMarkdownSection(
  file: string,
  heading: string,
  body: string,
): Promise<void> {
  const old = existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Benchmarks\n\nGenerated by `test/bench/run.ts`. Do not edit by hand.\n";
  const lines = old.split("\n");
  const start = lines.findIndex((l) => l === `## ${heading}`);
  const section = [`## ${heading}`, "", body.trimEnd(), ""];
  if (start < 0) {
    lines.push("", ...section);
  } else {
    let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
    if (end < 0) end = lines.length;
    lines.splice(start, end - start, ...section);
  }
  const config = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(lines.join("\n"), { ...config, filepath: file }));
}

/** Sets `key` of the JSON object in `file` to `value`, keeping the other keys. */
export function mergeJsonKey(file: string, key: string, value: unknown): void {
  let doc: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      doc = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch {
      doc = {};
    }
  }
  doc[key] = value;
  writeJson(file, doc);
}

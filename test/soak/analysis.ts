import type { Machine } from "../support/machine.ts";

// The soak's judgement and output, with no I/O: the least-squares slopes and
// the "flat" / "growing" verdicts, the Markdown report and a hand-written SVG
// chart of the operator's memory and file descriptors over time.

/** One sample of the operator, every SAMPLE_SECONDS of the run. */
export interface SoakSample {
  /** Seconds since the churn started. */
  t: number;
  phase: "churn" | "converged";
  /** VmRSS from /proc/<pid>/status. */
  rssMiB: number;
  /** nodejs_heap_size_used_bytes. */
  heapUsedMiB: number;
  /** nodejs_heap_size_total_bytes. */
  heapTotalMiB: number;
  /** nodejs_external_memory_bytes. */
  externalMiB: number;
  /** process_open_fds, or the entries of /proc/<pid>/fd when the metric is absent. */
  fds: number;
  /** utime + stime over the interval since the previous sample, in cores. */
  cpuCores: number;
  /** podium_watch_restarts_total, summed. */
  watchRestarts: number;
  /** podium_watch_restarts_total by reason, summed over resources. */
  watchRestartsByReason: Record<string, number>;
  /** workqueue_depth{name="electiongroup"}. */
  queueDepth: number;
  /** controller_runtime_reconcile_total, summed. */
  reconciles: number;
  /** podium_electiongroup_transitions_total, summed. */
  transitions: number;
  /** rest_client_requests_total, summed. */
  apiRequests: number;
  /** podium_cache_objects by resource. */
  cacheObjects: Record<string, number>;
  /** Groups whose pod stream (the independent recorder) shows exactly one labelled pod now. */
  groupsWithOneLeader: number;
  /** Invariant violations seen so far. */
  violations: number;
  /** Churn operations done so far. */
  churnOps: number;
}

export type Verdict = "flat" | "growing";

export interface MetricFigure {
  metric: string;
  unit: string;
  atWarmup: number;
  atEnd: number;
  /** Least-squares slope over the samples after warm-up, per 10 minutes. */
  slopePer10Min: number;
  threshold: string;
  verdict: Verdict;
  /** Why the verdict is what it is, in a few words. */
  why: string;
}

/** Least-squares slope of (x, y) in y per unit of x; 0 for fewer than two points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

/** The warm-up: 5 minutes, or a sixth of a run shorter than 30 minutes. */
export function warmupSeconds(durationSeconds: number): number {
  return Math.min(300, durationSeconds / 6);
}

/** Thresholds of the verdicts, stated in the report. */
export const THRESHOLDS = {
  rssMiBPer10Min: 5,
  heapMiBPer10Min: 3,
  fdsBand: 5,
  queueDepthPer10Min: 1,
  /** Each watch asks the server for timeoutSeconds >= 300: at most one `closed` restart per resource per 5 min. */
  watchTimeoutSeconds: 300,
} as const;

/**
 * Routine restarts: the server ended the watch at its timeoutSeconds
 * (`closed`), a resourceVersion compacted away (`expired`), the periodic
 * resync of the ElectionGroup cache (`resync`, every --sync-period, 10 min).
 */
const ROUTINE_RESTARTS = new Set(["closed", "expired", "resync"]);
/** The operator's default --sync-period, less its 10 % jitter. */
const SYNC_PERIOD_SECONDS = 540;

/**
 * The figures at the end of the warm-up and at the end of the churn, the
 * slope after the warm-up and a verdict for RSS, heap, fds, watch restarts
 * and queue depth. `watchedResources` is how many caches the operator runs.
 */
export function judge(
  samples: readonly SoakSample[],
  warmup: number,
  groups: number,
  watchedResources: number,
): MetricFigure[] {
  const churn = samples.filter((s) => s.phase === "churn");
  const after = churn.filter((s) => s.t >= warmup);
  const first = after[0] ?? churn.at(-1);
  const last = churn.at(-1);
  if (first === undefined || last === undefined) return [];
  const per10 = (pick: (s: SoakSample) => number): number =>
    slope(after.map((s) => [s.t, pick(s)] as const)) * 600;
  const minutes = (last.t - first.t) / 60;
  const figures: MetricFigure[] = [];

  const rssSlope = per10((s) => s.rssMiB);
  figures.push({
    metric: "RSS",
    unit: "MiB",
    atWarmup: first.rssMiB,
    atEnd: last.rssMiB,
    slopePer10Min: rssSlope,
    threshold: `slope < ${String(THRESHOLDS.rssMiBPer10Min)} MiB / 10 min`,
    verdict: rssSlope < THRESHOLDS.rssMiBPer10Min ? "flat" : "growing",
    why: `slope ${rssSlope.toFixed(2)} MiB / 10 min`,
  });

  const heapSlope = per10((s) => s.heapUsedMiB);
  figures.push({
    metric: "heap used",
    unit: "MiB",
    atWarmup: first.heapUsedMiB,
    atEnd: last.heapUsedMiB,
    slopePer10Min: heapSlope,
    threshold: `slope < ${String(THRESHOLDS.heapMiBPer10Min)} MiB / 10 min`,
    verdict: heapSlope < THRESHOLDS.heapMiBPer10Min ? "flat" : "growing",
    why: `slope ${heapSlope.toFixed(2)} MiB / 10 min`,
  });

  const fdOutside = after.filter((s) => Math.abs(s.fds - first.fds) > THRESHOLDS.fdsBand);
  const fdMin = Math.min(...after.map((s) => s.fds));
  const fdMax = Math.max(...after.map((s) => s.fds));
  figures.push({
    metric: "open fds",
    unit: "",
    atWarmup: first.fds,
    atEnd: last.fds,
    slopePer10Min: per10((s) => s.fds),
    threshold: `every sample within ±${String(THRESHOLDS.fdsBand)} of the warm-up value`,
    verdict: fdOutside.length === 0 ? "flat" : "growing",
    why:
      fdOutside.length === 0
        ? `range ${String(fdMin)}–${String(fdMax)}`
        : `${String(fdOutside.length)} of ${String(after.length)} samples outside (range ${String(fdMin)}–${String(fdMax)})`,
  });

  const reasons = new Set([
    ...Object.keys(first.watchRestartsByReason),
    ...Object.keys(last.watchRestartsByReason),
  ]);
  const delta: Record<string, number> = {};
  for (const r of reasons) {
    const d = (last.watchRestartsByReason[r] ?? 0) - (first.watchRestartsByReason[r] ?? 0);
    if (d > 0) delta[r] = d;
  }
  const unusual = Object.entries(delta).filter(([r]) => !ROUTINE_RESTARTS.has(r));
  const routine = Object.entries(delta)
    .filter(([r]) => ROUTINE_RESTARTS.has(r))
    .reduce((sum, [, d]) => sum + d, 0);
  const allowed =
    watchedResources * (Math.floor((minutes * 60) / THRESHOLDS.watchTimeoutSeconds) + 1) +
    Math.floor((minutes * 60) / SYNC_PERIOD_SECONDS) +
    1;
  const restartsOk = unusual.length === 0 && routine <= allowed;
  figures.push({
    metric: "watch restarts",
    unit: "",
    atWarmup: first.watchRestarts,
    atEnd: last.watchRestarts,
    slopePer10Min: per10((s) => s.watchRestarts),
    threshold: `routine reasons only, at most ${String(allowed)}`,
    verdict: restartsOk ? "flat" : "growing",
    why:
      Object.keys(delta).length === 0
        ? "none after warm-up"
        : `${Object.entries(delta)
            .map(([r, d]) => `${r} +${String(d)}`)
            .join(", ")} (routine allowed: ${String(allowed)})`,
  });

  const depthSlope = per10((s) => s.queueDepth);
  const depthMax = Math.max(...after.map((s) => s.queueDepth));
  figures.push({
    metric: "queue depth",
    unit: "",
    atWarmup: first.queueDepth,
    atEnd: last.queueDepth,
    slopePer10Min: depthSlope,
    threshold: `slope < ${String(THRESHOLDS.queueDepthPer10Min)} / 10 min and max ≤ groups (${String(groups)})`,
    verdict: depthSlope < THRESHOLDS.queueDepthPer10Min && depthMax <= groups ? "flat" : "growing",
    why: `slope ${depthSlope.toFixed(2)} / 10 min, max ${String(depthMax)}`,
  });
  return figures;
}

export interface ReportInput {
  date: string;
  command: string;
  seed: number;
  minutes: number;
  groups: number;
  deploymentGroups: number;
  bareGroups: number;
  churnSeconds: number;
  warmupSeconds: number;
  machine: Machine & { loadAverage: { start: number; end: number } };
  ops: Record<string, { ok: number; skipped: number; failed: number }>;
  figures: MetricFigure[];
  samples: readonly SoakSample[];
  violations: number;
  violationDetails: string[];
  /** For each violation, the pod stream events before it and the open hijacks. */
  violationContext: string[][];
  convergence: { ok: boolean; seconds: number; detail: string };
  /** Labels put on non-leader pods by the churn that the pod streams showed, and how fast they went. */
  hijacks: { seen: number; revertP50Ms: number; revertMaxMs: number };
  operator: { errorLines: number; warnLines: number; exitedEarly: string | undefined };
  churnIntervalMs: [number, number];
  sampleSeconds: number;
}

const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : "—");

/** A Markdown table; `left` lists the columns aligned left besides the first. */
function mdTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left: readonly number[] = [],
): string[] {
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [
    line(header),
    line(header.map((_h, i) => (i === 0 || left.includes(i) ? "---" : "--:"))),
    ...rows.map((r) => line(r)),
  ];
}

/** The Markdown of docs/soak.md (unformatted; the caller runs Prettier). */
export function soakMarkdown(r: ReportInput): string {
  const m = r.machine;
  const opRows = Object.entries(r.ops)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, c]) => [`\`${kind}\``, String(c.ok), String(c.skipped), String(c.failed)]);
  const totalOps = Object.values(r.ops).reduce((s, c) => s + c.ok, 0);
  const churn = r.samples.filter((s) => s.phase === "churn");
  // About ten rows over time, the last churn sample always among them.
  const every = Math.max(1, Math.ceil(churn.length / 10));
  const overTime = churn.filter((_s, i) => i % every === 0 || i === churn.length - 1);
  const flat = r.figures.every((f) => f.verdict === "flat");
  const verdictLine = r.figures.map((f) => `${f.metric}: **${f.verdict}**`).join(", ");
  const lines: string[] = [
    "# Soak",
    "",
    "Generated by `test/soak/run.ts` (`make soak`); the samples are in `docs/soak/results.json`. " +
      "Do not edit by hand.",
    "",
    `One podium operator (default flags, one replica, its ServiceAccount's kubeconfig) on a local ` +
      `control plane of its own (\`.cluster-soak\`), ${String(r.groups)} ElectionGroups in ` +
      `namespaces of their own (${String(r.deploymentGroups)} Managed groups of a 3-replica ` +
      `Deployment, ${String(r.bareGroups)} of three bare pods), under continuous churn for ` +
      `${fmt(r.churnSeconds / 60)} min: every ${String(r.churnIntervalMs[0] / 1000)}–` +
      `${String(r.churnIntervalMs[1] / 1000)} s one seeded operation (leader NotReady and Ready again ` +
      "2–6 s later, pod delete, Deployment scale 3↔4, rollout by a pod template annotation, " +
      "`role=leader` put on a non-leader pod by hand), and bare pods deleted by the churn created " +
      `again. Every ${String(r.sampleSeconds)} s the operator is sampled from /proc and its /metrics, ` +
      "and an independent pod watch per namespace (`LeaderLabelRecorder`) checks that no group " +
      "ever has two pods labelled `role=leader` (a hand-made label counts only once it has not " +
      "been reverted within 10 s).",
    "",
    `- **Command:** \`${r.command}\``,
    `- **Seed:** ${String(r.seed)}`,
    `- **Date:** ${r.date}`,
    `- **Duration:** ${fmt(r.churnSeconds / 60)} min of churn (${String(r.minutes)} asked), ` +
      `warm-up ${fmt(r.warmupSeconds / 60)} min, ${String(churn.length)} samples`,
    `- **Machine:** ${String(m.cpus)} × ${m.cpuModel}, ${fmt(m.memoryGiB)} GiB memory, ${m.os}; ` +
      `Node ${m.node}; Kubernetes ${m.kubernetes}; podium at ${m.podiumCommit}; 1-minute load ` +
      `average ${fmt(m.loadAverage.start, 2)} at the start, ${fmt(m.loadAverage.end, 2)} at the end ` +
      "(the control plane, kwok, the churn and the operator share these cores)",
    `- **Invariant:** ${String(r.violations)} violation(s) of "at most one labelled pod per group"`,
    `- **Hand-made leader labels:** ${String(r.hijacks.seen)} seen in the pod streams, all ` +
      `removed by the operator (median ${fmt(r.hijacks.revertP50Ms, 0)} ms, max ` +
      `${fmt(r.hijacks.revertMaxMs, 0)} ms after the label appeared) unless listed under violations`,
    `- **Convergence after the churn:** ${r.convergence.ok ? "yes" : "**no**"} in ` +
      `${fmt(r.convergence.seconds)} s (${r.convergence.detail})`,
    `- **Operator log:** ${String(r.operator.errorLines)} error line(s), ` +
      `${String(r.operator.warnLines)} warning line(s)` +
      (r.operator.exitedEarly === undefined ? "" : `; **exited early: ${r.operator.exitedEarly}**`),
    `- **Verdict:** ${flat ? "all flat after warm-up" : "**not all flat**"} (${verdictLine})`,
    "",
    "## After warm-up",
    "",
    ...mdTable(
      ["metric", "at warm-up end", "at the end", "slope / 10 min", "flat when", "verdict"],
      r.figures.map((f) => [
        f.metric,
        `${fmt(f.atWarmup, f.unit === "MiB" ? 1 : 0)}${f.unit === "" ? "" : ` ${f.unit}`}`,
        `${fmt(f.atEnd, f.unit === "MiB" ? 1 : 0)}${f.unit === "" ? "" : ` ${f.unit}`}`,
        fmt(f.slopePer10Min, 2),
        f.threshold,
        `${f.verdict} (${f.why})`,
      ]),
      [4, 5],
    ),
    "",
    "Slopes are least-squares fits over the samples from the end of the warm-up to the end of " +
      "the churn. RSS is VmRSS; heap is `nodejs_heap_size_used_bytes`; fds `process_open_fds`; " +
      "watch restarts `podium_watch_restarts_total`; queue depth " +
      '`workqueue_depth{name="electiongroup"}` at the sampling instant. Routine watch restarts: ' +
      "`closed` and `expired` (each watch asks the API server for timeoutSeconds of at least 300 " +
      "s, so at most one per watched resource per 5 min) and `resync` (the ElectionGroup cache, " +
      "every --sync-period of 10 min ± 10 %); a restart for inactivity or an error is never " +
      "routine." +
      (r.churnSeconds < 15 * 60
        ? ` **This was a short run** (${fmt(r.churnSeconds / 60)} min, warm-up ` +
          `${fmt(r.warmupSeconds / 60)} min): the slopes are extrapolated from a few minutes, ` +
          "while V8 is still growing its heap, and the verdicts are indicative only."
        : ""),
    "",
    "## Churn",
    "",
    ...mdTable(["operation", "done", "skipped", "failed"], opRows),
    "",
    `${String(totalOps)} operations in all. Skipped: nothing to act on at that moment (e.g. no ` +
      "leader to flap); failed: the API refused (e.g. the pod had just gone).",
    "",
    "## Over time",
    "",
    ...mdTable(
      [
        "t",
        "RSS MiB",
        "heap MiB",
        "fds",
        "watch restarts",
        "queue",
        "reconciles",
        "transitions",
        "groups with one leader",
        "CPU cores",
      ],
      overTime.map((s) => [
        `${fmt(s.t / 60)} min`,
        fmt(s.rssMiB),
        fmt(s.heapUsedMiB),
        String(s.fds),
        String(s.watchRestarts),
        String(s.queueDepth),
        String(s.reconciles),
        String(s.transitions),
        `${String(s.groupsWithOneLeader)}/${String(r.groups)}`,
        fmt(s.cpuCores, 3),
      ]),
    ),
    "",
    "`groups with one leader` is what the pod streams showed at the sampling instant; during " +
      "the churn a group is leaderless for a moment after its leader went NotReady or away.",
    "",
    "![RSS, heap used and open fds over the soak](soak/soak.svg)",
    "",
  ];
  if (r.violationDetails.length > 0) {
    lines.push("## Violations", "");
    r.violationDetails.forEach((v, i) => {
      lines.push(`- ${v}`);
      const context = r.violationContext[i] ?? [];
      if (context.length > 0) lines.push("", "  ```text", ...context.map((c) => `  ${c}`), "  ```");
    });
    lines.push("");
  }
  return lines.join("\n");
}

interface Series {
  label: string;
  color: string;
  values: readonly (readonly [number, number])[];
}

const esc = (s: string): string =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** "Nice" tick step for a range: 1, 2 or 5 times a power of ten, about `count` ticks. */
function tickStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const n = raw / pow;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * pow;
}

/** One panel of line series sharing a y axis; returns SVG elements. */
function panel(
  top: number,
  height: number,
  left: number,
  width: number,
  xMax: number,
  warmup: number,
  yLabel: string,
  series: readonly Series[],
): string[] {
  const ys = series.flatMap((s) => s.values.map(([, y]) => y));
  const yMaxRaw = Math.max(1, ...ys);
  const yStep = tickStep(yMaxRaw, 4);
  const yMax = Math.ceil((yMaxRaw * 1.05) / yStep) * yStep;
  const x = (v: number): number => left + (v / xMax) * width;
  const y = (v: number): number => top + height - (v / yMax) * height;
  const out: string[] = [
    `<rect x="${String(left)}" y="${String(top)}" width="${fmt(x(warmup) - left)}" height="${String(height)}" fill="#f3f3f3"/>`,
  ];
  for (let v = 0, i = 0; v <= yMax && i < 50; v += yStep, i++) {
    const py = fmt(y(v));
    out.push(
      `<line x1="${String(left)}" y1="${py}" x2="${String(left + width)}" y2="${py}" stroke="#e2e2e2"/>`,
      `<text x="${String(left - 6)}" y="${fmt(y(v) + 4)}" text-anchor="end" fill="#555">${String(Number(v.toPrecision(6)))}</text>`,
    );
  }
  out.push(
    `<text x="${String(left - 44)}" y="${fmt(top + height / 2)}" text-anchor="middle" fill="#333" transform="rotate(-90 ${String(left - 44)} ${fmt(top + height / 2)})">${esc(yLabel)}</text>`,
    `<rect x="${String(left)}" y="${String(top)}" width="${String(width)}" height="${String(height)}" fill="none" stroke="#999"/>`,
  );
  series.forEach((s, i) => {
    const d = s.values
      .map(([t, v], j) => `${j === 0 ? "M" : "L"}${fmt(x(t))},${fmt(y(v))}`)
      .join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    const lx = left + 10 + i * 150;
    out.push(
      `<line x1="${String(lx)}" y1="${String(top + 12)}" x2="${String(lx + 18)}" y2="${String(top + 12)}" stroke="${s.color}" stroke-width="2.5"/>`,
      `<text x="${String(lx + 24)}" y="${String(top + 16)}" fill="#333">${esc(s.label)}</text>`,
    );
  });
  return out;
}

/** A plain SVG: RSS and heap used (MiB) above, open fds below, over minutes of churn; warm-up shaded. */
export function soakSvg(samples: readonly SoakSample[], warmup: number, title: string): string {
  const churn = samples.filter((s) => s.phase === "churn");
  const width = 820;
  const left = 70;
  const right = 20;
  const plotWidth = width - left - right;
  const panelHeight = 170;
  const top1 = 40;
  const top2 = top1 + panelHeight + 30;
  const height = top2 + panelHeight + 50;
  const xMaxRaw = Math.max(60, ...churn.map((s) => s.t));
  const xStep = tickStep(xMaxRaw / 60, 8) * 60;
  const xMax = Math.ceil(xMaxRaw / xStep - 0.01) * xStep;
  const pts = (pick: (s: SoakSample) => number): [number, number][] =>
    churn.map((s) => [s.t, pick(s)]);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${String(left)}" y="24" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...panel(top1, panelHeight, left, plotWidth, xMax, warmup, "MiB", [
      { label: "RSS", color: "#1f77b4", values: pts((s) => s.rssMiB) },
      { label: "heap used", color: "#d62728", values: pts((s) => s.heapUsedMiB) },
    ]),
    ...panel(top2, panelHeight, left, plotWidth, xMax, warmup, "open fds", [
      { label: "open fds", color: "#2ca02c", values: pts((s) => s.fds) },
    ]),
  ];
  const bottom = top2 + panelHeight;
  for (let v = 0, i = 0; v <= xMax && i < 100; v += xStep, i++) {
    const px = fmt(left + (v / xMax) * plotWidth);
    out.push(
      `<line x1="${px}" y1="${String(bottom)}" x2="${px}" y2="${String(bottom + 5)}" stroke="#999"/>`,
      `<text x="${px}" y="${String(bottom + 18)}" text-anchor="middle" fill="#555">${String(Number((v / 60).toPrecision(6)))}</text>`,
    );
  }
  out.push(
    `<text x="${String(left + plotWidth / 2)}" y="${String(bottom + 38)}" text-anchor="middle" fill="#555">minutes of churn (grey: warm-up)</text>`,
    "</svg>",
    "",
  );
  return out.join("\n");
}

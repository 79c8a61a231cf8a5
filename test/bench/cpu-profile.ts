import { readFileSync } from "node:fs";
import { root } from "../support/install.ts";

// What a V8 CPU profile (node --cpu-prof) says about where the operator spent
// its time: the functions with the most self time, and the split by area
// (podium's own directories, each dependency, Node's built-ins).

export interface ProfileEntry {
  function: string;
  where: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  top: ProfileEntry[];
  byArea: { area: string; selfMs: number; percent: number }[];
}

/** Sums self time per function of a V8 .cpuprofile; the top `n` and a split by area. */
export function summarizeProfile(file: string, n = 20): ProfileSummary {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const where = (url: string, line: number): string => {
    if (url === "") return "";
    const local = url.replace(/^file:\/\//, "").replace(`${root}/`, "");
    const short = local.replace(/^.*node_modules\//, "node_modules/");
    return `${short}:${String(line + 1)}`;
  };
  const area = (url: string, fn: string): string => {
    if (url === "") return fn.startsWith("(") ? fn : "(native)";
    if (url.startsWith("node:")) return "node: built-ins";
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (pkg) return pkg[1] ?? "node_modules";
    const src = /\/(src\/[^/]+)\//.exec(url);
    return src ? `podium ${src[1] ?? ""}` : "other";
  };
  const fns = new Map<string, ProfileEntry>();
  const areas = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName === "" ? "(anonymous)" : functionName;
    const w = where(url, lineNumber);
    const k = `${name} ${w}`;
    const entry = fns.get(k) ?? { function: name, where: w, selfMs: 0, percent: 0 };
    entry.selfMs += us / 1000;
    fns.set(k, entry);
    const a = area(url, name);
    areas.set(a, (areas.get(a) ?? 0) + us / 1000);
  }
  const totalMs = totalUs / 1000;
  const top = [...fns.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, n);
  for (const e of top) e.percent = (100 * e.selfMs) / totalMs;
  const byArea = [...areas.entries()]
    .map(([a, v]) => ({ area: a, selfMs: v, percent: (100 * v) / totalMs }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, 15);
  return { file, totalMs, top, byArea };
}

/** `kubectl podium status`: the groups of a namespace, or one group in detail. */
import type { ElectionGroup, TransitionRecord } from "../api/types.ts";
import type { OutputFormat } from "./args.ts";
import type { PodiumApi } from "./client.ts";
import { blockerText, conditionsCell, podWhyCell } from "./describe.ts";
import { buildReport, readSpec } from "./explain.ts";
import type { GroupReport } from "./report.ts";
import { humanDuration, isoSeconds, table, timeAndAge } from "./format.ts";
import { selectorToString } from "../election/index.ts";

/** One row of the group table. */
export interface GroupRow {
  namespace: string;
  name: string;
  mode: string;
  holder: string;
  epoch: number;
  ready: string;
  conditions: string;
  createdAt: number;
}

/** A group as one row of `status` without a group name. */
export function groupRow(group: ElectionGroup): GroupRow {
  const s = group.status ?? {};
  const spec = readSpec(group).spec;
  const raw = (group.spec as unknown as Record<string, unknown> | undefined) ?? {};
  return {
    namespace: group.metadata.namespace,
    name: group.metadata.name,
    mode: spec?.mode ?? (typeof raw.mode === "string" ? raw.mode : "Managed"),
    holder: s.holder ?? "",
    epoch: s.epoch ?? 0,
    ready: s.ready ?? `${s.readyCandidates ?? 0}/${s.candidates ?? 0}`,
    conditions: conditionsCell({ conditions: s.conditions ?? [] }),
    createdAt: Date.parse(group.metadata.creationTimestamp) || 0,
  };
}

/** The group table, with a NAMESPACE column when listing every namespace. */
export function renderGroupTable(
  rows: readonly GroupRow[],
  allNamespaces: boolean,
  now: number,
): string {
  const headers = ["NAME", "MODE", "HOLDER", "EPOCH", "READY", "CONDITIONS", "AGE"];
  const cells = rows.map((r) => [
    r.name,
    r.mode,
    r.holder === "" ? "<none>" : r.holder,
    String(r.epoch),
    r.ready,
    r.conditions,
    humanDuration(now - r.createdAt),
  ]);
  return allNamespaces
    ? table(
        ["NAMESPACE", ...headers],
        cells.map((c, i) => [rows[i]?.namespace ?? "", ...c]),
      )
    : table(headers, cells);
}

/** One group in detail, as `kubectl describe` lays things out. */
export function renderGroupStatus(report: GroupReport, now: number, historyLimit = 5): string {
  const out: string[] = [];
  const field = (name: string, value: string): void => {
    out.push(`${`${name}:`.padEnd(16)}${value}`);
  };
  field("Name", report.name);
  field("Namespace", report.namespace);
  field("Mode", report.mode);
  field("Selector", report.selector);
  field("Leader label", `${report.leaderLabel.key}=${report.leaderLabel.value}`);
  field("Holder", report.holder === "" ? "<none>" : report.holder);
  field("Epoch", String(report.epoch));
  field("Ready", `${report.readyCandidates}/${report.candidates} candidates ready`);
  field("Preferred", report.preferredHolder ?? "<none>");
  if (report.notReadyToleranceSeconds > 0) {
    field("NotReady tol.", `${report.notReadyToleranceSeconds}s`);
  }
  if (report.paused) field("Paused", "true");
  const observed =
    report.observedGeneration === undefined
      ? "never (has podium seen this group?)"
      : `${report.observedGeneration} of ${report.generation}`;
  field("Observed gen.", observed);

  for (const b of report.blockers) out.push(`Blocked:        ${blockerText(b, report)}`);
  if (report.pending) {
    const { from, to, reason } = report.pending;
    out.push(
      `Pending:        podium's rules move leadership from ${from === "" ? "<none>" : from} to ${to === "" ? "<none>" : to} (${reason}): a transition in flight, or the operator is not running`,
    );
  } else if (report.expectedHolder !== undefined && report.expectedHolder !== report.holder) {
    out.push(
      `Pending:        podium's rules name ${report.expectedHolder === "" ? "no holder" : report.expectedHolder} but status says ${report.holder === "" ? "<none>" : report.holder}: status not yet written, or the operator is not running`,
    );
  }

  out.push("Conditions:");
  if (report.conditions.length === 0) out.push("  <none>");
  else {
    out.push(
      indent(
        table(
          ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
          report.conditions.map((c) => [
            c.type,
            c.status,
            c.reason,
            humanDuration(now - (Date.parse(c.lastTransitionTime) || now)),
            c.message,
          ]),
        ),
      ),
    );
  }

  out.push("Pods:");
  if (report.pods.length === 0) out.push(`  <none match ${report.selector}>`);
  else {
    out.push(
      indent(
        table(
          ["NAME", "READY", "PHASE", "LEADER", "PRIORITY", "REVISION", "WHY"],
          report.pods.map((p) => [
            p.name,
            p.ready ? "True" : "False",
            p.phase === "" ? "<none>" : p.phase,
            p.labelled ? "*" : "",
            String(p.priority),
            p.revision ?? "",
            podWhyCell(p, report, now),
          ]),
        ),
      ),
    );
  }
  if (report.mode === "Managed") {
    const lead = report.holder === "" ? "no pod leads" : `${report.holder} is lost`;
    out.push(`Next holder:    ${report.next ?? "<none>"} (if ${lead})`);
  }

  if (report.lease) {
    const l = report.lease;
    out.push(`Lease ${l.name}:`);
    out.push(`  Holder:       ${l.holder === "" ? "<none> (released)" : l.holder}`);
    if (l.mapping !== undefined) out.push(`  Holder pod:   ${l.mapping}`);
    if (l.holderUID !== undefined) out.push(`  Holder UID:   ${l.holderUID}`);
    out.push(`  Acquired:     ${timeAndAge(l.acquireTime, now)}`);
    out.push(`  Renewed:      ${timeAndAge(l.renewTime, now)}`);
    out.push(
      `  Duration:     ${l.durationSeconds === undefined ? "<unset>" : `${l.durationSeconds}s`}`,
    );
    out.push(`  Transitions:  ${l.transitions}`);
  } else {
    out.push(`Lease ${report.leaseName}: <does not exist>`);
  }

  const history = report.history.slice(0, historyLimit);
  out.push(`History (last ${history.length} of ${report.history.length}, newest first):`);
  if (history.length === 0) out.push("  <none>");
  else {
    out.push(
      indent(
        table(
          ["TIME", "FROM", "TO", "EPOCH", "REASON", "TOOK"],
          history.map((h) => [
            isoSeconds(Date.parse(h.time) || 0),
            h.from === "" ? "<none>" : h.from,
            h.to === "" ? "<none>" : h.to,
            String(h.epoch),
            h.reason,
            `${h.durationMs}ms`,
          ]),
        ),
      ),
    );
    const phases = renderPhases(report.history[0]);
    if (phases !== "") out.push(phases);
  }
  return out.join("\n") + "\n";
}

/**
 * The phases of a transition, one line ("" when it has none): each step in
 * ms from the detection of its cause, and a Verified cutover's outcome.
 */
export function renderPhases(h: TransitionRecord | undefined): string {
  const p = h?.phases;
  if (h === undefined || p === undefined) return "";
  const steps: [string, number | undefined][] = [
    ["detected", 0],
    ["old label removed", p.labelRemovedMs],
    ["Lease written", p.leaseWrittenMs],
    ["new label written", p.labelWrittenMs],
    ["old endpoint gone", p.oldEndpointGoneMs],
    ["new endpoint ready", p.newEndpointReadyMs],
  ];
  const shown = steps
    .filter(([, ms]) => ms !== undefined)
    .map(([name, ms]) => `${name} ${String(ms)}ms`);
  const outcome = h.cutover === undefined ? "" : ` (cutover ${h.cutover})`;
  return `Last transition's phases${outcome}: ${shown.join(" → ")}`;
}

const TIME_FIELDS = new Set([
  "readySince",
  "since",
  "renewTime",
  "acquireTime",
  "winnerSince",
  "loserSince",
  "createdAt",
]);

/** JSON with epoch-ms times as RFC 3339 strings. */
export function toJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (key, v: unknown) =>
        TIME_FIELDS.has(key) && typeof v === "number" ? new Date(v).toISOString() : v,
      2,
    ) + "\n"
  );
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

/** Reads what the report of `namespace/name` needs: the group, its pods, its Lease, its siblings. */
export async function loadReport(
  api: PodiumApi,
  namespace: string,
  name: string,
  now: () => number,
): Promise<{ report: GroupReport; group: ElectionGroup }> {
  const group = await api.getGroup(namespace, name);
  const reading = readSpec(group);
  const [pods, siblings] = await Promise.all([
    reading.selector ? api.listPods(namespace, selectorToString(reading.selector)) : [],
    api.listGroups(namespace),
  ]);
  const leaseName = reading.spec?.lease.name ?? group.status?.leaseName ?? name;
  const lease = await api.getLease(namespace, leaseName);
  const nodes = await readNodes(api, pods);
  const input = { group, pods, lease, siblings, now: now() };
  return { report: buildReport(nodes === undefined ? input : { ...input, nodes }), group };
}

/** The nodes of `pods` with their heartbeats; undefined when the user may not read them. */
async function readNodes(
  api: PodiumApi,
  pods: readonly unknown[],
): Promise<Map<string, { node: unknown; heartbeat: unknown }> | undefined> {
  const getNode = api.getNode?.bind(api);
  if (getNode === undefined) return undefined;
  const names = new Set(
    pods.flatMap((p) => {
      const name = (p as { spec?: { nodeName?: unknown } }).spec?.nodeName;
      return typeof name === "string" && name !== "" ? [name] : [];
    }),
  );
  const nodes = new Map<string, { node: unknown; heartbeat: unknown }>();
  for (const name of names) {
    const read = await getNode(name);
    if (read === undefined) return undefined;
    nodes.set(name, read);
  }
  return nodes;
}

export interface StatusOptions {
  namespace: string;
  group?: string;
  allNamespaces: boolean;
  output: OutputFormat;
}

/** Runs `status`; returns what to print. */
export async function runStatus(
  api: PodiumApi,
  options: StatusOptions,
  now: () => number = Date.now,
): Promise<string> {
  if (options.group !== undefined) {
    const { report } = await loadReport(api, options.namespace, options.group, now);
    return options.output === "json" ? toJson(report) : renderGroupStatus(report, now());
  }
  const groups = await api.listGroups(options.allNamespaces ? undefined : options.namespace);
  const rows = groups
    .map(groupRow)
    .sort((a, b) =>
      a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1,
    );
  if (options.output === "json") return toJson(rows);
  if (rows.length === 0) {
    return options.allNamespaces
      ? "No ElectionGroups found.\n"
      : `No ElectionGroups found in ${options.namespace} namespace.\n`;
  }
  return renderGroupTable(rows, options.allNamespaces, now());
}

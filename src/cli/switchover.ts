/** `kubectl podium switchover GROUP --to POD`: a declarative, verified hand-over. */
import type { PodiumApi } from "./client.ts";
import { blockerText, eligibilityText } from "./describe.ts";
import type { GroupReport } from "./report.ts";
import { CliError } from "./errors.ts";
import { loadReport } from "./status.ts";

/**
 * Why podium would not hand leadership of `report`'s group to `pod`, or
 * undefined when it would: `pod` must be a ready candidate (DESIGN §2) of a
 * Managed group that podium may act on. `exists` says whether a pod of that
 * name exists at all (it may exist outside the selector).
 */
export function switchoverRefusal(
  report: GroupReport,
  pod: string,
  exists: boolean,
  now: number,
): string | undefined {
  const group = `ElectionGroup ${report.namespace}/${report.name}`;
  if (report.mode !== "Managed") {
    return `${group} is in ${report.mode} mode: its pods elect themselves on Lease ${report.leaseName}, and spec.preferredHolder only applies in Managed mode`;
  }
  const blocker = report.blockers[0];
  if (blocker !== undefined) return blockerText(blocker, report);
  const p = report.pods.find((x) => x.name === pod);
  if (p === undefined) {
    return exists
      ? `pod ${pod} is not a candidate of ${group}: it does not match the selector ${report.selector}`
      : `pod ${report.namespace}/${pod} not found`;
  }
  if (p.eligibility.kind !== "eligible") {
    return `pod ${pod} is not a ready candidate of ${group}: it is ${eligibilityText(p.eligibility, now)}`;
  }
  return undefined;
}

export interface SwitchoverOptions {
  namespace: string;
  group: string;
  to: string;
  timeoutMs: number;
  /** Between polls of the group and the pod. */
  pollMs?: number;
}

/** Clocks the command reads; injected so that tests can run it without waiting. */
export interface SwitchoverClock {
  now: () => number;
  monotonic: () => number;
  sleep: (ms: number) => Promise<void>;
}

const realClock: SwitchoverClock = {
  now: Date.now,
  monotonic: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Runs `switchover`: refuses (CliError) unless the pod is a ready candidate,
 * sets spec.preferredHolder, waits until the group's status names the pod as
 * holder and the pod carries the leader label, and returns the report line.
 */
export async function runSwitchover(
  api: PodiumApi,
  options: SwitchoverOptions,
  clock: SwitchoverClock = realClock,
): Promise<string> {
  const { namespace, group, to, timeoutMs } = options;
  const { report } = await loadReport(api, namespace, group, clock.now);
  const listed = report.pods.some((p) => p.name === to);
  const exists = listed || (await api.getPod(namespace, to)) !== undefined;
  const refusal = switchoverRefusal(report, to, exists, clock.now());
  if (refusal !== undefined) throw new CliError(`switchover refused: ${refusal}`);

  const self = report.pods.find((p) => p.name === to);
  const label = report.leaderLabel;
  if (self?.holder === true && self.labelled && report.preferredHolder === to) {
    return `${to} already leads ElectionGroup ${namespace}/${group} (epoch ${report.epoch}); nothing to do\n`;
  }

  const started = clock.monotonic();
  await api.setPreferredHolder(namespace, group, to);
  const deadline = started + timeoutMs;
  let seen: { holder: string; labelled: boolean; epoch: number };
  for (;;) {
    const g = await api.getGroup(namespace, group);
    const pod = (await api.getPod(namespace, to)) as
      { metadata?: { labels?: Record<string, string> } } | undefined;
    seen = {
      holder: g.status?.holder ?? "",
      labelled: pod?.metadata?.labels?.[label.key] === label.value,
      epoch: g.status?.epoch ?? 0,
    };
    if (pod === undefined) {
      throw new CliError(`switchover failed: pod ${namespace}/${to} was deleted while waiting`);
    }
    if (seen.holder === to && seen.labelled) break;
    if (clock.monotonic() >= deadline) {
      throw new CliError(
        `switchover timed out after ${(timeoutMs / 1000).toFixed(1)}s: ElectionGroup ${namespace}/${group} reports holder ${seen.holder === "" ? "<none>" : seen.holder}, and pod ${to} ${seen.labelled ? "carries" : "does not carry"} ${label.key}=${label.value}; spec.preferredHolder is ${to} (is the podium operator running? see kubectl podium why ${group} ${to})`,
      );
    }
    await clock.sleep(options.pollMs ?? 100);
  }
  const seconds = (clock.monotonic() - started) / 1000;
  const from = report.holder === "" ? "<none>" : report.holder;
  return (
    `switched over ElectionGroup ${namespace}/${group} from ${from} to ${to} in ${seconds.toFixed(3)}s (epoch ${seen.epoch})\n` +
    `spec.preferredHolder stays ${to}: podium gives it leadership back whenever it is a ready candidate\n`
  );
}

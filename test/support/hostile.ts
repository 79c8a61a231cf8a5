import path from "node:path";
import {
  ApiException,
  CoordinationV1Api,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { V1Lease, V1ManagedFieldsEntry } from "@kubernetes/client-node";
import { expect } from "vitest";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import { root } from "./install.ts";
import { waitFor } from "./kube.ts";
import type { Clients } from "./kube.ts";
import { startOperator } from "./operator.ts";
import type { OperatorProcess } from "./operator.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { createGroup, custom, groupEvents, patchGroupSpec } from "./groups.ts";
import { createBarePod, waitForPods } from "./pods.ts";
import { metricValue } from "./prometheus.ts";

// What the hostile-input suites (test/integration/hostile-*.test.ts) share: an
// operator whose exit, error logs and Node warnings are watched, hand-made
// Leases with garbage in them, the API server's refusals and field managers,
// and bare pods to elect from.

/** The field manager the API server derives from podium's user agent ("podium/<version> (...)"). */
export const PODIUM_MANAGER = "podium";
export const WARNING_ENTRY = path.join(root, "test/fixtures/hostile/main-reporting-warnings.ts");

/** A running operator, and whether it exited. */
export interface Watched {
  op: OperatorProcess;
  exitCode: () => number | null | undefined;
}

/**
 * Starts an operator on `namespaces` through an entry point that logs Node's
 * process warnings (a timer overflow among them), and keeps its exit code.
 */
export async function startWatchedOperator(
  kubeconfig: string,
  namespaces: string[],
): Promise<Watched> {
  const op = await startOperator(kubeconfig, {
    args: namespaces.map((ns) => `--namespace=${ns}`),
    entry: WARNING_ENTRY,
  });
  let code: number | null | undefined;
  void op.exited.then((c) => {
    code = c;
  });
  return { op, exitCode: () => code };
}

/** Log lines at level error or fatal, but for those whose message or text contains one of `allowed`. */
export function errorLogs(op: OperatorProcess, allowed: readonly string[] = []): unknown[] {
  return op.logs.filter((l) => {
    if (!["error", "fatal"].includes(String(l.level))) return false;
    const text = JSON.stringify(l);
    return !allowed.some((a) => l.msg === a || text.includes(a));
  });
}

/** Node's warnings of a timer asked to wait longer than 2^31-1 ms (it then fires after 1 ms). */
function timerOverflows(op: OperatorProcess): unknown[] {
  return op.logs.filter(
    (l) => l.msg === "process warning" && l.warning === "TimeoutOverflowWarning",
  );
}

/**
 * Expects no timer overflow warning from `w`, after waiting for one for a
 * bounded 2 s (Node warns when a timer is asked for more than 2^31-1 ms).
 */
export async function expectNoTimerOverflow(w: Watched): Promise<void> {
  await waitFor(
    "a TimeoutOverflowWarning",
    () => Promise.resolve(timerOverflows(w.op).length > 0 ? true : undefined),
    { timeoutMs: 2000 },
  ).catch(() => undefined);
  expect(timerOverflows(w.op), "a requeue overflowed Node's timer").toEqual([]);
}

/** Waits until the (restarted) operator `w` reports `pod` as the leader of `group`. */
export async function waitForReconciled(
  w: Watched,
  namespace: string,
  group: string,
  pod: string,
): Promise<void> {
  const labels = { namespace, name: group, pod };
  await waitFor(`the restarted operator to have reconciled ${group}`, async () =>
    metricValue(await w.op.metrics(), "podium_electiongroup_leader", labels) === 1
      ? true
      : undefined,
  );
}

/** The operator is still running, /healthz answers 200, and it logged no error. */
export async function expectHealthy(
  w: Watched,
  allowedErrors: readonly string[] = [],
): Promise<void> {
  expect(w.exitCode(), "the operator exited").toBeUndefined();
  const health = await w.op.probe("/healthz");
  expect(health.status, health.body).toBe(200);
  expect(errorLogs(w.op, allowedErrors)).toEqual([]);
}

/** The field managers that wrote the object (metadata.managedFields). */
export function managers(obj: { metadata?: { managedFields?: V1ManagedFieldsEntry[] } }): string[] {
  return (obj.metadata?.managedFields ?? []).map((m) => m.manager ?? "");
}

/** An Event of `reason` about `group` whose note contains each of `says`; waits for it. */
export async function waitForEvent(
  clients: Clients,
  namespace: string,
  group: string,
  reason: string,
  says: readonly string[] = [],
  timeoutMs = 15_000,
) {
  return waitFor(
    `an Event ${reason} about ElectionGroup ${group} saying ${says.join(", ")}`,
    async () => {
      const events = await groupEvents(clients, namespace, group, reason);
      const match = events.find((e) => says.every((s) => e.note?.includes(s)));
      return match;
    },
    { timeoutMs },
  );
}

/** A microsecond timestamp, the only form the API server takes for a Lease's MicroTime fields. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/** Merge-patches the Lease `name` as a person with kubectl patch would. */
export async function mergePatchLease(
  clients: Clients,
  namespace: string,
  name: string,
  body: Record<string, unknown>,
): Promise<V1Lease> {
  return clients.kc
    .makeApiClient(CoordinationV1Api)
    .patchNamespacedLease(
      { name, namespace, body },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
}

/** Creates the Lease `name` with `spec` as given, garbage included. */
export async function createLease(
  clients: Clients,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  owner?: ElectionGroup,
): Promise<V1Lease> {
  // An owner reference to a group is how whoever may write a Lease hands it to that group.
  const ownerReferences =
    owner === undefined
      ? undefined
      : [
          {
            apiVersion: owner.apiVersion,
            kind: owner.kind,
            name: owner.metadata.name,
            uid: owner.metadata.uid,
          },
        ];
  return clients.kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
    namespace,
    body: { metadata: { name, namespace, ...(ownerReferences ? { ownerReferences } : {}) }, spec },
  });
}

/**
 * Creates a paused group, then its Lease with `spec` handed to it by owner
 * reference, then unpauses the group: garbage in a Lease the group owns.
 */
export async function groupWithGarbageLease(
  clients: Clients,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const group = await createGroup(clients, namespace, name, {
    selector: { matchLabels: { app: name } },
    paused: true,
  });
  await createLease(clients, namespace, name, spec, group);
  await patchGroupSpec(clients, namespace, name, { paused: false });
}

/**
 * Creates an ElectionGroup `name` with `spec` exactly as given (garbage
 * included; no spec at all when undefined), for the API server or podium to
 * refuse; `options` go with the create request (dryRun, fieldValidation).
 */
export async function createGroupAsWritten(
  clients: Clients,
  namespace: string,
  name: string,
  spec: unknown,
  options: { dryRun?: string; fieldValidation?: string } = {},
): Promise<void> {
  const body: Record<string, unknown> = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "ElectionGroup",
    metadata: { name },
  };
  if (spec !== undefined) body.spec = spec;
  await custom(clients).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body,
    ...options,
  });
}

/** The message of an API error, or "" when `err` is none. */
export function apiMessage(err: unknown): string {
  if (!(err instanceof ApiException)) return err instanceof Error ? err.message : String(err);
  try {
    return (JSON.parse(String(err.body)) as { message?: string }).message ?? String(err.body);
  } catch {
    return String(err.body);
  }
}

/** `s` with every character a regular expression treats specially escaped. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Bare pods app=`app`, Running and Ready. */
export async function pods(
  clients: Clients,
  namespace: string,
  app: string,
  names: readonly string[],
  annotations: (name: string) => Record<string, string> = () => ({}),
  labels: Record<string, string> = {},
): Promise<void> {
  for (const name of names) {
    await createBarePod(clients, namespace, name, {
      labels: { app, ...labels },
      annotations: annotations(name),
    });
  }
  await waitForPods(clients, namespace, names);
}

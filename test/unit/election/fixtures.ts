import type { ElectionGroup, ElectionGroupSpec } from "../../../src/api/types.ts";
import type { LeaseView, PodView } from "../../../src/election/types.ts";

/** A fixed clock origin so that times in tables read as offsets. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Overrides where `undefined` removes an optional field (exactOptionalPropertyTypes). */
type Overrides<T> = { [K in keyof T]?: T[K] | undefined };

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A Running, Ready, unlabelled pod created and Ready at T0. */
export function pod(name: string, o: Overrides<PodView> = {}): PodView {
  return withoutUndefined({
    name,
    uid: `uid-${name}`,
    createdAt: T0,
    terminating: false,
    phase: "Running",
    ready: true,
    readySince: T0,
    ...o,
  } as PodView);
}

/** A pod that carries role=leader and the epoch annotation for `epoch`. */
export function leader(name: string, epoch: number, o: Overrides<PodView> = {}): PodView {
  return pod(name, { leaderLabelValue: "leader", epochAnnotation: String(epoch), ...o });
}

/** The defaulted spec: 15/10/2 s, role=leader, no tolerance. */
export function spec(o: Partial<ElectionGroupSpec> = {}): ElectionGroupSpec {
  return {
    selector: { matchLabels: { app: "web" } },
    mode: "Managed",
    lease: { durationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
    leaderLabel: { key: "role", value: "leader" },
    notReadyToleranceSeconds: 0,
    paused: false,
    ...o,
  };
}

/** A Lease podium wrote for `holder` at T0 (uid recorded), observed at T0. */
export function lease(
  holder: string,
  transitions: number,
  o: Overrides<LeaseView> = {},
): LeaseView {
  return withoutUndefined({
    holder,
    holderUID: holder === "" ? undefined : `uid-${holder}`,
    transitions,
    durationSeconds: 15,
    renewTime: T0,
    acquireTime: T0,
    observedAt: T0,
    ...o,
  } as LeaseView);
}

/** The group "shop/web" with `s` as its spec; metadata fields may be overridden. */
export function electionGroup(
  s: ElectionGroupSpec,
  meta: Partial<ElectionGroup["metadata"]> = {},
  status?: ElectionGroup["status"],
): ElectionGroup {
  return {
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: {
      namespace: "shop",
      name: "web",
      uid: "uid-web",
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: new Date(T0).toISOString(),
      ...meta,
    },
    spec: s,
    ...(status === undefined ? {} : { status }),
  };
}

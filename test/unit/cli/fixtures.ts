import type { ElectionGroup } from "../../../src/api/types.ts";

/** A fixed clock origin. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
export const iso = (ms: number): string => new Date(ms).toISOString();

export interface PodOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  phase?: string;
  ready?: boolean;
  /** Ready condition's lastTransitionTime. */
  since?: number;
  createdAt?: number;
  terminating?: boolean;
}

/** A pod as the API server sends it (plain JSON), Running and Ready since T0 by default. */
export function rawPod(name: string, o: PodOptions = {}): Record<string, unknown> {
  return {
    metadata: {
      name,
      namespace: "shop",
      uid: `uid-${name}`,
      creationTimestamp: iso(o.createdAt ?? T0),
      labels: o.labels ?? { app: "web", "pod-template-hash": "r1" },
      annotations: o.annotations ?? {},
      ...(o.terminating === true ? { deletionTimestamp: iso(T0) } : {}),
    },
    status: {
      phase: o.phase ?? "Running",
      conditions: [
        {
          type: "Ready",
          status: (o.ready ?? true) ? "True" : "False",
          lastTransitionTime: iso(o.since ?? T0),
        },
      ],
    },
  };
}

/** A Lease podium wrote for `holder` (uid recorded), owned by the group. */
export function rawLease(holder: string, transitions: number): Record<string, unknown> {
  return {
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "lease-uid",
      annotations: holder === "" ? {} : { "podium.dev/holder-uid": `uid-${holder}` },
      ownerReferences: [{ uid: "group-uid" }],
    },
    spec: {
      holderIdentity: holder,
      leaseTransitions: transitions,
      leaseDurationSeconds: 15,
      acquireTime: "2026-01-01T12:00:00.000000Z",
      renewTime: "2026-01-01T12:00:05.000000Z",
    },
  };
}

/** A group named `name` selecting app=web; `holder` goes into status. */
export function group(
  spec: Record<string, unknown> = {},
  holder = "",
  meta: Partial<ElectionGroup["metadata"]> = {},
): ElectionGroup {
  return {
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "group-uid",
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: iso(T0 - 60_000),
      ...meta,
    },
    spec: {
      selector: { matchLabels: { app: "web" } },
      ...spec,
    } as unknown as ElectionGroup["spec"],
    status: { holder, epoch: 1, observedGeneration: 1 },
  };
}

/** `pod` carrying role=leader. */
export function leaderPod(name: string, o: PodOptions = {}): Record<string, unknown> {
  return rawPod(name, {
    ...o,
    labels: { ...(o.labels ?? { app: "web", "pod-template-hash": "r1" }), role: "leader" },
  });
}

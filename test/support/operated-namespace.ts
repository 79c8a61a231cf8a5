import { expect } from "vitest";
import type { ElectionGroup } from "../../src/api/types.ts";
import { waitFor } from "./kube.ts";
import type { LabelObservation } from "./label-recorder.ts";
import { getGroup, groupEvents, waitForLeader } from "./groups.ts";
import { createBarePod, labelledPods, waitForPods } from "./pods.ts";
import { SuiteNamespace } from "./suite-namespace.ts";

// The Managed-mode behaviour suites (test/integration/behaviour-*.test.ts)
// each run in a namespace of their own with an operator scoped to it, bare
// pods per app, and ask the same questions of it: who leads, who carries the
// label, what the group and its Events say.

/** The annotation podium puts on the leader: the epoch of its leadership. */
export const EPOCH = "podium.dev/epoch";
/** The finalizer podium puts on a group to remove its labels before it goes. */
export const FINALIZER = "podium.dev/cleanup";
/** The Lease annotation that names the holder pod's uid. */
export const HOLDER_UID = "podium.dev/holder-uid";

/** A group spec selecting app=`app`, plus `extra` fields. */
export function spec(app: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { selector: { matchLabels: { app } }, ...extra };
}

/** A SuiteNamespace with an operator watching it, and the questions the behaviour suites ask. */
export class OperatedNamespace extends SuiteNamespace {
  /** Creates the namespace and a label recorder per app, then starts an operator scoped to it. */
  async setUp(apps: readonly string[]): Promise<void> {
    await this.open(apps);
    await this.startOperator();
  }

  /** Everything `setUp` made goes again (see SuiteNamespace.close). */
  tearDown(): Promise<void> {
    return this.close();
  }

  /** Observations of `app`'s pod stream at which two or more pods carried role=leader. */
  violations(
    app: string,
    allowed: (o: LabelObservation) => boolean = () => false,
  ): LabelObservation[] {
    const recorder = this.recorderOf(app);
    expect(recorder.observations.length).toBeGreaterThan(0);
    return recorder.violations().filter((o) => !allowed(o));
  }

  /** Creates bare pods app=`app` named `names` and waits until they are Running (and Ready). */
  async pods(
    app: string,
    names: readonly string[],
    extra: {
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      startNotReady?: boolean;
    } = {},
  ): Promise<void> {
    for (const name of names) {
      await createBarePod(this.clients, this.namespace, name, {
        labels: { app, ...extra.labels },
        ...(extra.annotations === undefined ? {} : { annotations: extra.annotations }),
        startNotReady: extra.startNotReady ?? false,
      });
    }
    await waitForPods(this.clients, this.namespace, names, { ready: !extra.startNotReady });
  }

  group(name: string): Promise<ElectionGroup> {
    return getGroup(this.clients, this.namespace, name);
  }

  /** The group's single leader once it has one (see waitForLeader). */
  leader(
    group: string,
    app: string,
    options: { expected?: string; not?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    return waitForLeader(this.clients, this.namespace, group, `app=${app}`, options);
  }

  /** The pods of `app` that carry role=leader and are not terminating. */
  labelled(app: string): Promise<string[]> {
    return labelledPods(this.clients, this.namespace, `app=${app}`);
  }

  events(group: string, reason: string): ReturnType<typeof groupEvents> {
    return groupEvents(this.clients, this.namespace, group, reason);
  }

  /** Waits (10 s at most) for an Event of `reason` about `group`; returns every such Event. */
  waitForEvent(group: string, reason: string): ReturnType<typeof groupEvents> {
    return waitFor(
      `an Event ${reason} about ElectionGroup ${group}`,
      async () => {
        const events = await this.events(group, reason);
        return events.length > 0 ? events : undefined;
      },
      { timeoutMs: 10_000 },
    );
  }
}

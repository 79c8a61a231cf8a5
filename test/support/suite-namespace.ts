import { inject } from "vitest";
import { connect, createNamespace } from "./kube.ts";
import type { Clients } from "./kube.ts";
import { startOperator, stopAllOperators } from "./operator.ts";
import type { OperatorProcess } from "./operator.ts";
import { teardown } from "./groups.ts";
import { LeaderLabelRecorder } from "./label-recorder.ts";

// Every integration describe block works in a namespace of its own, watched
// by independent label recorders, and leaves nothing behind: the groups are
// deleted while an operator still runs, so that their finalizers are
// processed, and only then the operators stop and the namespace goes.

/**
 * One describe block's namespace, admin clients and LeaderLabelRecorders (one
 * per app, selector app=<app>). `open` (in a beforeAll) sets the fields,
 * `close` (in the afterAll) undoes everything.
 */
export class SuiteNamespace {
  clients!: Clients;
  namespace = "";
  readonly prefix: string;
  readonly recorders = new Map<string, LeaderLabelRecorder>();
  #removeNamespace: (() => Promise<void>) | undefined;

  /** `prefix` starts the namespace's name; a random suffix makes it unique. */
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Connects as the admin, creates the namespace and starts a recorder for each of `apps`. */
  async open(apps: readonly string[] = []): Promise<void> {
    this.clients = connect(inject("kubeconfig"));
    const ns = await createNamespace(this.clients, this.prefix);
    this.namespace = ns.name;
    this.#removeNamespace = ns.remove;
    for (const app of apps) {
      const recorder = new LeaderLabelRecorder(this.clients, this.namespace, `app=${app}`);
      await recorder.start();
      this.recorders.set(app, recorder);
    }
  }

  /** The recorder of `app`; throws when `open` started none for it. */
  recorderOf(app: string): LeaderLabelRecorder {
    const recorder = this.recorders.get(app);
    if (recorder === undefined) throw new Error(`no recorder for ${app}`);
    return recorder;
  }

  /** The recorder of the one app `open` was given; throws when it was given several or none. */
  get recorder(): LeaderLabelRecorder {
    const [only, ...others] = this.recorders.values();
    if (only === undefined || others.length > 0) {
      throw new Error(`${String(this.recorders.size)} recorders: name the app (recorderOf)`);
    }
    return only;
  }

  /**
   * Starts an operator scoped to this namespace (--namespace, before `args`),
   * authenticated as its ServiceAccount unless `kubeconfig` says otherwise.
   */
  startOperator({
    args = [],
    identity,
    kubeconfig = inject("operatorKubeconfig"),
  }: { args?: string[]; identity?: string; kubeconfig?: string } = {}): Promise<OperatorProcess> {
    return startOperator(kubeconfig, {
      args: [`--namespace=${this.namespace}`, ...args],
      ...(identity === undefined ? {} : { identity }),
    });
  }

  /** Stops the recorders; `close` does it too. */
  async stopRecorders(): Promise<void> {
    for (const recorder of this.recorders.values()) await recorder.stop();
  }

  /**
   * Stops the recorders, deletes the namespace's groups and waits until the
   * operators running finalized them, stops every operator and deletes the
   * namespace. With `freshOperator`, the operators a failed test may have
   * left (paused, cut off, on a dead proxy) are replaced first by one of that
   * identity that can finalize the groups.
   */
  async close({ freshOperator }: { freshOperator?: string } = {}): Promise<void> {
    await this.stopRecorders();
    const remove = this.#removeNamespace;
    if (remove === undefined) return;
    if (freshOperator !== undefined) {
      await stopAllOperators();
      await this.startOperator({ identity: freshOperator });
    }
    await teardown(this.clients, this.namespace, stopAllOperators, remove);
  }
}

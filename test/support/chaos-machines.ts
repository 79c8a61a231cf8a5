import type { InvariantChecker } from "./invariant-checker.ts";
import type { Clients } from "./kube.ts";
import { startMachine, stopAllMachines } from "./kwok-machines.ts";
import type { Machine } from "./kwok-machines.ts";
import type { Background } from "./operator-replicas.ts";

// The simulated machines of the chaos run (test/integration/chaos.test.ts):
// bare pod i of every bare group runs on machine i, so a machine that dies
// takes one pod of each of those groups with it. A machine dies (its kwok
// SIGKILLed: the heartbeat stops, its pods stay Running and Ready) or its
// Node is deleted, and comes back later on its own. At most one machine is
// down at a time, so that podium's detection, not its disruption guard,
// decides (the cluster's two nodes and the live machines keep the silent
// share under 55 %).

export interface ChaosMachinesWorld {
  kubeconfig: string;
  clients: Clients;
  namespace: string;
  /** The names of the pods bound to machine `i`, as the checker sees them now. */
  podsOn: (i: number) => string[];
  checker: () => InvariantChecker | undefined;
  background: Background;
}

/** How long a killed machine stays dead: beyond the 18 s grace, under the node controller's 50 s. */
const DEAD_MS = { min: 22_000, max: 32_000 };
/** How long a deleted node stays away: shorter than PodGC's 40 s quarantine. */
const DELETED_MS = { min: 3_000, max: 10_000 };

interface Slot {
  index: number;
  name: string;
  machine: Machine | undefined;
  /** While the machine is down, until it is back (or failed to come back). */
  down: boolean;
}

/** Starts, kills, deletes and brings back the chaos run's machines. */
export class ChaosMachines {
  /** How many times each fault was injected and how long each comeback took. */
  readonly stats = { kills: 0, deletes: 0, comebacks: [] as number[], comebackErrors: 0 };
  readonly #w: ChaosMachinesWorld;
  readonly #slots: Slot[];

  constructor(world: ChaosMachinesWorld, count: number) {
    this.#w = world;
    this.#slots = Array.from({ length: count }, (_, index) => ({
      index,
      name: `${world.namespace}-m${String(index)}`,
      machine: undefined,
      down: false,
    }));
  }

  get count(): number {
    return this.#slots.length;
  }

  /** The node of machine `i`. */
  nodeName(i: number): string {
    return this.#slots[i]?.name ?? "";
  }

  /** The machine bare pod `<group>-<i>` runs on: machine i, when there is one. */
  nodeOfBarePod(pod: string): string | undefined {
    const i = /-(\d+)$/.exec(pod)?.[1];
    return i === undefined ? undefined : this.#slots[Number(i)]?.name;
  }

  /** Creates every machine (bounded by startMachine's wait). */
  async start(): Promise<void> {
    for (const s of this.#slots) {
      s.machine = await startMachine(this.#w.clients, this.#w.kubeconfig, s.name, {
        index: s.index,
      });
    }
  }

  /** Whether a machine is down now (then no other goes down). */
  get busy(): boolean {
    return this.#slots.some((s) => s.down);
  }

  /**
   * Kills machine `i`'s kwok, or (`deleteNode`) also deletes its Node, and
   * declares the failure to the checker; it comes back after `downMs` (in
   * the background) and the failure ends then. False when another machine
   * is down.
   */
  async fail(i: number, deleteNode: boolean, downMs: number): Promise<boolean> {
    const s = this.#slots[i];
    if (!s || this.busy || !s.machine) return false;
    const pods = this.#w.podsOn(i);
    s.down = true;
    await s.machine.signal("SIGKILL");
    s.machine = undefined;
    this.#w
      .checker()
      ?.noteNodeFailure(pods, deleteNode ? `node ${s.name} deleted` : `machine ${s.name} killed`);
    if (deleteNode) {
      this.stats.deletes += 1;
      await this.#w.clients.core.deleteNode({ name: s.name });
    } else {
      this.stats.kills += 1;
    }
    this.#w.background.later(downMs, () => {
      this.#w.background.run(this.#comeBack(s, pods));
    });
    return true;
  }

  /** The down time of a fault: random within its bounds. */
  static downMs(deleteNode: boolean, random: () => number): number {
    const b = deleteNode ? DELETED_MS : DEAD_MS;
    return b.min + Math.floor(random() * (b.max - b.min));
  }

  /**
   * Starts the machine's kwok again (and its Node, if deleted); up to 12
   * attempts 3 s apart, so that a comeback outlasts an API server restart
   * (17-30 s in these runs; 3 attempts 2 s apart gave up during one).
   */
  async #comeBack(s: Slot, pods: readonly string[]): Promise<void> {
    const t0 = Date.now();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const existing = await this.#w.clients.core
            .readNode({ name: s.name })
            .then(() => true)
            .catch(() => false);
          s.machine = await startMachine(this.#w.clients, this.#w.kubeconfig, s.name, {
            index: s.index,
            existing,
          });
          break;
        } catch (err) {
          this.stats.comebackErrors += 1;
          if (attempt >= 12) throw err;
          await new Promise((resolve) => setTimeout(resolve, 3_000));
        }
      }
      this.stats.comebacks.push(Date.now() - t0);
      this.#w.checker()?.endNodeFailure(pods);
    } finally {
      s.down = false;
    }
  }

  /**
   * Brings back every machine still down, its comeback dropped with the
   * background timers (for the heal phase, once the background settled;
   * bounded by startMachine's wait).
   */
  async reviveAll(): Promise<void> {
    for (const s of this.#slots) {
      if (s.machine?.alive === true) continue;
      await this.#comeBack(s, this.#w.podsOn(s.index));
    }
  }

  /** Kills every machine's kwok and deletes their nodes. */
  async stop(): Promise<void> {
    await stopAllMachines(this.#w.clients);
  }
}

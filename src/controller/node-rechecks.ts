import type { Clock, Timer } from "../kube/clock.ts";

/** What {@link NodeRechecks} needs from the rest of the operator. */
export interface NodeRechecksDeps {
  clock: Clock;
  /** When podium last saw node `name` renew its heartbeat; undefined when it has none. */
  heartbeatAt: (name: string) => number | undefined;
  /** Queues a group's reconcile, `at` the instant its holder's heartbeat went stale. */
  enqueue: (key: string, at: number) => void;
}

interface NodeEntry {
  /** Group key to its grace in ms. */
  groups: Map<string, number>;
  timer?: Timer;
  dueAt?: number;
}

/**
 * Watches holders' node heartbeats with one timer per node, not one requeue
 * per group: when a node's heartbeat would go stale for a group's grace, only
 * the groups whose holder is on that node and whose grace has run out are
 * queued. A heartbeat renewed in time re-arms the node's timer and queues
 * nothing (kubelets renew every 10 s, so per-group rechecks were most of the
 * idle reconciles at 1,000 groups).
 */
export class NodeRechecks {
  readonly #deps: NodeRechecksDeps;
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #nodeOf = new Map<string, string>();

  constructor(deps: NodeRechecksDeps) {
    this.#deps = deps;
  }

  /** Watches `node` for group `key` (its holder's node) with grace `graceMs`; replaces any earlier watch. */
  watch(key: string, node: string, graceMs: number): void {
    const previous = this.#nodeOf.get(key);
    if (previous !== undefined && previous !== node) this.forget(key);
    this.#nodeOf.set(key, node);
    let entry = this.#nodes.get(node);
    if (entry === undefined) {
      entry = { groups: new Map() };
      this.#nodes.set(node, entry);
    }
    entry.groups.set(key, graceMs);
    this.#arm(node, entry);
  }

  /** Stops watching for group `key` (deleted, leaderless or its holder unjudged). */
  forget(key: string): void {
    const node = this.#nodeOf.get(key);
    if (node === undefined) return;
    this.#nodeOf.delete(key);
    const entry = this.#nodes.get(node);
    if (entry === undefined) return;
    entry.groups.delete(key);
    if (entry.groups.size === 0) {
      if (entry.timer !== undefined) this.#deps.clock.clearTimeout(entry.timer);
      this.#nodes.delete(node);
    } else {
      this.#arm(node, entry);
    }
  }

  /** The number of nodes with a pending timer (for tests and metrics). */
  get timers(): number {
    let n = 0;
    for (const entry of this.#nodes.values()) if (entry.timer !== undefined) n++;
    return n;
  }

  /** (Re-)arms `node`'s one timer at the earliest instant a watched group's grace runs out. */
  #arm(node: string, entry: NodeEntry): void {
    const seen = this.#deps.heartbeatAt(node);
    let dueAt: number | undefined;
    if (seen !== undefined) {
      for (const grace of entry.groups.values()) dueAt = Math.min(dueAt ?? Infinity, seen + grace);
    }
    if (dueAt === entry.dueAt && entry.timer !== undefined) return;
    if (entry.timer !== undefined) this.#deps.clock.clearTimeout(entry.timer);
    delete entry.timer;
    delete entry.dueAt;
    if (dueAt === undefined) return;
    entry.dueAt = dueAt;
    const { clock } = this.#deps;
    entry.timer = clock.setTimeout(
      () => {
        delete entry.timer;
        this.#fire(node, entry);
      },
      Math.max(0, dueAt - clock.now()),
    );
  }

  /** Queues the groups on `node` whose grace ran out; keeps watching the others. */
  #fire(node: string, entry: NodeEntry): void {
    const now = this.#deps.clock.now();
    const seen = this.#deps.heartbeatAt(node);
    for (const [key, grace] of [...entry.groups]) {
      const staleAt = seen === undefined ? now : seen + grace;
      if (staleAt > now) continue;
      // The reconcile judges the node and watches again if the group keeps a holder there.
      entry.groups.delete(key);
      this.#nodeOf.delete(key);
      this.#deps.enqueue(key, staleAt);
    }
    if (entry.groups.size === 0) {
      this.#nodes.delete(node);
      return;
    }
    delete entry.dueAt;
    this.#arm(node, entry);
  }
}

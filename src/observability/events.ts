import { EventsV1Api, PatchStrategy } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { callOptions } from "../kube/client.ts";
import type { ClientFactory } from "../kube/client.ts";
import { toMicroTime } from "../kube/microtime.ts";
import type { Logger } from "./logger.ts";

/** The object an Event is about. */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export type EventType = "Normal" | "Warning";

/** Records Kubernetes Events without ever blocking or failing the caller. */
export interface EventRecorder {
  record(
    subject: EventSubject,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): void;
  /** Waits for the Events already recorded to be sent (for a clean shutdown). */
  flush(): Promise<void>;
}

interface Series {
  name: string;
  namespace: string;
  count: number;
  firstAt: number;
  lastPatchAt: number;
}

/** How long repeats of one Event are folded into a series, as client-go's events library does. */
const SERIES_WINDOW_MS = 6 * 60_000;
/** A series is patched at most this often; repeats in between are only counted. */
const SERIES_PATCH_INTERVAL_MS = 30_000;
const MAX_TRACKED = 4096;

/** The API server's limit on an Event's note: 1024 *bytes* (Go's len of the string). */
const MAX_NOTE_BYTES = 1024;

/**
 * Returns the longest prefix of `text` whose UTF-8 encoding fits in
 * `maxBytes`, never splitting a character.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  const { read } = new TextEncoder().encodeInto(text, new Uint8Array(maxBytes));
  return text.slice(0, read);
}

/**
 * Creates an EventRecorder on events.k8s.io/v1. Identical Events (same
 * object, reason and note) within six minutes become one Event with a growing
 * series count instead of new objects, so a flapping group cannot flood etcd.
 */
export function createEventRecorder(
  makeClient: ClientFactory,
  reportingInstance: string,
  logger: Logger,
  now: () => number = Date.now,
): EventRecorder {
  const events = makeClient(EventsV1Api);
  const series = new Map<string, Series>();
  const pending = new Set<Promise<void>>();

  const send = async (
    subject: EventSubject,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): Promise<void> => {
    const key = `${subject.uid}\u0000${type}\u0000${reason}\u0000${note}`;
    const t = now();
    const known = series.get(key);
    if (known && t - known.firstAt < SERIES_WINDOW_MS) {
      known.count++;
      if (t - known.lastPatchAt < SERIES_PATCH_INTERVAL_MS) return;
      known.lastPatchAt = t;
      await events.patchNamespacedEvent(
        {
          name: known.name,
          namespace: known.namespace,
          body: { series: { count: known.count, lastObservedTime: toMicroTime(t) } },
        },
        callOptions(undefined, PatchStrategy.MergePatch),
      );
      return;
    }
    const name = `${subject.name}.${randomBytes(8).toString("hex")}`;
    await events.createNamespacedEvent({
      namespace: subject.namespace,
      body: {
        metadata: { name, namespace: subject.namespace },
        eventTime: toMicroTime(t),
        reportingController: "podium.dev/electiongroup-controller",
        reportingInstance,
        action,
        reason,
        note: truncateUtf8(note, MAX_NOTE_BYTES),
        type,
        regarding: {
          apiVersion: subject.apiVersion,
          kind: subject.kind,
          namespace: subject.namespace,
          name: subject.name,
          uid: subject.uid,
        },
      },
    });
    if (series.size >= MAX_TRACKED) {
      const oldest = series.keys().next().value;
      if (oldest !== undefined) series.delete(oldest);
    }
    series.set(key, { name, namespace: subject.namespace, count: 1, firstAt: t, lastPatchAt: t });
  };

  return {
    record(subject, type, reason, action, note) {
      const p = send(subject, type, reason, action, note).catch((err: unknown) => {
        logger.warn(
          { err, reason, namespace: subject.namespace, name: subject.name },
          "event not recorded",
        );
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    async flush() {
      await Promise.allSettled([...pending]);
    },
  };
}

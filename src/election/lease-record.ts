import type { ElectionGroupSpec } from "../api/types.ts";
import type { LeaseView, LeaseWrite } from "./types.ts";

/** The Lease record podium writes for a Managed group (spec fields and the holder's uid). */
export interface LeaseRecord {
  holder: string;
  holderUID: string | undefined;
  durationSeconds: number;
  transitions: number;
  /** Epoch ms. */
  acquireTime: number;
  /** Epoch ms; unique per write, which is how podium recognises the echo of its own write. */
  renewTime: number;
}

/**
 * Returns the record that `write` puts at `now`, or undefined when it writes
 * nothing. A created Lease with a holder starts at leaseTransitions 1 (its
 * first election), without one at 0; a renewal keeps the transitions and
 * acquireTime of `current`; a release is client-go's release record: no
 * holder, a 1 s duration, transitions kept (only the next acquire counts).
 */
export function leaseRecord(
  spec: Pick<ElectionGroupSpec, "lease">,
  current: LeaseView | undefined,
  write: LeaseWrite,
  now: number,
): LeaseRecord | undefined {
  const base = { durationSeconds: spec.lease.durationSeconds, renewTime: now };
  switch (write.kind) {
    case "none":
      return undefined;
    case "create":
      return {
        ...base,
        holder: write.holder?.name ?? "",
        holderUID: write.holder?.uid,
        transitions: write.holder ? 1 : 0,
        acquireTime: now,
      };
    case "acquire":
      return {
        ...base,
        holder: write.holder.name,
        holderUID: write.holder.uid,
        transitions: write.transitions,
        acquireTime: now,
      };
    case "renew":
      return {
        ...base,
        holder: write.holder.name,
        holderUID: write.holder.uid,
        transitions: current?.transitions ?? 0,
        acquireTime: current?.acquireTime ?? now,
      };
    case "release":
      return {
        holder: "",
        holderUID: undefined,
        durationSeconds: 1,
        transitions: write.transitions,
        acquireTime: now,
        renewTime: now,
      };
  }
}

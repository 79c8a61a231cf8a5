import { V1MicroTime } from "@kubernetes/client-node";

/**
 * Returns `date` as a `V1MicroTime`, the only form the API server accepts for
 * MicroTime fields such as a Lease's `acquireTime` and `renewTime`: it
 * serialises with six fractional digits, where a plain `Date` gives three and is
 * refused with 400.
 */
export function toMicroTime(date: Date | number): V1MicroTime {
  return new V1MicroTime(typeof date === "number" ? date : date.getTime());
}

/**
 * Parses a MicroTime as the client hands it over (a string, despite its type,
 * or a Date) into epoch milliseconds; returns undefined for a missing or
 * unparseable value so that callers treat it as "never".
 */
export function parseMicroTime(value: Date | string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? undefined : ms;
  }
  // RFC 3339 with up to nine fractional digits; Date.parse keeps milliseconds.
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(
    value,
  );
  if (!match) return undefined;
  const [, base, fraction = "", zone] = match;
  const ms = Date.parse(`${base ?? ""}.${fraction.padEnd(3, "0").slice(0, 3)}${zone ?? ""}`);
  return Number.isNaN(ms) ? undefined : ms;
}

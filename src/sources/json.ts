/**
 * Readers of untyped JSON as the API server sends it, for the sources'
 * reductions: they never throw, and a field of the wrong type reads as absent.
 */
import { parseMicroTime } from "../kube/microtime.ts";

export type Json = Record<string, unknown>;

/** Returns `value` when it is a JSON object, else an empty one. */
export function obj(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Json)
    : {};
}

/** Returns `value` when it is a string. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Returns the string-valued entries of a JSON object (labels, annotations). */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(value))) if (typeof v === "string") out[k] = v;
  return out;
}

/** Returns a (Micro)Time as epoch ms. */
export function time(value: unknown): number | undefined {
  return typeof value === "string" || value instanceof Date ? parseMicroTime(value) : undefined;
}

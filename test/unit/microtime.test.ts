import { describe, expect, it } from "vitest";
import { parseMicroTime, toMicroTime } from "../../src/kube/microtime.ts";

describe("toMicroTime", () => {
  it("serialises with six fractional digits, as the API server requires", () => {
    const body = JSON.stringify({ renewTime: toMicroTime(Date.UTC(2026, 10, 25, 3, 4, 5, 123)) });
    expect(body).toBe('{"renewTime":"2026-11-25T03:04:05.123000Z"}');
  });
});

describe("parseMicroTime", () => {
  it.each([
    ["2026-11-25T03:04:05.123456Z", Date.UTC(2026, 10, 25, 3, 4, 5, 123)],
    ["2026-11-25T03:04:05Z", Date.UTC(2026, 10, 25, 3, 4, 5, 0)],
    ["2026-11-25T03:04:05.1Z", Date.UTC(2026, 10, 25, 3, 4, 5, 100)],
    ["2026-11-25T03:04:05.123456789Z", Date.UTC(2026, 10, 25, 3, 4, 5, 123)],
    ["2026-11-25T04:04:05.000000+01:00", Date.UTC(2026, 10, 25, 3, 4, 5, 0)],
  ])("parses %s", (text, expected) => {
    expect(parseMicroTime(text)).toBe(expected);
  });

  it.each([["not a time"], [""], ["2026-11-25 03:04:05Z"], ["2026-13-45T99:00:00Z"]])(
    "treats %j as missing",
    (text) => {
      expect(parseMicroTime(text)).toBeUndefined();
    },
  );

  it("accepts a Date and rejects an invalid one", () => {
    expect(parseMicroTime(new Date(5))).toBe(5);
    expect(parseMicroTime(new Date(Number.NaN))).toBeUndefined();
    expect(parseMicroTime(undefined)).toBeUndefined();
    expect(parseMicroTime(null)).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { truncateUtf8 } from "../../../src/observability/events.ts";

const bytes = (s: string): number => Buffer.byteLength(s, "utf8");

describe("truncateUtf8 (an Event note's 1024-byte limit)", () => {
  it("leaves a note that fits alone", () => {
    expect(truncateUtf8("spec.selector: must not be empty", 1024)).toBe(
      "spec.selector: must not be empty",
    );
  });

  it("cuts by bytes, not characters: 600 × 'é' is 1200 bytes", () => {
    const cut = truncateUtf8("é".repeat(600), 1024);
    expect(bytes(cut)).toBe(1024);
    expect(cut).toBe("é".repeat(512));
  });

  it("never splits a character, even one of four bytes", () => {
    const cut = truncateUtf8(`${"a".repeat(1022)}😀`, 1024);
    expect(cut).toBe("a".repeat(1022));
    expect(bytes(cut)).toBeLessThanOrEqual(1024);
  });
});

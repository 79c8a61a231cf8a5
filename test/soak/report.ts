import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as prettier from "prettier";
import { root } from "../support/install.ts";
import type { ReportInput } from "./analysis.ts";
import { soakMarkdown, soakSvg } from "./analysis.ts";
import type { Violation } from "./leaders.ts";

// Where a soak run's report goes: docs/soak/results.json (the raw samples),
// docs/soak/soak.svg and docs/soak.md, each formatted as the repository's
// Prettier configuration says, so that a run leaves `make lint` passing.

async function format(file: string, text: string): Promise<string> {
  const config = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...config, filepath: file });
}

/**
 * Writes the report of the run `input` with every violation the judges found
 * and the operator's first error lines; returns the Markdown and the files written.
 */
export async function writeSoakReport(
  input: ReportInput,
  violations: readonly Violation[],
  operatorErrorLines: readonly string[],
): Promise<{ markdown: string; files: string[] }> {
  const outDir = path.join(root, "docs/soak");
  mkdirSync(outDir, { recursive: true });
  const jsonFile = path.join(outDir, "results.json");
  const { samples: sampleList, ...summary } = input;
  writeFileSync(
    jsonFile,
    await format(
      jsonFile,
      JSON.stringify({
        ...summary,
        violationsAll: violations.map((v) => ({ at: new Date(v.at).toISOString(), what: v.what })),
        operatorErrorLines: operatorErrorLines.slice(0, 20),
        samples: sampleList,
      }),
    ),
  );
  const svgFile = path.join(outDir, "soak.svg");
  writeFileSync(
    svgFile,
    soakSvg(
      input.samples,
      input.warmupSeconds,
      `podium soak: ${String(input.groups)} groups, ${(input.churnSeconds / 60).toFixed(0)} min of churn (seed ${String(input.seed)})`,
    ),
  );
  const mdFile = path.join(root, "docs/soak.md");
  const markdown = await format(mdFile, soakMarkdown(input));
  writeFileSync(mdFile, markdown);
  return { markdown, files: [jsonFile, svgFile, mdFile] };
}

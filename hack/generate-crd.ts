/**
 * Writes crds/ from src/api/schema.ts (`make generate`); with --check, writes nothing and exits 1
 * when crds/ differs from what it would write, for CI.
 *
 *   node hack/generate-crd.ts [--check]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrdFiles } from "../src/api/crd.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const unknown = process.argv.slice(2).filter((a) => a !== "--check");
if (unknown.length > 0) {
  console.error(`usage: node hack/generate-crd.ts [--check] (unknown: ${unknown.join(" ")})`);
  process.exit(2);
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

const stale: string[] = [];
for (const [file, content] of Object.entries(renderCrdFiles())) {
  const path = join(root, file);
  if (read(path) === content) continue;
  stale.push(file);
  if (!check) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    console.log(`wrote ${file}`);
  }
}

if (check && stale.length > 0) {
  console.error(
    `${stale.join(", ")} out of date with src/api/schema.ts; run \`make generate\` (node hack/generate-crd.ts) and commit the result.`,
  );
  process.exit(1);
}

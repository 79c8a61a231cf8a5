/**
 * Builds the podium-elector package (packages/elector/) into build/elector/package/ and packs it
 * into build/elector/podium-elector-<version>.tgz (`make elector-pack`); prints the tarball's path.
 *
 * The package is src/leaderelection/ plus the kube/ files it imports, compiled by
 * packages/elector/tsconfig.json. Before packing, this checks what a user would otherwise find
 * at run time: every import of the compiled files resolves inside the package or names a
 * declared dependency, and the main entry never loads prom-client (an optional peer).
 *
 *   node hack/elector-pack.ts [--out DIR]
 */
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outArg = process.argv.indexOf("--out");
const out = resolve(outArg >= 0 ? (process.argv[outArg + 1] ?? "") : join(root, "build/elector"));
const pkgDir = join(out, "package");
const source = join(root, "packages/elector");

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
}
const manifest = JSON.parse(readFileSync(join(source, "package.json"), "utf8")) as Manifest;

rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    join(root, "node_modules/typescript/bin/tsc"),
    "-p",
    join(source, "tsconfig.json"),
    "--outDir",
    join(pkgDir, "dist"),
  ],
  { stdio: "inherit" },
);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)"([^"]+)"/g;
const specifiers = (text: string): string[] => [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? "");

const errors: string[] = [];
const declared = new Set(Object.keys(manifest.dependencies ?? {}));
const optional = new Set(Object.keys(manifest.peerDependencies ?? {}));
for (const file of files(join(pkgDir, "dist"))) {
  let text = readFileSync(file, "utf8");
  const name = relative(pkgDir, file);
  if (file.endsWith(".d.ts")) {
    // tsc keeps src/'s `.ts` extensions in declarations; `.js` is what every
    // consumer's moduleResolution (node16, nodenext, bundler) resolves.
    text = text.replace(/((?:from|import)\s*\(?\s*"\.\.?\/[^"]*)\.ts"/g, '$1.js"');
    writeFileSync(file, text);
  }
  for (const spec of specifiers(text)) {
    if (spec.startsWith(".")) {
      const target = resolve(dirname(file), spec);
      const exists = file.endsWith(".d.ts")
        ? existsSync(target.replace(/\.js$/, ".d.ts"))
        : existsSync(target);
      if (!exists) errors.push(`${name}: ${spec} is not in the package`);
    } else if (spec.startsWith("node:") || declared.has(spec)) {
      continue;
    } else if (optional.has(spec)) {
      if (!/(^|\/)(prometheus|metrics)\.(js|d\.ts)$/.test(name)) {
        errors.push(`${name}: imports the optional ${spec}; only the ./prometheus entry may`);
      }
    } else {
      errors.push(`${name}: imports ${spec}, which the package does not declare`);
    }
  }
}

// The main entry's import closure, followed through the package's own files.
const seen = new Set<string>();
const queue = [join(pkgDir, "dist/leaderelection/index.js")];
for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
  if (seen.has(file) || !existsSync(file)) continue;
  seen.add(file);
  for (const spec of specifiers(readFileSync(file, "utf8"))) {
    if (spec.startsWith(".")) queue.push(resolve(dirname(file), spec));
    else if (optional.has(spec)) errors.push(`the main entry loads ${spec} through ${file}`);
  }
}
copyFileSync(join(source, "package.json"), join(pkgDir, "package.json"));
copyFileSync(join(source, "README.md"), join(pkgDir, "README.md"));
for (const [entry, target] of Object.entries(manifest.exports)) {
  for (const path of typeof target === "string" ? [target] : [target.types, target.default]) {
    if (!existsSync(join(pkgDir, path))) errors.push(`exports["${entry}"]: ${path} was not built`);
  }
}
if (errors.length > 0) {
  console.error(`elector-pack: the package is not self-contained:\n  ${errors.join("\n  ")}`);
  process.exit(1);
}

const packed = JSON.parse(
  execFileSync("npm", ["pack", "--json", "--pack-destination", out], {
    cwd: pkgDir,
    encoding: "utf8",
  }),
) as { filename: string; size: number; entryCount: number }[];
const tarball = packed[0];
if (tarball === undefined) throw new Error("npm pack reported no tarball");
console.error(
  `elector-pack: ${manifest.name}@${manifest.version}: ${tarball.entryCount} files, ${tarball.size} bytes`,
);
console.log(join(out, tarball.filename));

import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { root } from "./install.ts";

/**
 * Lockfiles for scratch apps that install offline from the npm cache.
 *
 * The cache holds what `npm ci` (`make deps`) read for the repo's lockfile,
 * which is not always what `npm install` needs to resolve a range: here the
 * registry's document for @opentelemetry/api (a dependency of prom-client)
 * was missing, and `npm install --offline prom-client@15.1.3` failed with
 * ENOTCACHED. So a scratch app gets a package-lock.json: the entries of the
 * packages it names and of everything they pull in, copied from the repo's
 * lockfile with their layout, versions and integrity. npm then resolves
 * nothing and reads the same cache entries `npm ci` did.
 */
interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface Lockfile {
  packages: Record<string, LockEntry>;
}

/** A package the app installs from a local tarball: its manifest fields and `npm pack`'s integrity. */
export interface LocalTarball {
  name: string;
  version: string;
  /** The tarball's path relative to the app's folder. */
  file: string;
  integrity: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The folder that holds the package at `key` ("node_modules/a/node_modules/b" → "node_modules/a"). */
function parentOf(key: string): string {
  const at = key.lastIndexOf("/node_modules/");
  return at < 0 ? "" : key.slice(0, at);
}

/**
 * Writes package.json and package-lock.json into `app` for `tarball` plus
 * `extra` (names of the repo's dependencies, at the repo's versions), so that
 * `npm ci --offline` installs exactly those and their dependencies.
 */
export function writeOfflineApp(app: string, tarball: LocalTarball, extra: string[] = []): void {
  const repo = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as Lockfile;
  const packages: Record<string, LockEntry> = {};
  const rootDeps: Record<string, string> = { [tarball.name]: `file:${tarball.file}` };
  for (const name of extra) {
    const version = repo.packages[`node_modules/${name}`]?.version;
    if (version === undefined) throw new Error(`${name} is not in the repo's package-lock.json`);
    rootDeps[name] = version;
  }

  const queue: [from: string, name: string, optional: boolean][] = [
    ...Object.keys(tarball.dependencies ?? {}).map((n): [string, string, boolean] => [
      "",
      n,
      false,
    ]),
    ...extra.map((n): [string, string, boolean] => ["", n, false]),
  ];
  for (let item = queue.pop(); item !== undefined; item = queue.pop()) {
    const [from, name, optional] = item;
    let key: string | undefined;
    for (let base = from; ; base = parentOf(base)) {
      const candidate = `${base === "" ? "" : `${base}/`}node_modules/${name}`;
      if (repo.packages[candidate] !== undefined) {
        key = candidate;
        break;
      }
      if (base === "") break;
    }
    if (key === undefined) {
      if (optional) continue;
      throw new Error(`${name} (needed by ${from || "the app"}) is not in the repo's lockfile`);
    }
    if (packages[key] !== undefined) continue;
    // Flags of the repo's tree (dev, devOptional) do not describe the app's.
    const entry: LockEntry = { ...repo.packages[key] };
    delete entry.dev;
    delete entry.devOptional;
    packages[key] = entry;
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push([key, dep, false]);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) queue.push([key, dep, true]);
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      queue.push([key, dep, entry.peerDependenciesMeta?.[dep]?.optional === true]);
    }
  }

  const manifest = { name: path.basename(app), version: "0.0.0", private: true, type: "module" };
  const lock = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: manifest.name, version: manifest.version, dependencies: rootDeps },
      [`node_modules/${tarball.name}`]: {
        version: tarball.version,
        resolved: `file:${tarball.file}`,
        integrity: tarball.integrity,
        ...(tarball.dependencies && { dependencies: tarball.dependencies }),
        ...(tarball.peerDependencies && { peerDependencies: tarball.peerDependencies }),
        ...(tarball.peerDependenciesMeta && { peerDependenciesMeta: tarball.peerDependenciesMeta }),
      },
      ...packages,
    },
  };
  writeFileSync(
    path.join(app, "package.json"),
    `${JSON.stringify({ ...manifest, dependencies: rootDeps }, null, 2)}\n`,
  );
  writeFileSync(path.join(app, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
}

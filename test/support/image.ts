import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { root } from "./install.ts";
import { waitFor } from "./kube.ts";

/** What image.json (written by hack/image.sh) says about a build. */
export interface ImageSummary {
  reference: string;
  digest: string;
  compressedBytes: number;
  uncompressedBytes: number;
}

/** The parts of an OCI image config a container runtime obeys. */
export interface ImageConfig {
  os: string;
  architecture: string;
  config: {
    User: string;
    Entrypoint: string[];
    WorkingDir: string;
    Env: string[];
    Labels: Record<string, string>;
  };
}

interface Descriptor {
  digest: string;
}

/** The path of crane as `make image-tools` built it. */
export function cranePath(): string {
  return execFileSync(path.join(root, "hack/build-image-tools.sh"), ["--print"], {
    encoding: "utf8",
  }).trim();
}

/**
 * Runs `hack/image.sh build` into `outDir` with downloads forbidden (the
 * inputs come from the cache `make image-tools` filled) and returns its summary.
 */
export function buildImage(outDir: string, source: string): ImageSummary {
  execFileSync(path.join(root, "hack/image.sh"), ["build"], {
    cwd: root,
    env: { ...process.env, IMAGE_DIR: outDir, PODIUM_IMAGE_OFFLINE: "1", IMAGE_SOURCE: source },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return JSON.parse(readFileSync(path.join(outDir, "image.json"), "utf8")) as ImageSummary;
}

function blob(layout: string, digest: string): string {
  return path.join(layout, "blobs", "sha256", digest.replace(/^sha256:/, ""));
}

/** Reads the image of an OCI layout through index.json, as a runtime does. */
export function readLayout(layout: string): {
  manifestDigest: string;
  config: ImageConfig;
  layers: string[];
} {
  const index = JSON.parse(readFileSync(path.join(layout, "index.json"), "utf8")) as {
    manifests: Descriptor[];
  };
  const manifestDigest = index.manifests[0]?.digest;
  if (manifestDigest === undefined) throw new Error(`${layout}: index.json lists no manifest`);
  const manifest = JSON.parse(readFileSync(blob(layout, manifestDigest), "utf8")) as {
    config: Descriptor;
    layers: Descriptor[];
  };
  return {
    manifestDigest,
    config: JSON.parse(readFileSync(blob(layout, manifest.config.digest), "utf8")) as ImageConfig,
    layers: manifest.layers.map((l) => blob(layout, l.digest)),
  };
}

/** Unpacks the layers in order into `rootfs` (owners kept: needs root), as a runtime would. */
export function unpack(layers: readonly string[], rootfs: string): void {
  mkdirSync(rootfs, { recursive: true });
  for (const layer of layers) {
    execFileSync("tar", ["-xzf", layer, "-C", rootfs, "--numeric-owner", "--same-permissions"]);
  }
}

/**
 * Starts the image's entrypoint with `args` like a container runtime: in new
 * mount and PID namespaces (so the mounts and the process die with it), with
 * /proc and the usual /dev nodes, the root file system read-only (as the
 * Deployment's readOnlyRootFilesystem), chrooted as the image's user, with only
 * the image's environment plus `env`. The host's network namespace is kept, so
 * the API server on 127.0.0.1 is reachable and nothing else is added.
 */
export function runImage(
  rootfs: string,
  config: ImageConfig,
  args: readonly string[],
  env: Record<string, string> = {},
): ChildProcess {
  const user = config.config.User;
  const script = [
    "set -eu",
    'r="$1"; shift',
    'mkdir -p "$r/proc" "$r/dev"',
    'mount --bind "$r" "$r"',
    'mount -t proc -o nosuid,nodev,noexec proc "$r/proc"',
    'mount -t tmpfs -o nosuid,mode=755 tmpfs "$r/dev"',
    'for d in null zero random urandom; do touch "$r/dev/$d"; mount --bind "/dev/$d" "$r/dev/$d"; done',
    'mount -o remount,bind,ro "$r"',
    `exec /usr/bin/env -u IMAGE_PATH PATH="$IMAGE_PATH" /usr/sbin/chroot --userspec=${user} "$r" "$@"`,
  ].join("\n");
  const environment = Object.fromEntries(
    [...config.config.Env, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].map((kv) => {
      const i = kv.indexOf("=");
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
  return spawn(
    "unshare",
    [
      "--mount",
      "--pid",
      "--fork",
      "--kill-child",
      "--propagation=private",
      "--",
      "sh",
      "-c",
      script,
      "sh",
      rootfs,
      ...config.config.Entrypoint,
      ...args,
    ],
    // chroot and sh come from the host; the image itself has no shell.
    {
      env: {
        ...environment,
        IMAGE_PATH: environment.PATH ?? "",
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      },
      stdio: "pipe",
    },
  );
}

/** Runs the image to completion and returns its exit code and output. */
export async function runImageToEnd(
  rootfs: string,
  config: ImageConfig,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runImage(rootfs, config, args);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout, stderr };
}

/**
 * The host PID of the image's entrypoint under `unshare` (its grandchild:
 * unshare forks sh, which execs chroot, which execs the entrypoint).
 */
export async function entrypointPid(unsharePid: number): Promise<number> {
  return waitFor("the entrypoint's process", () => {
    const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim();
    const pid = Number(children.split(" ")[0]);
    if (!pid) return Promise.resolve(undefined);
    const exe = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    return Promise.resolve(exe?.endsWith("/node") ? pid : undefined);
  });
}

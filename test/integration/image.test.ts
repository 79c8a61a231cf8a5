import { execFileSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { load } from "js-yaml";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { kubectl, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, root } from "../support/install.ts";
import {
  buildImage,
  cranePath,
  entrypointPid,
  readLayout,
  runImage,
  runImageToEnd,
  unpack,
} from "../support/image.ts";
import type { ImageConfig, ImageSummary } from "../support/image.ts";
import { createGroup, teardown, waitForLeader } from "../support/groups.ts";
import { deployApp } from "../support/pods.ts";

const SOURCE = "https://example.invalid/podium.git";
const VERSION = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
).version;

// `make image` as a user runs it, then the image as a container runtime would:
// built twice to the same digest, read through its OCI layout, unpacked, and its
// entrypoint run chrooted as its user against the local cluster. Needs root
// (unshare, mount, chroot) and the inputs `make image-tools` caches.
describe("the OCI image make image builds", () => {
  let work: string;
  let first: ImageSummary;
  let second: ImageSummary;
  let config: ImageConfig;
  let rootfs: string;

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), "podium-image-test-"));
    first = buildImage(path.join(work, "a"), SOURCE);
    second = buildImage(path.join(work, "b"), SOURCE);
    const layout = readLayout(path.join(work, "a", "oci"));
    config = layout.config;
    rootfs = path.join(work, "rootfs");
    unpack(layout.layers, rootfs);
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("has the same digest when built twice from the same checkout", () => {
    expect(second.digest).toBe(first.digest);
    expect(first.reference).toBe(`podium:${VERSION}`);
    expect(readLayout(path.join(work, "a", "oci")).manifestDigest).toBe(first.digest);
    console.log(
      `image ${first.digest}: ${(first.compressedBytes / 1e6).toFixed(1)} MB compressed, ${(first.uncompressedBytes / 1e6).toFixed(1)} MB unpacked`,
    );
  });

  it("is a docker load tarball crane accepts, with the config a runtime needs", () => {
    const out = execFileSync(
      cranePath(),
      ["validate", "--tarball", path.join(work, "a", `podium-${VERSION}.tar`)],
      {
        encoding: "utf8",
      },
    );
    expect(out).toContain("PASS");
    expect(config).toMatchObject({ os: "linux", architecture: "amd64" });
    expect(config.config).toMatchObject({
      User: "65532:65532",
      Entrypoint: ["/nodejs/bin/node", "/app/dist/main.js"],
      WorkingDir: "/app",
    });
    const revision = execFileSync("git", ["rev-parse", "HEAD"], {
      cwd: root,
      encoding: "utf8",
    }).trim();
    expect(config.config.Labels).toMatchObject({
      "org.opencontainers.image.version": VERSION,
      "org.opencontainers.image.revision": revision,
      "org.opencontainers.image.source": SOURCE,
    });
  });

  it("has no shell", () => {
    for (const shell of ["bin/sh", "bin/bash", "usr/bin/sh", "usr/bin/bash", "bin/busybox"]) {
      expect(() => execFileSync("test", ["-e", path.join(rootfs, shell)])).toThrow();
    }
  });

  it("runs its entrypoint with --version, chrooted as uid 65532", async () => {
    const { code, stdout, stderr } = await runImageToEnd(rootfs, config, ["--version"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(`podium ${VERSION}`);
  });

  describe("as the operator, with its ServiceAccount's token", () => {
    let clients: Clients;
    let namespace: string;
    let removeNamespace: () => Promise<void>;
    let operator: ChildProcess | undefined;
    let output = "";

    beforeAll(async () => {
      const admin = inject("kubeconfig");
      clients = connect(admin);
      ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "image-run"));
      // What the Deployment's projected volume mounts: token, ca.crt, namespace.
      const sa = path.join(rootfs, "var/run/secrets/kubernetes.io/serviceaccount");
      mkdirSync(sa, { recursive: true });
      const token = kubectl(admin, [
        "create",
        "token",
        OPERATOR_SERVICE_ACCOUNT,
        "-n",
        OPERATOR_NAMESPACE,
        "--duration=1h",
      ]).trim();
      const view = load(kubectl(admin, ["config", "view", "--raw", "--minify", "--flatten"])) as {
        clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
      };
      const cluster = view.clusters[0]?.cluster;
      if (!cluster) throw new Error("no cluster in the admin kubeconfig");
      const server = new URL(cluster.server);
      // The network rule: the operator reaches only the API server on this machine.
      expect(server.hostname).toBe("127.0.0.1");
      writeFileSync(path.join(sa, "token"), token);
      writeFileSync(
        path.join(sa, "ca.crt"),
        Buffer.from(cluster["certificate-authority-data"], "base64"),
      );
      writeFileSync(path.join(sa, "namespace"), OPERATOR_NAMESPACE);
      operator = runImage(
        rootfs,
        config,
        [`--namespace=${namespace}`, "--metrics-bind-address=0", "--health-probe-bind-address=0"],
        {
          KUBERNETES_SERVICE_HOST: server.hostname,
          KUBERNETES_SERVICE_PORT: server.port,
          POD_NAME: "podium-image-test",
        },
      );
      operator.stdout?.on("data", (d: Buffer) => (output += d.toString()));
      operator.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    }, 120_000);

    afterAll(async () => {
      const child = operator;
      const stop = async (): Promise<void> => {
        if (child?.pid === undefined || child.exitCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL"); // --kill-child takes the namespace's processes with it
        await exited;
      };
      await teardown(clients, namespace, stop, removeNamespace);
    });

    it("elects a leader for an ElectionGroup", async () => {
      await deployApp(clients, namespace, "img", 2);
      await createGroup(clients, namespace, "img", { selector: { matchLabels: { app: "img" } } });
      const holder = await waitForLeader(clients, namespace, "img", "app=img").catch(
        (err: unknown) => {
          throw new Error(`${String(err)}\noperator output:\n${output}`);
        },
      );
      expect(holder).toMatch(/^img-/);
      expect(output).toContain("podium started");
    });

    it("stops cleanly on SIGTERM, as when its pod is deleted", async () => {
      const child = operator;
      if (child?.pid === undefined) throw new Error("the operator did not start");
      // Its groups go first, while it can still remove their finalizers.
      await teardown(
        clients,
        namespace,
        () => Promise.resolve(),
        () => Promise.resolve(),
      );
      const pid = await entrypointPid(child.pid);
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      process.kill(pid, "SIGTERM");
      const code = await waitFor(
        "the operator to exit",
        async () => {
          const c = await Promise.race([
            exited,
            new Promise<undefined>((r) => setTimeout(r, 500, undefined)),
          ]);
          return c === undefined ? undefined : { c };
        },
        { timeoutMs: 30_000 },
      );
      expect(code.c).toBe(0);
      expect(output).toContain("shutting down");
    });
  });
});

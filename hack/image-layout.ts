// Writes podium's image as an OCI image layout from the layers hack/image.sh
// built: the config (platform, entrypoint, user, labels), the manifest,
// index.json, and a manifest.json beside them so that the same folder, tarred,
// is also what `docker load` reads (as `docker save` writes since Docker 25).
// Every byte follows from the arguments, so the same layers give the same digest.
//
//   node hack/image-layout.ts --out DIR --epoch S --version V --revision SHA --source URL
//     --node V --packages "deb-names" --layer="DIFFID GZPATH TARBYTES" ...
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

/** The image's name in a docker load tarball and containerd; config/manager/deployment.yaml uses it. */
const REPOSITORY = "podium";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    epoch: { type: "string" },
    version: { type: "string" },
    revision: { type: "string" },
    source: { type: "string", default: "" },
    node: { type: "string" },
    packages: { type: "string", default: "" },
    layer: { type: "string", multiple: true },
  },
  strict: true,
});

function required(name: keyof typeof values): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new Error(`image-layout: --${name} is required`);
  return v;
}

const out = required("out");
const epoch = Number(required("epoch"));
if (!Number.isInteger(epoch)) throw new Error("image-layout: --epoch must be whole seconds");
const version = required("version");
const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
const oci = path.join(out, "oci");
const blobs = path.join(oci, "blobs", "sha256");
mkdirSync(blobs, { recursive: true });

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Stores `data` as a blob and returns its descriptor. */
function writeBlob(mediaType: string, data: Buffer): Descriptor {
  const hex = sha256(data);
  writeFileSync(path.join(blobs, hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

/** JSON with sorted keys and no spaces, so the bytes do not depend on insertion order. */
function canonical(value: unknown): Buffer {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return Buffer.from(JSON.stringify(sort(value)));
}

const layerNames = ["base: glibc, libstdc++, libgcc, CA bundle, users", "Node.js runtime"];
layerNames.push("production node_modules", "podium dist/ and package.json");
const layers = (values.layer ?? []).map((spec, i) => {
  const [diffId, gz, tarBytes] = spec.split(" ");
  if (diffId === undefined || gz === undefined || tarBytes === undefined) {
    throw new Error(
      `image-layout: --layer ${JSON.stringify(spec)} is not "DIFFID GZPATH TARBYTES"`,
    );
  }
  const hex = sha256(readFileSync(gz));
  copyFileSync(gz, path.join(blobs, hex));
  return {
    descriptor: {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: `sha256:${hex}`,
      size: statSync(gz).size,
    },
    diffId: `sha256:${diffId}`,
    tarBytes: Number(tarBytes),
    comment: layerNames[i] ?? `layer ${String(i + 1)}`,
  };
});
if (layers.length === 0) throw new Error("image-layout: no --layer given");

const labels: Record<string, string> = {
  "org.opencontainers.image.title": "podium",
  "org.opencontainers.image.description": "Kubernetes operator that gives any set of pods a leader",
  "org.opencontainers.image.licenses": "Apache-2.0",
  "org.opencontainers.image.version": version,
  "org.opencontainers.image.revision": required("revision"),
  "org.opencontainers.image.created": created,
};
if (values.source) labels["org.opencontainers.image.source"] = values.source;

const config = writeBlob(
  "application/vnd.oci.image.config.v1+json",
  canonical({
    created,
    architecture: "amd64",
    os: "linux",
    config: {
      // The same paths, user and entrypoint as the Dockerfile's image.
      User: "65532:65532",
      Entrypoint: ["/nodejs/bin/node", "/app/dist/main.js"],
      WorkingDir: "/app",
      Env: [
        "PATH=/nodejs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "NODE_ENV=production",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
      ],
      ExposedPorts: { "8080/tcp": {}, "8081/tcp": {} },
      Labels: labels,
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({
      created,
      created_by: "hack/image.sh",
      comment: l.comment,
    })),
  }),
);

const manifest = writeBlob(
  "application/vnd.oci.image.manifest.v1+json",
  canonical({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config,
    layers: layers.map((l) => l.descriptor),
    annotations: {
      "org.opencontainers.image.created": created,
      "org.opencontainers.image.version": version,
      "org.opencontainers.image.revision": required("revision"),
    },
  }),
);

const reference = `${REPOSITORY}:${version}`;
writeFileSync(path.join(oci, "oci-layout"), canonical({ imageLayoutVersion: "1.0.0" }));
writeFileSync(
  path.join(oci, "index.json"),
  canonical({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        ...manifest,
        platform: { architecture: "amd64", os: "linux" },
        annotations: {
          "io.containerd.image.name": `docker.io/library/${reference}`,
          "org.opencontainers.image.ref.name": version,
        },
      },
    ],
  }),
);
// What docker load reads: paths of the config and the (gzipped) layers, and the tag.
writeFileSync(
  path.join(oci, "manifest.json"),
  canonical([
    {
      Config: `blobs/sha256/${config.digest.slice(7)}`,
      RepoTags: [reference],
      Layers: layers.map((l) => `blobs/sha256/${l.descriptor.digest.slice(7)}`),
    },
  ]),
);

const summary = {
  reference,
  digest: manifest.digest,
  compressedBytes: config.size + layers.reduce((n, l) => n + l.descriptor.size, 0),
  uncompressedBytes: layers.reduce((n, l) => n + l.tarBytes, 0),
  created,
  revision: required("revision"),
  source: values.source,
  node: required("node"),
  debianPackages: values.packages.split(" ").filter((p) => p !== ""),
  layers: layers.map((l) => ({ ...l.descriptor, diffId: l.diffId, comment: l.comment })),
};
writeFileSync(path.join(out, "image.json"), JSON.stringify(summary, null, 2) + "\n");

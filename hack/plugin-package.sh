#!/usr/bin/env bash
# Packages the kubectl plugin self-contained: dist/ (run `make build` first), the production
# node_modules (npm ci --omit=dev --offline: from the npm cache `make deps` filled) and a
# launcher, `kubectl-podium`, that runs it with Node >= 24. Then either
#
#   hack/plugin-package.sh --install PREFIX   # copy to PREFIX/lib/kubectl-podium, link PREFIX/bin/kubectl-podium
#   hack/plugin-package.sh --archive          # krew: BUILD/kubectl-podium-vVERSION.tar.gz and BUILD/podium.yaml
#
# BUILD is build/plugin (PLUGIN_BUILD_DIR overrides). The archive is reproducible (sorted
# entries, mtime 0, owner 0) and has no native code, so one file serves every platform.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${PLUGIN_BUILD_DIR:-$root/build/plugin}
log() { printf '[plugin-package] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mode=${1:-}
case "$mode" in
  --install) prefix=${2:-}; [ -n "$prefix" ] || die "--install needs a PREFIX" ;;
  --archive) ;;
  *) die "usage: $0 --install PREFIX | --archive" ;;
esac
[ -f "$root/dist/cli/kubectl-podium.js" ] || die "no dist/cli/kubectl-podium.js: run make build first"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' ||
  die "node on PATH is $(node --version), the plugin needs >= 24 (make puts one first on PATH)"
version=$(node -p 'require(process.argv[1]).version' "$root/package.json")

stage="$out/kubectl-podium"
rm -rf "$stage"
mkdir -p "$stage/lib"
cp -R "$root/dist" "$stage/lib/dist"
find "$stage/lib/dist" -name '*.map' -delete
cp "$root/package.json" "$root/package-lock.json" "$stage/lib/"
(cd "$stage/lib" && npm ci --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
rm "$stage/lib/package-lock.json"
# krew's unpacker takes regular files only, and nothing runs the bins' links.
rm -rf "$stage/lib/node_modules/.bin"
links=$(find "$stage" -type l)
[ -z "$links" ] || die "symbolic links in the package, which krew cannot unpack: $links"
# Types and source maps are not run: they are two thirds of client-node's 65 MB.
find "$stage/lib/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
cp "$here/krew/kubectl-podium.sh" "$stage/kubectl-podium"
chmod 0755 "$stage/kubectl-podium"

if [ "$mode" = --install ]; then
  mkdir -p "$prefix/bin" "$prefix/lib"
  target="$prefix/lib/kubectl-podium"
  rm -rf "$target"
  cp -R "$stage" "$target"
  # The Node that ran the install (>= 24, checked above): the launcher's last resort.
  command -v node >"$target/node-path"
  ln -sfn "../lib/kubectl-podium/kubectl-podium" "$prefix/bin/kubectl-podium"
  log "installed $prefix/bin/kubectl-podium (podium $version); kubectl finds it when $prefix/bin is on PATH"
  exit 0
fi

archive="$out/kubectl-podium-v$version.tar.gz"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf - . | gzip -n -9 >"$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
sed -e "s/@VERSION@/$version/g" -e "s/@SHA256@/$sha/g" "$here/krew/podium.yaml" >"$out/podium.yaml"
log "wrote $archive ($(du -k "$archive" | cut -f1) kB, sha256 $sha) and $out/podium.yaml"
echo "$archive"

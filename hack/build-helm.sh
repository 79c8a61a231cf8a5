#!/usr/bin/env bash
# Builds Helm (the chart's lint, render and install tests, and `make chart-lint`)
# from its Go module at HELM_VERSION (hack/versions.env) into a cache outside the
# checkout, keyed by version, and prints the binary's path. A binary that is
# already there is not rebuilt.
#
#   hack/build-helm.sh            # build it if missing, print its path
#   hack/build-helm.sh --print    # only print its path
#
# Cold (empty Go build cache) the build takes about 400 s on 2 loaded cores; with
# a warm cache about 10 s. PODIUM_CACHE_DIR overrides the cache root, as for
# hack/build-components.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${PODIUM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podium}
bin_dir="$cache_root/helm-${HELM_VERSION}/bin"
out="$bin_dir/helm"
if [ "${1:-}" = "--print" ]; then echo "$out"; exit 0; fi
if [ -x "$out" ]; then echo "$out"; exit 0; fi

log() { printf '[build-helm] %s\n' "$*" >&2; }
# `go install module@version` builds with Helm's own go.mod (no replace directives in it),
# so no builder module of ours is needed.
export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
mkdir -p "$bin_dir"
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "building helm ${HELM_VERSION} (cold: about 7 minutes on 2 cores; with a warm Go build cache: seconds)"
GOBIN="$tmp" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}"
mv -f "$tmp/helm" "$out"
log "built helm ${HELM_VERSION} in $(($(date +%s) - start)) s"
echo "$out"

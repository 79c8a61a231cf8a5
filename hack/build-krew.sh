#!/usr/bin/env bash
# Builds krew (sigs.k8s.io/krew, KREW_VERSION of versions.env) from its Go module into the
# component cache as kubectl-krew, once per version, and prints its bin dir. The plugin test
# installs `kubectl podium` through it from the krew archive (make plugin-archive).
#
#   hack/build-krew.sh [--print]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache_root=${PODIUM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podium}
bin_dir="$cache_root/krew-${KREW_VERSION}/bin"
if [ "${1:-}" = "--print" ] || [ -x "$bin_dir/kubectl-krew" ]; then echo "$bin_dir"; exit 0; fi

export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0
mkdir -p "$bin_dir"
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '[build-krew] building krew %s\n' "$KREW_VERSION" >&2
GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}"
mv -f "$tmp/krew" "$bin_dir/kubectl-krew"
echo "$bin_dir"

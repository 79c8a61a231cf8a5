#!/usr/bin/env bash
# Builds the client-go leader-election candidate that the interop tests run
# (test/clientgo, real client-go) into the component cache, outside the
# checkout, and prints its path. The binary is rebuilt only when it is missing
# or its stamp (the client-go version and a hash of main.go, go.mod and go.sum)
# differs, so a client-go bump or an edit of the program rebuilds it.
#
#   hack/build-test-tools.sh            # build if needed, print the binary's path
#   hack/build-test-tools.sh --print    # only print the path
#
# PODIUM_CACHE_DIR overrides the cache root, as for hack/build-components.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../test/clientgo"
bin_dir=$("$here/build-components.sh" --print)
out="$bin_dir/clientgo-candidate"
if [ "${1:-}" = "--print" ]; then echo "$out"; exit 0; fi

log() { printf '[build-test-tools] %s\n' "$*" >&2; }

client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$src/go.mod")
[ -n "$client_go" ] || { log "error: no k8s.io/client-go requirement in $src/go.mod"; exit 1; }
stamp="client-go $client_go $(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)"

if [ -x "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out"
  exit 0
fi

export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
mkdir -p "$bin_dir"
tmp=$(mktemp -d "$bin_dir/.build-test-tools.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "building clientgo-candidate (client-go $client_go)"
(cd "$src" && go build -trimpath -ldflags "-s -w" -o "$tmp/clientgo-candidate" .)
mv -f "$tmp/clientgo-candidate" "$out"
echo "$stamp" >"$out.stamp"
log "built clientgo-candidate in $(($(date +%s) - start)) s"
echo "$out"

#!/usr/bin/env bash
# Builds the leader-election programs that the interop tests run into the
# component cache, outside the checkout, and prints the path of one of them:
#
#   clientgo-candidate          test/clientgo: leaderelection.RunOrDie on a LeaseLock (real client-go)
#   controllerruntime-manager   test/controllerruntime: a kubebuilder-style ctrl.NewManager
#                               with LeaderElection true (real controller-runtime)
#
# A binary is rebuilt only when it is missing or its stamp (the client-go and
# controller-runtime versions and a hash of main.go, go.mod and go.sum)
# differs, so a library bump or an edit of the program rebuilds it.
#
#   hack/build-test-tools.sh [TOOL]           # build both if needed, print TOOL's path
#   hack/build-test-tools.sh --print [TOOL]   # only print the path
#
# TOOL defaults to clientgo-candidate. PODIUM_CACHE_DIR overrides the cache
# root, as for hack/build-components.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin_dir=$("$here/build-components.sh" --print)
print_only=false
if [ "${1:-}" = "--print" ]; then print_only=true; shift; fi
tool=${1:-clientgo-candidate}
case "$tool" in
  clientgo-candidate | controllerruntime-manager) ;;
  *) printf '[build-test-tools] error: unknown tool %s\n' "$tool" >&2; exit 2 ;;
esac
if $print_only; then echo "$bin_dir/$tool"; exit 0; fi

log() { printf '[build-test-tools] %s\n' "$*" >&2; }
export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
mkdir -p "$bin_dir"

# build NAME SOURCE_DIR: builds the Go module in SOURCE_DIR into $bin_dir/NAME unless its stamp matches.
build() {
  local name=$1 src=$2 out="$bin_dir/$1" versions stamp tmp start
  local client_go controller_runtime
  # A requirement is "MODULE VERSION" inside a require block, or "require MODULE VERSION".
  client_go=$(awk '{ for (i = 1; i < NF; i++) if ($i == "k8s.io/client-go") { print $(i + 1); exit } }' "$src/go.mod")
  controller_runtime=$(awk '{ for (i = 1; i < NF; i++) if ($i == "sigs.k8s.io/controller-runtime") { print $(i + 1); exit } }' "$src/go.mod")
  [ -n "$client_go" ] || { log "error: no k8s.io/client-go requirement in $src/go.mod"; exit 1; }
  # The client-go candidate's stamp keeps the form it always had, so a checkout with the older
  # script and this one do not rebuild it in turn on a shared cache.
  versions="client-go $client_go${controller_runtime:+ controller-runtime $controller_runtime}"
  stamp="$versions $(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)"
  if [ -x "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then return; fi
  tmp=$(mktemp -d "$bin_dir/.build-test-tools.XXXXXX")
  start=$(date +%s)
  log "building $name ($versions)"
  if ! (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$tmp/$name" .); then
    rm -rf "$tmp"
    exit 1
  fi
  mv -f "$tmp/$name" "$out"
  rm -rf "$tmp"
  echo "$stamp" >"$out.stamp"
  log "built $name in $(($(date +%s) - start)) s"
}

build clientgo-candidate "$here/../test/clientgo"
build controllerruntime-manager "$here/../test/controllerruntime"
echo "$bin_dir/$tool"

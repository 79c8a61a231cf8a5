#!/usr/bin/env bash
# Builds the local control plane's binaries from the pinned Go modules under
# hack/tools/ into a cache outside the checkout, keyed by version, and prints
# the directory that holds them. A binary that is already there is not rebuilt.
#
#   hack/build-components.sh            # build what is missing, print the bin dir
#   hack/build-components.sh --print    # only print the bin dir
#
# PODIUM_CACHE_DIR overrides the cache root (default ~/.cache/podium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${PODIUM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podium}
bin_dir="$cache_root/k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}/bin"
if [ "${1:-}" = "--print" ]; then echo "$bin_dir"; exit 0; fi

export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
mkdir -p "$bin_dir"
log() { printf '[build-components] %s\n' "$*" >&2; }

# build <module-dir> <label> <output:package>...  builds the missing outputs of one
# module in a single `go build` so that shared packages compile once.
build() {
  local dir="$1" label="$2" ldflags="$3"; shift 3
  local missing=() spec
  for spec in "$@"; do [ -x "$bin_dir/${spec%%:*}" ] || missing+=("$spec"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  local tmp start
  tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
  start=$(date +%s)
  log "building $label: ${missing[*]%%:*} (cold: about 10 minutes on 2 cores; with a warm Go build cache: seconds)"
  if [ ${#missing[@]} -eq 1 ]; then
    spec=${missing[0]}
    (cd "$here/tools/$dir" && go build -trimpath -ldflags "$ldflags" -o "$tmp/${spec%%:*}" "${spec#*:}")
  else
    # `go build -o dir/` with several main packages names each binary after the
    # last element of its import path, which is what we want for these.
    local pkgs=()
    for spec in "${missing[@]}"; do pkgs+=("${spec#*:}"); done
    (cd "$here/tools/$dir" && go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
  fi
  for spec in "${missing[@]}"; do mv -f "$tmp/${spec%%:*}" "$bin_dir/${spec%%:*}"; done
  rmdir "$tmp"
  log "built $label in $(($(date +%s) - start)) s"
}

k8s_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local flags="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $p.gitVersion=${KUBERNETES_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${minor}"
    flags="$flags -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

build etcd "etcd ${ETCD_VERSION}" "-s -w" etcd:go.etcd.io/etcd/server/v3
build kwok "kwok ${KWOK_VERSION}" "-s -w" \
  kwok:sigs.k8s.io/kwok/cmd/kwok
build kubernetes "kubernetes ${KUBERNETES_VERSION}" "$(k8s_ldflags)" \
  kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler:k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl:k8s.io/kubernetes/cmd/kubectl
echo "$bin_dir"

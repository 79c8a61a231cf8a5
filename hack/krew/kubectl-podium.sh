#!/bin/sh
# kubectl-podium: podium's kubectl plugin (lib/dist/cli/kubectl-podium.js beside this file, with
# its production node_modules), run with the first Node >= 24 of: $PODIUM_NODE, `node` on PATH,
# the Node recorded at install (node-path). kubectl runs it as `kubectl podium`; krew and
# `make install-plugin` link it onto PATH, hence readlink.
set -eu
here=$(dirname "$(readlink -f "$0")")
usable() {
  [ -n "$1" ] && "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null
}
for node in "${PODIUM_NODE:-}" "$(command -v node 2>/dev/null || true)" "$(cat "$here/node-path" 2>/dev/null || true)"; do
  if usable "$node"; then exec "$node" "$here/lib/dist/cli/kubectl-podium.js" "$@"; fi
done
echo "kubectl-podium: needs Node >= 24: put it on PATH or set PODIUM_NODE" >&2
exit 1

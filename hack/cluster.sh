#!/usr/bin/env bash
# A real, local Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (simulated nodes), built
# from their Go modules by hack/build-components.sh.
#
#   hack/cluster.sh up       start what is not running, wait until usable (idempotent)
#   hack/cluster.sh down     stop every process `up` started, by PID
#   hack/cluster.sh status   show each component and the cluster's nodes
#   hack/cluster.sh env      print the shell exports to use the cluster
#   hack/cluster.sh restart-apiserver   kill kube-apiserver (by PID), start it again, wait until ready
#   hack/cluster.sh restart-etcd        the same for etcd (its data is kept); waits for the API server too
#   hack/cluster.sh heal     start kube-controller-manager, kube-scheduler and kwok if one has exited
#
# Environment (all optional):
#   CLUSTER_DIR      state, PKI, logs and kubeconfig (default: <checkout>/.cluster)
#   PORT_OFFSET      added to every default port, to run clusters side by side (default 0)
#   ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT  single ports
#   CLUSTER_NODES    number of kwok nodes (default 2)
#   UP_TIMEOUT       seconds `up` (and restart-*) waits for each step (default 120)
#   RESTART_SIGNAL   signal restart-* stops the component with: TERM (default) or KILL
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

CLUSTER_DIR=${CLUSTER_DIR:-$root/.cluster}
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
pki="$CLUSTER_DIR/pki"
logs="$CLUSTER_DIR/logs"
pids="$CLUSTER_DIR/pids"
kubeconfig="$CLUSTER_DIR/kubeconfig"
UP_TIMEOUT=${UP_TIMEOUT:-120}

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# Ports are fixed when the cluster starts and remembered, so that `down`,
# `status` and a repeated `up` need no environment; while nothing runs, the
# environment decides again.
load_ports() {
  if [ -f "$CLUSTER_DIR/ports.env" ] && any_running; then
    # shellcheck disable=SC1091
    . "$CLUSTER_DIR/ports.env"
    return
  fi
  local off=${PORT_OFFSET:-0}
  ETCD_PORT=${ETCD_PORT:-$((2379 + off))}
  ETCD_PEER_PORT=${ETCD_PEER_PORT:-$((2380 + off))}
  APISERVER_PORT=${APISERVER_PORT:-$((6443 + off))}
  KCM_PORT=${KCM_PORT:-$((10257 + off))}
  SCHEDULER_PORT=${SCHEDULER_PORT:-$((10259 + off))}
}

save_ports() {
  cat >"$CLUSTER_DIR/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
EOF
}

bin_dir() { "$here/build-components.sh" --print; }

# A recorded PID counts as ours only while it runs the binary we started, so a
# PID reused by another process after a crash is never signalled.
running() { # name
  local f="$pids/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "/$1 " || return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start <name> <ports> <args...>: starts a component unless it already runs;
# refuses when one of its ports is taken, since a health check would then
# reach the other process and a broken cluster would look healthy.
any_running() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    running "$name" && return 0
  done
  return 1
}

start() {
  local name=$1 ports=$2; shift 2
  if running "$name"; then return 0; fi
  local port
  for port in $ports; do
    if port_in_use "$port"; then
      die "port $port for $name is in use by another process; stop it or choose other ports (PORT_OFFSET=100 $(basename "$0") up)"
    fi
  done
  local bin
  bin="$(bin_dir)/$name"
  [ -x "$bin" ] || die "$name is not built; run hack/build-components.sh"
  mkdir -p "$logs" "$pids"
  # setsid: its own session and process group, so nothing it spawns outlives `down`.
  HOME="$CLUSTER_DIR/home" setsid "$bin" "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name.pid"
  log "started $name (pid $!, log $logs/$name.log)"
}

# wait_for <name> <what> <command...>: retries the command until it succeeds,
# failing with the component's log when the process dies or time runs out.
wait_for() {
  local name=$1 what=$2; shift 2
  local deadline=$((SECONDS + UP_TIMEOUT))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && ! running "$name"; then
      tail -n 20 "$logs/$name.log" >&2 || true
      die "$name exited while waiting for $what; see $logs/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      [ -n "$name" ] && { tail -n 20 "$logs/$name.log" >&2 || true; }
      die "timed out after ${UP_TIMEOUT}s waiting for $what${name:+; see $logs/$name.log}"
    fi
    sleep 0.2
  done
}

gen_pki() {
  [ -f "$pki/admin.crt" ] && return 0
  command -v openssl >/dev/null || die "openssl is required"
  log "generating the CA and certificates in $pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    cat >ca.cnf <<'EOF'
[req]
distinguished_name=dn
prompt=no
x509_extensions=v3_ca
[dn]
CN=podium-local-ca
[v3_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash
EOF
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -config ca.cnf -keyout ca.key -out ca.crt 2>/dev/null
    cat >apiserver.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1
EOF
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kubernetes-admin" -keyout admin.key -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr
  )
}

write_kubeconfig() {
  local b64
  b64() { base64 -w0 "$1"; }
  cat >"$kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: podium-local
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: podium-local-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: podium-local
  context: {cluster: podium-local, user: podium-local-admin}
current-context: podium-local
EOF
  chmod 600 "$kubeconfig.tmp"
  mv "$kubeconfig.tmp" "$kubeconfig"
}

# kwok ships its behaviour as Stage objects but does not load them when run on
# its own. We assemble kwokctl's default set from the pinned module's source at
# set-up time, with one change: pods annotated kwok.podium.dev/manual-readiness
# are made Running by kwok but never Ready, so tests (playing the kubelet) decide
# readiness through the status subresource.
write_kwok_stages() {
  local src
  src=$(cd "$here/tools/kwok" && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  [ -d "$src/kustomize/stage" ] || die "kwok module source not found (run hack/build-components.sh)"
  local s="$src/kustomize/stage" out="$CLUSTER_DIR/kwok-stages.yaml"
  {
    cat "$s/node/fast/node-initialize.yaml"
    echo '---'
    cat "$s/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"
    echo '---'
    # pod-ready, restricted to pods without the manual-readiness annotation
    sed "/^    matchExpressions:/a\\
    - key: '.metadata.annotations[\"kwok.podium.dev/manual-readiness\"]'\\
      operator: 'DoesNotExist'" "$s/pod/fast/pod-ready.yaml"
    echo '---'
    # pod-running: the same transition for annotated pods, with Ready=False
    sed -e "s/^  name: pod-ready$/  name: pod-running-not-ready/" \
      -e "/^    matchExpressions:/a\\
    - key: '.metadata.annotations[\"kwok.podium.dev/manual-readiness\"]'\\
      operator: 'Exists'" \
      "$s/pod/fast/pod-ready.yaml" |
      awk '
        # flip the status of the Ready and ContainersReady conditions and of
        # containerStatuses[].ready, leaving the rest of the template as it is
        /status: "True"/ { held = $0; next }
        held != "" {
          if ($0 ~ /type: (Ready|ContainersReady)$/) sub(/"True"/, "\"False\"", held)
          print held; held = ""
        }
        /^        ready: true$/ { sub(/true/, "false") }
        { print }
        END { if (held != "") print held }'
    echo '---'
    cat "$s/pod/fast/pod-complete.yaml"
    echo '---'
    cat "$s/pod/fast/pod-delete.yaml"
  } >"$out.tmp"
  mv "$out.tmp" "$out"
}

node_manifest() { # name
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec:
  providerID: kwok://$1
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
}

kubectl_() { "$(bin_dir)/kubectl" --kubeconfig="$kubeconfig" "$@"; }

apiserver_ready() {
  curl -fsS --max-time 2 --cacert "$pki/ca.crt" "https://127.0.0.1:${APISERVER_PORT}/readyz" | grep -q ok
}

start_etcd() {
  start etcd "$ETCD_PORT $ETCD_PEER_PORT" --name=podium-local --data-dir="$CLUSTER_DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="podium-local=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster-state=new \
    --unsafe-no-fsync=true --auto-compaction-retention=1 --quota-backend-bytes=2147483648 \
    --log-level=warn
}

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health"
}

start_apiserver() {
  start kube-apiserver "$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=127.0.0.1 --secure-port="${APISERVER_PORT}" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=RBAC \
    --allow-privileged=true --profiling=false --v=1
}

# start_controllers: starts kube-controller-manager, kube-scheduler and kwok
# unless they run, and waits until they are healthy. kube-scheduler exits on
# purpose when it finds its cache corrupted (it can, after an API server
# restart), so restarts call this too: a cluster whose scheduler died
# schedules nothing, and every later test would wait in vain.
start_controllers() {
  start kube-controller-manager "$KCM_PORT" \
    --kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="${KCM_PORT}" \
    --leader-elect=false --controllers='*' \
    --root-ca-file="$pki/ca.crt" \
    --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=false \
    --service-cluster-ip-range=10.96.0.0/16 \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --profiling=false --v=1

  cat >"$CLUSTER_DIR/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $kubeconfig
leaderElection:
  leaderElect: false
EOF
  start kube-scheduler "$SCHEDULER_PORT" --config="$CLUSTER_DIR/scheduler.yaml" \
    --bind-address=127.0.0.1 --secure-port="${SCHEDULER_PORT}" --profiling=false --v=1

  start kwok "" --kubeconfig="$kubeconfig" --config="$CLUSTER_DIR/kwok-stages.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr=10.244.0.0/16 --node-ip=10.200.0.10 \
    --node-lease-duration-seconds=40

  wait_for kube-controller-manager "kube-controller-manager /healthz" \
    curl -kfsS --max-time 2 "https://127.0.0.1:${KCM_PORT}/healthz"
  wait_for kube-scheduler "kube-scheduler /healthz" \
    curl -kfsS --max-time 2 "https://127.0.0.1:${SCHEDULER_PORT}/healthz"

}

cmd_up() {
  local t0=$SECONDS
  load_ports
  "$here/build-components.sh" >/dev/null
  local bin
  bin=$(bin_dir)
  gen_pki
  save_ports
  write_kubeconfig
  write_kwok_stages
  mkdir -p "$CLUSTER_DIR/home" "$CLUSTER_DIR/etcd"

  start_etcd
  wait_for etcd "etcd /health" etcd_healthy

  start_apiserver
  wait_for kube-apiserver "kube-apiserver /readyz" apiserver_ready

  start_controllers

  local n i name
  n=${CLUSTER_NODES:-2}
  for ((i = 0; i < n; i++)); do
    name="kwok-node-$i"
    kubectl_ get node "$name" >/dev/null 2>&1 || node_manifest "$name" | kubectl_ create -f - >/dev/null
  done
  wait_for kwok "$n Ready kwok nodes" \
    kubectl_ wait --for=condition=Ready node -l type=kwok --timeout=2s
  wait_for kube-controller-manager "the default ServiceAccount" \
    kubectl_ -n default get serviceaccount default

  log "cluster is up in $((SECONDS - t0)) s ($n kwok nodes, Kubernetes ${KUBERNETES_VERSION})"
  usage
}

usage() {
  cat <<EOF

  export KUBECONFIG=$kubeconfig
  export PATH=$(bin_dir):\$PATH     # kubectl ${KUBERNETES_VERSION}, built with the cluster
  kubectl get nodes,pods -A
  $(basename "$0") down             # stops every component
EOF
}

# stop_one <name> [signal]: the signal (default TERM) to the component's
# process group, SIGKILL after 10 s.
stop_one() {
  local name=$1 sig=${2:-TERM} pid i
  if running "$name"; then
    pid=$(cat "$pids/$name.pid")
    kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      running "$name" || break
      sleep 0.1
    done
    if running "$name"; then
      log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do running "$name" || break; sleep 0.1; done
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pids/$name.pid"
}

cmd_down() {
  local name
  # reverse start order: dependants first, etcd last
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_one "$name"
  done
}

# restart <name>: stops one component of a running cluster by its PID
# (RESTART_SIGNAL, default TERM; KILL for a crash) and starts it again with the
# same flags and ports, then waits (bounded by UP_TIMEOUT) until it and the API
# server are healthy again. For fault tests: the rest of the cluster keeps running.
cmd_restart() {
  local name=$1 t0=$SECONDS i sig=${RESTART_SIGNAL:-TERM}
  case $sig in TERM | KILL | INT) ;; *) die "RESTART_SIGNAL must be TERM, INT or KILL" ;; esac
  running "$name" || die "$name is not running (start the cluster with: $(basename "$0") up)"
  [ -f "$CLUSTER_DIR/ports.env" ] || die "no $CLUSTER_DIR/ports.env; was the cluster started by this script?"
  load_ports
  stop_one "$name" "$sig"
  # The port is free once nothing accepts connections on it any more.
  for ((i = 0; i < 100; i++)); do
    case $name in
      etcd) port_in_use "$ETCD_PORT" || port_in_use "$ETCD_PEER_PORT" || break ;;
      kube-apiserver) port_in_use "$APISERVER_PORT" || break ;;
    esac
    sleep 0.1
  done
  case $name in
    etcd)
      start_etcd
      wait_for etcd "etcd /health" etcd_healthy
      ;;
    kube-apiserver)
      start_apiserver
      ;;
  esac
  wait_for kube-apiserver "kube-apiserver /readyz" apiserver_ready
  start_controllers
  log "restarted $name in $((SECONDS - t0)) s"
}

cmd_status() {
  load_ports
  local name rc=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    if running "$name"; then
      printf '%-24s running (pid %s)\n' "$name" "$(cat "$pids/$name.pid")"
    else
      printf '%-24s stopped\n' "$name"
      rc=1
    fi
  done
  if running kube-apiserver && apiserver_ready; then
    echo "kube-apiserver: https://127.0.0.1:${APISERVER_PORT} (ready)"
    kubectl_ get nodes
  fi
  return $rc
}

cmd_env() {
  echo "export KUBECONFIG=$kubeconfig"
  echo "export PATH=$(bin_dir):\$PATH"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  restart-apiserver) cmd_restart kube-apiserver ;;
  restart-etcd) cmd_restart etcd ;;
  heal)
    load_ports
    start_controllers
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

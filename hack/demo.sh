#!/usr/bin/env bash
# The `make demo` flow on the local cluster: install the CRD, start podium in
# the background, apply config/samples/web.yaml in namespace `demo`, show the
# elected leader and the Service's endpoint, then delete the leader and report
# how long podium took to move it. Leaves everything running.
#
#   hack/demo.sh            run the demo (the cluster must be up)
#   hack/demo.sh stop       stop the demo's operator
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$root/.cluster}
export KUBECONFIG=$CLUSTER_DIR/kubeconfig
pidfile=$CLUSTER_DIR/pids/podium.pid
log=$CLUSTER_DIR/logs/podium.log
METRICS_ADDR=${DEMO_METRICS_ADDR:-127.0.0.1:8080}
PROBE_ADDR=${DEMO_PROBE_ADDR:-127.0.0.1:8081}
NS=demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

operator_running() {
  [ -f "$pidfile" ] && [ -r "/proc/$(cat "$pidfile")/cmdline" ] &&
    tr '\0' ' ' <"/proc/$(cat "$pidfile")/cmdline" | grep -q 'src/main.ts'
}

stop_operator() {
  if operator_running; then
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do operator_running || break; sleep 0.1; done
    operator_running && kill -KILL "$pid"
    echo "stopped podium (pid $pid)"
  fi
  rm -f "$pidfile"
}

if [ "${1:-}" = "stop" ]; then
  stop_operator
  exit 0
fi

[ -f "$KUBECONFIG" ] || { echo "no cluster in $CLUSTER_DIR; run make cluster-up" >&2; exit 1; }

say "Installing the ElectionGroup CRD"
kubectl apply -f "$root/crds/podium.dev_electiongroups.yaml"
kubectl wait --for=condition=Established --timeout=60s crd/electiongroups.podium.dev >/dev/null

if ! operator_running; then
  say "Starting podium (log: $log)"
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
  nohup node "$root/src/main.ts" --kubeconfig="$KUBECONFIG" \
    --metrics-bind-address="$METRICS_ADDR" --health-probe-bind-address="$PROBE_ADDR" \
    >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for i in $(seq 1 150); do
    curl -fsS "http://$PROBE_ADDR/readyz" >/dev/null 2>&1 && break
    operator_running || { tail -n 20 "$log" >&2; echo "podium exited; see $log" >&2; exit 1; }
    [ "$i" -lt 150 ] || { echo "podium not ready after 30 s; see $log" >&2; exit 1; }
    sleep 0.2
  done
  echo "podium is ready (pid $(cat "$pidfile")); metrics on http://$METRICS_ADDR/metrics"
fi

say "Applying config/samples/web.yaml in namespace $NS"
kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS"
kubectl -n "$NS" apply -f "$root/config/samples/web.yaml"
kubectl -n "$NS" rollout status deployment/web --timeout=60s
kubectl -n "$NS" wait --for=condition=Ready electiongroup/web --timeout=60s >/dev/null

say "kubectl get electiongroups"
kubectl -n "$NS" get eg
say "The pods and their role label"
kubectl -n "$NS" get pods -L role
say "The Service web-leader reaches only the leader"
kubectl -n "$NS" get endpointslices -l kubernetes.io/service-name=web-leader

say "Fail-over: deleting the leader pod"
node "$root/hack/demo-failover.ts" "$NS" web web-leader
kubectl -n "$NS" get eg
kubectl -n "$NS" get pods -L role

cat <<EOF

podium keeps running in the background. Try:
  export KUBECONFIG=$KUBECONFIG
  export PATH=$(dirname "$(command -v kubectl)"):\$PATH
  kubectl -n $NS describe eg web
  kubectl -n $NS patch eg web --type=merge -p '{"spec":{"preferredHolder":"<a pod name>"}}'
  curl -s http://$METRICS_ADDR/metrics | grep podium_
Stop podium with 'hack/demo.sh stop', everything with 'make cluster-down'.
EOF

#!/usr/bin/env bash
# The three-node JetStream cluster "liaison" on loopback (deploy/README.md, "NATS cluster"), over TLS with
# the kit's own CA and with the two Liaison NATS identities (make-certs.sh makes both on first use).
#
#   bash deploy/nats/cluster/loopback/run.sh [STORE_DIR]           start all three, wait until healthy,
#                                                                  print the gateway settings, and keep
#                                                                  running until Ctrl-C (or SIGTERM), which
#                                                                  stops every node
#   bash deploy/nats/cluster/loopback/run.sh stop NODE [STORE_DIR]     stop node 1, 2 or 3 (SIGTERM)
#   bash deploy/nats/cluster/loopback/run.sh start NODE [STORE_DIR]    start it again on its store
#   bash deploy/nats/cluster/loopback/run.sh restart NODE [STORE_DIR]
#
# A node that stops (or is stopped) leaves the other two running: the cluster keeps its quorum, and the
# node can be started again from another shell. STORE_DIR (default /tmp/liaison-nats-cluster, kept) holds
# certs/ (CA, certificate, passwords), one JetStream store per node (n1, n2, n3), logs and pid files.
# Ports: clients 4222-4224 (TLS), routes 6222-6224 (TLS), monitoring 8222-8224 (HTTP), all on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/ensure-tools.sh
source "$here/../../../ensure-tools.sh"
ensure_nats_server

command="run"
node=""
case "${1:-}" in
  start | stop | restart)
    command="$1"
    node="${2:?usage: run.sh $1 NODE [STORE_DIR]}"
    case "$node" in 1 | 2 | 3) ;; *) echo "error: NODE is 1, 2 or 3" >&2; exit 2 ;; esac
    shift 2
    ;;
esac
store="${1:-/tmp/liaison-nats-cluster}"
mkdir -p "$store"
store="$(cd "$store" && pwd)"
bash "$here/../make-certs.sh" "$store/certs"
set -a
# shellcheck disable=SC1091
source "$store/certs/nats.env"
set +a

running() {
  local pid
  pid="$(cat "$store/nats-$1.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null
}

start_node() {
  if running "$1"; then
    echo "node $1 is already running" >&2
    return 0
  fi
  mkdir -p "$store/n$1"
  # From the store directory, where the configurations' relative certs/ paths point.
  (cd "$store" && NATS_STORE_DIR="$store/n$1" exec nats-server -c "$here/nats-$1.conf" >>"$store/nats-$1.log" 2>&1) &
  echo "$!" >"$store/nats-$1.pid"
  echo "node $1 started (pid $!, log $store/nats-$1.log)" >&2
}

stop_node() {
  local pid
  if ! running "$1"; then
    echo "node $1 is not running" >&2
    return 0
  fi
  pid="$(cat "$store/nats-$1.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$store/nats-$1.pid"
  echo "node $1 stopped" >&2
}

case "$command" in
  start) start_node "$node"; exit 0 ;;
  stop) stop_node "$node"; exit 0 ;;
  restart) stop_node "$node"; start_node "$node"; exit 0 ;;
esac

# shellcheck disable=SC2329 # called by the traps
stop_all() {
  trap - EXIT INT TERM
  for i in 1 2 3; do stop_node "$i"; done
}
# shellcheck disable=SC2329 # called by the trap
on_signal() {
  stop_all
  exit 0
}
trap stop_all EXIT
trap on_signal INT TERM

for i in 1 2 3; do start_node "$i"; done

# Up when every node's /healthz is ok (JetStream current with the meta leader); the leader is named in /jsz.
healthy() {
  local port
  for port in 8222 8223 8224; do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 || return 1
  done
}
leader=""
for _ in $(seq 1 60); do
  if healthy; then
    leader=$(curl -fsS http://127.0.0.1:8222/jsz 2>/dev/null \
      | python3 -c 'import json,sys; print((json.load(sys.stdin).get("meta_cluster") or {}).get("leader", ""))' \
      2>/dev/null || true)
    [ -n "$leader" ] && break
  fi
  sleep 0.5
done
if [ -z "$leader" ]; then
  echo "error: the cluster is not healthy after 30 s; logs in $store" >&2
  exit 1
fi
echo "cluster liaison up: JetStream meta leader $leader; logs and stores in $store" >&2
echo "gateway settings (TLS and the two identities):" >&2
echo "  set -a; source $store/certs/nats.env; set +a" >&2
echo "  liaison serve --nats-url nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224 \\" >&2
echo "    --nats-tls-ca $store/certs/ca.pem --stream-replicas 3" >&2

# Report nodes that stop or come back; the others keep running.
declare -A was=([1]=up [2]=up [3]=up)
while true; do
  for i in 1 2 3; do
    if running "$i"; then now=up; else now=down; fi
    if [ "$now" != "${was[$i]}" ]; then
      if [ "$now" = down ]; then
        echo "node $i is down; the others keep running (start it again: bash $0 start $i $store)" >&2
      else
        echo "node $i is up again" >&2
      fi
      was[$i]=$now
    fi
  done
  sleep 1
done

#!/usr/bin/env bash
# Starts the three-node JetStream cluster "liaison" on loopback (deploy/README.md, "NATS cluster"), waits
# until every node is healthy and a JetStream meta leader is elected, prints the URL for
# `liaison serve --nats-url`, and keeps the nodes running until Ctrl-C (or SIGTERM), when it stops them.
#
#   bash deploy/nats/cluster/loopback/run.sh [STORE_DIR]
#
# STORE_DIR holds one JetStream store per node (n1, n2, n3); default a new directory under /tmp, removed
# at exit. A STORE_DIR you give is kept, so the cluster can be restarted with its data.
# Ports: clients 4222-4224, routes 6222-6224, monitoring 8222-8224, all on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/ensure-tools.sh
source "$here/../../../ensure-tools.sh"
ensure_nats_server

if [ $# -ge 1 ]; then
  store="$1"
  keep=1
else
  store="$(mktemp -d /tmp/liaison-nats-cluster.XXXXXX)"
  keep=0
fi
mkdir -p "$store"
pids=()
# shellcheck disable=SC2329 # called by the traps
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$keep" = 1 ] || rm -rf "$store"
}
# shellcheck disable=SC2329 # called by the trap
on_signal() {
  stop
  exit 0
}
trap stop EXIT
trap on_signal INT TERM

for i in 1 2 3; do
  mkdir -p "$store/n$i"
  NATS_STORE_DIR="$store/n$i" nats-server -c "$here/nats-$i.conf" >"$store/nats-$i.log" 2>&1 &
  pids+=("$!")
done

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
  keep=1
  exit 1
fi
echo "cluster liaison up: JetStream meta leader $leader; logs and stores in $store" >&2
echo "nats-url: nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224" >&2
wait -n "${pids[@]}" || true
echo "error: a node stopped; logs in $store" >&2
keep=1
exit 1

#!/usr/bin/env bash
# Runs the Liaison gateway on this machine with its embedded nats-server (README: "Run the gateway").
# Installs nats-server if missing, builds the release binary, then `liaison serve` with any extra flags.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/ensure-tools.sh
ensure_cargo
ensure_nats_server
cargo build --release --locked --quiet
exec target/release/liaison serve "$@"

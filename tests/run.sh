#!/usr/bin/env bash
# The whole test suite (README: "Run the tests"); .ci/run calls exactly this.
# Installs nats-server and buf if missing, then: buf lint, rustfmt check, clippy, and every test against
# real nats-server processes that the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/ensure-tools.sh
ensure_cargo
ensure_nats_server
ensure_buf

echo "== buf lint (STANDARD)" >&2
(cd proto && buf lint)
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --locked --all-targets --quiet -- -D warnings
echo "== cargo test" >&2
cargo test --locked --all-targets

#!/usr/bin/env bash
# The whole test suite (README: "Run the tests"); .ci/run calls exactly this.
# Installs nats-server and buf if missing, then: buf lint, rustfmt check, clippy, every test against
# real nats-server processes that the tests start themselves, the shipped policy's test cases
# (`liaison policy test deploy/policy/tests.toml`), and each fuzz target for a few seconds
# (tests/fuzz.sh --smoke, which needs no cargo-fuzz) so that none can rot.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/ensure-tools.sh
ensure_cargo
ensure_nats_server
ensure_buf
# One-shot build: incremental caches would only add gigabytes to the disk a CI machine has.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== buf lint (STANDARD)" >&2
(cd proto && buf lint)
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
echo "== cargo clippy" >&2
cargo clippy --locked --all-targets --quiet -- -D warnings
echo "== cargo test" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
echo "== liaison policy test (the shipped policy's test cases)" >&2
policy_status=0
# The binary `cargo test` built for the integration tests: `cargo run` would build it again, as its dependencies
# are resolved without the dev-dependencies' features.
"${CARGO_TARGET_DIR:-target}/debug/liaison" policy test deploy/policy/tests.toml \
  --policy deploy/policy/policy.toml --directory deploy/policy/directory.toml || policy_status=$?
echo "== fuzz targets, 5 s each" >&2
fuzz_status=0
bash tests/fuzz.sh --smoke 5 || fuzz_status=$?
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] || exit "$status"
[ "$policy_status" -eq 0 ] || exit "$policy_status"
exit "$fuzz_status"

#!/usr/bin/env bash
# rustc wrapper for `tests/fuzz.sh --smoke` (RUSTC_WRAPPER): adds libFuzzer's coverage instrumentation, the
# flags cargo-fuzz puts in RUSTFLAGS, to Liaison's own crates only (the library, fuzz/src and the targets),
# so that every dependency is the test build's artifact instead of an instrumented second copy. A wrapper the
# caller had is kept in FUZZ_INNER_WRAPPER and called in turn.
set -euo pipefail
rustc="$1"
shift
ours=false
previous=""
for arg in "$@"; do
  case "$previous:$arg" in
    --crate-name:liaison | --crate-name:liaison_fuzz | *:*fuzz_targets/*.rs) ours=true ;;
  esac
  previous="$arg"
done
flags=()
if $ours; then
  flags=(-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0 --cfg fuzzing)
fi
if [ -n "${FUZZ_INNER_WRAPPER:-}" ]; then
  exec "$FUZZ_INNER_WRAPPER" "$rustc" "$@" "${flags[@]}"
fi
exec "$rustc" "$@" "${flags[@]}"

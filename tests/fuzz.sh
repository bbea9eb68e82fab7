#!/usr/bin/env bash
# Coverage-guided fuzzing of the targets in fuzz/ with cargo-fuzz and libFuzzer (README "Fuzzing").
#
#   bash tests/fuzz.sh SECONDS           runs every target for SECONDS: an optimised build in target/fuzz,
#                                        with the nightly toolchain if one is installed, else the default one;
#                                        the corpus each target grows stays in target/fuzz/corpus/<target>
#   bash tests/fuzz.sh --smoke SECONDS   what tests/run.sh runs: an unoptimised build of the same targets in
#                                        target/ beside the test build, where only Liaison's own crates are
#                                        instrumented (fuzz/smoke-rustc.sh) and every dependency is the test
#                                        build's; each runs for SECONDS from the committed corpus only
#
# Every target starts from its committed corpus, fuzz/corpus/<target>, which it does not change. A crash
# stops that target, leaves the input in fuzz/artifacts/<target>/ (reproduce with
# `cargo fuzz run <target> <file>`) and makes the script fail after the other targets have run.
# Environment: FUZZ_TARGETS (a space-separated subset), FUZZ_SANITIZER (default none; address needs nightly),
# FUZZ_TOOLCHAIN (e.g. stable, to try the fallback on a machine that has nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/ensure-tools.sh
ensure_cargo

smoke=false
if [ "${1:-}" = "--smoke" ]; then
  smoke=true
  shift
fi
seconds="${1:-}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: bash tests/fuzz.sh [--smoke] SECONDS" >&2; exit 2 ;;
esac
targets="${FUZZ_TARGETS:-envelope route requests token policy audit}"
sanitizer="${FUZZ_SANITIZER:-none}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

if $smoke && [ "$sanitizer" != none ]; then
  echo "error: the smoke run builds without a sanitizer; FUZZ_SANITIZER=$sanitizer is for \`bash tests/fuzz.sh SECONDS\`" >&2
  exit 2
fi

if $smoke; then
  # The test build's toolchain, profile and flags, so that cargo finds every dependency already built; the
  # library gets its own artifact (no line tables) and the wrapper instruments it and the targets only.
  dir="${CARGO_TARGET_DIR:-target}"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "== fuzz targets' build (smoke: unoptimised, Liaison's crates instrumented, in $dir/debug)" >&2
  build_targets() {
    FUZZ_INNER_WRAPPER="${RUSTC_WRAPPER:-}" RUSTC_WRAPPER="$PWD/fuzz/smoke-rustc.sh" \
      cargo build --locked --quiet --manifest-path fuzz/Cargo.toml --target-dir "$dir" --bins \
      --config 'profile.dev.package.liaison.debug=false' --config 'profile.dev.package.liaison-fuzz.debug=false'
  }
  # `fuzz_run TARGET LIBFUZZER-ARGS...`, as `cargo fuzz run` would.
  fuzz_run() {
    local target="$1"
    shift
    mkdir -p "fuzz/artifacts/$target"
    "$dir/debug/$target" -artifact_prefix="fuzz/artifacts/$target/" "$@"
  }
else
  # cargo-fuzz from crates.io, once.
  if ! command -v cargo-fuzz >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io" >&2
    env -u CARGO_TARGET_DIR cargo install cargo-fuzz --version 0.13.2 --locked --quiet
    PATH="$HOME/.cargo/bin:$PATH"
  fi
  # Nightly when installed. With --sanitizer none cargo-fuzz passes no unstable flag, so the stable
  # toolchain builds the same libFuzzer targets with the same coverage instrumentation; only a sanitizer
  # needs nightly.
  toolchain=()
  if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    toolchain=(+"$FUZZ_TOOLCHAIN")
  elif rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
  fi
  if [ "$sanitizer" != none ] && [ "${toolchain[*]:-}" != +nightly ]; then
    echo "error: FUZZ_SANITIZER=$sanitizer needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
  fi
  # No debug info: binaries of ~10-20 MB instead of ~80 MB; a crash still names the panic and its place.
  export RUSTFLAGS="${RUSTFLAGS:-} -Cdebuginfo=0"
  build=(--release --sanitizer "$sanitizer" --target-dir "${CARGO_TARGET_DIR:-target}/fuzz")
  work="${CARGO_TARGET_DIR:-target}/fuzz/corpus"
  echo "== cargo fuzz build (${toolchain[*]:-default toolchain}, ${build[*]})" >&2
  build_targets() {
    cargo "${toolchain[@]}" fuzz build "${build[@]}"
  }
  fuzz_run() {
    local target="$1"
    shift
    cargo "${toolchain[@]}" fuzz run "${build[@]}" "$target" -- "$@"
  }
fi
start=$(date +%s)
build_targets
echo "built in $(($(date +%s) - start)) s" >&2

failed=()
summary=()
for target in $targets; do
  mkdir -p "$work/$target" "fuzz/corpus/$target"
  log="$work/$target.log"
  echo "== fuzz $target for $seconds s" >&2
  status=0
  fuzz_run "$target" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    "$work/$target" "fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  runs=${runs:-0}
  took=${took:-$seconds}
  summary+=("$(printf '%-10s %12s runs %6s s %10s exec/s' "$target" "$runs" "$took" "$((runs / (took > 0 ? took : 1)))")")
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    grep -E 'panicked at|^thread|ERROR: libFuzzer|Test unit written|cargo fuzz run' "$log" >&2 || tail -40 "$log" >&2
  fi
done

echo "== fuzz results" >&2
printf '%s\n' "${summary[@]}" >&2
total=$(printf '%s\n' "${summary[@]}" | awk '{s += $2} END {print s + 0}')
echo "fuzz: $total executions in total; failed: ${failed[*]:-none}" >&2
[ ${#failed[@]} -eq 0 ]

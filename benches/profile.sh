#!/usr/bin/env bash
# Where the gateway's and nats-server's CPU goes, per stage (issue 16): flame graphs and a table.
#
# Runs `liaison bench` twice with the same arguments:
#   1. without perf, for the CPU per delivered message (the bench's JSON, `throughput[0]`);
#   2. under perf: nats-server during the raw JetStream throughput phase, then the `liaison serve` process
#      (DWARF call graphs: the release build has no frame pointers) and nats-server (frame pointers: Go)
#      during the gateway PublishStream + Subscribe phase, for --perf-seconds each, starting --lead seconds
#      into the phase (after the bench's warm-up).
# Then writes to --out (default docs/profiles/): gateway-throughput.svg, nats-server-throughput.svg,
# nats-server-raw-throughput.svg (inferno flame graphs), their collapsed stacks (*.folded.gz), bench.json
# (run 1), stages.md (benches/stages.py's tables) and README.md (how they were made).
#
# Needs: perf (Debian: `apt-get install linux-perf`; root, or kernel.perf_event_paranoid <= 1),
# inferno (`inferno-collapse-perf`, `inferno-flamegraph`; CDDL-1.0; installed with `cargo install inferno
# --locked` into $INFERNO_ROOT, default ~/.cargo, when missing), python3, and nats-server >= 2.10
# (deploy/ensure-tools.sh installs it). Builds `cargo build --release --bin liaison` only if --bin is not
# given and the binary is missing.
#
# perf with DWARF call graphs costs the gateway much CPU: the profile's proportions are what count, not the
# profiled run's rates (which is why the per-message CPU comes from run 1).
#
# usage: benches/profile.sh [--bin PATH] [--out DIR] [--baseline FILE.json] [--update FILE.md] [--freq HZ]
#                           [--perf-seconds S] [--lead S] [--dwarf-stack BYTES] [--keep-data] [-- BENCH ARGS...]
#   --bin         the liaison binary (default: target/release/liaison, built if missing); run from a copy, so
#                 that a rebuild during the run cannot change it
#   --baseline    a saved `liaison bench --json` report to take the CPU per message from, instead of run 1
#   --update      also write the tables into FILE (BENCHMARKS.md) between its benches/profile.sh markers
#   --            the bench's arguments (default: --sizes 256 --clients 64 --idle 1000 --fanout 100
#                 --seconds 8s --sync default); the first size's throughput phases are profiled
# Run it on a quiet machine: other work on the cores shows in the rates and the per-message CPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

bin=""
out="$root/docs/profiles"
baseline=""
freq=999
perf_seconds=4
lead=2.5
dwarf_stack=16384
keep_data=0
update=""
bench_args=(--sizes 256 --clients 64 --idle 1000 --fanout 100 --seconds 8s --sync default)

die() { echo "profile.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --update) update=$2; shift 2 ;;
    --freq) freq=$2; shift 2 ;;
    --perf-seconds) perf_seconds=$2; shift 2 ;;
    --lead) lead=$2; shift 2 ;;
    --dwarf-stack) dwarf_stack=$2; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; [ $# -gt 0 ] && bench_args=("$@"); break ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# --- tools ---
command -v perf >/dev/null 2>&1 ||
  die "perf is required and not on PATH (Debian: apt-get install linux-perf; Ubuntu: linux-tools-\$(uname -r))"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
work=$(mktemp -d "${TMPDIR:-/tmp}/liaison-profile.XXXXXX")
loads=""
if ! perf record -q -e cpu-clock -F 99 -g -o "$work/check.data" -- true >/dev/null 2>&1; then
  die "perf cannot record here (as root, or with kernel.perf_event_paranoid <= 1: $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null))"
fi
inferno_root=${INFERNO_ROOT:-${CARGO_HOME:-$HOME/.cargo}}
PATH="$PATH:$inferno_root/bin"
if ! command -v inferno-collapse-perf >/dev/null 2>&1 || ! command -v inferno-flamegraph >/dev/null 2>&1; then
  command -v cargo >/dev/null 2>&1 || die "inferno is missing and cargo is not on PATH to install it"
  echo "installing inferno (CDDL-1.0) into $inferno_root" >&2
  cargo install inferno --locked --root "$inferno_root" >&2
fi
# shellcheck source=../deploy/ensure-tools.sh
source "$root/deploy/ensure-tools.sh"
ensure_nats_server
if [ -z "$bin" ]; then
  bin="${CARGO_TARGET_DIR:-$root/target}/release/liaison"
  [ -x "$bin" ] || (cd "$root" && cargo build --release --bin liaison)
fi
[ -x "$bin" ] || die "no liaison binary at $bin"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
built=$(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')
commit=$(git -C "$(dirname "$bin")" rev-parse --short HEAD 2>/dev/null || git -C "$root" rev-parse --short HEAD)
if [ -n "$(git -C "$(dirname "$bin")" status --porcelain --untracked-files=no 2>/dev/null | head -1)" ]; then
  commit="$commit (its work tree had uncommitted changes when profiled; the binary may include some)"
fi
[ -z "$update" ] || [ -f "$update" ] || die "no file $update to update"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# --- helpers ---
bench_pid=""
cleanup() {
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then kill -INT "$bench_pid" 2>/dev/null || true; fi
  if [ "$keep_data" = 1 ]; then echo "perf data kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# wait_for FILE TEXT: until the bench's stderr shows TEXT (the bench must still run).
wait_for() {
  local waited=0
  until grep -qF "$2" "$1" 2>/dev/null; do
    kill -0 "$bench_pid" 2>/dev/null || die "the bench ended before \"$2\" (see $1)"
    sleep 0.2
    waited=$((waited + 1))
    [ "$waited" -lt 3000 ] || die "no \"$2\" after 10 minutes"
  done
}

# child NAME: the bench's child process called NAME.
child() {
  local pid
  pid=$(pgrep -P "$bench_pid" -x "$1" | head -1)
  [ -n "$pid" ] || die "no $1 process under the bench ($bench_pid)"
  echo "$pid"
}

# still_in_phase FILE LINES WHAT: warns when the bench printed more than LINES lines (a later phase began).
still_in_phase() {
  if [ "$(wc -l <"$1")" -gt "$2" ]; then
    echo "warning: the $3 phase ended before perf stopped; its profile includes a later phase (lengthen --seconds or shorten --perf-seconds)" >&2
  fi
}

collapse() { perf script --no-inline -i "$1" 2>/dev/null | inferno-collapse-perf --all; }

cp "$bin" "$work/liaison"
run="$work/liaison"

# --- 1. the bench without perf: CPU per delivered message ---
if [ -z "$baseline" ]; then
  loads="load average before the bench without perf: $(cut -d' ' -f1-3 /proc/loadavg); "
  echo "== liaison bench ${bench_args[*]} (without perf)" >&2
  "$run" bench "${bench_args[@]}" --json >"$work/bench.json" 2> >(tee "$work/bench.err" >&2)
  baseline="$work/bench.json"
fi
cp "$baseline" "$out/bench.json.tmp" && mv "$out/bench.json.tmp" "$out/bench.json"

# --- 2. the bench under perf ---
echo "== liaison bench ${bench_args[*]} (under perf)" >&2
err="$work/profiled.err"
loads="${loads}before the bench under perf: $(cut -d' ' -f1-3 /proc/loadavg)"
"$run" bench "${bench_args[@]}" --json >"$work/profiled.json" 2>"$err" &
bench_pid=$!

wait_for "$err" "raw JetStream publish + consume"
sleep "$lead"
nats=$(child nats-server)
lines=$(wc -l <"$err")
echo "   nats-server ($nats) during the raw phase, ${perf_seconds} s" >&2
perf record -q -e cpu-clock -F "$freq" --call-graph fp -p "$nats" -o "$work/nats-raw.data" -- sleep "$perf_seconds" \
  >/dev/null 2>&1
still_in_phase "$err" "$lines" "raw throughput"

wait_for "$err" "gateway PublishStream + Subscribe"
sleep "$lead"
gateway=$(child liaison)
lines=$(wc -l <"$err")
echo "   liaison serve ($gateway) and nats-server during the gateway phase, ${perf_seconds} s" >&2
perf record -q -e cpu-clock -F "$freq" --call-graph "dwarf,$dwarf_stack" -p "$gateway" -o "$work/gateway.data" \
  -- sleep "$perf_seconds" >/dev/null 2>&1 &
gateway_perf=$!
perf record -q -e cpu-clock -F "$freq" --call-graph fp -p "$nats" -o "$work/nats.data" -- sleep "$perf_seconds" \
  >/dev/null 2>&1 &
nats_perf=$!
wait "$gateway_perf" "$nats_perf"
still_in_phase "$err" "$lines" "gateway throughput"
echo "   (the bench goes on to its other phases; waiting for it)" >&2
wait "$bench_pid" || die "the profiled bench failed (see $err)"
bench_pid=""

# --- 3. flame graphs, collapsed stacks, tables ---
version=$(nats-server --version)
subtitle="liaison bench ${bench_args[*]}; perf -F $freq, ${perf_seconds} s"
flame() { # NAME TITLE: $work/NAME.folded -> $out/NAME.svg
  inferno-flamegraph --title "$2" --subtitle "$subtitle" --countname "ns of CPU" --minwidth 0.05 --hash \
    "$work/$1.folded" >"$out/$1.svg"
  gzip -9 -n -c "$work/$1.folded" >"$out/$1.folded.gz"
}
collapse "$work/gateway.data" >"$work/gateway-throughput.folded"
collapse "$work/nats.data" >"$work/nats-server-throughput.folded"
collapse "$work/nats-raw.data" >"$work/nats-server-raw-throughput.folded"
flame gateway-throughput "liaison serve: gateway PublishStream + Subscribe"
flame nats-server-throughput "nats-server ($version): gateway PublishStream + Subscribe"
flame nats-server-raw-throughput "nats-server ($version): raw JetStream publish + consume"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
about="$(date -u +%Y-%m-%d), commit $commit, ${loads}"
python3 "$root/benches/stages.py" report --dir "$out" --bench "$out/bench.json" --about "$about" >"$out/stages.md"
{
  cat <<EOF
# Profiles of the gateway and nats-server

Made by \`benches/profile.sh\` (see its header, and BENCHMARKS.md, "Where the time goes (profiles)"):

- on $(date -u +%Y-%m-%d), of the liaison binary \`$bin\` (built $built; its work tree was at commit $commit);
- on $(nproc) cores ($cpu), Linux $(uname -r); $version; $(perf --version);
- ${loads};
- command: \`benches/profile.sh --bin $bin -- ${bench_args[*]}\`.

| file | what |
| --- | --- |
| \`gateway-throughput.svg\` | \`liaison serve\` during the gateway PublishStream + Subscribe phase (\`perf record -e cpu-clock -F $freq --call-graph dwarf,$dwarf_stack\`, ${perf_seconds} s, ${lead} s into the phase) |
| \`nats-server-throughput.svg\` | nats-server during the same phase (\`--call-graph fp\`) |
| \`nats-server-raw-throughput.svg\` | nats-server during the raw JetStream publish + consume phase, for comparison |
| \`*.folded.gz\` | their collapsed stacks (\`perf script --no-inline \\| inferno-collapse-perf --all\`; kernel frames end in \`_[k]\`; counts are ns of CPU) |
| \`bench.json\` | the same bench without perf: the CPU per delivered message the tables share out |
| \`stages.md\` | \`python3 benches/stages.py report --dir docs/profiles --bench docs/profiles/bench.json\` |

The flame graphs open in a browser (click to zoom, Ctrl-F to search). perf's DWARF unwinding costs the
gateway much CPU, so the profiled run's rates are not bench.json's: read the proportions. Frames
that the compiler inlined are not shown (the release build has no debug info): their time is their
caller's. Stacks cut at ${dwarf_stack} bytes of stack start at \`[unknown]\`.

EOF
  cat "$out/stages.md"
} >"$out/README.md"

[ -z "$update" ] || python3 "$root/benches/stages.py" report --dir "$out" --bench "$out/bench.json" --about "$about" \
  --into "$update"
cat "$out/stages.md"
echo "profiles written to $out${update:+; tables written into $update}" >&2

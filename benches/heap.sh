#!/usr/bin/env bash
# Where the gateway's memory goes with many idle subscriptions: heaptrack on `liaison serve` during
# `liaison bench`'s idle phase, and the peak heap shared out by the nearest frames of liaison, async-nats,
# tonic, h2, hyper and tokio (issue 16; BENCHMARKS.md "Cost per message, third session").
#
# heaptrack cannot see mimalloc, so this builds liaison with the system allocator (`--features
# system-allocator`) into target/heap (a build of its own, about 1 GiB; release without fat LTO). It runs
# the bench with short load phases and `--idle N`, attaches heaptrack to the gateway as soon as it serves
# (`heaptrack -p`, which needs gdb), and when the bench ends prints the peak heap, the largest places that
# held it, and the bench's own resident-memory figures (which the system allocator and heaptrack change:
# read them beside each other, not against BENCHMARKS.md's mimalloc figures).
#
# Needs: heaptrack, heaptrack_print and gdb (Debian: `apt-get install heaptrack gdb`; the script installs
# them when missing and it may), python3, nats-server (deploy/ensure-tools.sh).
#
# usage: benches/heap.sh [--idle N] [--top K] [--out FILE.zst]
#   --idle   idle subscriptions to open (default 2000)
#   --top    places to print (default 25)
#   --out    keep heaptrack's data file here (default: a temporary file, removed)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
idle=2000
top=25
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --idle) idle=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "heap.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
die() { echo "heap.sh: $*" >&2; exit 1; }

for tool in heaptrack heaptrack_print gdb; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -qq heaptrack gdb >/dev/null || die "could not install heaptrack and gdb"
    else
      die "$tool is missing (Debian: apt-get install heaptrack gdb)"
    fi
  fi
done
# shellcheck source=../deploy/ensure-tools.sh
source "$root/deploy/ensure-tools.sh"
ensure_nats_server >/dev/null

echo "building liaison with the system allocator (target/heap)" >&2
CARGO_TARGET_DIR="$root/target/heap" CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --quiet --release --features system-allocator --bin liaison \
  --manifest-path "$root/Cargo.toml"
bin="$root/target/heap/release/liaison"

work=$(mktemp -d)
bench_pid=""
cleanup() {
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then kill -INT "$bench_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" bench --seconds 1s --sizes 256 --clients 1 --fanout 10 --overtake-backlog 0 --idle "$idle" \
  >"$work/bench.txt" 2>"$work/progress.txt" &
bench_pid=$!
gateway=""
for _ in $(seq 1 600); do
  kill -0 "$bench_pid" 2>/dev/null || die "the bench ended before the gateway started: $(cat "$work/progress.txt")"
  gateway=$(pgrep -P "$bench_pid" -x liaison | head -1 || true)
  [ -n "$gateway" ] && break
  sleep 0.1
done
[ -n "$gateway" ] || die "no gateway under the bench after a minute"
echo "attaching heaptrack to the gateway ($gateway)" >&2
heaptrack -o "$work/gateway" -p "$gateway" >"$work/heaptrack.txt" 2>&1 &
heaptrack_pid=$!
wait "$bench_pid" || die "the bench failed: $(tail -5 "$work/progress.txt")"
bench_pid=""
wait "$heaptrack_pid" || true
data=$(ls "$work"/gateway*.zst 2>/dev/null | head -1)
[ -n "$data" ] || die "heaptrack wrote nothing: $(cat "$work/heaptrack.txt")"

heaptrack_print -f "$data" --print-peaks 0 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
  --flamegraph-cost-type peak -F "$work/peak.txt" >/dev/null 2>&1
python3 - "$work/peak.txt" "$top" "$idle" <<'PY'
import collections, re, sys

path, top, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ours = re.compile(r"liaison|async_nats|tonic|h2::|hyper|tokio::")
total, places = 0, collections.Counter()
for line in open(path):
    stack, _, count = line.rstrip().rpartition(" ")
    total += int(count)
    frames = [frame for frame in stack.split(";") if ours.search(frame)]
    # The innermost few frames of the crates above, leaf first, without generic noise.
    short = [re.sub(r"::h[0-9a-f]{16}|\{\{closure\}\}|_\$LT\$.*?\$GT\$|\(.*?\)", "", frame).strip() for frame in frames[-3:]]
    places[" <- ".join(reversed(short)) or "(no frame of those crates)"] += int(count)
print(f"peak heap {total / 2**20:.1f} MiB; with {idle} idle subscriptions that is at most "
      f"{total / 1024 / max(idle, 1):.1f} KiB each")
for place, size in places.most_common(top):
    print(f"{size / 2**20:8.2f} MiB  {size / 1024 / max(idle, 1):6.2f} KiB/sub  {place[:200]}")
PY
echo
grep -A4 "^Gateway resident memory" "$work/bench.txt" || true
if [ -n "$out" ]; then cp "$data" "$out" && echo "heaptrack data: $out (heaptrack_gui or heaptrack_print)"; fi

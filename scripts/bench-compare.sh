#!/usr/bin/env bash
# Same-run before/after comparison of two commits: builds the decision-path bench and the IPC bench (with the agent,
# helper and reference portal they run) at REF_A and REF_B, each from a throwaway copy of its tree
# (git archive, no worktree) in its own RelWithDebInfo build dir under $OA_COMPARE_DIR (ccache shared), then runs
# them alternately, A then B, for ROUNDS rounds, so that both sides see the same machine conditions. Prints, per
# round, each figure of A and B and the ratio B/A, then the median of the per-round ratios (1.00 = no change; above
# 1 = B slower). Figures: decision path at portal latency 0 (oa_decision_path_bench: "cache hit, socket" and
# "cache miss, socket" p50, ms) and the IPC server against an instant authorizer (oa_ipc_bench: agent p50 at 1 and
# at 32 connections in flight, us).
#
# Usage: scripts/bench-compare.sh REF_A REF_B
#   OA_COMPARE_ROUNDS=5           rounds (A, B per round)
#   OA_COMPARE_REQUESTS=2000      decision path: requests per path (hit, miss and their floors)
#   OA_COMPARE_IPC="20000 1500"   oa_ipc_bench: requests per connection in flight at C=1 and at C=32
#   OA_COMPARE_DIR=/var/tmp/oa-bench-compare   trees and builds, one per commit, kept for the next run
#                                 (rm -rf it when done)
#   OA_COMPARE_JOBS=2             build jobs
# Run it on a quiet machine (`uptime`): the ratio is only as good as the conditions the two sides share.
#
# The commits BENCHMARKS.md ("Before/after in one run") names: f2cc3fc is main just before issue 15's code work
# (the metrics registry and structure branches both forked from it); 7546539 is the end of the metrics registry
# branch, which added the decision-latency histograms (2 clock reads per answer) on top of f2cc3fc.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

[ $# -eq 2 ] || { sed -n '2,22p' "$0" >&2; exit 2; }
rounds=${OA_COMPARE_ROUNDS:-5}
requests=${OA_COMPARE_REQUESTS:-2000}
read -r ipc_c1 ipc_c32 <<<"${OA_COMPARE_IPC:-20000 1500}"
work=${OA_COMPARE_DIR:-/var/tmp/oa-bench-compare}
jobs=${OA_COMPARE_JOBS:-2}

sha_a=$(git rev-parse --verify "$1^{commit}")
sha_b=$(git rev-parse --verify "$2^{commit}")

# build SHA: the tree of SHA in $work/SHA/src (once), built in its build/ as in a checkout, so that the paths
# ccache sees (relative to the tree) are those of every other checkout's build/ and its hits are shared. Prints the
# build dir.
build() {
  local sha=$1 dir=$work/$1
  if [ ! -f "$dir/src/CMakeLists.txt" ]; then
    rm -rf "$dir/src"
    mkdir -p "$dir/src"
    git archive "$sha" | tar -x -C "$dir/src"
  fi
  CCACHE_BASEDIR="$dir/src" cmake -S "$dir/src" -B "$dir/src/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
  CCACHE_BASEDIR="$dir/src" cmake --build "$dir/src/build" -j "$jobs" --target oa_decision_path_bench oa_ipc_bench \
    >"$dir/build.log" 2>&1 || { echo "bench-compare: building ${sha:0:12} failed, see $dir/build.log" >&2; exit 1; }
  echo "$dir/src/build"
}

echo "bench-compare: building A ${sha_a:0:12} and B ${sha_b:0:12} in $work"
build_a=$(build "$sha_a")
build_b=$(build "$sha_b")

# p50 of a decision-path row: "| cache hit, socket | n | p50 | p99 | max | sources".
row_p50() { awk -F'|' -v row="$1" '{ name = $2; gsub(/^ +| +$/, "", name) } name == row { print $4 + 0; exit }'; }
# p50 of the agent at C connections in flight: "  agent  C=1  requests=... p50=   12.3 us ...".
ipc_p50() { awk -v c="C=$1" '$1 == "agent" && $2 == c { sub(/.*p50= */, ""); print $1 + 0; exit }'; }

# run_side BUILD LABEL ROUND: runs both benches once, logs them, prints "hit miss ipc1 ipc32".
run_side() {
  local b=$1 log=$work/round$3-$2.log
  "$b/bench/agent/decision_path/oa_decision_path_bench" --latencies 0 --requests "$requests" \
    --helper-requests 20 --storm-users 100 --storm-seconds 0.2 >"$log" 2>&1 ||
    { echo "bench-compare: decision path bench ($2) failed, see $log" >&2; exit 1; }
  "$b/bench/ipc/oa_ipc_bench" "$ipc_c1" "$ipc_c32" 1 >>"$log" 2>&1 ||
    { echo "bench-compare: oa_ipc_bench ($2) failed or miscounted, see $log" >&2; exit 1; }
  echo "$(row_p50 'cache hit, socket' <"$log") $(row_p50 'cache miss, socket' <"$log") $(ipc_p50 1 <"$log")" \
       "$(ipc_p50 32 <"$log")"
}

names=("hit p50 ms" "miss p50 ms" "ipc C=1 p50 us" "ipc C=32 p50 us")
declare -a ratios=("" "" "" "")
echo "bench-compare: $rounds rounds, decision path $requests requests per path, ipc $ipc_c1/$ipc_c32 per" \
     "connection; load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs, $(date -u '+%F %T') UTC"
printf '| %-5s | %-16s | %10s | %10s | %7s |\n|---|---|---:|---:|---:|\n' round figure A B "B/A"
for ((r = 1; r <= rounds; r++)); do
  out_a=$(run_side "$build_a" A "$r")
  out_b=$(run_side "$build_b" B "$r")
  read -r -a fa <<<"$out_a"
  read -r -a fb <<<"$out_b"
  for i in 0 1 2 3; do
    ratio=$(awk -v a="${fa[$i]}" -v b="${fb[$i]}" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
    ratios[i]+="$ratio "
    printf '| %-5s | %-16s | %10s | %10s | %6sx |\n' "$r" "${names[$i]}" "${fa[$i]}" "${fb[$i]}" "$ratio"
  done
done

echo
echo "median of the per-round ratios B/A (A ${sha_a:0:12}, B ${sha_b:0:12}; load average at end" \
     "$(cut -d' ' -f1-3 /proc/loadavg)):"
for i in 0 1 2 3; do
  median=$(tr ' ' '\n' <<<"${ratios[$i]}" | grep . | sort -g | awk '{ v[NR] = $1 }
    END { printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
  printf '  %-16s %sx\n' "${names[$i]}" "$median"
done

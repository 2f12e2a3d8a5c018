#!/usr/bin/env bash
# Builds one benchmark (RelWithDebInfo, in build/ or $OA_BUILD_DIR) and runs it with the arguments BENCHMARKS.md
# quotes; extra arguments are passed on. Benchmarks are measurements, never pass/fail: read BENCHMARKS.md for what
# each prints and the figures recorded. Run them on a quiet machine (`uptime`): every process of a run shares the CPUs.
# Usage: scripts/bench.sh TARGET [extra args]
#   revocation   issue 11: portal publish -> occtl started, 1 000 revocations, 1 000 live sessions
#   fanout       issue 11: one revocation delivered to 1 000 Watch streams, 20 rounds
#   variants     issues 11+12: decision path hit/miss p50 with enforcement and the outbox on vs off, same run
#   decision     issue 5: the decision path end to end (floors, hit, miss, storm)
#   outbox       issue 12: sustained events/s into the outbox, process and power durability
#   all          revocation, fanout and variants, one after the other
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

declare -A target_of=([revocation]=oa_revocation_latency_bench [fanout]=oa_watch_fanout_bench
                      [variants]=oa_decision_path_bench [decision]=oa_decision_path_bench
                      [outbox]=oa_outbox_bench)
declare -A path_of=([revocation]=bench/enforcement/oa_revocation_latency_bench
                    [fanout]=bench/enforcement/oa_watch_fanout_bench
                    [variants]=bench/agent/decision_path/oa_decision_path_bench
                    [decision]=bench/agent/decision_path/oa_decision_path_bench
                    [outbox]=bench/events/oa_outbox_bench)
declare -A args_of=([revocation]="--revocations 1000 --rate 50" [fanout]="--agents 1000 --rounds 20"
                    [variants]="--variants 5 --requests 2000 --revoked 100" [decision]=""
                    [outbox]="200000 /var/tmp")

what=${1:-}
[ -n "$what" ] || { sed -n '2,12p' "$0" >&2; exit 2; }
shift
if [ "$what" = all ]; then
  for t in revocation fanout variants; do "$0" "$t" "$@"; done
  exit 0
fi
[ -n "${target_of[$what]:-}" ] || { echo "bench.sh: unknown target '$what'" >&2; sed -n '2,12p' "$0" >&2; exit 2; }

configure_build "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" -j "$(build_jobs)" --target "${target_of[$what]}" >/dev/null
echo "bench.sh: $what on $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %T') UTC"
# The agent pipeline logs a line per revocation and forced disconnect (as deployed); keep them out of the figures.
log="$build_dir/bench-$what.log"
# shellcheck disable=SC2086  # args_of holds several words on purpose
"$build_dir/${path_of[$what]}" ${args_of[$what]} "$@" 2>"$log"
echo "bench.sh: the benchmark's log (stderr) is in $log"

#!/usr/bin/env bash
# Long soak of the deterministic simulation (docs/simulation.md): runs OA_SIM_SCHEDULES schedules (default 2 000 000)
# starting at seed OA_SIM_FIRST (default 1 000 001, past the seeds `ctest -L sim` runs), split over OA_SIM_JOBS
# processes (default: the number of cores). Each failing seed is printed with its shrunk trace; the exit status is
# non-zero if any schedule failed. Replay one with: build/tests/sim/oa_sim --replay SEED
# Usage: scripts/sim-soak.sh        OA_SIM_SCHEDULES=10000000 OA_SIM_FIRST=5000000 scripts/sim-soak.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

schedules=${OA_SIM_SCHEDULES:-2000000}
first=${OA_SIM_FIRST:-1000001}
jobs=${OA_SIM_JOBS:-$(nproc)}

configure_build "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" -j "$(build_jobs)" --target oa_sim

per_job=$(( (schedules + jobs - 1) / jobs ))
logs=$(mktemp -d)
echo "sim-soak: $schedules schedules from seed $first in $jobs process(es); logs in $logs"
pids=()
for (( j = 0; j < jobs; j++ )); do
  start=$(( first + j * per_job ))
  count=$(( schedules - j * per_job < per_job ? schedules - j * per_job : per_job ))
  (( count > 0 )) || break
  "$build_dir/tests/sim/oa_sim" --first "$start" --count "$count" >"$logs/$j.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
cat "$logs"/*.log | grep -v '^oa_sim:' || true
grep -h '^oa_sim:' "$logs"/*.log
total=$(grep -ho '[0-9]* schedules, [0-9]* steps, [0-9]* violation' "$logs"/*.log |
        awk '{s += $1; t += $3; v += $5} END {print s " schedules, " t " steps, " v " violation(s)"}')
echo "sim-soak: total $total"
exit $status

#!/usr/bin/env bash
# Builds every libFuzzer target with clang-14 (-fsanitize=fuzzer,address,undefined) in build-fuzz and runs each for
# OA_FUZZ_SECONDS (default 60) on a scratch copy of its committed seed corpus. Fails on any crash, leak or sanitizer
# report; prints executions per second and the total. scripts/sanitizers.sh calls it.
# Usage: scripts/fuzz.sh              OA_FUZZ_SECONDS=10 scripts/fuzz.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

seconds=${OA_FUZZ_SECONDS:-60}
dir="$repo_root/build-fuzz"
targets=(oa_ipc_wire_fuzz:ipc/fuzz:tests/fuzz/corpus/ipc_wire)

echo "fuzz: configuring $dir with clang-14"
CC=clang-14 CXX=clang++-14 configure_build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOA_FUZZ=ON \
  -DOA_BUILD_TESTS=OFF -DOA_BUILD_BENCH=OFF
cmake --build "$dir" -j "$(build_jobs)" --target "${targets[@]%%:*}"

status=0
for spec in "${targets[@]}"; do
  IFS=: read -r name subdir corpus <<<"$spec"
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/
  log="$dir/$name.log"
  echo "fuzz: running $name for ${seconds}s on a copy of $corpus"
  if ! (cd "$dir" && "$dir/$subdir/$name" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=70000 "$work" >"$log" 2>&1); then
    echo "fuzz: $name FAILED — see $log (crash inputs are written to $dir)"
    tail -n 40 "$log"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 || true)
  echo "fuzz: $name: $runs executions in ${seconds}s, $rate exec/s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) inputs"
  rm -rf "$work"
done
exit $status

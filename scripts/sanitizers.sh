#!/usr/bin/env bash
# The sanitizer runs CI adds to scripts/test.sh:
#   1. unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer (label "unit");
#   2. concurrency-sensitive unit tests built with ThreadSanitizer (label "tsan");
#   3. every libFuzzer target for a bounded time (OA_FUZZ_SECONDS, default 60) — see scripts/fuzz.sh.
# Each in its own build directory; ccache shares the work that can be shared.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

run_labelled() {  # run_labelled DIR LABEL SANITIZERS
  local dir=$1 label=$2 san=$3
  echo "sanitizers: $san build of the '$label' tests in $dir"
  configure_build "$dir" -DCMAKE_BUILD_TYPE=Debug -DOA_SANITIZE="$san" -DOA_BUILD_BENCH=OFF
  cmake --build "$dir" -j "$(build_jobs)" --target oa_label_"${label}"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$dir" --output-on-failure -j 2 --timeout 600 -L "$label"
}

run_labelled "$repo_root/build-asan" unit "address,undefined"
run_labelled "$repo_root/build-tsan" tsan "thread"
if [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh
fi

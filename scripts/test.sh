#!/usr/bin/env bash
# Runs every test: installs what is missing, configures, builds, and runs the whole CTest suite.
# Exits non-zero on any failure. Usage: scripts/test.sh [extra ctest args, e.g. -L unit or -R Breaker]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

scripts/bootstrap.sh
echo "test: configuring and building in $build_dir"
configure_build "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" -j "$(build_jobs)"
echo "test: running the CTest suite"
ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 300 "$@"

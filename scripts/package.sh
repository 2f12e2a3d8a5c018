#!/usr/bin/env bash
# Release packages into dist/: ocserv-agent_<version>_amd64.deb for Debian 12 and ocserv-agent-<version>-1.x86_64.rpm
# for EL9 (RHEL/AlmaLinux/Rocky Linux 9). Both ship the statically linked agent (packaging/static/), so the RPM needs
# only glibc >= 2.34, OpenSSL 3, zlib, libsystemd and SQLite from the system.
# Every package made is checked before it is kept: lintian (0 errors, 0 warnings), the RPM's requirements (no Debian
# soname, nothing above GLIBC_2.34), the unit's systemd-analyze exposure (<= 2.0), and the package test on both
# (payload, conffiles, maintainer scripts against a scratch root): tests/packaging/release_checks.sh and
# packaging_test.sh. The CTest test "packaging" runs this script with --no-build on the build tree.
# Usage: scripts/package.sh [--out DIR (default dist)] [--build-dir DIR] [--no-build]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

out=$repo_root/dist
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) build=no; shift ;;
    *) echo "usage: $0 [--out DIR] [--build-dir DIR] [--no-build]" >&2; exit 2 ;;
  esac
done

if [ "$build" = yes ]; then
  scripts/bootstrap.sh
  echo "package: configuring and building in $build_dir"
  # The same configuration as scripts/test.sh, so that the one build tree serves both (and ccache hits).
  configure_build "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$build_dir" -j "$(build_jobs)" --target oa_package_files
fi
[ -f "$build_dir/CPackConfig.cmake" ] || { echo "package: $build_dir is not configured" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/oa-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "package: cpack (DEB, RPM)"
if ! (cd "$work" && cpack --config "$build_dir/CPackConfig.cmake" -G "DEB;RPM" -B "$work") >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  echo "package: cpack failed" >&2
  exit 1
fi
debs=("$work"/*.deb) rpms=("$work"/*.rpm)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] && [ ${#rpms[@]} -eq 1 ] && [ -f "${rpms[0]}" ] \
  || { echo "package: cpack did not make one .deb and one .rpm" >&2; exit 1; }

tests/packaging/release_checks.sh --deb "${debs[0]}" --rpm "${rpms[0]}"
tests/packaging/packaging_test.sh --deb "${debs[0]}" --rpm "${rpms[0]}"

rm -f "$out"/ocserv-agent*.deb "$out"/ocserv-agent*.rpm
mv "${debs[0]}" "${rpms[0]}" "$out"/
echo "package: $out/$(basename "${debs[0]}") (Debian 12), $out/$(basename "${rpms[0]}") (EL9)"

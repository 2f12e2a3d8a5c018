#!/usr/bin/env bash
# The link step of the statically linked release binaries (packaging/static/CMakeLists.txt sets it as their
# CXX_LINKER_LAUNCHER). Usage: static_link.sh ARCHIVE_LIST LINK-COMMAND...
# LINK-COMMAND is the command CMake wrote for the target, which links the shared libraries of Debian's packages, as
# every other target does (same objects, same libraries, no second compile). This runs it with each shared library
# that ARCHIVE_LIST (one static archive path a line) has an archive for taken out — /usr/lib/.../libgrpc++.so.1.51.1
# and -lre2 go when libgrpc++.a and libre2.a are listed — and the archives appended in one group (a static archive's
# own dependencies, which a shared library records itself, need no order), followed by the shared libraries kept
# (the archives need some of them), with libstdc++ linked statically.
# Every other shared library (glibc, OpenSSL, zlib, libsystemd, SQLite, libgcc_s) stays as it was.
set -euo pipefail
list=$1; shift
archives=()
declare -A replaced=()
while IFS= read -r archive; do
  [ -n "$archive" ] || continue
  archives+=("$archive")
  name=$(basename "$archive" .a)
  replaced[${name#lib}]=1
done <"$list"

args=() kept_libs=()
for arg in "$@"; do
  name=""
  case "$arg" in
    *.so | *.so.*) name=$(basename "$arg"); name=${name%%.so*}; name=${name#lib} ;;
    -l*) name=${arg#-l} ;;
  esac
  if [ -n "$name" ] && [ -n "${replaced[$name]:-}" ]; then
    continue
  fi
  args+=("$arg")
  [ -z "$name" ] || kept_libs+=("$arg")
done
# The shared libraries kept are named again after the archives, which need some of them (OpenSSL, zlib).
exec "${args[@]}" -Wl,--start-group "${archives[@]}" -Wl,--end-group "${kept_libs[@]}" -static-libstdc++

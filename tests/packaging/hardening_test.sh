#!/usr/bin/env bash
# The shipped binaries carry the hardening of Debian's dpkg-buildflags (cmake/ProjectOptions.cmake): PIE (the helper
# as static-pie), full RELRO (GNU_RELRO + BIND_NOW), the stack protector and FORTIFY's checked functions.
# Usage: hardening_test.sh AGENT HELPER
set -euo pipefail
agent=$1 helper=$2
# shellcheck source-path=SCRIPTDIR source=check_helpers.sh
source "$(dirname "${BASH_SOURCE[0]}")/check_helpers.sh"

check_pie_relro() {  # check_pie_relro BINARY
  local bin=$1
  readelf -h "$bin" | grep -q 'Type:[[:space:]]*DYN' || fail "$bin is not position-independent (ELF type is not DYN)"
  readelf -l "$bin" | grep -q GNU_RELRO || fail "$bin has no GNU_RELRO segment"
  readelf -d "$bin" | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || fail "$bin is not linked with -z now"
}

check_pie_relro "$agent"
check_pie_relro "$helper"
readelf -d "$helper" | grep -q NEEDED && fail "$helper needs shared libraries (it must be static-pie)"
readelf -l "$helper" | grep -q INTERP && fail "$helper has a program interpreter (it must be static-pie)"
# The agent links glibc dynamically, so what it calls shows in its dynamic symbols.
syms=$(readelf --dyn-syms -W "$agent")
grep -q '__stack_chk_fail' <<<"$syms" || fail "$agent does not use the stack protector (__stack_chk_fail)"
grep -Eq '__[a-z0-9_]+_chk@' <<<"$syms" || fail "$agent calls no FORTIFY-checked function (__*_chk)"

finish hardening "problem(s)" "agent and helper are PIE with full RELRO; agent uses the stack protector and FORTIFY"

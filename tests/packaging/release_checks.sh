#!/usr/bin/env bash
# What a release package must satisfy besides its payload (scripts/package.sh runs this on every package it makes):
#   release_checks.sh --deb FILE --rpm FILE
# 1. lintian: no error and no warning on the .deb (the overrides, each with its reason:
#    packaging/debian/lintian-overrides).
# 2. The RPM runs on EL9: every requirement is one EL9's own packages provide (glibc, libgcc, OpenSSL 3, zlib,
#    libsystemd, SQLite, systemd, /bin/sh) — no Debian soname (libgrpc++.so.1.51, libprotobuf.so.32, libabsl_*,
#    libspdlog, libfmt, libyaml-cpp, libxxhash) — and no symbol version newer than EL9 has: GLIBC_2.34, GCC_11.0
#    (libgcc_s), OPENSSL_3.0.0, LIBSYSTEMD_252, ZLIB_1.2.11; no GLIBCXX/CXXABI at all (libstdc++ is linked in).
# 3. The unit's exposure (systemd-analyze security, offline) is at most 2.0.
# Exits 0 (all hold) or 1, saying which does not.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=check_helpers.sh
source "$(dirname "${BASH_SOURCE[0]}")/check_helpers.sh"
parse_package_args "$0 --deb FILE --rpm FILE" "$@"
[ -f "$deb" ] && [ -f "$rpmfile" ] || { echo "usage: $0 --deb FILE --rpm FILE" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/oa-release-checks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# 1. lintian. --fail-on error,warning: a warning fails too. (Not --show-overrides: with it lintian counts the
# overridden tags as failures; the overrides are in the package, each with its reason.)
echo "== lintian $(basename "$deb")"
if lintian --fail-on error,warning "$deb" >"$tmp/lintian" 2>&1; then
  pass "lintian: no error, no warning (overridden, with reasons: $(dpkg-deb --fsys-tarfile "$deb" \
    | tar -xO ./usr/share/lintian/overrides/ocserv-agent | grep -v '^#' | awk '{print $2}' | tr '\n' ' '))"
else
  fail "lintian reports errors or warnings"
fi
grep -v 'running with root privileges is not recommended' "$tmp/lintian" | sed 's/^/      /' || true

# 2. The RPM's requirements and the agent's symbol versions.
echo "== EL9 requirements of $(basename "$rpmfile")"
rpm -qp --requires "$rpmfile" 2>/dev/null | sed 's/[[:space:]]*$//' | sort -u >"$tmp/requires"
el9_provided='^(/bin/sh|systemd|config\(ocserv-agent\) = .*|rpmlib\(.*\) <= .*|rtld\(GNU_HASH\)'
el9_provided+='|(libc\.so\.6|libm\.so\.6|ld-linux-x86-64\.so\.2)(\(GLIBC_[0-9.]+\))?\(64bit\)|libc\.so\.6\(\)\(64bit\)'
el9_provided+='|libm\.so\.6\(\)\(64bit\)|ld-linux-x86-64\.so\.2\(\)\(64bit\)|libgcc_s\.so\.1\((GCC_[0-9.]+)?\)\(64bit\)'
el9_provided+='|lib(ssl|crypto)\.so\.3\((OPENSSL_[0-9.]+)?\)\(64bit\)|libz\.so\.1\((ZLIB_[0-9.]+)?\)\(64bit\)'
el9_provided+='|libsystemd\.so\.0\((LIBSYSTEMD_[0-9]+)?\)\(64bit\)|libsqlite3\.so\.0\(\)\(64bit\))$'
if foreign=$(grep -Ev "$el9_provided" "$tmp/requires"); then
  fail "the RPM requires what EL9 does not provide:"
  sed 's/^/      /' <<<"$foreign"
else
  pass "every RPM requirement is provided by EL9's glibc, libgcc, openssl-libs, zlib, systemd-libs, sqlite-libs"
fi
sed 's/^/      /' "$tmp/requires"

mkdir -p "$tmp/rpm-root"
# rpm2archive (rpm's own; no cpio needed) writes FILE.tgz beside FILE.
cp "$rpmfile" "$tmp/package.rpm"
rpm2archive "$tmp/package.rpm" && tar -xzf "$tmp/package.rpm.tgz" -C "$tmp/rpm-root"
agent=$tmp/rpm-root/usr/sbin/ocserv-agent
[ -x "$agent" ] || { echo "FAIL: the RPM has no /usr/sbin/ocserv-agent"; exit 1; }
# newest PREFIX: the highest PREFIX_x.y version the agent's dynamic symbols or version needs name.
newest() { { objdump -T -p "$agent" | grep -oE "\b$1_[0-9][0-9.]*\b" || true; } | sed "s/^$1_//" | sort -V | tail -n1; }
# at_most PREFIX LIMIT
at_most() {
  local got
  got=$(newest "$1")
  if [ -z "$got" ]; then
    pass "the agent needs no $1 symbol version"
  elif [ "$(printf '%s\n%s\n' "$got" "$2" | sort -V | tail -n1)" = "$2" ]; then
    pass "the agent needs $1_$got at most (EL9 has $1_$2)"
  else
    fail "the agent needs $1_$got; EL9 has $1_$2 (objdump -T shows which symbol)"
    objdump -T "$agent" | grep -F "($1_$got)" | sed 's/^/      /'
  fi
}
at_most GLIBC 2.34
at_most GCC 11.0
at_most OPENSSL 3.0.0
at_most LIBSYSTEMD 252
at_most ZLIB 1.2.11
if objdump -T "$agent" | grep -qE 'GLIBCXX_|CXXABI_'; then
  fail "the agent needs a shared libstdc++ (GLIBCXX/CXXABI symbols)"
else
  pass "the agent has libstdc++ linked in (no GLIBCXX/CXXABI symbol)"
fi
needed=$(readelf -d "$agent" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
expected_needed="ld-linux-x86-64.so.2 libc.so.6 libcrypto.so.3 libgcc_s.so.1 libm.so.6 libsqlite3.so.0 libssl.so.3 "
expected_needed+="libsystemd.so.0 libz.so.1 "
if [ "$needed" = "$expected_needed" ]; then
  pass "the agent's NEEDED: $needed"
else
  fail "the agent's NEEDED is '$needed', expected '$expected_needed'"
fi

# 3. The unit as packaged.
echo "== systemd-analyze security"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/ocserv-agent.service >"$tmp/ocserv-agent.service"
cmp -s "$tmp/ocserv-agent.service" "$tmp/rpm-root/usr/lib/systemd/system/ocserv-agent.service" \
  || fail "the DEB and the RPM ship different units"
# --threshold=20: a non-zero exit above exposure 2.0 (the scale is 0-100 there).
if systemd-analyze security --offline=true --threshold=20 "$tmp/ocserv-agent.service" >"$tmp/security" 2>&1; then
  pass "unit exposure: $(grep -o 'exposure level.*' "$tmp/security") (at most 2.0)"
else
  fail "unit exposure above 2.0: $(grep -o 'exposure level.*' "$tmp/security" || cat "$tmp/security")"
  grep '✗' "$tmp/security" | sed 's/^/      /'
fi

finish "release checks" failed "all passed"

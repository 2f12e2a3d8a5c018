#!/usr/bin/env bash
# Packaging test: scripts/package.sh runs it on every pair of packages it makes (the CTest test "packaging" runs
# package.sh on the build tree).
#   packaging_test.sh --deb FILE --rpm FILE
# 1. the payload is exactly the expected files and modes, conffiles lists the example config, the maintainer scripts
#    are executable, parse (sh -n) and have no @...@ left; systemd-analyze verify passes on the unit; the man pages,
#    the ocserv snippets and the copyright shipped are the source's, and the man pages format without groff warnings;
# 2. the maintainer scripts, run against a scratch root (OA_PKG_ROOT, see packaging/maintainer-common.sh) with fake
#    systemctl, deb-systemd-helper and deb-systemd-invoke first in PATH that record their arguments: the DEB follows
#    dh_installsystemd (enable through deb-systemd-helper unless the admin disabled it, start on first install once
#    the config is valid, try-restart on upgrade, stop on remove, mask/purge state), the RPM the %systemd_* macros
#    (preset on first install, disable --now on erase, try-restart after an upgrade); config.yaml copied once, an
#    edited one survives an upgrade.
# Nothing is installed on this machine (no dpkg -i, no rpm -i). Exits 0 (pass), 1 (fail) or 77 (skip).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=check_helpers.sh
source "$(dirname "${BASH_SOURCE[0]}")/check_helpers.sh"
parse_package_args "$0 --deb FILE [--rpm FILE]" "$@"
[ -f "$deb" ] || { echo "usage: $0 --deb FILE [--rpm FILE]" >&2; exit 2; }
command -v dpkg-deb >/dev/null || { echo "SKIP: dpkg-deb not found"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/oa-packaging.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# check_script DESC FILE: parses as POSIX sh (dash on Debian), and no @...@ was left unsubstituted.
check_script() {
  expect "$1 parses (sh -n)" sh -n "$2"
  if grep -nE '@[A-Za-z0-9_]+@' "$2"; then fail "$1 has unsubstituted @...@"; else pass "$1 has no @...@ left"; fi
}

# ---------------------------------------------------------------------------------------------------------------
echo "== DEB $(basename "$deb")"
# perms owner path; sizes and dates vary.
expected_deb_payload="drwxr-xr-x root/root ./etc/
drwxr-x--- root/root ./etc/ocserv-agent/
-rw-r--r-- root/root ./etc/ocserv-agent/config.yaml.example
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/lib/
drwxr-xr-x root/root ./usr/lib/systemd/
drwxr-xr-x root/root ./usr/lib/systemd/system/
-rw-r--r-- root/root ./usr/lib/systemd/system/ocserv-agent.service
drwxr-xr-x root/root ./usr/libexec/
drwxr-xr-x root/root ./usr/libexec/ocserv-agent/
-rwxr-xr-x root/root ./usr/libexec/ocserv-agent/ocserv-agent-auth
-rwxr-xr-x root/root ./usr/libexec/ocserv-agent/ocserv-agent-auth.sh
drwxr-xr-x root/root ./usr/sbin/
-rwxr-xr-x root/root ./usr/sbin/ocserv-agent
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/ocserv-agent/
-rw-r--r-- root/root ./usr/share/doc/ocserv-agent/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/ocserv-agent/copyright
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/ocserv-agent
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man8/
-rw-r--r-- root/root ./usr/share/man/man8/ocserv-agent-auth.8.gz
-rw-r--r-- root/root ./usr/share/man/man8/ocserv-agent.8.gz
drwxr-xr-x root/root ./usr/share/ocserv-agent/
drwxr-xr-x root/root ./usr/share/ocserv-agent/monitoring/
-rw-r--r-- root/root ./usr/share/ocserv-agent/monitoring/ocserv-agent-dashboard.json
-rw-r--r-- root/root ./usr/share/ocserv-agent/monitoring/ocserv-agent.rules.yml
-rw-r--r-- root/root ./usr/share/ocserv-agent/ocserv-agent-env.conf
-rw-r--r-- root/root ./usr/share/ocserv-agent/ocserv.conf.snippet"
expect_eq "DEB payload is exactly the agent, the helper + wrapper, the unit, the example config, the man pages, the ocserv snippets, copyright, changelog, lintian overrides, the monitoring files" \
  "$expected_deb_payload" "$(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort -k3)"

ctl=$tmp/deb-control
dpkg-deb -e "$deb" "$ctl"
expect_eq "DEB control files" "conffiles control md5sums postinst postrm prerm" "$(cd "$ctl" && ls | tr '\n' ' ' | sed 's/ $//')"
expect_eq "DEB conffiles is the example config" "/etc/ocserv-agent/config.yaml.example" "$(cat "$ctl/conffiles")"
expect_eq "DEB Package" "ocserv-agent" "$(dpkg-deb -f "$deb" Package)"
expect "DEB Depends on systemd" grep -qE '^Depends: (.*, )?systemd(,|$)' "$ctl/control"
for s in postinst prerm postrm; do
  expect "DEB $s is executable" test -x "$ctl/$s"
  expect_eq "DEB $s runs under /bin/sh" "#!/bin/sh" "$(head -n1 "$ctl/$s")"
  check_script "DEB $s" "$ctl/$s"
done

payload=$tmp/deb-payload
dpkg-deb -x "$deb" "$payload"
expect "the packaged config example is the source tree's" \
  cmp -s "$payload/etc/ocserv-agent/config.yaml.example" "$(dirname "$0")/../../config.yaml.example"
# check_shipped_docs ROOT PKG: the man pages are the source's, compressed; the ocserv snippets are the source's.
src=$(dirname "$0")/../..
check_shipped_docs() {
  local page
  for page in ocserv-agent.8 ocserv-agent-auth.8; do
    expect "$2 ships man page $page as the source's, gzipped" \
      cmp -s <(gzip -dc "$1/usr/share/man/man8/$page.gz") "$src/docs/man/$page"
  done
  for f in ocserv.conf.snippet ocserv-agent-env.conf; do
    expect "$2 ships $f as the source's" cmp -s "$1/usr/share/ocserv-agent/$f" "$src/packaging/ocserv/$f"
  done
  expect "$2 ships the copyright as the source's" \
    cmp -s "$1/usr/share/doc/ocserv-agent/copyright" "$src/packaging/debian/copyright"
  for f in ocserv-agent.rules.yml ocserv-agent-dashboard.json; do
    expect "$2 ships $f as the source's" cmp -s "$1/usr/share/ocserv-agent/monitoring/$f" "$src/packaging/monitoring/$f"
  done
}
check_shipped_docs "$payload" DEB
expect "DEB ships the changelog as the source's, gzipped" \
  cmp -s <(gzip -dc "$payload/usr/share/doc/ocserv-agent/changelog.gz") "$src/packaging/debian/changelog"
expect "DEB ships the lintian overrides as the source's" \
  cmp -s "$payload/usr/share/lintian/overrides/ocserv-agent" "$src/packaging/debian/lintian-overrides"
expect_eq "DEB Maintainer is not root@localhost" "" "$(dpkg-deb -f "$deb" Maintainer | grep -i 'root@localhost' || true)"
expect "DEB has a Homepage" test -n "$(dpkg-deb -f "$deb" Homepage)"
# The man pages format without a warning (groff -ww: all warnings on).
if command -v groff >/dev/null; then
  for page in ocserv-agent.8 ocserv-agent-auth.8; do
    if out=$(groff -man -Tutf8 -ww -z "$src/docs/man/$page" 2>&1) && [ -z "$out" ]; then
      pass "man page $page formats without groff warnings"
    else
      fail "man page $page formats without groff warnings"
      sed 's/^/      /' <<<"$out"
    fi
  done
else
  echo "note: groff not found: the man pages are not checked for warnings"
fi

# systemd-analyze verify checks that ExecStart's binary exists: /usr/sbin/ocserv-agent is not installed here, so the
# copy verified points ExecStart at the packaged binary, unpacked (the rest of the unit is verified as packaged).
agent=$payload/usr/sbin/ocserv-agent
if command -v systemd-analyze >/dev/null; then
  unit_dir=$tmp/unit
  mkdir -p "$unit_dir"
  sed "s#^ExecStart=/usr/sbin/ocserv-agent #ExecStart=$agent #" \
    "$payload/usr/lib/systemd/system/ocserv-agent.service" >"$unit_dir/ocserv-agent.service"
  expect "the unit's ExecStart is /usr/sbin/ocserv-agent" grep -q "^ExecStart=$agent " "$unit_dir/ocserv-agent.service"
  if out=$(systemd-analyze verify --man=no "$unit_dir/ocserv-agent.service" 2>&1) \
      && ! grep -qiE 'unknown|invalid|failed to parse|ignoring' <<<"$out"; then
    pass "systemd-analyze verify"
  else
    fail "systemd-analyze verify"
    sed 's/^/      /' <<<"$out"
  fi
else
  echo "note: systemd-analyze not found: the unit is not verified"
fi

# ---------------------------------------------------------------------------------------------------------------
# The maintainer scripts' behaviour. Fake systemctl, deb-systemd-helper and deb-systemd-invoke: one line per call in
# $calls, the command's name and its arguments. deb-systemd-helper was-enabled answers as $was_enabled says (the
# real one says yes for a unit it never saw, i.e. on a first install, and remembers an admin's disable after that).
mkdir -p "$tmp/bin"
calls=$tmp/calls
was_enabled=$tmp/was-enabled
for cmd in systemctl deb-systemd-helper deb-systemd-invoke; do
  cat >"$tmp/bin/$cmd" <<EOS
#!/bin/sh
echo "$cmd \$*" >>"$calls"
if [ "$cmd" = deb-systemd-helper ] && [ "\$2" = was-enabled ]; then
  [ -e "$was_enabled" ]
fi
EOS
  chmod +x "$tmp/bin/$cmd"
done
export PATH="$tmp/bin:$PATH"
touch "$was_enabled"

# new_root NAME [nosystemd]: a scratch / with the package unpacked into it (as dpkg would), deb-systemd-helper where
# Debian's init-system-helpers puts it (postrm looks for it) and, unless told not, the directory by which the
# scripts tell that systemd runs. Prints its path.
new_root() {
  local root=$tmp/$1
  dpkg-deb -x "$deb" "$root"
  mkdir -p "$root/usr/bin"
  cp "$tmp/bin/deb-systemd-helper" "$root/usr/bin/"
  [ "${2:-}" = nosystemd ] || mkdir -p "$root/run/systemd/system"
  echo "$root"
}
# config_ready ROOT: the agent in ROOT accepts any config (the real one refuses the example: no certificates).
config_ready() {
  printf '#!/bin/sh\n[ "$1" = --check-config ] && exit 0\nexit 1\n' >"$1/usr/sbin/ocserv-agent"
}
# run ROOT SCRIPT ARGS...: runs a maintainer script as the package manager would; its stdout+stderr in $out.
out=$tmp/script.out
run() {
  local root=$1; shift
  : >"$calls"
  if ! OA_PKG_ROOT=$root "$@" >"$out" 2>&1; then
    fail "$(basename "$1") ${*:2} exited non-zero"
    sed 's/^/      /' "$out"
  fi
}
got() { cat "$calls"; }
mode() { stat -c %a "$1"; }
u=ocserv-agent.service
enable_calls="deb-systemd-helper unmask $u
deb-systemd-helper --quiet was-enabled $u
deb-systemd-helper enable $u"

echo "== DEB maintainer scripts"
root=$(new_root deb-root)
config_ready "$root"
conf=$root/etc/ocserv-agent/config.yaml

run "$root" "$ctl/postinst" configure ""
expect_eq "first install (configure, no old version): enable (deb-systemd-helper) + start (deb-systemd-invoke)" \
  "$enable_calls
systemctl --system daemon-reload
deb-systemd-invoke start $u" "$(got)"
expect "first install: config.yaml copied from the example" cmp -s "$root/etc/ocserv-agent/config.yaml.example" "$conf"
expect_eq "first install: config.yaml mode" 640 "$(mode "$conf")"
expect_eq "first install: pki/ created 0750" 750 "$(mode "$root/etc/ocserv-agent/pki")"

# The operator edits the config and tightens the pki directory; the example changes in the new version.
echo "# edited by the operator" >>"$conf"
cp "$conf" "$tmp/edited"
chmod 0600 "$conf"
chmod 0700 "$root/etc/ocserv-agent/pki"
echo "# new example" >>"$root/etc/ocserv-agent/config.yaml.example"

# dpkg's upgrade order: old prerm upgrade, (unpack), old postrm upgrade, new postinst configure OLD-VERSION.
run "$root" "$ctl/prerm" upgrade 0.1.1
expect_eq "upgrade: prerm upgrade leaves the service alone" "" "$(got)"
run "$root" "$ctl/postrm" upgrade 0.1.1
expect_eq "upgrade: postrm upgrade only reloads" "systemctl --system daemon-reload" "$(got)"
run "$root" "$ctl/postinst" configure 0.1.0
expect_eq "upgrade (configure 0.1.0), unit enabled: enable again (new symlinks), try-restart (a stopped agent stays)" \
  "$enable_calls
systemctl --system daemon-reload
deb-systemd-invoke try-restart $u" "$(got)"
expect "upgrade: the edited config.yaml survives" cmp -s "$tmp/edited" "$conf"
expect_eq "upgrade: config.yaml keeps its mode" 600 "$(mode "$conf")"
expect_eq "upgrade: pki/ keeps its mode" 700 "$(mode "$root/etc/ocserv-agent/pki")"

# The admin disabled the unit: an upgrade only updates deb-systemd-helper's state, never enables it again.
rm "$was_enabled"
run "$root" "$ctl/postinst" configure 0.1.0
expect_eq "upgrade, unit disabled by the admin: update-state, no enable" \
  "deb-systemd-helper unmask $u
deb-systemd-helper --quiet was-enabled $u
deb-systemd-helper update-state $u
systemctl --system daemon-reload
deb-systemd-invoke try-restart $u" "$(got)"
touch "$was_enabled"

run "$root" "$ctl/prerm" remove
expect_eq "remove: prerm stops (deb-systemd-invoke)" "deb-systemd-invoke stop $u" "$(got)"
run "$root" "$ctl/postrm" remove
expect_eq "remove: postrm reloads and masks (until a reinstall unmasks)" "systemctl --system daemon-reload
deb-systemd-helper mask $u" "$(got)"
expect "remove: config.yaml stays" test -f "$conf"

# purge: dpkg has removed the conffile (the example) by the time postrm purge runs.
rm "$root/etc/ocserv-agent/config.yaml.example"
echo key >"$root/etc/ocserv-agent/pki/agent-client.key"
run "$root" "$ctl/postrm" purge
expect_eq "purge: reload, forget the enable state, unmask" "systemctl --system daemon-reload
deb-systemd-helper purge $u
deb-systemd-helper unmask $u" "$(got)"
expect "purge: config.yaml removed" test ! -e "$conf"
expect "purge: a private key is never deleted" test -f "$root/etc/ocserv-agent/pki/agent-client.key"
rm "$root/etc/ocserv-agent/pki/agent-client.key"
run "$root" "$ctl/postrm" purge
expect "purge: empty directories removed" test ! -e "$root/etc/ocserv-agent"

# First install with the real agent and the unedited example: the config is not valid (no certificates).
root=$(new_root deb-root-unconfigured)
run "$root" "$ctl/postinst" configure ""
expect_eq "first install, config not ready: enable, no start" \
  "$enable_calls
systemctl --system daemon-reload" "$(got)"
expect "first install, config not ready: says what to do" grep -q "is not ready yet" "$out"

# No systemd running (a chroot, a container, an image build): enabled as debhelper does (symlinks, no systemctl),
# nothing started, stopped or reloaded; everything succeeds.
root=$(new_root deb-root-nosystemd nosystemd)
config_ready "$root"
run "$root" "$ctl/postinst" configure ""
expect_eq "without systemd: first install enables only" "$enable_calls" "$(got)"
for step in "prerm upgrade 0.1.1" "prerm remove"; do
  # shellcheck disable=SC2086  # split into script name and arguments
  set -- $step
  run "$root" "$ctl/$1" "${@:2}"
  expect_eq "without systemd: $step does nothing" "" "$(got)"
done
run "$root" "$ctl/postrm" remove
expect_eq "without systemd: postrm remove masks only" "deb-systemd-helper mask $u" "$(got)"
run "$root" "$ctl/postrm" purge
expect_eq "without systemd: postrm purge forgets the state only" "deb-systemd-helper purge $u
deb-systemd-helper unmask $u" "$(got)"

# ---------------------------------------------------------------------------------------------------------------
if [ -n "$rpmfile" ] && command -v rpm >/dev/null; then
  echo "== RPM $(basename "$rpmfile")"
  # rpmbuild adds /usr/lib/.build-id/ links to the binaries on its own: not ours, left out of the comparison.
  expected_rpm_payload="drwxr-x--- /etc/ocserv-agent
-rw-r--r-- /etc/ocserv-agent/config.yaml.example
-rw-r--r-- /usr/lib/systemd/system/ocserv-agent.service
drwxr-xr-x /usr/libexec/ocserv-agent
-rwxr-xr-x /usr/libexec/ocserv-agent/ocserv-agent-auth
-rwxr-xr-x /usr/libexec/ocserv-agent/ocserv-agent-auth.sh
-rwxr-xr-x /usr/sbin/ocserv-agent
drwxr-xr-x /usr/share/doc/ocserv-agent
-rw-r--r-- /usr/share/doc/ocserv-agent/copyright
-rw-r--r-- /usr/share/man/man8/ocserv-agent-auth.8.gz
-rw-r--r-- /usr/share/man/man8/ocserv-agent.8.gz
drwxr-xr-x /usr/share/ocserv-agent
drwxr-xr-x /usr/share/ocserv-agent/monitoring
-rw-r--r-- /usr/share/ocserv-agent/monitoring/ocserv-agent-dashboard.json
-rw-r--r-- /usr/share/ocserv-agent/monitoring/ocserv-agent.rules.yml
-rw-r--r-- /usr/share/ocserv-agent/ocserv-agent-env.conf
-rw-r--r-- /usr/share/ocserv-agent/ocserv.conf.snippet"
  expect_eq "RPM payload is exactly the agent, the helper + wrapper, the unit, the example config, the man pages, the ocserv snippets, the copyright, the monitoring files" \
    "$expected_rpm_payload" \
    "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmfile" 2>/dev/null | grep -v ' /usr/lib/.build-id' | sort -k2)"
  expect_eq "RPM: the one %config file is the example, noreplace" "/etc/ocserv-agent/config.yaml.example cn" \
    "$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmfile" 2>/dev/null | awk '$2 ~ /c/ {print $1, $2}')"
  expect "RPM requires systemd" grep -qx systemd <(rpm -qp --requires "$rpmfile" 2>/dev/null)
  expect "RPM has a URL" test "$(rpm -qp --qf '%{URL}' "$rpmfile" 2>/dev/null)" != "(none)"
  expect "RPM has a changelog" test -n "$(rpm -qp --changelog "$rpmfile" 2>/dev/null)"
  expect "RPM is not relocatable" test "$(rpm -qp --qf '%{PREFIXES}' "$rpmfile" 2>/dev/null)" = "(none)"
  expect "RPM description says it is for EL9" grep -q "EL9" <(rpm -qp --qf '%{DESCRIPTION}' "$rpmfile" 2>/dev/null)
  # %post, %preun, %postun: each to a file, run as rpm does (sh FILE ARG).
  for s in POSTIN PREUN POSTUN; do
    expect_eq "RPM %$s runs under /bin/sh" /bin/sh "$(rpm -qp --qf "%{${s}PROG}" "$rpmfile" 2>/dev/null)"
    rpm -qp --qf "%{$s}\n" "$rpmfile" 2>/dev/null >"$tmp/rpm-$s"
    check_script "RPM %$s" "$tmp/rpm-$s"
  done
  expect "RPM has no %pre scriptlet" test "$(rpm -qp --qf '%{PREIN}' "$rpmfile" 2>/dev/null)" = "(none)"

  echo "== RPM scriptlets"
  root=$(new_root rpm-root)
  config_ready "$root"
  conf=$root/etc/ocserv-agent/config.yaml
  run "$root" sh "$tmp/rpm-POSTIN" 1
  expect_eq "RPM first install (%post 1): the presets decide, nothing started (%systemd_post)" \
    "systemctl --no-reload preset $u" "$(got)"
  expect "RPM first install: config.yaml copied from the example" \
    cmp -s "$root/etc/ocserv-agent/config.yaml.example" "$conf"
  echo "# edited by the operator" >>"$conf"
  cp "$conf" "$tmp/edited"
  # rpm's upgrade order: new %post 2, old %preun 1, old %postun 1.
  run "$root" sh "$tmp/rpm-POSTIN" 2
  expect_eq "RPM upgrade (%post 2): no preset again (the admin's enable/disable stands)" "" "$(got)"
  run "$root" sh "$tmp/rpm-PREUN" 1
  expect_eq "RPM upgrade (%preun 1): leaves the service alone" "" "$(got)"
  run "$root" sh "$tmp/rpm-POSTUN" 1
  expect_eq "RPM upgrade (%postun 1): reload, try-restart (%systemd_postun_with_restart)" "systemctl daemon-reload
systemctl try-restart $u" "$(got)"
  expect "RPM upgrade: the edited config.yaml survives" cmp -s "$tmp/edited" "$conf"
  run "$root" sh "$tmp/rpm-PREUN" 0
  expect_eq "RPM erase (%preun 0): disable --now (%systemd_preun)" "systemctl --no-reload disable --now $u" "$(got)"
  run "$root" sh "$tmp/rpm-POSTUN" 0
  expect_eq "RPM erase (%postun 0): only reloads" "systemctl daemon-reload" "$(got)"

  root=$(new_root rpm-root-unconfigured)
  run "$root" sh "$tmp/rpm-POSTIN" 1
  expect "RPM first install, config not ready: says what to do" grep -q "is not ready yet" "$out"

  root=$(new_root rpm-root-nosystemd nosystemd)
  config_ready "$root"
  run "$root" sh "$tmp/rpm-POSTIN" 1
  expect_eq "RPM without systemd: %post 1 applies the preset (offline, as %systemd_post)" \
    "systemctl --no-reload preset $u" "$(got)"
  run "$root" sh "$tmp/rpm-POSTUN" 1
  expect_eq "RPM without systemd: %postun 1 does nothing" "" "$(got)"
  run "$root" sh "$tmp/rpm-PREUN" 0
  expect_eq "RPM without systemd: %preun 0 disables, stops nothing" "systemctl --no-reload disable $u" "$(got)"
else
  echo "note: no RPM given or rpm not found: the RPM is not checked (scripts/bootstrap.sh installs the rpm package)"
fi

echo
finish packaging "check(s) failed" "all checks passed"

# Shared by the DEB and RPM maintainer scripts (inlined into each by CMake at configure time). POSIX sh.
# Each package follows its distribution's own convention for the unit (debhelper's dh_installsystemd snippets on
# Debian: deb-systemd-helper / deb-systemd-invoke; the %systemd_* macros on EL: presets), so that an admin's
# `systemctl disable` or `stop`, a policy-rc.d or a preset file is honoured as for any other package; see
# debian/*.in and rpm/*.in. Without a running systemd (a chroot, a container, an image build) nothing is started,
# stopped or reloaded. A failure of systemctl never fails the package operation.
#
# OA_PKG_ROOT (tests/packaging only): a directory standing in for / in every path below (the config, the binary for
# --check-config, the systemd detection). Unset in production, where the paths are the real ones.
oa_root=${OA_PKG_ROOT:-}
oa_etc=$oa_root/etc/ocserv-agent
oa_conf=$oa_etc/config.yaml
oa_unit=ocserv-agent.service

oa_systemd_running() { [ -d "$oa_root/run/systemd/system" ]; }

# Every configure: a config to edit (copied from the example only when missing: edits survive upgrades), and a
# private directory for the certificates. Existing directories keep their mode (an admin's chmod stands);
# /etc/ocserv-agent itself comes from the package (0750).
oa_install_config() {
  [ -d "$oa_etc/pki" ] || install -d -m 0750 "$oa_etc/pki"
  [ -e "$oa_conf" ] || install -m 0640 "$oa_etc/config.yaml.example" "$oa_conf"
}

# oa_config_ready: the config passes --check-config. A fresh install has no certificates yet: it is not started
# then (it would only fail), and the admin is told what to do instead.
oa_config_ready() {
  if "$oa_root/usr/sbin/ocserv-agent" --check-config -c "$oa_conf" >/dev/null 2>&1; then
    return 0
  fi
  echo "ocserv-agent: $oa_conf is not ready yet. Put the certificates in $oa_etc/pki, edit the file,"
  echo "ocserv-agent: check it with 'ocserv-agent --check-config -c $oa_conf', then 'systemctl start ocserv-agent'."
  return 1
}

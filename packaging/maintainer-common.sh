# Shared by the DEB and RPM maintainer scripts (inlined into each by CMake at configure time). POSIX sh.
# Policy: enable and start on first install only; an upgrade restarts the agent only if it is running, so an
# admin's `systemctl disable` or `stop` stands; remove stops it; DEB purge / RPM erase disables it. Without a
# running systemd (a chroot, a container, an image build) no systemctl is called; a systemctl failure never fails
# the package operation.
#
# OA_PKG_ROOT (tests/packaging only): a directory standing in for / in every path below (the config, the binary for
# --check-config, the systemd detection). Unset in production, where the paths are the real ones.
oa_root=${OA_PKG_ROOT:-}
oa_etc=$oa_root/etc/ocserv-agent
oa_conf=$oa_etc/config.yaml
oa_unit=ocserv-agent.service

oa_systemd_running() { [ -d "$oa_root/run/systemd/system" ]; }

# oa_systemctl ARGS...: systemctl when systemd runs; its failure is ignored.
oa_systemctl() {
  if oa_systemd_running; then
    systemctl "$@" || true
  fi
}

# Every configure: a config to edit (copied from the example only when missing: edits survive upgrades), and a
# private directory for the certificates. Existing directories keep their mode (an admin's chmod stands);
# /etc/ocserv-agent itself comes from the package (0750).
oa_install_config() {
  [ -d "$oa_etc/pki" ] || install -d -m 0750 "$oa_etc/pki"
  [ -e "$oa_conf" ] || install -m 0640 "$oa_etc/config.yaml.example" "$oa_conf"
}

# First install: enable; start only when the config is valid, so that a fresh install with no certificates yet
# does not leave a failed unit behind — it says what to do instead.
oa_first_install() {
  oa_install_config
  oa_systemd_running || return 0
  oa_systemctl daemon-reload >/dev/null 2>&1
  oa_systemctl enable "$oa_unit" >/dev/null 2>&1
  if "$oa_root/usr/sbin/ocserv-agent" --check-config -c "$oa_conf" >/dev/null 2>&1; then
    oa_systemctl start "$oa_unit"
  else
    echo "ocserv-agent: $oa_conf is not ready yet. Put the certificates in $oa_etc/pki, edit the file,"
    echo "ocserv-agent: check it with 'ocserv-agent --check-config -c $oa_conf', then 'systemctl start ocserv-agent'."
  fi
}

# Upgrade: enabled or not, running or not, stays as the admin left it; a running agent restarts on the new binary.
oa_upgrade() {
  oa_install_config
  oa_systemctl daemon-reload >/dev/null 2>&1
  oa_systemctl try-restart "$oa_unit"
}

# Shared by the DEB and RPM maintainer scripts (inlined into each by CMake at configure time).
oa_conf=/etc/ocserv-agent/config.yaml

# First install: a config to edit, and a private directory for the certificates.
oa_install_config() {
  install -d -m 0750 /etc/ocserv-agent /etc/ocserv-agent/pki
  if [ ! -e "$oa_conf" ]; then
    install -m 0640 /etc/ocserv-agent/config.yaml.example "$oa_conf"
  fi
}

# Enable the unit; (re)start it only when the config is valid, so that a fresh install with no certificates yet
# does not leave a failed unit behind — it says what to do instead.
oa_enable_and_start() {
  [ -d /run/systemd/system ] || return 0
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl enable ocserv-agent.service >/dev/null 2>&1 || true
  if /usr/sbin/ocserv-agent --check-config -c "$oa_conf" >/dev/null 2>&1; then
    systemctl restart ocserv-agent.service || true
  else
    echo "ocserv-agent: $oa_conf is not ready yet. Put the certificates in /etc/ocserv-agent/pki, edit the file,"
    echo "ocserv-agent: check it with 'ocserv-agent --check-config -c $oa_conf', then 'systemctl start ocserv-agent'."
  fi
}

oa_stop_and_disable() {
  [ -d /run/systemd/system ] || return 0
  systemctl stop ocserv-agent.service >/dev/null 2>&1 || true
  systemctl disable ocserv-agent.service >/dev/null 2>&1 || true
}

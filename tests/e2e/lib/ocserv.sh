# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# ocserv.sh: ocserv configuration, its password file, and starting/stopping an ocserv instance in the server
# namespace. Sourced by e2e.sh. Several instances may run side by side (the timing runs two), each with its own
# port, device prefix, VPN pool and runtime files under $E2E_TMP/ocserv-NAME/.

E2E_USER_PASSWORD=e2e-pass   # every test user has the same password: authentication is not what is tested

# ocserv_passwd FILE USER...: a plain-auth password file (ocpasswd) with the given users.
ocserv_passwd() {
  local file=$1 user; shift
  : >"$file"
  for user in "$@"; do
    printf '%s\n%s\n' "$E2E_USER_PASSWORD" "$E2E_USER_PASSWORD" | ocpasswd -c "$file" "$user" >/dev/null 2>&1 ||
      die "ocpasswd could not add $user"
  done
}

# ocserv_write_config NAME PORT POOL_OCTET CONNECT DISCONNECT HOST_UPDATE RESTRICT(true|false)
# Writes $E2E_TMP/ocserv-NAME/ocserv.conf: ocserv on 10.99.0.1:PORT (TCP only; DTLS is off so that a connect's wall
# time does not depend on a UDP handshake), pool 10.99.POOL_OCTET.0/24, the three scripts as given (empty = unset).
ocserv_write_config() {
  local name=$1 port=$2 octet=$3 connect=$4 disconnect=$5 host_update=$6 restrict=$7
  local dir=$E2E_TMP/ocserv-$name
  mkdir -p "$dir"
  chmod 755 "$dir"   # workers drop to nobody and still reach the IPC sockets in here
  {
    echo "auth = \"plain[passwd=$E2E_TMP/ocpasswd]\""
    echo "listen-host = $E2E_SRV_IP"
    echo "tcp-port = $port"
    echo "run-as-user = nobody"
    echo "run-as-group = nogroup"
    echo "socket-file = $dir/ocserv.sock"
    echo "occtl-socket-file = $dir/occtl.sock"
    echo "use-occtl = true"
    echo "pid-file = $dir/ocserv.pid"
    echo "server-cert = $E2E_TMP/pki/server.pem"
    echo "server-key = $E2E_TMP/pki/server.key"
    echo "isolate-workers = false"
    echo "max-clients = 32"
    echo "max-same-clients = 0"
    # Many connects from one client address in a few seconds, some of them rejected on purpose: no rate limit,
    # no ban score, no wait before re-authentication.
    echo "rate-limit-ms = 0"
    echo "max-ban-score = 0"
    echo "min-reauth-time = 0"
    echo "keepalive = 300"
    echo "dpd = 60"
    echo "mobile-dpd = 300"
    echo "try-mtu-discovery = false"
    echo "tls-priorities = \"NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0\""
    echo "auth-timeout = 60"
    echo "cookie-timeout = 60"
    echo "deny-roaming = false"
    echo "rekey-time = 172800"
    echo "rekey-method = ssl"
    echo "log-level = 2"
    echo "device = oa$octet-"
    echo "predictable-ips = true"
    echo "ipv4-network = 10.99.$octet.0"
    echo "ipv4-netmask = 255.255.255.0"
    echo "dns = 10.99.$octet.1"
    echo "route = 10.99.$octet.0/255.255.255.0"
    echo "ping-leases = false"
    echo "cisco-client-compat = true"
    echo "dtls-legacy = false"
    [ -z "$connect" ] || echo "connect-script = $connect"
    [ -z "$disconnect" ] || echo "disconnect-script = $disconnect"
    [ -z "$host_update" ] || echo "host-update-script = $host_update"
    [ "$restrict" != true ] || echo "restrict-user-to-routes = true"
  } >"$dir/ocserv.conf"
  ocserv -t -c "$dir/ocserv.conf" >"$dir/config-test.log" 2>&1 ||
    die "ocserv rejects its configuration $dir/ocserv.conf: $(tail -3 "$dir/config-test.log")"
}

# ocserv_start NAME PORT [VAR=VALUE...]: starts ocserv in the foreground in the server namespace with the config
# written for NAME, with the extra environment given (ocserv does not clear its environment, so its scripts inherit
# it: that is how the helper gets OCSERV_AGENT_SOCKET). Waits until the port accepts connections.
# Sets OCSERV_PID_<NAME>; the log goes to $E2E_TMP/ocserv-NAME/ocserv.log.
ocserv_start() {
  local name=$1 port=$2; shift 2
  local dir=$E2E_TMP/ocserv-$name pid
  proc_start pid "$dir/ocserv.log" ip netns exec "$E2E_NS_SRV" env "$@" ocserv -f -d 2 -c "$dir/ocserv.conf"
  printf -v "OCSERV_PID_$name" '%s' "$pid"
  if ! wait_until 10 port_open "$port"; then
    log "ocserv $name did not listen on $E2E_SRV_IP:$port; its log:"; tail -20 "$dir/ocserv.log" >&2
    ocserv_stop "$name"   # not left to come up later beside the next instance
    return 1
  fi
}

ocserv_stop() {
  local name=$1 var="OCSERV_PID_$1"
  proc_stop "${!var:-}" TERM 5
  printf -v "$var" '%s' ""
}

ocserv_log() { cat "$E2E_TMP/ocserv-$1/ocserv.log"; }

# port_open PORT: does 10.99.0.1:PORT accept a TCP connection from the client namespace?
port_open() { in_cli timeout 1 bash -c "exec 3<>/dev/tcp/$E2E_SRV_IP/$1" 2>/dev/null; }

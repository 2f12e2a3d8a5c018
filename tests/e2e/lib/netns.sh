# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# netns.sh: the two network namespaces (server, client) joined by a veth pair, and their teardown.
# Sourced by e2e.sh. Only addresses in 10.99.0.0/24 are configured, and only on interfaces created here;
# loopback is brought up inside each namespace so that the agent and the portal can talk over 127.0.0.1 privately.
#
#   server ns  E2E_NS_SRV  veth E2E_VETH_SRV  10.99.0.1/24   (ocserv listens here; VPN pools 10.99.1.0/24, 10.99.2.0/24)
#   client ns  E2E_NS_CLI  veth E2E_VETH_CLI  10.99.0.2/24   (openconnect runs here)

E2E_SRV_IP=10.99.0.1
E2E_CLI_IP=10.99.0.2
E2E_NS_CREATED=()

# netns_names TAG: unique names for this run (TAG is usually $$), short enough for 15-character interface names.
netns_names() {
  E2E_NS_SRV="oa-e2e-s-$1"
  E2E_NS_CLI="oa-e2e-c-$1"
  E2E_VETH_SRV="oa$1s"
  E2E_VETH_CLI="oa$1c"
}

# netns_probe: can this process create a network namespace? Prints why not and returns 1 if it cannot.
netns_probe() {
  local probe="oa-e2e-probe-$$" out
  if ! command -v ip >/dev/null 2>&1; then
    # No ip (preflight reports it as a missing tool): ask the kernel directly, so that a machine with namespaces but
    # without iproute2 is told apart from one without namespaces.
    unshare --net true 2>/dev/null && return 0
    echo "cannot create a network namespace (unshare --net failed; ip is not installed)"
    return 1
  fi
  if ! out=$(ip netns add "$probe" 2>&1); then
    echo "cannot create a network namespace: $out"
    return 1
  fi
  ip netns del "$probe" 2>/dev/null || true
}

# netns_reap_stale: a run that was SIGKILLed (CTest's TIMEOUT, a lost CI runner) never ran its cleanup and left its
# namespaces. Their names carry that run's PID: delete the names of this harness's pattern whose PID no longer runs
# (or is our own: this run has created none yet, so such a name is a dead run's whose PID came round again). Only the
# name is removed: a process still inside (an ocserv the dead run left) is not ours to stop; it is reported, and the
# namespace itself goes when it exits. A live run's namespaces (another worktree's test) are never touched.
netns_reap_stale() {
  local ns pid pids
  for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
    [[ $ns =~ ^oa-e2e-(s|c|probe)-([0-9]+)$ ]] || continue
    pid=${BASH_REMATCH[2]}
    [ "$pid" = $$ ] || ! proc_alive "$pid" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    if ip netns del "$ns" 2>/dev/null; then
      log "deleted the leftover namespace $ns (its run, pid $pid, is gone)${pids:+; still inside, not stopped: $pids}"
    else
      log "could not delete the leftover namespace $ns"
    fi
  done
}

netns_up() {
  ip netns add "$E2E_NS_SRV" && E2E_NS_CREATED+=("$E2E_NS_SRV")
  ip netns add "$E2E_NS_CLI" && E2E_NS_CREATED+=("$E2E_NS_CLI")
  ip link add "$E2E_VETH_SRV" netns "$E2E_NS_SRV" type veth peer name "$E2E_VETH_CLI" netns "$E2E_NS_CLI"
  ip -n "$E2E_NS_SRV" link set lo up
  ip -n "$E2E_NS_CLI" link set lo up
  ip -n "$E2E_NS_SRV" addr add "$E2E_SRV_IP/24" dev "$E2E_VETH_SRV"
  ip -n "$E2E_NS_CLI" addr add "$E2E_CLI_IP/24" dev "$E2E_VETH_CLI"
  ip -n "$E2E_NS_SRV" link set "$E2E_VETH_SRV" up
  ip -n "$E2E_NS_CLI" link set "$E2E_VETH_CLI" up
  # The veth pair needs a moment to come up (carrier + DAD is off for IPv4): wait until the client reaches the server.
  wait_until 5 ip netns exec "$E2E_NS_CLI" ping -c1 -W1 -q "$E2E_SRV_IP" >/dev/null 2>&1 ||
    die "the veth pair does not pass traffic ($E2E_CLI_IP -> $E2E_SRV_IP)"
}

in_srv() { ip netns exec "$E2E_NS_SRV" "$@"; }
# The client side enters only the network namespace (nsenter): cheaper than `ip netns exec`, which also remounts
# /sys, and all a client needs (openconnect, its vpnc-script's ip commands, ping) is the network.
in_cli() { nsenter --net="/run/netns/$E2E_NS_CLI" "$@"; }

# netns_down: stops every process still inside our namespaces (by PID: they are ours, the namespaces were created by
# this run), then deletes the namespaces, which also deletes the veth pair and any tun devices inside them.
netns_down() {
  local ns pids
  for ns in "${E2E_NS_CREATED[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      log "stopping leftover processes in $ns: ${pids//$'\n'/ }"
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      sleep 0.3
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
  done
  E2E_NS_CREATED=()
}

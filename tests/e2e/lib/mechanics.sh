# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# mechanics.sh: the raw mechanics with stand-in connect-scripts, needing none of our binaries:
# /bin/true admits (and traffic passes the tunnel), /bin/false rejects, a disconnect-script sees STATS_*, the
# restrict-user-to-routes path (ocserv-fw running a sh wrapper through /bin/sh) admits and rejects, and the timing
# loop (A/A: two ocserv instances with /bin/true, interleaved). Sourced by e2e.sh; each m_* is one check.

# Each instance its own port and VPN pool: they run one after another, but one that did not stop in time (its
# workers still ending sessions) must not answer the next one's connects or hand out its pool's addresses.
MECH_TRUE_PORT=4431 MECH_TRUE_OCTET=1
MECH_FALSE_PORT=4432 MECH_FALSE_OCTET=2
MECH_FW_PORT=4433 MECH_FW_OCTET=8   # 3-7: the timing and the scenarios

# A disconnect-/host-update-script stand-in: appends its REASON, USERNAME and STATS_* to a file.
mech_write_recorder() {
  cat >"$E2E_TMP/recorder.sh" <<SH
#!/bin/sh
echo "REASON=\$REASON USERNAME=\$USERNAME STATS_BYTES_IN=\$STATS_BYTES_IN STATS_BYTES_OUT=\$STATS_BYTES_OUT STATS_DURATION=\$STATS_DURATION" >>"$E2E_TMP/recorded"
exit 0
SH
  chmod 755 "$E2E_TMP/recorder.sh"
  : >"$E2E_TMP/recorded"
}

# A connect-script stand-in for the ocserv-fw path: ocserv-fw runs it as `/bin/sh FILE`. Admits alice only, and
# notes that it ran with the restriction set, which only the ocserv-fw path passes on.
mech_write_sh_wrapper() {
  cat >"$E2E_TMP/wrapper-standin.sh" <<SH
#!/bin/sh
echo "USERNAME=\$USERNAME OCSERV_RESTRICT_TO_ROUTES=\$OCSERV_RESTRICT_TO_ROUTES" >>"$E2E_TMP/wrapper-ran"
case "\$USERNAME" in
  alice) exec /bin/true ;;
  *) exit 1 ;;
esac
SH
  chmod 755 "$E2E_TMP/wrapper-standin.sh"
  : >"$E2E_TMP/wrapper-ran"
}

# m_true_admits: connect-script /bin/true; alice gets a tunnel, pings the server's VPN address through it, logs off,
# and the disconnect-script stand-in receives the session's byte and duration stats.
m_true_admits() {
  mech_write_recorder
  ocserv_write_config mtrue $MECH_TRUE_PORT $MECH_TRUE_OCTET /bin/true "$E2E_TMP/recorder.sh" "$E2E_TMP/recorder.sh" \
      false &&
    ocserv_start mtrue $MECH_TRUE_PORT || return 1
  oc_up alice $MECH_TRUE_PORT $MECH_TRUE_OCTET
  expect_result admitted || { ocserv_stop mtrue; return 1; }
  local server_ip ok=0
  server_ip=$(server_vpn_ip $MECH_TRUE_OCTET)
  log "alice is up as $OC_VPN_IP in $(fmt_ms "$OC_MS"); the server's VPN address is ${server_ip:-missing}"
  if [ -n "$server_ip" ] && oc_ping "$server_ip"; then
    log "ping $server_ip through the tunnel: ok"
  else
    log "ping ${server_ip:-<no server VPN address>} through the tunnel failed"; ok=1
  fi
  oc_down
  # The disconnect-script runs after the session ends (fire-and-forget): wait for it, bounded.
  if ! wait_until 5 grep -q '^REASON=disconnect USERNAME=alice ' "$E2E_TMP/recorded"; then
    log "the disconnect-script never ran for alice; recorded: $(cat "$E2E_TMP/recorded")"; ok=1
  else
    local line; line=$(grep -m1 '^REASON=disconnect USERNAME=alice ' "$E2E_TMP/recorded")
    log "disconnect-script got: $line"
    # The pings moved bytes both ways; duration is whole seconds and may be 0 for a short session.
    if ! [[ $line =~ STATS_BYTES_IN=([1-9][0-9]*)\ STATS_BYTES_OUT=([1-9][0-9]*)\ STATS_DURATION=([0-9]+)$ ]]; then
      log "STATS_* missing or zero in the disconnect-script's environment"; ok=1
    fi
  fi
  grep -q '^REASON=host-update USERNAME=alice ' "$E2E_TMP/recorded" ||
    log "note: no host-update-script run for alice (openconnect did not advertise a hostname change)"
  ocserv_stop mtrue
  return $ok
}

# m_false_rejects: connect-script /bin/false; bob is refused (openconnect exit 2, "Cookie was rejected") and ocserv
# logs the failed attempt.
m_false_rejects() {
  ocserv_write_config mfalse $MECH_FALSE_PORT $MECH_FALSE_OCTET /bin/false "" "" false &&
    ocserv_start mfalse $MECH_FALSE_PORT || return 1
  oc_up bob $MECH_FALSE_PORT $MECH_FALSE_OCTET
  local ok=0
  expect_result rejected || ok=1
  [ $ok -ne 0 ] || log "bob rejected in $(fmt_ms "$OC_MS"): $(grep -m1 'Cookie was rejected' "$OC_LOG")"
  expect_ocserv_logged_rejection mfalse bob || ok=1
  ocserv_stop mfalse
  return $ok
}

# m_restrict_routes: restrict-user-to-routes = true makes ocserv run /usr/bin/ocserv-fw, which sets up iptables in
# the server namespace and then runs our connect-script with /bin/sh. A sh wrapper admits alice and rejects bob.
m_restrict_routes() {
  mech_write_sh_wrapper
  ocserv_write_config mfw $MECH_FW_PORT $MECH_FW_OCTET "$E2E_TMP/wrapper-standin.sh" "" "" true &&
    ocserv_start mfw $MECH_FW_PORT || return 1
  local ok=0
  oc_up alice $MECH_FW_PORT $MECH_FW_OCTET
  if expect_result admitted; then
    local server_ip; server_ip=$(server_vpn_ip $MECH_FW_OCTET)
    oc_ping "$server_ip" || { log "ping $server_ip through the restricted tunnel failed"; ok=1; }
    # ocserv-fw made its per-device chain in the server namespace: proof that the wrapper ran through it.
    if in_srv iptables -S 2>/dev/null | grep -q -- '-N FORWARD-ocserv-fw-'; then
      log "ocserv-fw's iptables chain exists while alice is up: the script ran through ocserv-fw"
    else
      log "no ocserv-fw chain in the server namespace: the connect-script did not run through ocserv-fw"; ok=1
    fi
  else
    ok=1
  fi
  oc_down
  oc_up bob $MECH_FW_PORT $MECH_FW_OCTET
  expect_result rejected || ok=1
  if ! grep -q '^USERNAME=alice OCSERV_RESTRICT_TO_ROUTES=1$' "$E2E_TMP/wrapper-ran" ||
     ! grep -q '^USERNAME=bob OCSERV_RESTRICT_TO_ROUTES=1$' "$E2E_TMP/wrapper-ran"; then
    log "the wrapper did not run for both users under the restriction: $(cat "$E2E_TMP/wrapper-ran")"; ok=1
  fi
  ocserv_stop mfw
  return $ok
}

# m_timing: the measurement mechanics. Two ocserv instances, both with /bin/true (A/A), connects interleaved;
# the difference of their medians is the noise floor of the comparison the full run makes (helper vs /bin/true).
m_timing() {
  ocserv_write_config tA 4441 3 /bin/true "" "" false && ocserv_start tA 4441 &&
    ocserv_write_config tB 4442 4 /bin/true "" "" false && ocserv_start tB 4442 || return 1
  # Higher priority for the measured path (as in the scenarios' timing): the ocserv instances and their sec-mods,
  # and this shell, whose openconnect children inherit it.
  # shellcheck disable=SC2046
  proc_priority -10 $$ $(ip netns pids "$E2E_NS_SRV")
  local ok=0
  oc_measure "$E2E_ROUNDS" alice trueA:4441:3 trueB:4442:4 || ok=1
  log "timing: A/A difference of medians (trueB - trueA): $(awk -v a="$MEASURE_P50_trueA" -v b="$MEASURE_P50_trueB" \
    'BEGIN { printf "%+.2f ms", b - a }')"
  ocserv_stop tA; ocserv_stop tB
  proc_priority 0 $$
  return $ok
}

run_mechanics() {
  check "mechanics: /bin/true admits, traffic passes, disconnect-script gets STATS_*" m_true_admits
  check "mechanics: /bin/false rejects" m_false_rejects
  check "mechanics: restrict-user-to-routes runs a sh wrapper through ocserv-fw" m_restrict_routes
  if [ "$E2E_ROUNDS" -gt 0 ]; then
    check "mechanics: timing loop, /bin/true A/A, $E2E_ROUNDS connects each" m_timing
  else
    log "mechanics: timing loop not run (--rounds 0)"
  fi
}

# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# scenarios.sh: the issue's seven scenarios against the real helper, agent and reference portal, and the measurement
# (helper with a cache hit vs /bin/true). Sourced by e2e.sh. They run in phases that share state, in this order:
#   A  agent fail-stale, long TTLs:  1 allowed connects + traffic, 5 disconnect stats, 2 denied rejected, timing
#   B  agent fail-stale, allow_ttl 1s, portal stopped:  3 seen user admitted from stale, never-seen user rejected
#   C  agent fail-close, portal down then back:  4 everyone rejected, then recovery
#   D  agent frozen, then killed:  6 the helper's deadline and default deny; ocserv keeps serving
#   E  restrict-user-to-routes:  7 ocserv-fw runs the sh wrapper, which admits and rejects through the agent
# Users (portal policy in components.sh): alice allowed, bob denied, carol allowed but never connects before the
# portal is stopped in B, dave allowed.

SC_PORT=4451 SC_OCTET=5          # ocserv "main": all three scripts are the helper
SC_TRUE_PORT=4452 SC_TRUE_OCTET=6   # ocserv "true": /bin/true as connect-script, for the timing only
SC_FW_PORT=4453 SC_FW_OCTET=7    # ocserv "fw": restrict-user-to-routes, the sh wrapper for every script
SC_READY=0
SC_REJECT_MS=1000   # replaced by the time scenario 2's rejection took

sc_setup() {
  comp_setup && portal_start && agent_start fail-stale 5m || return 1
  helper_env
  ocserv_write_config main $SC_PORT $SC_OCTET "$E2E_HELPER" "$E2E_HELPER" "$E2E_HELPER" false &&
    ocserv_start main $SC_PORT "${HELPER_ENV[@]}" || return 1
  SC_READY=1
}

# s1: alice is admitted and pings the server's VPN address through the tunnel.
s1_allowed_connects() {
  oc_up alice $SC_PORT $SC_OCTET
  expect_result admitted || { oc_down; return 1; }
  local server_ip ok=0; server_ip=$(server_vpn_ip $SC_OCTET)
  log "alice admitted in $(fmt_ms "$OC_MS") as $OC_VPN_IP; decision: $(audit_decision alice portal)"
  if oc_ping "$server_ip"; then log "ping $server_ip through the tunnel: ok"
  else log "ping ${server_ip:-<no server VPN address>} through the tunnel failed"; ok=1; fi
  oc_down
  return $ok
}

# s5: a disconnect reaches the agent with byte and duration stats (in its audit log).
s5_disconnect_stats() {
  oc_up alice $SC_PORT $SC_OCTET
  expect_result admitted || { oc_down; return 1; }
  oc_ping "$(server_vpn_ip $SC_OCTET)" || log "note: ping failed, bytes may be small"
  oc_down
  if wait_until 5 test -n "$(audit_disconnect alice)"; then
    log "agent recorded: $(audit_disconnect alice)"
    return 0
  fi
  log "no disconnect with byte and duration stats for alice in $AGENT_LOG; its tail:"
  tail -5 "$AGENT_LOG" | sed 's/^/    /' >&2
  return 1
}

# s2: bob is denied by the portal: openconnect reports the cookie rejected, ocserv logs the failed attempt.
s2_denied_rejected() {
  oc_up bob $SC_PORT $SC_OCTET
  expect_result rejected || { oc_down; return 1; }
  log "bob rejected in $(fmt_ms "$OC_MS"): $(grep -m1 'Cookie was rejected' "$OC_LOG")"
  SC_REJECT_MS=${OC_MS%.*}   # what a rejection costs on this machine now: scenario 6's allowance beyond deadlines
  local ok=0 line; line=$(audit_decision bob portal)
  if [ -n "$line" ]; then log "the portal's deny: $line"
  else log "the agent's log has no portal decision for bob"; ok=1; fi
  expect_ocserv_logged_rejection main bob || ok=1
  return $ok
}

# timing: the same connect (alice, a cache hit in the agent) with the helper and with /bin/true as connect-script,
# interleaved; everything else (disconnect-/host-update-script = helper, config, client) is the same.
s_timing() {
  ocserv_write_config true $SC_TRUE_PORT $SC_TRUE_OCTET /bin/true "$E2E_HELPER" "$E2E_HELPER" false &&
    ocserv_start true $SC_TRUE_PORT "${HELPER_ENV[@]}" || return 1
  oc_try alice $SC_PORT $SC_OCTET   # warm: alice's decision is cached from here on
  # Higher priority for everything on the measured path, so that tests running beside this one disturb it less:
  # every process in the server namespace (ocserv instances, sec-mod, agent, portal: all started by this run; the
  # helper and the workers inherit it from ocserv) and this shell (openconnect inherits it).
  # shellcheck disable=SC2046
  proc_priority -10 $$ $(ip netns pids "$E2E_NS_SRV")
  local ok=0
  oc_measure "$E2E_ROUNDS" alice helper:$SC_PORT:$SC_OCTET bintrue:$SC_TRUE_PORT:$SC_TRUE_OCTET || ok=1
  local overhead
  overhead=$(awk -v h="$MEASURE_P50_helper" -v t="$MEASURE_P50_bintrue" 'BEGIN { printf "%+.2f", h - t }')
  echo "e2e-bench: connect wall time p50 over $E2E_ROUNDS connects each: helper (cache hit) ${MEASURE_P50_helper} ms," \
    "/bin/true ${MEASURE_P50_bintrue} ms, helper overhead ${overhead} ms (median of paired differences" \
    "$(awk -v d="$MEASURE_PAIRED_P50" 'BEGIN { printf "%+.2f", -d }') ms)"
  ocserv_stop true
  # shellcheck disable=SC2046
  proc_priority 0 $$ $(ip netns pids "$E2E_NS_SRV")
  return $ok
}

# s3: fail-stale. alice is admitted once with the portal up, her entry expires (allow_ttl 1s), the portal stops:
# alice is admitted from the stale entry; carol, never seen, is rejected (stale_fallback close).
s3_fail_stale() {
  agent_restart fail-stale 1s || return 1
  local ok=0
  oc_try alice $SC_PORT $SC_OCTET
  expect_result admitted || return 1
  local seen; seen=$(now_us)
  portal_stop
  wait_until 3 test $(( $(now_us) - seen )) -gt 1500000   # past allow_ttl (1s) plus its 10% jitter
  oc_try alice $SC_PORT $SC_OCTET
  if expect_result admitted; then
    local line; line=$(audit_decision alice stale)
    if [ -n "$line" ]; then log "alice admitted from the stale entry: $line"
    else log "alice admitted, but the agent's log has no stale decision for her"; ok=1; fi
  else ok=1; fi
  oc_try carol $SC_PORT $SC_OCTET
  expect_result rejected || ok=1
  return $ok
}

# s4: fail-close. A fresh agent (empty cache) with the portal down rejects everyone; once the portal is back,
# alice connects again (bounded retries: the breaker and the gRPC reconnect back-off need a moment).
s4_fail_close() {
  [ -z "$PORTAL_PID" ] || portal_stop
  agent_restart fail-close 5m || return 1
  local ok=0 u
  for u in alice bob dave; do
    oc_try $u $SC_PORT $SC_OCTET
    expect_result rejected || ok=1
  done
  local line; line=$(audit_decision alice fail_close)
  if [ -n "$line" ]; then log "rejected by the fail mode: $line"
  else log "the agent's log has no fail_close decision for alice"; ok=1; fi
  portal_start || return 1
  local t0 tries=0 deadline; t0=$(now_us); deadline=$(deadline_after 15)
  while now_before "$deadline"; do
    tries=$((tries + 1))
    oc_try alice $SC_PORT $SC_OCTET
    [ "$OC_RESULT" = admitted ] && break
    nap 0.5
  done
  if [ "$OC_RESULT" = admitted ]; then
    log "recovery: alice admitted again $(fmt_ms "$(( ($(now_us) - t0) / 1000 ))") after the portal came back ($tries attempts)"
  else
    log "recovery: alice still not admitted 15 s after the portal came back ($tries attempts)"; ok=1
  fi
  return $ok
}

# s6: the agent is stopped. Frozen (SIGSTOP: it accepts but never answers), two connects in flight at once are both
# rejected by the helper's default when its deadline passes; the second is not queued behind the first (their answers
# come about as far apart as their starts, not a deadline apart). Killed (its socket refuses), connects are rejected
# before that deadline. ocserv keeps serving throughout. The allowance beyond the deadline is what a plain rejection
# costs on this machine now (scenario 2), doubled, plus a second: the check is about the deadline, not machine load.
s6_agent_stopped() {
  local ok=0 h h1 h2 end1 end2 limit=$((E2E_HELPER_TIMEOUT_MS + 1000 + 2 * SC_REJECT_MS))
  agent_restart fail-stale 5m || return 1
  kill -STOP "$AGENT_PID"
  oc_start alice $SC_PORT $SC_OCTET; h1=$OC_H
  nap 0.3
  oc_start dave $SC_PORT $SC_OCTET; h2=$OC_H
  for h in $h1 $h2; do
    oc_wait "$h"
    if expect_result rejected; then
      log "agent frozen: attempt $h rejected after $(fmt_ms "$OC_MS") (helper deadline $E2E_HELPER_TIMEOUT)"
      awk -v v="$OC_MS" -v l="$limit" 'BEGIN { exit !(v <= l) }' ||
        { log "that is more than the deadline + $((limit - E2E_HELPER_TIMEOUT_MS)) ms"; ok=1; }
    else
      oc_down; ok=1
    fi
    # When this attempt's answer came, in ms since the epoch.
    local t0=${OC_T0[$h]} end   # (an associative array: its subscript is a key, never arithmetic)
    end=$(( t0 / 1000 + ${OC_MS%.*} ))
    if [ "$h" = "$h1" ]; then end1=$end; else end2=$end; fi
  done
  log "agent frozen: the two answers came $((end2 - end1)) ms apart, their starts $(( (${OC_T0[$h2]} - ${OC_T0[$h1]}) / 1000 )) ms"
  [ $((end2 - end1)) -lt $((E2E_HELPER_TIMEOUT_MS / 2)) ] ||
    { log "the second connect waited for the first: ocserv or the helper serialised them"; ok=1; }
  kill -KILL "$AGENT_PID"; proc_wait_exit "$AGENT_PID" 3; AGENT_PID=''
  for u in alice dave; do
    oc_try $u $SC_PORT $SC_OCTET
    if [ "$OC_RESULT" = rejected ]; then
      log "agent dead: $u rejected after $(fmt_ms "$OC_MS")"
      # A refused socket needs no waiting: the answer comes before the deadline a frozen agent costs.
      awk -v v="$OC_MS" -v l="$E2E_HELPER_TIMEOUT_MS" 'BEGIN { exit !(v < l) }' ||
        { log "that is not prompt (not under the helper's deadline)"; ok=1; }
    else
      expect_result rejected; oc_down; ok=1
    fi
  done
  proc_alive "$OCSERV_PID_main" || { log "ocserv died"; return 1; }
  agent_start fail-stale 5m || return 1
  oc_try alice $SC_PORT $SC_OCTET
  expect_result admitted || { log "ocserv does not admit alice after the agent came back"; ok=1; }
  return $ok
}

# s7: restrict-user-to-routes: ocserv runs ocserv-fw, which runs the sh wrapper with /bin/sh, which execs the helper.
s7_restrict_routes() {
  local w ok=0; w=$(wrapper_path)
  ocserv_write_config fw $SC_FW_PORT $SC_FW_OCTET "$w" "$w" "$w" true &&
    ocserv_start fw $SC_FW_PORT "${HELPER_ENV[@]}" || return 1
  oc_up alice $SC_FW_PORT $SC_FW_OCTET
  if expect_result admitted; then
    oc_ping "$(server_vpn_ip $SC_FW_OCTET)" || { log "ping through the restricted tunnel failed"; ok=1; }
    in_srv iptables -S 2>/dev/null | grep -q -- '-N FORWARD-ocserv-fw-' ||
      { log "no ocserv-fw chain in the server namespace: the script did not run through ocserv-fw"; ok=1; }
  else
    ok=1
  fi
  oc_down
  oc_up bob $SC_FW_PORT $SC_FW_OCTET
  expect_result rejected || { oc_down; ok=1; }
  ocserv_stop fw
  return $ok
}

sc_check() {  # sc_check DESCRIPTION FUNCTION: a scenario, failed outright if the setup did not come up
  if [ "$SC_READY" -ne 1 ]; then E2E_FAILED+=("$1 (setup failed)"); log "FAIL $1 (setup failed)"; return; fi
  check "$@"
}

run_scenarios() {
  check "scenarios: setup (portal, agent fail-stale, ocserv with the helper)" sc_setup
  sc_check "1: an allowed user connects and traffic passes" s1_allowed_connects
  sc_check "5: a disconnect reaches the agent with byte and duration stats" s5_disconnect_stats
  sc_check "2: a denied user is rejected" s2_denied_rejected
  sc_check "timing: helper (cache hit) vs /bin/true, $E2E_ROUNDS connects each" s_timing
  sc_check "3: portal stopped, fail-stale: seen user admitted, never-seen rejected" s3_fail_stale
  sc_check "4: fail-close rejects everyone while the portal is down, then recovers" s4_fail_close
  sc_check "6: agent stopped: helper denies within its deadline, ocserv keeps serving" s6_agent_stopped
  sc_check "7: restrict-user-to-routes: the sh wrapper through ocserv-fw admits and rejects" s7_restrict_routes
}

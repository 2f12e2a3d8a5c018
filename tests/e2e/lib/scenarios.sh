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
# How far beyond the deadline + a refused rejection's time a frozen-agent answer may come (scenario 6). Measured on
# the shared 2-core machine, 28 answers at load 0.9-5.3 (up to five busy loops beside the test): the frozen answer
# minus (3 s + the slower refused rejection, 22-132 ms) was -39..+50 ms. 400 ms is 8x that, for worse load; and a
# helper that overruns its deadline by 0.5 s fails (tried: a 3.55 s helper deadline came to +555 ms, over the limit).
SC_DEADLINE_MARGIN_MS=400

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
  log "alice admitted in $(fmt_ms "$OC_MS") as $OC_VPN_IP"
  expect_audit alice portal allow "the portal's allow" || ok=1
  if [ -n "$server_ip" ] && oc_ping "$server_ip"; then log "ping $server_ip through the tunnel: ok"
  else log "ping ${server_ip:-<no server VPN address>} through the tunnel failed"; ok=1; fi
  oc_down
  return $ok
}

# s5: a disconnect reaches the agent with byte and duration stats (in its audit log). Scenario 1's alice disconnected
# into the same agent log just before: only a line written after this scenario's mark, for the session ID the agent
# admitted here, counts. The session is held over a second, so that its duration (whole seconds) cannot be 0.
s5_disconnect_stats() {
  audit_mark
  oc_up alice $SC_PORT $SC_OCTET
  expect_result admitted || { oc_down; return 1; }
  local up id; up=$(now_us)
  expect_audit alice '[a-z_]+' allow "this session's admission" || { oc_down; return 1; }
  id=$(audit_id "$(audit_decision alice '[a-z_]+' allow)")
  oc_ping "$(server_vpn_ip $SC_OCTET)" || log "note: ping failed, bytes may be small"
  wait_until 2 elapsed_over "$up" 1200000
  oc_down
  if wait_until 5 has_disconnect alice "$id"; then
    log "agent recorded: $(audit_disconnect alice "$id" | sed 's/^.* session /session /')"
    return 0
  fi
  log "no disconnect for alice's session id=${id:-?} with non-zero bytes and duration in $AGENT_LOG after line" \
    "$AUDIT_FROM (the last one since then: $(audit_any_disconnect alice | sed 's/^.* session /session /'))"
  log "its tail:"; audit_lines | tail -5 | sed 's/^/    /' >&2
  return 1
}

# s2: bob is denied by the portal: openconnect reports the cookie rejected, ocserv logs the failed attempt.
s2_denied_rejected() {
  local ok=0 mark; mark=$(ocserv_log_mark main)
  oc_up bob $SC_PORT $SC_OCTET
  expect_result rejected || { oc_down; return 1; }
  log "bob rejected in $(fmt_ms "$OC_MS"): $(grep -m1 'Cookie was rejected' "$OC_LOG")"
  SC_REJECT_MS=${OC_MS%.*}   # what a rejection costs on this machine now: scenario 6's fallback baseline
  expect_audit bob portal deny "the portal's deny" || ok=1
  helper_logged main "$mark" bob deny || ok=1
  expect_ocserv_logged_rejection main bob || ok=1
  return $ok
}

# timing: the same connect (alice, a cache hit in the agent) with the helper and with /bin/true as connect-script,
# interleaved; everything else (disconnect-/host-update-script = helper, config, client) is the same. Then, in the
# same run, the connect-script alone (script_measure): on a loaded machine a connect's spread is far wider than the
# 2 ms the issue asks about, and the script is the only step of a connect in which the two targets differ.
s_timing() {
  ocserv_write_config true $SC_TRUE_PORT $SC_TRUE_OCTET /bin/true "$E2E_HELPER" "$E2E_HELPER" false &&
    ocserv_start true $SC_TRUE_PORT "${HELPER_ENV[@]}" || return 1
  oc_try alice $SC_PORT $SC_OCTET   # warm: alice's decision is cached from here on
  # Higher priority for everything on the measured path, so that tests running beside this one disturb it less:
  # every process in the server namespace (ocserv instances, sec-mod, agent, portal: all started by this run; the
  # helper and the workers inherit it from ocserv) and this shell (openconnect inherits it).
  # shellcheck disable=SC2046
  proc_priority -10 $$ $(ip netns pids "$E2E_NS_SRV")
  local ok=0 load0 load1 hits script_rounds=$((E2E_ROUNDS * 10))   # script runs are cheap: no connect around them
  read -r load0 _ </proc/loadavg
  audit_mark
  oc_measure "$E2E_ROUNDS" alice bintrue:$SC_TRUE_PORT:$SC_TRUE_OCTET helper:$SC_PORT:$SC_OCTET || ok=1
  hits=$(audit_count alice cache allow)
  local c_true=$MEASURE_P50_bintrue c_helper=$MEASURE_P50_helper c_paired=$MEASURE_PAIRED_P50
  script_measure "$script_rounds" || ok=1
  read -r load1 _ </proc/loadavg
  # Every timed connect through the helper was answered from the agent's cache (one decision line each).
  [ "$hits" -ge "$E2E_ROUNDS" ] ||
    { log "timing: only $hits of the $E2E_ROUNDS helper connects were cache hits in the agent's log"; ok=1; }
  local bench="e2e-bench: load average $load0 -> $load1; connect wall time p50 over $E2E_ROUNDS interleaved connects"
  bench+=" each: helper (cache hit, $hits hits) $c_helper ms, /bin/true $c_true ms, difference of p50s"
  bench+=" $(awk -v h="$c_helper" -v t="$c_true" 'BEGIN { printf "%+.2f", h - t }') ms, median of paired differences"
  bench+=" $c_paired ms; connect-script alone p50 over $script_rounds interleaved runs each: helper (cache hit)"
  bench+=" $MEASURE_P50_script_helper ms, /bin/true $MEASURE_P50_script_true ms, median of paired differences"
  bench+=" $MEASURE_PAIRED_P50 ms"
  echo "$bench"
  # CTest shows a passing test's output only with -V: the file keeps the figures of a green CI run.
  [ -z "$E2E_BENCH_FILE" ] || echo "$(date -u +%FT%TZ) $bench" >"$E2E_BENCH_FILE" ||
    log "timing: could not write $E2E_BENCH_FILE"
  ocserv_stop true
  # shellcheck disable=SC2046
  proc_priority 0 $$ $(ip netns pids "$E2E_NS_SRV")
  return $ok
}

# script_measure ROUNDS: what ocserv waits for at a connect, and nothing else: fork + exec + exit of the
# connect-script, with the environment ocserv gives it for alice's connect (so the helper's request is a cache hit),
# timed from this shell (its fork is the same for both), /bin/true and the helper interleaved, order swapped every
# round. Sets MEASURE_P50_script_true, MEASURE_P50_script_helper and MEASURE_PAIRED_P50 (helper - /bin/true).
script_measure() {
  local rounds=$1 r t0 t1 bad=0 pair which
  : >"$E2E_TMP/measure-script_true.us"; : >"$E2E_TMP/measure-script_helper.us"
  (
    # ocserv's own environment (HELPER_ENV) and the variables it sets for a connect (docs/ocserv.md#environment).
    export "${HELPER_ENV[@]}" REASON=connect ID=4242 USERNAME=alice GROUPNAME='' VHOST=default DEVICE=oa${SC_OCTET}-0 \
      IP_REAL=$E2E_CLI_IP IP_REAL_LOCAL=$E2E_SRV_IP IP_LOCAL=10.99.$SC_OCTET.1 IP_REMOTE=10.99.$SC_OCTET.50 \
      USER_AGENT="Open AnyConnect VPN Agent v9.01-3" HOSTNAME=e2e-client \
      OCSERV_ROUTES="10.99.$SC_OCTET.0/255.255.255.0 " OCSERV_ROUTES4="10.99.$SC_OCTET.0/255.255.255.0 " \
      OCSERV_DNS="10.99.$SC_OCTET.1 " OCSERV_DNS4="10.99.$SC_OCTET.1 "
    "$E2E_HELPER" || exit 1   # warm the agent's cache for exactly this request's key
    for (( r=0; r<rounds; r++ )); do
      if (( r % 2 == 0 )); then pair="true helper"; else pair="helper true"; fi
      for which in $pair; do
        if [ "$which" = true ]; then
          t0=${EPOCHREALTIME/./}; /bin/true; t1=${EPOCHREALTIME/./}
        else
          t0=${EPOCHREALTIME/./}; "$E2E_HELPER" || bad=1; t1=${EPOCHREALTIME/./}
        fi
        echo "$r $((t1 - t0))" >>"$E2E_TMP/measure-script_$which.us"   # no $(...): a fork per sample costs
      done
    done
    exit $bad
  ) || { log "timing: the helper did not admit alice's connect environment"; bad=1; }
  for which in true helper; do
    awk '{ printf "%s %.3f\n", $1, $2 / 1000 }' "$E2E_TMP/measure-script_$which.us" >"$E2E_TMP/measure-script_$which.ms"
  done
  measure_summary "connect-script run time" script_true script_helper
  return $bad
}

# s3: fail-stale. alice is admitted once with the portal up, her entry expires (allow_ttl 1s), the portal stops:
# alice is admitted from the stale entry; carol, never seen, is rejected (stale_fallback close).
s3_fail_stale() {
  agent_restart fail-stale 1s || return 1
  local ok=0
  oc_try alice $SC_PORT $SC_OCTET
  expect_result admitted || return 1
  expect_audit alice portal allow "alice seen with the portal up" || ok=1
  local seen; seen=$(now_us)
  portal_stop
  # alice's entry expires allow_ttl (1s, plus up to 10% jitter) after the agent stored it, which was before `seen`:
  # polled, so that this waits until then and no longer.
  wait_until 3 elapsed_over "$seen" 1500000
  audit_mark
  oc_try alice $SC_PORT $SC_OCTET
  if expect_result admitted; then
    expect_audit alice stale allow "alice admitted from the stale entry" || ok=1
  else ok=1; fi
  oc_try carol $SC_PORT $SC_OCTET
  if expect_result rejected; then
    # The portal would allow carol: only the fail mode (stale_fallback close) can have refused her.
    expect_audit carol fail_close deny "carol (never seen) refused by stale_fallback close" || ok=1
  else oc_down; ok=1; fi
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
    if expect_result rejected; then
      expect_audit $u fail_close deny "$u refused by fail-close" || ok=1
    else oc_down; ok=1; fi
  done
  portal_start || return 1
  audit_mark
  local t0 tries=0 deadline; t0=$(now_us); deadline=$(deadline_after 15)
  while now_before "$deadline"; do
    tries=$((tries + 1))
    oc_try alice $SC_PORT $SC_OCTET
    [ "$OC_RESULT" = admitted ] && break
    nap 0.5
  done
  if [ "$OC_RESULT" = admitted ]; then
    log "recovery: alice admitted again $(fmt_ms "$(( ($(now_us) - t0) / 1000 ))") after the portal came back ($tries attempts)"
    expect_audit alice portal allow "recovery: the portal's allow" || ok=1
  else
    log "recovery: alice still not admitted 15 s after the portal came back ($tries attempts)"; ok=1
  fi
  return $ok
}

# s6: the agent is stopped. Frozen (SIGSTOP: it accepts but never answers), two connects in flight at once are both
# rejected by the helper's default when its deadline passes; the second is not queued behind the first (their answers
# come about as far apart as their starts, not a deadline apart). Killed (its socket refuses), connects are rejected
# before that deadline. ocserv keeps serving throughout.
# The frozen-agent answers are judged against the killed-agent ones: a refused connect takes the same path (TLS,
# both auth requests, the helper's start, its connect to the socket, the rejection) minus the wait, so a frozen
# answer may take the deadline + that + SC_DEADLINE_MARGIN_MS (see there) and no more.
s6_agent_stopped() {
  local ok=0 h h1 h2 end1 end2 mark u ms base=0 limit frozen=()
  agent_restart fail-stale 5m || return 1
  mark=$(ocserv_log_mark main)
  kill -STOP "$AGENT_PID"
  oc_start alice $SC_PORT $SC_OCTET; h1=$OC_H
  nap 0.3
  oc_start dave $SC_PORT $SC_OCTET; h2=$OC_H
  for h in $h1 $h2; do
    oc_wait "$h"
    if expect_result rejected; then
      log "agent frozen: attempt $h rejected after $(fmt_ms "$OC_MS") (helper deadline $E2E_HELPER_TIMEOUT)"
      frozen+=("${OC_MS%.*}")
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
  helper_logged main "$mark" alice timeout && helper_logged main "$mark" dave timeout || ok=1
  kill -KILL "$AGENT_PID"; proc_wait_exit "$AGENT_PID" 3; AGENT_PID=''
  mark=$(ocserv_log_mark main)
  for u in alice dave; do
    oc_try $u $SC_PORT $SC_OCTET
    if [ "$OC_RESULT" = rejected ]; then
      log "agent dead: $u rejected after $(fmt_ms "$OC_MS")"
      ms=${OC_MS%.*}; [ "$ms" -le "$base" ] || base=$ms   # the slower of the two: a fast outlier must not tighten
      # A refused socket needs no waiting: the answer comes before the deadline a frozen agent costs.
      awk -v v="$OC_MS" -v l="$E2E_HELPER_TIMEOUT_MS" 'BEGIN { exit !(v < l) }' ||
        { log "that is not prompt (not under the helper's deadline)"; ok=1; }
    else
      expect_result rejected; oc_down; ok=1
    fi
    helper_logged main "$mark" $u refused || ok=1
  done
  [ "$base" -gt 0 ] || base=$SC_REJECT_MS   # no refused rejection to go by: scenario 2's
  limit=$((E2E_HELPER_TIMEOUT_MS + base + SC_DEADLINE_MARGIN_MS))
  for ms in "${frozen[@]}"; do
    log "agent frozen: answered $ms ms after the start: deadline + $((ms - E2E_HELPER_TIMEOUT_MS - base)) ms beyond" \
      "a refused rejection ($base ms); allowed: + $SC_DEADLINE_MARGIN_MS ms"
    [ "$ms" -le "$limit" ] ||
      { log "the helper overran its deadline by more than $SC_DEADLINE_MARGIN_MS ms (limit $limit ms)"; ok=1; }
  done
  proc_alive "$OCSERV_PID_main" || { log "ocserv died"; return 1; }
  agent_start fail-stale 5m || return 1
  oc_try alice $SC_PORT $SC_OCTET
  if expect_result admitted; then expect_audit alice portal allow "the agent back: alice admitted" || ok=1
  else log "ocserv does not admit alice after the agent came back"; ok=1; fi
  return $ok
}

# s7: restrict-user-to-routes: ocserv runs ocserv-fw, which runs the sh wrapper with /bin/sh, which execs the helper.
s7_restrict_routes() {
  local w ok=0 mark; w=$(wrapper_path)
  ocserv_write_config fw $SC_FW_PORT $SC_FW_OCTET "$w" "$w" "$w" true &&
    ocserv_start fw $SC_FW_PORT "${HELPER_ENV[@]}" || return 1
  log "connect-, disconnect- and host-update-script: $w (through ocserv-fw)"
  audit_mark; mark=$(ocserv_log_mark fw)
  oc_up alice $SC_FW_PORT $SC_FW_OCTET
  if expect_result admitted; then
    # The agent decided (alice's entry is in its cache from scenario 6's end): the wrapper reached the helper.
    expect_audit alice '(portal|cache)' allow "the agent's allow through the wrapper" || ok=1
    oc_ping "$(server_vpn_ip $SC_FW_OCTET)" || { log "ping through the restricted tunnel failed"; ok=1; }
    in_srv iptables -S 2>/dev/null | grep -q -- '-N FORWARD-ocserv-fw-' ||
      { log "no ocserv-fw chain in the server namespace: the script did not run through ocserv-fw"; ok=1; }
  else
    ok=1
  fi
  oc_down
  oc_up bob $SC_FW_PORT $SC_FW_OCTET
  if expect_result rejected; then
    expect_audit bob '(portal|cache)' deny "the agent's deny through the wrapper" || ok=1
    helper_logged fw "$mark" bob deny || ok=1
  else oc_down; ok=1; fi
  ocserv_stop fw
  return $ok
}

sc_check() {  # sc_check DESCRIPTION FUNCTION: a scenario, failed outright if the setup did not come up
  if [ "$SC_READY" -ne 1 ]; then E2E_FAILED+=("$1 (setup failed)"); log "FAIL $1 (setup failed)"; return; fi
  check "$@"
}

run_scenarios() {
  # The bench file is this run's or none: an older run's figures must not pass for this one's.
  [ -z "$E2E_BENCH_FILE" ] || rm -f "$E2E_BENCH_FILE"
  check "scenarios: setup (portal, agent fail-stale, ocserv with the helper)" sc_setup
  sc_check "1: an allowed user connects and traffic passes" s1_allowed_connects
  sc_check "5: a disconnect reaches the agent with byte and duration stats" s5_disconnect_stats
  sc_check "2: a denied user is rejected" s2_denied_rejected
  if [ "$E2E_ROUNDS" -gt 0 ]; then
    sc_check "timing: helper (cache hit) vs /bin/true, $E2E_ROUNDS connects each" s_timing
  else
    log "timing: not measured (--rounds 0)"
  fi
  sc_check "3: portal stopped, fail-stale: seen user admitted, never-seen rejected" s3_fail_stale
  sc_check "4: fail-close rejects everyone while the portal is down, then recovers" s4_fail_close
  sc_check "6: agent stopped: helper denies within its deadline, ocserv keeps serving" s6_agent_stopped
  sc_check "7: restrict-user-to-routes: the sh wrapper through ocserv-fw admits and rejects" s7_restrict_routes
}

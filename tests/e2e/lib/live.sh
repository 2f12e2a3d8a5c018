# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# live.sh: live enforcement (issue 11) and the durable outbox (issue 12) with the real ocserv and openconnect: what
# happens after the connect. Sourced by e2e.sh (--live). The four scenarios run in this order and share one ocserv
# ("main", every script the helper), one reference portal and one agent (fail-open, its management API on for
# GetStatus), each with a user of its own:
#   live 1  alice connected; the portal turns her to deny (policy file + SIGHUP: the portal publishes Revoke on the
#           Watch stream): the agent runs `occtl disconnect`, the tunnel ends; her reconnect (with the session's
#           cookie, and with a fresh login) is refused.
#   live 3  dave connected; the agent restarted: the new agent rebuilds its registry from `occtl --json show users`,
#           knows dave's session (GetStatus sessions.active, its log), and disconnects it when the portal revokes dave.
#   live 2  portal stopped: carol admitted by fail_open; the portal returns denying carol: the re-check after the
#           outage (the policy stream reconnected) disconnects her session; her reconnect is refused.
#   live 4  portal stopped: erin and frank connect, move traffic and disconnect; once the portal is back every session
#           event reaches it exactly once (its stats by event_id) with the bytes ocserv gave the disconnect-script.
# The gRPC calls (the portal's PortalSimControl stats, the agent's GetStatus) go through oa-e2e-rpc (tests/e2e/tools),
# whose answers are `field=value` lines.

LV_MGMT_PORT=9443        # the agent's management API, on the server namespace's private 127.0.0.1
LV_HEARTBEAT_MS=1000     # the portal's PolicyWatch heartbeat (so a dead stream is noticed in 3 s)
LV_CONNECT_LIMIT=60      # a held session must outlive an agent restart or a portal outage (client.sh's default: 20 s)
LV_READY=0
declare -gA LV_ALLOW=([alice]=true [bob]=false [carol]=true [dave]=true [erin]=true [frank]=true)

# lv_write_policy: the reference portal's policy file from LV_ALLOW (tests/fakes/portal_sim/sim_policy.h), replaced
# atomically so that a reload never reads half a file.
lv_write_policy() {
  local f u; f=$(comp_dir)/policy.yaml
  {
    echo 'default: { allow: false, reason: "e2e: no policy for this user" }'
    echo 'users:'
    for u in "${!LV_ALLOW[@]}"; do
      if [ "${LV_ALLOW[$u]}" = true ]; then echo "  $u: { allow: true }"
      else echo "  $u: { allow: false, reason: \"e2e: $u is not allowed\" }"; fi
    done
  } >"$f.new" && mv "$f.new" "$f"
}

# lv_deny USER [reload]: the portal's policy now denies USER; with `reload`, SIGHUP makes the running portal reload it,
# which publishes a Revoke for USER (allow -> deny) to every Watch stream. Waits for the portal's log line.
lv_deny() {
  LV_ALLOW[$1]=false
  lv_write_policy
  [ "${2:-}" = reload ] || return 0
  kill -HUP "$PORTAL_PID"
  if wait_until 5 file_has_since "$(comp_dir)/portal.log" 1 "user '$1' changed from allow to deny: Revoke published"; then
    log "portal: $(grep -E "user '$1' changed from allow to deny" "$(comp_dir)/portal.log" | tail -1 |
      sed 's/^.*portal-sim: //')"
    return 0
  fi
  log "the portal did not publish a Revoke for $1 after SIGHUP; its log:"; tail -5 "$(comp_dir)/portal.log" >&2
  return 1
}

# --- gRPC through oa-e2e-rpc (inside the server namespace) ------------------------------------------------------------
lv_rpc() {  # lv_rpc PORT CERT_NAME COMMAND...: CERT_NAME is a dev-PKI client certificate (scripts/dev-pki.sh)
  local pki; pki=$(comp_dir)/pki
  in_srv timeout 10 "$E2E_RPC" --addr "127.0.0.1:$1" --ca "$pki/ca.pem" --cert "$pki/$2.pem" --key "$pki/$2.key" \
    "${@:3}"
}
sim_stats() { lv_rpc "$E2E_PORTAL_PORT" agent-client sim-stats; }
agent_status() { lv_rpc "$LV_MGMT_PORT" mgmt-viewer agent-status; }
lv_field() { sed -n "s/^$2=//p" <<<"$1" | head -1; }   # lv_field ANSWER NAME: a field of an oa-e2e-rpc answer
# status_is FIELD VALUE: the agent's GetStatus says so now (a predicate for lv_wait).
status_is() { [ "$(lv_field "$(agent_status 2>/dev/null)" "$1")" = "$2" ]; }
# lv_wait SECONDS CMD...: wait_until with a 250 ms poll, for conditions that start a process and a TLS handshake.
lv_wait() {
  local deadline; deadline=$(deadline_after "$1"); shift
  until "$@"; do now_before "$deadline" || return 1; nap 0.25; done
}
# expect_status FIELD VALUE WHAT [SECONDS]: waits until GetStatus shows it; logs the value seen either way.
expect_status() {
  if lv_wait "${4:-5}" status_is "$1" "$2"; then log "$3: GetStatus $1=$2"; return 0; fi
  log "$3: GetStatus $1 is '$(lv_field "$(agent_status 2>&1)" "$1")', expected '$2'"
  return 1
}

# --- the agent's log (since audit_mark) and ocserv's list of sessions ----------------------------------------------
agent_logged() { audit_lines | grep -q -E "$1"; }   # agent_logged ERE
# expect_agent_logged ERE WHAT [SECONDS]: the agent logged such a line (since the mark); logs it.
expect_agent_logged() {
  if wait_until "${3:-10}" agent_logged "$1"; then
    log "$2: $(audit_lines | grep -E "$1" | tail -1 | sed 's/^.*\] //')"
    return 0
  fi
  log "$2: no line /$1/ in $AGENT_LOG after line $AUDIT_FROM; its tail:"; audit_lines | tail -8 | sed 's/^/    /' >&2
  return 1
}
ocserv_users() { in_srv occtl -s "$E2E_TMP/ocserv-main/occtl.sock" --json show users 2>/dev/null; }
ocserv_has_user() { ocserv_users | grep -q -E "\"Username\"[[:space:]]*:[[:space:]]*\"$1\""; }

# lv_cookie USER: logs USER in without connecting (openconnect --authenticate) and keeps the session cookie ocserv
# gave in LV_COOKIE (a file), so that the session can be started, and later resumed, with it, as a client does.
lv_cookie() {
  LV_COOKIE=$E2E_TMP/cookie-$1
  in_cli timeout 20 openconnect --authenticate --non-inter --passwd-on-stdin --user "$1" --servercert "$E2E_SERVER_PIN" \
    "https://$E2E_SRV_IP:$SC_PORT/" <"$E2E_TMP/password" 2>"$LV_COOKIE.log" |
    sed -n "s/^COOKIE='\(.*\)'$/\1/p" >"$LV_COOKIE"
  [ -s "$LV_COOKIE" ] ||
    { log "openconnect --authenticate gave no cookie for $1:"; tail -3 "$LV_COOKIE.log" >&2; return 1; }
}

# lv_connect USER SOURCE: logs USER in (keeping the cookie, LV_COOKIE), connects with the cookie and keeps the
# session; expects the agent's allow from SOURCE and traffic through the tunnel. Sets LV_ID (ocserv's session ID, from
# the agent's decision line), LV_PID, LV_LOG, LV_DEV (openconnect's pid, log and tun device).
lv_connect() {
  lv_cookie "$1" || return 1
  OC_COOKIE_FILE=$LV_COOKIE oc_up "$1" "$SC_PORT" "$SC_OCTET"
  expect_result admitted || { oc_down; return 1; }
  expect_audit "$1" "$2" allow "$1 admitted" || { oc_down; return 1; }
  LV_ID=$(audit_id "$(audit_decision "$1" "$2" allow)") LV_PID=$OC_PID LV_LOG=$OC_LOG LV_DEV=oatun$OC_H
  OC_PID=''   # held by the scenario, which stops it
  oc_ping "$(server_vpn_ip "$SC_OCTET")" || { log "ping through $1's tunnel failed"; proc_stop "$LV_PID"; return 1; }
  log "$1's session $LV_ID is up ($LV_DEV), traffic passes"
}

# expect_tunnel_ended USER PID LOG DEVICE: the forced disconnect ended USER's session: ocserv logged a server-side
# disconnect, openconnect (PID, the `timeout` around it) exited, its tun DEVICE is gone from the client namespace and
# ocserv lists no session for USER. (openconnect 9.01 does not reconnect on its own after ocserv's disconnect: it
# gets a BYE, "Session terminated by server; exiting." — so the reconnect is made explicitly, expect_reconnect_refused.)
expect_tunnel_ended() {
  local user=$1 pid=$2 oclog=$3 dev=$4 ok=0 rc
  local pattern="main\\[$user\\].* user disconnected \\(reason: server disconnected"
  if wait_until 5 grep -q -E "$pattern" "$E2E_TMP/ocserv-main/ocserv.log"; then
    log "ocserv: $(grep -E "$pattern" "$E2E_TMP/ocserv-main/ocserv.log" | tail -1 | sed 's/^.*main\[/main[/')"
  else log "ocserv logged no server-side disconnect for $user"; ok=1; fi
  if wait_until 20 procs_gone "$pid"; then
    wait "$pid"; rc=$?
    log "openconnect for $user exited $rc: $(grep -E 'server disconnect|terminated|Cookie' "$oclog" | tr '\n' ' ')"
  else
    log "openconnect for $user still runs 20 s after the forced disconnect; its log's tail:"
    tail -5 "$oclog" | sed 's/^/    /' >&2
    proc_stop "$pid"; ok=1
  fi
  if in_cli ip link show "$dev" >/dev/null 2>&1; then log "the tun device $dev is still there"; ok=1
  else log "no tunnel: $dev is gone from the client namespace"; fi
  if ocserv_has_user "$user"; then log "ocserv still lists a session for $user:"; ocserv_users >&2; ok=1
  else log "ocserv lists no session for $user"; fi
  return $ok
}

# expect_reconnect_refused USER: USER's client tries to come back, both ways a client has:
#  - with the cookie of the session just ended (what an automatic reconnect sends). ocserv.md says 1.1.6's `occtl
#    disconnect` leaves it valid, which would run the connect-script again; measured here (1.1.6 + openconnect 9.01):
#    sec-mod has closed the session ("session open but with non-existing SID", "failed cookie authentication attempt").
#    Either way it must be rejected (openconnect exit 2, "Cookie was rejected"); which of the two refused is logged.
#  - with a fresh login (password): ocserv runs the connect-script, and the agent must say no: the helper's own deny
#    line in ocserv's log, the agent's deny for USER, openconnect exit 2.
# And ocserv lists no session for USER afterwards.
expect_reconnect_refused() {
  local user=$1 ok=0 mark f=$E2E_TMP/ocserv-main/ocserv.log
  mark=$(ocserv_log_mark main)
  OC_COOKIE_FILE=$E2E_TMP/cookie-$user oc_up "$user" "$SC_PORT" "$SC_OCTET"
  if expect_result rejected; then
    if file_has_since "$f" "$mark" "ocserv-agent-auth\\[[0-9]+\\]: deny user=$user "; then
      log "reconnect with the old cookie: ocserv honoured it, the connect-script ran, the agent refused"
    elif file_has_since "$f" "$mark" "failed cookie authentication attempt"; then
      log "reconnect with the old cookie: refused by ocserv itself (the disconnect closed the session):" \
        "$(tail -n "+$mark" "$f" | grep -E 'non-existing SID|failed cookie' | sed 's/^.*\]: //' | tr '\n' ' ')"
    else
      log "reconnect with the old cookie rejected, but neither the helper nor ocserv's cookie check says why"; ok=1
    fi
  else oc_down; ok=1; fi
  mark=$(ocserv_log_mark main)
  oc_up "$user" "$SC_PORT" "$SC_OCTET"
  if expect_result rejected; then log "a fresh login: $(grep -m1 'Cookie was rejected' "$OC_LOG")"
  else oc_down; ok=1; fi
  helper_logged main "$mark" "$user" deny || ok=1
  expect_audit "$user" '[a-z_]+' deny "the agent's answer to the fresh login" || ok=1
  if ocserv_has_user "$user"; then log "ocserv lists a session for $user"; ok=1; fi
  return $ok
}

lv_setup() {
  ocserv_passwd "$E2E_TMP/ocpasswd" alice bob carol dave erin frank
  E2E_CONNECT_LIMIT=$LV_CONNECT_LIMIT
  E2E_PORTAL_ARGS=(--heartbeat-ms "$LV_HEARTBEAT_MS")
  E2E_AGENT_MANAGEMENT="{ enabled: true, listen: \"127.0.0.1:$LV_MGMT_PORT\", cert_file: pki/management.pem,
    key_file: pki/management.key, client_ca: pki/ca.pem, clients: [ { identity: viewer.test, role: viewer } ] }"
  E2E_AGENT_EXTRA_YAML='enforcement: { watch: true, recheck_after_outage: true }'
  comp_setup && lv_write_policy && portal_start && agent_start fail-open 5m || return 1
  helper_env
  ocserv_write_config main "$SC_PORT" "$SC_OCTET" "$E2E_HELPER" "$E2E_HELPER" "$E2E_HELPER" false &&
    ocserv_start main "$SC_PORT" "${HELPER_ENV[@]}" || return 1
  expect_status policy_stream streaming "the agent's policy stream to the portal" 15 || return 1
  LV_READY=1
}

# live 1: a revocation tears alice's tunnel down and her automatic reconnect is refused.
lv1_revocation() {
  local ok=0 id pid oclog dev t0
  audit_mark
  lv_connect alice portal || return 1
  id=$LV_ID pid=$LV_PID oclog=$LV_LOG dev=$LV_DEV
  audit_mark   # from here: what the revocation caused
  t0=$(now_us)
  lv_deny alice reload || { proc_stop "$pid"; return 1; }
  expect_agent_logged "revocation in force: user alice, .* from portal" "the agent" || ok=1
  if expect_agent_logged "forced disconnect: session $id user 'alice' .*\(admitted by portal\), cause revocation" \
      "the agent ran occtl disconnect"; then
    log "revocation: SIGHUP to the agent's forced disconnect in $(( ($(now_us) - t0) / 1000 )) ms (polled)"
  else ok=1; fi
  expect_tunnel_ended alice "$pid" "$oclog" "$dev" || ok=1
  expect_reconnect_refused alice || ok=1
  expect_status enforcement.disconnected_revocation 1 "forced disconnects by revocation" || ok=1
  expect_status revocations.0.subject "user alice" "the revocation in force" || ok=1
  return $ok
}

# live 3: an agent restart keeps knowing the live sessions (from occtl), and can act on them.
lv3_agent_restart() {
  local ok=0 id pid oclog dev
  audit_mark
  lv_connect dave portal || return 1
  id=$LV_ID pid=$LV_PID oclog=$LV_LOG dev=$LV_DEV
  agent_restart fail-open 5m || { proc_stop "$pid"; return 1; }
  expect_agent_logged "session registry reconciled with occtl: 0 kept, 1 added" "the new agent asked ocserv" || ok=1
  expect_status sessions.active 1 "the new agent knows dave's session" || ok=1
  expect_status policy_stream streaming "the new agent's policy stream" 15 || ok=1
  lv_deny dave reload || { proc_stop "$pid"; return 1; }
  # The new agent never saw dave's admit: it acts on the session it found in ocserv.
  expect_agent_logged "forced disconnect: session $id user 'dave' .*\(admitted by unknown\), cause revocation" \
    "the new agent disconnected the session it only knows from occtl" || ok=1
  expect_tunnel_ended dave "$pid" "$oclog" "$dev" || ok=1
  expect_reconnect_refused dave || ok=1
  expect_status sessions.active 0 "dave's session gone from the registry" || ok=1
  proc_stop "$pid"
  return $ok
}

# live 2: a session admitted by fail-open during a portal outage is disconnected once the portal is back and says no.
lv2_recheck_after_outage() {
  local ok=0 id pid oclog dev
  portal_stop
  audit_mark
  lv_connect carol fail_open || return 1
  id=$LV_ID pid=$LV_PID oclog=$LV_LOG dev=$LV_DEV
  lv_deny carol   # the portal comes back with carol denied (no Revoke: only the re-check can find out)
  portal_start || { proc_stop "$pid"; return 1; }
  expect_agent_logged "re-check of [0-9]+ session\(s\)" "the portal is back" 20 || ok=1
  expect_agent_logged "forced disconnect: session $id user 'carol' .*\(admitted by fail_open\), cause recheck" \
    "the re-check disconnected carol's fail-open session" 20 || ok=1
  expect_tunnel_ended carol "$pid" "$oclog" "$dev" || ok=1
  expect_reconnect_refused carol || ok=1
  expect_status enforcement.disconnected_recheck 1 "forced disconnects by re-check" || ok=1
  # The stream's reconnect and the new portal's Resync both re-check carol's session: one disconnect, no failed
  # second occtl call for a session already gone.
  expect_status enforcement.disconnect_failed 0 "no failed forced disconnect" || ok=1
  proc_stop "$pid"
  return $ok
}

# live 4: sessions that connect and disconnect while the portal is down are all reported, with their bytes, once it
# returns. The restarted portal's stats start at zero, so everything it counts is what the outbox held.
lv4_outbox_outage() {
  local ok=0 u st written0 written1 depth n=0 line id bin bout sum_in=0 sum_out=0 stats
  declare -A want_connects=()
  # Everything earlier reaches the portal first, so that the outage's events are the only ones it will count.
  expect_status events.outbox_depth 0 "the outbox is empty before the outage" 30 || return 1
  st=$(agent_status) || return 1
  written0=$(lv_field "$st" events.written)
  portal_stop
  audit_mark
  local ids=() ins=() outs=()
  for u in erin frank erin; do
    lv_connect "$u" fail_open || return 1
    id=$LV_ID
    wait_until 2 elapsed_over "$(now_us)" 1100000   # a duration of a whole second at least
    proc_stop "$LV_PID"   # openconnect logs off: ocserv runs the disconnect-script
    if ! wait_until 5 has_disconnect "$u" "$id"; then
      log "no disconnect with bytes for $u's session $id: $(audit_any_disconnect "$u")"; return 1
    fi
    line=$(audit_disconnect "$u" "$id")
    bin=$(sed -n 's/.* bytes_in=\([0-9]*\) .*/\1/p' <<<"$line")
    bout=$(sed -n 's/.* bytes_out=\([0-9]*\) .*/\1/p' <<<"$line")
    log "during the outage: session ${line#* session }"
    ids+=("$id") ins+=("$bin") outs+=("$bout")
    sum_in=$((sum_in + bin)) sum_out=$((sum_out + bout)) n=$((n + 1))
    want_connects[$u]=$(( ${want_connects[$u]:-0} + 1 ))
  done
  st=$(agent_status) || return 1
  written1=$(lv_field "$st" events.written) depth=$(lv_field "$st" events.outbox_depth)
  log "outbox during the outage: $((written1 - written0)) events written, depth $depth," \
    "sender $(lv_field "$st" events_sender_state)"
  [ "$depth" -ge $((2 * n)) ] ||
    { log "expected at least $((2 * n)) events held (a connect and a disconnect per session)"; ok=1; }
  portal_start || return 1
  expect_status events.outbox_depth 0 "the outbox drained once the portal was back" 30 || ok=1
  stats=$(sim_stats) || return 1
  log "portal stats: $(grep -E '^(events_|reported_|calls_by_method\.Report)' <<<"$stats" | tr '\n' ' ')"
  # Exactly once after the portal's dedup by event_id: one connect and one disconnect per session, each event_id once.
  [ "$(lv_field "$stats" events_unique)" = $((2 * n)) ] ||
    { log "expected $((2 * n)) unique events (a connect and a disconnect for each of the $n sessions)"; ok=1; }
  [ "$(lv_field "$stats" events_without_id)" = 0 ] || { log "events without an event_id"; ok=1; }
  log "duplicates the portal dropped: $(lv_field "$stats" events_duplicate) (redelivery is allowed; its effect is not)"
  for u in "${!want_connects[@]}"; do
    [ "$(lv_field "$stats" "reported_connects_by_user.$u")" = "${want_connects[$u]}" ] ||
      { log "the portal counted $(lv_field "$stats" "reported_connects_by_user.$u") connects for $u," \
          "expected ${want_connects[$u]}"; ok=1; }
  done
  if [ "$(lv_field "$stats" reported_bytes_received)" != "$sum_in" ] ||
     [ "$(lv_field "$stats" reported_bytes_sent)" != "$sum_out" ]; then
    log "bytes: the portal has received=$(lv_field "$stats" reported_bytes_received)" \
      "sent=$(lv_field "$stats" reported_bytes_sent), the disconnect-scripts gave in=$sum_in out=$sum_out"; ok=1
  fi
  # And per session, the portal's own line for it carries that session's bytes.
  local i plog; plog=$(comp_dir)/portal.log
  for i in "${!ids[@]}"; do
    grep -q -E "ReportDisconnect user=[a-z]+ session=${ids[$i]} bytes_received=${ins[$i]} bytes_sent=${outs[$i]} " \
      "$plog" ||
      { log "the portal has no ReportDisconnect for session ${ids[$i]} with bytes ${ins[$i]}/${outs[$i]}"; ok=1; }
  done
  [ "$ok" -ne 0 ] || log "all $n sessions of the outage reported once: $((2 * n)) events, bytes in $sum_in, out $sum_out"
  return $ok
}

lv_check() {  # lv_check DESCRIPTION FUNCTION: a scenario, failed outright if the setup did not come up
  if [ "$LV_READY" -ne 1 ]; then E2E_FAILED+=("$1 (setup failed)"); log "FAIL $1 (setup failed)"; return; fi
  check "$@"
}

run_live() {
  check "live: setup (portal with PolicyWatch, agent fail-open with GetStatus, ocserv with the helper)" lv_setup
  lv_check "live 1: a revocation tears alice's tunnel down; her reconnect is refused" lv1_revocation
  lv_check "live 3: an agent restart keeps knowing the live sessions (from occtl) and acts on them" lv3_agent_restart
  lv_check "live 2: a fail-open session is disconnected after the outage when the portal says no" lv2_recheck_after_outage
  lv_check "live 4: sessions during a portal outage are all reported once, with their bytes" lv4_outbox_outage
}

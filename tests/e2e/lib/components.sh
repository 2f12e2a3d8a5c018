# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# components.sh: our own programs beside ocserv, each started and stopped by PID inside the server namespace:
# the reference portal (ocserv-portal-sim), the agent (ocserv-agent) with a config per fail mode, and the environment
# through which ocserv hands the helper (ocserv-agent-auth) its options. Sourced by e2e.sh.
#
# The agent and the portal talk over 127.0.0.1 inside the server namespace: that loopback is private to this run, so
# fixed ports never collide with anything. The helper reaches the agent over a Unix socket in the temp dir.

E2E_PORTAL_PORT=50443
E2E_HELPER_TIMEOUT=3s   # the helper's deadline; > ipc.decision_timeout (2s) > portal.timeout (1s)
E2E_HELPER_TIMEOUT_MS=3000
AGENT_PID='' PORTAL_PID='' AGENT_LOG='' E2E_AGENT_STARTS=0
# What the live scenarios (live.sh) add: the portal's extra flags, the agent's management block and extra sections.
E2E_PORTAL_ARGS=() E2E_AGENT_MANAGEMENT='{ enabled: false }' E2E_AGENT_EXTRA_YAML=''

comp_dir() { echo "$E2E_TMP/agent"; }

# comp_setup: the dev PKI (scripts/dev-pki.sh) for the agent <-> portal mTLS link, and the portal's policy.
comp_setup() {
  local dir; dir=$(comp_dir)
  mkdir -p "$dir"
  "$E2E_DEV_PKI" "$dir/pki" >"$dir/dev-pki.log" 2>&1 || { log "dev-pki.sh failed: $(tail -3 "$dir/dev-pki.log")"; return 1; }
  portal_write_policy "$dir/policy.yaml"
}

# portal_write_policy FILE: alice, carol and dave are allowed, bob is denied, anyone else is denied.
# The reference portal's format (tests/fakes/portal_sim/sim_policy.h); no ttl, so the agent's own TTLs apply.
portal_write_policy() {
  cat >"$1" <<'YAML'
default: { allow: false, reason: "e2e: no policy for this user" }
users:
  alice: { allow: true }
  bob:   { allow: false, reason: "e2e: bob is not allowed" }
  carol: { allow: true }
  dave:  { allow: true }
YAML
}

# portal_command: the one place that knows the reference portal's command line (sets the array PORTAL_CMD).
portal_command() {
  local dir; dir=$(comp_dir)
  PORTAL_CMD=("$E2E_PORTAL_SIM" --listen "127.0.0.1:$E2E_PORTAL_PORT" --cert "$dir/pki/portal.pem"
              --key "$dir/pki/portal.key" --client-ca "$dir/pki/ca.pem" --policy "$dir/policy.yaml"
              ${E2E_PORTAL_ARGS[@]+"${E2E_PORTAL_ARGS[@]}"})
}

portal_listening() { in_srv timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$E2E_PORTAL_PORT" 2>/dev/null; }

portal_start() {
  local log; log=$(comp_dir)/portal.log
  portal_command
  proc_start PORTAL_PID "$log" ip netns exec "$E2E_NS_SRV" "${PORTAL_CMD[@]}"
  if ! wait_until 10 portal_listening; then
    log "the portal did not listen on 127.0.0.1:$E2E_PORTAL_PORT; its log:"; tail -10 "$log" | sed 's/^/    /' >&2
    return 1
  fi
  log "portal up (pid $PORTAL_PID)"
}

portal_stop() { proc_stop "$PORTAL_PID" TERM 5; PORTAL_PID=; log "portal stopped"; }

agent_socket() { echo "$(comp_dir)/auth.sock"; }

# agent_write_config FILE FAIL_MODE ALLOW_TTL: YAML keys as in config.yaml.example. Relative certificate paths
# resolve against the config file's directory. Short breaker timeouts so that recovery after the portal comes back
# takes a second, not the 30 s default.
agent_write_config() {
  cat >"$1" <<YAML
agent: { id: e2e }
ipc:
  socket_path: $(agent_socket)
  allowed_uids: [0]
  decision_timeout: 2s
portal:
  address: "127.0.0.1:$E2E_PORTAL_PORT"
  ca_file: pki/ca.pem
  cert_file: pki/agent-client.pem
  key_file: pki/agent-client.key
  timeout: 1s
resilience:
  fail_mode: $2
  stale_fallback: close
  circuit_breaker: { open_timeout: 1s, max_open_timeout: 2s }
  cache: { allow_ttl: $3, deny_ttl: 30s, stale_ttl: 30m }
management: $E2E_AGENT_MANAGEMENT
events: { outbox_path: outbox.db }
metrics: { enabled: false }
ocserv: { occtl_socket: $E2E_TMP/ocserv-main/occtl.sock }
logging: { level: info, format: text }
$E2E_AGENT_EXTRA_YAML
YAML
}

# agent_start FAIL_MODE [ALLOW_TTL]: a fresh agent (so an empty decision cache) with that fail mode. Its stderr,
# which carries the audit lines, goes to a log of its own per start; AGENT_LOG names the current one.
agent_start() {
  local mode=$1 ttl=${2:-5m} dir; dir=$(comp_dir)
  E2E_AGENT_STARTS=$((E2E_AGENT_STARTS + 1))
  agent_write_config "$dir/config-$E2E_AGENT_STARTS.yaml" "$mode" "$ttl"
  AGENT_LOG=$dir/agent-$E2E_AGENT_STARTS.log AUDIT_FROM=1
  # A killed agent leaves its socket file behind; it is left there on purpose: the new agent must replace it (as
  # after a crash under systemd). So readiness is the agent's own "ready" line (agent/daemon/daemon.cc), not the file.
  proc_start AGENT_PID "$AGENT_LOG" ip netns exec "$E2E_NS_SRV" "$E2E_AGENT" -c "$dir/config-$E2E_AGENT_STARTS.yaml"
  wait_until 10 agent_ready_or_gone
  if ! agent_ready; then
    log "the agent did not come up on $(agent_socket); its log:"; tail -10 "$AGENT_LOG" | sed 's/^/    /' >&2
    return 1
  fi
  local stale=''
  ! grep -q 'ipc: replaced stale socket file' "$AGENT_LOG" || stale=', replaced the stale socket file'
  log "agent up (pid $AGENT_PID, $mode, allow_ttl $ttl, log $AGENT_LOG$stale)"
}

agent_ready() { grep -q ' info: ready (' "$AGENT_LOG" && test -S "$(agent_socket)"; }
agent_ready_or_gone() { agent_ready || ! proc_alive "$AGENT_PID"; }

agent_stop() { proc_stop "$AGENT_PID" TERM 5; AGENT_PID=; }
agent_restart() { agent_stop; agent_start "$@"; }

# helper_env: the environment ocserv is started with; ocserv does not clear it, so its scripts (the helper, and the
# sh wrapper on the ocserv-fw path) inherit it. OCSERV_AGENT_ON_FAILURE is left unset on purpose: the default (deny)
# is what scenario 6 checks.
helper_env() {
  HELPER_ENV=(OCSERV_AGENT_SOCKET="$(agent_socket)" OCSERV_AGENT_TIMEOUT="$E2E_HELPER_TIMEOUT"
              OCSERV_AGENT_AUTH_BIN="$E2E_HELPER")
}

# wrapper_path: the sh wrapper for the ocserv-fw path (ocserv-fw runs `/bin/sh FILE`, so a compiled helper cannot be
# the script there). The project's own if given (--wrapper); it finds the helper through OCSERV_AGENT_AUTH_BIN, which
# helper_env sets. Without one, a minimal wrapper with that same contract is generated.
wrapper_path() {
  if [ -n "$E2E_WRAPPER" ]; then echo "$E2E_WRAPPER"; return; fi
  local w=$E2E_TMP/ocserv-agent-auth.sh
  if [ ! -f "$w" ]; then
    printf '#!/bin/sh\nexec "${OCSERV_AGENT_AUTH_BIN:-/usr/libexec/ocserv-agent/ocserv-agent-auth}" "$@"\n' >"$w"
    chmod 755 "$w"
    log "no --wrapper given: using a generated one ($w)"
  fi
  echo "$w"
}

# --- the agent's audit log: the only places that know its line format -----------------------------------------------
# The formats are agent/authorizer/audit_log.cc's:
#   decision user="alice" group="" ip="10.99.0.2" id="1234" verdict=allow source=portal latency_ms=0.812 reason=""
#     request_id="…"
#   session disconnect id="1234" user="alice" group="" ip="…" vpn_ip="…" bytes_in=N bytes_out=N duration_s=N
#     admitted_by=…
# audit_decision USER SOURCE [VERDICT]: the last decision line for USER with that source (portal, cache, stale,
# fail_open, fail_close, coalesced) and, if given, that verdict (allow, deny).
# Only lines after audit_mark's (if any) of the current agent's log count, so that a check sees its own decisions.
audit_decision() {
  audit_lines | grep -E "decision user=\"$1\" .* verdict=${3:-[a-z_]+} source=$2 " | tail -1
}
# audit_has USER SOURCE [VERDICT]: there is such a line (since the mark); a predicate for wait_until.
audit_has() { [ -n "$(audit_decision "$@")" ]; }
# audit_id LINE: the session ID (ocserv's ID, the worker's PID) a decision or disconnect line names.
audit_id() { sed -n 's/.* id="\([^"]*\)" .*/\1/p' <<<"$1"; }
# audit_count USER SOURCE [VERDICT]: how many such lines (since the mark).
audit_count() {
  audit_lines | grep -c -E "decision user=\"$1\" .* verdict=${3:-[a-z_]+} source=$2 "
}
# audit_mark: from now on, audit_decision and audit_count look only at lines the agent writes after this point.
AUDIT_FROM=1
audit_mark() { AUDIT_FROM=$(( $(wc -l <"$AGENT_LOG") + 1 )); }
audit_lines() { tail -n "+$AUDIT_FROM" "$AGENT_LOG" 2>/dev/null; }
# expect_audit USER SOURCE VERDICT WHAT: the agent logged that decision (since the mark); waits a moment, since the
# audit line may be written just after the answer went out. Logs the line, or the log's tail if there is none.
expect_audit() {
  if wait_until 2 audit_has "$1" "$2" "$3"; then
    log "$4: $(audit_decision "$1" "$2" "$3" | sed 's/^.* decision /decision /')"
    return 0
  fi
  log "$4: the agent logged no decision user=\"$1\" verdict=$3 source=$2 ($AGENT_LOG from line $AUDIT_FROM); its tail:"
  audit_lines | tail -5 | sed 's/^/    /' >&2
  return 1
}
# audit_disconnect USER [ID]: since the mark (so an earlier session's disconnect in the same log never counts), the
# last disconnect event for USER (and, if given, for that session ID) whose byte counts are both non-zero (the
# session moved traffic) and whose duration is non-zero (whole seconds: the caller holds the session long enough).
audit_disconnect() {
  local nonzero='[1-9][0-9]*'
  audit_lines |
    grep -E "session disconnect id=\"${2:-[^\"]+}\" user=\"$1\" .* bytes_in=$nonzero bytes_out=$nonzero duration_s=$nonzero " |
    tail -1
}
# has_disconnect USER [ID]: there is such a line; a predicate for wait_until.
has_disconnect() { [ -n "$(audit_disconnect "$@")" ]; }
# audit_any_disconnect USER: the last disconnect line for USER since the mark, whatever its stats (for diagnostics).
audit_any_disconnect() { audit_lines | grep -E "session disconnect id=\"[^\"]+\" user=\"$1\" " | tail -1; }

# --- the helper's own lines, which ocserv copies from its stderr into its log ---------------------------------------
# helper_logged INSTANCE FROM USER KIND: since line FROM of that ocserv's log, the helper logged for USER
#   deny      the agent's Deny ("deny user=bob id=… request=… source=portal reason=…")
#   timeout   its default deny when the agent did not answer before the helper's deadline
#   refused   its default deny when the agent's socket refused the connection
helper_logged() {
  local pattern
  case "$4" in
    deny) pattern="ocserv-agent-auth\\[[0-9]+\\]: deny user=$3 id=[^ ]+ request=[^ ]+ source=" ;;
    timeout) pattern="ocserv-agent-auth\\[[0-9]+\\]: agent failure \\(no answer from the agent in time\\): rejecting user=$3 .*on-agent-failure=deny" ;;
    refused) pattern="ocserv-agent-auth\\[[0-9]+\\]: agent failure \\(cannot connect to [^ ]+: Connection refused\\): rejecting user=$3 .*on-agent-failure=deny" ;;
    *) return 2 ;;
  esac
  local file=$E2E_TMP/ocserv-$1/ocserv.log
  if wait_until 2 file_has_since "$file" "$2" "$pattern"; then
    log "ocserv logged the helper's line: $(tail -n "+$2" "$file" | grep -E "$pattern" | tail -1)"
    return 0
  fi
  log "ocserv's log has no '$4' line from the helper for $3 (from line $2 of $file); its tail:"
  tail -5 "$file" | sed 's/^/    /' >&2
  return 1
}
file_has_since() { tail -n "+$2" "$1" 2>/dev/null | grep -q -E "$3"; }   # file_has_since FILE FROM_LINE ERE
# ocserv_log_mark INSTANCE: the number of the next line that ocserv's log will get (a mark for helper_logged).
ocserv_log_mark() { echo $(( $(wc -l <"$E2E_TMP/ocserv-$1/ocserv.log") + 1 )); }

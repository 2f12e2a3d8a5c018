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

comp_dir() { echo "$E2E_TMP/agent"; }

# comp_setup: the dev PKI (scripts/dev-pki.sh) for the agent <-> portal mTLS link, and the portal's policy.
comp_setup() {
  local dir; dir=$(comp_dir)
  mkdir -p "$dir"
  "$E2E_DEV_PKI" "$dir/pki" >"$dir/dev-pki.log" 2>&1 || { log "dev-pki.sh failed: $(tail -3 "$dir/dev-pki.log")"; return 1; }
  portal_write_policy "$dir/policy.yaml"
}

# portal_write_policy FILE: alice, carol and dave are allowed, bob is denied, anyone else is denied.
# The format is the reference portal's (tests/fakes/portal_sim/sim_policy.h).
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
              --key "$dir/pki/portal.key" --client-ca "$dir/pki/ca.pem" --policy "$dir/policy.yaml")
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

# agent_write_config FILE FAIL_MODE ALLOW_TTL: YAML keys as in DESIGN.md "Key names". Relative certificate paths
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
management: { enabled: false }
metrics: { enabled: false }
ocserv: { occtl_socket: $E2E_TMP/ocserv-main/occtl.sock }
logging: { level: info, format: text }
YAML
}

# agent_start FAIL_MODE [ALLOW_TTL]: a fresh agent (so an empty decision cache) with that fail mode. Its stderr,
# which carries the audit lines, goes to a log of its own per start; AGENT_LOG names the current one.
agent_start() {
  local mode=$1 ttl=${2:-5m} dir; dir=$(comp_dir)
  E2E_AGENT_STARTS=$((E2E_AGENT_STARTS + 1))
  agent_write_config "$dir/config-$E2E_AGENT_STARTS.yaml" "$mode" "$ttl"
  AGENT_LOG=$dir/agent-$E2E_AGENT_STARTS.log
  rm -f "$(agent_socket)"   # a killed agent leaves its socket file: readiness is the new one appearing
  proc_start AGENT_PID "$AGENT_LOG" ip netns exec "$E2E_NS_SRV" "$E2E_AGENT" -c "$dir/config-$E2E_AGENT_STARTS.yaml"
  if ! wait_until 10 test -S "$(agent_socket)"; then
    log "the agent did not create $(agent_socket); its log:"; tail -10 "$AGENT_LOG" | sed 's/^/    /' >&2
    return 1
  fi
  log "agent up (pid $AGENT_PID, $mode, allow_ttl $ttl, log $AGENT_LOG)"
}

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
# audit_decision USER SOURCE: a decision line for USER naming SOURCE (portal, cache, stale, fail_open, fail_close...).
audit_decision() {
  grep -E "\\b$1\\b" "$AGENT_LOG" 2>/dev/null | grep -v -i disconnect | grep -E "\\b$2\\b" | tail -1
}
# audit_disconnect USER: a disconnect event for USER that carries byte and duration stats.
audit_disconnect() {
  grep -E "\\b$1\\b" "$AGENT_LOG" 2>/dev/null | grep -i disconnect | grep -i -E 'bytes' | grep -i -E 'duration' | tail -1
}

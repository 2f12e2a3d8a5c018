#!/usr/bin/env bash
# The ocserv-agent demo: the whole connect path, with ocserv played by this script.
#
#   1. installs missing Debian packages (scripts/bootstrap.sh) and builds the agent, the helper and the reference
#      portal; 2. makes a throwaway dev PKI, a sample portal policy and an agent config in a temp dir;
#   3. starts the reference portal (ocserv-portal-sim) and the agent (ocserv-agent);
#   4. runs the real helper (ocserv-agent-auth) exactly as ocserv runs its connect-script — no arguments, ocserv's
#      environment — for alice (admitted) and bob (rejected);
#   5. the portal revokes alice (policy change + SIGHUP: a Revoke on its PolicyWatch stream): the agent ends her live
#      sessions through occtl — a stand-in occtl here, since no ocserv runs (tests/e2e's `e2e_live` shows the same
#      with the real ocserv and openconnect) — and refuses her reconnect; a fresh portal Allow lifts it again;
#   6. stops the portal: alice is admitted from her stale decision, a never-seen user is rejected, the circuit
#      breaker opens and answers at once; 7. starts the portal again and shows the agent recover (half-open probe);
#   8. prints a table (user, verdict, source, latency) and stops everything it started.
#
# Exits non-zero as soon as any step does not behave as described. Under two minutes once the build is done.
# Usage: scripts/demo.sh   (root, or sudo for the first package install; set OA_BUILD_DIR to use another build dir)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

if [ -t 1 ]; then bold=$'\033[1m'; green=$'\033[32m'; red=$'\033[31m'; plain=$'\033[0m'; else bold=; green=; red=; plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
fail() { printf '\n%sdemo: FAILED: %s%s\n' "$red" "$*" "$plain" >&2; exit 1; }

say "1. Installing missing Debian packages (scripts/bootstrap.sh)"
scripts/bootstrap.sh

say "2. Building the agent, the helper and the reference portal in $build_dir"
configure_build "$build_dir"
cmake --build "$build_dir" -j "$(build_jobs)" --target ocserv-agent ocserv-agent-auth ocserv-portal-sim
agent_bin="$build_dir/agent/daemon/ocserv-agent"
helper_bin="$build_dir/ipc/helper/ocserv-agent-auth"
sim_bin="$build_dir/tests/fakes/portal_sim/ocserv-portal-sim"
for b in "$agent_bin" "$helper_bin" "$sim_bin"; do [ -x "$b" ] || fail "missing $b after the build"; done

work=$(mktemp -d /tmp/ocserv-agent-demo.XXXXXX)
agent_pid=""
sim_pid=""
# Stops only what this script started, by pid: TERM first, KILL if it lingers.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$agent_pid"
  stop_pid "$sim_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'printf "\ndemo: interrupted; stopping what it started\n" >&2; exit 130' INT TERM

say "3. A throwaway PKI, a portal policy and an agent config in $work"
scripts/dev-pki.sh "$work/pki" >/dev/null
cat > "$work/policy.yaml" <<'EOF'
# The reference portal's policy (tests/fakes/portal_sim/sim_policy.h).
users:
  alice: { allow: true, ttl: 2 }        # the portal says: cache this Allow for 2 s
  bob:   { allow: false, reason: "account suspended" }
default: { allow: false, reason: "no policy for this user" }
EOF
echo "--- policy.yaml"; cat "$work/policy.yaml"
# No ocserv runs here: the agent's occtl calls (its registry from `show users`, forced disconnects) go to this
# stand-in, which lists no sessions and notes every call in occtl.calls.
cat > "$work/occtl" <<'EOF'
#!/bin/sh
echo "occtl $*" >> "$0.calls"
case "$*" in *"show users"*) echo "[]" ;; *) echo "disconnected" ;; esac
EOF
chmod 755 "$work/occtl"

start_sim() {  # start_sim PORT: the reference portal on 127.0.0.1:PORT (0 = any free port)
  rm -f "$work/sim.port"
  "$sim_bin" --listen "127.0.0.1:$1" --port-file "$work/sim.port" --cert "$work/pki/portal.pem" \
    --key "$work/pki/portal.key" --client-ca "$work/pki/ca.pem" --policy "$work/policy.yaml" \
    >>"$work/portal.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do
    [ -s "$work/sim.port" ] && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/portal.log"; fail "the reference portal did not start"; }
    sleep 0.1
  done
  [ -s "$work/sim.port" ] || fail "the reference portal did not come up within 10 s"
  port=$(cat "$work/sim.port")
}

say "4. Starting the reference portal (ocserv-portal-sim, mTLS)"
start_sim 0
echo "portal: 127.0.0.1:$port (pid $sim_pid), log $work/portal.log"

cat > "$work/config.yaml" <<EOF
# config.yaml.example with the demo's choices: a socket in the temp dir, the local portal, short timers so that
# the demo's outage and recovery take seconds, not minutes.
agent: { id: demo-agent }
ipc:
  socket_path: $work/auth.sock
  allowed_uids: [$(id -u)]
  decision_timeout: 1500ms
portal:
  address: "127.0.0.1:$port"
  ca_file: pki/ca.pem
  cert_file: pki/agent-client.pem
  key_file: pki/agent-client.key
  server_name: portal.test
  timeout: 1s
resilience:
  fail_mode: fail-stale
  stale_fallback: close
  circuit_breaker: { failure_threshold: 2, open_timeout: 2s, max_open_timeout: 4s }
  cache: { allow_ttl: 5m, deny_ttl: 30s, stale_ttl: 30m }
management: { enabled: false }
events: { outbox_path: outbox.db }
metrics: { enabled: false }
# The occtl stand-in above; no periodic reconciliation, since the stand-in knows none of the sessions played here.
ocserv: { occtl_path: $work/occtl, reconcile_interval: 0s }
logging: { level: info }
EOF
echo "--- config.yaml"; cat "$work/config.yaml"
"$agent_bin" --check-config -c "$work/config.yaml" || fail "the demo config does not validate"

say "5. Starting the agent: ocserv-agent -c $work/config.yaml"
"$agent_bin" -c "$work/config.yaml" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do
  grep -q "decision path ready" "$work/agent.log" 2>/dev/null && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log"; fail "the agent exited"; }
  sleep 0.1
done
grep -q "decision path ready" "$work/agent.log" || { cat "$work/agent.log"; fail "the agent did not become ready"; }
echo "agent: pid $agent_pid, log $work/agent.log"

# connect USER EXPECT_RC EXPECT_SOURCE STEP: plays ocserv — runs the helper with no arguments and only the variables
# ocserv sets for a connect-script (docs/ocserv.md#environment), waits for it, and checks its exit status (0 admit,
# 1 reject) and the source of the agent's answer (the audit line with this helper's request id).
rows=()
n=0
connect() {
  local user=$1 want_rc=$2 want_source=$3 step=$4 t0 t1 pid rc line source agent_ms
  n=$((n + 1))
  t0=$EPOCHREALTIME
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCSERV_AGENT_SOCKET="$work/auth.sock" \
    REASON=connect USERNAME="$user" GROUPNAME=staff HOSTNAME="laptop-$user" DEVICE=vpns0 ID=$((4000 + n)) \
    IP_REAL=198.51.100.7 IP_REAL_LOCAL=192.0.2.1 IP_LOCAL=10.10.0.1 IP_REMOTE=10.10.0.$((10 + n)) \
    VHOST=default USER_AGENT="Open AnyConnect VPN Agent v9.01" OCSERV_ROUTES="10.0.0.0/255.0.0.0 " \
    "$helper_bin" 2>"$work/helper.err" &
  pid=$!
  set +e; wait "$pid"; rc=$?; set -e
  t1=$EPOCHREALTIME
  local wall_ms
  wall_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
  line=$(grep "request_id=\"$pid-" "$work/agent.log" | tail -1 || true)
  source=$(sed -n 's/.* source=\([a-z_]*\) .*/\1/p' <<<"$line")
  agent_ms=$(sed -n 's/.* latency_ms=\([0-9.]*\) .*/\1/p' <<<"$line")
  local verdict=admitted
  [ "$rc" -eq 0 ] || verdict=rejected
  printf '  %-8s -> %s%-8s%s (exit %d)  source=%-10s helper %6s ms, agent %s ms\n' "$user" \
    "$([ "$rc" -eq 0 ] && echo "$green" || echo "$red")" "$verdict" "$plain" "$rc" "${source:-?}" "$wall_ms" \
    "${agent_ms:-?}"
  [ -s "$work/helper.err" ] && sed 's/^/             helper stderr: /' "$work/helper.err"
  rows+=("$(printf '%-3s %-24s %-8s %-9s %-11s %10s %10s' "$n" "$step" "$user" "$verdict" "${source:-?}" \
    "$wall_ms" "${agent_ms:-?}")")
  last_source=$source
  if [ -n "$want_rc" ] && [ "$rc" -ne "$want_rc" ]; then fail "$user: exit $rc, expected $want_rc"; fi
  if [ -n "$want_source" ] && [ "$source" != "$want_source" ]; then
    fail "$user: source '${source:-none}', expected $want_source"
  fi
  return 0
}

say "6. ocserv connects alice and bob (the helper asks the agent, the agent asks the portal)"
connect alice 0 portal "portal up"
connect bob 1 portal "portal up"
connect alice 0 cache "portal up, cached"

say "7. The portal revokes alice: policy alice -> deny, SIGHUP to the portal (a Revoke on its PolicyWatch stream)"
for _ in $(seq 100); do grep -q "policy stream to .* is up" "$work/agent.log" && break; sleep 0.1; done
grep -q "policy stream to .* is up" "$work/agent.log" || { cat "$work/agent.log"; fail "no policy stream to the portal"; }
# ttl 0: the portal asks the agent not to cache this Deny, so that the restore below takes effect at once.
sed -i 's/^  alice: .*/  alice: { allow: false, reason: "account locked", ttl: 0 }/' "$work/policy.yaml"
kill -HUP "$sim_pid"
# alice's two connects above are her live sessions (IDs 4001 and 4003): both must end.
for _ in $(seq 50); do
  [ "$(grep -c "forced disconnect: session .* user 'alice'" "$work/agent.log")" -ge 2 ] && break
  sleep 0.1
done
grep -o "Revoke published.*" "$work/portal.log" | tail -1 | sed 's/^/  portal log: /'
grep -o -E "(revocation in force|forced disconnect): .*" "$work/agent.log" | sed 's/^/  agent log: /'
grep -v "show users" "$work/occtl.calls" | sed 's/^/  occtl stand-in called: /' || true
for id in 4001 4003; do
  grep -q "occtl .*disconnect id $id" "$work/occtl.calls" || fail "the agent did not run occtl disconnect id $id"
done
echo "alice comes back (a new login, or a reconnect whose cookie ocserv still honours): the connect-script runs again:"
connect alice 1 portal "revoked: reconnect"
sed -i 's/^  alice: .*/  alice: { allow: true, ttl: 2 }/' "$work/policy.yaml"
kill -HUP "$sim_pid"
for _ in $(seq 50); do [ "$(grep -c "policy reloaded" "$work/portal.log")" -ge 2 ] && break; sleep 0.1; done
echo "policy back to allow: the next connect asks the portal, whose fresh Allow lifts the revocation"
connect alice 0 portal "restored"

say "8. The portal goes away (SIGTERM to ocserv-portal-sim)"
echo "waiting 2.5 s so that alice's decision (portal TTL 2 s) is no longer fresh..."
sleep 2.5
stop_pid "$sim_pid"
sim_pid=""
echo "portal stopped. fail_mode is fail-stale: a known user gets her last decision, a stranger the fallback (close)"
connect alice 0 stale "portal down"
connect mallory 1 fail_close "portal down, never seen"
grep -q "circuit breaker closed -> open" "$work/agent.log" || fail "the breaker did not open after 2 failures"
echo "  agent log: $(grep -o 'circuit breaker closed -> open.*' "$work/agent.log" | head -1)"
echo "the breaker is open: answers come at once, without trying the portal"
connect alice 0 stale "breaker open"

say "9. The portal comes back (same port); the breaker lets a probe through once the policy stream is back (or after open_timeout, 2 s)"
start_sim "$port"
echo "portal: 127.0.0.1:$port (pid $sim_pid)"
# The new portal process cannot resume the agent's policy stream after the revocation's version: it sends Resync,
# which drops every cached decision, stale ones included. The stream's first message also moves the open breaker to
# half-open at once, so the next connect probes the portal instead of being refused for want of a stale verdict.
recovered=0
for _ in $(seq 30); do
  sleep 0.5
  connect alice "" "" "portal back"
  if [ "$last_source" = portal ]; then recovered=1; break; fi
done
[ "$recovered" -eq 1 ] || fail "the agent did not go back to the portal within 15 s"
grep -q "circuit breaker open -> half_open" "$work/agent.log" || fail "no half-open probe in the agent's log"
grep -q "circuit breaker half_open -> closed" "$work/agent.log" || fail "the breaker did not close"
grep -o 'circuit breaker [a-z_]* -> [a-z_]*.*' "$work/agent.log" | sed 's/^/  agent log: /'
connect mallory 1 portal "recovered"

say "10. Stopping the agent (SIGTERM) and the portal"
kill -TERM "$agent_pid"
set +e; wait "$agent_pid"; rc=$?; set -e
agent_pid=""
[ "$rc" -eq 0 ] || { cat "$work/agent.log"; fail "the agent exited with $rc"; }
echo "agent stopped cleanly"
stop_pid "$sim_pid"
sim_pid=""

say "Summary (helper = fork to exit, as ocserv waits for it; agent = the agent's own decision time)"
printf '%-3s %-24s %-8s %-9s %-11s %10s %10s\n' "#" "step" "user" "verdict" "source" "helper ms" "agent ms"
printf '%s\n' "${rows[@]}"
printf '\n%sdemo: OK%s\n' "$green" "$plain"

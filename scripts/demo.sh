#!/usr/bin/env bash
# The ocserv-agent demo. For now it shows the daemon itself: it installs what is missing, builds ocserv-agent,
# writes a throwaway PKI and a config derived from config.yaml.example into a temp dir, validates it (and a broken
# copy), starts the daemon, reloads it with SIGHUP (a good file, then a bad one that must be refused), and stops it
# with SIGTERM. Later issues add the reference portal, the helper and ocserv connects.
# Usage: scripts/demo.sh   (as root or with sudo available for the package install; nothing is installed system-wide
# besides Debian packages, and the temp dir is removed at the end)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

# wait_for_log PATTERN SECONDS: polls the agent's log until PATTERN shows up (bounded, never a blind sleep).
wait_for_log() {
  local pattern=$1 deadline=$(( $(date +%s) + $2 ))
  until grep -q -- "$pattern" "$work/agent.log" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    kill -0 "$agent_pid" 2>/dev/null || return 1
    sleep 0.1
  done
}

say "1. Installing missing Debian packages (scripts/bootstrap.sh)"
scripts/bootstrap.sh

say "2. Building ocserv-agent in $build_dir"
configure_build "$build_dir"
cmake --build "$build_dir" -j "$(build_jobs)" --target ocserv-agent
agent="$build_dir/agent/daemon/ocserv-agent"
"$agent" --version

work=$(mktemp -d /tmp/ocserv-agent-demo.XXXXXX)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then kill -KILL "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say "3. Writing a throwaway PKI and a config into $work"
scripts/dev-pki.sh "$work/pki" >/dev/null
# config.yaml.example names the CAs portal-ca.pem and management-client-ca.pem; the dev PKI has one CA for both.
ln -s ca.pem "$work/pki/portal-ca.pem"
ln -s ca.pem "$work/pki/management-client-ca.pem"
sed -e "s|^  socket_path: .*|  socket_path: $work/auth.sock|" \
    -e 's|^  address: "portal.example.net:8443"|  address: "127.0.0.1:8443"|' \
    -e 's|^  server_name: ""|  server_name: "portal.test"|' \
    -e 's|^  listen: "0.0.0.0:9443"|  listen: "127.0.0.1:9443"|' \
    -e 's|^    - identity: portal.example.net|    - identity: admin.test|' \
    config.yaml.example > "$work/config.yaml"
echo "config: $work/config.yaml (config.yaml.example with the socket in $work and loopback addresses)"

say "4. Validating it: ocserv-agent --check-config -c $work/config.yaml"
"$agent" --check-config -c "$work/config.yaml" || fail "the demo config does not validate"

say "5. Validating a broken copy (three mistakes): every problem is named, exit code 1"
sed -e 's|^  decision_timeout: 3s|  decision_timeout: 3 seconds|' \
    -e 's|^  fail_mode: fail-stale|  fail_mode: fail-safe|' \
    -e 's|^    max_entries: 100000|    max_entrys: 100000|' \
    "$work/config.yaml" > "$work/broken.yaml"
set +e
"$agent" --check-config -c "$work/broken.yaml"
rc=$?
set -e
echo "exit code: $rc"
[ "$rc" -eq 1 ] || fail "a broken config must exit 1"

say "6. Starting the daemon: ocserv-agent -c $work/config.yaml (log: $work/agent.log)"
"$agent" -c "$work/config.yaml" 2>"$work/agent.log" &
agent_pid=$!
wait_for_log "ready" 10 || { cat "$work/agent.log"; fail "the agent did not become ready"; }
echo "ocserv-agent is up (pid $agent_pid)"

say "7. SIGHUP with a changed file (agent id demo-agent, debug logging): the new config goes live"
sed -i -e 's|^  id: ""|  id: "demo-agent"|' -e 's|^  level: info|  level: debug|' "$work/config.yaml"
kill -HUP "$agent_pid"
wait_for_log "config generation 2" 10 || { cat "$work/agent.log"; fail "the reload was not applied"; }
echo "reloaded: generation 2 is running"

say "8. SIGHUP with a broken file: refused, every problem logged, generation 2 keeps running"
cp "$work/config.yaml" "$work/good.yaml"
cp "$work/broken.yaml" "$work/config.yaml"
kill -HUP "$agent_pid"
wait_for_log "still running config generation 2" 10 || { cat "$work/agent.log"; fail "the bad reload was not refused"; }
kill -0 "$agent_pid" || fail "the agent died on a bad reload"
echo "refused; the agent is still up"
cp "$work/good.yaml" "$work/config.yaml"

say "9. SIGTERM: graceful stop"
kill -TERM "$agent_pid"
set +e
wait "$agent_pid"
rc=$?
set -e
agent_pid=""
echo "exit code: $rc"

say "The agent's log"
cat "$work/agent.log"
[ "$rc" -eq 0 ] || fail "the agent did not exit cleanly"
say "demo: OK"

#!/bin/bash
# Counts the agent's threads (/proc/<pid>/task) idle and during a revocation burst — docs/architecture.md
# "Thread count" (issue 5's target: <= 16). Real daemon, reference portal over mTLS on loopback, a stand-in occtl
# that lists N sessions of one group and takes 20 ms per disconnect; the portal's policy reload (SIGHUP) turns the
# group from allow to deny, which publishes a Revoke on the policy stream.
# Usage: scripts/measure-threads.sh [build-dir] [sessions]   (build the ocserv-agent and ocserv-portal-sim targets)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-2000}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
pki="$dir/pki"
bash "$root/scripts/dev-pki.sh" "$pki" >/dev/null
agent_bin=$(find "$build" -type f -name ocserv-agent -perm -u+x | head -1)
sim_bin=$(find "$build" -type f -name ocserv-portal-sim -perm -u+x | head -1)

# occtl: N sessions of group "burst"; disconnect takes 20 ms (so that the workers are busy together).
cat > "$dir/occtl" <<OCCTL
#!/bin/sh
case "\$*" in
  *"show users"*) awk -v n=$n 'BEGIN { printf "["; for (i = 0; i < n; i++) printf "%s{\"ID\": %d, \"Username\": \"u%d\", \"Groupname\": \"burst\", \"State\": \"connected\"}", (i ? "," : ""), 10000 + i, i; print "]" }' ;;
  *disconnect*) sleep 0.02; echo disconnected ;;
  *) echo ok ;;
esac
OCCTL
chmod +x "$dir/occtl"

printf 'groups:\n  burst: { allow: true }\ndefault: { allow: true }\n' > "$dir/policy.yaml"
"$sim_bin" --listen 127.0.0.1:0 --port-file "$dir/port" --cert "$pki/portal.pem" --key "$pki/portal.key" \
  --client-ca "$pki/ca.pem" --policy "$dir/policy.yaml" --heartbeat-ms 1000 2> "$dir/sim.log" &
sim=$!; pids+=("$sim")
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")

cat > "$dir/agent.yaml" <<YAML
ipc: { socket_path: $dir/auth.sock, allowed_uids: [$(id -u)] }
portal: { address: "127.0.0.1:$port", ca_file: $pki/ca.pem, cert_file: $pki/agent-client.pem,
          key_file: $pki/agent-client.key, server_name: "portal.test", timeout: 1s, report_events: true }
management: { enabled: false }
metrics: { enabled: false }
events: { outbox_path: $dir/outbox.db }
ocserv: { occtl_path: $dir/occtl, occtl_socket: $dir/occtl.socket }
enforcement: { disconnect_concurrency: 4 }
logging: { level: info, format: text }
YAML
"$agent_bin" -c "$dir/agent.yaml" 2> "$dir/agent.log" &
agent=$!; pids+=("$agent")
for _ in $(seq 100); do grep -q "policy stream to" "$dir/agent.log" 2>/dev/null && break; sleep 0.1; done
grep -q "session registry reconciled" "$dir/agent.log" || sleep 1
sleep 7  # the start-up reconciliation's occtl thread (oa-occtl) ends after 5 s without work
threads() { ls "/proc/$agent/task" | wc -l; }
echo "idle: $(threads) threads (sessions known: $n): $(cat /proc/$agent/task/*/comm | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')"

printf 'groups:\n  burst: { allow: false, reason: "burst" }\ndefault: { allow: true }\n' > "$dir/policy.yaml"
burst_start=$(date +%s%N)
kill -HUP "$sim"
peak=0
names=
for _ in $(seq 300); do
  t=$(threads); [ "$t" -gt "$peak" ] && peak=$t
  done_n=$(grep -c "forced disconnect: session" "$dir/agent.log" || true)
  [ "$t" -ge "$peak" ] && names=$(cat /proc/$agent/task/*/comm 2>/dev/null | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
  [ "$done_n" -ge "$n" ] && break
  sleep 0.05
done
burst_ms=$(( ($(date +%s%N) - burst_start) / 1000000 ))
# 20 ms per disconnect: with disconnect_concurrency 4 truly concurrent, n disconnects take about n * 20 / 4 ms.
echo "revocation of $n sessions: peak $peak threads ($names), $done_n forced disconnects in ${burst_ms} ms"
sleep 7
echo "idle again: $(threads) threads"

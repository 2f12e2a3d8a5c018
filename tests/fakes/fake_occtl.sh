#!/bin/sh
# A stand-in for occtl in tests: appends its argv (one argument per line, then a "----" line) to "$0.calls" and
# prints canned output. Its behaviour comes from the file "$0.mode" (the agent runs occtl with a cleared environment,
# so a sibling file is the channel): "ok" (default), "fail" (stderr + exit 3), "sleep" (sleeps 30 s, for timeouts),
# "binary" (bytes that are not UTF-8 on stdout and stderr).
calls="$0.calls"
for a in "$@"; do printf '%s\n' "$a" >> "$calls"; done
printf '%s\n' "----" >> "$calls"
mode=ok
[ -f "$0.mode" ] && mode=$(cat "$0.mode")
case "$mode" in
  fail) echo "occtl: could not connect to ocserv" >&2; exit 3 ;;
  sleep) sleep 30; exit 0 ;;
  binary) printf 'user \377\376 caf\303\251\n'; printf 'warn \300\n' >&2; exit 0 ;;
esac
# "$0.hang_id" names one session ID whose disconnect hangs like "sleep" (the others answer): one hung call among many.
if [ -f "$0.hang_id" ]; then
  case " $* " in *" id $(cat "$0.hang_id") "*) sleep 30; exit 0 ;; esac
fi
# Skip the options the agent passes before the command.
while [ $# -gt 0 ]; do
  case "$1" in
    -s) shift 2 ;;
    -j) shift ;;
    *) break ;;
  esac
done
case "$*" in
  "show status") printf 'Status: online\nServer PID: 4242\nActive sessions: 2\n' ;;
  "show users") cat <<'JSON'
[
  {
    "ID":  1234,
    "Username":  "alice",
    "Groupname":  "staff",
    "State":  "connected",
    "vhost":  "default",
    "Device":  "vpns0",
    "Remote IP":  "198.51.100.7",
    "IPv4":  "10.10.0.2",
    "User-Agent":  "Open AnyConnect VPN Agent v9.01",
    "Hostname":  "alice-laptop",
    "Connected at":  "2026-01-02 10:00",
    "RX":  "1000",
    "TX":  "2000",
    "Session":  "eRnFmY"
  },
  {
    "ID":  1300,
    "Username":  "bob",
    "Groupname":  "(none)",
    "State":  "connected",
    "IPv4":  "10.10.0.3"
  }
]
JSON
  ;;
  "disconnect user"*|"disconnect id"*) echo "disconnected" ;;
  *) echo "ok: $*" ;;
esac
exit 0

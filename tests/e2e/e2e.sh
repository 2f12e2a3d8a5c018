#!/usr/bin/env bash
# End-to-end test: a real ocserv and a real openconnect client in two network namespaces, with our connect-script
# helper, the agent and the reference portal beside ocserv. See tests/e2e/README.md for what each mode checks.
#
#   e2e.sh --mechanics                  stand-in scripts only (/bin/true, /bin/false, sh): needs none of our binaries
#   e2e.sh --scenarios BINARIES...      the seven scenarios with the real helper, agent and portal + the timing
#   e2e.sh BINARIES...                  both
#   e2e.sh --live BINARIES --rpc PATH   live enforcement and the outbox: revocation, re-check after an outage, agent
#                                       restart, sessions reported after an outage (needs tests/e2e's oa-e2e-rpc)
#   e2e.sh --not-built "WHAT"           report that the binaries are not built yet, and skip (under CI=true: fail)
# BINARIES: --helper PATH --agent PATH --portal-sim PATH [--wrapper PATH] [--dev-pki PATH]
# Other options: --rounds N (timing connects per target, default 20; 0 = no timing), --keep (keep the temp dir),
# --bench-file PATH (also write the e2e-bench: line there, replaced every run; CTest: build/tests/e2e/e2e-bench.txt).
#
# Needs root and network namespaces; without them it says why and exits 77 (CTest: skipped, never passed). A missing
# tool or binary of ours is a skip too, except under CI=true, where it is a failure (exit 1).
# Exits 0 if every check passed, 1 otherwise. It creates only what it removes: two namespaces named after its PID,
# a veth pair in them, addresses in 10.99.0.0/16 on those interfaces only, a temp dir, and processes it stops by PID.
# shellcheck disable=SC2034  # the options parsed below are read by the sourced files
set -uo pipefail
E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_HERE/../.." && pwd)

log() { echo "e2e: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
skip() { echo "e2e: SKIPPED: $*"; exit 77; }

for lib in proc netns pki ocserv client mechanics components scenarios live; do
  # shellcheck source=/dev/null
  source "$E2E_HERE/lib/$lib.sh"
done

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

E2E_MODE=all E2E_ROUNDS=20 E2E_KEEP=0 E2E_BUDGET=${E2E_BUDGET:-140}
E2E_HELPER='' E2E_AGENT='' E2E_PORTAL_SIM='' E2E_WRAPPER='' E2E_DEV_PKI=$E2E_REPO/scripts/dev-pki.sh E2E_NOT_BUILT=''
E2E_BENCH_FILE='' E2E_RPC=''
while [ $# -gt 0 ]; do
  case "$1" in
    --mechanics) E2E_MODE=mechanics ;;
    --scenarios) E2E_MODE=scenarios ;;
    --live) E2E_MODE=live ;;
    --rpc) E2E_RPC=${2:?}; shift ;;
    --not-built) E2E_NOT_BUILT=${2:-our binaries}; break ;;   # reported by preflight: a skip, or under CI a failure
    --helper) E2E_HELPER=${2:?}; shift ;;
    --agent) E2E_AGENT=${2:?}; shift ;;
    --portal-sim) E2E_PORTAL_SIM=${2:?}; shift ;;
    --wrapper) E2E_WRAPPER=${2:?}; shift ;;
    --dev-pki) E2E_DEV_PKI=${2:?}; shift ;;
    --rounds) E2E_ROUNDS=${2:?}; shift ;;
    --bench-file) E2E_BENCH_FILE=${2:?}; shift ;;
    --keep) E2E_KEEP=1 ;;
    -h|--help) usage ;;
    *) log "unknown argument: $1"; usage ;;
  esac
  shift
done

# --- preflight: every reason this machine cannot run the test is a skip with its reason, never a pass ----------------
# Root, network namespaces and /dev/net/tun are what the machine offers: without them the test cannot run here, which
# is a skip. A missing tool or one of our binaries on a machine that has all three is different: under CI (CI=true)
# that is a broken pipeline (a package not installed, a target not built, a renamed target), and a skip would show
# green for a test that never ran: there it is a failure. Outside CI it stays a skip (a developer's partial build).
preflight() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, tun devices, ocserv), running as uid $(id -u)"
  local why
  why=$(netns_probe) || skip "no network namespaces here: $why"
  [ -c /dev/net/tun ] || skip "no /dev/net/tun: ocserv and openconnect need tun devices"
  local tool missing=()
  for tool in ip nsenter ocserv ocpasswd occtl openconnect certtool ping iptables timeout awk renice; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ -x /usr/bin/ocserv-fw ] || missing+=(/usr/bin/ocserv-fw)
  [ ${#missing[@]} -eq 0 ] || unmet "missing tools: ${missing[*]} (scripts/bootstrap.sh installs them)"
  [ -z "$E2E_NOT_BUILT" ] ||
    unmet "not built yet: $E2E_NOT_BUILT (the e2e test picks them up once their CMake targets exist)"
  if [ "$E2E_MODE" != mechanics ]; then
    local b missing_bin=()
    local needed=(E2E_HELPER E2E_AGENT E2E_PORTAL_SIM)
    [ "$E2E_MODE" != live ] || needed+=(E2E_RPC)
    for b in "${needed[@]}"; do
      [ -n "${!b}" ] && [ -x "${!b}" ] || missing_bin+=("${b#E2E_}=${!b:-<not given>}")
    done
    [ ${#missing_bin[@]} -eq 0 ] ||
      unmet "not built yet: ${missing_bin[*]} (the scenarios need the helper, the agent and the portal; --mechanics runs without)"
    [ -x "$E2E_DEV_PKI" ] || unmet "no dev PKI script at $E2E_DEV_PKI"
  fi
}

# unmet WHY: a requirement of ours (a tool, a binary) is missing on a machine that could run the test: a skip, or
# under CI a failure.
unmet() {
  case "${CI:-}" in
    true|TRUE|True|1)
      die "CI=$CI and this machine has root, network namespaces and /dev/net/tun, so the test must run, not be" \
        "skipped: $1" ;;
  esac
  skip "$1"
}

# Debian's package may start a system ocserv on install (bootstrap.sh blocks that with policy-rc.d, but a machine
# may have it from elsewhere). It listens in the root namespace and would not collide with ours, but the issue asks
# for it stopped, and a stopped service is one less thing to wonder about when reading logs.
stop_system_ocserv() {
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet ocserv 2>/dev/null; then
    log "stopping the ocserv service the Debian package started"
    systemctl stop ocserv.service 2>/dev/null || log "could not stop the ocserv service"
  elif [ -x /etc/init.d/ocserv ] && /etc/init.d/ocserv status >/dev/null 2>&1; then
    # No systemd (containers): the package's init script, with its own pid file, is what would have started it.
    log "stopping the ocserv the Debian package's init script started"
    /etc/init.d/ocserv stop >/dev/null 2>&1 || log "could not stop the ocserv service"
  fi
}

# --- cleanup: always, whatever failed ----------------------------------------------------------------------------
E2E_TMP='' E2E_WATCHDOG=''
cleanup() {
  local rc=$?
  # A second signal must not cut the cleanup short (namespaces would be left); naps in here must not exit again.
  trap - EXIT; trap '' INT TERM; E2E_STOP=''
  [ -z "$E2E_WATCHDOG" ] || { kill "$E2E_WATCHDOG" 2>/dev/null; wait "$E2E_WATCHDOG" 2>/dev/null; }
  proc_stop_all
  netns_down
  if [ -n "$E2E_TMP" ] && [ -d "$E2E_TMP" ]; then
    if [ "$E2E_KEEP" -eq 1 ]; then log "kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
  fi
  exit "$rc"
}

# --- checks -----------------------------------------------------------------------------------------------------
E2E_PASSED=() E2E_FAILED=()
check() {  # check "DESCRIPTION" FUNCTION [ARGS...]
  local what=$1; shift
  log "--- $what"
  local t0; t0=$(now_us)
  if "$@"; then
    E2E_PASSED+=("$what")
    log "PASS $what ($(fmt_ms "$(awk -v a="$t0" -v b="$(now_us)" 'BEGIN { print (b - a) / 1000 }')"))"
  else
    E2E_FAILED+=("$what")
    log "FAIL $what"
  fi
}

fmt_ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v }'; }

# expect_result WANTED: after oc_up/oc_wait, did the attempt end as WANTED (admitted | rejected)?
expect_result() {
  [ "$OC_RESULT" = "$1" ] && return 0
  log "expected $1, got $OC_RESULT after $(fmt_ms "$OC_MS"); openconnect said:"
  tail -5 "$OC_LOG" | sed 's/^/    /' >&2
  return 1
}

# expect_ocserv_logged_rejection INSTANCE USER: ocserv's log records the connect-script's refusal for USER.
expect_ocserv_logged_rejection() {
  # ocserv 1.1.6 logs: "main[bob]:10.99.0.2:53908 failed authentication attempt for user 'bob'"
  local pattern="main\\[$2\\].* failed authentication attempt for user '$2'"
  if wait_until 3 grep -q -E "$pattern" "$E2E_TMP/ocserv-$1/ocserv.log"; then
    log "ocserv logged: $(grep -E "$pattern" "$E2E_TMP/ocserv-$1/ocserv.log" | tail -1)"
    return 0
  fi
  log "ocserv's log has no failed attempt for $2; its tail:"; tail -8 "$E2E_TMP/ocserv-$1/ocserv.log" | sed 's/^/    /' >&2
  return 1
}

# --- main ---------------------------------------------------------------------------------------------------------
preflight
stop_system_ocserv
trap cleanup EXIT
# The signal trap only notes the signal; the next nap exits (every wait polls with one, none longer than 0.5 s), from
# plain code. An `exit` inside the trap would run from wherever the signal landed, most often inside nap's `read -t`,
# and bash 5.2 then leaves that read's timer armed: it fires in the middle of the cleanup, which dies half done
# (segfault, or "longjmp causes uninitialized stack frame"), leaving the namespaces behind.
trap 'E2E_STOP=130' INT TERM
stop_now() { log "interrupted"; exit "$E2E_STOP"; }
E2E_TMP=$(mktemp -d /tmp/oa-e2e.XXXXXX)
chmod 755 "$E2E_TMP"
nap_init "$E2E_TMP"
# A watchdog keeps the whole run bounded even if something hangs where no step has its own limit; the TERM it sends
# runs the cleanup above.
# Its sleep is its own child, stopped with it, so that nothing outlives the run or holds its output open.
# If this shell was SIGKILLed, its cleanup never stopped the watchdog: it then must not signal $$, which may by now be
# another process's PID, so it signals only while this shell is still its parent.
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep "$E2E_BUDGET" >/dev/null 2>&1 & nap=$!
  wait "$nap" || exit 0
  read -r _ _ _ parent _ <"/proc/$BASHPID/stat"
  [ "$parent" = $$ ] || exit 0
  echo "e2e: FATAL: over the ${E2E_BUDGET}s budget, stopping" >&2 && kill -TERM $$
) &
E2E_WATCHDOG=$!

e2e_t0=$(now_us)
netns_reap_stale
netns_names $$
log "namespaces $E2E_NS_SRV / $E2E_NS_CLI, temp dir $E2E_TMP, mode $E2E_MODE"
netns_up
pki_make "$E2E_TMP/pki"
ocserv_passwd "$E2E_TMP/ocpasswd" alice bob carol dave
client_write_vpnc_script

case "$E2E_MODE" in
  mechanics) run_mechanics ;;
  scenarios) run_scenarios ;;
  live) run_live ;;
  all) run_mechanics; run_scenarios ;;
esac

log "=== ${#E2E_PASSED[@]} passed, ${#E2E_FAILED[@]} failed in $(awk -v a="$e2e_t0" -v b="$(now_us)" \
  'BEGIN { printf "%.1f s", (b - a) / 1e6 }')"
for f in "${E2E_FAILED[@]}"; do log "failed: $f"; done
[ -z "$E2E_STOP" ] || stop_now   # a signal after the last nap
[ ${#E2E_FAILED[@]} -eq 0 ]

# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# proc.sh: starts background processes, remembers their PIDs, stops them by PID with bounded waits.
# Sourced by e2e.sh. Nothing here ever signals a process this run did not start (no pkill, no killall).
# Every started PID is appended to E2E_PIDS so that the cleanup trap can stop whatever is still running.

E2E_PIDS=()

# proc_start VAR LOGFILE CMD...: runs CMD in the background with stdout+stderr to LOGFILE, stores its PID in VAR.
# Standard input is /dev/null, or the file named by PROC_STDIN. `ip netns exec` and `env` exec the command in place,
# so the PID is the program's own, not a wrapper's.
proc_start() {
  local __var=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 <"${PROC_STDIN:-/dev/null}" &
  local __pid=$!
  E2E_PIDS+=("$__pid")
  printf -v "$__var" '%s' "$__pid"
}

proc_alive() { kill -0 "$1" 2>/dev/null; }

# proc_wait_exit PID SECONDS: waits up to SECONDS (may be fractional) for PID to exit; 0 if it did.
proc_wait_exit() {
  local pid=$1 deadline
  deadline=$(deadline_after "$2")
  while proc_alive "$pid"; do
    now_before "$deadline" || return 1
    nap 0.02
  done
  wait "$pid" 2>/dev/null || true   # reap it if it is our child
  return 0
}

# proc_stop PID [SIGNAL] [GRACE]: sends SIGNAL (default TERM), waits GRACE seconds (default 3), then SIGKILL.
proc_stop() {
  local pid=$1 sig=${2:-TERM} grace=${3:-3}
  [ -n "$pid" ] || return 0
  proc_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -s "$sig" "$pid" 2>/dev/null || true
  if ! proc_wait_exit "$pid" "$grace"; then
    log "process $pid ignored SIG$sig for ${grace}s: SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    proc_wait_exit "$pid" 2 || log "process $pid survived SIGKILL"
  fi
}

# proc_stop_all: stops every PID this run started that still runs: SIGTERM to all of them at once, one shared grace
# of 2 s, then SIGKILL for the rest and at most 1 s more. One grace for all, not one each: this is the cleanup that
# runs after the watchdog fired, and it must end before CTest's TIMEOUT however many processes are still up (seven
# stopped one after another with 2 s grace + 2 s after SIGKILL each would be up to 28 s).
proc_stop_all() {
  local pid live=()
  for pid in "${E2E_PIDS[@]}"; do
    if proc_alive "$pid"; then live+=("$pid"); else wait "$pid" 2>/dev/null; fi
  done
  E2E_PIDS=()
  [ ${#live[@]} -gt 0 ] || return 0
  kill -TERM "${live[@]}" 2>/dev/null
  kill -CONT "${live[@]}" 2>/dev/null   # one that is stopped (scenario 6 freezes the agent) acts on the TERM now
  if ! wait_until 2 procs_gone "${live[@]}"; then
    for pid in "${live[@]}"; do
      proc_alive "$pid" || continue
      log "process $pid ignored SIGTERM for 2s: SIGKILL"; kill -KILL "$pid" 2>/dev/null
    done
    wait_until 1 procs_gone "${live[@]}" || log "still running after SIGKILL: ${live[*]}"
  fi
  for pid in "${live[@]}"; do wait "$pid" 2>/dev/null; done   # reap those that are our children
  return 0
}
procs_gone() { local pid; for pid in "$@"; do ! proc_alive "$pid" || return 1; done; }   # procs_gone PID...

# proc_priority NICE PID...: sets the nice value of every thread of each PID (nice is per thread on Linux). The
# timing runs raise their own priority so that a busy machine (parallel builds) disturbs the measurement less.
proc_priority() {
  local nice=$1 pid tid; shift
  for pid in "$@"; do
    for tid in /proc/"$pid"/task/*; do renice -n "$nice" -p "${tid##*/}" >/dev/null 2>&1 || true; done
  done
}

# wait_until SECONDS CMD...: polls CMD every 20 ms until it succeeds or SECONDS pass; 0 on success.
# CMD is run anew at every poll, but its arguments are expanded once, by the caller: a condition must be a function
# or command that computes its answer itself (wait_until 5 has_disconnect alice), never `test -n "$(...)"`, whose
# substitution is the value from before the first poll.
wait_until() {
  local deadline
  deadline=$(deadline_after "$1"); shift
  until "$@"; do
    now_before "$deadline" || return 1
    nap 0.02
  done
}

# nap SECONDS: sleeps without forking (`read -t` on a FIFO nobody writes), so that the polling loops around a
# timed connect do not themselves load the CPU they are measuring on. Falls back to sleep before nap_init.
# It is also where an INT/TERM takes effect: e2e.sh's trap only sets E2E_STOP, and the nap after it exits (see there).
E2E_NAP_FD='' E2E_STOP=''
nap_init() {  # nap_init DIR
  mkfifo "$1/nap.fifo" && exec {E2E_NAP_FD}<>"$1/nap.fifo"
}
nap() {
  if [ -n "$E2E_NAP_FD" ]; then read -r -t "$1" -u "$E2E_NAP_FD" _ || true; else sleep "$1"; fi
  [ -z "$E2E_STOP" ] || stop_now
}

# Time in microseconds since the epoch, from bash's own clock (no fork).
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
# deadline_after SECONDS (whole or with a fraction, e.g. 3 or 0.5): that moment in microseconds. No forks: these run
# in the loops around timed connects.
deadline_after() {
  local whole=${1%%.*} frac=000000
  [[ $1 == *.* ]] && frac=${1#*.}000000
  echo $(( $(now_us) + ${whole:-0} * 1000000 + 10#${frac:0:6} ))
}
# us_to_ms MICROSECONDS: as milliseconds with three decimals.
us_to_ms() { local v=$1 sign=''; (( v < 0 )) && { sign=-; v=$(( -v )); }; printf '%s%d.%03d\n' "$sign" $(( v / 1000 )) $(( v % 1000 )); }
now_before() { [ "$(now_us)" -lt "$1" ]; }
# elapsed_over T0_US MICROSECONDS: more than that much time has passed since T0_US (a now_us value). A predicate for
# wait_until, evaluated at every poll.
elapsed_over() { [ $(( $(now_us) - $1 )) -gt "$2" ]; }

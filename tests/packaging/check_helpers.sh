# shellcheck shell=bash
# Shared by the packaging checks (packaging_test.sh, release_checks.sh, hardening_test.sh): source it, never run it.
# Counts failures in $failures; `finish` reports them and sets the exit status.

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }
# expect_eq DESC EXPECTED ACTUAL
expect_eq() {
  if [ "$2" == "$3" ]; then
    pass "$1"
  else
    fail "$1"
    diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/      /' || true
  fi
}
# expect DESC COMMAND...: COMMAND succeeds.
expect() {
  local desc=$1; shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# parse_package_args USAGE ARGS...: sets deb and rpmfile from --deb FILE --rpm FILE; anything else prints
# "usage: USAGE" and exits 2. Whether each file is required is the caller's to check.
# shellcheck disable=SC2034  # deb and rpmfile are for the caller
parse_package_args() {
  local usage=$1; shift
  deb="" rpmfile=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --deb) deb=$2; shift 2 ;;
      --rpm) rpmfile=$2; shift 2 ;;
      *) echo "usage: $usage" >&2; exit 2 ;;
    esac
  done
}

# finish WHAT FAILED_WORDS PASSED_WORDS: "WHAT: N FAILED_WORDS" and exit 1 if anything failed, else
# "WHAT: PASSED_WORDS".
finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$1: $failures $2"
    exit 1
  fi
  echo "$1: $3"
}

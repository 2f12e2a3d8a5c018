#!/bin/sh
# ocserv-agent-auth.sh: for setups where ocserv runs its scripts through ocserv-fw (restrict-user-to-routes or
# restrict-user-to-ports), which runs the next script with /bin/sh and would choke on a binary. Set this file as
# connect-script / disconnect-script / host-update-script there. OCSERV_AGENT_AUTH_BIN overrides where the binary is.
exec "${OCSERV_AGENT_AUTH_BIN:-/usr/libexec/ocserv-agent/ocserv-agent-auth}" "$@"

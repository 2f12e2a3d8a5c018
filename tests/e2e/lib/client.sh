# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# client.sh: the openconnect side. A minimal vpnc-script, one connect attempt (bounded, classified as admitted /
# rejected / failed, timed), holding a tunnel up for traffic, and the timing loop. Sourced by e2e.sh.

E2E_CONNECT_LIMIT=${E2E_CONNECT_LIMIT:-20}   # seconds one connect attempt may take before it counts as failed
E2E_OC_SEQ=0

# client_write_vpnc_script: openconnect runs it (reason=pre-init|connect|disconnect...). On connect it notes the
# time first (the moment the tunnel is established, the end of a connect's wall time), then brings the tun up with
# its address and one route (the VPN pool), then writes the ready marker.
client_write_vpnc_script() {
  # bash for its clock ($EPOCHREALTIME): one exec fewer than sh + date on the timed path.
  cat >"$E2E_TMP/vpnc-script" <<'SH'
#!/bin/bash
case "$reason" in
  connect)
    echo "${EPOCHREALTIME/./}" >"$OA_E2E_MARK.t"
    ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1400}" &&
    ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV" &&
    ip route replace "$OA_E2E_ROUTE" dev "$TUNDEV" &&
    echo "$INTERNAL_IP4_ADDRESS" >"$OA_E2E_MARK"
    ;;
esac
exit 0
SH
  chmod 755 "$E2E_TMP/vpnc-script"
  printf '%s\n' "$E2E_USER_PASSWORD" >"$E2E_TMP/password"
}

# oc_start USER PORT POOL_OCTET: starts openconnect for USER against 10.99.0.1:PORT in the background and returns at
# once with a handle in OC_H (several attempts may be in flight). oc_wait OC_H finishes it.
declare -gA OC_T0 OC_PIDS OC_LOGS OC_MARKS
# With OC_COOKIE_FILE set, it logs in with that session cookie (--cookie-on-stdin) instead of USER's password: what
# a client does when it reconnects.
oc_start() {
  local user=$1 port=$2 octet=$3 h pid auth=(--passwd-on-stdin --user "$1") stdin=$E2E_TMP/password
  [ -z "${OC_COOKIE_FILE:-}" ] || { auth=(--cookie-on-stdin); stdin=$OC_COOKIE_FILE; }
  E2E_OC_SEQ=$((E2E_OC_SEQ + 1)); h=$E2E_OC_SEQ
  OC_MARKS[$h]=$E2E_TMP/oc-$h.up
  OC_LOGS[$h]=$E2E_TMP/oc-$h-$user.log
  OC_T0[$h]=$(now_us)
  PROC_STDIN=$stdin proc_start pid "${OC_LOGS[$h]}" \
    nsenter --net="/run/netns/$E2E_NS_CLI" env OA_E2E_MARK="${OC_MARKS[$h]}" OA_E2E_ROUTE="10.99.$octet.0/24" \
    timeout -s TERM "$E2E_CONNECT_LIMIT" \
    openconnect --non-inter "${auth[@]}" --servercert "$E2E_SERVER_PIN" --no-dtls \
      --script "$E2E_TMP/vpnc-script" --interface "oatun$h" "https://$E2E_SRV_IP:$port/"
  OC_PIDS[$h]=$pid
  OC_H=$h
}

# oc_wait HANDLE: waits (bounded) until that attempt's tunnel is up or openconnect has exited. Sets:
#   OC_RESULT  admitted | rejected (the server refused the cookie: the connect-script said no) | failed (anything else)
#   OC_MS      wall milliseconds from start to tunnel up (admitted) or to openconnect's exit
#   OC_PID     the PID (of `timeout` around openconnect) while admitted, else empty; OC_LOG its output;
#   OC_VPN_IP  the client's VPN address
oc_wait() {
  local h=$1 mark t0 t1 deadline rc
  mark=${OC_MARKS[$h]} t0=${OC_T0[$h]} OC_PID=${OC_PIDS[$h]} OC_LOG=${OC_LOGS[$h]}
  OC_RESULT=failed OC_MS=0 OC_VPN_IP=
  deadline=$(deadline_after $((E2E_CONNECT_LIMIT + 2)))
  while [ ! -s "$mark" ] && proc_alive "$OC_PID" && now_before "$deadline"; do nap 0.005; done
  if [ -s "$mark" ]; then
    OC_RESULT=admitted
    OC_VPN_IP=$(<"$mark")
    t1=$(<"$mark.t")
    OC_MS=$(us_to_ms $(( t1 - t0 )))
    return 0
  fi
  # openconnect's last words ("Cookie was rejected...") are its log's last write: its mtime is the moment of the
  # answer, independent of how soon this loop noticed the exit (several attempts may be waited for in turn).
  t1=$(stat -c %.6Y "$OC_LOG"); t1=${t1/./}
  OC_MS=$(us_to_ms $(( t1 - t0 )))
  if proc_alive "$OC_PID"; then
    proc_stop "$OC_PID" TERM 3
    log "openconnect ($OC_LOG) neither connected nor exited within ${E2E_CONNECT_LIMIT}s"
    OC_PID=
    return 0
  fi
  wait "$OC_PID"; rc=$?
  OC_PID=
  # openconnect exits 2 when the server refuses the cookie, which is what a non-zero connect-script causes.
  if [ "$rc" -eq 2 ] && grep -q 'Cookie was rejected' "$OC_LOG"; then OC_RESULT=rejected; fi
  return 0
}

# oc_up USER PORT POOL_OCTET: one attempt, waited for; an admitted session stays up until oc_down.
oc_up() { oc_start "$@"; oc_wait "$OC_H"; }

# oc_down: ends the session held by oc_up (SIGTERM: openconnect logs off, so ocserv runs the disconnect-script).
oc_down() {
  [ -n "${OC_PID:-}" ] || return 0
  proc_stop "$OC_PID" TERM 5
  OC_PID=
}

# oc_try USER PORT POOL_OCTET: one connect attempt, the session ended at once if admitted. Same variables as oc_up.
oc_try() { oc_up "$@"; oc_down; }

# server_vpn_ip POOL_OCTET: the server's own address on its tun for that pool (ocserv gives every tun the same local
# address), read from the server namespace while a session is up.
server_vpn_ip() {
  ip -n "$E2E_NS_SRV" -4 -o addr show 2>/dev/null |
    awk -v p="10.99.$1." '$4 ~ "^"p { print $4; exit }'
}

# oc_ping ADDRESS: three pings from the client namespace; succeeds if they all came back.
oc_ping() { in_cli ping -c 3 -i 0.2 -W 2 -q "$1" >/dev/null 2>&1; }

# oc_measure ROUNDS USER LABEL:PORT:OCTET...: ROUNDS rounds; each round makes one connect per target, in turn
# (interleaved, so that drift on a shared machine hits every target alike), the order reversed every other round
# (A B, B A, ...: neither target is always the one that runs right after a teardown). Writes
# $E2E_TMP/measure-LABEL.ms ("round milliseconds" lines) and summarises them (measure_summary). Fails if any connect
# was not admitted.
oc_measure() {
  local rounds=$1 user=$2; shift 2
  local target label port octet r i bad=0 labels=() order
  for target in "$@"; do labels+=("${target%%:*}"); : >"$E2E_TMP/measure-${target%%:*}.ms"; done
  for (( r=0; r<rounds; r++ )); do
    order=()
    if (( r % 2 == 0 )); then order=("$@"); else for (( i=$#; i>0; i-- )); do order+=("${!i}"); done; fi
    for target in "${order[@]}"; do
      IFS=: read -r label port octet <<<"$target"
      oc_try "$user" "$port" "$octet"
      if [ "$OC_RESULT" = admitted ]; then
        echo "$r $OC_MS" >>"$E2E_TMP/measure-$label.ms"
      else
        log "timing: connect $r to $label was $OC_RESULT (log $OC_LOG)"; bad=1
      fi
    done
  done
  measure_summary "connect wall time" "${labels[@]}"
  return $bad
}

# measure_summary WHAT LABEL...: from $E2E_TMP/measure-LABEL.ms, prints per label the count, p50, p90, min and max
# and sets MEASURE_P50_<LABEL>; with two labels also the median of the paired per-round differences (second - first),
# MEASURE_PAIRED_P50.
measure_summary() {
  local what=$1 label n p50 p90 min max; shift
  for label in "$@"; do
    read -r n p50 p90 min max < <(awk '{ print $2 }' "$E2E_TMP/measure-$label.ms" | sort -n | awk '
      { v[NR] = $1 }
      END { if (NR == 0) { print "0 0 0 0 0"; exit }
            p50 = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; p90 = v[int(NR * 0.9 + 0.999)]
            printf "%d %.3f %.3f %.3f %.3f\n", NR, p50, p90, v[1], v[NR] }')
    printf -v "MEASURE_P50_$label" '%s' "$p50"
    log "timing: $label: n=$n $what p50 ${p50} ms, p90 ${p90} ms, min ${min} ms, max ${max} ms"
  done
  MEASURE_PAIRED_P50=
  if [ $# -eq 2 ]; then
    read -r n MEASURE_PAIRED_P50 < <(awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { print $2 - a[$1] }' \
        "$E2E_TMP/measure-$1.ms" "$E2E_TMP/measure-$2.ms" | sort -n | awk '
      { v[NR] = $1 }
      END { if (NR == 0) { print "0 0"; exit }
            printf "%d %+.3f\n", NR, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    log "timing: median of $n paired per-round differences ($2 - $1): $MEASURE_PAIRED_P50 ms"
  fi
}

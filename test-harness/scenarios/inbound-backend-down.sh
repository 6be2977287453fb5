#!/bin/bash
# The backend MTA is down (nothing listens on the backend port):
#   - STARTTLS listener: the client's greeting is "421 4.3.0 ..." and the
#     connection is closed;
#   - implicit TLS listener: the TLS handshake completes, then "421 4.3.0"
#     arrives over TLS;
#   - mxgate logs close reason=backend-unreachable and keeps serving.
. "$(dirname "$0")/../lib.sh"
t_init inbound-backend-down
mx_have || t_done
if ! t_certs >"$T_WORK/certs.err" 2>&1; then
	not_ok "backend-down: test CA and certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

GW=127.0.0.1
DEAD=127.0.0.13
t_free_port DEADPORT
t_free_port SMTPS
t_free_port STLS

cat >"$(mx_conf down)" <<EOF
workers 1
log_level debug
listen_smtps $GW:$SMTPS
listen_starttls $GW:$STLS
backend $DEAD:$DEADPORT
backend_client_address proxy-v2
tls_certificate $T_MX1_CHAIN $T_MX1_KEY
tls_certificate $T_MX2_CHAIN $T_MX2_KEY
handshake_timeout 10
idle_timeout 60
connect_timeout 5
command_timeout 60
EOF
MLOG=$(mx_log down)
if mx_start down 2>"$T_WORK/mx-start.err"; then
	ok "mxgate[down] starts although its backend $DEAD:$DEADPORT is down"
else
	not_ok "mxgate[down] starts although its backend $DEAD:$DEADPORT is down" "$(cat "$T_WORK/mx-start.err")"
	t_done
fi

check_reason() { # NAME SRC
	local sid cl
	sid=$(mx_sid down "$2" 2)
	cl=$(mx_event down "${sid:-none}" close 10)
	if [ "$(kv "$cl" reason)" = backend-unreachable ]; then
		ok "$1: mxgate logged close reason=backend-unreachable"
	else
		not_ok "$1: mxgate logged close reason=backend-unreachable" "close: ${cl:-none}" \
		    "$(grep "^id=${sid:-none} " "$MLOG")"
	fi
}

# STARTTLS listener: plaintext 421 instead of the relayed greeting
for round in 1 2; do
	t_client_addr SRC
	name="backend down, starttls port (connection $round, from $SRC)"
	out=$(t_raw "$SRC" "$GW:$STLS" 15 reply drain:10)
	first=$(printf '%s\n' "$out" | sed -n 's/^S: //p' | head -n 1)
	case $first in
	"421 4.3.0 "* | "421 4.3.0") ok "$name: greeting is 421 4.3.0 ($first)" ;;
	*) not_ok "$name: greeting is 421 4.3.0" "$out" ;;
	esac
	if printf '%s\n' "$out" | grep -q '^EOF$'; then
		ok "$name: the gateway closes the connection"
	else
		not_ok "$name: the gateway closes the connection" "$out"
	fi
	check_reason "$name" "$SRC"
done

# implicit TLS listener: handshake, then 421 over TLS
t_client_addr SRC
name="backend down, smtps port (from $SRC)"
t_message 1024 down-smtps-$$
t_swaks smtps "$SRC" "$GW" "$SMTPS" "$T_WORK/msg/down-smtps-$$.wire" "$T_WORK/swaks-down.out"
if grep -q '^=== TLS started' "$T_WORK/swaks-down.out" &&
    grep -m1 -E '^<[*~]* +[0-9]{3}' "$T_WORK/swaks-down.out" | grep -q -E '^<[*~]* +421 4\.3\.0( |$)'; then
	ok "$name: TLS handshake, then greeting 421 4.3.0 over TLS"
else
	not_ok "$name: TLS handshake, then greeting 421 4.3.0 over TLS" "$(head -n 20 "$T_WORK/swaks-down.out")"
fi
if grep -q -E '^ ~> (EHLO|MAIL)' "$T_WORK/swaks-down.out" && grep -q -E '^<~  250 ' "$T_WORK/swaks-down.out"; then
	not_ok "$name: nothing is accepted" "$(head -n 20 "$T_WORK/swaks-down.out")"
else
	ok "$name: nothing is accepted"
fi
check_reason "$name" "$SRC"

# The same with openssl s_client, which shows the raw reply after the handshake.
out=$(timeout 30 openssl s_client -connect "$GW:$SMTPS" -servername mx1.test -CAfile "$T_CA" \
    -verify_hostname mx1.test -quiet </dev/null 2>&1)
if printf '%s\n' "$out" | grep -q -E '^421 4\.3\.0( |$)'; then
	ok "backend down, smtps port (openssl s_client): 421 4.3.0 after a verified handshake"
else
	not_ok "backend down, smtps port (openssl s_client): 421 4.3.0 after a verified handshake" "$out"
fi

if kill -0 "${T_PID[mxgate-down]}" 2>/dev/null; then
	ok "mxgate[down] still running after the refused sessions"
else
	not_ok "mxgate[down] still running after the refused sessions" "$(tail -n 10 "$MLOG")"
fi
mx_stop down
t_done

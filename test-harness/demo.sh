#!/bin/bash
# "make demo": the inbound gateway on loopback, with a real Exim behind it.
#   - a private CA, certificates mx1.test (ECDSA P-256) and mx2.test (RSA);
#   - Exim on 127.0.0.10 (hosts_proxy = 127.0.0.1), storing every message;
#   - mxgate on 127.0.0.1: implicit TLS and STARTTLS, PROXY v2 to Exim;
#   - swaks sends one message over implicit TLS and one over STARTTLS;
#   - a report from mxgate's and Exim's logs; everything stops at the end.
# Exits non-zero when a message was not delivered as expected.
. "$(dirname "$0")/lib.sh"
t_init demo

fail() {
	T_FAIL=$((T_FAIL + 1))
	echo "demo: $*" >&2
}

if [ ! -x "$MXGATE" ]; then
	fail "no mxgate binary at $MXGATE (run make first)"
	exit 1
fi
if ! t_certs >"$T_WORK/certs.err" 2>&1; then
	fail "cannot make the test certificates: $(cat "$T_WORK/certs.err")"
	exit 1
fi

BACKEND=127.0.0.10
GW=127.0.0.1
t_free_port BPORT
t_free_port SMTPS
t_free_port STLS

if ! exim_start demo "$BACKEND" "$BPORT" proxy=127.0.0.1 2>"$T_WORK/exim.err"; then
	fail "Exim did not start: $(cat "$T_WORK/exim.err")"
	exit 1
fi
cat >"$(mx_conf gw)" <<EOF
workers 1
log_level info
listen_smtps $GW:$SMTPS
listen_starttls $GW:$STLS
backend $BACKEND:$BPORT
backend_client_address proxy-v2
tls_certificate $T_MX1_CHAIN $T_MX1_KEY
tls_certificate $T_MX2_CHAIN $T_MX2_KEY
handshake_timeout 10
idle_timeout 60
connect_timeout 5
command_timeout 60
EOF
if ! mx_start gw 2>"$T_WORK/mx.err"; then
	fail "mxgate did not start: $(cat "$T_WORK/mx.err")"
	exit 1
fi
MLOG=$(mx_log gw)
ELOG=$(exim_log demo)

echo
echo "mxgate demo: inbound TLS gateway on loopback"
echo "  mxgate   implicit TLS on $GW:$SMTPS, STARTTLS on $GW:$STLS"
echo "           certificates mx1.test (ECDSA P-256, default) and mx2.test (RSA 2048), private test CA"
echo "  backend  Exim $(sed -n 's/.* exim \([0-9][^ ]*\) daemon started.*/\1/p' "$ELOG" | head -n 1) on $BACKEND:$BPORT, plaintext, real client address via PROXY v2"

delivered=0
# message N MODE PORT SRC SNI TITLE
message() {
	local n=$1 mode=$2 port=$3 src=$4 sni=$5 title=$6 tag sid tls acc id got stored rc verdict
	tag=demo-$n-$$
	t_message 4096 "$tag"
	t_swaks "$mode" "$src" "$GW" "$port" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$n.out" --tls-sni "$sni"
	rc=$?
	sid=$(mx_sid gw "$src" 3)
	acc=$(mx_event gw "${sid:-none}" accept 1)
	tls=$(mx_event gw "${sid:-none}" tls 3)
	id=
	if [ "$rc" = 0 ] && swaks_accepted "$T_WORK/swaks-$n.out"; then
		id=$(exim_wait_received demo "$tag" $((30 * T_SLOW)))
	fi
	echo
	echo "message $n: $title, to $GW:$port from $src"
	echo "  mxgate session  ${sid:-(not found in the log)}${acc:+, listener $(kv "$acc" listener)}"
	if [ -n "$tls" ]; then
		echo "  TLS             $(kv "$tls" version) $(kv "$tls" cipher)"
		echo "  certificate     $(kv "$tls" cert) (client asked for $(kv "$tls" sni))"
	else
		echo "  TLS             (no tls line in mxgate's log)"
	fi
	if [ -n "$id" ]; then
		got=$(exim_client demo "$id")
		echo "  Exim saw client $got$(exim_received_line demo "$id" | grep -q 'PRX=' && echo ' (through PROXY from 127.0.0.1)')"
		if exim_wait_completed demo "$id" 30 && stored=$(t_compare "$(exim_stored demo "$id")" "$T_WORK/msg/$tag.eml"); then
			verdict="yes: Exim message $id, ${stored%%,*}, byte-exact (sha256 compared)"
			if [ "$got" = "$src" ]; then
				delivered=$((delivered + 1))
			else
				verdict="$verdict, but Exim logged client $got instead of $src"
				fail "message $n: wrong client address"
			fi
		else
			verdict="no: Exim received $id but the stored copy differs or is missing"
			fail "message $n: not stored as sent"
		fi
	else
		verdict="no: $(grep -E '^<[*~-]* +[0-9]{3} ' "$T_WORK/swaks-$n.out" | tail -n 1 | sed 's/^<[*~-]* *//')"
		[ -n "$acc" ] || verdict="$verdict (mxgate logged no session)"
		fail "message $n: not delivered"
	fi
	echo "  delivered       $verdict"
}

t_client_addr SRC1
message 1 smtps "$SMTPS" "$SRC1" mx1.test "implicit TLS"
t_client_addr SRC2
message 2 starttls "$STLS" "$SRC2" mx2.test "STARTTLS"

echo
mx_stop gw >"$T_WORK/stop.out"
if grep -q '^not ok' "$T_WORK/stop.out"; then
	fail "mxgate did not stop cleanly: $(grep '^not ok' "$T_WORK/stop.out" | head -n 1)"
fi
exim_stop demo
if [ "$T_FAIL" -eq 0 ]; then
	echo "result: $delivered of 2 messages delivered over TLS with the real client address"
	exit 0
fi
echo "result: FAILED ($delivered of 2 delivered); logs kept in $T_WORK"
exit 1

#!/bin/bash
# "make demo", outbound half: mxgate as the smarthost of a mail server,
# enforcing what the MX names promise.
#   - dnsmasq serves a .test zone with prefixed MX names;
#   - real Exim MX hosts: starttls-mx1.good.test (STARTTLS, valid
#     certificate) and smtps-mx1.good.test (implicit TLS on the smtps port
#     too), and an on-path attacker that strips STARTTLS in front of
#     starttls-mx1.stripped.test;
#   - swaks, standing in for the MTA, hands mxgate one message for each;
#   - a report: what the MTA was told, and mxgate's delivery line.
# Exits non-zero unless the first two are delivered over verified TLS and
# the third is deferred with a 4.7.x reply.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/outbound.sh"
t_init demo-outbound

fail() {
	T_FAIL=$((T_FAIL + 1))
	echo "demo: $*" >&2
}

if [ ! -x "$MXGATE" ] || ! o_peer_have strip_proxy; then
	fail "mxgate or the test peers are not built (run make first)"
	exit 1
fi
if ! { t_certs && o_world_certs; } >"$T_WORK/certs.err" 2>&1; then
	fail "cannot make the test certificates: $(cat "$T_WORK/certs.err")"
	exit 1
fi
o_free_port DNSPORT
o_free_port SP
o_free_port SPS
o_free_port OPORT
if ! { o_dns_reset && o_world_zone && o_dns_start demo 127.0.0.1 "$DNSPORT"; } \
    2>"$T_WORK/dns.err"; then
	fail "dnsmasq did not start: $(cat "$T_WORK/dns.err")"
	exit 1
fi
if ! o_world_start "$SP" "$SPS" good smtps stripped 2>"$T_WORK/world.err"; then
	fail "the MX hosts did not start: $(cat "$T_WORK/world.err")"
	exit 1
fi
cat >"$(mx_conf out)" <<EOF2
workers 1
log_level info
listen_outbound 127.0.0.1:$OPORT
outbound_mode smarthost
dns_servers 127.0.0.1:$DNSPORT
ca_file $T_CA
remote_smtp_port $SP
remote_smtps_port $SPS
EOF2
if ! o_gate_start out 2>"$T_WORK/gw.err"; then
	fail "mxgate did not start: $(cat "$T_WORK/gw.err")"
	exit 1
fi

echo
echo "mxgate demo: outbound enforcement by MX name prefix"
echo "  mxgate   smarthost on 127.0.0.1:$OPORT, DNS from dnsmasq on 127.0.0.1:$DNSPORT,"
echo "           remote ports $SP (SMTP/STARTTLS) and $SPS (implicit TLS), private test CA"

# send N DOMAIN WHAT WANT: hand mxgate one message; WANT is sent|deferred.
send() {
	local n=$1 domain=$2 what=$3 want=$4 tag out reply line
	tag=demo-out-$n-$$
	out=$T_WORK/swaks-out-$n.out
	t_message 2048 "$tag" || { fail "message $n: not generated"; return; }
	o_gate_mark out
	t_swaks plain 127.0.0.1 127.0.0.1 "$OPORT" "$T_WORK/msg/$tag.wire" "$out" \
	    --to "rcpt@$domain"
	reply=$(grep -E '^<(\*\*|-) +[0-9]{3} ' "$out" | grep -v -E ' (220|221|250-|250 2\.1\.0|354) ' |
	    tail -n 1 | sed -E 's/^<(\*\*|-) +//')
	line=$(o_gate_since out | grep ' event=delivery ' | tail -n 1)
	echo
	echo "message $n: $what (rcpt@$domain)"
	echo "  the MTA was told  $reply"
	echo "  mxgate logged     ${line#id=* }"
	case $want in
	sent)
		if printf '%s\n' "$line" | grep -q ' result=sent' &&
		    printf '%s\n' "$line" | grep -q ' verify=ok'; then
			echo "  result            delivered over verified TLS (port $(kv "$line" port))"
		else
			fail "message $n: not delivered over verified TLS"
		fi ;;
	deferred)
		if printf '%s\n' "$reply" | grep -q -E '^4[0-9][0-9] 4\.7\.' &&
		    printf '%s\n' "$line" | grep -q ' result=deferred'; then
			echo "  result            refused to deliver without TLS; the MTA keeps it queued"
		else
			fail "message $n: the downgrade was not refused"
		fi ;;
	esac
}

send 1 smtps.test "smtps- MX: implicit TLS on the smtps port first" sent
send 2 good.test "starttls- MX: STARTTLS with a valid certificate" sent
send 3 stripped.test "starttls- MX behind an attacker who strips STARTTLS" deferred

echo
mx_stop out >"$T_WORK/stop.out"
grep -q '^not ok' "$T_WORK/stop.out" && fail "mxgate did not stop cleanly"
if [ "$T_FAIL" -eq 0 ]; then
	echo "result: 2 delivered over verified TLS, 1 downgrade attack refused"
	exit 0
fi
echo "result: FAILED; logs kept in $T_WORK"
exit 1

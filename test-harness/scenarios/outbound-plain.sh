#!/bin/bash
# Outbound plain-to-plain bodies.  An unprefixed MX without STARTTLS
# (policy may) gets the message in plaintext; with `splice yes` the body is
# looked at with MSG_PEEK for the end of data and moved by splice(2), with
# `splice no` it is copied through user space.  Each check runs on both:
#
#   20 MiB message                       stored byte-exact by the MX, 250;
#                                        delivery line relay=splice / copy
#   end of data, then MAIL RCPT DATA     both messages stored byte-exact,
#     in the same write (PIPELINING);    250 for each, 221 for QUIT
#     end of data and QUIT in one write
#   end of data split over three writes  stored byte-exact
#     ("." / "\r" / "\n")
#   the MTA hangs up in the middle of    mxgate closes the session at once
#     the body                           (client-closed, not a timeout); the
#                                        MX stores nothing
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../outbound.sh"
t_init outbound-plain
mx_have || t_done
t_write_raw_client

o_free_port DNSPORT
o_free_port SP
o_free_port SPS
if ! { o_dns_reset && o_world_zone && o_dns_start main 127.0.0.1 "$DNSPORT"; } 2>"$T_WORK/dns.err"; then
	not_ok "plain: dnsmasq serves the test zone" "$(cat "$T_WORK/dns.err")"
	t_done
fi
if ! o_world_start "$SP" "$SPS" smtpsnotls 2>"$T_WORK/world.err"; then
	not_ok "plain: the MX host without TLS starts" "$(cat "$T_WORK/world.err")"
	t_done
fi
SRV=${O_SRV[plain]}
MXA=${O_MXA[plain]}
RCPT=rcpt@${O_DOM[plain]}

# stored NAME TAG: the MX stored the message TAG byte-exact, received in
# plaintext from mxgate.
stored() {
	local name=$1 tag=$2 line
	o_expect_stored "$name" "$SRV" "$tag" "$T_WORK/msg/$tag.eml" "the MX" || return 1
	line=$(exim_received_line "$SRV" "$O_MXID")
	if printf '%s\n' "$line" | grep -q -F " I=[$MXA]:$SP " && ! printf '%s\n' "$line" | grep -q ' X='; then
		ok "$name: the MX received it in plaintext on $MXA:$SP"
	else
		not_ok "$name: the MX received it in plaintext on $MXA:$SP" "$line"
	fi
}

# delivered NAME TAG RELAY: mxgate's delivery line for message TAG (found by
# its size on the wire: dot-stuffed, with the final ".\r\n") says it was
# sent in plaintext, the body moved by RELAY.
delivered() {
	local name=$1 tag=$2 relay=$3 want dl i
	want=$(($(stat -c %s "$T_WORK/msg/$tag.wire") + 2))
	for ((i = 0; i < 100 * T_SLOW; i++)); do
		dl=$(o_gate_deliveries "$GW" "${O_DOM[plain]}" | grep -E " bytes=$want( |$)" | head -n 1)
		[ -n "$dl" ] && break
		sleep 0.1
	done
	o_expect_kv "$name: mxgate logs the delivery" "${dl:-no delivery line of $want bytes}" \
	    dir=out domain="${O_DOM[plain]}" mx="${O_MXN[plain]}" prefix=none policy=may port="$SP" \
	    tls=none verify=none result=sent rcpts=1 relay="$relay"
}

for mode in yes no; do
	GW=gw-$mode
	relay=$([ $mode = yes ] && echo splice || echo copy)
	o_free_port OPORT
	cat >"$(mx_conf "$GW")" <<-EOF
		workers 1
		log_level debug
		listen_outbound 127.0.0.1:$OPORT
		outbound_mode smarthost
		dns_servers 127.0.0.1:$DNSPORT
		default_policy may
		remote_smtp_port $SP
		remote_smtps_port $SPS
		splice $mode
		connect_timeout 5
		command_timeout 30
	EOF
	if o_gate_start "$GW" 2>"$T_WORK/$GW.err"; then
		ok "mxgate[$GW] starts (splice $mode)"
	else
		not_ok "mxgate[$GW] starts (splice $mode)" "$(cat "$T_WORK/$GW.err")"
		continue
	fi

	# ------------------------------------------------------------ 20 MiB
	o_gate_mark "$GW"
	tag=pl-big-$mode-$$
	t_message $((20 * 1024 * 1024)) "$tag"
	t_swaks plain 127.0.0.1 127.0.0.1 "$OPORT" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out" \
	    --to "$RCPT"
	if swaks_accepted "$T_WORK/swaks-$tag.out"; then
		ok "splice $mode, 20 MiB: 250 after the end of data"
	else
		not_ok "splice $mode, 20 MiB: 250 after the end of data" "$(grep -E '^<' "$T_WORK/swaks-$tag.out" | tail -n 3)"
	fi
	stored "splice $mode, 20 MiB" "$tag"
	delivered "splice $mode, 20 MiB" "$tag" "$relay"

	# ------------------------------------------------------------ pipelined
	o_gate_mark "$GW"
	t1=pl-p1-$mode-$$
	t2=pl-p2-$mode-$$
	t_message 6000 "$t1"
	t_message 9000 "$t2"
	{ cat "$T_WORK/msg/$t1.wire"; printf '\r\nMAIL FROM:<sender@client.test>\r\nRCPT TO:<%s>\r\nDATA\r\n' "$RCPT"; } \
	    >"$T_WORK/$t1.pipe"
	{ cat "$T_WORK/msg/$t2.wire"; printf '\r\nQUIT\r\n'; } >"$T_WORK/$t2.pipe"
	out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
	    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<$RCPT>\\r\\n" reply \
	    'send:DATA\r\n' reply "file:$T_WORK/$t1.pipe" reply reply reply reply \
	    "file:$T_WORK/$t2.pipe" reply reply)
	codes=$(printf '%s\n' "$out" | sed -n 's/^S: \([0-9][0-9][0-9]\) .*/\1/p' | tr '\n' ' ')
	if [ "$codes" = "220 250 250 250 354 250 250 250 354 250 221 " ]; then
		ok "splice $mode, pipelined after the end of data: 250 for each message, 221 for QUIT"
	else
		not_ok "splice $mode, pipelined after the end of data: 250 for each message, 221 for QUIT" \
		    "replies: $codes" "$(printf '%s\n' "$out" | tail -n 8)"
	fi
	stored "splice $mode, pipelined, first message" "$t1"
	stored "splice $mode, pipelined, second message" "$t2"
	delivered "splice $mode, pipelined, first message" "$t1" "$relay"
	delivered "splice $mode, pipelined, second message" "$t2" "$relay"

	# ------------------------------------------------------------ split end of data
	o_gate_mark "$GW"
	tag=pl-split-$mode-$$
	t_message 70000 "$tag"
	out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
	    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<$RCPT>\\r\\n" reply \
	    'send:DATA\r\n' reply "file:$T_WORK/msg/$tag.wire" sleep:0.3 'send:\r' sleep:0.3 \
	    'send:\nQUIT\r\n' reply reply)
	codes=$(printf '%s\n' "$out" | sed -n 's/^S: \([0-9][0-9][0-9]\) .*/\1/p' | tr '\n' ' ')
	if [ "$codes" = "220 250 250 250 354 250 221 " ]; then
		ok "splice $mode, end of data split over three writes: 250, then 221"
	else
		not_ok "splice $mode, end of data split over three writes: 250, then 221" \
		    "replies: $codes" "$(printf '%s\n' "$out" | tail -n 8)"
	fi
	stored "splice $mode, end of data split over three writes" "$tag"

	# ------------------------------------------------------------ hang-up mid-body
	o_gate_mark "$GW"
	tag=pl-cut-$mode-$$
	t_message 200000 "$tag"
	head -c 100000 "$T_WORK/msg/$tag.wire" >"$T_WORK/$tag.half"
	t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
	    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<$RCPT>\\r\\n" reply \
	    'send:DATA\r\n' reply "file:$T_WORK/$tag.half" sleep:0.5 >"$T_WORK/$tag.out"
	cl=$(o_gate_wait "$GW" ' event=close reason=[a-z-]+ ' 5)
	o_expect_kv "splice $mode, the MTA hangs up mid-body: mxgate closes the session at once" \
	    "${cl:-no close line within 5 s}" reason=client-closed
	if exim_wait_received "$SRV" "$tag" 3 >/dev/null; then
		not_ok "splice $mode, the MTA hangs up mid-body: the MX stores nothing" "$(exim_log "$SRV")"
	else
		ok "splice $mode, the MTA hangs up mid-body: the MX stores nothing"
	fi
	if o_gate_since "$GW" | grep -q ' event=delivery .*result=sent'; then
		not_ok "splice $mode, the MTA hangs up mid-body: no delivery is logged as sent" \
		    "$(o_gate_since "$GW" | grep ' event=delivery ')"
	else
		ok "splice $mode, the MTA hangs up mid-body: no delivery is logged as sent"
	fi
	mx_stop "$GW"
done
t_done

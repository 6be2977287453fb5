#!/bin/bash
# Outbound CHUNKING (RFC 3030).  mxgate offers CHUNKING to the MTA, and
# passes BDAT chunks on to an MX that offers it (by splice on plain legs:
# the length is given, so the octets are not looked at), or relays the
# transaction as DATA, dot-stuffed, to an MX that does not.
#
#   Exim MTA -> mxgate -> Exim MX         stored byte-exact; BDAT on both
#     with CHUNKING, plaintext            legs (Exim's K flag), body=bdat
#   the same, MX with STARTTLS            stored byte-exact over TLS 1.3
#   the same, MX without CHUNKING         stored byte-exact; the MX got
#                                         DATA (no K), body=bdat-as-data
#   three chunks in one write, split      250 per chunk, 221; stored
#     mid-line, between CR and LF, and    byte-exact, to either MX
#     before a line-initial dot
#   8 MiB in one chunk, then QUIT in the  250, 221; byte-exact; relay=splice
#     same write, splice yes / no         / relay=copy
#   BDAT before MAIL; with no recipient;  503 after the chunk; 554; 503;
#     DATA after BDAT; bad size           501 and the connection closed; the
#                                         session goes on where it can
#   bare LF, MX without CHUNKING          554 5.6.0, nothing stored, the MX
#                                         connection dropped; the next
#                                         transaction is delivered
#   MX refuses a chunk (message too big)  its 552 reaches the MTA after the
#                                         whole chunk; nothing stored
#   the MTA hangs up mid-chunk            closed at once (client-closed);
#                                         the MX stores nothing
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../outbound.sh"
t_init outbound-chunking
mx_have || t_done
t_write_raw_client
if ! { t_certs && o_world_certs; } >"$T_WORK/certs.err" 2>&1; then
	not_ok "chunking: certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

NC_DOM=nochunk.test
NC_MX=mx1.nochunk.test
NC_ADDR=127.0.0.55
BIG_DOM=small.test
BIG_MX=mx1.small.test
BIG_ADDR=127.0.0.56

o_free_port DNSPORT
o_free_port SP
o_free_port SPS
o_free_port SUB
if ! { o_dns_reset && o_world_zone && o_dns_mx "$NC_DOM" "$NC_MX" 10 && o_dns_a "$NC_MX" "$NC_ADDR" &&
    o_dns_mx "$BIG_DOM" "$BIG_MX" 10 && o_dns_a "$BIG_MX" "$BIG_ADDR" &&
    o_dns_start main 127.0.0.1 "$DNSPORT"; } 2>"$T_WORK/dns.err"; then
	not_ok "chunking: dnsmasq serves the test zone" "$(cat "$T_WORK/dns.err")"
	t_done
fi
if ! { o_world_start "$SP" "$SPS" smtpsnotls good &&
    o_mxhost_start nochunk "$NC_ADDR" smtp="$SP" tls=no hostname="$NC_MX" chunking=no &&
    o_mxhost_start small "$BIG_ADDR" smtp="$SP" tls=no hostname="$BIG_MX" size_limit=64K; } \
    2>"$T_WORK/world.err"; then
	not_ok "chunking: the MX hosts start" "$(cat "$T_WORK/world.err")"
	t_done
fi

for mode in yes no; do
	o_free_port "OPORT_$mode"
	port_var=OPORT_$mode
	cat >"$(mx_conf "gw-$mode")" <<-EOF
		workers 1
		log_level debug
		listen_outbound 127.0.0.1:${!port_var}
		outbound_mode smarthost
		dns_servers 127.0.0.1:$DNSPORT
		ca_file $T_CA
		default_policy may
		remote_smtp_port $SP
		remote_smtps_port $SPS
		splice $mode
		connect_timeout 5
		command_timeout 30
	EOF
	if o_gate_start "gw-$mode" 2>"$T_WORK/gw-$mode.err"; then
		ok "mxgate[gw-$mode] starts (splice $mode)"
	else
		not_ok "mxgate[gw-$mode] starts (splice $mode)" "$(cat "$T_WORK/gw-$mode.err")"
		t_done
	fi
done
GW=gw-yes
OPORT=$OPORT_yes
if ! o_mta_start sender 127.0.0.30 "$SUB" "route=* 127.0.0.1" port="$OPORT" interface=127.0.0.30 \
    2>"$T_WORK/mta.err"; then
	not_ok "chunking: the sending Exim starts" "$(cat "$T_WORK/mta.err")"
	t_done
fi

# mxgate offers CHUNKING, and not BINARYMIME (which it could not relay to
# an MX without CHUNKING).
out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((10 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
    'send:QUIT\r\n' reply)
if printf '%s\n' "$out" | grep -q '^S: 250-CHUNKING$' && ! printf '%s\n' "$out" | grep -q BINARYMIME; then
	ok "EHLO reply offers CHUNKING, not BINARYMIME"
else
	not_ok "EHLO reply offers CHUNKING, not BINARYMIME" "$out"
fi

# stored NAME SRV TAG [EML]: Exim SRV stored message TAG byte-exact (as
# EML, by default the message t_message made).  Sets MXID.
stored() {
	o_expect_stored "$1" "$2" "$3" "${4:-$T_WORK/msg/$3.eml}" "MX $2"
	local r=$?
	MXID=$O_MXID
	return $r
}

# chunked LINE: Exim's log line has the K flag: CHUNKING carried the message.
chunked() { printf '%s\n' "$1" | grep -q -E ' K( |$)'; }

# codes OUT: the codes of the complete replies in a t_raw transcript, and
# EOF when the server closed, on one line.
codes() {
	printf '%s\n' "$1" | sed -n -e 's/^S: \([0-9][0-9][0-9]\)\( .*\)\{0,1\}$/\1/p' -e 's/^EOF$/EOF/p' |
	    tr '\n' ' ' | sed 's/ $//'
}

# ---------------------------------------------------------------- Exim -> mxgate -> Exim

# exim_case NAME TAG DOMAIN SRV SIZE BODY TLS: one message from the sending
# Exim; BODY is how mxgate should have passed it on (bdat, bdat-as-data).
exim_case() {
	local name=$1 tag=$2 dom=$3 srv=$4 size=$5 body=$6 tls=$7 line dl
	o_gate_ensure "$GW" "$name" || t_done
	o_case sender "$GW" "$tag" "$size" "rcpt@$dom" || return
	stored "$name" "$srv" "$tag" || return
	line=$(exim_received_line "$srv" "$MXID")
	if [ "$body" = bdat ] && chunked "$line"; then
		ok "$name: the MX received it with BDAT (K)"
	elif [ "$body" != bdat ] && [ -n "$line" ] && ! chunked "$line"; then
		ok "$name: the MX received it with DATA (no K)"
	else
		not_ok "$name: the MX received it with $([ "$body" = bdat ] && echo BDAT || echo DATA)" "$line"
	fi
	dl=$(o_mta_deliveries sender "$O_ID")
	if chunked "$dl" && printf '%s\n' "$dl" | grep -q -F "id=$MXID"; then
		ok "$name: the sending Exim used BDAT and got the MX's own 250 (id=$MXID)"
	else
		not_ok "$name: the sending Exim used BDAT and got the MX's own 250" "$dl" \
		    "$(o_mta_log_since sender | tail -n 4)"
	fi
	dl=$(o_gate_delivery "$GW" "$dom" $((10 * T_SLOW)))
	o_expect_kv "$name: mxgate logs the delivery" "$dl" result=sent body="$body" tls="$tls" \
	    bytes="$size"
}

exim_case "Exim, MX with CHUNKING" ch-plain-$$ "${O_DOM[plain]}" smtpsnotls $((3 * 1024 * 1024 + 17)) bdat none
exim_case "Exim, MX with CHUNKING over STARTTLS" ch-tls-$$ "${O_DOM[good]}" good 70000 bdat TLSv1.3
exim_case "Exim, MX without CHUNKING" ch-conv-$$ "$NC_DOM" nochunk $((1024 * 1024 + 3)) bdat-as-data none

# ---------------------------------------------------------------- raw MTA: chunks

# Three chunks in one write, after MAIL and RCPT, then QUIT: the first
# boundary between a CR and its LF, the second just before a line-initial
# dot.
three_chunks() {
	local name=$1 dom=$2 srv=$3 body=$4 tag=$5 out c dl
	t_message 40000 "$tag"
	perl -e '
		my ($eml, $to, $out) = @ARGV;
		open(my $f, "<", $eml) or die; binmode $f; local $/; my $m = <$f>; close $f;
		my $p1 = index($m, "\r\n", 100) + 1;
		my $p2 = index($m, "\r\n.", $p1 + 10) + 2;
		die "no split points\n" if $p1 < 1 || $p2 < $p1 + 10;
		my @c = (substr($m, 0, $p1), substr($m, $p1, $p2 - $p1), substr($m, $p2));
		open(my $o, ">", $out) or die; binmode $o;
		print $o "MAIL FROM:<sender\@client.test>\r\nRCPT TO:<$to>\r\n";
		print $o "BDAT ", length($c[0]), "\r\n", $c[0];
		print $o "BDAT ", length($c[1]), "\r\n", $c[1];
		print $o "BDAT ", length($c[2]), " LAST\r\n", $c[2], "QUIT\r\n";
		close $o;
	' "$T_WORK/msg/$tag.eml" "rcpt@$dom" "$T_WORK/$tag.pipe"
	o_gate_mark "$GW"
	out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
	    "file:$T_WORK/$tag.pipe" reply reply reply reply reply reply)
	c=$(codes "$out")
	if [ "$c" = "220 250 250 250 250 250 250 221" ]; then
		ok "$name: MAIL, RCPT, three chunks and QUIT in one write: 250 each, 221"
	else
		not_ok "$name: MAIL, RCPT, three chunks and QUIT in one write: 250 each, 221" "got: $c" "$out"
	fi
	stored "$name" "$srv" "$tag"
	dl=$(o_gate_delivery "$GW" "$dom" $((10 * T_SLOW)))
	o_expect_kv "$name: mxgate logs the delivery" "$dl" result=sent body="$body" bytes=40000
}
three_chunks "three chunks, MX with CHUNKING" "${O_DOM[plain]}" smtpsnotls bdat ch-three-$$
three_chunks "three chunks, MX without CHUNKING" "$NC_DOM" nochunk bdat-as-data ch-threec-$$

# 8 MiB in one chunk: its octets arrive after the BDAT line has been taken,
# so with splice yes every one of them goes by splice.
for mode in yes no; do
	GW=gw-$mode
	port_var=OPORT_$mode
	tag=ch-big-$mode-$$
	t_message $((8 * 1024 * 1024)) "$tag"
	{ cat "$T_WORK/msg/$tag.eml"; printf 'QUIT\r\n'; } >"$T_WORK/$tag.chunk"
	o_gate_mark "$GW"
	out=$(t_raw 127.0.0.1 "127.0.0.1:${!port_var}" $((30 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
	    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@${O_DOM[plain]}>\r\n" reply \
	    "send:BDAT $((8 * 1024 * 1024)) LAST\r\n" sleep:0.5 "file:$T_WORK/$tag.chunk" reply reply)
	c=$(codes "$out")
	if [ "$c" = "220 250 250 250 250 221" ]; then
		ok "splice $mode, 8 MiB in one chunk, QUIT in the same write: 250, 221"
	else
		not_ok "splice $mode, 8 MiB in one chunk, QUIT in the same write: 250, 221" "got: $c" "$out"
	fi
	stored "splice $mode, 8 MiB in one chunk" smtpsnotls "$tag"
	dl=$(o_gate_delivery "$GW" "${O_DOM[plain]}" $((10 * T_SLOW)))
	o_expect_kv "splice $mode, 8 MiB in one chunk: mxgate logs the delivery" "$dl" result=sent body=bdat \
	    bytes=$((8 * 1024 * 1024)) relay="$([ $mode = yes ] && echo splice || echo copy)"
done
GW=gw-yes

# ---------------------------------------------------------------- raw MTA: errors

o_gate_mark "$GW"
out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
    'send:BDAT 5\r\nhelloNOOP\r\n' reply reply \
    'send:MAIL FROM:<sender@client.test>\r\n' reply 'send:RCPT TO:<x@nxdomain.test>\r\n' reply \
    'send:BDAT 3 LAST\r\nabc' reply 'send:RSET\r\n' reply \
    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@${O_DOM[plain]}>\r\n" reply \
    'send:BDAT 4\r\nabcd' reply 'send:DATA\r\n' reply 'send:RSET\r\n' reply \
    'send:BDAT 12x\r\n' reply reply)
c=$(codes "$out")
want="220 250 503 250 250 550 554 250 250 250 250 503 250 501 EOF"
if [ "$c" = "$want" ]; then
	ok "BDAT before MAIL 503 (after its 5 octets, then NOOP 250); with no recipient 554; DATA after BDAT 503; bad size 501 and closed"
else
	not_ok "BDAT errors: $want" "got: $c" "$out"
fi
if printf '%s\n' "$out" | grep -q '^S: 503 5\.5\.1 DATA after BDAT'; then
	ok "DATA after BDAT: the 503 says why"
else
	not_ok "DATA after BDAT: the 503 says why" "$out"
fi
o_gate_ensure "$GW" "BDAT errors"

# A bare LF cannot be relayed as DATA: refused, the MX's DATA abandoned
# (nothing stored), and the next transaction on the same connection goes.
tag=ch-bare-$$
tag2=ch-after-$$
printf 'Subject: bare LF\r\nMessage-ID: <%s@mxgate.test>\r\n\r\nline one\nline two\r\n' "$tag" >"$T_WORK/$tag.eml"
t_message 3000 "$tag2"
o_gate_mark "$GW"
out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@$NC_DOM>\r\n" reply \
    "send:BDAT $(stat -c %s "$T_WORK/$tag.eml") LAST\r\n" "file:$T_WORK/$tag.eml" reply \
    'send:RSET\r\n' reply 'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@$NC_DOM>\r\n" reply \
    "send:BDAT 3000 LAST\r\n" "file:$T_WORK/msg/$tag2.eml" reply 'send:QUIT\r\n' reply)
c=$(codes "$out")
if [ "$c" = "220 250 250 250 554 250 250 250 250 221" ] && printf '%s\n' "$out" | grep -q '^S: 554 5\.6\.0 '; then
	ok "bare LF, MX without CHUNKING: 554 5.6.0; RSET, and the next message 250"
else
	not_ok "bare LF, MX without CHUNKING: 554 5.6.0; RSET, and the next message 250" "got: $c" "$out"
fi
stored "after a bare-LF refusal" nochunk "$tag2"
if [ "$(o_mxhost_count nochunk "$tag")" = 0 ]; then
	ok "bare LF: the MX stored nothing of that message"
else
	not_ok "bare LF: the MX stored nothing of that message" "$(o_mxhost_line nochunk "$tag")"
fi
dl=$(o_gate_deliveries "$GW" "$NC_DOM" | head -n 1)
o_expect_kv "bare LF: mxgate logs the refusal" "$dl" result=rejected body=bdat-as-data \
    reason='bare CR or LF in the message'

# The MX refuses the chunk (over its size limit): its 5xx reaches the MTA,
# nothing is stored, and the connection goes on.
tag=ch-toobig-$$
t_message 100000 "$tag"
o_gate_mark "$GW"
out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@$BIG_DOM>\r\n" reply \
    'send:BDAT 100000 LAST\r\n' "file:$T_WORK/msg/$tag.eml" reply 'send:RSET\r\n' reply 'send:QUIT\r\n' reply)
c=$(codes "$out")
if [[ $c =~ ^220\ 250\ 250\ 250\ 5[0-9][0-9]\ 250\ 221$ ]]; then
	ok "MX over its size limit: its 5xx for the chunk, then RSET 250 and QUIT 221 ($c)"
else
	not_ok "MX over its size limit: its 5xx for the chunk, then RSET 250 and QUIT 221" "got: $c" "$out" \
	    "$(o_gate_since "$GW" | tail -n 8)"
fi
if [ "$(o_mxhost_count small "$tag")" = 0 ]; then
	ok "MX over its size limit: nothing stored"
else
	not_ok "MX over its size limit: nothing stored" "$(o_mxhost_line small "$tag")"
fi
dl=$(o_gate_delivery "$GW" "$BIG_DOM" $((5 * T_SLOW)))
o_expect_kv "MX over its size limit: mxgate logs the refusal" "$dl" result=rejected body=bdat

# The same with RSET and QUIT pipelined after the chunk: mxgate reads RSET
# at once after the refusal, often as the MX's reset arrives, so the
# upstream session may die while RSET is being sent to it. RSET is still
# answered, once.
tag=ch-toobig2-$$
t_message 100000 "$tag"
o_gate_mark "$GW"
out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@$BIG_DOM>\r\n" reply \
    'send:BDAT 100000 LAST\r\n' "file:$T_WORK/msg/$tag.eml" 'send:RSET\r\nQUIT\r\n' reply reply reply)
c=$(codes "$out")
if [[ $c =~ ^220\ 250\ 250\ 250\ 5[0-9][0-9]\ 250\ 221$ ]]; then
	ok "MX over its size limit, RSET and QUIT pipelined after the chunk: 5xx, 250, 221 ($c)"
else
	not_ok "MX over its size limit, RSET and QUIT pipelined after the chunk: 5xx, 250, 221" "got: $c" \
	    "$out" "$(o_gate_since "$GW" | tail -n 8)"
fi

# The MTA hangs up in the middle of a chunk on the splice path.
tag=ch-hangup-$$
t_message 300000 "$tag"
o_gate_mark "$GW"
out=$(t_raw 127.0.0.1 "127.0.0.1:$OPORT" $((20 * T_SLOW)) reply 'send:EHLO client.test\r\n' reply \
    'send:MAIL FROM:<sender@client.test>\r\n' reply "send:RCPT TO:<rcpt@${O_DOM[plain]}>\r\n" reply \
    'send:BDAT 1000000 LAST\r\n' sleep:0.3 "file:$T_WORK/msg/$tag.eml" sleep:0.3)
if line=$(o_gate_wait "$GW" 'event=close reason=client-closed' $((3 * T_SLOW))); then
	ok "the MTA hangs up mid-chunk: mxgate closes the session at once (client-closed)"
else
	not_ok "the MTA hangs up mid-chunk: mxgate closes the session at once" "$(o_gate_since "$GW" | tail -n 6)"
fi
sleep 1
if [ "$(o_mxhost_count smtpsnotls "$tag")" = 0 ]; then
	ok "the MTA hangs up mid-chunk: the MX stored nothing"
else
	not_ok "the MTA hangs up mid-chunk: the MX stored nothing" "$(o_mxhost_line smtpsnotls "$tag")"
fi

for mode in yes no; do
	o_gate_ensure "gw-$mode" "the chunking checks"
	mx_stop "gw-$mode"
done
t_done

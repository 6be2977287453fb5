#!/bin/bash
# The backend MTA on its own, without mxgate: proves that what the inbound
# scenarios rely on holds before they rely on it.
#   - Exim stores what swaks sends byte-exact (1 KiB, 1 MiB, 20 MiB, lines
#     starting with "." included), and logs the client address;
#   - with hosts_proxy, Exim takes the client address from a PROXY v1 or v2
#     header sent by hand from 127.0.0.1, and logs it;
#   - with hosts_proxy, a connection from 127.0.0.1 without a PROXY header
#     gets 503 for every command (so a missing header cannot go unnoticed).
. "$(dirname "$0")/../lib.sh"
t_init exim-backend

BACKEND=127.0.0.10
t_free_port BPORT

if exim_start b "$BACKEND" "$BPORT" proxy=127.0.0.1 2>"$T_WORK/exim-start.err"; then
	ok "exim: starts in the foreground on $BACKEND:$BPORT"
else
	not_ok "exim: starts in the foreground on $BACKEND:$BPORT" "$(cat "$T_WORK/exim-start.err")"
	t_done
fi
LOG=$(exim_log b)

# plain SMTP, byte-exact storage
for spec in 1k:1024 1m:1048576 20m:20971520; do
	label=${spec%%:*}
	size=${spec#*:}
	tag=exim-plain-$label-$$
	t_client_addr SRC
	name="exim: plain SMTP $label message from $SRC"
	if ! t_message "$size" "$tag"; then
		not_ok "$name: message generated"
		continue
	fi
	t_swaks plain "$SRC" "$BACKEND" "$BPORT" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out"
	rc=$?
	if [ "$rc" = 0 ] && swaks_accepted "$T_WORK/swaks-$tag.out"; then
		ok "$name: accepted (250)"
	else
		not_ok "$name: accepted (250)" "swaks exit $rc" "$(tail -n 8 "$T_WORK/swaks-$tag.out")"
		continue
	fi
	if ! id=$(exim_wait_received b "$tag" $((20 * T_SLOW))) || [ -z "$id" ]; then
		not_ok "$name: received by Exim" "$(tail -n 5 "$LOG")"
		continue
	fi
	if ! exim_wait_completed b "$id" 60; then
		not_ok "$name: delivered by Exim" "$(grep -F "$id" "$LOG" | tail -n 5)"
		continue
	fi
	if detail=$(t_compare "$(exim_stored b "$id")" "$T_WORK/msg/$tag.eml"); then
		ok "$name: stored byte-exact ($detail)"
	else
		not_ok "$name: stored byte-exact" "$detail"
	fi
	got=$(exim_client b "$id")
	if [ "$got" = "$SRC" ]; then
		ok "$name: Exim logged client $SRC"
	else
		not_ok "$name: Exim logged client $SRC" "logged: '$got'" "$(exim_received_line b "$id")"
	fi
done

# PROXY protocol by hand
hex4() { # a.b.c.d -> \xAA\xBB\xCC\xDD
	local IFS=. o out=
	for o in $1; do out+=$(printf '\\x%02x' "$o"); done
	printf '%s' "$out"
}
hex2() { printf '\\x%02x\\x%02x' $(($1 >> 8)) $(($1 & 255)); }

proxy_session() { # NAME HEADER CLIENT
	local name=$1 header=$2 client=$3 tag=$4 out id got line
	out=$(t_raw - "$BACKEND:$BPORT" 10 "send:$header" reply \
	    "send:EHLO proxy.client.test\r\n" reply \
	    "send:MAIL FROM:<sender@client.test>\r\n" reply \
	    "send:RCPT TO:<rcpt@backend.test>\r\n" reply \
	    "send:DATA\r\n" reply \
	    "send:Subject: $tag\r\nMessage-ID: <$tag@mxgate.test>\r\n\r\n..dot\r\n.\r\n" reply \
	    "send:QUIT\r\n" reply)
	if ! printf '%s\n' "$out" | grep -q '^S: 250 OK id='; then
		not_ok "$name: message accepted" "$out"
		return
	fi
	ok "$name: message accepted"
	if ! id=$(exim_wait_received b "$tag" 10) || [ -z "$id" ]; then
		not_ok "$name: Exim logs client $client" "$(tail -n 5 "$LOG")"
		return
	fi
	line=$(exim_received_line b "$id")
	got=$(exim_client b "$id")
	if [ "$got" = "$client" ] && printf '%s\n' "$line" | grep -q 'PRX=\[\?127\.0\.0\.1'; then
		ok "$name: Exim logs client $client and PRX=127.0.0.1"
	else
		not_ok "$name: Exim logs client $client and PRX=127.0.0.1" "$line"
	fi
}

t_client_addr C1
proxy_session "exim: PROXY v1 header by hand" \
    "PROXY TCP4 $C1 $BACKEND 51234 $BPORT\r\n" "$C1" "exim-proxy1-$$"

t_client_addr C2
V2="\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c$(hex4 "$C2")$(hex4 "$BACKEND")$(hex2 51235)$(hex2 "$BPORT")"
proxy_session "exim: PROXY v2 header by hand" "$V2" "$C2" "exim-proxy2-$$"

# hosts_proxy is enforced: without a header, Exim greets only once data
# arrives and then refuses every command with 503.
out=$(t_raw - "$BACKEND:$BPORT" 15 "send:EHLO noproxy.test\r\n" reply "send:EHLO noproxy.test\r\n" reply)
if printf '%s\n' "$out" | grep -q -E '^S: 250' || ! printf '%s\n' "$out" | grep -q -E '^S: 503 '; then
	not_ok "exim: without a PROXY header from 127.0.0.1 every command is refused (503)" "$out"
else
	ok "exim: without a PROXY header from 127.0.0.1 every command is refused (503)"
fi

if exim_stop b; then
	ok "exim: stops on SIGTERM"
else
	not_ok "exim: stops on SIGTERM" "status ${T_STATUS[exim-b]}"
fi
t_done

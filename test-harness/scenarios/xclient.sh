#!/bin/bash
# mxgate inbound with "backend_client_address xclient" in front of a real
# Postfix (Debian's package, a private instance on loopback):
#   - mail sent by swaks over implicit TLS (listen_smtps) and over STARTTLS
#     (listen_starttls), each from its own source address, is delivered by
#     Postfix byte-exact;
#   - Postfix logs the real client (address and port, as mxgate accepted
#     it) and names it in its Received header, not mxgate's 127.0.0.1, and
#     judges it by that address (no relaying for it, although 127.0.0.1 is
#     in mynetworks);
#   - mxgate logs client_address=xclient and reason=done;
#   - where smtpd_authorized_xclient_hosts does not include mxgate, Postfix
#     does not offer XCLIENT: the client gets 421 4.3.0, mxgate logs
#     reason=backend-error, and Postfix receives nothing.
#
# What "byte-exact" compares: the file virtual(8) wrote, minus the header
# fields Postfix adds on top (Return-Path, X-Original-To, Delivered-To and
# its Received field), against the message swaks sent (before dot
# stuffing) with each CRLF turned into LF, since Postfix stores lines with
# LF ends.  Length and sha256 of both are compared.
#
# Run from the repository root: test-harness/scenarios/xclient.sh
# MXGATE names the binary (default: mxgate at the repository root).
# shellcheck source=test-harness/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=test-harness/postfix.sh
. "$(dirname "$0")/../postfix.sh"

if ! pf_have; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "ok - xclient: SKIP postfix not installed"
		exit 0
	fi
	# As root Postfix is installed (no daemon starts: the instance below
	# is the only one that runs), as scripts/install-deps.sh does.
	DEBIAN_FRONTEND=noninteractive timeout 600 \
	    apt-get install -y --no-install-recommends postfix >/dev/null 2>&1 ||
	    { apt-get update >/dev/null 2>&1 &&
	      DEBIAN_FRONTEND=noninteractive timeout 600 \
	      apt-get install -y --no-install-recommends postfix >/dev/null 2>&1; }
	if ! pf_have; then
		echo "not ok - xclient: postfix installed"
		echo "#   apt-get install postfix failed"
		exit 1
	fi
fi

t_init xclient
# shellcheck disable=SC2317  # run by the EXIT trap
xc_exit() {
	local rc=$?
	pf_stop_all >/dev/null 2>&1
	(exit "$rc")
	t_cleanup
}
trap xc_exit EXIT

mx_have || t_done
if ! t_certs; then
	not_ok "xclient: test certificates generated"
	t_done
fi

BACKEND=127.0.0.20
t_free_port PF_OK    # XCLIENT offered to 127.0.0.1
t_free_port PF_NO    # XCLIENT offered to 127.0.0.2 only
t_free_port A_SMTPS
t_free_port A_STARTTLS
t_free_port N_SMTPS
t_free_port N_STARTTLS

name="xclient: postfix starts on $BACKEND:$PF_OK and $BACKEND:$PF_NO"
if pf_start b "$BACKEND" "$PF_OK=127.0.0.1" "$PF_NO=127.0.0.2" 2>"$T_WORK/postfix-start.err"; then
	ok "$name"
else
	not_ok "$name" "$(cat "$T_WORK/postfix-start.err")"
	t_done
fi
PFLOG=$(pf_log b)

# mx_write_conf NAME SMTPS_PORT STARTTLS_PORT BACKEND_PORT
mx_write_conf() {
	cat >"$(mx_conf "$1")" <<-EOF
		workers 1
		log_level info
		listen_smtps 127.0.0.1:$2
		listen_starttls 127.0.0.1:$3
		backend $BACKEND:$4
		backend_client_address xclient
		tls_certificate $T_MX1_CHAIN $T_MX1_KEY
	EOF
}

mx_write_conf a "$A_SMTPS" "$A_STARTTLS" "$PF_OK"
mx_write_conf n "$N_SMTPS" "$N_STARTTLS" "$PF_NO"
for m in a n; do
	if mx_start "$m" 2>"$T_WORK/mx-$m-start.err"; then
		ok "xclient: mxgate[$m] starts"
	else
		not_ok "xclient: mxgate[$m] starts" "$(cat "$T_WORK/mx-$m-start.err")"
		t_done
	fi
done
MXLOG=$(mx_log a)

# ---------------------------------------------------------------- delivery

# deliver MODE SRC PORT SIZE
deliver() {
	local mode=$1 src=$2 port=$3 size=$4 tag name out rc qid f sid acc cport \
	    got detail rcvd be cl
	tag=xclient-$mode-$$
	name="xclient: $mode from $src"
	out=$T_WORK/swaks-$tag.out
	if ! t_message "$size" "$tag"; then
		not_ok "$name: message generated"
		return
	fi
	t_swaks "$mode" "$src" 127.0.0.1 "$port" "$T_WORK/msg/$tag.wire" "$out"
	rc=$?
	if [ "$rc" = 0 ] && swaks_accepted "$out"; then
		ok "$name: accepted (250, $(swaks_tls_version "$out"))"
	else
		not_ok "$name: accepted (250)" "swaks exit $rc" "$(tail -n 12 "$out")"
		return
	fi

	# (1) delivered byte-exact
	if ! qid=$(pf_queue_id b "$tag" $((20 * T_SLOW))) || [ -z "$qid" ]; then
		not_ok "$name: received by Postfix" "$(tail -n 10 "$PFLOG")"
		return
	fi
	if ! pf_wait_delivered b "$qid" $((30 * T_SLOW)) >/dev/null; then
		not_ok "$name: delivered by Postfix" "$(grep -F "$qid" "$PFLOG" | tail -n 5)"
		return
	fi
	if ! f=$(pf_stored b "$tag"); then
		not_ok "$name: stored by Postfix" "$(pf_delivery_line b "$qid")" \
		    "$(ls -l "$(pf_maildir b)/new" 2>&1)"
		return
	fi
	pf_lf "$T_WORK/msg/$tag.eml" "$T_WORK/$tag.sent-lf"
	if ! detail=$(pf_split_stored "$f" "$T_WORK/$tag.added" "$T_WORK/$tag.rest" 2>&1); then
		not_ok "$name: delivered byte-exact" "$detail" "$(head -n 8 "$f")"
	elif detail=$(t_compare "$T_WORK/$tag.rest" "$T_WORK/$tag.sent-lf"); then
		ok "$name: delivered byte-exact after Postfix's added fields ($detail)"
	else
		not_ok "$name: delivered byte-exact after Postfix's added fields" "$detail"
	fi

	# (2) Postfix knows the real client: address and port as mxgate
	# accepted it, in the log and in its Received header.
	sid=$(mx_sid a "$src" 10)
	acc=$(grep -E -m1 "^id=$sid .*event=accept " "$MXLOG")
	cport=$(kv "$acc" client)
	cport=${cport##*:}
	got=$(pf_client b "$qid")
	rcvd=$(sed -n '/^Received:/,$p' "$T_WORK/$tag.added" 2>/dev/null)
	if [ -n "$sid" ] && [ "$got" = "unknown[$src]:$cport" ] &&
	    printf '%s\n' "$rcvd" | grep -q -F "(unknown [$src])" &&
	    ! printf '%s\n' "$rcvd" | grep -q -F '127.0.0.1' &&
	    grep -q -E "/smtpd\[[0-9]+\]: disconnect from unknown\[$(t_re "$src")\]:$cport " "$PFLOG"; then
		ok "$name: Postfix logs client unknown[$src]:$cport, not 127.0.0.1, and names it in Received"
	else
		not_ok "$name: Postfix logs client unknown[$src]:$cport, not 127.0.0.1, and names it in Received" \
		    "mxgate accept: $acc" "Postfix client=$got" "$rcvd" \
		    "$(grep -E "/smtpd\[[0-9]+\]: (connect|disconnect) from" "$PFLOG" | tail -n 6)"
	fi

	# (3) mxgate's own account of the session
	be=$(mx_event a "$sid" backend 10)
	cl=$(mx_event a "$sid" close 10)
	if [ -n "$sid" ] && [ "$(kv "$be" client_address)" = xclient ] &&
	    [ "$(kv "$be" backend)" = "$BACKEND:$PF_OK" ] && [ "$(kv "$cl" reason)" = "done" ]; then
		ok "$name: mxgate logs client_address=xclient and reason=done"
	else
		not_ok "$name: mxgate logs client_address=xclient and reason=done" \
		    "session id: '$sid'" "$be" "$cl"
	fi
}

deliver smtps 127.0.0.66 "$A_SMTPS" 204800
deliver starttls 127.0.0.67 "$A_STARTTLS" 1048576

# Postfix judges the client by its real address: 127.0.0.1 (mxgate) is in
# mynetworks and may relay, 127.0.0.68 may not.
name="xclient: smtps from 127.0.0.68: Postfix refuses relaying for the real client"
out=$T_WORK/swaks-relay.out
timeout --kill-after=5 $((60 * T_SLOW)) \
    swaks --server 127.0.0.1 --port "$A_SMTPS" --local-interface 127.0.0.68 --tlsc \
    --helo client.test --from sender@client.test --to someone@elsewhere.example \
    --timeout $((30 * T_SLOW)) >"$out" 2>&1 </dev/null
if grep -q -E '^<(\*\*|~\*) +454 4\.7\.1 <someone@elsewhere\.example>: Relay access denied' "$out" &&
    grep -q -E "/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.68\]:[0-9]+: 454 4\.7\.1 " "$PFLOG"; then
	ok "$name"
else
	not_ok "$name" "$(grep -E '^(<\*\*|<~\*|<-|<~) ' "$out" | tail -n 4)" \
	    "$(grep -F 'NOQUEUE' "$PFLOG" | tail -n 2)"
fi

# ---------------------------------------------------------------- no XCLIENT

# refused MODE SRC PORT: the backend listener does not offer XCLIENT to
# mxgate, so mxgate must not open the session at all.
refused() {
	local mode=$1 src=$2 port=$3 name out sid cl tls=()
	name="xclient: $mode from $src, XCLIENT not offered"
	out=$T_WORK/swaks-refused-$mode.out
	case $mode in
	smtps) tls=(--tlsc) ;;
	starttls) tls=(--tls) ;;
	esac
	timeout --kill-after=5 $((60 * T_SLOW)) \
	    swaks --server 127.0.0.1 --port "$port" --local-interface "$src" "${tls[@]}" \
	    --helo client.test --from sender@client.test --to rcpt@backend.test \
	    --timeout $((30 * T_SLOW)) >"$out" 2>&1 </dev/null
	if grep -q -E '^<(\*\*|~\*) +421 4\.3\.0' "$out" &&
	    ! grep -q -E '^ *(->|~>) MAIL FROM' "$out"; then
		ok "$name: client gets 421 4.3.0"
	else
		not_ok "$name: client gets 421 4.3.0" "$(tail -n 8 "$out")"
	fi
	sid=$(mx_sid n "$src" 10)
	cl=$(mx_event n "$sid" close 10)
	if [ -n "$sid" ] && [ "$(kv "$cl" reason)" = backend-error ] &&
	    printf '%s\n' "$cl" | grep -q -F 'backend does not offer XCLIENT'; then
		ok "$name: mxgate logs reason=backend-error"
	else
		not_ok "$name: mxgate logs reason=backend-error" "session id: '$sid'" \
		    "$(grep -E "^id=$sid " "$(mx_log n)" | tail -n 6)"
	fi
}

refused smtps 127.0.0.69 "$N_SMTPS"
refused starttls 127.0.0.70 "$N_STARTTLS"

# Postfix saw only mxgate (127.0.0.1) on that listener and took no mail.
sleep 0.5
if ! grep -q -E '127\.0\.0\.(69|70)\]' "$PFLOG" &&
    [ "$(grep -c -E '/cleanup\[[0-9]+\]: [0-9A-Za-z]+: message-id=' "$PFLOG")" = 2 ]; then
	ok "xclient: without XCLIENT Postfix received nothing and never saw the clients"
else
	not_ok "xclient: without XCLIENT Postfix received nothing and never saw the clients" \
	    "$(grep -E '127\.0\.0\.(69|70)\]|message-id=' "$PFLOG" | tail -n 6)"
fi

# ---------------------------------------------------------------- stop

mx_stop a
mx_stop n
if pf_stop b; then
	ok "xclient: postfix stops"
else
	not_ok "xclient: postfix stops" "$(tail -n 5 "$(pf_dir b)/stop.out" 2>/dev/null)"
fi
t_done

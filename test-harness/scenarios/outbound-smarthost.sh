#!/bin/bash
# Outbound enforcement, smarthost mode: a real Exim (queue) sends every
# message to mxgate's listen_outbound; mxgate resolves the recipient
# domain's MX set through dnsmasq and delivers as the MX prefix demands
# to real Exim MX hosts and fake peers (the world of outbound.sh), each on
# its own 127.0.0.x address with the smtp and smtps test ports.
#
#   starttls- MX, valid certificate      delivered over STARTTLS, TLS 1.3,
#                                        verify=ok, byte-exact
#   starttls- MX without STARTTLS        451 4.7.x, queued, MAIL never sent
#   smtps- MX, implicit TLS on smtps     delivered on the smtps port
#   smtps- MX, smtps port closed         delivered over STARTTLS (smtp port)
#   smtps- MX, plaintext greeting on     delivered over STARTTLS; nothing sent
#     the smtps port                     in plaintext on the smtps port
#   smtps- MX, no TLS anywhere           451 4.7.x, queued
#   starttls- MX, wrong-name / expired / 451 4.7.x each, queued
#     self-signed / untrusted-CA cert
#   the same certs, unprefixed MX        delivered (policy may, verify=fail)
#   STARTTLS stripped on path            451 4.7.x, MAIL never forwarded
#   response injected after 220          connection dropped, nothing sent
#   MX 10 fails its policy, MX 20 good   delivered to MX 20
#   *.wild.test certificate              delivered, verify=ok
#   SERVFAIL / DNS server down           451 4.4.3, nothing sent; delivered
#                                        once DNS is back
#   two recipient domains in one message both delivered: the second after
#                                        452 4.5.3 and a retry
# Finally a forced queue run leaves exactly the deferred messages queued,
# and no bounce was ever generated.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../outbound.sh"
t_init outbound-smarthost
mx_have || t_done
for p in fake_mx strip_proxy; do
	o_peer_have "$p" || { not_ok "fake peer $p built" "$O_PEERDIR/$p missing (make)"; t_done; }
done
if ! { t_certs && o_world_certs; } >"$T_WORK/certs.err" 2>&1; then
	not_ok "smarthost: certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

o_free_port DNSPORT
o_free_port SFPORT
o_free_port SP
o_free_port SPS
o_free_port OPORT
o_free_port SUB
if ! { o_servfail_start main 127.0.0.1 "$SFPORT" && o_dns_reset && o_world_zone &&
    o_dns_start main 127.0.0.1 "$DNSPORT"; } 2>"$T_WORK/dns.err"; then
	not_ok "smarthost: dnsmasq serves the test zone" "$(cat "$T_WORK/dns.err")"
	t_done
fi
if ! o_world_start "$SP" "$SPS" $O_EXIM_MX_HOSTS notls inject stripped 2>"$T_WORK/world.err"; then
	not_ok "smarthost: MX hosts start" "$(cat "$T_WORK/world.err")"
	t_done
fi

cat >"$(mx_conf gw)" <<EOF
workers 1
log_level debug
listen_outbound 127.0.0.1:$OPORT
outbound_mode smarthost
dns_servers 127.0.0.1:$DNSPORT
ca_file $T_CA
default_policy may
remote_smtp_port $SP
remote_smtps_port $SPS
connect_timeout 5
handshake_timeout 10
command_timeout 30
EOF
if o_gate_start gw 2>"$T_WORK/gw.err"; then
	ok "mxgate[gw] starts: smarthost mode on 127.0.0.1:$OPORT, MX ports $SP/$SPS"
else
	not_ok "mxgate[gw] starts: smarthost mode on 127.0.0.1:$OPORT" "$(cat "$T_WORK/gw.err")"
	t_done
fi
if ! o_mta_start sender 127.0.0.30 "$SUB" "route=* 127.0.0.1" port="$OPORT" interface=127.0.0.30 \
    2>"$T_WORK/mta.err"; then
	not_ok "smarthost: the sending Exim starts" "$(cat "$T_WORK/mta.err")"
	t_done
fi

GLOG=$(mx_log gw)
DEFERRED_IDS=()
LAST_CASE="start-up"

# sh_case TAG SIZE RCPT...: one message through the chain (o_case), after
# making sure mxgate survived the previous case.
sh_case() {
	o_gate_ensure gw "$LAST_CASE" || t_done
	LAST_CASE=$1
	o_case sender gw "$@"
}

# ---------------------------------------------------------------- checks

# expect_sent NAME TAG SRV ADDR PORT: after o_case, the message reached Exim
# SRV (listening at ADDR:PORT) over TLS 1.3, byte-exact, and left the queue
# with the MX's own 250.
expect_sent() {
	local name=$1 tag=$2 srv=$3 addr=$4 port=$5 mxid line cmp dl
	mxid=$(exim_wait_received "$srv" "$tag" $((10 * T_SLOW)))
	[ -n "$mxid" ] && exim_wait_completed "$srv" "$mxid" $((10 * T_SLOW))
	line=$(exim_received_line "$srv" "${mxid:-none}")
	if [ -n "$mxid" ] && cmp=$(t_compare "$(exim_stored "$srv" "$mxid")" "$T_WORK/msg/$tag.eml"); then
		ok "$name: stored byte-exact by MX $srv ($cmp)"
	else
		not_ok "$name: stored byte-exact by MX $srv" "${cmp:-not received}" \
		    "sending Exim:" "$(o_mta_log_since sender | tail -n 6)" "mxgate:" "$(o_gate_since gw | tail -n 12)"
		return 1
	fi
	if printf '%s\n' "$line" | grep -q -F " I=[$addr]:$port " && printf '%s\n' "$line" | grep -q ' X=TLS1\.3:'; then
		ok "$name: the MX received it over TLS 1.3 on $addr:$port"
	else
		not_ok "$name: the MX received it over TLS 1.3 on $addr:$port" "$line"
	fi
	if printf '%s\n' "$line" | grep -q -F ' H=(sender.test) '; then
		ok "$name: the MX saw the sending MTA's EHLO name (sender.test)"
	else
		not_ok "$name: the MX saw the sending MTA's EHLO name (sender.test)" "$line"
	fi
	dl=$(o_mta_deliveries sender "$O_ID")
	if ! o_mta_queued sender "$O_ID" && [ -n "$dl" ]; then
		ok "$name: the sending Exim counts it delivered (queue empty)"
	else
		not_ok "$name: the sending Exim counts it delivered (queue empty)" "$(o_mta_log_since sender | tail -n 5)" \
		    "$(o_mta_queue sender)"
	fi
	if printf '%s\n' "$dl" | grep -q -F "id=$mxid"; then
		ok "$name: the 250 the sending Exim got is the MX's own (id=$mxid)"
	else
		not_ok "$name: the 250 the sending Exim got is the MX's own (id=$mxid)" "${dl:-no => line}"
	fi
}

# expect_deferred NAME CODE_ERE: after o_case, the sending Exim logged a
# temporary failure matching CODE_ERE for the RCPT, keeps the message queued
# with its recipient pending, and bounced nothing.
expect_deferred() {
	local name=$1 re=$2 d
	d=$(o_mta_defers sender "$O_ID")
	if o_mta_queued sender "$O_ID" && [ -n "$(o_mta_pending sender "$O_ID")" ] &&
	    printf '%s\n' "$d" | grep -q -E "after (pipelined )?RCPT TO:<[^>]*>: $re"; then
		ok "$name: RCPT deferred ($(printf '%s\n' "$d" | tail -n 1 | sed 's/.*RCPT TO:<[^>]*>: //')), message stays queued"
	else
		not_ok "$name: RCPT deferred with $re, message stays queued" "${d:-no == line}" \
		    "$(o_mta_log_since sender | tail -n 4)" "$(o_mta_queue sender)" "mxgate:" "$(o_gate_since gw | tail -n 12)"
	fi
	if [ "$(o_mta_bounces sender)" = 0 ]; then
		ok "$name: no bounce"
	else
		not_ok "$name: no bounce" "$(ls "$(exim_dir sender)/bounces")"
	fi
	DEFERRED_IDS+=("$O_ID")
}

# expect_not_stored NAME TAG SRV...: no copy of TAG at any of the Exims.
expect_not_stored() {
	local name=$1 tag=$2 srv bad=''
	shift 2
	for srv in "$@"; do
		[ "$(o_mxhost_count "$srv" "$tag")" = 0 ] || bad="$bad $srv"
	done
	if [ -z "$bad" ]; then
		ok "$name: nothing delivered (no copy at $*)"
	else
		not_ok "$name: nothing delivered" "copies at:$bad"
	fi
}

# gate_delivery DOMAIN: mxgate's delivery line for DOMAIN since the mark
gate_delivery() {
	o_gate_delivery gw "$1" $((10 * T_SLOW))
}

policy_re() { # MXNAME: the 4.7.x reply naming the MX host
	printf '451[ -]4\\.7\\.[0-9]{1,3} .*%s' "$(t_re "$1")"
}

# ---------------------------------------------------------------- starttls-, valid certificate
tag=sh-good-$$
if sh_case "$tag" 307200 rcpt@good.test; then
	expect_sent "starttls- MX, valid cert (300 KiB)" "$tag" good 127.0.0.41 "$SP"
	GL=$(gate_delivery good.test)
	o_expect_kv "starttls- MX, valid cert: mxgate logs the delivery" "$GL" dir=out mx=starttls-mx1.good.test \
	    prefix=starttls policy=verify port="$SP" tls=TLSv1.3 'cipher!=none|' verify=ok dnssec=insecure result=sent
	sid=$(o_sid "$GL")
	acc=$(o_gate_session gw "${sid:-none}" | grep -E ' event=accept( |$)' | head -n 1)
	o_expect_kv "starttls- MX, valid cert: the session's accept line" "$acc" listener=outbound \
	    'client=127\.0\.0\.30:[0-9]+'
	cl=$(o_gate_wait gw "^id=${sid:-none} .*event=close( |$)" $((10 * T_SLOW)))
	[ -n "$cl" ] && ok "starttls- MX, valid cert: the session's close line" ||
	    not_ok "starttls- MX, valid cert: the session's close line" "$(o_gate_session gw "${sid:-none}")"
fi

# ---------------------------------------------------------------- starttls-, no STARTTLS
tag=sh-notls-$$
if sh_case "$tag" 4096 rcpt@starttls-notls.test; then
	expect_deferred "starttls- MX without STARTTLS" "$(policy_re starttls-mx1.notls.test)"
	GL=$(gate_delivery starttls-notls.test)
	o_expect_kv "starttls- MX without STARTTLS: mxgate logs the deferral" "$GL" mx=starttls-mx1.notls.test \
	    prefix=starttls policy=verify tls=none result=deferred 'reason=.+'
	tr=$(o_peer_log notls)
	if grep -q -E '^[0-9]+ C: EHLO ' "$tr" && ! grep -q -E '^[0-9]+ C: (MAIL|RCPT|DATA)' "$tr"; then
		ok "starttls- MX without STARTTLS: EHLO only, MAIL FROM never sent"
	else
		not_ok "starttls- MX without STARTTLS: EHLO only, MAIL FROM never sent" "$(cat "$tr")"
	fi
fi

# ---------------------------------------------------------------- smtps-, implicit TLS
tag=sh-smtps-$$
if sh_case "$tag" 65536 rcpt@smtps.test; then
	expect_sent "smtps- MX with implicit TLS" "$tag" smtps 127.0.0.42 "$SPS"
	GL=$(gate_delivery smtps.test)
	o_expect_kv "smtps- MX with implicit TLS: mxgate logs port=$SPS" "$GL" mx=smtps-mx1.good.test \
	    prefix=smtps policy=verify port="$SPS" tls=TLSv1.3 verify=ok result=sent
fi

# ---------------------------------------------------------------- smtps-, smtps port closed
tag=sh-closed26-$$
if sh_case "$tag" 4096 rcpt@closed26.test; then
	expect_sent "smtps- MX, smtps port closed" "$tag" closed26 127.0.0.43 "$SP"
	GL=$(gate_delivery closed26.test)
	o_expect_kv "smtps- MX, smtps port closed: mxgate falls back to STARTTLS on $SP" "$GL" \
	    mx=smtps-mx1.closed26.test prefix=smtps policy=verify port="$SP" tls=TLSv1.3 verify=ok result=sent
fi

# ---------------------------------------------------------------- smtps-, plaintext greeting on the smtps port
tag=sh-plain26-$$
if sh_case "$tag" 4096 rcpt@plain26.test; then
	expect_sent "smtps- MX, plaintext on the smtps port" "$tag" plain26 127.0.0.44 "$SP"
	GL=$(gate_delivery plain26.test)
	o_expect_kv "smtps- MX, plaintext on the smtps port: mxgate falls back to STARTTLS on $SP" "$GL" \
	    mx=smtps-mx1.plain26.test prefix=smtps policy=verify port="$SP" tls=TLSv1.3 verify=ok result=sent
	tr=$(o_peer_log plain26)
	if grep -q -E '^[0-9]+ CONNECT ' "$tr" && ! grep -q -E '^[0-9]+ C: [A-Za-z]' "$tr"; then
		ok "smtps- MX, plaintext on the smtps port: tried first, no SMTP command sent there"
	else
		not_ok "smtps- MX, plaintext on the smtps port: tried first, no SMTP command sent there" "$(cat "$tr")"
	fi
fi

# ---------------------------------------------------------------- smtps-, no TLS anywhere
tag=sh-smtpsnotls-$$
if sh_case "$tag" 4096 rcpt@smtps-notls.test; then
	expect_deferred "smtps- MX without TLS, smtps closed" "$(policy_re smtps-mx1.notls.test)"
	expect_not_stored "smtps- MX without TLS, smtps closed" "$tag" smtpsnotls
	GL=$(gate_delivery smtps-notls.test)
	o_expect_kv "smtps- MX without TLS: mxgate logs the deferral" "$GL" mx=smtps-mx1.notls.test \
	    prefix=smtps policy=verify result=deferred 'reason=.+'
fi

# ---------------------------------------------------------------- bad certificates, prefixed then unprefixed
for k in wrongname expired selfsigned untrusted; do
	tag=sh-$k-$$
	n=${O_MXN[$k]}
	if sh_case "$tag" 4096 "rcpt@${O_DOM[$k]}"; then
		expect_deferred "starttls- MX, $k cert" "$(policy_re "$n")"
		expect_not_stored "starttls- MX, $k cert" "$tag" "$k"
		GL=$(gate_delivery "${O_DOM[$k]}")
		o_expect_kv "starttls- MX, $k cert: mxgate logs the deferral" "$GL" mx="$n" \
		    prefix=starttls policy=verify result=deferred 'reason=.+'
	fi
	tag=sh-$k-may-$$
	n=${O_MXN[$k-may]}
	if sh_case "$tag" 4096 "rcpt@${O_DOM[$k-may]}"; then
		expect_sent "unprefixed MX, $k cert" "$tag" "$k" "${O_MXA[$k]}" "$SP"
		GL=$(gate_delivery "${O_DOM[$k-may]}")
		o_expect_kv "unprefixed MX, $k cert: policy may, verify=fail, sent" "$GL" mx="$n" \
		    prefix=none policy=may tls=TLSv1.3 verify=fail result=sent
	fi
done

# ---------------------------------------------------------------- STARTTLS stripped on path
tag=sh-stripped-$$
if sh_case "$tag" 4096 rcpt@stripped.test; then
	expect_deferred "starttls- MX behind a STARTTLS stripper" "$(policy_re starttls-mx1.stripped.test)"
	expect_not_stored "starttls- MX behind a STARTTLS stripper" "$tag" good
	tr=$(o_peer_log stripped)
	if grep -q -E '^[0-9]+ STRIPPED: 250.STARTTLS' "$tr" && ! grep -q -E '^[0-9]+ C>U: (MAIL|RCPT|DATA)' "$tr"; then
		ok "starttls- MX behind a STARTTLS stripper: STARTTLS was stripped, no MAIL FROM forwarded"
	else
		not_ok "starttls- MX behind a STARTTLS stripper: STARTTLS was stripped, no MAIL FROM forwarded" "$(cat "$tr")"
	fi
	GL=$(gate_delivery stripped.test)
	o_expect_kv "starttls- MX behind a STARTTLS stripper: mxgate logs the deferral" "$GL" \
	    mx=starttls-mx1.stripped.test prefix=starttls policy=verify tls=none result=deferred
fi

# ---------------------------------------------------------------- response injection after 220
tag=sh-inject-$$
if sh_case "$tag" 4096 rcpt@inject.test; then
	expect_deferred "STARTTLS response injection" "4[0-9][0-9][ -]4\\.[0-9]+\\.[0-9]+ "
	tr=$(o_peer_log inject)
	if grep -q -E '^[0-9]+ C: STARTTLS$' "$tr" && grep -q -E '^[0-9]+ CLOSE peer ' "$tr" &&
	    ! grep -q -E '^[0-9]+ C: (MAIL|RCPT|DATA)' "$tr"; then
		ok "STARTTLS response injection: mxgate dropped the connection, nothing sent"
	else
		not_ok "STARTTLS response injection: mxgate dropped the connection, nothing sent" "$(cat "$tr")"
	fi
	if grep -q -E '^[0-9]+ CLOSE peer \(after STARTTLS: 0 bytes\)$' "$tr"; then
		ok "STARTTLS response injection: no TLS handshake started after the injected reply"
	else
		not_ok "STARTTLS response injection: no TLS handshake started after the injected reply" "$(cat "$tr")"
	fi
	GL=$(gate_delivery inject.test)
	o_expect_kv "STARTTLS response injection: mxgate logs the deferral" "$GL" mx=starttls-mx1.inject.test \
	    prefix=starttls result=deferred
fi

# ---------------------------------------------------------------- MX 10 fails, MX 20 good
tag=sh-fallback-$$
if sh_case "$tag" 4096 rcpt@fallback.test; then
	expect_sent "MX 10 fails its policy, MX 20 good" "$tag" fallback2 127.0.0.54 "$SP"
	expect_not_stored "MX 10 fails its policy" "$tag" selfsigned
	GL=$(gate_delivery fallback.test)
	o_expect_kv "MX 10 fails its policy: delivered by MX 20" "$GL" mx=starttls-mx2.fallback.test \
	    prefix=starttls policy=verify verify=ok result=sent
	sid=$(o_sid "$GL")
	at=$(o_gate_session gw "${sid:-none}" | grep -E ' event=attempt .*mx=starttls-mx1\.fallback\.test( |$)' | head -n 1)
	o_expect_kv "MX 10 fails its policy: mxgate logs the failed attempt" "$at" mx=starttls-mx1.fallback.test \
	    "addr=127\\.0\\.0\\.49:$SP" result=fail 'reason=.+'
fi

# ---------------------------------------------------------------- wildcard certificate
tag=sh-wild-$$
if sh_case "$tag" 4096 rcpt@wild.test; then
	expect_sent "starttls- MX, *.wild.test cert" "$tag" wild 127.0.0.53 "$SP"
	GL=$(gate_delivery wild.test)
	o_expect_kv "starttls- MX, *.wild.test cert: verify=ok" "$GL" mx=starttls-mx1.wild.test prefix=starttls \
	    policy=verify verify=ok result=sent
fi

# ---------------------------------------------------------------- DNS: SERVFAIL, then server down
tag=sh-servfail-$$
if sh_case "$tag" 4096 rcpt@broken.test; then
	expect_deferred "SERVFAIL for the recipient domain" '451[ -]4\.4\.3'
	expect_not_stored "SERVFAIL for the recipient domain" "$tag" $O_EXIM_MX_HOSTS
fi

# mxgate caches complete answers for their TTL, so the domain used while
# the server is down must be one it has never resolved: fresh.test (MX:
# the good host, which accepts it).
o_dns_stop main
tag=sh-dnsdown-$$
if sh_case "$tag" 4096 rcpt@fresh.test; then
	expect_deferred "DNS server down" '451[ -]4\.4\.3'
	expect_not_stored "DNS server down" "$tag" $O_EXIM_MX_HOSTS
	unset 'DEFERRED_IDS[${#DEFERRED_IDS[@]}-1]'
	if o_dns_start main 127.0.0.1 "$DNSPORT" 2>"$T_WORK/dns2.err"; then
		o_gate_mark gw
		o_mta_log_mark sender
		o_mta_deliver sender "$O_ID"
		expect_sent "DNS server back" "$tag" good 127.0.0.41 "$SP"
	else
		not_ok "dnsmasq restarts" "$(cat "$T_WORK/dns2.err")"
	fi
fi

# ---------------------------------------------------------------- two recipient domains in one message
tag=sh-twodom-$$
# Exim puts both recipients (one smarthost) into one transaction; mxgate
# answers 452 4.5.3 to the second domain's RCPT.  Exim 4.96 then sends that
# recipient either in a second transaction on the same connection at once,
# or at its next delivery attempt (logging the 452): both are fine.
if sh_case "$tag" 4096 rcpt@good.test rcpt@wild.test; then
	if o_mta_queued sender "$O_ID"; then
		d=$(o_mta_defers sender "$O_ID")
		if [ "$(o_mta_pending sender "$O_ID" | wc -l)" = 1 ] &&
		    printf '%s\n' "$d" | grep -q -E 'after (pipelined )?RCPT TO:<[^>]*>: 452[ -]4\.5\.3'; then
			ok "two domains: the first is delivered, the second gets 452 4.5.3 and waits for the next attempt"
		else
			not_ok "two domains: the first is delivered, the second gets 452 4.5.3" "${d:-no == line}" \
			    "$(o_mta_log_since sender | tail -n 6)" "$(o_mta_queue sender)"
		fi
		for i in 1 2 3; do
			o_mta_queued sender "$O_ID" || break
			o_mta_deliver sender "$O_ID"
		done
	else
		t_note "two domains: Exim sent the second domain in a second transaction on the same connection"
	fi
	for dom in good.test wild.test; do
		GL=$(o_gate_delivery gw "$dom" $((10 * T_SLOW)))
		o_expect_kv "two domains: mxgate delivered $dom in a transaction of its own" "$GL" \
		    "domain=$(t_re "$dom")" result=sent 'rcpts=1|'
	done
	n1=$(o_mxhost_count good "$tag")
	n2=$(o_mxhost_count wild "$tag")
	i1=$(exim_wait_received good "$tag" 1) && exim_wait_completed good "$i1" 5
	i2=$(exim_wait_received wild "$tag" 1) && exim_wait_completed wild "$i2" 5
	c1=$(t_compare "$(exim_stored good "${i1:-none}")" "$T_WORK/msg/$tag.eml")
	r1=$?
	c2=$(t_compare "$(exim_stored wild "${i2:-none}")" "$T_WORK/msg/$tag.eml")
	r2=$?
	if ! o_mta_queued sender "$O_ID" && [ "$n1" = 1 ] && [ "$n2" = 1 ] && [ $r1 = 0 ] && [ $r2 = 0 ]; then
		ok "two domains: both delivered once, byte-exact"
	else
		not_ok "two domains: both delivered once, byte-exact" "copies: good $n1, wild $n2" \
		    "$c1" "$c2" "$(o_mta_queue sender)"
	fi
fi

# ---------------------------------------------------------------- the end state
if o_gate_running gw; then
	ok "mxgate[gw] still running"
else
	o_gate_ensure gw "$LAST_CASE"
fi
o_gate_mark gw
o_mta_queue_run sender
want=$(printf '%s\n' "${DEFERRED_IDS[@]}" | sort | tr '\n' ' ')
got=$(o_mta_queued_ids sender | sort | tr '\n' ' ')
if [ "$want" = "$got" ]; then
	ok "after a forced queue run exactly the ${#DEFERRED_IDS[@]} deferred messages are still queued"
else
	not_ok "after a forced queue run exactly the deferred messages are still queued" "queued: $got" \
	    "want:   $want" "$(o_mta_queue sender)"
fi
if [ "$(o_mta_bounces sender)" = 0 ]; then
	ok "no bounce was generated"
else
	not_ok "no bounce was generated" "$(ls "$(exim_dir sender)/bounces")"
fi
# good.test went to the same MX several times: after the first full
# handshake mxgate resumes the TLS session it remembered for that name.
# Whether the later messages found a parked connection depends on timing,
# so two more go at once: at most one of them can take a parked
# connection, the other needs a connection of its own.
for k in 1 2; do
	t_message 2048 "sh-res$k-$$"
	t_swaks plain 127.0.0.1 127.0.0.1 "$OPORT" "$T_WORK/msg/sh-res$k-$$.wire" \
	    "$T_WORK/swaks-sh-res$k.out" --to rcpt@good.test &
	pids[k]=$!
done
wait "${pids[@]}"
for k in 1 2; do
	if swaks_accepted "$T_WORK/swaks-sh-res$k.out"; then
		ok "two messages at once to good.test: message $k accepted (250)"
	else
		not_ok "two messages at once to good.test: message $k accepted (250)" \
		    "$(grep -E '^<' "$T_WORK/swaks-sh-res$k.out" | tail -n 3)"
	fi
done
n_full=$(grep -c -E ' event=upstream mx=starttls-mx1\.good\.test .* resumed=no ' "$GLOG")
n_res=$(grep -c -E ' event=upstream mx=starttls-mx1\.good\.test .* verify=ok resumed=yes ' "$GLOG")
if [ "$n_full" -ge 1 ] && [ "$n_res" -ge 1 ]; then
	ok "TLS sessions to starttls-mx1.good.test: $n_full full handshake(s), $n_res resumed, verify=ok"
else
	not_ok "TLS sessions to starttls-mx1.good.test are resumed after the first" \
	    "$(grep ' event=upstream mx=starttls-mx1.good.test' "$GLOG")"
fi
# The sending Exim opens a new connection for every message; when the
# next one comes within the idle limit, mxgate reuses its upstream
# session (after an RSET) instead of connecting again.
n_reuse=$(grep -c -E ' event=upstream mx=[^ ]+ .* verify=ok resumed=[a-z]+ reused=[1-9]' "$GLOG")
if [ "$n_reuse" -ge 1 ]; then
	ok "upstream sessions are reused across MTA connections ($n_reuse reuses, verify=ok)"
else
	not_ok "upstream sessions are reused across MTA connections" "$(grep ' event=upstream ' "$GLOG")"
fi
mx_stop gw

# ---------------------------------------------------------------- cache bounds
# upstream_cache 0: every upstream session ends with its transaction.
# upstream_reuse_count 2: a session carries two transactions, then the
# next message needs a connection of its own.  Three messages in turn to
# good.test through each.
for gate in nocache reuse2; do
	o_free_port OPORT3
	sed -e "s/^listen_outbound .*/listen_outbound 127.0.0.1:$OPORT3/" "$(mx_conf gw)" >"$(mx_conf $gate)"
	case $gate in
	nocache) echo "upstream_cache 0" >>"$(mx_conf $gate)" ;;
	reuse2) echo "upstream_reuse_count 2" >>"$(mx_conf $gate)" ;;
	esac
	if ! o_gate_start $gate 2>"$T_WORK/$gate.err"; then
		not_ok "mxgate[$gate] starts" "$(cat "$T_WORK/$gate.err")"
		continue
	fi
	o_gate_mark $gate
	n_ok=0
	for k in 1 2 3; do
		tag=sh-$gate$k-$$
		t_message 2048 "$tag"
		t_swaks plain 127.0.0.1 127.0.0.1 "$OPORT3" "$T_WORK/msg/$tag.wire" \
		    "$T_WORK/swaks-$tag.out" --to rcpt@good.test
		swaks_accepted "$T_WORK/swaks-$tag.out" && n_ok=$((n_ok + 1))
	done
	UL=$(o_gate_since $gate | grep ' event=upstream ')
	used=$(printf '%s\n' "$UL" | grep -o ' reused=[0-9]*' | tr -d ' ' | tr '\n' ' ')
	case $gate in
	nocache) want="reused=0 reused=0 reused=0 " ;;
	reuse2) want="reused=0 reused=1 reused=0 " ;;
	esac
	if [ "$n_ok" = 3 ] && [ "$used" = "$want" ]; then
		ok "mxgate[$gate]: three messages accepted, upstream sessions used as bounded ($used)"
	else
		not_ok "mxgate[$gate]: three messages accepted, upstream sessions used as bounded" \
		    "accepted: $n_ok of 3, want: $want got: $used" "$UL"
	fi
	mx_stop $gate
done

# ---------------------------------------------------------------- require_dnssec
# dnsmasq signs nothing, so no answer carries the AD bit: with
# require_dnssec a prefixed MX is refused before any connection (4.7.x,
# dnssec=insecure), while an unprefixed one is still delivered.
o_free_port OPORT2
sed -e "s/^listen_outbound .*/listen_outbound 127.0.0.1:$OPORT2/" "$(mx_conf gw)" >"$(mx_conf sec)"
echo "require_dnssec yes" >>"$(mx_conf sec)"
if o_gate_start sec 2>"$T_WORK/sec.err"; then
	o_gate_mark sec
	tag=sh-dnssec-$$
	t_message 2048 "$tag"
	t_swaks plain 127.0.0.1 127.0.0.1 "$OPORT2" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out" \
	    --to rcpt@good.test
	if grep -q -E '^<\*\* +451 4\.7\.[0-9]+ starttls-mx1\.good\.test: insecure DNS answer' "$T_WORK/swaks-$tag.out"; then
		ok "require_dnssec: a prefixed MX reached through an insecure answer is refused with 451 4.7.x"
	else
		not_ok "require_dnssec: a prefixed MX reached through an insecure answer is refused with 451 4.7.x" \
		    "$(grep -E '^<' "$T_WORK/swaks-$tag.out" | tail -n 3)"
	fi
	GL=$(o_gate_since sec | grep ' event=delivery ' | tail -n 1)
	o_expect_kv "require_dnssec: mxgate logs the refusal" "$GL" domain=good.test dnssec=insecure \
	    result=deferred prefix=starttls
	if o_gate_since sec | grep -q ' event=upstream '; then
		not_ok "require_dnssec: no connection was made to the MX" "$(o_gate_since sec | grep ' event=upstream ')"
	else
		ok "require_dnssec: no connection was made to the MX"
	fi
	mx_stop sec
else
	not_ok "mxgate[sec] starts with require_dnssec yes" "$(cat "$T_WORK/sec.err")"
fi
t_done

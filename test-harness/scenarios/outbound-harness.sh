#!/bin/bash
# The outbound test world without mxgate: when an outbound scenario fails,
# this one tells whether the harness itself still works.
#   - dnsmasq serves the .test zone (MX, A), SERVFAIL for broken.test,
#     NXDOMAIN for unknown names, no AD bit; stopped, it does not answer;
#   - the certificates are what their names say (openssl verify);
#   - every Exim MX host accepts mail over STARTTLS / implicit TLS with its
#     certificate, stores it byte-exact and logs listener and TLS; the one
#     without TLS offers no STARTTLS; closed ports are closed;
#   - the fake peers behave (fake_mx nostarttls / inject / plain26,
#     strip_proxy), record transcripts and exit 0 on SIGTERM;
#   - the sending Exim queues, delivers with -M, keeps a 4xx-deferred
#     message queued with its reason, retries a recipient refused with
#     452 4.5.3 in a later transaction, and bounces nothing;
#   - in a network namespace, an nft and an iptables REDIRECT matching the
#     Exim user divert the sending Exim's port-25 connections (the original
#     destination is readable with SO_ORIGINAL_DST) while root's are not.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../outbound.sh"
t_init outbound-harness

missing=
for c in dnsmasq dig nsenter nft ip; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
command -v iptables-legacy >/dev/null 2>&1 || command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
for p in fake_mx strip_proxy; do
	o_peer_have "$p" || missing="$missing $O_PEERDIR/$p"
done
if [ -n "$missing" ]; then
	not_ok "outbound harness: tools and fake peers present" "missing:$missing" \
	    "packages: dnsmasq-base bind9-dnsutils nftables iptables iproute2 util-linux; peers: make"
	t_done
fi
ok "outbound harness: tools and fake peers present"

# ---------------------------------------------------------------- DNS
o_free_port DNSPORT
o_free_port SFPORT
o_dns_reset
if ! o_servfail_start main 127.0.0.1 "$SFPORT" 2>"$T_WORK/sf.err"; then
	not_ok "SERVFAIL responder starts" "$(cat "$T_WORK/sf.err")"
	t_done
fi
o_world_zone
if o_dns_start main 127.0.0.1 "$DNSPORT" 2>"$T_WORK/dns.err"; then
	ok "dnsmasq serves the .test zone on 127.0.0.1:$DNSPORT"
else
	not_ok "dnsmasq serves the .test zone on 127.0.0.1:$DNSPORT" "$(cat "$T_WORK/dns.err")"
	t_done
fi

out=$(o_dig 127.0.0.1 "$DNSPORT" good.test MX)
if printf '%s\n' "$out" | grep -q -E '^good\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 starttls-mx1\.good\.test\.$'; then
	ok "dns: good.test MX 10 starttls-mx1.good.test"
else
	not_ok "dns: good.test MX 10 starttls-mx1.good.test" "$out"
fi
out=$(o_dig 127.0.0.1 "$DNSPORT" fallback.test MX)
if printf '%s\n' "$out" | grep -q -E 'MX[[:space:]]+10 starttls-mx1\.fallback\.test\.$' &&
    printf '%s\n' "$out" | grep -q -E 'MX[[:space:]]+20 starttls-mx2\.fallback\.test\.$'; then
	ok "dns: fallback.test has MX 10 and MX 20"
else
	not_ok "dns: fallback.test has MX 10 and MX 20" "$out"
fi
out=$(o_dig 127.0.0.1 "$DNSPORT" smtps-mx1.good.test A)
if printf '%s\n' "$out" | grep -q -E '^smtps-mx1\.good\.test\.[[:space:]].*IN[[:space:]]+A[[:space:]]+127\.0\.0\.42$'; then
	ok "dns: smtps-mx1.good.test A 127.0.0.42"
else
	not_ok "dns: smtps-mx1.good.test A 127.0.0.42" "$out"
fi
if printf '%s\n' "$(o_dig 127.0.0.1 "$DNSPORT" good.test MX)" | grep -E '^;; flags:' | grep -q -w ad; then
	not_ok "dns: answers carry no AD bit (dnssec=insecure)" "$(o_dig 127.0.0.1 "$DNSPORT" good.test MX | grep flags)"
else
	ok "dns: answers carry no AD bit (dnssec=insecure)"
fi
st=$(o_dig_status 127.0.0.1 "$DNSPORT" broken.test MX)
[ "$st" = SERVFAIL ] && ok "dns: broken.test MX gives SERVFAIL" ||
    not_ok "dns: broken.test MX gives SERVFAIL" "status: $st" "$(tail -n 5 "$(o_dns_log main)")"
st=$(o_dig_status 127.0.0.1 "$DNSPORT" nosuch.test MX)
[ "$st" = NXDOMAIN ] && ok "dns: nosuch.test gives NXDOMAIN" || not_ok "dns: nosuch.test gives NXDOMAIN" "status: $st"
o_dns_stop main
st=$(o_dig_status 127.0.0.1 "$DNSPORT" good.test MX)
[ "$st" = TIMEOUT ] && ok "dns: no answer at all while dnsmasq is stopped" ||
    not_ok "dns: no answer at all while dnsmasq is stopped" "status: $st"
o_dns_start main 127.0.0.1 "$DNSPORT" 2>"$T_WORK/dns.err"
st=$(o_dig_status 127.0.0.1 "$DNSPORT" good.test MX)
[ "$st" = NOERROR ] && ok "dns: dnsmasq restarted on the same port answers again" ||
    not_ok "dns: dnsmasq restarted on the same port answers again" "status: $st" "$(cat "$T_WORK/dns.err")"
o_dns_stop main
t_stop_pid servfail-main 2

# ---------------------------------------------------------------- certificates
if ! o_world_certs 2>"$T_WORK/certs.err"; then
	not_ok "certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi
ok "certificates generated"
vfy() { # LABEL HOSTNAME
	openssl verify -CAfile "$T_CA" ${2:+-verify_hostname "$2"} -untrusted "$(o_cert_chain "$1")" \
	    "$(o_cert_pem "$1")" 2>&1
}
for l in good smtps closed26 plain26 fallback2; do
	n=${O_MXN[$l]}
	out=$(vfy "$l" "$n")
	case $out in
	*": OK") ok "cert $l: valid for $n" ;;
	*) not_ok "cert $l: valid for $n" "$out" ;;
	esac
done
out=$(vfy wild starttls-mx1.wild.test)
case $out in *": OK") ok "cert *.wild.test: valid for starttls-mx1.wild.test" ;;
*) not_ok "cert *.wild.test: valid for starttls-mx1.wild.test" "$out" ;; esac
check_bad() { # LABEL NAME EXPECTED-ERROR-TEXT
	local out
	out=$(vfy "$1" "$2")
	if printf '%s\n' "$out" | grep -q -F "$3" && ! printf '%s\n' "$out" | grep -q ': OK$'; then
		ok "cert $1: invalid for $2 ($3)"
	else
		not_ok "cert $1: invalid for $2 ($3)" "$out"
	fi
}
check_bad wrongname "${O_MXN[wrongname]}" "hostname mismatch"
out=$(vfy wrongname "")
case $out in *": OK") ok "cert wrongname: chain and dates valid (only the name is wrong)" ;;
*) not_ok "cert wrongname: chain and dates valid (only the name is wrong)" "$out" ;; esac
check_bad expired "${O_MXN[expired]}" "certificate has expired"
check_bad selfsigned "${O_MXN[selfsigned]}" "self-signed certificate"
# (the chain file carries the untrusted root: "self-signed certificate in
# certificate chain"; without it, "unable to get local issuer certificate")
check_bad untrusted "${O_MXN[untrusted]}" "self-signed certificate in certificate chain"

# ---------------------------------------------------------------- MX hosts
o_free_port SP
o_free_port SPS
if o_world_start "$SP" "$SPS" $O_EXIM_MX_HOSTS notls inject stripped 2>"$T_WORK/world.err"; then
	ok "MX hosts start (smtp port $SP, smtps port $SPS)"
else
	not_ok "MX hosts start (smtp port $SP, smtps port $SPS)" "$(cat "$T_WORK/world.err")"
	t_done
fi

# STARTTLS on the smtp port of every TLS Exim, with its own certificate
for k in good smtps closed26 plain26 wrongname expired selfsigned untrusted wild fallback2; do
	a=${O_MXA[$k]}
	tag=mx-$k-$$
	t_client_addr SRC
	t_message 4096 "$tag"
	t_swaks starttls "$SRC" "$a" "$SP" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out" \
	    --to "rcpt@${O_DOM[$k]:-fallback.test}"
	id=$(exim_wait_received "$k" "$tag" 10) && exim_wait_completed "$k" "$id" 10
	line=$(exim_received_line "$k" "${id:-none}")
	if [ -n "$id" ] && cmp=$(t_compare "$(exim_stored "$k" "$id")" "$T_WORK/msg/$tag.eml") &&
	    printf '%s\n' "$line" | grep -q -F " I=[$a]:$SP " && printf '%s\n' "$line" | grep -q ' X=TLS1\.3:'; then
		ok "MX $k ($a:$SP): STARTTLS, TLS 1.3, stored byte-exact ($cmp)"
	else
		not_ok "MX $k ($a:$SP): STARTTLS, TLS 1.3, stored byte-exact" "${cmp:-not received}" \
		    "${line:-no <= line}" "$(tail -n 8 "$T_WORK/swaks-$tag.out")"
	fi
	# the certificate it presents (subject and verification, by name)
	n=${O_MXN[$k]}
	out=$(timeout 15 openssl s_client -starttls smtp -connect "$a:$SP" -servername "$n" \
	    -CAfile "$T_CA" -verify_hostname "$n" </dev/null 2>&1)
	vr=$(printf '%s\n' "$out" | sed -n 's/^ *Verify return code: //p' | head -n 1)
	case $k in
	wrongname) want='62 (hostname mismatch)' ;;
	expired) want='10 (certificate has expired)' ;;
	selfsigned) want='18 (self-signed certificate)' ;;
	untrusted) want='19 (self-signed certificate in certificate chain)' ;;
	*) want='0 (ok)' ;;
	esac
	if [ "$vr" = "$want" ]; then
		ok "MX $k: openssl s_client -verify_hostname $n: $vr"
	else
		not_ok "MX $k: openssl s_client -verify_hostname $n: $want" "got: ${vr:-nothing}" \
		    "$(printf '%s\n' "$out" | grep -E 'subject=|issuer=|error' | head -n 5)"
	fi
done

# implicit TLS on the smtps port
tag=mx-smtps26-$$
t_client_addr SRC
t_message 262144 "$tag"
t_swaks smtps "$SRC" "${O_MXA[smtps]}" "$SPS" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out" --to rcpt@smtps.test
id=$(exim_wait_received smtps "$tag" 10) && exim_wait_completed smtps "$id" 10
line=$(exim_received_line smtps "${id:-none}")
if [ -n "$id" ] && cmp=$(t_compare "$(exim_stored smtps "$id")" "$T_WORK/msg/$tag.eml") &&
    printf '%s\n' "$line" | grep -q -F " I=[${O_MXA[smtps]}]:$SPS " && printf '%s\n' "$line" | grep -q ' X=TLS1\.3:'; then
	ok "MX smtps: implicit TLS on the smtps port $SPS, 256 KiB stored byte-exact ($cmp)"
else
	not_ok "MX smtps: implicit TLS on the smtps port $SPS, stored byte-exact" "${cmp:-not received}" \
	    "${line:-no <= line}" "$(tail -n 8 "$T_WORK/swaks-$tag.out")"
fi

# no TLS at all: no STARTTLS offered, plaintext accepted
tag=mx-notls-$$
t_client_addr SRC
t_message 2048 "$tag"
t_swaks starttls "$SRC" "${O_MXA[smtpsnotls]}" "$SP" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag-tls.out" --to rcpt@smtps-notls.test
if grep -q 'did not advertise STARTTLS' "$T_WORK/swaks-$tag-tls.out"; then
	ok "MX smtpsnotls: no STARTTLS offered"
else
	not_ok "MX smtpsnotls: no STARTTLS offered" "$(tail -n 12 "$T_WORK/swaks-$tag-tls.out")"
fi
t_swaks plain "$SRC" "${O_MXA[smtpsnotls]}" "$SP" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out" --to rcpt@smtps-notls.test
if id=$(exim_wait_received smtpsnotls "$tag" 10) && exim_wait_completed smtpsnotls "$id" 10 && t_compare "$(exim_stored smtpsnotls "$id")" "$T_WORK/msg/$tag.eml" >/dev/null; then
	ok "MX smtpsnotls: plaintext mail stored"
else
	not_ok "MX smtpsnotls: plaintext mail stored" "$(tail -n 8 "$T_WORK/swaks-$tag.out")"
fi
for k in good closed26 smtpsnotls wild; do
	out=$(t_raw - "${O_MXA[$k]}:$SPS" 5 reply)
	case $out in
	CONNECT-FAILED*) ok "MX $k: smtps port $SPS closed" ;;
	*) not_ok "MX $k: smtps port $SPS closed" "$out" ;;
	esac
done

# ---------------------------------------------------------------- fake peers
NL=$(o_peer_log notls)
out=$(t_raw 127.0.0.100 "${O_MXA[notls]}:$SP" 10 reply 'send:EHLO sender.test\r\n' reply \
    'send:STARTTLS\r\n' reply 'send:MAIL FROM:<a@client.test>\r\n' reply 'send:QUIT\r\n' reply)
if printf '%s\n' "$out" | grep -q '^S: 250 ENHANCEDSTATUSCODES' && ! printf '%s\n' "$out" | grep -q STARTTLS$ &&
    printf '%s\n' "$out" | grep -q '^S: 502 5\.5\.1'; then
	ok "fake_mx nostarttls: EHLO without STARTTLS, STARTTLS refused with 502"
else
	not_ok "fake_mx nostarttls: EHLO without STARTTLS, STARTTLS refused with 502" "$out"
fi
if grep -q -E '^[0-9]+ C: MAIL FROM:<a@client\.test>$' "$NL" && grep -q -E '^[0-9]+ CONNECT from=127\.0\.0\.100:' "$NL"; then
	ok "fake_mx nostarttls: transcript records the connection and MAIL FROM"
else
	not_ok "fake_mx nostarttls: transcript records the connection and MAIL FROM" "$(cat "$NL")"
fi

IL=$(o_peer_log inject)
out=$(t_raw 127.0.0.100 "${O_MXA[inject]}:$SP" 10 reply 'send:EHLO sender.test\r\n' reply \
    'send:STARTTLS\r\n' drain:1)
if printf '%s\n' "$out" | grep -q '^S: 250-STARTTLS$' &&
    printf '%s\n' "$out" | grep -A1 '^S: 220 2\.0\.0 Ready$' | grep -q '^S: 250 injected$'; then
	ok "fake_mx inject: offers STARTTLS, answers it with 220 then an injected 250"
else
	not_ok "fake_mx inject: offers STARTTLS, answers it with 220 then an injected 250" "$out"
fi
sleep 0.3
if grep -q -E '^[0-9]+ CLOSE peer \(after STARTTLS: 0 bytes\)$' "$IL"; then
	ok "fake_mx inject: transcript records the close and no byte after STARTTLS"
else
	not_ok "fake_mx inject: transcript records the close and no byte after STARTTLS" "$(cat "$IL")"
fi

PL=$(o_peer_log plain26)
out=$(t_raw 127.0.0.100 "${O_MXA[plain26]}:$SPS" 10 reply 'send:\x16\x03\x01\x00\x05hello' sleep:0.5)
if printf '%s\n' "$out" | grep -q '^S: 220 fake ESMTP$' &&
    grep -q -E '^[0-9]+ C: \[binary 10 bytes: 16 03 01 00 05 ' "$PL"; then
	ok "fake_mx plain26: plaintext greeting on the smtps port, binary input recorded"
else
	not_ok "fake_mx plain26: plaintext greeting on the smtps port, binary input recorded" "$out" "$(cat "$PL")"
fi

SL=$(o_peer_log stripped)
direct=$(t_raw 127.0.0.100 "${O_MXA[good]}:$SP" 10 reply 'send:EHLO sender.test\r\n' reply 'send:QUIT\r\n' reply)
via=$(t_raw 127.0.0.100 "${O_MXA[stripped]}:$SP" 10 reply 'send:EHLO sender.test\r\n' reply \
    'send:STARTTLS\r\n' reply 'send:QUIT\r\n' reply)
if printf '%s\n' "$direct" | grep -q -E '^S: 250-STARTTLS$' && ! printf '%s\n' "$via" | grep -q -E '^S: 250.STARTTLS' &&
    printf '%s\n' "$via" | grep -q -E '^S: 250 HELP$' && printf '%s\n' "$via" | grep -q '^S: 502 5\.5\.1 not supported$'; then
	ok "strip_proxy: the real EHLO reply offers STARTTLS, through the proxy it does not; STARTTLS gets 502"
else
	not_ok "strip_proxy: STARTTLS stripped" "direct:" "$direct" "via proxy:" "$via"
fi
tag=strip-$$
t_client_addr SRC
t_message 8192 "$tag"
t_swaks plain "$SRC" "${O_MXA[stripped]}" "$SP" "$T_WORK/msg/$tag.wire" "$T_WORK/swaks-$tag.out" --to rcpt@stripped.test
if id=$(exim_wait_received good "$tag" 10) && exim_wait_completed good "$id" 10 && cmp=$(t_compare "$(exim_stored good "$id")" "$T_WORK/msg/$tag.eml") &&
    grep -q -E '^[0-9]+ STRIPPED: 250-STARTTLS$' "$SL" && grep -q -E '^[0-9]+ C>U: MAIL FROM:' "$SL"; then
	ok "strip_proxy: relays a plaintext message byte-exact to the real MX and logs it ($cmp)"
else
	not_ok "strip_proxy: relays a plaintext message byte-exact to the real MX and logs it" "${cmp:-not received}" \
	    "$(tail -n 8 "$T_WORK/swaks-$tag.out")" "$(tail -n 20 "$SL")"
fi

for p in notls inject plain26 stripped; do
	if o_peer_stop "$p" && grep -q '^0 EXIT$' "$(o_peer_log "$p")"; then
		ok "peer $p exits with status 0 on SIGTERM"
	else
		not_ok "peer $p exits with status 0 on SIGTERM" "status ${T_STATUS[peer-$p]:-?}" "$(cat "$T_WORK/peer-$p.err")"
	fi
done

# ---------------------------------------------------------------- the sending Exim
o_free_port SUB
o_mxhost_start onedom 127.0.0.55 smtp="$SP" cert=good hostname=onedom.test one_domain=yes 2>"$T_WORK/onedom.err" ||
    not_ok "Exim onedom starts" "$(cat "$T_WORK/onedom.err")"
o_peer_start defer fake_mx "127.0.0.56:$SP" -m nostarttls -R "451 4.7.0 fake policy failure" 2>"$T_WORK/defer.err" ||
    not_ok "fake_mx defer starts" "$(cat "$T_WORK/defer.err")"
if o_mta_start sender 127.0.0.30 "$SUB" \
    "route=good.test 127.0.0.41 ; a.test 127.0.0.55 ; b.test 127.0.0.55 ; defer.test 127.0.0.56" \
    port="$SP" interface=127.0.0.30 2>"$T_WORK/mta.err"; then
	ok "sending Exim starts (127.0.0.30:$SUB, queue only)"
else
	not_ok "sending Exim starts" "$(cat "$T_WORK/mta.err")"
	t_done
fi

tag=mta-direct-$$
if o_case sender - "$tag" 65536 rcpt@good.test; then
	mxid=$(exim_wait_received good "$tag" 10) && exim_wait_completed good "$mxid" 10
	dl=$(o_mta_deliveries sender "$O_ID")
	if [ -n "$mxid" ] && cmp=$(t_compare "$(exim_stored good "$mxid")" "$T_WORK/msg/$tag.eml") &&
	    ! o_mta_queued sender "$O_ID" && printf '%s\n' "$dl" | grep -q -F "id=$mxid"; then
		ok "sending Exim -M: delivered to the MX, byte-exact, queue empty, MX's reply logged ($cmp)"
	else
		not_ok "sending Exim -M: delivered to the MX, byte-exact, queue empty" "${cmp:-}" "${dl:-no => line}" \
		    "$(o_mta_log_since sender | tail -n 5)" "$(o_mta_queue sender)"
	fi
	line=$(exim_received_line good "${mxid:-none}")
	if printf '%s\n' "$line" | grep -q -F ' H=(sender.test) [127.0.0.30]:'; then
		ok "sending Exim: EHLO sender.test from its interface 127.0.0.30"
	else
		not_ok "sending Exim: EHLO sender.test from its interface 127.0.0.30" "${line:-no <= line}"
	fi
fi

tag=mta-defer-$$
if o_case sender - "$tag" 4096 rcpt@defer.test; then
	d=$(o_mta_defers sender "$O_ID")
	if o_mta_queued sender "$O_ID" && [ "$(o_mta_pending sender "$O_ID")" = rcpt@defer.test ] &&
	    printf '%s\n' "$d" | grep -q -F '451 4.7.0 fake policy failure'; then
		ok "sending Exim: a 451 to RCPT keeps the message queued, the reason is logged"
	else
		not_ok "sending Exim: a 451 to RCPT keeps the message queued, the reason is logged" "${d:-no == line}" \
		    "$(o_mta_queue sender)"
	fi
	o_mta_queue_run sender
	if o_mta_queued sender "$O_ID" && [ "$(o_mta_bounces sender)" = 0 ]; then
		ok "sending Exim -qff: still queued after a forced queue run, no bounce"
	else
		not_ok "sending Exim -qff: still queued after a forced queue run, no bounce" "$(o_mta_queue sender)" \
		    "bounces: $(o_mta_bounces sender)"
	fi
	DEFER_ID=$O_ID
fi

tag=mta-twodom-$$
# The MX answers 452 4.5.3 to the second domain's RCPT; Exim 4.96 sends that
# recipient in a second transaction, on the same connection at once or at
# its next delivery attempt.
if o_case sender - "$tag" 4096 rcpt@a.test rcpt@b.test; then
	if o_mta_queued sender "$O_ID"; then
		d=$(o_mta_defers sender "$O_ID")
		if [ "$(o_mta_pending sender "$O_ID" | wc -l)" = 1 ] && printf '%s\n' "$d" | grep -q -F '452 4.5.3'; then
			ok "sending Exim: the second domain's RCPT gets 452 4.5.3 and waits for the next attempt"
		else
			not_ok "sending Exim: the second domain's RCPT gets 452 4.5.3 and waits for the next attempt" \
			    "${d:-no == line}" "$(o_mta_queue sender)"
		fi
		o_mta_deliver sender "$O_ID"
	else
		t_note "sending Exim sent the refused recipient in a second transaction on the same connection"
	fi
	n=$(o_mxhost_count onedom "$tag")
	r=$(grep -c -E 'temporarily rejected RCPT <rcpt@[ab]\.test>: 452 4\.5\.3' "$(exim_log onedom)")
	if ! o_mta_queued sender "$O_ID" && [ "$n" = 2 ] && [ "$r" = 1 ]; then
		ok "sending Exim: the recipient refused with 452 4.5.3 goes out in a second transaction"
	else
		not_ok "sending Exim: the recipient refused with 452 4.5.3 goes out in a second transaction" \
		    "copies at the MX: $n, 452 given: $r" "$(o_mta_queue sender)" "$(o_mta_log_since sender | tail -n 6)"
	fi
fi
ids=$(o_mta_queued_ids sender | tr '\n' ' ')
if [ "$ids" = "${DEFER_ID:-x} " ]; then
	ok "sending Exim -bp: only the deferred message is left ($ids)"
else
	not_ok "sending Exim -bp: only the deferred message is left" "queue: $ids" "want: ${DEFER_ID:-?}"
fi
o_mta_stop sender
o_mxhost_stop onedom
o_peer_stop defer

# ---------------------------------------------------------------- REDIRECT in a network namespace
# Inside: dnsmasq on 127.0.0.1:53 (Exim's resolver), the good MX on
# 127.0.0.41:25, a catcher (fake_mx, which logs SO_ORIGINAL_DST) on
# 127.0.0.1:10025, the sending Exim routing by MX records.
redirect_round() { # VARIANT (nft | iptables)
	local v=$1 ns=rd-$1 tag out ipt
	if ! o_ns_create "$ns" 2>"$T_WORK/ns.err"; then
		not_ok "[$v] network namespace created" "$(cat "$T_WORK/ns.err")"
		return 1
	fi
	o_ns_use "$ns"
	O_SF_ADDR=
	o_dns_reset
	o_world_zone
	if ! { o_dns_start "$ns" 127.0.0.1 53 && o_mxhost_start "ns-$v" 127.0.0.41 smtp=25 smtps=26 cert=good \
	    hostname=starttls-mx1.good.test && o_peer_start "catch-$v" fake_mx 127.0.0.1:10025 -m nostarttls &&
	    o_mta_start "nsmta-$v" 127.0.0.30 587 route=dns port=25 interface=127.0.0.30; } 2>"$T_WORK/ns-$v.err"; then
		not_ok "[$v] dnsmasq, MX, catcher and sending Exim start in the namespace" "$(cat "$T_WORK/ns-$v.err")"
		return 1
	fi
	ok "[$v] dnsmasq (:53), MX (127.0.0.41:25/26), catcher and sending Exim start in the namespace"

	tag=ns-$v-direct-$$
	o_case "nsmta-$v" - "$tag" 4096 rcpt@good.test || return 1
	if [ "$(o_mxhost_count "ns-$v" "$tag")" = 1 ] && ! o_mta_queued "nsmta-$v" "$O_ID" &&
	    o_mta_deliveries "nsmta-$v" "$O_ID" | grep -q -F 'H=starttls-mx1.good.test [127.0.0.41]:25 '; then
		ok "[$v] without a rule the sending Exim resolves the MX through dnsmasq and delivers to 127.0.0.41:25"
	else
		not_ok "[$v] without a rule the sending Exim delivers to 127.0.0.41:25" \
		    "$(o_mta_log_since "nsmta-$v" | tail -n 5)" "$(tail -n 5 "$(o_dns_log "$ns")")"
	fi

	if [ "$v" = nft ]; then
		o_run nft -f - >"$T_WORK/nft.err" 2>&1 <<-EOF
			table ip mxgate_test {
			  chain output {
			    type nat hook output priority -100; policy accept;
			    meta skuid $EXIM_UID tcp dport 25 counter redirect to :10025
			  }
			}
		EOF
	else
		ipt=iptables-legacy
		command -v "$ipt" >/dev/null 2>&1 || ipt=iptables
		o_run "$ipt" -t nat -A OUTPUT -p tcp --dport 25 -m owner --uid-owner "$EXIM_UID" \
		    -j REDIRECT --to-ports 10025 >"$T_WORK/nft.err" 2>&1
	fi
	if [ $? = 0 ]; then
		ok "[$v] REDIRECT rule for uid $EXIM_UID (Debian-exim), tcp dport 25 -> :10025"
	else
		not_ok "[$v] REDIRECT rule for uid $EXIM_UID (Debian-exim), tcp dport 25 -> :10025" "$(cat "$T_WORK/nft.err")"
		return 1
	fi

	tag=ns-$v-redir-$$
	o_case "nsmta-$v" - "$tag" 4096 rcpt@good.test || return 1
	out=$(grep -E '^[0-9]+ CONNECT ' "$(o_peer_log "catch-$v")")
	if [ "$(o_mxhost_count "ns-$v" "$tag")" = 0 ] && ! o_mta_queued "nsmta-$v" "$O_ID" &&
	    printf '%s\n' "$out" | grep -q -E 'from=127\.0\.0\.30:[0-9]+ to=127\.0\.0\.1:10025 orig_dst=127\.0\.0\.41:25$'; then
		ok "[$v] the sending Exim's connection to 127.0.0.41:25 lands on :10025, original destination readable"
	else
		not_ok "[$v] the sending Exim's connection to 127.0.0.41:25 lands on :10025" "catcher: ${out:-nothing}" \
		    "MX copies: $(o_mxhost_count "ns-$v" "$tag")" "$(o_mta_log_since "nsmta-$v" | tail -n 4)"
	fi

	tag=ns-$v-root-$$
	t_message 2048 "$tag"
	o_run timeout 60 swaks --server 127.0.0.41 --port 25 --local-interface 127.0.0.99 --helo root.test \
	    --from root@client.test --to rcpt@good.test --no-data-fixup --suppress-data \
	    --data "@$T_WORK/msg/$tag.wire" >"$T_WORK/swaks-$tag.out" 2>&1 </dev/null
	if [ "$(o_mxhost_count "ns-$v" "$tag")" = 1 ] &&
	    ! grep -q 'from=127\.0\.0\.99:' "$(o_peer_log "catch-$v")"; then
		ok "[$v] root's connection to 127.0.0.41:25 is not redirected"
	else
		not_ok "[$v] root's connection to 127.0.0.41:25 is not redirected" "$(tail -n 6 "$T_WORK/swaks-$tag.out")" \
		    "$(tail -n 4 "$(o_peer_log "catch-$v")")"
	fi
	if [ "$v" = nft ]; then
		out=$(o_run nft list table ip mxgate_test 2>&1)
		if printf '%s\n' "$out" | grep -q -E 'counter packets 1 '; then
			ok "[$v] the rule matched exactly one connection"
		else
			not_ok "[$v] the rule matched exactly one connection" "$out"
		fi
	fi
	o_mta_stop "nsmta-$v"
	o_mxhost_stop "ns-$v"
	o_peer_stop "catch-$v"
	o_dns_stop "$ns"
	o_ns_use -
	o_ns_destroy "$ns"
	if [ -z "$(ps -eo pid= -o args= | grep -E "[e]xim-(ns|nsmta)-$v/exim\.conf")" ]; then
		ok "[$v] everything in the namespace stopped"
	else
		not_ok "[$v] everything in the namespace stopped" "$(ps -eo pid= -o args= | grep -E "[e]xim-(ns|nsmta)-$v/")"
	fi
}
redirect_round nft
o_ns_use -
redirect_round iptables
o_ns_use -

t_done

#!/bin/bash
# Inbound gateway end to end:
#   swaks / openssl s_client / raw client (127.0.0.x)
#     -> mxgate: listen_smtps (implicit TLS) and listen_starttls on 127.0.0.1,
#        certificates mx1.test (ECDSA, default) and mx2.test (RSA), PROXY v2
#     -> a real Exim on 127.0.0.10 with hosts_proxy = 127.0.0.1
# Checks delivery over TLS 1.3 and 1.2, STARTTLS advertisement, SNI,
# byte-exact bodies up to 20 MiB, the client address Exim logs, STARTTLS
# command injection, and a plaintext client on the implicit TLS port.
. "$(dirname "$0")/../lib.sh"
t_init inbound
mx_have || t_done
if ! t_certs >"$T_WORK/certs.err" 2>&1; then
	not_ok "inbound: test CA and certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

BACKEND=127.0.0.10
GW=127.0.0.1
t_free_port BPORT
t_free_port SMTPS
t_free_port STLS

if ! exim_start main "$BACKEND" "$BPORT" proxy=127.0.0.1 2>"$T_WORK/exim-start.err"; then
	not_ok "inbound: Exim backend starts on $BACKEND:$BPORT" "$(cat "$T_WORK/exim-start.err")"
	t_done
fi
ELOG=$(exim_log main)

cat >"$(mx_conf gw)" <<EOF
# inbound gateway under test
workers 1
log_level debug
listen_smtps $GW:$SMTPS
listen_starttls $GW:$STLS
backend $BACKEND:$BPORT
backend_client_address proxy-v2
tls_certificate $T_MX1_CHAIN $T_MX1_KEY
tls_certificate $T_MX2_CHAIN $T_MX2_KEY
handshake_timeout 10
idle_timeout 60
connect_timeout 5
command_timeout 120
EOF
MLOG=$(mx_log gw)

if mx_start gw 2>"$T_WORK/mx-start.err"; then
	ok "mxgate[gw] starts and listens on $GW:$SMTPS (smtps) and $GW:$STLS (starttls)"
else
	not_ok "mxgate[gw] starts and listens on $GW:$SMTPS (smtps) and $GW:$STLS (starttls)" \
	    "$(cat "$T_WORK/mx-start.err")"
	t_done
fi
if line=$(t_wait_grep "$MLOG" '^id=- .*event=start( |$)' 5); then
	ok "mxgate[gw] logs its start line (id=- event=start)"
else
	not_ok "mxgate[gw] logs its start line (id=- event=start)" "$(head -n 5 "$MLOG")"
fi

# ---------------------------------------------------------------- deliveries
#
# deliver LABEL MODE SIZE [SWAKS ARGS...]
# One message from a fresh client address through mxgate into Exim; checks
# that it was accepted, stored byte-exact and logged by Exim with the real
# client address.  Leaves D_SRC, D_OUT (swaks transcript), D_SID (mxgate
# session id, when found) and D_OK (1 when accepted) for further checks.
deliver() {
	local label=$1 mode=$2 size=$3 port tag rc id detail got line
	shift 3
	case $mode in smtps) port=$SMTPS ;; *) port=$STLS ;; esac
	t_client_addr D_SRC
	D_SID=
	D_OK=0
	tag=$label-$$
	D_OUT=$T_WORK/swaks-$tag.out
	D_NAME="$label ($mode, $size bytes, from $D_SRC)"
	if ! t_message "$size" "$tag"; then
		not_ok "$D_NAME: test message generated"
		return
	fi
	t_swaks "$mode" "$D_SRC" "$GW" "$port" "$T_WORK/msg/$tag.wire" "$D_OUT" "$@"
	rc=$?
	D_SID=$(mx_sid gw "$D_SRC" 2)
	if [ "$rc" = 0 ] && swaks_accepted "$D_OUT"; then
		D_OK=1
		ok "$D_NAME: accepted (250 relayed from Exim)"
	else
		not_ok "$D_NAME: accepted (250 relayed from Exim)" "swaks exit status $rc" \
		    "$(grep -v '^ [-~]> [0-9]* lines sent' "$D_OUT" | tail -n 12)" \
		    "mxgate: $(grep "^id=${D_SID:-none} " "$MLOG" | tail -n 4)"
		return
	fi
	if ! id=$(exim_wait_received main "$tag" $((30 * T_SLOW))) || [ -z "$id" ]; then
		not_ok "$D_NAME: stored byte-exact in Exim" "no <= line for id=$tag@mxgate.test" "$(tail -n 5 "$ELOG")"
		return
	fi
	if ! exim_wait_completed main "$id" 60; then
		not_ok "$D_NAME: stored byte-exact in Exim" "delivery of $id not completed" "$(grep -F "$id" "$ELOG")"
	elif detail=$(t_compare "$(exim_stored main "$id")" "$T_WORK/msg/$tag.eml"); then
		ok "$D_NAME: stored byte-exact in Exim ($detail)"
	else
		not_ok "$D_NAME: stored byte-exact in Exim" "$detail"
	fi
	line=$(exim_received_line main "$id")
	got=$(exim_client main "$id")
	if [ "$got" = "$D_SRC" ] && printf '%s\n' "$line" | grep -q 'PRX=\[\?127\.0\.0\.1'; then
		ok "$D_NAME: Exim logged client $D_SRC (PRX=127.0.0.1), not the gateway"
	else
		not_ok "$D_NAME: Exim logged client $D_SRC (PRX=127.0.0.1), not the gateway" "$line"
	fi
}

# check_tls LISTENER VERSION SNI CERT: mxgate's log for session D_SID.
check_tls() {
	local listener=$1 version=$2 sni=$3 cert=$4 acc tls want got
	if [ -z "$D_SID" ]; then
		not_ok "$D_NAME: mxgate logged accept listener=$listener and tls version=$version sni=$sni cert=$cert" \
		    "no event=accept line with client=$D_SRC:port"
		return
	fi
	acc=$(mx_event gw "$D_SID" accept 1)
	tls=$(mx_event gw "$D_SID" tls 5)
	want="$listener $version $sni $cert"
	got="$(kv "$acc" listener) $(kv "$tls" version) $(kv "$tls" sni) $(kv "$tls" cert)"
	if [ "$want" = "$got" ] && [ -n "$(kv "$tls" cipher)" ]; then
		ok "$D_NAME: mxgate logged accept listener=$listener and tls version=$version sni=$sni cert=$cert"
	else
		not_ok "$D_NAME: mxgate logged accept listener=$listener and tls version=$version sni=$sni cert=$cert" \
		    "$acc" "$tls"
	fi
	got=$(swaks_tls_version "$D_OUT")
	if [ "$got" = "$version" ]; then
		ok "$D_NAME: client negotiated $version"
	else
		not_ok "$D_NAME: client negotiated $version" "swaks: $(grep '^=== TLS' "$D_OUT")"
	fi
}

# check_session_end: backend line and a clean close for session D_SID.
check_session_end() {
	local be cl
	be=$(mx_event gw "${D_SID:-none}" backend 1)
	cl=$(mx_event gw "${D_SID:-none}" close $((10 * T_SLOW)))
	if [ "$(kv "$be" backend)" = "$BACKEND:$BPORT" ] && [ "$(kv "$be" client_address)" = proxy-v2 ] &&
	    [ "$(kv "$cl" reason)" = "done" ]; then
		ok "$D_NAME: mxgate logged backend=$BACKEND:$BPORT client_address=proxy-v2 and close reason=done"
	else
		not_ok "$D_NAME: mxgate logged backend=$BACKEND:$BPORT client_address=proxy-v2 and close reason=done" \
		    "backend: ${be:-none}" "close: ${cl:-none}"
	fi
}

# STARTTLS in the EHLO reply the client saw before TLS (exactly once), and
# not in the reply to the EHLO after TLS.
check_starttls_advertised() {
	local before after
	before=$(grep -c -i -E '^<-  250[- ]STARTTLS[[:space:]]*$' "$D_OUT")
	after=$(grep -c -i -E '^<~  250[- ]STARTTLS[[:space:]]*$' "$D_OUT")
	if [ "$before" = 1 ]; then
		ok "$D_NAME: EHLO reply before TLS offers STARTTLS exactly once"
	else
		not_ok "$D_NAME: EHLO reply before TLS offers STARTTLS exactly once" \
		    "STARTTLS lines: $before" "$(grep -E '^<-  250' "$D_OUT")"
	fi
	if [ "$after" = 0 ]; then
		ok "$D_NAME: EHLO reply after TLS does not offer STARTTLS"
	else
		not_ok "$D_NAME: EHLO reply after TLS does not offer STARTTLS" "$(grep -E '^<~  250' "$D_OUT")"
	fi
}

KiB=1024
MiB=1048576

deliver smtps-tls13-1k smtps $KiB --tls-protocol tlsv1_3
check_tls smtps TLSv1.3 - mx1.test
check_session_end

deliver smtps-tls12-sni-mx2-1k smtps $KiB --tls-protocol tlsv1_2 --tls-sni mx2.test
check_tls smtps TLSv1.2 mx2.test mx2.test
check_session_end

deliver smtps-1m smtps $MiB
check_tls smtps TLSv1.3 - mx1.test

deliver smtps-20m smtps $((20 * MiB))
check_tls smtps TLSv1.3 - mx1.test
check_session_end

deliver starttls-1k starttls $KiB --tls-protocol tlsv1_3
check_starttls_advertised
check_tls starttls TLSv1.3 - mx1.test
check_session_end

deliver starttls-tls12-1m starttls $MiB --tls-protocol tlsv1_2
check_tls starttls TLSv1.2 - mx1.test

deliver starttls-20m starttls $((20 * MiB))
check_tls starttls TLSv1.3 - mx1.test
check_session_end

# ---------------------------------------------------------------- SNI
#
# sni MODE SERVERNAME EXPECTED-NAME KEYTYPE: openssl s_client sees the
# certificate for EXPECTED-NAME (SAN DNS:EXPECTED-NAME, key KEYTYPE) and it
# verifies against the test CA with -verify_hostname EXPECTED-NAME; mxgate
# logs sni=SERVERNAME cert=EXPECTED-NAME.
sni() {
	local mode=$1 servername=$2 want=$3 keytype=$4 args name out cert subj san key vrc n0 tls keytype_re i
	name="sni: $mode, servername ${servername/-/(none)}: certificate $want ($keytype) verified against the test CA"
	args=(-connect "$GW:$([ "$mode" = smtps ] && echo "$SMTPS" || echo "$STLS")"
	    -CAfile "$T_CA" -verify_hostname "$want")
	[ "$mode" = starttls ] && args+=(-starttls smtp -name sni-client.test)
	if [ "$servername" = - ]; then args+=(-noservername); else args+=(-servername "$servername"); fi
	n0=$(t_count "$MLOG" ' event=tls( |$)')
	out=$(timeout 30 openssl s_client "${args[@]}" </dev/null 2>&1)
	cert=$(printf '%s\n' "$out" | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p')
	if [ -z "$cert" ]; then
		not_ok "$name" "no certificate received" "$(printf '%s\n' "$out" | head -n 15)"
	else
		subj=$(printf '%s\n' "$cert" | openssl x509 -noout -subject -nameopt RFC2253 2>&1)
		san=$(printf '%s\n' "$cert" | openssl x509 -noout -ext subjectAltName 2>&1 | tail -n +2 | tr -d ' ')
		key=$(printf '%s\n' "$cert" | openssl x509 -noout -text 2>&1 | sed -n 's/^ *Public Key Algorithm: *//p')
		vrc=$(printf '%s\n' "$out" | grep -m1 'Verify return code:')
		case $keytype in
		ECDSA) keytype_re='id-ecPublicKey' ;;
		*) keytype_re=rsaEncryption ;;
		esac
		if [ "$san" = "DNS:$want" ] && printf '%s' "$subj" | grep -q "CN=$want" &&
		    [ "$key" = "$keytype_re" ] && printf '%s' "$vrc" | grep -q 'Verify return code: 0 (ok)'; then
			ok "$name"
		else
			not_ok "$name" "subject: $subj" "SAN: $san" "key: $key" "${vrc:-no verify result}"
		fi
	fi
	# mxgate's tls line for that session: the newest one
	for ((i = 0; i < 50; i++)); do
		[ "$(t_count "$MLOG" ' event=tls( |$)')" -gt "$n0" ] && break
		sleep 0.1
	done
	tls=$(grep -E ' event=tls( |$)' "$MLOG" | tail -n 1)
	if [ "$(t_count "$MLOG" ' event=tls( |$)')" -gt "$n0" ] &&
	    [ "$(kv "$tls" sni)" = "$servername" ] && [ "$(kv "$tls" cert)" = "$want" ]; then
		ok "sni: $mode, servername ${servername/-/(none)}: mxgate logged sni=$servername cert=$want"
	else
		not_ok "sni: $mode, servername ${servername/-/(none)}: mxgate logged sni=$servername cert=$want" \
		    "newest tls line: ${tls:-none}"
	fi
}

sni smtps mx1.test mx1.test ECDSA
sni smtps mx2.test mx2.test RSA
sni smtps - mx1.test ECDSA
sni starttls mx1.test mx1.test ECDSA
sni starttls mx2.test mx2.test RSA
sni starttls - mx1.test ECDSA

# ---------------------------------------------------------------- RSA signatures
#
# On a CPU with AVX-512 IFMA, mxgate makes its RSA-2048 signatures with
# its own code (proxy/rsa52.c) and says so on its start line; either way
# the client must accept them: PSS in TLS 1.3 (the SNI checks above) and
# TLS 1.2, and PKCS #1 v1.5 in TLS 1.2.
if grep -qw avx512ifma /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo; then
	want_signer=ifma
else
	want_signer=wolfssl
fi
start=$(grep -m1 -E '^id=- .*event=start( |$)' "$MLOG")
if [ "$(kv "$start" rsa_sign)" = "$want_signer" ]; then
	ok "start line: rsa_sign=$want_signer on this CPU"
else
	not_ok "start line: rsa_sign=$want_signer on this CPU" "start line: ${start:-none}"
fi
for sigalg in RSA-PSS+SHA256 RSA+SHA256; do
	name="TLS 1.2 with mx2.test (RSA), signature $sigalg: the client verifies it"
	out=$(timeout 30 openssl s_client -connect "$GW:$SMTPS" -servername mx2.test \
	    -CAfile "$T_CA" -verify_hostname mx2.test -tls1_2 -sigalgs "$sigalg" \
	    </dev/null 2>&1)
	if printf '%s\n' "$out" | grep -q 'Verify return code: 0 (ok)' &&
	    printf '%s\n' "$out" | grep -Eq 'Cipher is ECDHE-RSA-|Cipher *: ECDHE-RSA-' &&
	    printf '%s\n' "$out" | grep -q "Peer signature type: ${sigalg%%+*}"; then
		ok "$name"
	else
		not_ok "$name" "$(printf '%s\n' "$out" | grep -E 'Verify return|Cipher|signature|error|alert' | head -n 8)"
	fi
done

# ---------------------------------------------------------------- STARTTLS injection
#
# The client pipelines a command behind STARTTLS in the same packet.  The
# gateway must drop the connection without answering 220, and the backend
# must never see the command.
t_client_addr SRC
before_mail=$(t_count "$ELOG" 'evil@attacker\.test')
out=$(t_raw "$SRC" "$GW:$STLS" 10 reply "send:EHLO inject.test\r\n" reply \
    "send:STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\n" drain:10)
after_cmd=$(printf '%s\n' "$out" | sed -n '/^C: STARTTLS/,$p')
if printf '%s\n' "$out" | grep -q '^S: 220 ' && printf '%s\n' "$out" | grep -q -E '^S: 250[ -]'; then
	if printf '%s\n' "$after_cmd" | grep -q -E '^S: [0-9]{3}'; then
		not_ok "injection: STARTTLS with a pipelined command gets no reply" "$after_cmd"
	else
		ok "injection: STARTTLS with a pipelined command gets no reply"
	fi
	if printf '%s\n' "$after_cmd" | grep -q '^EOF$'; then
		ok "injection: the gateway closes the connection"
	else
		not_ok "injection: the gateway closes the connection" "$after_cmd"
	fi
else
	not_ok "injection: STARTTLS with a pipelined command gets no reply" "no greeting or EHLO reply before the test" "$out"
	not_ok "injection: the gateway closes the connection" "not reached"
fi
sid=$(mx_sid gw "$SRC" 2)
cl=$(mx_event gw "${sid:-none}" close 10)
if [ "$(kv "$cl" reason)" = starttls-injection ]; then
	ok "injection: mxgate logged close reason=starttls-injection"
else
	not_ok "injection: mxgate logged close reason=starttls-injection" "close: ${cl:-none}" \
	    "$(grep "^id=${sid:-none} " "$MLOG")"
fi
nomail=$(t_wait_grep "$ELOG" "no MAIL in SMTP connection from .*\[$(t_re "$SRC")\]" 15)
if [ -n "$nomail" ] && [ "$(t_count "$ELOG" 'evil@attacker\.test')" = "$before_mail" ] &&
    ! printf '%s\n' "$nomail" | grep -q -E 'C=[^ ]*(MAIL|STARTTLS)'; then
	ok "injection: Exim never saw the MAIL command (no MAIL in the session from $SRC)"
else
	not_ok "injection: Exim never saw the MAIL command (no MAIL in the session from $SRC)" \
	    "no-MAIL line: ${nomail:-none}" "$(grep -F "$SRC" "$ELOG")" "$(grep -F 'evil@attacker' "$ELOG")"
fi

# ---------------------------------------------------------------- plaintext on the TLS port
t_client_addr SRC
conn0=$(t_count "$ELOG" 'SMTP connection from')
out=$(t_raw "$SRC" "$GW:$SMTPS" 15 drain:2 "send:EHLO plain.test\r\n" drain:15)
if printf '%s\n' "$out" | grep -q -E '^S: [0-9]{3}([ -]|$)'; then
	not_ok "plaintext on the smtps port: no SMTP greeting or reply" "$out"
else
	ok "plaintext on the smtps port: no SMTP greeting or reply"
fi
if printf '%s\n' "$out" | grep -q '^EOF$'; then
	ok "plaintext on the smtps port: the gateway closes the connection"
else
	not_ok "plaintext on the smtps port: the gateway closes the connection" "$out"
fi
sid=$(mx_sid gw "$SRC" 2)
cl=$(mx_event gw "${sid:-none}" close 10)
if [ "$(kv "$cl" reason)" = tls-handshake-failed ]; then
	ok "plaintext on the smtps port: mxgate logged close reason=tls-handshake-failed"
else
	not_ok "plaintext on the smtps port: mxgate logged close reason=tls-handshake-failed" "close: ${cl:-none}" \
	    "$(grep "^id=${sid:-none} " "$MLOG")"
fi
sleep 1
if [ "$(t_count "$ELOG" 'SMTP connection from')" = "$conn0" ] && ! grep -q -F "[$SRC]" "$ELOG"; then
	ok "plaintext on the smtps port: Exim saw no connection"
else
	not_ok "plaintext on the smtps port: Exim saw no connection" "$(tail -n 4 "$ELOG")"
fi

# ---------------------------------------------------------------- end
mx_stop gw
exim_stop main
t_done

#!/bin/bash
# Outbound enforcement, transparent mode, in a private network namespace
# (one per round): the sending Exim routes by MX records (dnsmasq on
# 127.0.0.1:53, its resolver) and connects to port 25 of the MX hosts; a
# REDIRECT rule sends those connections to mxgate's listen_outbound, and
# mxgate, reading the original destination with SO_ORIGINAL_DST, delivers
# as the MX prefix demands to the MX hosts on 25/26.  mxgate runs as root:
# its own upstream connections must not be redirected.
#
# Rounds:  nft       nft "meta skuid <Exim uid>" redirect
#          iptables  iptables "-m owner --uid-owner <Exim uid>" REDIRECT
#          mark      nft redirect of every port-25 connection except those
#                    carrying mark 1 (mxgate's outbound_mark 1)
# Each round:
#   starttls- MX, valid certificate  delivered over STARTTLS on 25, verified
#   smtps- MX                        delivered over implicit TLS on 26
#   starttls- MX without STARTTLS    451 4.7.x, stays queued, no MAIL sent
#   then a forced queue run: the queue holds exactly the deferred message;
#   no loop: every session mxgate accepted came from the sending Exim, as
#   many as the rule redirected, and the MX saw mxgate's own address.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../outbound.sh"
t_init outbound-transparent
mx_have || t_done
missing=
for c in nft nsenter ip dnsmasq; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
command -v iptables-legacy >/dev/null 2>&1 || command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
for p in fake_mx strip_proxy; do
	o_peer_have "$p" || missing="$missing $O_PEERDIR/$p"
done
if [ -n "$missing" ]; then
	not_ok "transparent: tools and fake peers present" "missing:$missing"
	t_done
fi
if ! { t_certs && o_world_certs; } >"$T_WORK/certs.err" 2>&1; then
	not_ok "transparent: certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi
o_exim_prepare || { not_ok "transparent: Exim available" "$EXIM_BIN"; t_done; }

OPORT=10025

# accepted_from GATE: "client" address of every accept line, one a line
accepted_from() {
	grep -E '^id=[0-9a-f]{16} .*event=accept( |$)' "$(mx_log "$1")" | while read -r l; do
		o_kv "$l" client
	done
}

round() { # VARIANT
	local v=$1 ns=tp-$1 gw=tp-$1 mta=mta-$1 tag line GL sid acc dl cmp mxid n a c ipt deferred=''
	if ! o_ns_create "$ns" 2>"$T_WORK/ns-$v.err"; then
		not_ok "[$v] network namespace created" "$(cat "$T_WORK/ns-$v.err")"
		return 1
	fi
	o_ns_use "$ns"
	O_SF_ADDR=
	o_dns_reset
	o_world_zone
	if ! { o_dns_start "$ns" 127.0.0.1 53 && o_world_start 25 26 good smtps notls; } 2>"$T_WORK/world-$v.err"; then
		not_ok "[$v] dnsmasq and MX hosts start in the namespace" "$(cat "$T_WORK/world-$v.err")"
		return 1
	fi
	{
		cat <<-EOF
			workers 1
			log_level debug
			listen_outbound 127.0.0.1:$OPORT
			outbound_mode transparent
			dns_servers 127.0.0.1:53
			ca_file $T_CA
			default_policy may
			remote_smtp_port 25
			remote_smtps_port 26
			connect_timeout 5
			handshake_timeout 10
			command_timeout 30
		EOF
		[ "$v" = mark ] && echo "outbound_mark 1"
	} >"$(mx_conf "$gw")"
	if o_gate_start "$gw" 2>"$T_WORK/$gw.err"; then
		ok "[$v] mxgate starts in the namespace (transparent, 127.0.0.1:$OPORT)"
	else
		not_ok "[$v] mxgate starts in the namespace (transparent, 127.0.0.1:$OPORT)" "$(cat "$T_WORK/$gw.err")"
		return 1
	fi
	if ! o_mta_start "$mta" 127.0.0.30 587 route=dns port=25 interface=127.0.0.30 2>"$T_WORK/$mta.err"; then
		not_ok "[$v] the sending Exim starts" "$(cat "$T_WORK/$mta.err")"
		return 1
	fi
	case $v in
	nft)
		o_run nft -f - >"$T_WORK/rule-$v.err" 2>&1 <<-EOF
			table ip mxgate_test {
			  chain output {
			    type nat hook output priority -100; policy accept;
			    meta skuid $EXIM_UID tcp dport 25 counter redirect to :$OPORT
			  }
			}
		EOF
		;;
	iptables)
		ipt=iptables-legacy
		command -v "$ipt" >/dev/null 2>&1 || ipt=iptables
		o_run "$ipt" -t nat -A OUTPUT -p tcp --dport 25 -m owner --uid-owner "$EXIM_UID" \
		    -j REDIRECT --to-ports "$OPORT" >"$T_WORK/rule-$v.err" 2>&1
		;;
	mark)
		o_run nft -f - >"$T_WORK/rule-$v.err" 2>&1 <<-EOF
			table ip mxgate_test {
			  chain output {
			    type nat hook output priority -100; policy accept;
			    meta mark 0x1 counter return
			    tcp dport 25 counter redirect to :$OPORT
			  }
			}
		EOF
		;;
	esac
	if [ $? = 0 ]; then
		ok "[$v] REDIRECT rule installed"
	else
		not_ok "[$v] REDIRECT rule installed" "$(cat "$T_WORK/rule-$v.err")"
		return 1
	fi

	# starttls-, valid certificate
	tag=tp-$v-good-$$
	o_gate_ensure "$gw" start-up || return 1
	if o_case "$mta" "$gw" "$tag" 131072 rcpt@good.test; then
		mxid=$(exim_wait_received good "$tag" $((10 * T_SLOW))) && exim_wait_completed good "$mxid" 10
		line=$(exim_received_line good "${mxid:-none}")
		if [ -n "$mxid" ] && cmp=$(t_compare "$(exim_stored good "$mxid")" "$T_WORK/msg/$tag.eml") &&
		    ! o_mta_queued "$mta" "$O_ID"; then
			ok "[$v] starttls- MX: delivered byte-exact, the MTA's queue is empty ($cmp)"
		else
			not_ok "[$v] starttls- MX: delivered byte-exact, the MTA's queue is empty" "${cmp:-not received}" \
			    "$(o_mta_log_since "$mta" | tail -n 5)" "$(o_gate_since "$gw" | tail -n 12)"
		fi
		if printf '%s\n' "$line" | grep -q -F ' I=[127.0.0.41]:25 ' && printf '%s\n' "$line" | grep -q ' X=TLS1\.3:' &&
		    printf '%s\n' "$line" | grep -q -F ' H=(sender.test) [127.0.0.1]:'; then
			ok "[$v] starttls- MX: reached 127.0.0.41:25 over TLS 1.3 from mxgate (127.0.0.1), EHLO sender.test"
		else
			not_ok "[$v] starttls- MX: reached 127.0.0.41:25 over TLS 1.3 from mxgate (127.0.0.1), EHLO sender.test" \
			    "${line:-no <= line}"
		fi
		GL=$(o_gate_delivery "$gw" good.test $((10 * T_SLOW)))
		o_expect_kv "[$v] starttls- MX: mxgate logs the delivery" "$GL" mx=starttls-mx1.good.test prefix=starttls \
		    policy=verify port=25 tls=TLSv1.3 verify=ok dnssec=insecure result=sent
		sid=$(o_sid "$GL")
		acc=$(o_gate_session "$gw" "${sid:-none}" | grep -E ' event=accept( |$)' | head -n 1)
		o_expect_kv "[$v] starttls- MX: accepted from the MTA with the original destination" "$acc" \
		    listener=outbound 'client=127\.0\.0\.30:[0-9]+' 'orig_dst=127\.0\.0\.41:25'
	fi

	# smtps-: implicit TLS on 26
	tag=tp-$v-smtps-$$
	o_gate_ensure "$gw" "the starttls- delivery" || return 1
	if o_case "$mta" "$gw" "$tag" 8192 rcpt@smtps.test; then
		mxid=$(exim_wait_received smtps "$tag" $((10 * T_SLOW))) && exim_wait_completed smtps "$mxid" 10
		line=$(exim_received_line smtps "${mxid:-none}")
		if [ -n "$mxid" ] && cmp=$(t_compare "$(exim_stored smtps "$mxid")" "$T_WORK/msg/$tag.eml") &&
		    ! o_mta_queued "$mta" "$O_ID" && printf '%s\n' "$line" | grep -q -F ' I=[127.0.0.42]:26 ' &&
		    printf '%s\n' "$line" | grep -q ' X=TLS1\.3:'; then
			ok "[$v] smtps- MX: delivered byte-exact over implicit TLS on 127.0.0.42:26 ($cmp)"
		else
			not_ok "[$v] smtps- MX: delivered byte-exact over implicit TLS on 127.0.0.42:26" "${cmp:-not received}" \
			    "${line:-no <= line}" "$(o_mta_log_since "$mta" | tail -n 5)" "$(o_gate_since "$gw" | tail -n 12)"
		fi
		GL=$(o_gate_delivery "$gw" smtps.test $((10 * T_SLOW)))
		o_expect_kv "[$v] smtps- MX: mxgate logs port=26" "$GL" mx=smtps-mx1.good.test prefix=smtps policy=verify \
		    port=26 tls=TLSv1.3 verify=ok result=sent
		sid=$(o_sid "$GL")
		acc=$(o_gate_session "$gw" "${sid:-none}" | grep -E ' event=accept( |$)' | head -n 1)
		o_expect_kv "[$v] smtps- MX: original destination 127.0.0.42:25" "$acc" 'orig_dst=127\.0\.0\.42:25'
	fi

	# starttls- without STARTTLS: the downgrade is refused
	tag=tp-$v-notls-$$
	o_gate_ensure "$gw" "the smtps- delivery" || return 1
	if o_case "$mta" "$gw" "$tag" 4096 rcpt@starttls-notls.test; then
		deferred=$O_ID
		dl=$(o_mta_defers "$mta" "$O_ID")
		if o_mta_queued "$mta" "$O_ID" &&
		    printf '%s\n' "$dl" | grep -q -E 'after (pipelined )?RCPT TO:<[^>]*>: 451[ -]4\.7\.[0-9]{1,3} .*starttls-mx1\.notls\.test'; then
			ok "[$v] starttls- MX without STARTTLS: 451 4.7.x, the message stays queued"
		else
			not_ok "[$v] starttls- MX without STARTTLS: 451 4.7.x, the message stays queued" "${dl:-no == line}" \
			    "$(o_mta_log_since "$mta" | tail -n 4)" "$(o_gate_since "$gw" | tail -n 12)"
		fi
		if grep -q -E '^[0-9]+ C: EHLO ' "$(o_peer_log notls)" && ! grep -q -E '^[0-9]+ C: (MAIL|RCPT|DATA)' "$(o_peer_log notls)"; then
			ok "[$v] starttls- MX without STARTTLS: MAIL FROM never sent"
		else
			not_ok "[$v] starttls- MX without STARTTLS: MAIL FROM never sent" "$(cat "$(o_peer_log notls)")"
		fi
		GL=$(o_gate_delivery "$gw" starttls-notls.test $((10 * T_SLOW)))
		o_expect_kv "[$v] starttls- MX without STARTTLS: mxgate logs the deferral" "$GL" mx=starttls-mx1.notls.test \
		    prefix=starttls policy=verify result=deferred
	fi

	# the end of the round
	o_gate_ensure "$gw" "the downgrade attempt"
	o_mta_queue_run "$mta"
	c=$(o_mta_queued_ids "$mta" | tr '\n' ' ')
	if [ "$c" = "${deferred:-x} " ]; then
		ok "[$v] after a forced queue run only the deferred message is queued"
	else
		not_ok "[$v] after a forced queue run only the deferred message is queued" "queued: $c" "want: $deferred" \
		    "$(o_mta_queue "$mta")"
	fi
	[ "$(o_mta_bounces "$mta")" = 0 ] && ok "[$v] no bounce" || not_ok "[$v] no bounce"
	sleep 1
	a=$(accepted_from "$gw")
	n=$(printf '%s\n' "$a" | grep -c .)
	if [ "$n" -ge 4 ] && ! printf '%s\n' "$a" | grep -q -v -E '^127\.0\.0\.30:[0-9]+$'; then
		ok "[$v] no loop: all $n sessions mxgate accepted came from the sending Exim (127.0.0.30)"
	else
		not_ok "[$v] no loop: every session mxgate accepted came from the sending Exim (127.0.0.30)" \
		    "clients:" "$a"
	fi
	if [ "$v" = iptables ]; then
		c=$(o_run "$ipt" -t nat -L OUTPUT -n -v -x 2>&1 | awk '$3 == "REDIRECT" { print $1 }')
	else
		c=$(o_run nft list table ip mxgate_test 2>&1 | grep redirect | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
	fi
	if [ "$c" = "$n" ]; then
		ok "[$v] the rule redirected exactly the $n connections mxgate accepted"
	else
		not_ok "[$v] the rule redirected exactly the connections mxgate accepted" "redirected: ${c:-?}, accepted: $n" \
		    "$(o_run nft list ruleset 2>&1)"
	fi
	if [ "$v" = mark ]; then
		c=$(o_run nft list table ip mxgate_test 2>&1 | grep return | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
		if [ "${c:-0}" -ge 3 ]; then
			ok "[$v] mxgate's upstream connections carry mark 1 ($c seen by the exclusion)"
		else
			not_ok "[$v] mxgate's upstream connections carry mark 1" "connections with mark 1: ${c:-?}"
		fi
	fi

	mx_stop "$gw"
	o_mta_stop "$mta"
	for c in good smtps; do o_mxhost_stop "$c"; done
	o_peer_stop notls
	o_dns_stop "$ns"
	o_ns_use -
	o_ns_destroy "$ns"
	# the next round starts its MX hosts afresh
	for c in good smtps; do mv "$(exim_dir "$c")" "$(exim_dir "$c")-$v"; done
	mv "$(o_peer_log notls)" "$(o_peer_log notls)-$v"
	return 0
}

for v in nft iptables mark; do
	round "$v"
	o_ns_use -
	for k in "${!O_NSPID[@]}"; do o_ns_destroy "$k"; done
	for k in "${!T_PID[@]}"; do
		case $k in netns-* | dns-* | exim-* | peer-* | mxgate-*) t_stop_pid "$k" 5 ;; esac
	done
	for c in good smtps; do
		[ -d "$(exim_dir "$c")" ] && mv "$(exim_dir "$c")" "$(exim_dir "$c")-$v"
	done
	[ -f "$(o_peer_log notls)" ] && mv "$(o_peer_log notls)" "$(o_peer_log notls)-$v"
done
t_done

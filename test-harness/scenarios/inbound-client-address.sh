#!/bin/bash
# How the backend learns the client address, besides PROXY v2 (inbound.sh):
#   - proxy-v1: Exim (hosts_proxy = 127.0.0.1) logs the real client address,
#     over implicit TLS and over STARTTLS;
#   - none: mxgate warns at start-up (level=warn) and still delivers; the
#     backend then sees mxgate's own address.  That backend (no hosts_proxy)
#     offers STARTTLS itself: the client must still see STARTTLS exactly
#     once before TLS and not at all after it.
. "$(dirname "$0")/../lib.sh"
t_init inbound-client-address
mx_have || t_done
if ! t_certs >"$T_WORK/certs.err" 2>&1; then
	not_ok "client-address: test CA and certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

GW=127.0.0.1
B1=127.0.0.11   # hosts_proxy = 127.0.0.1, no TLS
B2=127.0.0.12   # no hosts_proxy, offers STARTTLS
t_free_port B1PORT
t_free_port B2PORT

if ! exim_start v1 "$B1" "$B1PORT" proxy=127.0.0.1 2>"$T_WORK/exim-v1.err"; then
	not_ok "client-address: Exim (hosts_proxy) starts on $B1:$B1PORT" "$(cat "$T_WORK/exim-v1.err")"
	t_done
fi
if ! exim_start plain "$B2" "$B2PORT" tls=yes 2>"$T_WORK/exim-plain.err"; then
	not_ok "client-address: Exim (no PROXY, STARTTLS) starts on $B2:$B2PORT" "$(cat "$T_WORK/exim-plain.err")"
	t_done
fi

# gateway NAME MODE BACKEND:PORT: write a config and start mxgate.
# Sets SMTPS_<NAME> and STLS_<NAME>.
gateway() {
	local name=$1 mode=$2 backend=$3 p1 p2
	t_free_port p1
	t_free_port p2
	printf -v "SMTPS_$name" '%s' "$p1"
	printf -v "STLS_$name" '%s' "$p2"
	cat >"$(mx_conf "$name")" <<-EOF
		workers 1
		log_level debug
		listen_smtps $GW:$p1
		listen_starttls $GW:$p2
		backend $backend
		backend_client_address $mode
		tls_certificate $T_MX1_CHAIN $T_MX1_KEY
		tls_certificate $T_MX2_CHAIN $T_MX2_KEY
		handshake_timeout 10
		idle_timeout 60
		connect_timeout 5
		command_timeout 120
	EOF
	if mx_start "$name" 2>"$T_WORK/mx-$name.err"; then
		ok "mxgate[$name] starts with backend_client_address $mode"
		return 0
	fi
	not_ok "mxgate[$name] starts with backend_client_address $mode" "$(cat "$T_WORK/mx-$name.err")"
	return 1
}

# send GATEWAY EXIM MODE PORT LABEL EXPECTED-CLIENT (or "src") [SWAKS ARGS]
send() {
	local gw=$1 ex=$2 mode=$3 port=$4 label=$5 want=$6 src tag out rc id got name
	shift 6
	t_client_addr src
	[ "$want" = src ] && want=$src
	tag=$label-$$
	out=$T_WORK/swaks-$tag.out
	S_OUT=$out
	name="$label ($mode from $src)"
	S_NAME=$name
	t_message 2048 "$tag" || { not_ok "$name: test message generated"; return 1; }
	t_swaks "$mode" "$src" "$GW" "$port" "$T_WORK/msg/$tag.wire" "$out" "$@"
	rc=$?
	if [ "$rc" = 0 ] && swaks_accepted "$out"; then
		ok "$name: accepted"
	else
		not_ok "$name: accepted" "swaks exit $rc" "$(tail -n 10 "$out")" \
		    "$(tail -n 5 "$(mx_log "$gw")")"
		return 1
	fi
	if id=$(exim_wait_received "$ex" "$tag" $((30 * T_SLOW))) && [ -n "$id" ] &&
	    exim_wait_completed "$ex" "$id" 60 &&
	    t_compare "$(exim_stored "$ex" "$id")" "$T_WORK/msg/$tag.eml" >/dev/null; then
		ok "$name: stored byte-exact"
	else
		not_ok "$name: stored byte-exact" "$(tail -n 5 "$(exim_log "$ex")")"
		return 1
	fi
	got=$(exim_client "$ex" "$id")
	S_EXIM_LINE=$(exim_received_line "$ex" "$id")
	if [ "$got" = "$want" ]; then
		ok "$name: Exim logged client $want"
	else
		not_ok "$name: Exim logged client $want" "$S_EXIM_LINE"
	fi
	return 0
}

# ---------------------------------------------------------------- proxy-v1
if gateway v1 proxy-v1 "$B1:$B1PORT"; then
	send v1 v1 smtps "$SMTPS_v1" proxy-v1-smtps src
	send v1 v1 starttls "$STLS_v1" proxy-v1-starttls src
	n=$(t_count "$(mx_log v1)" ' event=backend .*client_address=proxy-v1( |$)')
	if [ "$n" -ge 2 ]; then
		ok "mxgate[v1] logged event=backend client_address=proxy-v1 for both sessions"
	else
		not_ok "mxgate[v1] logged event=backend client_address=proxy-v1 for both sessions" \
		    "$(grep ' event=backend' "$(mx_log v1)")"
	fi
	mx_stop v1
fi

# ---------------------------------------------------------------- none
if gateway none none "$B2:$B2PORT"; then
	if t_wait_grep "$(mx_log none)" 'level=warn' 5 >/dev/null; then
		ok "mxgate[none] prints a level=warn line at start-up"
	else
		not_ok "mxgate[none] prints a level=warn line at start-up" "$(head -n 10 "$(mx_log none)")"
	fi
	send none plain smtps "$SMTPS_none" none-smtps 127.0.0.1
	if send none plain starttls "$STLS_none" none-starttls 127.0.0.1; then
		before=$(grep -c -i -E '^<-  250[- ]STARTTLS[[:space:]]*$' "$S_OUT")
		after=$(grep -c -i -E '^<~  250[- ]STARTTLS[[:space:]]*$' "$S_OUT")
		if [ "$before" = 1 ]; then
			ok "$S_NAME: backend offers STARTTLS too, the client sees it exactly once before TLS"
		else
			not_ok "$S_NAME: backend offers STARTTLS too, the client sees it exactly once before TLS" \
			    "$(grep -E '^<-  250' "$S_OUT")"
		fi
		if [ "$after" = 0 ]; then
			ok "$S_NAME: EHLO reply after TLS does not offer STARTTLS"
		else
			not_ok "$S_NAME: EHLO reply after TLS does not offer STARTTLS" "$(grep -E '^<~  250' "$S_OUT")"
		fi
		# Exim logs X=<cipher> on the <= line of a message received over TLS.
		if printf '%s\n' "$S_EXIM_LINE" | grep -q ' X='; then
			not_ok "$S_NAME: the backend leg stays plaintext (STARTTLS not relayed)" "$S_EXIM_LINE"
		else
			ok "$S_NAME: the backend leg stays plaintext (STARTTLS not relayed)"
		fi
	fi
	mx_stop none
fi

exim_stop v1
exim_stop plain
t_done

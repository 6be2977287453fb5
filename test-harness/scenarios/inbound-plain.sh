#!/bin/bash
# The STARTTLS front also serves senders that never say STARTTLS (RFC 3207
# forbids a public MX to require it): their sessions are relayed in the
# clear, with splice(2) by default and through user space with "splice no".
# Both paths must deliver byte-exact and say which path they took.  Also:
# bounded command lines and the per-phase timeouts.
. "$(dirname "$0")/../lib.sh"
t_init inbound-plain
mx_have || t_done
if ! t_certs >"$T_WORK/certs.err" 2>&1; then
	not_ok "plain: test CA and certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

GW=127.0.0.1
BK=127.0.0.14
t_free_port BKPORT
if ! exim_start plain "$BK" "$BKPORT" proxy=127.0.0.1 2>"$T_WORK/exim.err"; then
	not_ok "plain: Exim starts on $BK:$BKPORT" "$(cat "$T_WORK/exim.err")"
	t_done
fi

# gateway NAME SPLICE: start mxgate with short timeouts; sets STLS_<NAME>
# and SMTPS_<NAME>.
gateway() {
	local name=$1 splice=$2 p1 p2
	t_free_port p1
	t_free_port p2
	printf -v "SMTPS_$name" '%s' "$p1"
	printf -v "STLS_$name" '%s' "$p2"
	cat >"$(mx_conf "$name")" <<-EOF2
		workers 2
		log_level info
		listen_smtps $GW:$p1
		listen_starttls $GW:$p2
		backend $BK:$BKPORT
		backend_client_address proxy-v2
		tls_certificate $T_MX1_CHAIN $T_MX1_KEY
		handshake_timeout 2
		command_timeout 3
		idle_timeout 60
		connect_timeout 5
		splice $splice
	EOF2
	if mx_start "$name" 2>"$T_WORK/mx-$name.err"; then
		ok "mxgate[$name] starts with splice $splice"
		return 0
	fi
	not_ok "mxgate[$name] starts with splice $splice" "$(cat "$T_WORK/mx-$name.err")"
	return 1
}

# plain NAME PATH SIZE: one plaintext message through the STARTTLS port.
plain() {
	local name=$1 path=$2 size=$3 src tag out id port sid line
	port=STLS_$name
	port=${!port}
	t_client_addr src
	tag=plain-$name-$size-$$
	out=$T_WORK/swaks-$tag.out
	local label="plaintext via the starttls port, splice=$name, $size bytes from $src"
	t_message "$size" "$tag" || { not_ok "$label: message generated"; return 1; }
	t_swaks plain "$src" "$GW" "$port" "$T_WORK/msg/$tag.wire" "$out"
	if swaks_accepted "$out"; then
		ok "$label: accepted"
	else
		not_ok "$label: accepted" "$(tail -n 8 "$out")"
		return 1
	fi
	if grep -q -E '^ -> STARTTLS' "$out"; then
		not_ok "$label: the client never said STARTTLS" "$(grep STARTTLS "$out")"
	fi
	if id=$(exim_wait_received plain "$tag" $((30 * T_SLOW))) && [ -n "$id" ] &&
	    exim_wait_completed plain "$id" 60 &&
	    r=$(t_compare "$(exim_stored plain "$id")" "$T_WORK/msg/$tag.eml"); then
		ok "$label: stored byte-exact ($r)"
	else
		not_ok "$label: stored byte-exact" "$r" "$(tail -n 5 "$(exim_log plain)")"
		return 1
	fi
	if [ "$(exim_client plain "$id")" = "$src" ]; then
		ok "$label: Exim logged client $src"
	else
		not_ok "$label: Exim logged client $src" "$(exim_received_line plain "$id")"
	fi
	# The session's close line names the relay path and counts the bytes.
	sid=$(grep " event=accept listener=starttls client=$src:" "$(mx_log "$name")" |
	    sed -n 's/^id=\([0-9a-f]*\) .*/\1/p' | tail -n 1)
	line=$(t_wait_grep "$(mx_log "$name")" "^id=$sid dir=in event=close " 10)
	if printf '%s\n' "$line" | grep -q " reason=done relay=$path "; then
		ok "$label: mxgate logged reason=done relay=$path"
	else
		not_ok "$label: mxgate logged reason=done relay=$path" "$line"
	fi
	bytes=$(printf '%s\n' "$line" | sed -n 's/.* bytes_in=\([0-9]*\) .*/\1/p')
	if [ -n "$bytes" ] && [ "$bytes" -gt "$size" ]; then
		ok "$label: bytes_in ($bytes) covers the message"
	else
		not_ok "$label: bytes_in ($bytes) covers the message" "$line"
	fi
}

if gateway yes yes; then
	plain yes splice 1024
	plain yes splice 20971520

	# A command line longer than the bound: 500 5.5.2 and a close.
	out=$(t_raw 127.0.0.120 "$GW:$STLS_yes" 10 reply "send:EHLO $(head -c 3000 /dev/zero | tr '\0' a)\r\n" drain:5)
	if printf '%s\n' "$out" | grep -q '^S: 500 5.5.2' && printf '%s\n' "$out" | grep -q '^EOF'; then
		ok "over-long command line: 500 5.5.2 and the connection is closed"
	else
		not_ok "over-long command line: 500 5.5.2 and the connection is closed" "$out"
	fi
	if t_wait_grep "$(mx_log yes)" ' reason=line-too-long ' 5 >/dev/null; then
		ok "over-long command line: mxgate logged reason=line-too-long"
	else
		not_ok "over-long command line: mxgate logged reason=line-too-long" "$(tail -n 3 "$(mx_log yes)")"
	fi

	# A silent client in command mode: 421 4.4.2 after command_timeout.
	out=$(t_raw 127.0.0.121 "$GW:$STLS_yes" 10 reply drain:8)
	if printf '%s\n' "$out" | grep -q '^S: 421 4.4.2' && printf '%s\n' "$out" | grep -q '^EOF'; then
		ok "silent client on the starttls port: 421 4.4.2 after command_timeout, then close"
	else
		not_ok "silent client on the starttls port: 421 4.4.2 after command_timeout, then close" "$out"
	fi
	if t_wait_grep "$(mx_log yes)" ' reason=timeout-command ' 5 >/dev/null; then
		ok "silent client: mxgate logged reason=timeout-command"
	else
		not_ok "silent client: mxgate logged reason=timeout-command" "$(tail -n 3 "$(mx_log yes)")"
	fi

	# A client that connects to the smtps port and never starts TLS.
	out=$(t_raw 127.0.0.122 "$GW:$SMTPS_yes" 10 drain:8)
	if printf '%s\n' "$out" | grep -q '^EOF' && ! printf '%s\n' "$out" | grep -q '^S:'; then
		ok "silent client on the smtps port: closed after handshake_timeout, no bytes"
	else
		not_ok "silent client on the smtps port: closed after handshake_timeout, no bytes" "$out"
	fi
	if t_wait_grep "$(mx_log yes)" ' reason=timeout-handshake ' 5 >/dev/null; then
		ok "silent smtps client: mxgate logged reason=timeout-handshake"
	else
		not_ok "silent smtps client: mxgate logged reason=timeout-handshake" "$(tail -n 3 "$(mx_log yes)")"
	fi

	# STARTTLS then silence: the handshake phase is bounded as well.
	out=$(t_raw 127.0.0.123 "$GW:$STLS_yes" 10 reply "send:EHLO x\r\n" reply "send:STARTTLS\r\n" reply drain:8)
	if printf '%s\n' "$out" | grep -q '^S: 220 2.0.0' && printf '%s\n' "$out" | grep -q '^EOF'; then
		ok "STARTTLS then no handshake: closed after handshake_timeout"
	else
		not_ok "STARTTLS then no handshake: closed after handshake_timeout" "$out"
	fi
	mx_stop yes
fi

if gateway no no; then
	plain no copy 1024
	plain no copy 20971520
	mx_stop no
fi

exim_stop plain
t_done

#!/bin/bash
# Command line: "mxgate -t -c FILE" accepts a good config (exit 0) and
# rejects a bad one (exit 1) naming FILE:LINE; "mxgate -V" prints versions.
. "$(dirname "$0")/../lib.sh"
t_init config-check
mx_have || t_done
if ! t_certs >"$T_WORK/certs.err" 2>&1; then
	not_ok "config-check: test CA and certificates generated" "$(cat "$T_WORK/certs.err")"
	t_done
fi

good=$T_WORK/good.conf
cat >"$good" <<EOF
# a complete inbound configuration
workers 1
log_level info

listen_smtps 127.0.0.1:20026
listen_starttls 127.0.0.1:20025   # trailing comment
backend 127.0.0.10:2525
backend_client_address proxy-v2
tls_certificate $T_MX1_CHAIN $T_MX1_KEY
tls_certificate $T_MX2_CHAIN $T_MX2_KEY
handshake_timeout 10
idle_timeout 300
connect_timeout 5
command_timeout 300
EOF
out=$(timeout 20 "$MXGATE" -t -c "$good" 2>&1)
rc=$?
if [ "$rc" = 0 ]; then
	ok "mxgate -t: a good config exits 0"
else
	not_ok "mxgate -t: a good config exits 0" "exit status $rc" "$out"
fi

# bad FILE-LINE DESCRIPTION: a copy of the good config with line LINE
# replaced must exit 1 and name FILE:LINE.
bad() {
	local line=$1 text=$2 desc=$3 f out rc
	f=$T_WORK/bad-$line.conf
	awk -v n="$line" -v t="$text" 'NR == n { print t; next } { print }' "$good" >"$f"
	out=$(timeout 20 "$MXGATE" -t -c "$f" 2>&1)
	rc=$?
	if [ "$rc" = 1 ] && printf '%s\n' "$out" | grep -q -F "$f:$line:"; then
		ok "mxgate -t: $desc (line $line) exits 1 and names $(basename "$f"):$line"
	else
		not_ok "mxgate -t: $desc (line $line) exits 1 and names $(basename "$f"):$line" \
		    "exit status $rc" "$out"
	fi
}
bad 3 "log_level chatty" "an unknown log level"
bad 6 "listen_starttls 127.0.0.1:notaport" "a bad port"
bad 8 "backend_client_address carrier-pigeon" "an unknown client address mode"
bad 10 "tls_certificate $T_WORK/missing.pem $T_WORK/missing.key" "a missing certificate file"
bad 13 "no_such_directive 1" "an unknown directive"

out=$(timeout 20 "$MXGATE" -t -c "$T_WORK/does-not-exist.conf" 2>&1)
rc=$?
if [ "$rc" = 1 ]; then
	ok "mxgate -t: a missing config file exits 1"
else
	not_ok "mxgate -t: a missing config file exits 1" "exit status $rc" "$out"
fi

out=$(timeout 20 "$MXGATE" -V 2>&1)
rc=$?
if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q -i wolfssl && printf '%s\n' "$out" | grep -q -i libuv &&
    printf '%s\n' "$out" | grep -q -i -E 'c-ares|cares'; then
	ok "mxgate -V: exits 0 and names the wolfSSL, libuv and c-ares versions"
else
	not_ok "mxgate -V: exits 0 and names the wolfSSL, libuv and c-ares versions" "exit status $rc" "$out"
fi
# Who makes RSA-2048 signatures: mxgate's IFMA code where the CPU has
# AVX-512 IFMA, unless MXGATE_RSA52=0 says wolfSSL.
if grep -qw avx512ifma /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo; then
	want="mxgate's AVX-512 IFMA code"
else
	want=wolfSSL
fi
got=$(printf '%s\n' "$out" | sed -n 's/^RSA-2048 signatures by //p')
off=$(MXGATE_RSA52=0 timeout 20 "$MXGATE" -V 2>&1 | sed -n 's/^RSA-2048 signatures by //p')
if [ "$got" = "$want" ] && [ "$off" = wolfSSL ]; then
	ok "mxgate -V: RSA-2048 signatures by $want on this CPU, by wolfSSL with MXGATE_RSA52=0"
else
	not_ok "mxgate -V: RSA-2048 signatures by $want on this CPU, by wolfSSL with MXGATE_RSA52=0" \
	    "got: ${got:-none}" "with MXGATE_RSA52=0: ${off:-none}"
fi

# No -c: the embedded config, a smarthost listener on loopback only.
if t_is_listening 127.0.0.1 10025; then
	t_note "config-check: 127.0.0.1:10025 is taken, the embedded-config check is skipped"
else
	"$MXGATE" >"$T_WORK/embedded.log" 2>&1 </dev/null &
	pid=$!
	t_register mxgate-embedded "$pid"
	if t_wait_listen 127.0.0.1 10025 $((15 * T_SLOW)) "$pid"; then
		out=$(t_raw - 127.0.0.1:10025 10 reply "send:QUIT\r\n" reply)
		if printf '%s\n' "$out" | grep -q -E '^S: 220 .* ESMTP mxgate' &&
		    printf '%s\n' "$out" | grep -q -E '^S: 221 '; then
			ok "mxgate with no -c: speaks SMTP on 127.0.0.1:10025 (the embedded config)"
		else
			not_ok "mxgate with no -c: speaks SMTP on 127.0.0.1:10025 (the embedded config)" "$out"
		fi
	else
		not_ok "mxgate with no -c: listens on 127.0.0.1:10025" "$(tail -n 5 "$T_WORK/embedded.log")"
	fi
	if t_stop_pid mxgate-embedded $((10 * T_SLOW)) && [ "${T_STATUS[mxgate-embedded]}" = 0 ]; then
		ok "mxgate with no -c: exits with status 0 on SIGTERM"
	else
		not_ok "mxgate with no -c: exits with status 0 on SIGTERM" "$(tail -n 5 "$T_WORK/embedded.log")"
	fi
fi
t_done

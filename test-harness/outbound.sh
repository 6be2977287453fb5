# shellcheck shell=bash
#
# Helpers for the outbound end-to-end scenarios (scenarios/outbound-*.sh).
# Source it after lib.sh, which provides the result lines, the work dir,
# the process registry and its exit trap, ports, waits, t_certs,
# t_message, t_compare, t_raw and the Exim user set-up:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/../outbound.sh"
#
# The pieces of an outbound test, all real and all started here:
#
#   sending MTA (Exim, queue) ──► mxgate outbound ──► receiving MX hosts
#                                      │              (Exim, fake peers)
#                                      └── DNS: dnsmasq serving *.test
#
# What it provides:
#   o_ns_*      a private network namespace (transparent mode: nft or
#               iptables REDIRECT of the sending Exim's port-25 traffic);
#               every helper below starts its process in the namespace
#               selected with o_ns_use, or on the host
#   o_dns_*     dnsmasq with a .test zone of MX and A records, SERVFAIL for
#               chosen domains (forwarded to a tiny SERVFAIL responder)
#   o_cert      certificates for MX names: good, expired, self-signed,
#               from an untrusted CA, any SAN (wildcards, wrong names)
#   o_mxhost_*  Exim as a receiving MX host: STARTTLS on the smtp port,
#               implicit TLS on the smtps port, or no TLS; every message
#               stored byte-exact
#   o_peer_*    the fake peers of test-harness/peers (fake_mx, strip_proxy)
#   o_mta_*     Exim as the sending MTA: queue only, smarthost
#               (manualroute) or DNS (dnslookup) routing, forced deliveries
#               (-M, -qff), queue listing (-bp), defer reasons
#   o_gate_*    mxgate's outbound side: start in the namespace, log marks,
#               waits for event lines, key=value extraction
#
# Exim instances keep lib.sh's layout ($(exim_dir NAME): exim.conf,
# spool/, log/mainlog, mail/<exim id>), so exim_log, exim_stored,
# exim_wait_received and exim_received_line work on them.

O_PEERDIR=${PEERDIR:-$T_TOP/build/rel/peers}
O_NS=                     # pid holding the current network namespace ("" = host)
declare -A O_NSPID=()     # namespace name -> holder pid
declare -A O_MARK=()      # mxgate name -> log line count at the last mark
declare -A O_EXIM_NS=()   # Exim name -> holder pid of its namespace ("" = host)
declare -A O_MTA_ADDR=()  # sending MTA name -> ADDR:PORT it accepts messages on
O_DNS_ARGS=()
O_SF_ADDR=
O_CERTDIR=
O_ID=                     # exim id of the message o_case submitted last

# ---------------------------------------------------------------- namespaces

# o_run CMD...: CMD in the current network namespace.  Not for background
# jobs: "o_run cmd &" would fork a subshell whose pid is not cmd's; those
# use o_pre instead.
o_run() {
	if [ -n "$O_NS" ]; then
		nsenter -t "$O_NS" -n -- "$@"
	else
		"$@"
	fi
}

# o_pre: sets the array O_PRE to the command prefix that enters the current
# network namespace (empty on the host), for "${O_PRE[@]}" cmd ... &
# (nsenter execs cmd, so $! is cmd's pid).
O_PRE=()
o_pre() {
	O_PRE=()
	[ -n "$O_NS" ] && O_PRE=(nsenter -t "$O_NS" -n --)
	return 0
}

# o_ns_create NAME: a new network namespace, held by a process registered as
# netns-NAME (the namespace goes away with the last process in it), with lo
# up and every port bindable by any user.  Does not select it.
o_ns_create() {
	local name=$1 pid i mine
	unshare -n -- sleep 3600 </dev/null >/dev/null 2>&1 &
	pid=$!
	t_register "netns-$name" "$pid"
	mine=$(readlink /proc/self/ns/net)
	for ((i = 0; i < 50; i++)); do
		[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "$mine" ] && break
		sleep 0.05
	done
	if [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$mine" ]; then
		echo "network namespace $name not created" >&2
		return 1
	fi
	O_NSPID[$name]=$pid
	nsenter -t "$pid" -n -- ip link set lo up &&
	    nsenter -t "$pid" -n -- sysctl -qw net.ipv4.ip_unprivileged_port_start=0
}

# o_ns_use NAME|-: later helpers run in namespace NAME (- : on the host).
o_ns_use() {
	if [ "$1" = - ]; then
		O_NS=
	else
		O_NS=${O_NSPID[$1]:?no namespace $1}
	fi
}

# o_ns_destroy NAME: ends the holder; stop what runs inside first.
o_ns_destroy() {
	[ "${O_NSPID[$1]:-}" = "$O_NS" ] && O_NS=
	t_stop_pid "netns-$1" 2
	unset "O_NSPID[$1]"
}

# o_is_listening ADDR PORT: TCP listener in the current namespace.
o_is_listening() {
	o_run ss -Hltn "( sport = :$2 )" 2>/dev/null |
	    awk -v a="$1:$2" '$4 == a { f = 1 } END { exit !f }'
}

# o_wait_listen ADDR PORT TIMEOUT [PID]
o_wait_listen() {
	local addr=$1 port=$2 timeout=$3 pid=${4:-} i
	for ((i = 0; i < timeout * 10; i++)); do
		o_is_listening "$addr" "$port" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# o_free_port VAR: like t_free_port, and free in the current namespace too.
o_free_port() {
	local _ofp _i
	for ((_i = 0; _i < 1000; _i++)); do
		t_free_port _ofp
		[ -z "$(o_run ss -Htan "( sport = :$_ofp )" 2>/dev/null)" ] && break
	done
	printf -v "$1" '%s' "$_ofp"
}

# ---------------------------------------------------------------- DNS

# The zone is built up with o_dns_mx / o_dns_a / o_dns_servfail, then
# served by o_dns_start.  Everything under .test is answered by dnsmasq
# itself (authoritative, no DNSSEC: answers never carry the AD bit).
o_dns_reset() { O_DNS_ARGS=(); }

# o_dns_mx DOMAIN HOST PREF
o_dns_mx() { O_DNS_ARGS+=("--mx-host=$1,$2,$3"); }

# o_dns_a HOST IP...: A (and AAAA) records
o_dns_a() {
	local h=$1
	shift
	O_DNS_ARGS+=("--host-record=$h,$(
		IFS=,
		echo "$*"
	)")
}

# o_dns_servfail DOMAIN: queries for DOMAIN and below get SERVFAIL (dnsmasq
# forwards them to a responder that answers SERVFAIL to everything; a
# forward to a closed port would only time out: dnsmasq does not answer).
# Needs o_servfail_start first.
o_dns_servfail() {
	[ -n "$O_SF_ADDR" ] || { echo "o_dns_servfail: no SERVFAIL responder" >&2; return 1; }
	O_DNS_ARGS+=("--server=/$1/${O_SF_ADDR%:*}#${O_SF_ADDR##*:}")
}

# o_servfail_start NAME ADDR PORT: a UDP DNS responder answering SERVFAIL.
o_servfail_start() {
	local name=$1 addr=$2 port=$3 pid i
	cat >"$T_WORK/servfail.pl" <<-'EOF'
		use strict; use warnings; use IO::Socket::INET;
		my ($addr, $port) = @ARGV;
		my $s = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port,
		    Proto => "udp", ReuseAddr => 1) or die "servfail: bind $addr:$port: $!\n";
		$SIG{TERM} = $SIG{INT} = sub { exit 0 };
		$| = 1;
		print "listening on $addr:$port\n";
		while (1) {
			my $from = $s->recv(my $q, 4096);
			next unless defined $from && length($q) >= 12;
			my ($id, $flags, $qd) = unpack("n n n", $q);
			# Echo the question (first one only), no other section.
			my $end = 12;
			if ($qd >= 1) {
				while ($end < length $q) {
					my $l = ord substr($q, $end, 1);
					$end += 1 + $l;
					last if $l == 0 || $l >= 64;
				}
				$end += 4;
			}
			$end = 12 if $end > length $q;
			my $r = pack("n n n n n n", $id, 0x8080 | ($flags & 0x7900) | 2,
			    $end > 12 ? 1 : 0, 0, 0, 0) . substr($q, 12, $end - 12);
			$s->send($r, 0, $from);
			print "SERVFAIL for query id $id\n";
		}
	EOF
	o_pre
	"${O_PRE[@]}" perl "$T_WORK/servfail.pl" "$addr" "$port" >"$T_WORK/servfail-$name.log" 2>&1 </dev/null &
	pid=$!
	t_register "servfail-$name" "$pid"
	for ((i = 0; i < 50; i++)); do
		grep -q '^listening' "$T_WORK/servfail-$name.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^listening' "$T_WORK/servfail-$name.log" 2>/dev/null || {
		cat "$T_WORK/servfail-$name.log" >&2
		return 1
	}
	O_SF_ADDR=$addr:$port
}

o_dns_log() { echo "$T_WORK/dns-$1.log"; }

# o_dns_start NAME ADDR PORT: dnsmasq in the foreground serving the zone
# built so far; log (queries included) in $(o_dns_log NAME).
o_dns_start() {
	local name=$1 addr=$2 port=$3 pid
	o_pre
	"${O_PRE[@]}" dnsmasq -k --port="$port" --listen-address="$addr" --bind-interfaces \
	    --no-resolv --no-hosts --pid-file= --user=nobody --group=nogroup \
	    --log-facility=- --log-queries --local=/test/ --local-ttl=60 \
	    --cache-size=0 "${O_DNS_ARGS[@]}" >>"$(o_dns_log "$name")" 2>&1 </dev/null &
	pid=$!
	t_register "dns-$name" "$pid"
	if ! o_wait_listen "$addr" "$port" $((10 * T_SLOW)) "$pid"; then
		echo "dnsmasq $name did not start on $addr:$port" >&2
		tail -n 5 "$(o_dns_log "$name")" >&2
		return 1
	fi
}

o_dns_stop() { t_stop_pid "dns-$1" 5; }

# o_dig SERVER PORT NAME TYPE: dig's full answer (one try, 2 s).
o_dig() {
	o_run timeout 10 dig +time=2 +tries=1 -p "$2" "@$1" "$3" "$4" 2>&1
}

# o_dig_status SERVER PORT NAME TYPE: NOERROR | NXDOMAIN | SERVFAIL | ... |
# TIMEOUT
o_dig_status() {
	local out st
	out=$(o_dig "$@")
	st=$(printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1)
	echo "${st:-TIMEOUT}"
}

# ---------------------------------------------------------------- certificates

# o_cert LABEL KIND SAN...: a certificate and key for an MX host, made once
# per test run next to t_certs' CA ($O_CERTDIR/LABEL.chain.pem, LABEL.key).
#   KIND good        signed by the test CA (T_CA), valid now
#        expired     signed by the test CA, valid only in January 2020
#        selfsigned  self-signed (its own issuer)
#        untrusted   signed by a second CA that nothing trusts
# SAN: DNS names (e.g. starttls-mx1.good.test, *.wild.test); the first is
# also the subject CN.  Chains are leaf + issuing CA (leaf alone when
# self-signed); keys ECDSA P-256, PEM.
o_cert() {
	local label=$1 kind=$2 san='' n
	shift 2
	t_certs || return 1
	O_CERTDIR=$(dirname "$T_CA")/outbound
	[ -s "$O_CERTDIR/$label.chain.pem" ] && [ -s "$O_CERTDIR/$label.key" ] && return 0
	mkdir -p "$O_CERTDIR" && chmod 755 "$O_CERTDIR" || return 1
	for n in "$@"; do san="${san:+$san, }DNS:$n"; done
	(
		set -e
		cd "$O_CERTDIR"
		umask 022
		cat >"$label.ext" <<-EOF
			basicConstraints = critical, CA:FALSE
			keyUsage = critical, digitalSignature, keyEncipherment
			extendedKeyUsage = serverAuth
			subjectAltName = $san
		EOF
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$label.key" -out "$label.csr" -subj "/O=mxgate tests/CN=$1" 2>/dev/null
		case $kind in
		good)
			openssl x509 -req -in "$label.csr" -CA "$T_CA" -CAkey "$(dirname "$T_CA")/ca.key" \
			    -CAcreateserial -CAserial "$O_CERTDIR/ca.srl" -days 30 \
			    -extfile "$label.ext" -out "$label.pem" 2>/dev/null
			cat "$label.pem" "$T_CA" >"$label.chain.pem"
			;;
		expired)
			# openssl x509 -days cannot go back in time (and OpenSSL 3.0
			# has no -not_after): "openssl ca" takes explicit dates.
			mkdir -p cadb
			[ -f cadb/index.txt ] || : >cadb/index.txt
			[ -f cadb/serial ] || echo 1000 >cadb/serial
			cat >ca.cnf <<-EOF
				[ ca ]
				default_ca = test_ca
				[ test_ca ]
				database = $O_CERTDIR/cadb/index.txt
				serial = $O_CERTDIR/cadb/serial
				new_certs_dir = $O_CERTDIR/cadb
				certificate = $T_CA
				private_key = $(dirname "$T_CA")/ca.key
				default_md = sha256
				policy = any_policy
				unique_subject = no
				email_in_dn = no
				[ any_policy ]
				commonName = supplied
				organizationName = optional
			EOF
			openssl ca -batch -config ca.cnf -notext -startdate 20200101000000Z \
			    -enddate 20200201000000Z -in "$label.csr" -out "$label.pem" \
			    -extfile "$label.ext" >/dev/null 2>&1
			cat "$label.pem" "$T_CA" >"$label.chain.pem"
			;;
		selfsigned)
			openssl x509 -req -in "$label.csr" -signkey "$label.key" -days 30 \
			    -extfile "$label.ext" -out "$label.pem" 2>/dev/null
			cp "$label.pem" "$label.chain.pem"
			;;
		untrusted)
			if [ ! -s untrusted-ca.pem ]; then
				openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				    -keyout untrusted-ca.key -out untrusted-ca.pem -days 30 \
				    -subj "/O=nobody trusts this/CN=untrusted test CA" \
				    -addext "basicConstraints=critical,CA:TRUE" \
				    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
			fi
			openssl x509 -req -in "$label.csr" -CA untrusted-ca.pem -CAkey untrusted-ca.key \
			    -CAcreateserial -CAserial untrusted-ca.srl -days 30 \
			    -extfile "$label.ext" -out "$label.pem" 2>/dev/null
			cat "$label.pem" untrusted-ca.pem >"$label.chain.pem"
			;;
		*)
			echo "o_cert: unknown kind $kind" >&2
			exit 1
			;;
		esac
		chmod 644 "$label.key" "$label.pem" "$label.chain.pem"
	)
}

o_cert_chain() { echo "$O_CERTDIR/$1.chain.pem"; }
o_cert_key() { echo "$O_CERTDIR/$1.key"; }
o_cert_pem() { echo "$O_CERTDIR/$1.pem"; }

# ---------------------------------------------------------------- Exim, common part

# Exim runs in a private mount namespace where /etc/resolv.conf names
# 127.0.0.1 (dnsmasq, inside a network namespace; host name lookups of
# clients fail at once elsewhere) and, when the host has no Debian-exim
# user, /etc/passwd and /etc/group carry one (lib.sh's exim_setup_user).
o_exim_prepare() {
	exim_setup_user || { echo "cannot provide the Exim user" >&2; return 1; }
	if [ ! -x "$EXIM_BIN" ]; then
		echo "Exim is not unpacked at $EXIM_BIN (run scripts/install-deps.sh test)" >&2
		return 1
	fi
	mkdir -p "$T_WORK/etc"
	if [ ! -f "$T_WORK/etc/o-resolv.conf" ]; then
		printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T_WORK/etc/o-resolv.conf"
		chmod 644 "$T_WORK/etc/o-resolv.conf"
	fi
	[ -x "$T_WORK/exim-exec.sh" ] || o_exim_write_exec
}

# $T_WORK/exim-exec.sh NSPID CMD...: CMD (Exim) in network namespace NSPID
# ("" = the host's) and a private mount namespace set up as above.  Execs
# all the way down: the pid of a backgrounded call is Exim's.
o_exim_write_exec() {
	cat >"$T_WORK/exim-exec.sh" <<-EOF
		#!/bin/sh
		ns=\$1
		shift
		if [ -n "\$ns" ]; then
			exec nsenter -t "\$ns" -n -- "\$0" "" "\$@"
		fi
		exec unshare -m -- sh -c '
			if [ "\$1" = 1 ]; then
				mount --bind "\$2" /etc/passwd && mount --bind "\$3" /etc/group || exit 111
			fi
			mount --bind "\$4" /etc/resolv.conf || exit 111
			shift 4
			exec "\$@"' sh "$EXIM_NS" "$T_WORK/etc/passwd" "$T_WORK/etc/group" \
		    "$T_WORK/etc/o-resolv.conf" "\$@"
	EOF
	chmod 755 "$T_WORK/exim-exec.sh"
}

# o_exim_cmd NAME ARGS...: run the Exim binary with NAME's config (in NAME's
# namespaces), bounded in time: -M, -qff, -bp, -Mrm ...
o_exim_cmd() {
	local name=$1
	shift
	timeout --kill-after=5 $((120 * T_SLOW)) "$T_WORK/exim-exec.sh" "${O_EXIM_NS[$name]:-}" \
	    "$EXIM_BIN" -C "$(exim_dir "$name")/exim.conf" "$@"
}

# o_exim_spawn NAME ADDR:PORT...: start Exim NAME (config already written)
# as a daemon in the foreground; wait until it listens on every ADDR:PORT.
o_exim_spawn() {
	local name=$1 d pid l
	shift
	d=$(exim_dir "$name")
	O_EXIM_NS[$name]=$O_NS
	"$T_WORK/exim-exec.sh" "$O_NS" "$EXIM_BIN" -C "$d/exim.conf" -bdf >"$d/stdout" 2>&1 </dev/null &
	pid=$!
	t_register "exim-$name" "$pid"
	for l in "$@"; do
		if ! o_wait_listen "${l%:*}" "${l##*:}" $((15 * T_SLOW)) "$pid"; then
			echo "Exim $name did not start listening on $l" >&2
			cat "$d/stdout" "$d/log/paniclog" "$d/log/mainlog" 2>/dev/null | tail -n 20 >&2
			return 1
		fi
	done
}

# The lines every Exim config here starts with.
o_exim_conf_head() { # NAME HOSTNAME [MESSAGE_SIZE_LIMIT]
	local d
	d=$(exim_dir "$1")
	cat <<-EOF
		exim_path = $EXIM_BIN
		exim_user = Debian-exim
		exim_group = Debian-exim
		never_users = root
		keep_environment =
		primary_hostname = $2
		spool_directory = $d/spool
		log_file_path = $d/log/%slog
		pid_file_path = $d/exim.pid
		host_lookup =
		rfc1413_hosts =
		rfc1413_query_timeout = 0s
		dns_retrans = 1s
		dns_retry = 1
		smtp_receive_timeout = 2m
		smtp_accept_max = 100
		smtp_accept_queue_per_connection = 0
		message_size_limit = ${3:-100M}
		received_header_text =
		log_selector = +all
	EOF
}

o_exim_dirs() { # NAME
	local d
	d=$(exim_dir "$1")
	mkdir -p "$d/spool" "$d/log" "$d/mail" "$d/tls" "$d/bounces" || return 1
	chmod 755 "$d"
	chown -R "$EXIM_UID:$EXIM_GID" "$d/spool" "$d/log" "$d/mail" "$d/tls" "$d/bounces"
	chmod 750 "$d/spool"
}

# ---------------------------------------------------------------- Exim as a receiving MX host

# o_mxhost_start NAME ADDR [smtp=PORT] [smtps=PORT] [cert=LABEL] [tls=yes|no]
#                [hostname=NAME]
#   smtp=PORT    plain SMTP listener, STARTTLS offered when tls=yes (default)
#   smtps=PORT   implicit-TLS listener (tls_on_connect_ports)
#   cert=LABEL   the o_cert certificate presented (required with TLS)
#   tls=no       no STARTTLS (and no smtps= allowed)
#   hostname=    Exim's primary_hostname (greeting, EHLO); default NAME.test
#   one_domain=yes  a RCPT whose domain differs from the transaction's first
#                accepted one gets "452 4.5.3" (as mxgate answers): shows
#                how the sending MTA retries such a recipient
#   chunking=no  no CHUNKING in the EHLO reply (Exim offers it by default)
#   size_limit=  Exim's message_size_limit (refuses bigger messages with 552)
# Any recipient at a *.test domain is accepted; each message is stored
# byte-exact in $(exim_dir NAME)/mail/<exim id> (no Received header, CRLF).
# The "<=" log line shows the listener (I=[addr]:port) and TLS (X=...).
o_mxhost_start() {
	local name=$1 addr=$2 smtp='' smtps='' cert='' tls=yes host="$1.test" one=no chunking=yes size='' a d conf listen=()
	shift 2
	for a in "$@"; do
		case $a in
		smtp=*) smtp=${a#smtp=} ;;
		smtps=*) smtps=${a#smtps=} ;;
		cert=*) cert=${a#cert=} ;;
		tls=*) tls=${a#tls=} ;;
		hostname=*) host=${a#hostname=} ;;
		one_domain=*) one=${a#one_domain=} ;;
		chunking=*) chunking=${a#chunking=} ;;
		size_limit=*) size=${a#size_limit=} ;;
		*) echo "o_mxhost_start: unknown option $a" >&2; return 1 ;;
		esac
	done
	if [ "$tls" != yes ] && [ -n "$smtps" ]; then
		echo "o_mxhost_start: smtps= needs TLS" >&2
		return 1
	fi
	if [ "$tls" = yes ] && [ -z "$cert" ]; then
		echo "o_mxhost_start: TLS needs cert=LABEL" >&2
		return 1
	fi
	o_exim_prepare || return 1
	o_exim_dirs "$name" || return 1
	d=$(exim_dir "$name")
	conf=$d/exim.conf
	if [ "$tls" = yes ]; then
		cp "$(o_cert_chain "$cert")" "$d/tls/cert.pem" && cp "$(o_cert_key "$cert")" "$d/tls/key.pem" || return 1
		chown "$EXIM_UID:$EXIM_GID" "$d/tls/cert.pem" "$d/tls/key.pem"
		chmod 600 "$d/tls/key.pem"
	fi
	[ -n "$smtp" ] && listen+=("$addr:$smtp")
	[ -n "$smtps" ] && listen+=("$addr:$smtps")
	{
		echo "# Exim as a receiving MX host ($host) of the mxgate outbound tests."
		o_exim_conf_head "$name" "$host" "$size"
		echo "qualify_domain = $host"
		echo "local_interfaces = <; ${smtp:+$addr.$smtp}${smtp:+${smtps:+ ; }}${smtps:+$addr.$smtps}"
		echo "daemon_smtp_ports = ${smtp}${smtp:+${smtps:+ : }}${smtps}"
		if [ "$tls" = yes ]; then
			echo "tls_advertise_hosts = *"
			# Issue session tickets, as busy MX hosts do.
			echo "tls_resumption_hosts = *"
			echo "tls_certificate = $d/tls/cert.pem"
			echo "tls_privatekey = $d/tls/key.pem"
			[ -n "$smtps" ] && echo "tls_on_connect_ports = $smtps"
		else
			echo "tls_advertise_hosts ="
		fi
		# Exim offers CHUNKING to every host unless told not to.
		[ "$chunking" = yes ] || echo "chunking_advertise_hosts ="
		cat <<-EOF
			acl_smtp_rcpt = acl_check_rcpt

			begin acl

			acl_check_rcpt:
			$( [ "$one" = yes ] && printf '%s\n' \
			    '  defer   condition = ${if and{{def:acl_m_dom}{!eq{$acl_m_dom}{$domain}}}}' \
			    '          message = 452 4.5.3 one domain per transaction' )
			  accept  domains = *.test
			          set acl_m_dom = \$domain
			  deny    message = relay not permitted

			begin routers

			store:
			  driver = accept
			  domains = *.test
			  transport = store_file

			begin transports

			# One file per message, exactly the bytes received.
			store_file:
			  driver = appendfile
			  file = $d/mail/\${message_exim_id}
			  user = Debian-exim
			  group = Debian-exim
			  message_prefix =
			  message_suffix =
			  check_string =
			  escape_string =
			  use_crlf
			  mode = 0644
			  delivery_date_add = false
			  envelope_to_add = false
			  return_path_add = false
		EOF
	} >"$conf"
	chmod 644 "$conf"
	o_exim_spawn "$name" "${listen[@]}"
}

o_mxhost_stop() { t_stop_pid "exim-$1" 10; }

# o_mxhost_count NAME TAG: how many copies of message <TAG@mxgate.test>
# Exim NAME received.
o_mxhost_count() {
	t_count "$(exim_log "$1")" " <= .* id=$(t_re "$2")@mxgate\.test( |$)"
}

# o_mxhost_line NAME TAG: its "<=" line (the first).
o_mxhost_line() {
	grep -E -m1 " <= .* id=$(t_re "$2")@mxgate\.test( |$)" "$(exim_log "$1")" 2>/dev/null
}

# ---------------------------------------------------------------- fake peers

o_peer_have() { [ -x "$O_PEERDIR/$1" ]; }
o_peer_log() { echo "$T_WORK/peer-$1.log"; }

# o_peer_start NAME PROG ADDR:PORT ARGS...: one of the fake peers
# (test-harness/peers/PROG), listening on ADDR:PORT (passed as -l), with
# its transcript in $(o_peer_log NAME) (-t) and stderr in NAME.err.
o_peer_start() {
	local name=$1 prog=$2 listen=$3 pid
	shift 3
	if ! o_peer_have "$prog"; then
		echo "fake peer $O_PEERDIR/$prog not built (make build/rel/peers/$prog)" >&2
		return 1
	fi
	o_pre
	"${O_PRE[@]}" "$O_PEERDIR/$prog" -l "$listen" -t "$(o_peer_log "$name")" "$@" \
	    >"$T_WORK/peer-$name.err" 2>&1 </dev/null &
	pid=$!
	t_register "peer-$name" "$pid"
	if ! o_wait_listen "${listen%:*}" "${listen##*:}" $((10 * T_SLOW)) "$pid"; then
		echo "peer $name ($prog) does not listen on $listen" >&2
		cat "$T_WORK/peer-$name.err" >&2
		return 1
	fi
}

# o_peer_stop NAME: SIGTERM; returns the peer's exit status.
o_peer_stop() {
	t_stop_pid "peer-$1" 5
	return "${T_STATUS[peer-$1]:-1}"
}

# o_peer_grep NAME ERE: matching transcript lines
o_peer_grep() { grep -E -- "$2" "$(o_peer_log "$1")" 2>/dev/null; }

# ---------------------------------------------------------------- Exim as the sending MTA

# o_mta_start NAME ADDR PORT route=ROUTE [port=N] [interface=IP]
#   ADDR:PORT       where messages are submitted (any *.test recipient
#                   from 127.0.0.0/8); they are only queued (queue_only):
#                   o_mta_deliver / o_mta_queue_run send them
#   route=dns       dnslookup routing: MX records through /etc/resolv.conf,
#                   i.e. dnsmasq on 127.0.0.1:53 of the current namespace
#   route="LIST"    manualroute route_list, e.g. "* 127.0.0.1" (smarthost)
#                   or "a.test 127.0.0.41 ; * 127.0.0.1"
#   port=N          the smtp transport's port (default 25)
#   interface=IP    the smtp transport's source address
#   reuse=yes       let Exim pass an open connection on to other messages
#                   waiting for the same host (its default); without it
#                   (connection_max_messages = 1) every delivery attempt has
#                   its own connection, so that a message deferred earlier
#                   never rides along with a later one
# Temporary failures are retried (retry rule F,1d,1m); -qff and -M ignore
# retry times.  Bounces (mail to client.test, the senders' domain) are
# stored in $(exim_dir NAME)/bounces/.  No Received header is added, so a
# message arrives byte for byte as it was submitted.
o_mta_start() {
	local name=$1 addr=$2 port=$3 route='' rport=25 iface='' reuse=no a d conf router
	shift 3
	for a in "$@"; do
		case $a in
		route=*) route=${a#route=} ;;
		port=*) rport=${a#port=} ;;
		interface=*) iface=${a#interface=} ;;
		reuse=*) reuse=${a#reuse=} ;;
		*) echo "o_mta_start: unknown option $a" >&2; return 1 ;;
		esac
	done
	[ -n "$route" ] || { echo "o_mta_start: route= missing" >&2; return 1; }
	o_exim_prepare || return 1
	o_exim_dirs "$name" || return 1
	d=$(exim_dir "$name")
	conf=$d/exim.conf
	if [ "$route" = dns ]; then
		router=$(printf '%s\n' "  driver = dnslookup" "  domains = ! client.test" \
		    "  transport = remote_smtp" "  self = send" "  no_more")
	else
		router=$(printf '%s\n' "  driver = manualroute" "  domains = ! client.test" \
		    "  route_list = $route" "  transport = remote_smtp" "  self = send" "  no_more")
	fi
	{
		echo "# Exim as the sending MTA of the mxgate outbound tests."
		o_exim_conf_head "$name" sender.test
		cat <<-EOF
			qualify_domain = client.test
			local_interfaces = <; $addr.$port
			daemon_smtp_ports = $port
			queue_only = true
			delay_warning =
			tls_advertise_hosts =
			acl_smtp_rcpt = acl_check_rcpt

			begin acl

			acl_check_rcpt:
			  accept  hosts = 127.0.0.0/8
			          domains = *.test
			  deny    message = relay not permitted

			begin routers

			# Bounces go to the senders, at client.test: kept here.
			bounces:
			  driver = accept
			  domains = client.test
			  transport = bounce_file

			outbound:
			$router

			begin transports

			remote_smtp:
			  driver = smtp
			  port = $rport
			  allow_localhost
			  ${iface:+interface = $iface}
			  connection_max_messages = $( [ "$reuse" = yes ] && echo 0 || echo 1 )
			  connect_timeout = 10s
			  command_timeout = 60s
			  data_timeout = 60s
			  final_timeout = 60s

			bounce_file:
			  driver = appendfile
			  file = $d/bounces/\${message_exim_id}
			  user = Debian-exim
			  group = Debian-exim
			  mode = 0644

			begin retry

			*   *   F,1d,1m
		EOF
	} >"$conf"
	chmod 644 "$conf"
	o_exim_spawn "$name" "$addr:$port"
	O_MTA_ADDR[$name]=$addr:$port
}

o_mta_stop() { t_stop_pid "exim-$1" 10; }

# o_mta_submit NAME SRC TAG OUT RCPT...: send $T_WORK/msg/TAG.wire (from
# t_message) to the MTA from source address SRC with swaks (transcript in
# OUT); prints the MTA's message id once it is queued.
o_mta_submit() {
	local name=$1 src=$2 tag=$3 out=$4 to hp
	shift 4
	to=$(
		IFS=,
		echo "$*"
	)
	hp=${O_MTA_ADDR[$name]}
	o_run timeout --kill-after=5 $((120 * T_SLOW)) \
	    swaks --server "${hp%:*}" --port "${hp##*:}" --local-interface "$src" \
	    --helo client.test --from sender@client.test --to "$to" \
	    --timeout $((60 * T_SLOW)) --no-data-fixup --suppress-data \
	    --data "@$T_WORK/msg/$tag.wire" >"$out" 2>&1 </dev/null || return 1
	exim_wait_received "$name" "$tag" $((15 * T_SLOW))
}

# o_mta_deliver NAME ID: one forced delivery attempt of message ID (exim -M;
# returns when it is over).
o_mta_deliver() {
	o_exim_cmd "$1" -M "$2" >>"$T_WORK/exim-$1-cmd.log" 2>&1
}

# o_mta_queue_run NAME: one forced queue run over every message (-qff).
o_mta_queue_run() {
	o_exim_cmd "$1" -qff >>"$T_WORK/exim-$1-cmd.log" 2>&1
}

# o_mta_queue NAME: exim -bp
o_mta_queue() { o_exim_cmd "$1" -bp 2>&1; }

# o_mta_queued NAME ID: is message ID still in the queue?
o_mta_queued() {
	o_mta_queue "$1" | awk -v id="$2" '$3 == id { f = 1 } END { exit !f }'
}

# o_mta_queued_ids NAME: the ids in the queue, one a line
o_mta_queued_ids() {
	o_mta_queue "$1" | awk '$3 ~ /^[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+$/ { print $3 }'
}

# o_mta_pending NAME ID: the recipients of ID not yet delivered, one a line
o_mta_pending() {
	o_mta_queue "$1" | awk -v id="$2" '
		$3 == id { on = 1; next }
		on && NF == 0 { exit }
		on && $1 != "D" { print $1 }'
}

# o_mta_defers NAME ID: the "==" (deferred) log lines of message ID
o_mta_defers() { grep -E " $(t_re "$2") == " "$(exim_log "$1")" 2>/dev/null; }

# o_mta_deliveries NAME ID: the "=>" (delivered) log lines of message ID
o_mta_deliveries() { grep -E " $(t_re "$2") (=>|->) " "$(exim_log "$1")" 2>/dev/null; }

# o_mta_bounces NAME: number of bounce messages the MTA generated
o_mta_bounces() { find "$(exim_dir "$1")/bounces" -type f 2>/dev/null | wc -l; }

# o_mta_log_mark NAME / o_mta_log_since NAME: the mainlog since the mark
declare -A O_MTA_MARK=()
o_mta_log_mark() { O_MTA_MARK[$1]=$(wc -l <"$(exim_log "$1")" 2>/dev/null || echo 0); }
o_mta_log_since() { tail -n +$((${O_MTA_MARK[$1]:-0} + 1)) "$(exim_log "$1")" 2>/dev/null; }

# ---------------------------------------------------------------- mxgate (outbound)

# o_gate_start NAME: like lib.sh's mx_start (same config and log paths,
# registered as mxgate-NAME so that mx_stop works), but in the current
# network namespace.
o_gate_start() {
	local name=$1 conf log pid l
	conf=$(mx_conf "$name")
	log=$(mx_log "$name")
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:print_summary=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
	o_pre
	"${O_PRE[@]}" "$MXGATE" -c "$conf" >"$log.stdout" 2>"$log" </dev/null &
	pid=$!
	t_register "mxgate-$name" "$pid"
	for l in $(awk '$1 ~ /^listen_/ { print $2 }' "$conf"); do
		if ! o_wait_listen "${l%:*}" "${l##*:}" $((15 * T_SLOW)) "$pid"; then
			echo "mxgate $name does not listen on $l" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
	done
}

o_gate_running() { kill -0 "${T_PID[mxgate-$1]:-0}" 2>/dev/null; }

# o_gate_ensure NAME WHAT: when mxgate NAME has died (during WHAT), one
# failed check with the end of its log, which is kept as NAME.log.deadN,
# and a fresh start, so that the checks that follow are not all lost.
declare -A O_GATE_DEATHS=()
o_gate_ensure() {
	local name=$1 what=$2 log n
	o_gate_running "$name" && return 0
	log=$(mx_log "$name")
	n=$((${O_GATE_DEATHS[$name]:-0} + 1))
	O_GATE_DEATHS[$name]=$n
	wait "${T_PID[mxgate-$name]}" 2>/dev/null
	not_ok "mxgate[$name] still running after: $what" "exit status $?" "$(tail -n 8 "$log")" \
	    "$(tail -n 5 "$log.stdout" 2>/dev/null)"
	mv "$log" "$log.dead$n"
	unset "T_PID[mxgate-$name]"
	O_MARK[$name]=0
	if ! o_gate_start "$name" 2>"$T_WORK/$name.restart.err"; then
		not_ok "mxgate[$name] restarts" "$(cat "$T_WORK/$name.restart.err")"
		return 1
	fi
	t_note "mxgate[$name] restarted (the log before is $log.dead$n)"
}

# o_gate_mark NAME: later o_gate_* searches look only at lines logged after
# this point.
o_gate_mark() { O_MARK[$1]=$(wc -l <"$(mx_log "$1")" 2>/dev/null || echo 0); }

# o_gate_since NAME: the log lines after the mark
o_gate_since() { tail -n +$((${O_MARK[$1]:-0} + 1)) "$(mx_log "$1")" 2>/dev/null; }

# o_gate_wait NAME ERE TIMEOUT: wait for a line after the mark matching ERE;
# prints the first.
o_gate_wait() {
	local name=$1 re=$2 timeout=$3 i line
	for ((i = 0; i <= timeout * 10; i++)); do
		line=$(o_gate_since "$name" | grep -E -m1 -- "$re")
		if [ -n "$line" ]; then
			printf '%s\n' "$line"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# o_gate_delivery NAME DOMAIN [TIMEOUT]: the first delivery decision for
# DOMAIN after the mark.
o_gate_delivery() {
	o_gate_wait "$1" "^id=[0-9a-f]{16} .*dir=out .*event=delivery .*domain=$(t_re "$2")( |$)" "${3:-10}"
}

# o_gate_deliveries NAME DOMAIN: every delivery decision for DOMAIN after
# the mark.
o_gate_deliveries() {
	o_gate_since "$1" | grep -E "^id=[0-9a-f]{16} .*dir=out .*event=delivery .*domain=$(t_re "$2")( |$)"
}

# o_gate_session NAME SID: every line of session SID (whole log)
o_gate_session() { grep -E "^id=$2 " "$(mx_log "$1")" 2>/dev/null; }

# o_gate_events NAME EVENT: lines of EVENT after the mark
o_gate_events() { o_gate_since "$1" | grep -E "^id=[0-9a-f]{16} .*event=$2( |$)"; }

# o_kv LINE KEY: the value of KEY=value or KEY="quoted value" in a log line
o_kv() {
	printf '%s\n' "$1" | perl -ne '
		BEGIN { $k = shift @ARGV }
		if (/(?:^|\s)\Q$k\E=("(?:[^"\\]|\\.)*"|\S*)/) {
			my $v = $1;
			if ($v =~ s/^"(.*)"$/$1/) { $v =~ s/\\(.)/$1/g }
			print "$v\n";
			exit;
		}' "$2"
}

# o_sid LINE: the session id of a log line
o_sid() { printf '%s\n' "$1" | sed -n 's/^id=\([0-9a-f]\{16\}\) .*/\1/p'; }

# o_expect_stored NAME SRV TAG EML WHO: one check: Exim SRV received message
# TAG, delivered it, and stored it byte-exact as EML ("NAME: stored
# byte-exact by WHO"); on failure the details show mxgate's log since the
# last o_gate_mark of $GW.  Sets O_MXID (empty when never received).
o_expect_stored() {
	local name=$1 srv=$2 tag=$3 eml=$4 who=$5 cmp
	O_MXID=$(exim_wait_received "$srv" "$tag" $((10 * T_SLOW)))
	[ -n "$O_MXID" ] && exim_wait_completed "$srv" "$O_MXID" $((10 * T_SLOW))
	if [ -n "$O_MXID" ] && cmp=$(t_compare "$(exim_stored "$srv" "$O_MXID")" "$eml"); then
		ok "$name: stored byte-exact by $who ($cmp)"
		return 0
	fi
	not_ok "$name: stored byte-exact by $who" "${cmp:-not received}" \
	    "mxgate:" "$(o_gate_since "$GW" | tail -n 12)"
	return 1
}

# o_expect_kv NAME LINE KEY=VALUE...: one check: every KEY has VALUE in
# LINE (VALUE is an ERE matched against the whole value); KEY!=VALUE: the
# value must exist and not match.
o_expect_kv() {
	local name=$1 line=$2 kvp k v got bad='' neg
	shift 2
	for kvp in "$@"; do
		neg=0
		k=${kvp%%=*}
		v=${kvp#*=}
		if [ "${k%!}" != "$k" ]; then
			neg=1
			k=${k%!}
		fi
		got=$(o_kv "$line" "$k")
		if [ "$neg" = 1 ]; then
			if [ -z "$got" ] || printf '%s\n' "$got" | grep -q -E -x -- "$v"; then
				bad="$bad $k=${got:-<absent>} (want anything but $v)"
			fi
		elif ! printf '%s\n' "$got" | grep -q -E -x -- "$v"; then
			bad="$bad $k=${got:-<absent>} (want $v)"
		fi
	done
	if [ -n "$line" ] && [ -z "$bad" ]; then
		ok "$name"
	else
		not_ok "$name" "${bad:-no log line}" "line: ${line:-none}"
		return 1
	fi
}

# ---------------------------------------------------------------- one message through the chain

# o_case MTA GATE TAG SIZE RCPT...: make message TAG (SIZE octets), submit
# it to MTA from the next client address, mark GATE's log (when GATE is
# not -) and MTA's log, force one delivery attempt.  Sets O_ID (the MTA's
# message id).  Returns 1 with a failed check printed when the message
# could not even be queued.
o_case() {
	local mta=$1 gate=$2 tag=$3 size=$4 src
	shift 4
	O_ID=
	t_client_addr src
	t_message "$size" "$tag" || { not_ok "$tag: test message made"; return 1; }
	if ! O_ID=$(o_mta_submit "$mta" "$src" "$tag" "$T_WORK/swaks-$tag.out" "$@"); then
		not_ok "$tag: the sending MTA queues the message" "$(tail -n 15 "$T_WORK/swaks-$tag.out")"
		O_ID=
		return 1
	fi
	[ "$gate" != - ] && o_gate_mark "$gate"
	o_mta_log_mark "$mta"
	o_mta_deliver "$mta" "$O_ID"
	return 0
}

# ---------------------------------------------------------------- the test world
#
# One table of test domains, MX names, addresses and servers, shared by the
# outbound scenarios.  KEY -> domain, MX host name, address, what serves it:
#
#   key          domain              MX host (pref)                   address     server
#   good         good.test           starttls-mx1.good.test (10)      127.0.0.41  Exim, STARTTLS, valid cert
#   smtps        smtps.test          smtps-mx1.good.test (10)         127.0.0.42  Exim, STARTTLS + implicit TLS
#   closed26     closed26.test       smtps-mx1.closed26.test (10)     127.0.0.43  Exim, STARTTLS; smtps port closed
#   plain26      plain26.test        smtps-mx1.plain26.test (10)      127.0.0.44  Exim, STARTTLS; fake_mx plain26 on smtps
#   smtpsnotls   smtps-notls.test    smtps-mx1.notls.test (10)        127.0.0.45  Exim without TLS; smtps closed
#   notls        starttls-notls.test starttls-mx1.notls.test (10)     127.0.0.46  fake_mx nostarttls
#   wrongname    wrongname.test      starttls-mx1.wrongname.test (10) 127.0.0.47  Exim, cert for starttls-mx1.other.test
#   expired      expired.test        starttls-mx1.expired.test (10)   127.0.0.48  Exim, expired cert
#   selfsigned   selfsigned.test     starttls-mx1.selfsigned.test (10) 127.0.0.49 Exim, self-signed cert
#   untrusted    untrusted.test      starttls-mx1.untrusted.test (10) 127.0.0.50  Exim, cert from an untrusted CA
#   stripped     stripped.test       starttls-mx1.stripped.test (10)  127.0.0.51  strip_proxy -> 127.0.0.41
#   inject       inject.test         starttls-mx1.inject.test (10)    127.0.0.52  fake_mx inject
#   wild         wild.test           starttls-mx1.wild.test (10)      127.0.0.53  Exim, cert *.wild.test
#   fallback     fallback.test       starttls-mx1.fallback.test (10)  127.0.0.49  (the self-signed Exim)
#                                    starttls-mx2.fallback.test (20)  127.0.0.54  Exim, valid cert
#   K-may        K-may.test          mx1.K-may.test (10)              as K        (K: wrongname, expired,
#                                                                                  selfsigned, untrusted)
#   plain        plain.test          mx1.plain.test (10)              127.0.0.45  (the Exim without TLS)
#   broken       broken.test         SERVFAIL
#
# Every MX host listens on the same two ports at its own address: the smtp
# port (STARTTLS) and the smtps port (implicit TLS), 25 and 26 inside a
# network namespace, high ports on the host.

declare -A O_DOM=(
	[good]=good.test [smtps]=smtps.test [closed26]=closed26.test [plain26]=plain26.test
	[smtpsnotls]=smtps-notls.test [notls]=starttls-notls.test [wrongname]=wrongname.test
	[expired]=expired.test [selfsigned]=selfsigned.test [untrusted]=untrusted.test
	[stripped]=stripped.test [inject]=inject.test [wild]=wild.test [fallback]=fallback.test
	[wrongname-may]=wrongname-may.test [expired-may]=expired-may.test
	[selfsigned-may]=selfsigned-may.test [untrusted-may]=untrusted-may.test
	[plain]=plain.test [broken]=broken.test
)
declare -A O_MXN=(
	[good]=starttls-mx1.good.test [smtps]=smtps-mx1.good.test
	[closed26]=smtps-mx1.closed26.test [plain26]=smtps-mx1.plain26.test
	[smtpsnotls]=smtps-mx1.notls.test [notls]=starttls-mx1.notls.test
	[wrongname]=starttls-mx1.wrongname.test [expired]=starttls-mx1.expired.test
	[selfsigned]=starttls-mx1.selfsigned.test [untrusted]=starttls-mx1.untrusted.test
	[stripped]=starttls-mx1.stripped.test [inject]=starttls-mx1.inject.test
	[wild]=starttls-mx1.wild.test [fallback]=starttls-mx1.fallback.test
	[fallback2]=starttls-mx2.fallback.test
	[wrongname-may]=mx1.wrongname-may.test [expired-may]=mx1.expired-may.test
	[selfsigned-may]=mx1.selfsigned-may.test [untrusted-may]=mx1.untrusted-may.test
	[plain]=mx1.plain.test
)
declare -A O_MXA=(
	[good]=127.0.0.41 [smtps]=127.0.0.42 [closed26]=127.0.0.43 [plain26]=127.0.0.44
	[smtpsnotls]=127.0.0.45 [notls]=127.0.0.46 [wrongname]=127.0.0.47 [expired]=127.0.0.48
	[selfsigned]=127.0.0.49 [untrusted]=127.0.0.50 [stripped]=127.0.0.51 [inject]=127.0.0.52
	[wild]=127.0.0.53 [fallback]=127.0.0.49 [fallback2]=127.0.0.54
	[wrongname-may]=127.0.0.47 [expired-may]=127.0.0.48 [selfsigned-may]=127.0.0.49
	[untrusted-may]=127.0.0.50 [plain]=127.0.0.45
)
# The Exim instance (o_mxhost_start name) that stores what reaches KEY's MX.
declare -A O_SRV=(
	[good]=good [smtps]=smtps [closed26]=closed26 [plain26]=plain26 [smtpsnotls]=smtpsnotls
	[wrongname]=wrongname [expired]=expired [selfsigned]=selfsigned [untrusted]=untrusted
	[stripped]=good [wild]=wild [fallback]=selfsigned [fallback2]=fallback2
	[wrongname-may]=wrongname [expired-may]=expired [selfsigned-may]=selfsigned
	[untrusted-may]=untrusted [plain]=smtpsnotls
)
O_EXIM_MX_HOSTS="good smtps closed26 plain26 smtpsnotls wrongname expired selfsigned untrusted wild fallback2"

# o_world_zone: the zone above into the dnsmasq arguments (after
# o_dns_reset; broken.test needs o_servfail_start first).
o_world_zone() {
	local k
	for k in good smtps closed26 plain26 smtpsnotls notls wrongname expired selfsigned \
	    untrusted stripped inject wild fallback wrongname-may expired-may selfsigned-may \
	    untrusted-may plain; do
		o_dns_mx "${O_DOM[$k]}" "${O_MXN[$k]}" 10
		o_dns_a "${O_MXN[$k]}" "${O_MXA[$k]}"
	done
	o_dns_mx "${O_DOM[fallback]}" "${O_MXN[fallback2]}" 20
	# Resolved for the first time while the DNS server is down.
	o_dns_mx fresh.test "${O_MXN[good]}" 10
	o_dns_a "${O_MXN[fallback2]}" "${O_MXA[fallback2]}"
	[ -n "$O_SF_ADDR" ] && o_dns_servfail "${O_DOM[broken]}"
	return 0
}

# o_world_certs: every certificate the world's Exim hosts present.
o_world_certs() {
	o_cert good good "${O_MXN[good]}" &&
	    o_cert smtps good "${O_MXN[smtps]}" &&
	    o_cert closed26 good "${O_MXN[closed26]}" &&
	    o_cert plain26 good "${O_MXN[plain26]}" &&
	    o_cert wrongname good starttls-mx1.other.test &&
	    o_cert expired expired "${O_MXN[expired]}" &&
	    o_cert selfsigned selfsigned "${O_MXN[selfsigned]}" &&
	    o_cert untrusted untrusted "${O_MXN[untrusted]}" &&
	    o_cert wild good '*.wild.test' &&
	    o_cert fallback2 good "${O_MXN[fallback2]}"
}

# o_world_start SMTP_PORT SMTPS_PORT KEY...: start the servers of the given
# keys (good smtps closed26 plain26 smtpsnotls notls wrongname expired
# selfsigned untrusted stripped inject wild fallback2) in the current
# namespace.  Exim hosts are named after their key; the fake peers are
# peer-notls, peer-plain26, peer-stripped, peer-inject.  Prints what failed.
o_world_start() {
	local sp=$1 sps=$2 k rc=0
	shift 2
	for k in "$@"; do
		case $k in
		good | closed26 | wrongname | expired | selfsigned | untrusted | wild | fallback2)
			o_mxhost_start "$k" "${O_MXA[$k]}" smtp="$sp" cert="$k" hostname="${O_MXN[$k]}" ;;
		smtps)
			o_mxhost_start smtps "${O_MXA[smtps]}" smtp="$sp" smtps="$sps" cert=smtps \
			    hostname="${O_MXN[smtps]}" ;;
		plain26)
			o_mxhost_start plain26 "${O_MXA[plain26]}" smtp="$sp" cert=plain26 \
			    hostname="${O_MXN[plain26]}" &&
			    o_peer_start plain26 fake_mx "${O_MXA[plain26]}:$sps" -m plain26 ;;
		smtpsnotls)
			o_mxhost_start smtpsnotls "${O_MXA[smtpsnotls]}" smtp="$sp" tls=no \
			    hostname="${O_MXN[smtpsnotls]}" ;;
		notls)
			o_peer_start notls fake_mx "${O_MXA[notls]}:$sp" -m nostarttls -n "${O_MXN[notls]}" ;;
		inject)
			o_peer_start inject fake_mx "${O_MXA[inject]}:$sp" -m inject -n "${O_MXN[inject]}" ;;
		stripped)
			o_peer_start stripped strip_proxy "${O_MXA[stripped]}:$sp" -f "${O_MXA[good]}:$sp" ;;
		*)
			echo "o_world_start: unknown key $k" >&2
			false ;;
		esac || {
			echo "o_world_start: $k did not start" >&2
			rc=1
		}
	done
	return $rc
}

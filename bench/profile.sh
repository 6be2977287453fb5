#!/bin/bash
# Where the CPU time goes, by perf sampling, for the benchmark cases:
# inbound bulk (case a), full handshakes (case b, ECDSA and RSA) and the
# plain-to-plain outbound relay (case e), the last both for mxgate and for
# the bare splice relay it is measured against, with the body sent as DATA
# and as one BDAT chunk.  Writes
# bench/results/profile.md: for each case the sampled process's CPU for
# the run, the share of kernel and user time, the functions with the most
# samples (self time) and the system calls the kernel time ran under.
#
#   bench/profile.sh [bulk] [hs-ecdsa] [hs-rsa] [relay] [relay-bare]
#                    [relay-bdat] [relay-bare-bdat]    (default: all seven)
#
# Environment: MXGATE, TOOLS as for run.sh; OUT (bench/results); BULK
# (1G); HS_SECS (6); HS_CONC (16); RELAY_MSGS (10 messages of 100 MiB).
# Needs perf (Debian: linux-perf) and, for the relay cases, dnsmasq.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MXGATE=${MXGATE:-$ROOT/mxgate}
TOOLS=${TOOLS:-$ROOT/build/bench}
OUT=${OUT:-$ROOT/bench/results}
BULK=${BULK:-1G}
HS_SECS=${HS_SECS:-6}
HS_CONC=${HS_CONC:-16}
RELAY_MSGS=${RELAY_MSGS:-10}
W=$ROOT/build/bench/profile
CERTS=$ROOT/build/bench/certs
CASES=${*:-bulk hs-ecdsa hs-rsa relay relay-bare relay-bdat relay-bare-bdat}
LISTEN=127.0.87.11:27811
SINK=127.0.87.2:27800
DNS=127.0.87.1:27853
MX_PLAIN=127.0.87.22:27825

die() { echo "profile.sh: $*" >&2; exit 1; }

if ! command -v perf >/dev/null; then
	[ "$(id -u)" = 0 ] || die "perf is missing (apt-get install linux-perf)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linux-perf \
	    >/dev/null || die "could not install linux-perf"
fi
perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 ||
    die "perf cannot sample here (kernel.perf_event_paranoid?)"
[ -x "$MXGATE" ] || die "no mxgate at $MXGATE (run make)"
for x in count_sink bulk_send hs_loop smtp_load smtp_sink splice_relay; do
	[ -x "$TOOLS/$x" ] || die "no $TOOLS/$x (make bench-tools)"
done
"$ROOT/bench/certs.sh" "$CERTS" >/dev/null || die "certificates"
rm -rf "$W"
mkdir -p "$W" "$OUT"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

hz=$(getconf CLK_TCK)
DNSPID=
trap '[ -z "$DNSPID" ] || kill "$DNSPID" 2>/dev/null' EXIT

# sample NAME PID CLIENT...: perf on PID while CLIENT runs; leaves
# $W/NAME.data and NAME.txt.
sample() {
	local name=$1 pid=$2 ppid t0 t1
	shift 2
	t0=$(ticks "$pid")
	perf record -e cpu-clock -F 1999 -g -p "$pid" -o "$W/$name.data" \
	    >/dev/null 2>&1 &
	ppid=$!
	sleep 0.3
	"$@" >"$W/$name.client" 2>&1
	t1=$(ticks "$pid")
	kill -INT "$ppid"
	wait "$ppid"
	{
		echo "client: $(tail -n 1 "$W/$name.client")"
		echo "cpu_s: $(echo "$t0 $t1 $hz" | awk '{ printf "%.2f", ($2 - $1) / $3 }')"
	} >"$W/$name.txt"
}

# tls NAME KEY CLIENT...: mxgate (2 workers) terminating TLS in front of
# a count_sink, sampled while CLIENT runs.
tls() {
	local name=$1 key=$2 spid mpid
	shift 2
	cat >"$W/$name.conf" <<-EOF
		workers 2
		log_level warn
		listen_smtps $LISTEN
		backend $SINK
		backend_client_address none
		tls_certificate $CERTS/$key.pem $CERTS/$key.key
		idle_timeout 600
		max_connections 10000
	EOF
	"$TOOLS/count_sink" -l "$SINK" -g "220 sink.bench.test ESMTP" -L 900 \
	    >"$W/$name.sink" 2>&1 &
	spid=$!
	"$MXGATE" -c "$W/$name.conf" >"$W/$name.mx" 2>&1 &
	mpid=$!
	sleep 0.5
	"$TOOLS/hs_loop" -c "$LISTEN" -n 8 -C 2 >/dev/null || die "$name: mxgate did not answer"
	sample "$name" "$mpid" "$@"
	kill "$mpid" "$spid"
	wait "$mpid" "$spid" 2>/dev/null
}

# relay NAME mxgate|bare [bdat]: RELAY_MSGS messages of 100 MiB, one
# session each, from smtp_load to an smtp_sink without STARTTLS, through
# mxgate's outbound listener (policy may, splice yes) or the bare splice
# relay; as DATA, or with bdat as one BDAT chunk to a sink offering
# CHUNKING.
relay() {
	local name=$1 kind=$2 body=${3:-} spid rpid addr sinkb= loadb=
	if [ "$body" = bdat ]; then
		sinkb=-b
		loadb="-B 0"
	fi
	if [ -z "$DNSPID" ]; then
		command -v dnsmasq >/dev/null || die "dnsmasq is missing (make bench installs it)"
		dnsmasq -k --port="${DNS##*:}" --listen-address="${DNS%:*}" \
		    --bind-interfaces --no-resolv --no-hosts --pid-file= --user=nobody \
		    --log-facility=- --local=/test/ \
		    --mx-host=plain.bench.test,mx-plain.bench.test,10 \
		    --host-record=mx-plain.bench.test,"${MX_PLAIN%:*}" \
		    >"$W/dnsmasq.log" 2>&1 &
		DNSPID=$!
		sleep 0.3
	fi
	"$TOOLS/smtp_sink" -l "$MX_PLAIN" $sinkb -n mx-plain.bench.test -e 100M \
	    -L 900 >"$W/$name.sink" 2>&1 &
	spid=$!
	if [ "$kind" = bare ]; then
		addr=127.0.87.16:27816
		"$TOOLS/splice_relay" -l "$addr" -r "$MX_PLAIN" >"$W/$name.mx" 2>&1 &
		rpid=$!
	else
		addr=127.0.87.14:27814
		cat >"$W/$name.conf" <<-EOF
			workers 2
			log_level warn
			listen_outbound $addr
			outbound_mode smarthost
			dns_servers $DNS
			default_policy may
			remote_smtp_port ${MX_PLAIN##*:}
			idle_timeout 600
			splice yes
		EOF
		"$MXGATE" -c "$W/$name.conf" >"$W/$name.mx" 2>&1 &
		rpid=$!
	fi
	sleep 0.5
	sample "$name" "$rpid" "$TOOLS/smtp_load" -c "$addr" -s 100M -C 1 \
	    -n "$RELAY_MSGS" -t 120 $loadb -r user@plain.bench.test
	kill "$rpid" "$spid"
	wait "$rpid" "$spid" 2>/dev/null
	grep -q " messages=$RELAY_MSGS errors=0 " "$W/$name.client" ||
	    die "$name: not every message went through: $(tail -n 1 "$W/$name.client")"
}

# report NAME TITLE: one markdown section from NAME's samples.
report() {
	local name=$1 title=$2 data=$W/$1.data
	echo "## $title"
	echo
	echo '```'
	cat "$W/$name.txt"
	echo '```'
	echo
	perf report -i "$data" --stdio --no-children --sort dso 2>/dev/null |
	    awk '/^ +[0-9.]+%/ { k = ($2 ~ /kernel/) ? "kernel" : "user (" $2 ")";
		sub(/%/, "", $1); s[k] += $1 }
		END { printf "Samples by where they ran: ";
		      n = 0; for (k in s) printf "%s%s %.1f%%", (n++ ? ", " : ""), k, s[k];
		      print "." }'
	echo
	echo "Functions with the most samples (self time, top 25):"
	echo
	echo '```'
	perf report -i "$data" --stdio --no-children --sort sym 2>/dev/null |
	    grep -E '^ +[0-9.]+%' | head -n 25
	echo '```'
	echo
	echo "Kernel time by the system call it ran under (inclusive):"
	echo
	echo '```'
	perf report -i "$data" --stdio --children --sort sym -g none 2>/dev/null |
	    grep -E '\[k\] __(x64_)?sys_[a-z0-9_]+$|\[k\] __x64_sys_[a-z0-9_]+$' |
	    grep -E '^ +[0-9.]+%' | sort -t% -k1 -rn | head -n 12
	echo '```'
	echo
}

for c in $CASES; do
	case $c in
	bulk) tls bulk ecdsa "$TOOLS/bulk_send" -c "$LISTEN" -n "$BULK" -t 300 ;;
	hs-ecdsa) tls hs-ecdsa ecdsa "$TOOLS/hs_loop" -c "$LISTEN" -C "$HS_CONC" -d "$HS_SECS" -g ;;
	hs-rsa) tls hs-rsa rsa "$TOOLS/hs_loop" -c "$LISTEN" -C "$HS_CONC" -d "$HS_SECS" -g ;;
	relay) relay relay mxgate ;;
	relay-bare) relay relay-bare bare ;;
	relay-bdat) relay relay-bdat mxgate bdat ;;
	relay-bare-bdat) relay relay-bare-bdat bare bdat ;;
	*) die "unknown case $c" ;;
	esac
done

{
	echo "# mxgate CPU profiles"
	echo
	echo "Written by bench/profile.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from the tree" \
	    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	    "($(nproc) cores, kernel $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))."
	echo "perf samples the relay's threads (mxgate's, or splice_relay's) on cpu-clock at 1999 Hz with frame-pointer call"
	echo "graphs; wolfSSL's assembly has no frame pointers, so inclusive (children)"
	echo "figures are only trusted for kernel and C code.  On loopback, a receive"
	echo "that sends an ACK (or a send that delivers data) also runs the peer's"
	echo "TCP processing in mxgate's time: that is most of the kernel share."
	echo
	for c in $CASES; do
		case $c in
		bulk) report bulk "Inbound bulk (case a): $BULK over one TLS connection, ECDSA" ;;
		hs-ecdsa) report hs-ecdsa "Full handshakes (case b): ECDSA P-256, $HS_CONC in flight, $HS_SECS s" ;;
		hs-rsa) report hs-rsa "Full handshakes (case b): RSA-2048, $HS_CONC in flight, $HS_SECS s" ;;
		relay) report relay "Plain-to-plain outbound relay (case e): mxgate, splice yes, $RELAY_MSGS x 100 MiB" ;;
		relay-bare) report relay-bare "Plain-to-plain relay (case e): the bare splice relay, $RELAY_MSGS x 100 MiB" ;;
		relay-bdat) report relay-bdat "Plain-to-plain outbound relay (case e), one BDAT chunk: mxgate, splice yes, $RELAY_MSGS x 100 MiB" ;;
		relay-bare-bdat) report relay-bare-bdat "Plain-to-plain relay (case e), one BDAT chunk: the bare splice relay, $RELAY_MSGS x 100 MiB" ;;
		esac
	done
} >"$OUT/profile.md"
echo "profile written to $OUT/profile.md"

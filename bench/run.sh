#!/bin/bash
# bench/run.sh: every case of the benchmark (bench/README.md) against
# mxgate, stunnel and HAProxy, in one run, interleaved, ROUNDS rounds.
# Raw records go to build/bench/work/raw.txt; bench/report.pl turns them
# into bench/results/latest.md and latest.json.
#
# Knobs (environment): ROUNDS=3 CASES="a b c d e" BULK=1G HS_SECS=4
# IDLE_N=2000 SMTP_SECS=5 RELAY_MSGS=10 WORKERS=2 OUT=bench/results
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MXGATE=${MXGATE:-$ROOT/mxgate}
TOOLS=${TOOLS:-$ROOT/build/bench}
ROUNDS=${ROUNDS:-3}
CASES=${CASES:-"a b c d e"}
BULK=${BULK:-1G}
HS_SECS=${HS_SECS:-4}
IDLE_N=${IDLE_N:-2000}
SMTP_SECS=${SMTP_SECS:-5}
RELAY_MSGS=${RELAY_MSGS:-10}
WORKERS=${WORKERS:-2}
OUT=${OUT:-$ROOT/bench/results}
W=${BENCH_WORK:-$ROOT/build/bench/work}
CERTS=$ROOT/build/bench/certs
RAW=$W/raw.txt
LOGS=$W/logs
HZ=$(getconf CLK_TCK)

# Addresses: a /24 of loopback of our own and ports far from the test
# suite's, so that a test run on the same machine does not collide.
DNS=127.0.88.1:27053
SINK=127.0.88.2:27100			# count_sink behind inbound terminators
MX_TLS=127.0.88.21:27025		# smtp_sink with STARTTLS (starttls-mx)
MX_PLAIN=127.0.88.22:27025		# smtp_sink without (mx-plain)
declare -A IN_ADDR=([mxgate]=127.0.88.11:27011 [stunnel]=127.0.88.12:27012
    [haproxy]=127.0.88.13:27013)
declare -A OUT_ADDR=([mxgate]=127.0.88.14:27014 [stunnel]=127.0.88.15:27015
    [direct]=$MX_TLS)
declare -A PLAIN_ADDR=([splice_relay]=127.0.88.16:27016
    [mxgate_splice]=127.0.88.14:27014 [mxgate_copy]=127.0.88.14:27014
    [splice_relay_bdat]=127.0.88.16:27016 [mxgate_bdat]=127.0.88.14:27014
    [mxgate_bdat_copy]=127.0.88.14:27014)

TLS13_SUITES=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
TLS12_CIPHERS=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; cleanup; exit 1; }

# ---------------------------------------------------------------- processes

LASTPID=

# start NAME CMD...: run CMD in the background, stdout and stderr to
# $LOGS/NAME.out and .err; LASTPID is its pid.
start() {
	local name=$1
	shift
	"$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
	LASTPID=$!
}

# Running, and not a zombie waiting to be reaped.
alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# stop PID [SECS]: SIGTERM, then SIGKILL after SECS (default 5). Sets
# STOPPED to "exited CODE", "dead CODE" (it had ended before) or "killed".
# Never call it in a subshell: only this shell can reap its children.
stop() {
	local pid=$1 secs=${2:-5} i n
	if ! alive "$pid"; then
		wait "$pid" 2>/dev/null
		STOPPED="dead $?"
		return
	fi
	kill -TERM "$pid" 2>/dev/null
	n=$((secs * 20))
	for ((i = 0; i < n; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		STOPPED=killed
		return
	fi
	wait "$pid" 2>/dev/null
	STOPPED="exited $?"
}

# Only this shell's own children that it has not reaped yet: a pid it
# has reaped may already belong to someone else.
cleanup() {
	local p
	for p in $(jobs -p); do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap 'cleanup; exit 130' INT TERM

# wait_listen PID ADDR:PORT: until the socket listens (10 s), or the
# process died. 0 when listening.
wait_listen() {
	local pid=$1 ap=$2 i
	for ((i = 0; i < 200; i++)); do
		ss -Hltn "( sport = :${ap##*:} )" 2>/dev/null |
		    grep -qF " $ap " && return 0
		alive "$pid" || return 1
		sleep 0.05
	done
	return 1
}

# ----------------------------------------------------------- measurements

# CPU ticks (user + system, all threads, dead ones included) of a process.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	set -- $s
	echo $(( ${12} + ${13} ))
}

# Ticks of the whole machine: in tasks (user, nice, system), in
# interrupts (hard and soft: the network stack's receive work mostly),
# stolen by the hypervisor, and in all.
sys_ticks() {
	local cpu u n s i io irq sirq st rest
	read -r cpu u n s i io irq sirq st rest </proc/stat
	echo "$((u + n + s)) $((irq + sirq)) $st $((u + n + s + i + io + irq + sirq + st))"
}

# RSS and PSS in KiB and the thread count of a process.
mem_of() {
	local rss pss thr
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	thr=$(awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null)
	echo "${rss:-0} ${pss:-0} ${thr:-0}"
}

ticks_s() { awk -v t="$1" -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz }'; }

REC=0
# A measurement window: snap_begin TERM_PID SINK_PID ... snap_end.
# CPU seconds of every child this shell has reaped so far (the load
# clients and the small helpers), from the `times` builtin; it must run
# in this shell, not in a $(...) subshell, hence the file.
# Sets REAPED.
reaped_cpu() {
	times >"$W/times.txt"
	REAPED=$(awk 'NR == 2 {
		n = split($0, f, /[ ms]+/); t = 0
		for (i = 1; i + 1 <= n; i += 2) t += f[i] * 60 + f[i + 1]
		printf "%.3f", t }' "$W/times.txt")
}

snap_begin() {
	T_PID=$1 S_PID=$2
	T0_T=$(cpu_ticks "$T_PID") T0_S=$(cpu_ticks "$S_PID")
	read -r T0_TASK T0_IRQ T0_STEAL T0_ALL <<<"$(sys_ticks)"
	reaped_cpu
	T0_R=$REAPED
	T0_NS=$(date +%s%N)
}
snap_end() {
	local t1 s1 task irq steal all ns r1
	# The machine's share ends with the load; the terminator and the
	# sink get a moment more to finish closing what the client left.
	read -r task irq steal all <<<"$(sys_ticks)"
	ns=$(date +%s%N)
	reaped_cpu
	r1=$REAPED
	sleep 0.3
	t1=$(cpu_ticks "$T_PID") s1=$(cpu_ticks "$S_PID")
	SNAP="reaped_cpu_s=$(awk -v a="$T0_R" -v b="$r1" 'BEGIN { printf "%.3f", b - a }')"
	SNAP="$SNAP term_cpu_s=$(ticks_s $((t1 - T0_T))) sink_cpu_s=$(ticks_s $((s1 - T0_S)))"
	SNAP="$SNAP sys_task_s=$(ticks_s $((task - T0_TASK))) sys_irq_s=$(ticks_s $((irq - T0_IRQ)))"
	SNAP="$SNAP sys_steal_s=$(ticks_s $((steal - T0_STEAL))) sys_all_s=$(ticks_s $((all - T0_ALL)))"
	SNAP="$SNAP wall_s=$(awk -v d=$((ns - T0_NS)) 'BEGIN { printf "%.3f", d / 1e9 }')"
	SNAP="$SNAP load1=$(cut -d' ' -f1 /proc/loadavg)"
}

# rec HEADER; then emit SRC LINE for each part of the record.
rec() {
	REC=$((REC + 1))
	echo "rec=$REC $*" >>"$RAW"
	log "[$REC] $*"
}
emit() { echo "rec=$REC src=$1 ${2:-ok=0 error=\"no output\"}" >>"$RAW"; }

# Run a load tool in the foreground with a hard bound on its time.
run_tool() {
	local bound=$1
	shift
	timeout -k 5 "$bound" "$@" 2>>"$LOGS/tools.err" | tail -n 1
}

# Lines of a terminator's log that say something went wrong.
log_trouble() {
	grep -ciE 'level=error|fatal|abort|sanitizer|segmentation|assert|panic|\[ALERT\]' "$1" 2>/dev/null || true
}

# ------------------------------------------------------------- the peers

write_configs() {
	local k
	mkdir -p "$W/conf"
	for k in ecdsa rsa; do
		cat >"$W/conf/mxgate-in-$k.conf" <<EOF
workers                 $WORKERS
log_level               warn
listen_smtps            ${IN_ADDR[mxgate]}
backend                 $SINK
backend_client_address  none
tls_certificate         $CERTS/$k.pem $CERTS/$k.key
handshake_timeout       30
idle_timeout            600
max_connections         10000
EOF
		cat >"$W/conf/stunnel-in-$k.conf" <<EOF
foreground = yes
pid =
syslog = no
debug = 3
[in]
accept = ${IN_ADDR[stunnel]}
connect = $SINK
cert = $CERTS/$k.pem
key = $CERTS/$k.key
sslVersionMin = TLSv1.2
ciphersuites = $TLS13_SUITES
ciphers = $TLS12_CIPHERS
TIMEOUTidle = 600
EOF
		cat >"$W/conf/haproxy-in-$k.conf" <<EOF
global
    nbthread $WORKERS
    maxconn 9000
    ssl-default-bind-ciphersuites $TLS13_SUITES
    ssl-default-bind-ciphers $TLS12_CIPHERS
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode tcp
    maxconn 9000
    timeout connect 10s
    timeout client 600s
    timeout server 600s
frontend in
    bind ${IN_ADDR[haproxy]} ssl crt $CERTS/$k.combined.pem
    default_backend sink
backend sink
    server sink $SINK
EOF
	done
	for k in yes no; do
		cat >"$W/conf/mxgate-out-splice-$k.conf" <<EOF
workers                 $WORKERS
log_level               warn
listen_outbound         ${OUT_ADDR[mxgate]}
outbound_mode           smarthost
dns_servers             $DNS
ca_file                 $CERTS/ca.pem
default_policy          may
remote_smtp_port        ${MX_TLS##*:}
max_connections         10000
idle_timeout            600
splice                  $k
EOF
	done
	cat >"$W/conf/stunnel-out.conf" <<EOF
foreground = yes
pid =
syslog = no
debug = 3
[out]
client = yes
accept = ${OUT_ADDR[stunnel]}
connect = $MX_TLS
protocol = smtp
sni = starttls-mx.bench.test
verifyChain = yes
checkHost = starttls-mx.bench.test
CAfile = $CERTS/ca.pem
sslVersionMin = TLSv1.2
ciphersuites = $TLS13_SUITES
ciphers = $TLS12_CIPHERS
TIMEOUTidle = 600
EOF
}

# term_start KIND CONF TAG [ADDR]: start a terminator, wait for its
# listener. TPID is its pid, TLOG its stderr log.
term_start() {
	local kind=$1 conf=$2 tag=$3 addr=$4
	case $kind in
	mxgate*) start "$tag" "$MXGATE" -c "$conf" ;;
	stunnel) start "$tag" stunnel4 "$conf" ;;
	haproxy) start "$tag" haproxy -db -f "$conf" ;;
	splice_relay*) start "$tag" "$TOOLS/splice_relay" -l "$addr" -r "$MX_PLAIN" ;;
	*) die "unknown terminator $kind" ;;
	esac
	TPID=$LASTPID
	TLOG=$LOGS/$tag.err
	wait_listen "$TPID" "$addr"
}

# The record of a terminator at the end of a window: alive, how it
# stopped, its log's trouble lines.
term_end() {
	local tag=$1 was_alive=1
	alive "$TPID" || was_alive=0
	stop "$TPID" 10
	emit term "alive=$was_alive stop=\"$STOPPED\" log_trouble=$(log_trouble "$TLOG") log=$tag.err"
}

# Rotate a list by the round number, so that no peer always goes first.
rotate() {
	local r=$1
	shift
	local a=("$@") n=$# i
	for ((i = 0; i < n; i++)); do
		printf '%s ' "${a[$(((i + r - 1) % n))]}"
	done
}

# ------------------------------------------------------------------ cases

# a. One TLS connection, BULK bytes, into a plain sink.
case_a() {
	local r=$1 t tag sline cline
	for t in $(rotate "$r" mxgate stunnel haproxy); do
		tag=r$r-a-$t
		rec "round=$r case=a term=$t bytes=$BULK"
		start "$tag-sink" "$TOOLS/count_sink" -l "$SINK" -V 16 -L 900
		SPID=$LASTPID
		wait_listen "$SPID" "$SINK" || die "count_sink did not start"
		if ! term_start "$t" "$W/conf/$t-in-ecdsa.conf" "$tag" "${IN_ADDR[$t]}"; then
			emit term "alive=0 stop=\"did not start\" log=$tag.err"
			stop "$SPID"
			continue
		fi
		run_tool 60 "$TOOLS/hs_loop" -c "${IN_ADDR[$t]}" -n 8 -C 2 >/dev/null
		snap_begin "$TPID" "$SPID"
		cline=$(run_tool 400 "$TOOLS/bulk_send" -c "${IN_ADDR[$t]}" -n "$BULK" -t 300)
		snap_end
		emit win "$SNAP"
		emit client "$cline"
		term_end "$tag"
		stop "$SPID"
		sline=$(tail -n 1 "$LOGS/$tag-sink.out")
		emit sink "$sline"
	done
}

# b. Full handshakes, no resumption, per key type and concurrency.
case_b() {
	local r=$1 k c t tag cline
	for k in ecdsa rsa; do
		for c in 16 64; do
			for t in $(rotate "$r" mxgate stunnel haproxy); do
				tag=r$r-b-$k-$c-$t
				rec "round=$r case=b key=$k conc=$c term=$t"
				start "$tag-sink" "$TOOLS/count_sink" -l "$SINK" \
				    -g "220 sink.bench.test ESMTP" -L 900
				SPID=$LASTPID
				wait_listen "$SPID" "$SINK" || die "count_sink did not start"
				if ! term_start "$t" "$W/conf/$t-in-$k.conf" "$tag" "${IN_ADDR[$t]}"; then
					emit term "alive=0 stop=\"did not start\" log=$tag.err"
					stop "$SPID"
					continue
				fi
				run_tool 60 "$TOOLS/hs_loop" -c "${IN_ADDR[$t]}" -n 32 -C 4 -g >/dev/null
				snap_begin "$TPID" "$SPID"
				cline=$(run_tool $((HS_SECS + 60)) "$TOOLS/hs_loop" \
				    -c "${IN_ADDR[$t]}" -C "$c" -d "$HS_SECS" -g)
				snap_end
				emit win "$SNAP"
				emit client "$cline"
				term_end "$tag"
				stop "$SPID"
				emit sink "$(tail -n 1 "$LOGS/$tag-sink.out")"
			done
		done
	done
}

# c. IDLE_N established, idle TLS connections: memory per connection.
case_c() {
	local r=$1 t tag hpid ready m0 m1 i ok cline r0 p0 h0 r1 p1 h1
	for t in $(rotate "$r" mxgate stunnel haproxy); do
		tag=r$r-c-$t
		rec "round=$r case=c term=$t conns=$IDLE_N"
		start "$tag-sink" "$TOOLS/count_sink" -l "$SINK" \
		    -g "220 sink.bench.test ESMTP" -L 900
		SPID=$LASTPID
		wait_listen "$SPID" "$SINK" || die "count_sink did not start"
		if ! term_start "$t" "$W/conf/$t-in-ecdsa.conf" "$tag" "${IN_ADDR[$t]}"; then
			emit term "alive=0 stop=\"did not start\" log=$tag.err"
			stop "$SPID"
			continue
		fi
		run_tool 60 "$TOOLS/hs_loop" -c "${IN_ADDR[$t]}" -n 32 -C 4 -g >/dev/null
		sleep 0.5
		m0=$(mem_of "$TPID")
		ready=$W/$tag.ready
		rm -f "$ready"
		snap_begin "$TPID" "$SPID"
		start "$tag-hold" "$TOOLS/idle_hold" -c "${IN_ADDR[$t]}" -n "$IDLE_N" \
		    -C 32 -g -h 300 -r "$ready"
		hpid=$LASTPID
		ok=0
		for ((i = 0; i < 1200; i++)); do
			[ -s "$ready" ] && { ok=1; break; }
			alive "$hpid" || break
			sleep 0.1
		done
		sleep 1		# let buffers drain and any lazy release happen
		m1=$(mem_of "$TPID")
		snap_end
		emit win "$SNAP"
		stop "$hpid" 10
		cline=$(tail -n 1 "$LOGS/$tag-hold.out")
		emit client "${cline:-ok=0 error=\"no output\"} ready=$ok"
		read -r r0 p0 h0 <<<"$m0"
		read -r r1 p1 h1 <<<"$m1"
		emit mem "rss0_kib=$r0 pss0_kib=$p0 threads0=$h0 rss1_kib=$r1 pss1_kib=$p1 threads1=$h1"
		term_end "$tag"
		stop "$SPID"
		emit sink "$(tail -n 1 "$LOGS/$tag-sink.out")"
	done
}

# d. Outbound: plaintext SMTP in, STARTTLS with verification out.
case_d() {
	local r=$1 c t tag cline conf
	for c in 32 200; do
		for t in $(rotate "$r" mxgate stunnel direct); do
			tag=r$r-d-$c-$t
			rec "round=$r case=d conc=$c term=$t size=10k"
			start "$tag-sink" "$TOOLS/smtp_sink" -l "$MX_TLS" \
			    -c "$CERTS/ecdsa.pem" -k "$CERTS/ecdsa.key" -T \
			    -n starttls-mx.bench.test -e 10k -L 900
			SPID=$LASTPID
			wait_listen "$SPID" "$MX_TLS" || die "smtp_sink did not start"
			if [ "$t" = direct ]; then
				TPID=$SPID
			else
				case $t in
				mxgate) conf=$W/conf/mxgate-out-splice-yes.conf ;;
				stunnel) conf=$W/conf/stunnel-out.conf ;;
				esac
				if ! term_start "$t" "$conf" "$tag" "${OUT_ADDR[$t]}"; then
					emit term "alive=0 stop=\"did not start\" log=$tag.err"
					stop "$SPID"
					continue
				fi
			fi
			run_tool 60 "$TOOLS/smtp_load" -c "${OUT_ADDR[$t]}" -s 10k -n 8 -C 4 >/dev/null
			snap_begin "$TPID" "$SPID"
			cline=$(run_tool $((SMTP_SECS + 120)) "$TOOLS/smtp_load" \
			    -c "${OUT_ADDR[$t]}" -s 10k -C "$c" -d "$SMTP_SECS" -t 60 \
			    -r user@bench.test)
			snap_end
			emit win "$SNAP"
			emit client "$cline"
			if [ "$t" != direct ]; then
				term_end "$tag"
			fi
			stop "$SPID"
			emit sink "$(tail -n 1 "$LOGS/$tag-sink.out") warmup=8"
		done
	done
}

# e. Plain to plain: a 100 MiB message RELAY_MSGS times, one session each,
# first as DATA (every byte read to find the end of data), then as one
# BDAT chunk (RFC 3030: the length is known, the octets pass unseen), the
# MX offering CHUNKING. Each mxgate figure is compared with the bare
# splice relay carrying the same SMTP.
case_e() {
	local r=$1 t tag cline conf sinkb loadb
	for t in $(rotate "$r" splice_relay mxgate_splice mxgate_copy) \
	    $(rotate "$r" splice_relay_bdat mxgate_bdat mxgate_bdat_copy); do
		tag=r$r-e-$t
		sinkb=
		loadb=
		case $t in
		*bdat*) sinkb=-b; loadb="-B 0" ;;
		esac
		rec "round=$r case=e term=$t size=100M msgs=$RELAY_MSGS"
		start "$tag-sink" "$TOOLS/smtp_sink" -l "$MX_PLAIN" $sinkb \
		    -n mx-plain.bench.test -e 100M -L 900
		SPID=$LASTPID
		wait_listen "$SPID" "$MX_PLAIN" || die "smtp_sink did not start"
		case $t in
		mxgate_splice|mxgate_bdat) conf=$W/conf/mxgate-out-splice-yes.conf ;;
		mxgate_copy|mxgate_bdat_copy) conf=$W/conf/mxgate-out-splice-no.conf ;;
		*) conf= ;;
		esac
		if ! term_start "$t" "$conf" "$tag" "${PLAIN_ADDR[$t]}"; then
			emit term "alive=0 stop=\"did not start\" log=$tag.err"
			stop "$SPID"
			continue
		fi
		snap_begin "$TPID" "$SPID"
		cline=$(run_tool 600 "$TOOLS/smtp_load" -c "${PLAIN_ADDR[$t]}" \
		    -s 100M -C 1 -n "$RELAY_MSGS" -t 120 $loadb \
		    -r user@plain.bench.test)
		snap_end
		emit win "$SNAP"
		emit client "$cline"
		term_end "$tag"
		stop "$SPID"
		emit sink "$(tail -n 1 "$LOGS/$tag-sink.out")"
	done
}

# ------------------------------------------------------------------- main

[ -x "$MXGATE" ] || die "no mxgate at $MXGATE (run make)"
for x in count_sink bulk_send hs_loop idle_hold smtp_load smtp_sink splice_relay; do
	[ -x "$TOOLS/$x" ] || die "no $TOOLS/$x (run make bench-tools)"
done
for x in stunnel4 haproxy dnsmasq openssl ss timeout; do
	command -v "$x" >/dev/null || die "$x not installed (bench/install-deps.sh)"
done

# Each peer holds up to 2 x IDLE_N sockets, and so does the holder.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge $((IDLE_N * 2 + 200)) ] ||
    die "open-file limit $(ulimit -n) is too low for IDLE_N=$IDLE_N"

rm -rf "$W"
mkdir -p "$W" "$LOGS" "$OUT"
"$ROOT/bench/certs.sh" "$CERTS" >/dev/null || die "certificates"
write_configs

{
	echo "started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "cores=$(nproc)"
	echo "mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
	echo "kernel=$(uname -r)"
	echo "os=Debian $(cat /etc/debian_version 2>/dev/null)"
	echo "mxgate=$("$MXGATE" -V 2>&1 | tr '\n' ';')"
	# The tree the measured binary was built from.
	echo "mxgate_tree=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
	    [ -n "$(git -C "$ROOT" status --porcelain -- proxy common config 2>/dev/null)" ] &&
	    echo ' with uncommitted changes in proxy/, common/ or config/')"
	echo "stunnel=$(stunnel4 -version 2>&1 | grep -m1 '^stunnel') / $(stunnel4 -version 2>&1 | grep -m1 'Running')"
	echo "haproxy=$(haproxy -v 2>&1 | head -n 1) / $(haproxy -vv 2>&1 | grep -m1 'Running on OpenSSL')"
	echo "workers=$WORKERS"
	echo "rounds=$ROUNDS"
	echo "cases=$CASES"
	echo "bulk=$BULK hs_secs=$HS_SECS idle_n=$IDLE_N smtp_secs=$SMTP_SECS relay_msgs=$RELAY_MSGS"
	echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$W/meta.txt"
ps -eo pid=,comm=,cputimes= >"$W/ps-start.txt"

start dnsmasq dnsmasq -k --port="${DNS##*:}" --listen-address="${DNS%:*}" \
    --bind-interfaces --no-resolv --no-hosts --pid-file= --user=nobody \
    --log-facility=- --local=/test/ --local-ttl=600 \
    --mx-host=bench.test,starttls-mx.bench.test,10 \
    --host-record=starttls-mx.bench.test,"${MX_TLS%:*}" \
    --mx-host=plain.bench.test,mx-plain.bench.test,10 \
    --host-record=mx-plain.bench.test,"${MX_PLAIN%:*}"
DNSPID=$LASTPID
sleep 0.3
alive "$DNSPID" || die "dnsmasq did not start: $(cat "$LOGS/dnsmasq.err")"

T_START=$(date +%s)
for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round of $ROUNDS"
	for c in $CASES; do
		"case_$c" "$round"
	done
done
T_END=$(date +%s)

stop "$DNSPID"
ps -eo pid=,comm=,cputimes= >"$W/ps-end.txt"
{
	echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "duration_s=$((T_END - T_START))"
} >>"$W/meta.txt"

perl "$ROOT/bench/report.pl" "$W" "$OUT" || die "report failed"
cp "$RAW" "$OUT/latest-raw.txt"
log "done in $((T_END - T_START)) s: $OUT/latest.md"

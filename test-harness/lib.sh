# shellcheck shell=bash
#
# Helpers for the end-to-end scenarios (test-harness/scenarios/*.sh) and the
# demo (test-harness/demo.sh).  Source it from bash:
#
#   . "$(dirname "$0")/../lib.sh"
#   t_init my-scenario
#   ...
#   t_done
#
# What it provides:
#   ok / not_ok / t_note         TAP-style result lines ("ok - NAME", "not ok - NAME")
#   t_init / t_done / t_cleanup  work dir (mktemp under /tmp), process registry, exit trap
#   t_free_port / t_client_addr  unused high TCP ports, distinct 127.0.0.x client addresses
#   t_wait_listen / t_wait_grep  bounded waits (every wait here has a timeout)
#   t_certs                      private test CA, ECDSA mx1.test and RSA mx2.test leaves
#   t_message                    wire-format test messages of a given size
#   t_swaks / t_raw              clients: swaks, and a scripted raw TCP client (perl)
#   t_compare                    byte-exact comparison (length and sha256)
#   exim_*                       a real Exim (Debian's heavy daemon, unpacked) as backend
#   mx_*                         mxgate: config, start, wait, log parsing, stop
#
# Environment:
#   MXGATE        the mxgate binary (default: ./mxgate from the repository root)
#   SANITIZE=1    mxgate is an ASan/UBSan build: check its log after it stops
#   T_KEEP=1      keep the work dir even when every check passed
#   MXGATE_EXIM_DIR  where Exim is unpacked (default /opt/mxgate-test/exim)

T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_TOP=$(cd "$T_LIB_DIR/.." && pwd)
MXGATE=${MXGATE:-$T_TOP/mxgate}
SANITIZE=${SANITIZE:-0}
EXIM_BIN=${MXGATE_EXIM_DIR:-/opt/mxgate-test/exim}/usr/sbin/exim4

# Everything takes longer under the sanitizers.
if [ "$SANITIZE" = 1 ]; then T_SLOW=3; else T_SLOW=1; fi

T_NAME=
T_WORK=
T_PASS=0
T_FAIL=0
T_NEXT_PORT=
T_NEXT_CLIENT=100
declare -A T_PID=()      # name -> pid of every server started here
declare -A T_STATUS=()   # name -> exit status once stopped

# ---------------------------------------------------------------- results

ok() {
	T_PASS=$((T_PASS + 1))
	echo "ok - $1"
}

# not_ok NAME [DETAIL...]: each DETAIL is printed on its own "#" line.
not_ok() {
	local name=$1 d
	shift
	T_FAIL=$((T_FAIL + 1))
	echo "not ok - $name"
	for d in "$@"; do
		printf '%s\n' "$d" | sed -e 's/^/#   /' | head -n 40
	done
}

t_note() {
	printf '%s\n' "$*" | sed -e 's/^/# /'
}

# t_check NAME COMMAND...: ok when COMMAND succeeds, otherwise not ok with
# the tail of its output.
t_check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		not_ok "$name" "$(printf '%s\n' "$out" | tail -n 15)"
	fi
}

# ---------------------------------------------------------------- life cycle

t_init() {
	T_NAME=$1
	T_WORK=$(mktemp -d "/tmp/mxgate-$T_NAME.XXXXXX") || {
		echo "not ok - $T_NAME: cannot create a work dir"
		exit 1
	}
	# The Exim user must be able to reach its spool, log and config.
	chmod 755 "$T_WORK"
	# Port numbers: a window derived from the pid, so that two runs on the
	# same machine are unlikely to collide, below the kernel's ephemeral
	# range (32768-60999); every port is checked anyway.
	T_NEXT_PORT=$((20000 + ($$ % 120) * 100))
	trap t_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	trap 'exit 129' HUP
	t_write_raw_client
	t_note "$T_NAME: work dir $T_WORK"
	t_require
}

# t_require: the tools every scenario uses; a missing one is one failed
# check with the way to get it, and the scenario ends there.
t_require() {
	local missing='' c
	for c in swaks openssl perl ss timeout unshare sha256sum awk sed; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	if [ -n "$missing" ]; then
		not_ok "$T_NAME: required tools present" "missing:$missing" "run: scripts/install-deps.sh test"
		exit 1
	fi
	if ! perl -MNet::SSLeay -e 1 2>/dev/null; then
		not_ok "$T_NAME: swaks can speak TLS (perl Net::SSLeay)" \
		    "run: apt-get install --no-install-recommends libnet-ssleay-perl"
		exit 1
	fi
}

# Stop every process still registered, then remove the work dir (kept, minus
# the big message files, when a check failed or T_KEEP=1).
t_cleanup() {
	local rc=$? name
	trap - EXIT TERM INT HUP
	for name in "${!T_PID[@]}"; do
		t_stop_pid "$name" 5 >/dev/null 2>&1
	done
	if [ -n "$T_WORK" ] && [ -d "$T_WORK" ]; then
		if [ "$T_FAIL" -gt 0 ] || [ "${T_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
			find "$T_WORK" -type f -size +1024k -delete 2>/dev/null
			echo "# $T_NAME: work dir kept: $T_WORK"
		else
			rm -rf "$T_WORK"
		fi
	fi
	exit "$rc"
}

# t_done: last call of a scenario.
t_done() {
	t_note "$T_NAME: $T_PASS passed, $T_FAIL failed"
	if [ "$T_FAIL" -gt 0 ]; then exit 1; fi
	exit 0
}

# t_register NAME PID
t_register() {
	T_PID[$1]=$2
}

# t_stop_pid NAME [GRACE]: SIGTERM, wait up to GRACE seconds, then SIGKILL.
# Records the exit status in T_STATUS[NAME]; returns 0 when the process
# ended by itself within the grace period.
t_stop_pid() {
	local name=$1 grace=${2:-10} pid i clean=0 st
	pid=${T_PID[$name]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { clean=1; break; }
		sleep 0.1
	done
	if [ "$clean" = 0 ]; then
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	st=$?
	T_STATUS[$name]=$st
	unset "T_PID[$name]"
	[ "$clean" = 1 ]
}

# ---------------------------------------------------------------- ports, addresses, waits

# t_free_port VAR: an unused TCP port (nothing listening or connected on it).
t_free_port() {
	local p
	p=$T_NEXT_PORT
	while [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; do
		p=$((p + 1))
	done
	T_NEXT_PORT=$((p + 1))
	printf -v "$1" '%s' "$p"
}

# t_client_addr VAR: the next distinct client address 127.0.0.100, .101, ...
t_client_addr() {
	printf -v "$1" '127.0.0.%s' "$T_NEXT_CLIENT"
	T_NEXT_CLIENT=$((T_NEXT_CLIENT + 1))
	if [ "$T_NEXT_CLIENT" -gt 250 ]; then T_NEXT_CLIENT=100; fi
}

# t_is_listening ADDR PORT
t_is_listening() {
	ss -Hltn "( sport = :$2 )" 2>/dev/null | awk -v a="$1:$2" '$4 == a { f = 1 } END { exit !f }'
}

# t_wait_listen ADDR PORT TIMEOUT [PID]: wait until something listens on
# ADDR:PORT, without connecting to it.  Gives up early when PID dies.
t_wait_listen() {
	local addr=$1 port=$2 timeout=$3 pid=${4:-} i
	for ((i = 0; i < timeout * 10; i++)); do
		t_is_listening "$addr" "$port" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# t_wait_grep FILE ERE TIMEOUT: wait until a line of FILE matches ERE; prints
# the first matching line.
t_wait_grep() {
	local file=$1 re=$2 timeout=$3 i line
	for ((i = 0; i <= timeout * 10; i++)); do
		if [ -f "$file" ]; then
			line=$(grep -E -m1 -- "$re" "$file" 2>/dev/null)
			if [ -n "$line" ]; then
				printf '%s\n' "$line"
				return 0
			fi
		fi
		sleep 0.1
	done
	return 1
}

# t_count FILE ERE: number of matching lines (0 when FILE is missing).
t_count() {
	local n
	n=$(grep -E -c -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}

# t_re STRING: STRING quoted for use inside an ERE.
t_re() {
	printf '%s' "$1" | sed -e 's/[][\.*^$+?(){}|/]/\\&/g'
}

# ---------------------------------------------------------------- certificates

# t_certs: a private CA and two leaves, generated once per test run (in
# $T_RUNDIR/certs when run.sh provides a run dir, else in the work dir).
# Sets T_CA, T_MX1_CHAIN, T_MX1_KEY, T_MX2_CHAIN, T_MX2_KEY.
t_certs() {
	local d=${T_RUNDIR:+$T_RUNDIR/certs}
	d=${d:-$T_WORK/certs}
	T_CA=$d/ca.pem
	T_MX1_CHAIN=$d/mx1.test.chain.pem
	T_MX1_KEY=$d/mx1.test.key
	T_MX2_CHAIN=$d/mx2.test.chain.pem
	T_MX2_KEY=$d/mx2.test.key
	if [ -s "$T_MX2_CHAIN" ] && [ -s "$T_MX1_CHAIN" ] && [ -s "$T_CA" ]; then
		return 0
	fi
	mkdir -p "$d" && chmod 755 "$d" || return 1
	(
		set -e
		cd "$d"
		umask 022
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout ca.key -out ca.pem -days 30 -subj "/O=mxgate tests/CN=mxgate test CA" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		leaf() { # NAME KEYSPEC...
			local n=$1
			shift
			cat >"$n.ext" <<-EOF
				basicConstraints = critical, CA:FALSE
				keyUsage = critical, digitalSignature, keyEncipherment
				extendedKeyUsage = serverAuth
				subjectAltName = DNS:$n
				authorityKeyIdentifier = keyid
			EOF
			openssl req -new "$@" -nodes -keyout "$n.key" -out "$n.csr" \
			    -subj "/O=mxgate tests/CN=$n" 2>/dev/null
			openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			    -days 30 -extfile "$n.ext" -out "$n.pem" 2>/dev/null
			cat "$n.pem" ca.pem >"$n.chain.pem"
			chmod 644 "$n.key"
		}
		leaf mx1.test -newkey ec -pkeyopt ec_paramgen_curve:P-256
		leaf mx2.test -newkey rsa:2048
		openssl verify -CAfile ca.pem mx1.test.pem mx2.test.pem >/dev/null
	) || return 1
}

# ---------------------------------------------------------------- messages

# t_message SIZE TAG: writes $T_WORK/msg/TAG.eml (the message exactly as it
# must be stored: CRLF line ends, every line shorter than 998 octets, many
# lines starting with ".") and $T_WORK/msg/TAG.wire (the same, dot-stuffed,
# followed by the terminating "." without its CRLF: swaks --no-data-fixup
# sends the file verbatim and adds one CRLF).  The Message-ID is
# <TAG@mxgate.test>, which Exim logs as id=TAG@mxgate.test.
t_message() {
	local size=$1 tag=$2
	mkdir -p "$T_WORK/msg"
	perl -e '
		use strict; use warnings;
		my ($size, $tag, $eml, $wire) = @ARGV;
		my $seed = 0; $seed = ($seed * 31 + ord($_)) % 2147483647 for split //, $tag;
		srand($seed + $size);
		my $h = "From: mxgate test <sender\@client.test>\r\n"
		      . "To: <rcpt\@backend.test>\r\n"
		      . "Subject: mxgate end-to-end test $tag\r\n"
		      . "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
		      . "Message-ID: <$tag\@mxgate.test>\r\n"
		      . "MIME-Version: 1.0\r\n"
		      . "Content-Type: text/plain; charset=us-ascii\r\n"
		      . "\r\n";
		die "size $size is smaller than the header\n" if $size < length($h) + 2;
		my @special = (".", "..", "...", ". ", ".leading dot",
		               "..two leading dots", ".\t.", "From the start of a line",
		               "", " ", "QUIT", "\t.tab then dot");
		my @chars = map { chr } 32 .. 126;
		my $body = "";
		my $left = $size - length($h);
		my $n = 0;
		while ($left > 0) {
			my $line;
			if ($n % 7 == 3) {
				$line = $special[($n / 7) % @special];
			} elsif ($n % 29 == 5) {
				$line = "." . join("", map { $chars[rand @chars] } 1 .. 989);
			} else {
				my $len = int(rand(rand() < 0.2 ? 991 : 78));
				$line = join("", map { $chars[rand @chars] } 1 .. $len);
				$line = "." . $line if $n % 5 == 1;
			}
			$n++;
			my $need = length($line) + 2;
			if ($need > $left || $left - $need == 1) {
				$line = "." . ("x" x ($left - 3)) if $left >= 3;
				$line = "" if $left < 3;
				$need = length($line) + 2;
			}
			$body .= "$line\r\n";
			$left -= $need;
		}
		my $msg = $h . $body;
		die "internal: size mismatch\n" if length($msg) != $size;
		open(my $e, ">", $eml) or die "$eml: $!\n"; binmode $e; print $e $msg; close $e;
		(my $stuffed = $msg) =~ s/^\./../mg;
		open(my $w, ">", $wire) or die "$wire: $!\n"; binmode $w; print $w $stuffed, "."; close $w;
	' "$size" "$tag" "$T_WORK/msg/$tag.eml" "$T_WORK/msg/$tag.wire"
}

# t_compare STORED EXPECTED: byte-exact? Prints a one-line explanation.
t_compare() {
	local got=$1 want=$2 gl wl gs ws
	if [ ! -f "$got" ]; then
		echo "stored file $got does not exist"
		return 1
	fi
	gl=$(stat -c %s "$got")
	wl=$(stat -c %s "$want")
	gs=$(sha256sum <"$got" | cut -c1-64)
	ws=$(sha256sum <"$want" | cut -c1-64)
	if [ "$gl" = "$wl" ] && [ "$gs" = "$ws" ]; then
		echo "$gl bytes, sha256 $gs"
		return 0
	fi
	echo "stored $gl bytes sha256 $gs, sent $wl bytes sha256 $ws"
	if cmp "$got" "$want" 2>/dev/null | head -n 1 | grep -q .; then
		cmp "$got" "$want" 2>&1 | head -n 1
	fi
	return 1
}

# ---------------------------------------------------------------- clients

# t_swaks MODE SRC ADDR PORT WIRE OUT [SWAKS ARGS...]
#   MODE: smtps (implicit TLS, --tlsc) | starttls (--tls) | plain
# Sends WIRE (from t_message) byte-exact from source address SRC; swaks'
# transcript goes to OUT.  Returns swaks' exit status.
t_swaks() {
	local mode=$1 src=$2 addr=$3 port=$4 wire=$5 out=$6 tls=()
	shift 6
	case $mode in
	smtps) tls=(--tls-on-connect) ;;
	starttls) tls=(--tls) ;;
	plain) ;;
	*) echo "t_swaks: bad mode $mode" >"$out"; return 2 ;;
	esac
	timeout --kill-after=5 $((300 * T_SLOW)) \
	    swaks --server "$addr" --port "$port" --local-interface "$src" \
	    --helo client.test --from sender@client.test --to rcpt@backend.test \
	    --timeout $((60 * T_SLOW)) --no-data-fixup --suppress-data --data "@$wire" \
	    "${tls[@]}" "$@" >"$out" 2>&1 </dev/null
}

# swaks transcript helpers
swaks_tls_version() { # OUT -> TLSv1.3 (from "=== TLS started with cipher TLSv1.3:...")
	sed -n 's/^=== TLS started with cipher \([^:]*\):.*/\1/p' "$1" | head -n 1
}
swaks_accepted() { # OUT: the reply to the end of DATA was 250
	grep -A1 -E '^ (->|~>) [0-9]+ lines sent' "$1" | grep -q -E '^<(-|~)  250 '
}

# t_write_raw_client: a scripted TCP client, for what swaks cannot do
# (pipelining after STARTTLS, PROXY headers, plaintext on a TLS port).
#   perl $T_RAW SRC|- HOST:PORT TIMEOUT STEP...
# STEP is one of:
#   reply       read one complete SMTP reply (up to the "NNN " line)
#   send:TEXT   write TEXT in one write(); \r \n \t \\ and \xHH are decoded
#   file:PATH   write the file's bytes in one write()
#   drain:SECS  read until the peer closes or SECS pass
#   sleep:SECS
# Prints "S: line" for every line received (partial last line included),
# "C: text" for what it sent, "EOF" when the peer closed, "TIMEOUT" when a
# read step ran out of time, "CONNECT-FAILED" when the connection failed.
t_write_raw_client() {
	T_RAW=$T_WORK/rawsmtp.pl
	cat >"$T_RAW" <<-'EOF'
		use strict; use warnings;
		use IO::Socket::INET; use IO::Select; use Time::HiRes qw(time sleep);
		$| = 1;
		my ($src, $dst, $timeout, @steps) = @ARGV;
		my %o = (PeerAddr => $dst, Proto => "tcp", Timeout => $timeout);
		$o{LocalAddr} = $src if $src ne "-";
		my $s = IO::Socket::INET->new(%o);
		if (!$s) { print "CONNECT-FAILED $@\n"; exit 2; }
		binmode $s;
		my $buf = ""; my $eof = 0;
		sub show { my $l = shift; $l =~ s/\r?\n\z//; $l =~ s/([^\x20-\x7e])/sprintf("\\x%02x", ord $1)/ge; print "S: $l\n"; }
		sub fill {
			my $deadline = shift;
			return 0 if $eof;
			my $left = $deadline - time;
			return -1 if $left <= 0;
			my $sel = IO::Select->new($s);
			return -1 unless $sel->can_read($left);
			my $n = sysread($s, my $d, 65536);
			if (!$n) { $eof = 1; return 0; }
			$buf .= $d;
			return $n;
		}
		sub lines { while ($buf =~ s/\A([^\n]*\n)//) { show($1); } }
		for my $step (@steps) {
			if ($step eq "reply") {
				my $deadline = time + $timeout; my $done = 0;
				while (!$done) {
					while ($buf =~ s/\A([^\n]*\n)//) {
						my $l = $1; show($l);
						if ($l =~ /^\d{3}(?: |\r?\n)/) { $done = 1; last; }
					}
					last if $done;
					my $r = fill($deadline);
					if ($r == 0) { show($buf) if length $buf; $buf = ""; print "EOF\n"; exit 0; }
					if ($r < 0) { print "TIMEOUT\n"; last; }
				}
			} elsif ($step =~ /^send:(.*)\z/s) {
				my $t = $1; my $shown = $t;
				$t =~ s/\\(x[0-9A-Fa-f]{2}|[rnt\\])/my $e = $1; $e eq "r" ? "\r" : $e eq "n" ? "\n" : $e eq "t" ? "\t" : $e eq "\\" ? "\\" : chr(hex(substr($e, 1)))/ge;
				print "C: $shown\n";
				local $SIG{PIPE} = "IGNORE";
				my $w = syswrite($s, $t);
				if (!defined $w || $w != length $t) { print "SEND-FAILED $!\n"; }
			} elsif ($step =~ /^file:(.*)\z/s) {
				open(my $f, "<", $1) or do { print "BAD-FILE $1\n"; exit 2; };
				binmode $f; local $/; my $t = <$f>; close $f;
				print "C: <", length($t), " bytes of $1>\n";
				local $SIG{PIPE} = "IGNORE";
				my $w = syswrite($s, $t);
				if (!defined $w || $w != length $t) { print "SEND-FAILED $!\n"; }
			} elsif ($step =~ /^drain:([\d.]+)\z/) {
				my $deadline = time + $1;
				while (1) {
					lines();
					my $r = fill($deadline);
					if ($r == 0) { show($buf) if length $buf; $buf = ""; print "EOF\n"; exit 0; }
					if ($r < 0) { show($buf) if length $buf; $buf = ""; print "TIMEOUT\n"; last; }
				}
			} elsif ($step =~ /^sleep:([\d.]+)\z/) {
				sleep $1;
			} else {
				print "BAD-STEP $step\n"; exit 2;
			}
		}
		exit 0;
	EOF
}

# t_raw SRC HOST:PORT TIMEOUT STEP... (see t_write_raw_client)
t_raw() {
	local t=$3
	timeout --kill-after=2 $((t * 4 + 30)) perl "$T_RAW" "$@" 2>&1
}

# ---------------------------------------------------------------- Exim (the backend MTA)
#
# Debian's exim4-daemon-heavy is unpacked, not installed, so the user it is
# compiled to run as (Debian-exim) usually does not exist, and Exim refuses
# to start without it ("failed to find uid for user name").  When the user
# exists it is used.  Otherwise Exim runs in a private mount namespace in
# which /etc/passwd and /etc/group are copies with a Debian-exim entry (a uid
# unused on the host), so nothing on the host changes.  Only where mount
# namespaces are unavailable is the system user created, as Debian's exim4-base
# package would create it.

EXIM_NS=
EXIM_UID=
EXIM_GID=

exim_setup_user() {
	[ -n "$EXIM_NS" ] && return 0
	if getent passwd Debian-exim >/dev/null 2>&1; then
		EXIM_UID=$(id -u Debian-exim)
		EXIM_GID=$(id -g Debian-exim)
		EXIM_NS=0
		return 0
	fi
	local id=60150
	while getent passwd "$id" >/dev/null 2>&1 || getent group "$id" >/dev/null 2>&1; do
		id=$((id + 1))
	done
	mkdir -p "$T_WORK/etc"
	cp /etc/passwd "$T_WORK/etc/passwd" && cp /etc/group "$T_WORK/etc/group" || return 1
	echo "Debian-exim:x:$id:$id:Exim test MTA:/nonexistent:/usr/sbin/nologin" >>"$T_WORK/etc/passwd"
	echo "Debian-exim:x:$id:" >>"$T_WORK/etc/group"
	# Host name lookups of the 127.0.0.x test clients must fail at once,
	# not wait for a resolver that may be unreachable.
	echo "nameserver 127.0.0.1" >"$T_WORK/etc/resolv.conf"
	chmod 644 "$T_WORK/etc/passwd" "$T_WORK/etc/group" "$T_WORK/etc/resolv.conf"
	if unshare -m sh -c "mount --bind '$T_WORK/etc/passwd' /etc/passwd && getent passwd Debian-exim" >/dev/null 2>&1; then
		EXIM_UID=$id
		EXIM_GID=$id
		EXIM_NS=1
		return 0
	fi
	t_note "no mount namespace available: creating the system user Debian-exim"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin Debian-exim || return 1
	EXIM_UID=$(id -u Debian-exim)
	EXIM_GID=$(id -g Debian-exim)
	EXIM_NS=0
}

exim_dir() { echo "$T_WORK/exim-$1"; }
exim_log() { echo "$T_WORK/exim-$1/log/mainlog"; }

# exim_start NAME ADDR PORT [proxy=HOSTLIST] [tls=yes]
# Starts Exim in the foreground (-bdf), listening on ADDR:PORT only.
#   proxy=HOSTLIST  hosts_proxy: connections from these hosts must begin with
#                   a PROXY v1 or v2 header
#   tls=yes         Exim itself offers STARTTLS (certificate mx1.test)
# Every message for any address at a *.test domain is delivered byte-exact
# into $(exim_dir NAME)/mail/<exim message id>.
exim_start() {
	local name=$1 addr=$2 port=$3 proxy='' offer_tls=no a d conf pid
	shift 3
	for a in "$@"; do
		case $a in
		proxy=*) proxy=${a#proxy=} ;;
		tls=*) offer_tls=${a#tls=} ;;
		esac
	done
	if [ ! -x "$EXIM_BIN" ]; then
		echo "Exim is not unpacked at $EXIM_BIN (run scripts/install-deps.sh test)" >&2
		return 1
	fi
	exim_setup_user || { echo "cannot provide the Exim user" >&2; return 1; }
	d=$(exim_dir "$name")
	conf=$d/exim.conf
	mkdir -p "$d/spool" "$d/log" "$d/mail" "$d/tls" || return 1
	chmod 755 "$d"
	if [ "$offer_tls" = yes ]; then
		t_certs || return 1
		cp "$T_MX1_CHAIN" "$d/tls/cert.pem" && cp "$T_MX1_KEY" "$d/tls/key.pem" || return 1
		chmod 600 "$d/tls/key.pem"
	fi
	chown -R "$EXIM_UID:$EXIM_GID" "$d/spool" "$d/log" "$d/mail" "$d/tls"
	chmod 750 "$d/spool"
	cat >"$conf" <<-EOF
		# Exim as the legacy backend MTA of the mxgate end-to-end tests.
		exim_path = $EXIM_BIN
		exim_user = Debian-exim
		exim_group = Debian-exim
		never_users = root
		keep_environment =
		primary_hostname = backend.test
		qualify_domain = backend.test
		spool_directory = $d/spool
		log_file_path = $d/log/%slog
		pid_file_path = $d/exim.pid
		daemon_smtp_ports = $port
		local_interfaces = <; $addr.$port
		${proxy:+hosts_proxy = <; $proxy}
		proxy_protocol_timeout = 10s
		host_lookup =
		rfc1413_hosts =
		rfc1413_query_timeout = 0s
		dns_retrans = 1s
		dns_retry = 1
		smtp_receive_timeout = 2m
		smtp_accept_max = 100
		smtp_accept_queue_per_connection = 0
		message_size_limit = 100M
		received_header_text =
		log_selector = +all
		tls_advertise_hosts = $( [ "$offer_tls" = yes ] && echo '*' )
		$( [ "$offer_tls" = yes ] && echo "tls_certificate = $d/tls/cert.pem" )
		$( [ "$offer_tls" = yes ] && echo "tls_privatekey = $d/tls/key.pem" )
		acl_smtp_rcpt = acl_check_rcpt

		begin acl

		acl_check_rcpt:
		  accept  domains = *.test
		  deny    message = relay not permitted

		begin routers

		store:
		  driver = accept
		  domains = *.test
		  transport = store_file

		begin transports

		# One file per message, exactly the bytes received: no From_ line, no
		# trailing newline, no escaping, CRLF line ends, no Received header.
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
	chmod 644 "$conf"
	if [ "$EXIM_NS" = 1 ]; then
		unshare -m -- sh -c '
			mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group || exit 111
			mount --bind "$3" /etc/resolv.conf 2>/dev/null
			shift 3
			exec "$@"' sh "$T_WORK/etc/passwd" "$T_WORK/etc/group" "$T_WORK/etc/resolv.conf" \
		    "$EXIM_BIN" -C "$conf" -bdf >"$d/stdout" 2>&1 </dev/null &
	else
		"$EXIM_BIN" -C "$conf" -bdf >"$d/stdout" 2>&1 </dev/null &
	fi
	pid=$!
	t_register "exim-$name" "$pid"
	if ! t_wait_listen "$addr" "$port" $((15 * T_SLOW)) "$pid"; then
		echo "Exim $name did not start listening on $addr:$port" >&2
		cat "$d/stdout" "$d/log/paniclog" "$d/log/mainlog" 2>/dev/null | tail -n 20 >&2
		return 1
	fi
	return 0
}

exim_stop() {
	t_stop_pid "exim-$1" 10
}

# exim_wait_received NAME TAG TIMEOUT: wait for the "<=" line of the message
# whose Message-ID is <TAG@mxgate.test>; prints the Exim message id.
exim_wait_received() {
	local line
	line=$(t_wait_grep "$(exim_log "$1")" " <= .* id=$(t_re "$2")@mxgate\.test( |$)" "$3") || return 1
	printf '%s\n' "$line" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "<=") { print $i; exit } }'
}

# exim_wait_completed NAME EXIMID TIMEOUT
exim_wait_completed() {
	t_wait_grep "$(exim_log "$1")" " $(t_re "$2") Completed( |$)" "$3" >/dev/null
}

exim_stored() { echo "$(exim_dir "$1")/mail/$2"; }

# exim_received_line NAME EXIMID
exim_received_line() {
	grep -E -m1 " $(t_re "$2") <= " "$(exim_log "$1")"
}

# exim_client NAME EXIMID: the client address Exim logged for the message
# (the [a.b.c.d] after H=).
exim_client() {
	exim_received_line "$1" "$2" | sed -n 's/.* H=[^[]*\[\([0-9a-fA-F.:]*\)\].*/\1/p'
}

# ---------------------------------------------------------------- mxgate

mx_conf() { echo "$T_WORK/$1.conf"; }
mx_log() { echo "$T_WORK/$1.log"; }

# mx_have: is the binary there?  Prints a failed check when it is not.
mx_have() {
	if [ -x "$MXGATE" ] && [ -f "$MXGATE" ]; then
		return 0
	fi
	not_ok "$T_NAME: mxgate binary present" "MXGATE=$MXGATE is not an executable file"
	return 1
}

# mx_start NAME: runs "$MXGATE -c $(mx_conf NAME)" in the foreground (stderr
# to $(mx_log NAME)) and waits until every listen_* address of the config
# listens.  The config is written by the caller.
mx_start() {
	local name=$1 conf log pid l addr port
	conf=$(mx_conf "$name")
	log=$(mx_log "$name")
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:print_summary=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
	"$MXGATE" -c "$conf" >"$log.stdout" 2>"$log" </dev/null &
	pid=$!
	t_register "mxgate-$name" "$pid"
	for l in $(awk '$1 ~ /^listen_/ { print $2 }' "$conf"); do
		addr=${l%:*}
		port=${l##*:}
		if ! t_wait_listen "$addr" "$port" $((15 * T_SLOW)) "$pid"; then
			echo "mxgate $name does not listen on $addr:$port" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
	done
	return 0
}

# mx_stop NAME: SIGTERM; checks that it ends by itself within 10 s (times
# the sanitizer factor) with status 0 and, under SANITIZE=1, that its log
# holds no sanitizer report.  Each is one check line.
mx_stop() {
	local name=$1 log st
	log=$(mx_log "$name")
	[ -n "${T_PID[mxgate-$name]:-}" ] || return 0
	if t_stop_pid "mxgate-$name" $((10 * T_SLOW)); then
		st=${T_STATUS[mxgate-$name]}
		if [ "$st" = 0 ]; then
			ok "mxgate[$name] exits with status 0 on SIGTERM"
		else
			not_ok "mxgate[$name] exits with status 0 on SIGTERM" "exit status $st" "$(tail -n 5 "$log")"
		fi
	else
		not_ok "mxgate[$name] exits with status 0 on SIGTERM" "still running after $((10 * T_SLOW)) s: killed"
	fi
	if [ "$SANITIZE" = 1 ]; then
		if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" "$log.stdout" 2>/dev/null; then
			not_ok "mxgate[$name] no sanitizer report" \
			    "$(grep -h -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" "$log.stdout" | head -n 30)"
		else
			ok "mxgate[$name] no sanitizer report"
		fi
	fi
}

# mx_sid NAME CLIENT_ADDR [TIMEOUT]: the session id of the first session
# accepted from CLIENT_ADDR (any port).
mx_sid() {
	local line
	line=$(t_wait_grep "$(mx_log "$1")" "^id=[0-9a-f]{16} .*event=accept .*client=$(t_re "$2"):[0-9]+( |$)" "${3:-10}") || return 1
	printf '%s\n' "$line" | sed -n 's/^id=\([0-9a-f]*\) .*/\1/p'
}

# mx_event NAME SID EVENT [TIMEOUT]: the session's line for EVENT.
mx_event() {
	t_wait_grep "$(mx_log "$1")" "^id=$2 .*event=$3( |$)" "${4:-10}"
}

# kv LINE KEY: the value of KEY=value in a log line.
kv() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

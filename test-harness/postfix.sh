# shellcheck shell=bash
#
# A real Postfix as the backend MTA of the end-to-end scenarios.  Debian's
# postfix package provides the programs; each instance has its own config,
# queue, data and mail directories under the scenario's work dir, so the
# system's /etc/postfix and /var/spool/postfix are never read or touched
# (except /etc/postfix/postfix-files, Postfix's own list of its files).
#
# Source it after lib.sh, which provides T_WORK, T_SLOW, t_register,
# t_stop_pid, t_wait_listen, t_wait_grep and t_re:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/../postfix.sh"
#
# What it provides:
#   pf_have                       are Postfix's programs installed?
#   pf_start NAME ADDR LISTENER...   start an instance in the foreground
#                                 ("postfix -c DIR start-fg", in the
#                                 background of the scenario); each
#                                 LISTENER is PORT=XCLIENT_HOSTS, an smtpd
#                                 on ADDR:PORT whose
#                                 smtpd_authorized_xclient_hosts is
#                                 XCLIENT_HOSTS (empty: nobody)
#   pf_stop NAME / pf_stop_all    "postfix stop", bounded, then kill
#   pf_dir / pf_log / pf_maildir NAME
#   pf_queue_id NAME TAG TIMEOUT  queue id of the message <TAG@mxgate.test>
#   pf_wait_delivered NAME QID TIMEOUT
#   pf_client NAME QID            client Postfix logged for QID: name[addr]:port
#   pf_stored NAME TAG            the Maildir file holding <TAG@mxgate.test>
#   pf_split_stored FILE HDRS REST   the headers Postfix prepended, and the rest
#
# Mail for any address at backend.test is accepted (virtual_mailbox_domains)
# and delivered by virtual(8) into a Maildir, one file per message, under
# $(pf_maildir NAME).  Only rcpt@backend.test has a mailbox.  Everything
# Postfix logs goes to $(pf_log NAME) through postlogd (maillog_file).
#
# How a stored message relates to what the client sent: Postfix keeps a
# message as lines, and virtual(8) writes each line ending in LF (the UNIX
# convention), not CRLF.  Above the message it adds Return-Path,
# X-Original-To, Delivered-To and smtpd's Received header, in that order.
# Maildir delivery does no other change (no ">From " quoting, no dot
# stuffing).  So the stored file, minus those added fields, is the message
# as sent with every CRLF turned into LF: pf_split_stored cuts the file
# there, and the scenario compares that part byte for byte.

PF_BIN=${PF_BIN:-$(command -v postfix 2>/dev/null || echo /usr/sbin/postfix)}
PF_DAEMON_DIR=
declare -A PF_FG=()      # name -> pid of the "postfix start-fg" job
declare -A PF_MASTER=()  # name -> pid of its master(8)

# pf_have: Postfix's command and daemons are installed.
pf_have() {
	[ -x "$PF_BIN" ] || return 1
	PF_DAEMON_DIR=$(postconf -dh daemon_directory 2>/dev/null) || return 1
	[ -x "$PF_DAEMON_DIR/master" ] && [ -x "$PF_DAEMON_DIR/smtpd" ] &&
	    [ -x "$PF_DAEMON_DIR/virtual" ] && getent passwd postfix >/dev/null &&
	    getent group postdrop >/dev/null
}

pf_dir() { echo "$T_WORK/postfix-$1"; }
pf_log() { echo "$T_WORK/postfix-$1/maillog"; }
pf_maildir() { echo "$T_WORK/postfix-$1/mail/rcpt"; }

# pf_start NAME ADDR LISTENER...: writes the instance's main.cf and
# master.cf, starts it and waits (bounded) until every listener listens.
# On failure prints what Postfix said to stderr and returns 1.
pf_start() {
	local name=$1 addr=$2 d l port hosts uid gid pid i master="" listeners=()
	shift 2
	pf_have || { echo "postfix is not installed" >&2; return 1; }
	d=$(pf_dir "$name")
	uid=$(id -u postfix)
	gid=$(id -g postfix)
	# Every directory on the way must be reachable by the postfix user.
	chmod 755 "$T_WORK" || return 1
	mkdir -p "$d/conf" "$d/queue" "$d/data" "$d/mail" || return 1
	chmod 755 "$d" "$d/conf" "$d/queue"
	chown "$uid:$gid" "$d/data" "$d/mail"
	chmod 700 "$d/data"
	chmod 755 "$d/mail"
	: >"$d/maillog"
	printf 'rcpt@backend.test\trcpt/\n' >"$d/conf/vmailbox"

	cat >"$d/conf/main.cf" <<-EOF
		# A private Postfix instance for the mxgate end-to-end tests.
		compatibility_level = 3.6
		queue_directory = $d/queue
		data_directory = $d/data
		meta_directory = /etc/postfix
		command_directory = $(postconf -dh command_directory)
		daemon_directory = $PF_DAEMON_DIR
		shlib_directory = $(postconf -dh shlib_directory)
		mail_owner = postfix
		setgid_group = postdrop
		syslog_name = postfix-$name

		# Logging to a file the tests read; nothing reads syslog here.
		maillog_file = $d/maillog
		maillog_file_prefixes = $d

		myhostname = backend.test
		mydomain = backend.test
		myorigin = backend.test
		mydestination =
		relay_domains =
		local_transport = error:5.1.1 no local delivery here
		alias_maps =
		alias_database =
		biff = no
		append_dot_mydomain = no

		# Loopback only, IPv4 only; the smtpd listeners are in master.cf.
		inet_interfaces = loopback-only
		inet_protocols = ipv4
		# Only mxgate's own address is trusted for relaying: a client
		# whose real address arrives through XCLIENT is not.
		mynetworks = 127.0.0.1/32

		# XCLIENT: mxgate (127.0.0.1) may tell smtpd the real client.
		smtpd_authorized_xclient_hosts = 127.0.0.1
		# Log the client's port too, and look no name up in DNS.
		smtpd_client_port_logging = yes
		smtpd_peername_lookup = no
		smtpd_banner = \$myhostname ESMTP Postfix (mxgate tests)
		message_size_limit = 104857600

		# backend.test is a virtual mailbox domain delivered to Maildirs.
		virtual_mailbox_domains = backend.test
		virtual_mailbox_base = $d/mail
		virtual_mailbox_maps = texthash:$d/conf/vmailbox
		virtual_minimum_uid = $uid
		virtual_uid_maps = static:$uid
		virtual_gid_maps = static:$gid
		virtual_mailbox_limit = 0
	EOF

	{
		echo "# service type  private unpriv  chroot  wakeup  maxproc command + args"
		for l in "$@"; do
			port=${l%%=*}
			hosts=${l#*=}
			listeners+=("$port")
			echo "$addr:$port inet n - n - - smtpd"
			echo "  -o smtpd_authorized_xclient_hosts=$hosts"
		done
		cat <<-'EOF'
			cleanup   unix  n       -       n       -       0       cleanup
			qmgr      unix  n       -       n       300     1       qmgr
			rewrite   unix  -       -       n       -       -       trivial-rewrite
			bounce    unix  -       -       n       -       0       bounce
			defer     unix  -       -       n       -       0       bounce
			trace     unix  -       -       n       -       0       bounce
			verify    unix  -       -       n       -       1       verify
			flush     unix  n       -       n       1000?   0       flush
			proxymap  unix  -       -       n       -       -       proxymap
			proxywrite unix -       -       n       -       1       proxymap
			showq     unix  n       -       n       -       -       showq
			error     unix  -       -       n       -       -       error
			retry     unix  -       -       n       -       -       error
			discard   unix  -       -       n       -       -       discard
			virtual   unix  -       n       n       -       -       virtual
			anvil     unix  -       -       n       -       1       anvil
			scache    unix  -       -       n       -       1       scache
			postlog   unix-dgram n  -       n       -       1       postlogd
		EOF
	} >"$d/conf/master.cf"

	if ! postfix -c "$d/conf" check >"$d/check.out" 2>&1; then
		echo "postfix check failed:" >&2
		cat "$d/check.out" "$d/maillog" 2>/dev/null | tail -n 20 >&2
		return 1
	fi

	# start-fg keeps master(8) in the foreground of "postfix": that job is
	# the instance.  Its stdout and stderr are kept for when it fails
	# before postlogd runs (errors then go to syslog, which nobody reads).
	"$PF_BIN" -c "$d/conf" start-fg >"$d/start.out" 2>&1 </dev/null &
	pid=$!
	PF_FG[$name]=$pid
	for ((i = 0; i < 150 * T_SLOW; i++)); do
		if [ -s "$d/queue/pid/master.pid" ]; then
			master=$(awk '{ print $1; exit }' "$d/queue/pid/master.pid")
			[ -n "$master" ] && kill -0 "$master" 2>/dev/null && break
			master=
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$master" ]; then
		echo "Postfix $name did not start (no master process)" >&2
		cat "$d/start.out" "$d/maillog" 2>/dev/null | tail -n 20 >&2
		pf_stop "$name" >/dev/null 2>&1
		return 1
	fi
	PF_MASTER[$name]=$master
	# lib.sh's exit trap stops whatever is registered: SIGTERM to master(8)
	# stops the whole instance.
	t_register "postfix-$name" "$master"
	for port in "${listeners[@]}"; do
		if ! t_wait_listen "$addr" "$port" $((15 * T_SLOW)) "$master"; then
			echo "Postfix $name does not listen on $addr:$port" >&2
			cat "$d/start.out" "$d/maillog" 2>/dev/null | tail -n 20 >&2
			pf_stop "$name" >/dev/null 2>&1
			return 1
		fi
	done
	return 0
}

# pf_stop NAME: "postfix stop" (which waits up to 5 s, then kills the
# process group), then makes sure master(8) and the start-fg job are gone.
# Returns 0 when the instance stopped by itself.
pf_stop() {
	local name=$1 d master fg i clean=1
	d=$(pf_dir "$name")
	master=${PF_MASTER[$name]:-}
	fg=${PF_FG[$name]:-}
	[ -n "$master$fg" ] || return 0
	if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
		timeout --kill-after=5 30 "$PF_BIN" -c "$d/conf" stop >>"$d/stop.out" 2>&1 </dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$master" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$master" 2>/dev/null; then
			clean=0
			kill -KILL -- "-$master" 2>/dev/null || kill -KILL "$master" 2>/dev/null
		fi
	fi
	unset "T_PID[postfix-$name]"
	if [ -n "$fg" ]; then
		for ((i = 0; i < 50; i++)); do
			kill -0 "$fg" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$fg" 2>/dev/null; then
			clean=0
			kill -KILL "$fg" 2>/dev/null
		fi
		wait "$fg" 2>/dev/null
	fi
	unset "PF_MASTER[$name]" "PF_FG[$name]"
	[ "$clean" = 1 ]
}

pf_stop_all() {
	local name
	for name in "${!PF_FG[@]}"; do
		pf_stop "$name"
	done
}

# pf_queue_id NAME TAG TIMEOUT: the queue id cleanup(8) gave the message
# whose Message-ID is <TAG@mxgate.test>.
pf_queue_id() {
	local line
	line=$(t_wait_grep "$(pf_log "$1")" \
	    "/cleanup\[[0-9]+\]: [0-9A-Za-z]+: message-id=<$(t_re "$2")@mxgate\.test>" "$3") || return 1
	printf '%s\n' "$line" | sed -n 's/.*\/cleanup\[[0-9]*\]: \([0-9A-Za-z]*\): message-id=.*/\1/p'
}

# pf_wait_delivered NAME QID TIMEOUT: virtual(8) logged status=sent.
pf_wait_delivered() {
	t_wait_grep "$(pf_log "$1")" "/virtual\[[0-9]+\]: $2: to=<.*status=sent " "$3"
}

# pf_delivery_line NAME QID: the last delivery attempt logged for QID.
pf_delivery_line() {
	grep -E "/virtual\[[0-9]+\]: $2: to=<" "$(pf_log "$1")" | tail -n 1
}

# pf_client NAME QID: the client smtpd logged for QID, as name[addr]:port.
pf_client() {
	grep -E -m1 "/smtpd\[[0-9]+\]: $2: client=" "$(pf_log "$1")" |
	    sed -n 's/.*: client=\([^ ,]*\).*/\1/p'
}

# pf_stored NAME TAG: the delivered file holding <TAG@mxgate.test>.
pf_stored() {
	local f
	for f in "$(pf_maildir "$1")"/new/*; do
		[ -f "$f" ] || continue
		if grep -q -F -x "Message-ID: <$2@mxgate.test>" "$f"; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# pf_split_stored FILE HDRS REST: writes the header fields Postfix added on
# top of the message (Return-Path, X-Original-To, Delivered-To, and the one
# Received field smtpd adds, folded lines included) to HDRS and the rest of
# the file, unchanged, to REST.  Fails when the file does not start with
# exactly those fields in that order.
pf_split_stored() {
	perl -e '
		use strict; use warnings;
		my ($in, $hdrs, $rest) = @ARGV;
		open(my $f, "<", $in) or die "$in: $!\n"; binmode $f;
		local $/; my $m = <$f>; close $f;
		my $h = "";
		for my $name ("Return-Path", "X-Original-To", "Delivered-To", "Received") {
			$m =~ s/\A(\Q$name\E:[^\n]*\n(?:[ \t][^\n]*\n)*)// or
			    die "no $name field where Postfix puts it\n";
			$h .= $1;
		}
		open(my $o, ">", $hdrs) or die "$hdrs: $!\n"; binmode $o; print $o $h; close $o;
		open($o, ">", $rest) or die "$rest: $!\n"; binmode $o; print $o $m; close $o;
	' "$@"
}

# pf_lf FILE OUT: FILE with every CRLF turned into LF, as Postfix stores it.
pf_lf() {
	perl -pe 'BEGIN { binmode STDIN; binmode STDOUT } s/\r\n\z/\n/' <"$1" >"$2"
}

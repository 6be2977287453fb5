#!/bin/sh
# Install what mxgate needs to build, test and run its demo on Debian 12.
# Idempotent: installs only what is missing. As root it runs apt-get;
# otherwise it prints the command to run.
#
#   scripts/install-deps.sh [build|test]    (default: test, which includes build)
set -eu

what=${1:-test}

build_pkgs="gcc make pkg-config libuv1-dev libc-ares-dev dpkg-dev autoconf automake libtool ca-certificates"
test_pkgs="clang libclang-rt-14-dev openssl swaks libnet-ssleay-perl dnsmasq-base bind9-dnsutils nftables iptables iproute2 xxd postfix
  libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libldap-2.5-0 libmariadb3 libnsl2
  libpam0g libpcre2-8-0 libperl5.36 libpq5 libsasl2-2 libspf2-2 libsqlite3-0 libcrypt1"

case $what in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs" ;;
*) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages:$missing" >&2
		echo "run as root: apt-get install -y$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends $missing ||
	    { apt-get update && apt-get install -y --no-install-recommends $missing; }
fi

# Exim: the heavy daemon (the light one has no PROXY protocol support) is
# unpacked, never installed, so that it cannot conflict with the host's own
# MTA and no daemon is ever registered.  It lives outside /root so that the
# Exim user can execute it after dropping privileges.
if [ "$what" = test ]; then
	EXIMDIR=${MXGATE_EXIM_DIR:-/opt/mxgate-test/exim}
	if [ ! -x "$EXIMDIR/usr/sbin/exim4" ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "run as root to unpack Exim into $EXIMDIR: $0 test" >&2
			exit 1
		fi
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download exim4-daemon-heavy exim4-base) ||
		    { apt-get update && (cd "$tmp" && apt-get download exim4-daemon-heavy exim4-base); }
		mkdir -p "$EXIMDIR"
		for d in "$tmp"/*.deb; do dpkg -x "$d" "$EXIMDIR"; done
		rm -rf "$tmp"
		chmod -R go+rX "$(dirname "$EXIMDIR")"
	fi
fi
exit 0

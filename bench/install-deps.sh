#!/bin/sh
# Install what `make bench` needs and does not find: the peers it compares
# mxgate with (stunnel4, haproxy), the DNS server for the outbound cases
# (dnsmasq-base), openssl for the certificates, iproute2 (ss) and procps,
# plus mxgate's own build dependencies. Idempotent; needs root only when
# something is missing.
set -eu

cd "$(dirname "$0")/.."
scripts/install-deps.sh build

want="stunnel4 haproxy dnsmasq-base openssl iproute2 procps coreutils"
missing=
for p in $want; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages:$missing" >&2
	echo "run as root: apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends $missing ||
    { apt-get update && apt-get install -y --no-install-recommends $missing; }
# The packages register services; on a machine with an init system that
# starts them, stop them so that they neither hold ports nor take CPU
# while the benchmark runs. Where nothing started them, this is a no-op.
for s in haproxy stunnel4; do
	if command -v systemctl >/dev/null 2>&1 &&
	    systemctl is-active --quiet "$s" 2>/dev/null; then
		systemctl stop "$s" || true
	fi
done
exit 0

#!/bin/sh
# Build an accelerated static wolfSSL from Debian's own source package, so
# that Debian's security patches apply, into $1 (default build/wolfssl).
# The result is cached: a second run with the library present does nothing.
set -eu

D=$(cd "$(dirname "${1:-build/wolfssl}")" 2>/dev/null && pwd || { mkdir -p "$(dirname "${1:-build/wolfssl}")"; cd "$(dirname "${1:-build/wolfssl}")"; pwd; })/$(basename "${1:-build/wolfssl}")
if [ -f "$D/prefix/lib/libwolfssl.a" ] && [ -f "$D/prefix/include/wolfssl/options.h" ]; then
	exit 0
fi
mkdir -p "$D/apt/parts" "$D/apt/lists/partial" "$D/apt/cache/archives/partial"

# deb-src twins of the machine's own sources, in a private apt state
# directory: the system's apt configuration is never touched.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
	    > "$D/apt/parts/src.sources"
fi
if [ -f /etc/apt/sources.list ]; then
	sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$D/apt/parts/src.list"
fi
O="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$D/apt/parts
   -o Dir::State::Lists=$D/apt/lists -o Dir::Cache=$D/apt/cache
   -o APT::Sandbox::User=root"

if ! ls "$D"/wolfssl_*.dsc >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	apt-get $O update >"$D/apt.log" 2>&1
	# shellcheck disable=SC2086
	(cd "$D" && apt-get $O source --download-only wolfssl) >>"$D/apt.log" 2>&1
fi
rm -rf "$D/src"
dpkg-source -x "$(ls "$D"/wolfssl_*.dsc | tail -1)" "$D/src" >"$D/build.log" 2>&1

cd "$D/src"
{
	./autogen.sh
	CFLAGS=-O2 ./configure --prefix="$D/prefix" --enable-distro \
	    --disable-examples --disable-shared --enable-static \
	    --enable-aesni --enable-intelasm --enable-sp --enable-sp-asm
	make -j"$(nproc)"
	make install
} >>"$D/build.log" 2>&1 || { tail -30 "$D/build.log" >&2; exit 1; }
# --enable-distro does not install options.h; without it the compiler
# would silently take the system's, which does not match this library.
cp wolfssl/options.h "$D/prefix/include/wolfssl/options.h"
echo "wolfSSL built in $D/prefix"

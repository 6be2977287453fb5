#!/bin/sh
# Build an accelerated static wolfSSL from Debian's own source package, so
# that Debian's security patches apply, into $1 (default build/wolfssl).
#
# The feature set is mxgate's own, not Debian's --enable-distro: every
# option below costs memory in each connection or code that could be
# attacked, so only what mxgate (and its test and bench tools) call is in.
# The result is cached together with a stamp of the option set; a second
# run does nothing unless the options (or the source package) changed.
set -eu

D=$(cd "$(dirname "${1:-build/wolfssl}")" 2>/dev/null && pwd || { mkdir -p "$(dirname "${1:-build/wolfssl}")"; cd "$(dirname "${1:-build/wolfssl}")"; pwd; })/$(basename "${1:-build/wolfssl}")

# What each option is for:
#   tls13, tlsv12, no oldtls	TLS 1.2 and 1.3 only, as mxgate configures
#				its contexts; TLS 1.0/1.1 code is not built
#   sni, session-ticket		SNI both ways; resumption, inbound and
#				towards MX hosts
#   opensslextra		the X509, session and SNI calls of proxy/tls.c
#				(X509_check_host, get1_session, ...)
#   HAVE_SBLIM_SFCB		5.5.4 compiles wolfSSL_set_SSL_CTX and the
#				servername callback only for a few named
#				integrations; this one adds just those
#				functions and no per-connection state
#   WOLFSSL_ALWAYS_KEEP_SNI	the server keeps the client's SNI for the log
#				even with one certificate (no SNI callback)
#   CUSTOM_RAND_GENERATE_BLOCK, no hashdrbg (scripts/wolfssl-rand.c)
#				random bytes straight from getrandom(2), the
#				kernel's generator, instead of a SHA-256 DRBG
#				per connection, which wolfSSL seeds from
#				/dev/urandom and self-tests on every
#				creation (about 10 us of each handshake)
#   sys-ca-certs		wolfSSL_CTX_load_system_CA_certs
#   altcertchains		accept a chain that reaches a trusted root
#				before its end (cross-signed roots)
#   ecc, rsa, rsapss, curve25519
#				ECDHE on P-256/384/521 and X25519; RSA and
#				ECDSA certificates (PSS for TLS 1.3)
#   aesgcm, chacha, poly1305	the AEAD suites of mxgate's cipher list;
#				aesgcm=word: GHASH without the 4-bit table,
#				which AES-NI never uses and which would take
#				1 KiB in each connection (512 bytes in each
#				direction's key); only a CPU without AES-NI
#				pays, with a slower C GHASH
#   aesni, intelasm, sp, sp-asm	AES-NI, AVX hashing, assembly P-256/384
#				and RSA; CFLAGS -O2, without which the C
#				parts are built unoptimised
#   cryptocb			crypto callback devices: mxgate's AVX-512
#				IFMA RSA-2048 signer (proxy/tls_rsa.c)
#   NO_WOLF_PRIVATE_KEY_ID	callbacks would also turn on keys held by
#				id or label (an HSM's), which mxgate never
#				uses and which put an id and a label in
#				every connection's AES keys
#   WOLFSSL_NO_FORCE_ZERO	wolfSSL's own ForceZero is replaced by one
#				in the forced header below that still
#				wipes, with memset and a compiler barrier
#				so that the wipe cannot be dropped, instead
#				of a loop of volatile 8-byte stores: the
#				receive buffer of every 16 KiB record is
#				wiped before it is freed, and that loop was
#				14% of the bulk path's CPU
# Left out on purpose, each of which --enable-distro turns on:
#   SESSION_CERTS (and its alternate chain): two copies of the peer chain
#   inline in every WOLFSSL_SESSION, 37 KiB per connection; mxgate checks
#   the chain during the handshake and reads only the leaf afterwards.
#   Post-handshake authentication: it keeps the handshake hashes and key
#   material of every TLS 1.3 connection until it is freed.
#   DTLS and multicast (3.6 KiB of DTLS sequence windows in every
#   connection), the full OpenSSL layer, old TLS, the anonymous, NULL,
#   RC4, DES and Camellia ciphers, PSK, OCSP and CRL (unused), and
#   Ed25519/Ed448 (no public CA issues them; their client-auth support
#   keeps a copy of the handshake messages).
RAND_SRC=$(cd "$(dirname "$0")" && pwd)/wolfssl-rand.c
WOLF_CFLAGS="-O2 -DWOLFSSL_NO_FORCE_ZERO -DNO_WOLF_PRIVATE_KEY_ID -DWOLFSSL_ALWAYS_KEEP_SNI -DHAVE_SBLIM_SFCB -DCUSTOM_RAND_GENERATE_BLOCK=mxgate_wolfssl_rand -include $D/forced.h"
WOLF_OPTS="--disable-shared --enable-static --disable-examples
    --disable-crypttests --disable-benchmark
    --enable-tls13 --enable-tlsv12 --disable-oldtls
    --enable-sni --enable-session-ticket --enable-supportedcurves
    --enable-extended-master
    --enable-opensslextra --enable-sys-ca-certs --enable-altcertchains
    --enable-ecc --enable-rsa --enable-rsapss --enable-curve25519
    --enable-aesgcm=word --enable-chacha --enable-poly1305 --disable-hashdrbg
    --enable-sha384 --enable-sha512 --enable-hkdf
    --enable-aesni --enable-intelasm --enable-sp --enable-sp-asm
    --enable-cryptocb"

# Forced into every wolfSSL file (not the assembly): the prototype of the
# random source (CUSTOM_RAND_GENERATE_BLOCK), whose object is added to the
# installed library (the build links no program of its own), and the
# wipe (WOLFSSL_NO_FORCE_ZERO).  The empty asm takes the buffer's address
# and clobbers memory, so the compiler must assume the zeroes are read
# and cannot drop the memset before a free.
forced_h() {
	cat <<'EOF'
#ifndef __ASSEMBLER__
int mxgate_wolfssl_rand(unsigned char *, unsigned int);
static inline void
ForceZero(void *mem, unsigned int len)
{
	__builtin_memset(mem, 0, len);
	__asm__ __volatile__("" : : "r"(mem) : "memory");
}
#endif
EOF
}

# The stamp: the option set, the forced header, the random source and the
# source package it was built from.
dsc() { ls "$D"/wolfssl_*.dsc 2>/dev/null | tail -1; }
stamp() {
	printf 'CFLAGS=%s\n' "$WOLF_CFLAGS"
	# shellcheck disable=SC2086
	printf '%s\n' $WOLF_OPTS
	basename "$(dsc)"
	forced_h | cksum
	cksum <"$RAND_SRC"
}
if [ -f "$D/prefix/lib/libwolfssl.a" ] &&
    [ -f "$D/prefix/include/wolfssl/options.h" ] &&
    [ -f "$D/prefix/options.stamp" ] &&
    [ "$(stamp)" = "$(cat "$D/prefix/options.stamp")" ]; then
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

if [ -z "$(dsc)" ]; then
	# shellcheck disable=SC2086
	apt-get $O update >"$D/apt.log" 2>&1
	# shellcheck disable=SC2086
	(cd "$D" && apt-get $O source --download-only wolfssl) >>"$D/apt.log" 2>&1
fi
# A fresh tree: no object of an earlier option set may survive into
# this one.
rm -rf "$D/src"
dpkg-source -x "$(dsc)" "$D/src" >"$D/build.log" 2>&1
forced_h >"$D/forced.h"

cd "$D/src"
{
	./autogen.sh
	# shellcheck disable=SC2086
	CFLAGS="$WOLF_CFLAGS" ./configure --prefix="$D/prefix" $WOLF_OPTS
	make -j"$(nproc)"
	${CC:-cc} -O2 -Wall -Wextra -Werror -I. -c -o "$D/rand.o" "$RAND_SRC"
} >>"$D/build.log" 2>&1 || { tail -30 "$D/build.log" >&2; exit 1; }
# Only now replace the previous build, into an empty prefix (no header
# or library of the old option set stays): a failed build leaves the
# old one usable, and its stale stamp asks for another try.
rm -rf "$D/prefix"
make install >>"$D/build.log" 2>&1 || { tail -30 "$D/build.log" >&2; exit 1; }
# The installed options.h must be this build's: without it the compiler
# would silently take the system's, which does not match this library.
cp wolfssl/options.h "$D/prefix/include/wolfssl/options.h"
ar rs "$D/prefix/lib/libwolfssl.a" "$D/rand.o" >>"$D/build.log" 2>&1 ||
    { echo "build-wolfssl.sh: ar failed" >&2; exit 1; }
stamp >"$D/prefix/options.stamp"
echo "wolfSSL built in $D/prefix"

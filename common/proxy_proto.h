/*
 * Encoders that tell a backend MTA the real client address: PROXY
 * protocol v1 and v2 (haproxy's proxy-protocol.txt) and Postfix XCLIENT.
 * Pure functions: no I/O, no allocation.
 */
#ifndef PROXY_PROTO_H
#define PROXY_PROTO_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX	108	/* longest v1 line, incl. CRLF */
#define PROXY_V2_MAX	(16 + 36 + 64)

/*
 * src: the client as seen by mxgate; dst: the address it connected to.
 * Both AF_INET or both AF_INET6 (an IPv4-mapped IPv6 address counts as
 * IPv4); mixed families or others encode as "PROXY UNKNOWN" (v1) or a
 * LOCAL/UNSPEC header (v2).  A v1 line is NUL-terminated when cap
 * leaves room for it (the NUL is not counted).
 * Returns bytes written, or -1 if cap is too small.
 */
long proxy_v1_encode(const struct sockaddr *src, const struct sockaddr *dst,
    char *out, size_t cap);

/* v2 flags: PROXY_V2_TLS adds a PP2_TYPE_SSL TLV saying the client
 * connection used TLS (client PP2_CLIENT_SSL, verify 0), with a
 * PP2_SUBTYPE_SSL_VERSION sub-TLV when tls_version is non-NULL (e.g.
 * "TLSv1.3"; at most 53 bytes, so that the whole fits PROXY_V2_MAX,
 * else -1).  A LOCAL header (no usable addresses) carries no TLV.
 * No NUL is appended. */
#define PROXY_V2_TLS	0x01
long proxy_v2_encode(const struct sockaddr *src, const struct sockaddr *dst,
    unsigned flags, const char *tls_version, char *out, size_t cap);

/*
 * "XCLIENT ADDR=192.0.2.1 PORT=12345 PROTO=ESMTP\r\n" (IPv6 as
 * ADDR=IPV6:2001:db8::1).  helo may be NULL or "" (attribute omitted)
 * and is xtext-encoded otherwise, as " HELO=..." after PROTO.  Without
 * a usable src, ADDR and PORT are "[UNAVAILABLE]".  The line is
 * NUL-terminated when cap leaves room (not counted).
 * Returns bytes written or -1 (out is then unspecified).
 */
long xclient_encode(const struct sockaddr *src, const char *helo,
    char *out, size_t cap);

#endif

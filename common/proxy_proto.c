/*
 * Telling the backend MTA who the client really is: PROXY protocol v1
 * and v2 (haproxy's proxy-protocol.txt) and Postfix XCLIENT
 * (XCLIENT_README).  All three only format bytes; sending them, and
 * sending them before anything else, is the caller's business.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxy_proto.h"

/* An endpoint reduced to what the encoders need. */
struct ep {
	int		fam;		/* 4, 6, or 0 for "unknown" */
	unsigned char	addr[16];	/* 4 or 16 bytes, network order */
	unsigned char	port[2];	/* network order */
	char		text[INET6_ADDRSTRLEN];
};

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PP2_VER_LOCAL		0x20
#define PP2_VER_PROXY		0x21
#define PP2_FAM_UNSPEC		0x00
#define PP2_FAM_TCP4		0x11
#define PP2_FAM_TCP6		0x21
#define PP2_TYPE_SSL		0x20
#define PP2_SUBTYPE_SSL_VERSION	0x21
#define PP2_CLIENT_SSL		0x01

/* Room left for TLVs in a PROXY_V2_MAX buffer after an IPv6 block. */
#define PP2_TLV_ROOM		(PROXY_V2_MAX - 16 - 36)
/* PP2_TYPE_SSL: 3 header + 1 client + 4 verify, then the sub-TLV's 3. */
#define PP2_SSL_FIXED		(3 + 1 + 4)
#define PP2_VERSION_MAX		(PP2_TLV_ROOM - PP2_SSL_FIXED - 3)

/*
 * Reduce a socket address to an endpoint.  An IPv4-mapped IPv6 address
 * becomes IPv4: that is what the client really used, and what the
 * backend's access lists are written for.  The sockaddr is copied, not
 * cast, so that any properly sized buffer will do as the source.
 */
static void
ep_get(const struct sockaddr *sa, struct ep *ep)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	sa_family_t		 fam;

	memset(ep, 0, sizeof(*ep));
	if (sa == NULL)
		return;
	memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family),
	    sizeof(fam));

	if (fam == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		ep->fam = 4;
		memcpy(ep->addr, &sin.sin_addr, 4);
		memcpy(ep->port, &sin.sin_port, 2);
	} else if (fam == AF_INET6) {
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(ep->port, &sin6.sin6_port, 2);
		if (memcmp(&sin6.sin6_addr, mapped, sizeof(mapped)) == 0) {
			ep->fam = 4;
			memcpy(ep->addr, (const unsigned char *)&sin6.sin6_addr +
			    12, 4);
		} else {
			ep->fam = 6;
			memcpy(ep->addr, &sin6.sin6_addr, 16);
		}
	} else
		return;

	if (inet_ntop(ep->fam == 4 ? AF_INET : AF_INET6, ep->addr, ep->text,
	    sizeof(ep->text)) == NULL)
		ep->fam = 0;
}

/* The port of ep in host order. */
static unsigned
ep_port(const struct ep *ep)
{
	return ((unsigned)ep->port[0] << 8) | ep->port[1];
}

/* Copy a formatted result of n bytes into out, NUL-terminated when
 * there is room; -1 when it does not fit. */
static long
emit(const char *buf, size_t n, char *out, size_t cap)
{
	if (n > cap || n > (size_t)LONG_MAX)
		return -1;
	memcpy(out, buf, n);
	if (n < cap)
		out[n] = '\0';
	return (long)n;
}

long
proxy_v1_encode(const struct sockaddr *src, const struct sockaddr *dst,
    char *out, size_t cap)
{
	struct ep	 s, d;
	char		 buf[PROXY_V1_MAX + 1];
	int		 n;

	ep_get(src, &s);
	ep_get(dst, &d);
	if (s.fam == 0 || s.fam != d.fam)
		n = snprintf(buf, sizeof(buf), "PROXY UNKNOWN\r\n");
	else
		n = snprintf(buf, sizeof(buf), "PROXY TCP%d %s %s %u %u\r\n",
		    s.fam, s.text, d.text, ep_port(&s), ep_port(&d));
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return emit(buf, (size_t)n, out, cap);
}

long
proxy_v2_encode(const struct sockaddr *src, const struct sockaddr *dst,
    unsigned flags, const char *tls_version, char *out, size_t cap)
{
	struct ep	 s, d;
	unsigned char	 buf[PROXY_V2_MAX];
	size_t		 o, alen, vlen = 0, tlen;

	ep_get(src, &s);
	ep_get(dst, &d);

	memcpy(buf, v2sig, sizeof(v2sig));
	o = 16;

	/*
	 * Without a usable pair of addresses we send LOCAL: the backend
	 * then uses the connection's own endpoints, as for a health check.
	 * A LOCAL header carries nothing else, so no TLV either.
	 */
	if (s.fam == 0 || s.fam != d.fam) {
		buf[12] = PP2_VER_LOCAL;
		buf[13] = PP2_FAM_UNSPEC;
		buf[14] = 0;
		buf[15] = 0;
		return emit((const char *)buf, o, out, cap);
	}

	alen = s.fam == 4 ? 4 : 16;
	buf[12] = PP2_VER_PROXY;
	buf[13] = s.fam == 4 ? PP2_FAM_TCP4 : PP2_FAM_TCP6;
	memcpy(buf + o, s.addr, alen);
	o += alen;
	memcpy(buf + o, d.addr, alen);
	o += alen;
	memcpy(buf + o, s.port, 2);
	o += 2;
	memcpy(buf + o, d.port, 2);
	o += 2;

	if (flags & PROXY_V2_TLS) {
		if (tls_version != NULL) {
			vlen = strnlen(tls_version, PP2_VERSION_MAX + 1);
			if (vlen > PP2_VERSION_MAX)
				return -1;
		}
		/* Length of the SSL TLV's value: client, verify, sub-TLV. */
		tlen = 1 + 4 + (tls_version != NULL ? 3 + vlen : 0);
		buf[o++] = PP2_TYPE_SSL;
		buf[o++] = (unsigned char)(tlen >> 8);
		buf[o++] = (unsigned char)(tlen & 0xff);
		buf[o++] = PP2_CLIENT_SSL;
		/* verify: 0, as no client certificate was asked for. */
		memset(buf + o, 0, 4);
		o += 4;
		if (tls_version != NULL) {
			buf[o++] = PP2_SUBTYPE_SSL_VERSION;
			buf[o++] = (unsigned char)(vlen >> 8);
			buf[o++] = (unsigned char)(vlen & 0xff);
			memcpy(buf + o, tls_version, vlen);
			o += vlen;
		}
	}

	buf[14] = (unsigned char)((o - 16) >> 8);
	buf[15] = (unsigned char)((o - 16) & 0xff);

	/* Binary: no NUL is appended. */
	if (o > cap)
		return -1;
	memcpy(out, buf, o);
	return (long)o;
}

/*
 * Append v[0..n) xtext-encoded (RFC 3461 4): printable ASCII other than
 * '+' and '=' as is, every other byte as "+XX".  o <= cap on entry.
 * Returns the new length of out, or cap + 1 when it does not fit.
 */
static size_t
xtext(const char *v, size_t n, char *out, size_t o, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		  i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c >= '!' && c <= '~' && c != '+' && c != '=') {
			if (o >= cap)
				return cap + 1;
			out[o++] = (char)c;
		} else {
			if (cap - o < 3)
				return cap + 1;
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0x0f];
		}
	}
	return o;
}

long
xclient_encode(const struct sockaddr *src, const char *helo, char *out,
    size_t cap)
{
	struct ep	 s;
	char		 head[128];
	size_t		 o;
	int		 n;

	if (cap > (size_t)LONG_MAX - 1)
		cap = (size_t)LONG_MAX - 1;
	ep_get(src, &s);
	if (s.fam == 0)
		n = snprintf(head, sizeof(head),
		    "XCLIENT ADDR=[UNAVAILABLE] PORT=[UNAVAILABLE] PROTO=ESMTP");
	else
		n = snprintf(head, sizeof(head),
		    "XCLIENT ADDR=%s%s PORT=%u PROTO=ESMTP",
		    s.fam == 6 ? "IPV6:" : "", s.text, ep_port(&s));
	if (n < 0 || (size_t)n >= sizeof(head) || (size_t)n > cap)
		return -1;
	memcpy(out, head, (size_t)n);
	o = (size_t)n;

	if (helo != NULL && helo[0] != '\0') {
		if (cap - o < 6)
			return -1;
		memcpy(out + o, " HELO=", 6);
		o = xtext(helo, strlen(helo), out, o + 6, cap);
		if (o > cap)
			return -1;
	}
	if (cap - o < 2)
		return -1;
	memcpy(out + o, "\r\n", 2);
	o += 2;
	if (o < cap)
		out[o] = '\0';
	return (long)o;
}

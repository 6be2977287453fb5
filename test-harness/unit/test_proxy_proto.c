/*
 * Unit tests for common/proxy_proto.c: PROXY protocol v1 and v2 and
 * XCLIENT, checked byte for byte against hand-computed output.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "proxy_proto.h"
#include "t.h"

/* Fill ss with addr:port (IPv4 or IPv6 literal). */
static const struct sockaddr *
sa(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
	} else {
		printf("# bad test address %s\n", addr);
		ss->ss_family = AF_UNSPEC;
	}
	return (const struct sockaddr *)ss;
}

/* Compare bytes; on mismatch print both in hex. */
static void
bytes_eq(const void *got, long gotlen, const void *want, size_t wantlen,
    const char *name)
{
	const unsigned char	*g = got, *w = want;
	int			 eq;
	long			 i;

	eq = gotlen == (long)wantlen && memcmp(got, want, wantlen) == 0;
	T_OK(eq, "%s (%zu bytes)", name, wantlen);
	if (eq)
		return;
	printf("#   got  %ld:", gotlen);
	for (i = 0; i < gotlen && i < 160; i++)
		printf(" %02x", g[i]);
	printf("\n#   want %zu:", wantlen);
	for (i = 0; i < (long)wantlen; i++)
		printf(" %02x", w[i]);
	printf("\n");
}

struct v1_case {
	const char	*src, *dst;
	unsigned	 sport, dport;
	const char	*want;
};

static const struct v1_case v1_cases[] = {
	{ "192.0.2.1", "198.51.100.7", 12345, 25,
	    "PROXY TCP4 192.0.2.1 198.51.100.7 12345 25\r\n" },
	{ "0.0.0.0", "255.255.255.255", 0, 65535,
	    "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n" },
	{ "2001:db8::1", "2001:db8::25", 40000, 25,
	    "PROXY TCP6 2001:db8::1 2001:db8::25 40000 25\r\n" },
	{ "::1", "::1", 1, 2, "PROXY TCP6 ::1 ::1 1 2\r\n" },
	{ "2001:DB8:0:0:1:0:0:1", "fe80::1", 5, 6,
	    "PROXY TCP6 2001:db8::1:0:0:1 fe80::1 5 6\r\n" },
	/* IPv4-mapped counts as IPv4, on either side. */
	{ "::ffff:192.0.2.1", "::ffff:198.51.100.7", 1024, 25,
	    "PROXY TCP4 192.0.2.1 198.51.100.7 1024 25\r\n" },
	{ "::ffff:192.0.2.1", "198.51.100.7", 1024, 25,
	    "PROXY TCP4 192.0.2.1 198.51.100.7 1024 25\r\n" },
	{ "192.0.2.1", "::ffff:198.51.100.7", 1024, 25,
	    "PROXY TCP4 192.0.2.1 198.51.100.7 1024 25\r\n" },
	/* Mixed families. */
	{ "192.0.2.1", "2001:db8::25", 1024, 25, "PROXY UNKNOWN\r\n" },
	{ "2001:db8::1", "198.51.100.7", 1024, 25, "PROXY UNKNOWN\r\n" },
	{ "::ffff:192.0.2.1", "2001:db8::25", 1024, 25, "PROXY UNKNOWN\r\n" },
	/* The longest line there is. */
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535,
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n" },
};

static void
test_v1(void)
{
	struct sockaddr_storage	 s, d;
	struct sockaddr_un	 sun;
	char			 out[PROXY_V1_MAX + 16];
	size_t			 i, len, cap;
	long			 r;
	int			 bad;

	for (i = 0; i < sizeof(v1_cases) / sizeof(v1_cases[0]); i++) {
		const struct v1_case *c = &v1_cases[i];

		memset(out, '#', sizeof(out));
		r = proxy_v1_encode(sa(&s, c->src, c->sport),
		    sa(&d, c->dst, c->dport), out, PROXY_V1_MAX);
		len = strlen(c->want);
		T_OK(len <= PROXY_V1_MAX, "v1 case %zu fits PROXY_V1_MAX", i);
		T_OK(r == (long)len, "v1 %s -> %s: length %zu (got %ld)",
		    c->src, c->dst, len, r);
		T_OK(r >= 0 && r < PROXY_V1_MAX && out[r] == '\0',
		    "v1 case %zu NUL-terminated", i);
		T_STREQ(r >= 0 ? out : NULL, c->want, "v1 %s -> %s", c->src,
		    c->dst);
	}

	/* Capacity: exactly the line fits, one less does not. */
	sa(&s, "192.0.2.1", 12345);
	sa(&d, "198.51.100.7", 25);
	len = strlen("PROXY TCP4 192.0.2.1 198.51.100.7 12345 25\r\n");
	memset(out, '#', sizeof(out));
	r = proxy_v1_encode((struct sockaddr *)&s, (struct sockaddr *)&d, out,
	    len);
	T_OK(r == (long)len && out[len] == '#',
	    "v1 cap == length: fits, no NUL past cap");
	bad = 0;
	for (cap = 0; cap < len; cap++) {
		memset(out, '#', sizeof(out));
		r = proxy_v1_encode((struct sockaddr *)&s,
		    (struct sockaddr *)&d, out, cap);
		if (r != -1 || out[cap] != '#')
			bad++;
	}
	T_OK(bad == 0, "v1 every cap below the length fails, nothing "
	    "written past cap");

	/* No usable addresses. */
	r = proxy_v1_encode(NULL, (struct sockaddr *)&d, out, sizeof(out));
	T_STREQ(r == 15 ? out : NULL, "PROXY UNKNOWN\r\n", "v1 NULL src");
	r = proxy_v1_encode((struct sockaddr *)&s, NULL, out, sizeof(out));
	T_STREQ(r == 15 ? out : NULL, "PROXY UNKNOWN\r\n", "v1 NULL dst");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	r = proxy_v1_encode((struct sockaddr *)&sun, (struct sockaddr *)&sun,
	    out, sizeof(out));
	T_STREQ(r == 15 ? out : NULL, "PROXY UNKNOWN\r\n", "v1 AF_UNIX");

	/* A plain struct sockaddr_in (not a sockaddr_storage) will do. */
	{
		struct sockaddr_in a, b;

		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		a.sin_family = b.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(0x7f000001);
		b.sin_addr.s_addr = htonl(0x7f000002);
		a.sin_port = htons(1);
		b.sin_port = htons(2);
		r = proxy_v1_encode((struct sockaddr *)&a,
		    (struct sockaddr *)&b, out, sizeof(out));
		T_STREQ(r > 0 ? out : NULL,
		    "PROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n",
		    "v1 from struct sockaddr_in");
	}
}

#define SIG	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, \
		0x54, 0x0a

static void
test_v2(void)
{
	static const unsigned char v4[] = {
		SIG, 0x21, 0x11, 0x00, 0x0c,
		192, 0, 2, 1,			/* src 192.0.2.1 */
		198, 51, 100, 7,		/* dst 198.51.100.7 */
		0x30, 0x39,			/* 12345 */
		0x00, 0x19,			/* 25 */
	};
	static const unsigned char v6[] = {
		SIG, 0x21, 0x21, 0x00, 0x24,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25,
		0x9c, 0x40,			/* 40000 */
		0x01, 0xd1,			/* 465 */
	};
	static const unsigned char local[] = {
		SIG, 0x20, 0x00, 0x00, 0x00,
	};
	static const unsigned char v4tls[] = {
		SIG, 0x21, 0x11, 0x00, 0x1e,	/* 12 + 18 */
		192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x00, 0x19,
		0x20, 0x00, 0x0f,		/* PP2_TYPE_SSL, 15 */
		0x01,				/* PP2_CLIENT_SSL */
		0x00, 0x00, 0x00, 0x00,		/* verify */
		0x21, 0x00, 0x07,		/* SSL_VERSION, 7 */
		'T', 'L', 'S', 'v', '1', '.', '3',
	};
	static const unsigned char v4tlsnover[] = {
		SIG, 0x21, 0x11, 0x00, 0x14,	/* 12 + 8 */
		192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x00, 0x19,
		0x20, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00,
	};
	static const unsigned char v6tls[] = {
		SIG, 0x21, 0x21, 0x00, 0x36,	/* 36 + 18 */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25,
		0x9c, 0x40, 0x01, 0xd1,
		0x20, 0x00, 0x0f, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '2',
	};
	struct sockaddr_storage	 s, d;
	unsigned char		 out[PROXY_V2_MAX + 16];
	char			 ver[64];
	size_t			 cap;
	long			 r;
	int			 bad;

	r = proxy_v2_encode(sa(&s, "192.0.2.1", 12345),
	    sa(&d, "198.51.100.7", 25), 0, NULL, (char *)out, sizeof(out));
	bytes_eq(out, r, v4, sizeof(v4), "v2 IPv4");
	r = proxy_v2_encode((struct sockaddr *)&s, (struct sockaddr *)&d, 0,
	    "TLSv1.3", (char *)out, sizeof(out));
	bytes_eq(out, r, v4, sizeof(v4), "v2 IPv4, version without the flag");
	r = proxy_v2_encode(sa(&s, "::ffff:192.0.2.1", 12345),
	    sa(&d, "::ffff:198.51.100.7", 25), 0, NULL, (char *)out,
	    sizeof(out));
	bytes_eq(out, r, v4, sizeof(v4), "v2 IPv4-mapped as IPv4");
	r = proxy_v2_encode(sa(&s, "::ffff:192.0.2.1", 12345),
	    sa(&d, "198.51.100.7", 25), 0, NULL, (char *)out, sizeof(out));
	bytes_eq(out, r, v4, sizeof(v4), "v2 mapped src, IPv4 dst");

	r = proxy_v2_encode(sa(&s, "2001:db8::1", 40000),
	    sa(&d, "2001:db8::25", 465), 0, NULL, (char *)out, sizeof(out));
	bytes_eq(out, r, v6, sizeof(v6), "v2 IPv6");

	r = proxy_v2_encode(sa(&s, "192.0.2.1", 12345),
	    sa(&d, "2001:db8::25", 25), 0, NULL, (char *)out, sizeof(out));
	bytes_eq(out, r, local, sizeof(local), "v2 mixed families: LOCAL");
	r = proxy_v2_encode(sa(&s, "192.0.2.1", 12345),
	    sa(&d, "2001:db8::25", 25), PROXY_V2_TLS, "TLSv1.3", (char *)out,
	    sizeof(out));
	bytes_eq(out, r, local, sizeof(local), "v2 LOCAL carries no TLV");
	r = proxy_v2_encode(NULL, NULL, 0, NULL, (char *)out, sizeof(out));
	bytes_eq(out, r, local, sizeof(local), "v2 NULL addresses: LOCAL");

	r = proxy_v2_encode(sa(&s, "192.0.2.1", 12345),
	    sa(&d, "198.51.100.7", 25), PROXY_V2_TLS, "TLSv1.3", (char *)out,
	    sizeof(out));
	bytes_eq(out, r, v4tls, sizeof(v4tls), "v2 IPv4 + SSL TLV");
	r = proxy_v2_encode((struct sockaddr *)&s, (struct sockaddr *)&d,
	    PROXY_V2_TLS, NULL, (char *)out, sizeof(out));
	bytes_eq(out, r, v4tlsnover, sizeof(v4tlsnover),
	    "v2 IPv4 + SSL TLV, no version");
	r = proxy_v2_encode(sa(&s, "2001:db8::1", 40000),
	    sa(&d, "2001:db8::25", 465), PROXY_V2_TLS, "TLSv1.2", (char *)out,
	    sizeof(out));
	bytes_eq(out, r, v6tls, sizeof(v6tls), "v2 IPv6 + SSL TLV");

	/* Capacity. */
	r = proxy_v2_encode((struct sockaddr *)&s, (struct sockaddr *)&d,
	    PROXY_V2_TLS, "TLSv1.2", (char *)out, sizeof(v6tls));
	T_OK(r == (long)sizeof(v6tls), "v2 cap == length fits");
	bad = 0;
	for (cap = 0; cap < sizeof(v6tls); cap++) {
		memset(out, '#', sizeof(out));
		r = proxy_v2_encode((struct sockaddr *)&s,
		    (struct sockaddr *)&d, PROXY_V2_TLS, "TLSv1.2",
		    (char *)out, cap);
		if (r != -1 || out[cap] != '#')
			bad++;
	}
	T_OK(bad == 0, "v2 every cap below the length fails, nothing "
	    "written past cap");

	/* The longest version that fits PROXY_V2_MAX with IPv6, and one
	 * more. */
	memset(ver, 'v', sizeof(ver));
	ver[53] = '\0';
	r = proxy_v2_encode((struct sockaddr *)&s, (struct sockaddr *)&d,
	    PROXY_V2_TLS, ver, (char *)out, PROXY_V2_MAX);
	T_OK(r == PROXY_V2_MAX && out[14] == 0 && out[15] == 100 &&
	    out[52 + 1] == 0 && out[52 + 2] == 61 && out[52 + 9] == 0 &&
	    out[52 + 10] == 53 && out[PROXY_V2_MAX - 1] == 'v',
	    "v2 53-byte version fills PROXY_V2_MAX exactly");
	ver[53] = 'v';
	ver[54] = '\0';
	r = proxy_v2_encode((struct sockaddr *)&s, (struct sockaddr *)&d,
	    PROXY_V2_TLS, ver, (char *)out, sizeof(out));
	T_OK(r == -1, "v2 54-byte version refused");
}

struct xc_case {
	const char	*addr;
	unsigned	 port;
	const char	*helo;
	const char	*want;
};

static const struct xc_case xc_cases[] = {
	{ "192.0.2.1", 12345, NULL,
	    "XCLIENT ADDR=192.0.2.1 PORT=12345 PROTO=ESMTP\r\n" },
	{ "192.0.2.1", 12345, "mail.example.com",
	    "XCLIENT ADDR=192.0.2.1 PORT=12345 PROTO=ESMTP "
	    "HELO=mail.example.com\r\n" },
	{ "2001:db8::1", 25, NULL,
	    "XCLIENT ADDR=IPV6:2001:db8::1 PORT=25 PROTO=ESMTP\r\n" },
	{ "2001:db8::1", 65535, "[2001:db8::1]",
	    "XCLIENT ADDR=IPV6:2001:db8::1 PORT=65535 PROTO=ESMTP "
	    "HELO=[2001:db8::1]\r\n" },
	{ "::ffff:192.0.2.1", 0, NULL,
	    "XCLIENT ADDR=192.0.2.1 PORT=0 PROTO=ESMTP\r\n" },
	{ "192.0.2.1", 1, "",
	    "XCLIENT ADDR=192.0.2.1 PORT=1 PROTO=ESMTP\r\n" },
	{ "192.0.2.1", 1, "a+b=c d",
	    "XCLIENT ADDR=192.0.2.1 PORT=1 PROTO=ESMTP HELO=a+2Bb+3Dc+20d\r\n" },
	{ "192.0.2.1", 1, "x\r\ny\tz\x01\x7f\x80\xff!~",
	    "XCLIENT ADDR=192.0.2.1 PORT=1 PROTO=ESMTP "
	    "HELO=x+0D+0Ay+09z+01+7F+80+FF!~\r\n" },
	{ "192.0.2.1", 1, "+",
	    "XCLIENT ADDR=192.0.2.1 PORT=1 PROTO=ESMTP HELO=+2B\r\n" },
};

static void
test_xclient(void)
{
	struct sockaddr_storage	 s;
	struct sockaddr_un	 sun;
	char			 out[256];
	size_t			 i, len, cap;
	long			 r;
	int			 bad;

	for (i = 0; i < sizeof(xc_cases) / sizeof(xc_cases[0]); i++) {
		const struct xc_case *c = &xc_cases[i];

		memset(out, '#', sizeof(out));
		r = xclient_encode(sa(&s, c->addr, c->port), c->helo, out,
		    sizeof(out));
		len = strlen(c->want);
		T_OK(r == (long)len, "xclient case %zu length %zu (got %ld)",
		    i, len, r);
		T_STREQ(r >= 0 ? out : NULL, c->want, "xclient %s helo %s",
		    c->addr, c->helo ? c->helo : "(null)");
	}

	r = xclient_encode(NULL, "h", out, sizeof(out));
	T_STREQ(r > 0 ? out : NULL, "XCLIENT ADDR=[UNAVAILABLE] "
	    "PORT=[UNAVAILABLE] PROTO=ESMTP HELO=h\r\n", "xclient NULL src");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	r = xclient_encode((struct sockaddr *)&sun, NULL, out, sizeof(out));
	T_STREQ(r > 0 ? out : NULL, "XCLIENT ADDR=[UNAVAILABLE] "
	    "PORT=[UNAVAILABLE] PROTO=ESMTP\r\n", "xclient AF_UNIX src");

	/* Capacity, with the HELO encoding cut at every point. */
	sa(&s, "2001:db8::1", 25);
	len = strlen("XCLIENT ADDR=IPV6:2001:db8::1 PORT=25 PROTO=ESMTP "
	    "HELO=a+20b\r\n");
	r = xclient_encode((struct sockaddr *)&s, "a b", out, len);
	T_OK(r == (long)len && memcmp(out, "XCLIENT ADDR=IPV6:", 18) == 0,
	    "xclient cap == length fits");
	bad = 0;
	for (cap = 0; cap < len; cap++) {
		memset(out, '#', sizeof(out));
		r = xclient_encode((struct sockaddr *)&s, "a b", out, cap);
		if (r != -1 || out[cap] != '#')
			bad++;
	}
	T_OK(bad == 0, "xclient every cap below the length fails, nothing "
	    "written past cap");
}

int
main(void)
{
	test_v1();
	test_v2();
	test_xclient();
	return T_DONE();
}

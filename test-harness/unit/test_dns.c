/*
 * common/dns.c: queries checked byte by byte, responses written by hand
 * (with a few helpers to append fields), and malformed ones: every
 * truncation of every valid response, pointer loops and forward
 * pointers, long labels and names, bad record data, too many records.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "t.h"

#define ID	0xbeef
#define QR	0x8000
#define AA	0x0400
#define TC	0x0200
#define RD	0x0100
#define RA	0x0080
#define AD	0x0020
#define T_TXT	16
#define T_SOA	6
#define C_CH	3

/* ---- a message under construction ---- */

struct msg {
	unsigned char	b[8192];
	size_t		n;
};

static void
u8(struct msg *m, unsigned v)
{
	if (m->n < sizeof(m->b))
		m->b[m->n++] = (unsigned char)v;
}

static void
u16(struct msg *m, unsigned v)
{
	u8(m, v >> 8);
	u8(m, v & 0xff);
}

static void
u32(struct msg *m, uint32_t v)
{
	u16(m, v >> 16);
	u16(m, v & 0xffff);
}

static void
raw(struct msg *m, const void *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		u8(m, ((const unsigned char *)p)[i]);
}

/* One label, as given (no dot handling). */
static void
label(struct msg *m, const char *s)
{
	u8(m, (unsigned)strlen(s));
	raw(m, s, strlen(s));
}

/* The labels of a dotted name, without the terminating root. */
static void
labels(struct msg *m, const char *s)
{
	const char *dot;

	while (*s != '\0') {
		dot = strchr(s, '.');
		if (dot == NULL)
			dot = s + strlen(s);
		u8(m, (unsigned)(dot - s));
		raw(m, s, (size_t)(dot - s));
		s = *dot ? dot + 1 : dot;
	}
}

static void
name(struct msg *m, const char *s)
{
	labels(m, s);
	u8(m, 0);
}

static void
ptr(struct msg *m, unsigned off)
{
	u16(m, 0xc000 | off);
}

static void
hdr(struct msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
    unsigned ns, unsigned ar)
{
	m->n = 0;
	u16(m, id);
	u16(m, flags);
	u16(m, qd);
	u16(m, an);
	u16(m, ns);
	u16(m, ar);
}

/* The question; its name is at offset 12 for pointers. */
static void
question(struct msg *m, const char *qname, unsigned qtype)
{
	name(m, qname);
	u16(m, qtype);
	u16(m, DNS_C_IN);
}

/* Type, class, TTL and a placeholder rdlength, after the owner; returns
 * where the rdlength is, for rdend(). */
static size_t
rr(struct msg *m, unsigned type, unsigned class, uint32_t ttl)
{
	size_t at;

	u16(m, type);
	u16(m, class);
	u32(m, ttl);
	at = m->n;
	u16(m, 0);
	return at;
}

static void
rdend(struct msg *m, size_t at)
{
	size_t len = m->n - at - 2;

	m->b[at] = (unsigned char)(len >> 8);
	m->b[at + 1] = (unsigned char)len;
}

static void
opt(struct msg *m, unsigned udp, unsigned ext_rcode)
{
	u8(m, 0);
	u16(m, DNS_T_OPT);
	u16(m, udp);
	u32(m, (uint32_t)ext_rcode << 24);
	u16(m, 0);
}

/* Parse from an exactly sized heap copy, so that AddressSanitizer sees
 * any read past the end. */
static int
parse(const struct msg *m, size_t len, unsigned id, struct dns_answer *a)
{
	unsigned char	*copy;
	int		 r;

	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, m->b, len);
	r = dns_parse(copy, len, (uint16_t)id, a);
	free(copy);
	return r;
}

static struct dns_answer ans, ans2;

/*
 * Every proper prefix of a valid message is refused, and the message
 * with bytes after it parses the same at every length from its own.
 */
static void
truncations(const struct msg *m0, unsigned id, const char *what)
{
	static struct msg m;
	size_t	len;
	int	bad = 0, good;

	for (len = 0; len < m0->n; len++)
		if (parse(m0, len, id, &ans) != -1)
			bad++;
	T_OK(bad == 0, "%s: each of %zu truncations refused", what, m0->n);

	good = parse(m0, m0->n, id, &ans2) == 0;
	m = *m0;
	raw(&m, "\0\377junk", 6);
	for (len = m0->n; len <= m.n; len++)
		if (parse(&m, len, id, &ans) != 0 || ans.n_rr != ans2.n_rr ||
		    ans.rcode != ans2.rcode ||
		    memcmp(ans.rr, ans2.rr, sizeof(ans.rr)) != 0)
			good = 0;
	T_OK(good, "%s: trailing bytes ignored", what);
}

/* ---- queries ---- */

static void
test_query(void)
{
	static const unsigned char want_a[] = {
		0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0x00, 0x01, 0x00, 0x01,
	};
	static const unsigned char want_mx[] = {
		0xab, 0xcd, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x01,
		11, 's', 't', 'a', 'r', 't', 't', 'l', 's', '-', 'm', 'x',
		2, 'E', 'x', 1, 'o', 0,
		0x00, 0x0f, 0x00, 0x01,
		0x00, 0x00, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0x00, 0x00,
	};
	char	 out[DNS_QUERY_MAX], name63[64], name64[65];
	char	 n253[DNS_NAME_MAX + 2], n254[DNS_NAME_MAX + 3];
	long	 r;
	size_t	 i;

	r = dns_build_query(0x1234, "example.com", DNS_T_A, 0, 0, out,
	    sizeof(out));
	T_OK(r == (long)sizeof(want_a) && memcmp(out, want_a, sizeof(want_a))
	    == 0, "query A example.com: header, QNAME, QTYPE, QCLASS");
	r = dns_build_query(0x1234, "example.com.", DNS_T_A, 0, 0, out,
	    sizeof(out));
	T_OK(r == (long)sizeof(want_a) && memcmp(out, want_a, sizeof(want_a))
	    == 0, "query with trailing dot: same bytes");
	r = dns_build_query(0xabcd, "starttls-mx.Ex.o", DNS_T_MX, 1, 1, out,
	    sizeof(out));
	T_OK(r == (long)sizeof(want_mx) &&
	    memcmp(out, want_mx, sizeof(want_mx)) == 0,
	    "query MX with AD and OPT (1232, DO clear), case kept");
	r = dns_build_query(1, "a.b", DNS_T_AAAA, 1, 0, out, sizeof(out));
	T_OK(r == 12 + 5 + 4 && out[2] == 0x01 && out[3] == 0x20 &&
	    out[11] == 0 && out[17] == 0 && out[18] == 28,
	    "AD without EDNS: ARCOUNT 0");
	r = dns_build_query(1, "a.b", DNS_T_A, 0, 1, out, sizeof(out));
	T_OK(r == 12 + 5 + 4 + 11 && out[3] == 0x00 && out[11] == 1,
	    "EDNS without AD: flags RD only, ARCOUNT 1");

	/* cap */
	T_OK(dns_build_query(1, "example.com", DNS_T_A, 0, 0, out, 29) == 29,
	    "cap exactly enough");
	T_OK(dns_build_query(1, "example.com", DNS_T_A, 0, 0, out, 28) == -1,
	    "cap one short");
	T_OK(dns_build_query(1, "example.com", DNS_T_A, 0, 1, out, 39) == -1,
	    "cap one short with EDNS");
	T_OK(dns_build_query(1, "example.com", DNS_T_A, 0, 1, out, 40) == 40,
	    "cap exactly enough with EDNS");
	T_OK(dns_build_query(1, "example.com", DNS_T_A, 0, 0, NULL, 100) == -1,
	    "NULL out");

	/* names */
	memset(name63, 'a', 63);
	name63[63] = '\0';
	memset(name64, 'a', 64);
	name64[64] = '\0';
	T_OK(dns_build_query(1, name63, DNS_T_A, 0, 0, out, sizeof(out)) ==
	    12 + 65 + 4, "63-byte label");
	T_OK(dns_build_query(1, name64, DNS_T_A, 0, 0, out, sizeof(out)) == -1,
	    "64-byte label refused");
	/* 253 bytes: four labels of 63, dots, and "a" (63*4+3 = 255: too
	 * long), so three of 63 and one of 61 instead. */
	memset(n253, 'a', sizeof(n253));
	n253[63] = n253[127] = n253[191] = '.';
	n253[253] = '\0';
	T_OK(dns_build_query(1, n253, DNS_T_A, 0, 1, out, sizeof(out)) ==
	    DNS_QUERY_MAX, "253-byte name: DNS_QUERY_MAX bytes");
	n253[253] = '.';
	n253[254] = '\0';
	T_OK(dns_build_query(1, n253, DNS_T_A, 0, 0, out, sizeof(out)) > 0,
	    "253-byte name and a trailing dot");
	memset(n254, 'a', sizeof(n254));
	n254[63] = n254[127] = n254[191] = '.';
	n254[254] = '\0';
	T_OK(dns_build_query(1, n254, DNS_T_A, 0, 0, out, sizeof(out)) == -1,
	    "254-byte name refused");
	{
		static const char *const bad[] = {
			"", ".", "..", "a..b", ".a", "a.b..", "a b.c", "a\tb",
			"a.\177", "caf\303\251.example", "a.b\r\n",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			T_OK(dns_build_query(1, bad[i], DNS_T_A, 0, 0, out,
			    sizeof(out)) == -1, "bad name %zu refused", i);
	}
	T_OK(dns_build_query(1, NULL, DNS_T_A, 0, 0, out, sizeof(out)) == -1,
	    "NULL name");
	T_OK(dns_build_query(1, "_25._tcp.mx-1.example", 52, 0, 0, out,
	    sizeof(out)) == 12 + 23 + 4, "underscores and digits allowed");
}

/* ---- responses ---- */

/* MX for example.com: two hosts, compressed against the question and
 * each other, an A record in the additional section, an OPT record. */
static void
build_mx(struct msg *m, unsigned flags)
{
	size_t at, mx1;

	hdr(m, ID, flags, 1, 2, 0, 2);
	question(m, "example.com", DNS_T_MX);		/* name at 12 */
	ptr(m, 12);
	at = rr(m, DNS_T_MX, DNS_C_IN, 300);
	u16(m, 10);
	mx1 = m->n;
	label(m, "starttls-mx1");
	ptr(m, 12);
	rdend(m, at);
	ptr(m, 12);
	at = rr(m, DNS_T_MX, DNS_C_IN, 60);
	u16(m, 20);
	label(m, "SMTPS-mx2");
	ptr(m, 12);
	rdend(m, at);
	ptr(m, (unsigned)mx1);
	at = rr(m, DNS_T_A, DNS_C_IN, 30);
	raw(m, "\xc0\x00\x02\x01", 4);
	rdend(m, at);
	opt(m, 1232, 0);
}

static void
test_mx(void)
{
	static struct msg m;
	uint32_t ttl = 0;

	build_mx(&m, QR | RD | RA | AD);
	T_OK(parse(&m, m.n, ID, &ans) == 0, "MX response parses");
	T_OK(ans.id == ID && ans.rcode == 0 && ans.ad == 1 && ans.tc == 0 &&
	    ans.aa == 0 && ans.rd == 1 && ans.ra == 1 && ans.cd == 0,
	    "MX: header fields, AD set");
	T_OK(ans.qdcount == 1 && strcmp(ans.qname, "example.com") == 0 &&
	    ans.qtype == DNS_T_MX && ans.qclass == DNS_C_IN, "MX: question");
	T_OK(dns_question_is(&ans, "EXAMPLE.com.", DNS_T_MX) &&
	    !dns_question_is(&ans, "example.com", DNS_T_A) &&
	    !dns_question_is(&ans, "example.org", DNS_T_MX),
	    "dns_question_is");
	T_OK(ans.n_rr == 2 && ans.n_dropped == 0, "MX: two records kept, "
	    "the additional A is not");
	T_OK(ans.rr[0].type == DNS_T_MX && ans.rr[0].ttl == 300 &&
	    ans.rr[0].u.mx.preference == 10 &&
	    strcmp(ans.rr[0].owner, "example.com") == 0,
	    "MX 1: owner, TTL, preference");
	T_STREQ(ans.rr[0].u.mx.exchange, "starttls-mx1.example.com",
	    "MX 1: exchange decompressed");
	T_STREQ(ans.rr[1].u.mx.exchange, "SMTPS-mx2.example.com",
	    "MX 2: exchange, case kept");
	T_OK(ans.rr[1].u.mx.preference == 20 && ans.rr[1].ttl == 60,
	    "MX 2: preference, TTL");
	T_OK(ans.edns == 1 && ans.edns_udp_size == 1232, "MX: OPT seen");
	T_OK(dns_min_ttl(&ans, "Example.COM.", DNS_T_MX, &ttl) == 0 &&
	    ttl == 60, "minimum MX TTL is 60");
	T_OK(dns_min_ttl(&ans, "example.com", DNS_T_A, &ttl) == -1,
	    "no A TTL for example.com");
	T_OK(dns_min_ttl(&ans, "mx.example.com", DNS_T_MX, &ttl) == -1,
	    "no MX TTL for another owner");
	T_OK(dns_min_ttl(NULL, "a", DNS_T_MX, &ttl) == -1 &&
	    dns_min_ttl(&ans, NULL, DNS_T_MX, &ttl) == -1 &&
	    dns_min_ttl(&ans, "a", DNS_T_MX, NULL) == -1, "min_ttl NULLs");
	truncations(&m, ID, "MX");

	build_mx(&m, QR | RD | RA);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.ad == 0, "MX: AD clear");
	build_mx(&m, QR | AA | TC);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.tc == 1 && ans.aa == 1 &&
	    ans.rd == 0 && ans.ad == 0, "TC and AA set");

	/* RFC 7505 null MX: preference 0, exchange the root */
	hdr(&m, ID, QR | RD | RA, 1, 1, 0, 0);
	question(&m, "example.org", DNS_T_MX);
	ptr(&m, 12);
	{
		size_t at = rr(&m, DNS_T_MX, DNS_C_IN, 86400);

		u16(&m, 0);
		u8(&m, 0);
		rdend(&m, at);
	}
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == 1 &&
	    ans.rr[0].u.mx.preference == 0 &&
	    strcmp(ans.rr[0].u.mx.exchange, ".") == 0,
	    "null MX: exchange \".\"");
	truncations(&m, ID, "null MX");

	build_mx(&m, QR | RD | RA);
	T_OK(parse(&m, m.n, ID + 1, &ans) == -1, "wrong id refused");
	build_mx(&m, RD);
	T_OK(parse(&m, m.n, ID, &ans) == -1, "QR clear (a query) refused");
	build_mx(&m, QR | (2 << 11));
	T_OK(parse(&m, m.n, ID, &ans) == -1, "opcode STATUS refused");
}

static void
test_addresses(void)
{
	static const unsigned char v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25 };
	static struct msg m;
	uint32_t ttl;
	size_t at;

	hdr(&m, ID, QR | RD | RA, 1, 2, 0, 0);
	question(&m, "mx.example.com", DNS_T_A);
	ptr(&m, 12);
	at = rr(&m, DNS_T_A, DNS_C_IN, 3600);
	raw(&m, "\x7f\x00\x00\x02", 4);
	rdend(&m, at);
	ptr(&m, 12);
	at = rr(&m, DNS_T_A, DNS_C_IN, 0x80000001u);
	raw(&m, "\xc0\x00\x02\x07", 4);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == 2, "A: parses");
	T_OK(ans.rr[0].type == DNS_T_A &&
	    memcmp(ans.rr[0].u.a, "\x7f\x00\x00\x02", 4) == 0 &&
	    ans.rr[0].ttl == 3600 &&
	    memcmp(ans.rr[1].u.a, "\xc0\x00\x02\x07", 4) == 0,
	    "A: both addresses");
	T_OK(ans.rr[1].ttl == 0, "TTL with the top bit set reads as 0");
	T_OK(dns_min_ttl(&ans, "mx.example.com", DNS_T_A, &ttl) == 0 &&
	    ttl == 0, "minimum A TTL");
	T_OK(ans.edns == 0, "no OPT");
	truncations(&m, ID, "A");

	hdr(&m, ID, QR | RD | RA | AD, 1, 1, 0, 0);
	question(&m, "mx.example.com", DNS_T_AAAA);
	ptr(&m, 12);
	at = rr(&m, DNS_T_AAAA, DNS_C_IN, 120);
	raw(&m, v6, 16);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == 1 &&
	    ans.rr[0].type == DNS_T_AAAA && ans.rr[0].ttl == 120 &&
	    memcmp(ans.rr[0].u.aaaa, v6, 16) == 0 && ans.ad == 1, "AAAA");
	truncations(&m, ID, "AAAA");

	/* uncompressed owner, other types and classes skipped */
	hdr(&m, ID, QR, 1, 4, 0, 0);
	question(&m, "mx.example.com", DNS_T_A);
	name(&m, "mx.example.com");
	at = rr(&m, T_TXT, DNS_C_IN, 5);
	raw(&m, "\x05hello", 6);
	rdend(&m, at);
	name(&m, "mx.example.com");
	at = rr(&m, DNS_T_A, C_CH, 5);
	raw(&m, "\x01\x02\x03\x04", 4);
	rdend(&m, at);
	label(&m, "odd name");			/* skipped: never decoded */
	ptr(&m, 12);
	at = rr(&m, T_TXT, DNS_C_IN, 5);
	rdend(&m, at);
	name(&m, "MX.example.com");
	at = rr(&m, DNS_T_A, DNS_C_IN, 7);
	raw(&m, "\x0a\x00\x00\x01", 4);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == 1 &&
	    ans.rr[0].ttl == 7 && strcmp(ans.rr[0].owner, "MX.example.com")
	    == 0, "TXT, class CH and an odd skipped owner: one A kept");
	truncations(&m, ID, "mixed types");
}

static void
test_cname(void)
{
	static struct msg m;
	size_t at, web, host;
	uint32_t ttl;

	hdr(&m, ID, QR | RD | RA, 1, 3, 0, 0);
	question(&m, "www.example.com", DNS_T_A);
	ptr(&m, 12);
	at = rr(&m, DNS_T_CNAME, DNS_C_IN, 100);
	web = m.n;
	name(&m, "web.example.net");
	rdend(&m, at);
	ptr(&m, (unsigned)web);
	at = rr(&m, DNS_T_CNAME, DNS_C_IN, 50);
	host = m.n;
	label(&m, "host");
	ptr(&m, 16);				/* "example.com" */
	rdend(&m, at);
	ptr(&m, (unsigned)host);
	at = rr(&m, DNS_T_A, DNS_C_IN, 20);
	raw(&m, "\x7f\x00\x00\x09", 4);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == 3, "CNAME chain");
	T_STREQ(ans.rr[0].u.cname, "web.example.net", "CNAME 1 target");
	T_STREQ(ans.rr[1].owner, "web.example.net", "CNAME 2 owner");
	T_STREQ(ans.rr[1].u.cname, "host.example.com", "CNAME 2 target");
	T_STREQ(ans.rr[2].owner, "host.example.com", "A owner");
	T_STREQ(dns_cname_follow(&ans, "WWW.example.com."), "host.example.com",
	    "chain followed to its end");
	T_STREQ(dns_cname_follow(&ans, "other.example"), "other.example",
	    "a name without CNAME is its own end");
	T_OK(dns_min_ttl(&ans, "host.example.com", DNS_T_A, &ttl) == 0 &&
	    ttl == 20, "A TTL at the end of the chain");
	T_OK(dns_min_ttl(&ans, "www.example.com", DNS_T_CNAME, &ttl) == 0 &&
	    ttl == 100, "CNAME TTL");
	T_OK(dns_cname_follow(NULL, "a") == NULL &&
	    dns_cname_follow(&ans, NULL) == NULL, "cname_follow NULLs");
	truncations(&m, ID, "CNAME chain");

	/* a → b → a */
	hdr(&m, ID, QR, 1, 2, 0, 0);
	question(&m, "a.test", DNS_T_A);
	ptr(&m, 12);
	at = rr(&m, DNS_T_CNAME, DNS_C_IN, 1);
	web = m.n;
	label(&m, "b");
	ptr(&m, 14);				/* "test" */
	rdend(&m, at);
	ptr(&m, (unsigned)web);
	at = rr(&m, DNS_T_CNAME, DNS_C_IN, 1);
	ptr(&m, 12);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == 2 &&
	    dns_cname_follow(&ans, "a.test") == NULL,
	    "CNAME loop: parses, following gives NULL");
}

static void
test_rcodes(void)
{
	static struct msg m;
	size_t at;

	/* NXDOMAIN with the zone's SOA in the authority section */
	hdr(&m, ID, QR | RD | RA | 3, 1, 0, 1, 1);
	question(&m, "nowhere.example.com", DNS_T_MX);
	ptr(&m, 20);				/* "example.com" */
	at = rr(&m, T_SOA, DNS_C_IN, 900);
	label(&m, "ns");
	ptr(&m, 20);
	label(&m, "hostmaster");
	ptr(&m, 20);
	u32(&m, 1);
	u32(&m, 2);
	u32(&m, 3);
	u32(&m, 4);
	u32(&m, 5);
	rdend(&m, at);
	opt(&m, 4096, 0);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.rcode == DNS_R_NXDOMAIN &&
	    ans.n_rr == 0 && ans.edns && ans.edns_udp_size == 4096,
	    "NXDOMAIN with SOA");
	T_STREQ(ans.qname, "nowhere.example.com", "NXDOMAIN question");
	truncations(&m, ID, "NXDOMAIN");

	hdr(&m, ID, QR | RD | RA | 2, 1, 0, 0, 0);
	question(&m, "example.com", DNS_T_MX);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.rcode == DNS_R_SERVFAIL &&
	    ans.n_rr == 0, "SERVFAIL");
	truncations(&m, ID, "SERVFAIL");

	hdr(&m, ID, QR | 1, 0, 0, 0, 0);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.rcode == DNS_R_FORMERR &&
	    ans.qdcount == 0 && ans.qname[0] == '\0',
	    "FORMERR without a question");

	/* BADVERS: 16 = extended 1 << 4 | header 0 */
	hdr(&m, ID, QR, 1, 0, 0, 1);
	question(&m, "example.com", DNS_T_MX);
	opt(&m, 512, 1);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.rcode == 16,
	    "extended rcode from OPT");

	hdr(&m, ID, QR, 2, 0, 0, 0);
	question(&m, "example.com", DNS_T_MX);
	question(&m, "example.org", DNS_T_MX);
	T_OK(parse(&m, m.n, ID, &ans) == -1, "two questions refused");
}

/* A question whose name is given as bytes after the header. */
static int
parse_qname(const void *bytes, size_t n)
{
	static struct msg m;

	hdr(&m, ID, QR, 1, 0, 0, 0);
	raw(&m, bytes, n);
	u16(&m, DNS_T_A);
	u16(&m, DNS_C_IN);
	return parse(&m, m.n, ID, &ans);
}

static void
test_malformed(void)
{
	static struct msg m;
	size_t at, x;
	int i;

	/* pointers */
	T_OK(parse_qname("\xc0\x0c", 2) == -1, "pointer to itself");
	T_OK(parse_qname("\x01" "a\xc0\x0c", 4) == -1,
	    "pointer back to the start of its own name");
	T_OK(parse_qname("\x01" "a\xc0\x0e", 4) == -1,
	    "pointer to itself after a label");
	T_OK(parse_qname("\xc0\x0e\x00", 3) == -1, "pointer forward");
	T_OK(parse_qname("\xc3\xff", 2) == -1, "pointer out of range");
	T_OK(parse_qname("\xc0\x05", 2) == -1, "pointer into the header");
	T_OK(parse_qname("\xc0", 1) == -1, "half a pointer");
	/* two names pointing at each other: the second is refused */
	hdr(&m, ID, QR, 1, 1, 0, 0);
	raw(&m, "\x01" "a\xc0\x14", 4);		/* 12: a, then -> 20 */
	u16(&m, DNS_T_A);
	u16(&m, DNS_C_IN);
	raw(&m, "\x01" "b\xc0\x0c", 4);		/* 20: b, then -> 12 */
	at = rr(&m, DNS_T_A, DNS_C_IN, 1);
	raw(&m, "\1\2\3\4", 4);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == -1, "mutual pointers");

	/* labels and names */
	T_OK(parse_qname("\x40" "a", 2) == -1, "label type 0x40");
	T_OK(parse_qname("\x80\x00", 2) == -1, "label type 0x80");
	{
		static unsigned char q[400];
		size_t n = 0;

		/* 63 * 4 + 4 + 1 = 257 wire bytes */
		for (i = 0; i < 4; i++) {
			q[n++] = 63;
			memset(q + n, 'a', 63);
			n += 63;
		}
		q[n++] = 0;
		T_OK(parse_qname(q, n) == -1, "name of 257 wire bytes");
		/* 63 * 3 + 3 + 61 + 1 + 1 = 255: the longest */
		q[3 * 64] = 61;
		q[3 * 64 + 62] = 0;
		T_OK(parse_qname(q, 3 * 64 + 63) == 0 &&
		    strlen(ans.qname) == DNS_NAME_MAX,
		    "name of 255 wire bytes");
		q[3 * 64] = 62;
		q[3 * 64 + 62] = 'a';
		q[3 * 64 + 63] = 0;
		T_OK(parse_qname(q, 3 * 64 + 64) == -1, "name of 256 wire "
		    "bytes");
	}
	T_OK(parse_qname("\x03" "a.b\x00", 5) == -1, "dot inside a label");
	T_OK(parse_qname("\x03" "a b\x00", 5) == -1, "space in a label");
	T_OK(parse_qname("\x02" "\xc3\xa9\x00", 4) == -1, "8-bit label");
	T_OK(parse_qname("\x00", 1) == 0 && strcmp(ans.qname, ".") == 0,
	    "root question");

	/* a name assembled across the 128-pointer bound */
	for (i = 125; i <= 128; i++) {
		int k;

		hdr(&m, ID, QR, 1, 2, 0, 0);
		question(&m, "example.com", DNS_T_A);
		ptr(&m, 12);
		at = rr(&m, T_TXT, DNS_C_IN, 1);
		x = m.n;
		ptr(&m, 12);			/* P0 */
		for (k = 1; k <= i; k++)
			ptr(&m, (unsigned)(x + 2 * (k - 1)));
		rdend(&m, at);
		ptr(&m, (unsigned)(x + 2 * i));	/* owner -> P_i */
		at = rr(&m, DNS_T_A, DNS_C_IN, 1);
		raw(&m, "\1\2\3\4", 4);
		rdend(&m, at);
		T_OK((parse(&m, m.n, ID, &ans) == 0) == (i + 2 <= 128),
		    "chain of %d pointers %s", i + 2,
		    i + 2 <= 128 ? "followed" : "refused");
	}

	/* record data */
	{
		static const struct {
			const char	*what;
			unsigned	 type;
			const char	*rdata;
			size_t		 len;
		} bad[] = {
			{ "A of 3 bytes", DNS_T_A, "\1\2\3", 3 },
			{ "A of 5 bytes", DNS_T_A, "\1\2\3\4\5", 5 },
			{ "AAAA of 4 bytes", DNS_T_AAAA, "\1\2\3\4", 4 },
			{ "AAAA of 17 bytes", DNS_T_AAAA,
			    "0123456789abcdefg", 17 },
			{ "MX of 2 bytes", DNS_T_MX, "\0\1", 2 },
			{ "MX exchange short of rdata", DNS_T_MX,
			    "\0\1\1a\0\0", 6 },
			{ "MX exchange past rdata", DNS_T_MX,
			    "\0\1\3abc", 6 },
			{ "MX exchange with a space", DNS_T_MX,
			    "\0\1\3a c\0", 7 },
			{ "MX exchange pointing forward", DNS_T_MX,
			    "\0\1\xc0\xff", 4 },
			{ "CNAME empty", DNS_T_CNAME, "", 0 },
			{ "CNAME with bytes after", DNS_T_CNAME,
			    "\1a\0x", 4 },
			{ "CNAME label past rdata", DNS_T_CNAME,
			    "\5ab", 3 },
		};
		size_t j;

		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			hdr(&m, ID, QR, 1, 1, 0, 0);
			question(&m, "example.com", bad[j].type);
			ptr(&m, 12);
			at = rr(&m, bad[j].type, DNS_C_IN, 1);
			raw(&m, bad[j].rdata, bad[j].len);
			rdend(&m, at);
			/* trailing bytes must not rescue a name that runs
			 * past its record */
			raw(&m, "c\0\0\0", 4);
			T_OK(parse(&m, m.n, ID, &ans) == -1, "%s refused",
			    bad[j].what);
		}
	}
	hdr(&m, ID, QR, 1, 1, 0, 0);
	question(&m, "example.com", DNS_T_A);
	ptr(&m, 12);
	at = rr(&m, DNS_T_A, DNS_C_IN, 1);
	raw(&m, "\1\2\3\4", 4);
	m.b[at + 1] = 200;			/* rdlength past the end */
	T_OK(parse(&m, m.n, ID, &ans) == -1, "rdlength past the end");
	hdr(&m, ID, QR, 1, 0, 0, 0);
	question(&m, "example.com", DNS_T_A);
	m.b[7] = 1;				/* ANCOUNT 1, no record */
	T_OK(parse(&m, m.n, ID, &ans) == -1, "ANCOUNT over the records");
	m.b[7] = 0;
	m.b[6] = 0xff;
	m.b[7] = 0xff;
	T_OK(parse(&m, m.n, ID, &ans) == -1, "ANCOUNT 65535");

	/* OPT */
	hdr(&m, ID, QR, 1, 0, 0, 2);
	question(&m, "example.com", DNS_T_A);
	opt(&m, 1232, 0);
	opt(&m, 1232, 0);
	T_OK(parse(&m, m.n, ID, &ans) == -1, "two OPT records");
	hdr(&m, ID, QR, 1, 0, 0, 1);
	question(&m, "example.com", DNS_T_A);
	ptr(&m, 12);
	at = rr(&m, DNS_T_OPT, 1232, 0);
	rdend(&m, at);
	T_OK(parse(&m, m.n, ID, &ans) == -1, "OPT not owned by the root");
	hdr(&m, ID, QR, 1, 1, 0, 0);
	question(&m, "example.com", DNS_T_A);
	opt(&m, 1232, 0);
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.edns == 0,
	    "OPT in the answer section skipped");

	/* sizes */
	T_OK(dns_parse(m.b, 11, ID, &ans) == -1, "11 bytes");
	T_OK(dns_parse(NULL, 100, ID, &ans) == -1, "NULL message");
	T_OK(dns_parse(m.b, m.n, ID, NULL) == -1, "NULL answer");
	{
		static unsigned char big[DNS_MSG_MAX + 1];

		memcpy(big, m.b, m.n);
		T_OK(dns_parse(big, sizeof(big), ID, &ans) == -1,
		    "65536 bytes refused");
		T_OK(dns_parse(big, DNS_MSG_MAX, ID, &ans) == 0,
		    "65535 bytes (trailing zeros) accepted");
	}
}

/* More answers than DNS_MAX_RR: the first are kept, the rest counted. */
static void
test_many(void)
{
	static struct msg m;
	char host[32];
	size_t at;
	int i, n = DNS_MAX_RR + 8;

	hdr(&m, ID, QR | RD | RA, 1, (unsigned)n, 0, 0);
	question(&m, "example.com", DNS_T_MX);
	for (i = 0; i < n; i++) {
		ptr(&m, 12);
		at = rr(&m, DNS_T_MX, DNS_C_IN, (uint32_t)(1000 - i));
		u16(&m, (unsigned)i);
		snprintf(host, sizeof(host), "mx%d", i);
		label(&m, host);
		ptr(&m, 12);
		rdend(&m, at);
	}
	T_OK(parse(&m, m.n, ID, &ans) == 0 && ans.n_rr == DNS_MAX_RR &&
	    ans.n_dropped == 8, "%d MX: %d kept, 8 dropped", n, DNS_MAX_RR);
	T_STREQ(ans.rr[DNS_MAX_RR - 1].u.mx.exchange, "mx31.example.com",
	    "the last kept is the 32nd");
	{
		uint32_t ttl;

		T_OK(dns_min_ttl(&ans, "example.com", DNS_T_MX, &ttl) == 0 &&
		    ttl == (uint32_t)(1000 - DNS_MAX_RR + 1),
		    "minimum TTL over the kept records");
	}
	truncations(&m, ID, "40 MX");

	/* a malformed record past the limit still spoils the answer */
	ptr(&m, 12);
	at = rr(&m, DNS_T_MX, DNS_C_IN, 1);
	u16(&m, 1);
	raw(&m, "\3a b\0", 5);
	rdend(&m, at);
	m.b[7] = (unsigned char)(n + 1);
	T_OK(parse(&m, m.n, ID, &ans) == -1, "malformed 41st record refused");
}

static void
test_names(void)
{
	T_OK(dns_name_eq("Example.COM", "example.com."), "eq: case, dot");
	T_OK(dns_name_eq(".", ""), "eq: root forms");
	T_OK(!dns_name_eq("example.com", "example.co"), "eq: lengths");
	T_OK(!dns_name_eq("example.com", "example.con"), "eq: bytes");
	T_OK(!dns_name_eq("example.com..", "example.com"), "eq: one dot only");
	T_OK(!dns_name_eq(NULL, "a") && !dns_name_eq("a", NULL) &&
	    !dns_name_eq(NULL, NULL), "eq: NULL equals nothing");
}

/* A query read back as a response gives the name it was built from. */
static void
test_round_trip(void)
{
	static const char *const names[] = {
		"example.com", "STARTTLS-mx1.Example.Com.", "a", "x-y.z_",
		"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p",
	};
	unsigned char out[DNS_QUERY_MAX];
	size_t i;
	long n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = dns_build_query(7, names[i], DNS_T_MX, 1, 1, (char *)out,
		    sizeof(out));
		out[2] |= 0x80;
		T_OK(n > 0 && dns_parse(out, (size_t)n, 7, &ans) == 0 &&
		    dns_question_is(&ans, names[i], DNS_T_MX) && ans.edns &&
		    ans.ad, "round trip \"%s\"", names[i]);
	}
}

int
main(void)
{
	test_query();
	test_mx();
	test_addresses();
	test_cname();
	test_rcodes();
	test_malformed();
	test_many();
	test_names();
	test_round_trip();
	return T_DONE();
}

/*
 * DNS message codec (RFC 1035 §4, RFC 6891 for the OPT record).
 * Every read is checked against the message length before it happens;
 * a response comes from the network and is trusted for nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns.h"

#define F_QR		0x8000
#define F_AA		0x0400
#define F_TC		0x0200
#define F_RD		0x0100
#define F_RA		0x0080
#define F_AD		0x0020
#define F_CD		0x0010
#define OPCODE(f)	(((f) >> 11) & 0x0f)
#define RCODE(f)	((f) & 0x0f)

#define NAME_WIRE_MAX	255	/* RFC 1035 §3.1, length bytes included */
#define JUMPS_MAX	128	/* compression pointers followed per name */
#define RR_FIXED	10	/* type, class, ttl, rdlength */

enum section { S_ANSWER, S_AUTHORITY, S_ADDITIONAL };

/* Where one record's parts are in the message. */
struct rr_pos {
	size_t		owner;		/* offset of the owner name */
	uint16_t	type, class;
	uint32_t	ttl;
	size_t		rdata;		/* offset of the data */
	uint16_t	rdlen;
};

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* May byte c appear in a label of a name in text form? */
static int
label_byte_ok(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '.';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

long
dns_build_query(uint16_t id, const char *name, uint16_t qtype, int want_ad,
    int edns, char *out, size_t cap)
{
	unsigned char	*o = (unsigned char *)out;
	size_t		 n, i, p, len_at, label, need;
	uint16_t	 flags;

	if (name == NULL || out == NULL)
		return -1;
	n = strnlen(name, DNS_NAME_MAX + 2);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX)
		return -1;
	/* The text's n bytes become n + 2 on the wire: a length byte in
	 * place of each dot, one in front, the root's zero at the end. */
	need = DNS_HEADER_LEN + n + 2 + 4 + (edns ? 11 : 0);
	if (cap < need)
		return -1;

	flags = F_RD | (want_ad ? F_AD : 0);
	put16(o, id);
	put16(o + 2, flags);
	put16(o + 4, 1);			/* QDCOUNT */
	put16(o + 6, 0);			/* ANCOUNT */
	put16(o + 8, 0);			/* NSCOUNT */
	put16(o + 10, edns ? 1 : 0);		/* ARCOUNT */

	p = DNS_HEADER_LEN;
	len_at = p++;
	label = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			o[len_at] = (unsigned char)label;
			len_at = p++;
			label = 0;
			continue;
		}
		if (!label_byte_ok(c) || ++label > DNS_LABEL_MAX)
			return -1;
		o[p++] = c;
	}
	if (label == 0)
		return -1;
	o[len_at] = (unsigned char)label;
	o[p++] = 0;
	put16(o + p, qtype);
	put16(o + p + 2, DNS_C_IN);
	p += 4;

	if (edns) {
		o[p++] = 0;			/* owner: the root */
		put16(o + p, DNS_T_OPT);
		put16(o + p + 2, DNS_EDNS_UDP_SIZE);	/* class: payload */
		memset(o + p + 4, 0, 4);	/* ext. rcode, version, DO=0 */
		put16(o + p + 8, 0);		/* no options */
		p += 10;
	}
	return (long)p;
}

/*
 * Read the name at msg[pos], within msg[0..len).  *next gets the offset
 * just after the name where it was written (after its first pointer, if
 * any).  With text != NULL (DNS_NAME_MAX + 1 bytes), the name is written
 * there in text form, and a byte that text form cannot carry is an
 * error.
 * A pointer must lead before the start of the run of labels it ends,
 * and after the header: each jump goes strictly backwards, so no
 * pointer loop can form, and JUMPS_MAX bounds the work besides.
 */
static int
name_read(const unsigned char *msg, size_t len, size_t pos, size_t *next,
    char *text)
{
	size_t	run = pos, wire = 0, tlen = 0, target;
	int	jumps = 0, jumped = 0;
	unsigned c;

	for (;;) {
		if (pos >= len)
			return -1;
		c = msg[pos];
		if (c == 0)
			break;
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -1;
			target = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (target < DNS_HEADER_LEN || target >= run ||
			    ++jumps > JUMPS_MAX)
				return -1;
			if (!jumped) {
				*next = pos + 2;
				jumped = 1;
			}
			pos = run = target;
			continue;
		}
		if (c & 0xc0)			/* 0x40, 0x80: not in use */
			return -1;
		if (c > len - pos - 1)
			return -1;
		/* This label, and the root's zero still to come. */
		wire += 1 + c;
		if (wire + 1 > NAME_WIRE_MAX)
			return -1;
		if (text != NULL) {
			size_t i;

			if (tlen > 0)
				text[tlen++] = '.';
			for (i = 1; i <= c; i++) {
				if (!label_byte_ok(msg[pos + i]))
					return -1;
				text[tlen++] = (char)msg[pos + i];
			}
		}
		pos += 1 + c;
	}
	if (!jumped)
		*next = pos + 1;
	if (text != NULL) {
		if (tlen == 0)
			text[tlen++] = '.';
		text[tlen] = '\0';
	}
	return 0;
}

/* Frame the record at *pos: its owner name, fixed fields and data must
 * lie within the message.  Advances *pos past it. */
static int
rr_frame(const unsigned char *msg, size_t len, size_t *pos, struct rr_pos *r)
{
	size_t p;

	r->owner = *pos;
	if (name_read(msg, len, *pos, &p, NULL) < 0)
		return -1;
	if (len - p < RR_FIXED)
		return -1;
	r->type = get16(msg + p);
	r->class = get16(msg + p + 2);
	r->ttl = get32(msg + p + 4);
	r->rdlen = get16(msg + p + 8);
	p += RR_FIXED;
	if (len - p < r->rdlen)
		return -1;
	r->rdata = p;
	*pos = p + r->rdlen;
	return 0;
}

/* A name that must fill the record's data from offset `at` exactly. */
static int
rdata_name(const unsigned char *msg, size_t len, const struct rr_pos *r,
    size_t at, char *text)
{
	size_t next;

	if (name_read(msg, len, at, &next, text) < 0)
		return -1;
	return next == r->rdata + r->rdlen ? 0 : -1;
}

/* Decode an answer-section record of a kept type into *rr. */
static int
rr_decode(const unsigned char *msg, size_t len, const struct rr_pos *r,
    struct dns_rr *rr)
{
	size_t next;

	if (name_read(msg, len, r->owner, &next, rr->owner) < 0)
		return -1;
	rr->type = r->type;
	rr->ttl = r->ttl & 0x80000000u ? 0 : r->ttl;
	switch (r->type) {
	case DNS_T_A:
		if (r->rdlen != sizeof(rr->u.a))
			return -1;
		memcpy(rr->u.a, msg + r->rdata, sizeof(rr->u.a));
		return 0;
	case DNS_T_AAAA:
		if (r->rdlen != sizeof(rr->u.aaaa))
			return -1;
		memcpy(rr->u.aaaa, msg + r->rdata, sizeof(rr->u.aaaa));
		return 0;
	case DNS_T_MX:
		if (r->rdlen < 3)
			return -1;
		rr->u.mx.preference = get16(msg + r->rdata);
		return rdata_name(msg, len, r, r->rdata + 2,
		    rr->u.mx.exchange);
	case DNS_T_CNAME:
		return rdata_name(msg, len, r, r->rdata, rr->u.cname);
	}
	return -1;
}

/* The OPT record (RFC 6891 §6.1): owned by the root, at most one. */
static int
opt_read(const unsigned char *msg, const struct rr_pos *r,
    struct dns_answer *out)
{
	if (out->edns || msg[r->owner] != 0)
		return -1;
	out->edns = 1;
	out->edns_udp_size = r->class;
	out->rcode |= (int)(r->ttl >> 24) << 4;
	return 0;
}

int
dns_parse(const unsigned char *msg, size_t len, uint16_t want_id,
    struct dns_answer *out)
{
	static const enum section sections[] =
	    { S_ANSWER, S_AUTHORITY, S_ADDITIONAL };
	struct dns_rr	 scratch;
	struct rr_pos	 r;
	uint16_t	 flags, count[3];
	size_t		 pos, next;
	unsigned	 s, i;

	if (msg == NULL || out == NULL || len < DNS_HEADER_LEN ||
	    len > DNS_MSG_MAX)
		return -1;
	memset(out, 0, sizeof(*out));
	out->id = get16(msg);
	flags = get16(msg + 2);
	if (out->id != want_id || !(flags & F_QR) || OPCODE(flags) != 0)
		return -1;
	out->aa = !!(flags & F_AA);
	out->tc = !!(flags & F_TC);
	out->rd = !!(flags & F_RD);
	out->ra = !!(flags & F_RA);
	out->ad = !!(flags & F_AD);
	out->cd = !!(flags & F_CD);
	out->rcode = RCODE(flags);
	out->qdcount = get16(msg + 4);
	count[S_ANSWER] = get16(msg + 6);
	count[S_AUTHORITY] = get16(msg + 8);
	count[S_ADDITIONAL] = get16(msg + 10);
	if (out->qdcount > 1)
		return -1;

	pos = DNS_HEADER_LEN;
	if (out->qdcount == 1) {
		if (name_read(msg, len, pos, &next, out->qname) < 0 ||
		    len - next < 4)
			return -1;
		out->qtype = get16(msg + next);
		out->qclass = get16(msg + next + 2);
		pos = next + 4;
	}

	for (s = 0; s < 3; s++) {
		for (i = 0; i < count[sections[s]]; i++) {
			if (rr_frame(msg, len, &pos, &r) < 0)
				return -1;
			if (sections[s] == S_ADDITIONAL &&
			    r.type == DNS_T_OPT) {
				if (opt_read(msg, &r, out) < 0)
					return -1;
				continue;
			}
			if (sections[s] != S_ANSWER || r.class != DNS_C_IN ||
			    (r.type != DNS_T_A && r.type != DNS_T_AAAA &&
			    r.type != DNS_T_MX && r.type != DNS_T_CNAME))
				continue;
			/* Past the array, a record is still checked, so
			 * that the answer is valid or not whatever its
			 * size. */
			if (out->n_rr < DNS_MAX_RR) {
				if (rr_decode(msg, len, &r,
				    &out->rr[out->n_rr]) < 0)
					return -1;
				out->n_rr++;
			} else {
				if (rr_decode(msg, len, &r, &scratch) < 0)
					return -1;
				out->n_dropped++;
			}
		}
	}
	return 0;
}

int
dns_name_eq(const char *a, const char *b)
{
	size_t na, nb, i;

	if (a == NULL || b == NULL)
		return 0;
	na = strnlen(a, DNS_NAME_MAX + 2);
	nb = strnlen(b, DNS_NAME_MAX + 2);
	if (na > 0 && a[na - 1] == '.')
		na--;
	if (nb > 0 && b[nb - 1] == '.')
		nb--;
	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int
dns_question_is(const struct dns_answer *a, const char *name,
    uint16_t qtype)
{
	return a != NULL && a->qdcount == 1 && a->qtype == qtype &&
	    a->qclass == DNS_C_IN && dns_name_eq(a->qname, name);
}

int
dns_min_ttl(const struct dns_answer *a, const char *owner, uint16_t type,
    uint32_t *ttl)
{
	int i, found = 0;

	if (a == NULL || owner == NULL || ttl == NULL)
		return -1;
	for (i = 0; i < a->n_rr && i < DNS_MAX_RR; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (rr->type != type || !dns_name_eq(rr->owner, owner))
			continue;
		if (!found || rr->ttl < *ttl)
			*ttl = rr->ttl;
		found = 1;
	}
	return found ? 0 : -1;
}

const char *
dns_cname_follow(const struct dns_answer *a, const char *name)
{
	const char	*cur = name;
	int		 step, i, n;

	if (a == NULL || name == NULL)
		return NULL;
	n = a->n_rr < DNS_MAX_RR ? a->n_rr : DNS_MAX_RR;
	/* A chain without a loop uses each record at most once. */
	for (step = 0; step <= n; step++) {
		for (i = 0; i < n; i++)
			if (a->rr[i].type == DNS_T_CNAME &&
			    dns_name_eq(a->rr[i].owner, cur))
				break;
		if (i == n)
			return cur;
		cur = a->rr[i].u.cname;
	}
	return NULL;
}

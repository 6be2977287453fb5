/*
 * A pure DNS message codec (RFC 1035): build one query, parse one
 * response.  No I/O, no allocation, every length checked against the
 * message.  The resolver sends the bytes through c-ares (ares_send())
 * and reads the answer with dns_parse(), which gives what c-ares's own
 * parsers do not: the TTL of MX records and the AD bit.
 *
 * Names in text form are the labels joined by '.', without a trailing
 * dot; the root is ".".  A label may hold any byte from '!' to '~'
 * except '.', and nothing else: no escapes, no spaces, no 8-bit bytes.
 */
#ifndef DNS_H
#define DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX		253	/* text form, without trailing dot */
#define DNS_LABEL_MAX		63
#define DNS_MAX_RR		32	/* answer records kept per message */
#define DNS_HEADER_LEN		12
#define DNS_MSG_MAX		65535
#define DNS_EDNS_UDP_SIZE	1232	/* advertised payload size */
#define DNS_QUERY_MAX		(DNS_HEADER_LEN + DNS_NAME_MAX + 2 + 4 + 11)

/* Types and classes used here. */
#define DNS_T_A			1
#define DNS_T_CNAME		5
#define DNS_T_MX		15
#define DNS_T_AAAA		28
#define DNS_T_OPT		41
#define DNS_C_IN		1

/* Response codes (rcode), extended by the OPT record when present. */
#define DNS_R_NOERROR		0
#define DNS_R_FORMERR		1
#define DNS_R_SERVFAIL		2
#define DNS_R_NXDOMAIN		3
#define DNS_R_NOTIMP		4
#define DNS_R_REFUSED		5

struct dns_rr {
	char		owner[DNS_NAME_MAX + 1];
	uint16_t	type;		/* DNS_T_A, _AAAA, _MX or _CNAME */
	uint32_t	ttl;		/* seconds; RFC 2181 §8: a value with
					 * the top bit set is read as 0 */
	union {
		struct {
			uint16_t	preference;
			char		exchange[DNS_NAME_MAX + 1];
		} mx;			/* exchange "." is a null MX */
		unsigned char	a[4];	/* network order */
		unsigned char	aaaa[16];
		char		cname[DNS_NAME_MAX + 1];
	} u;
};

struct dns_answer {
	uint16_t	id;
	int		rcode;		/* header rcode, plus the OPT record's
					 * upper bits when there is one */
	int		aa, tc, rd, ra, ad, cd;	/* header flags, 0/1 */
	int		qdcount;	/* 0 or 1 */
	char		qname[DNS_NAME_MAX + 1];	/* "" when qdcount 0 */
	uint16_t	qtype, qclass;
	int		edns;		/* an OPT record was present */
	uint16_t	edns_udp_size;	/* its advertised payload size */
	int		n_rr;		/* records kept in rr[] */
	int		n_dropped;	/* A/AAAA/MX/CNAME records of the
					 * answer section past DNS_MAX_RR */
	struct dns_rr	rr[DNS_MAX_RR];	/* answer section, class IN, the
					 * four types above, in order */
};

/*
 * Write a standard query for (name, qtype, class IN) with the given id
 * into out[0..cap): opcode QUERY, RD=1; AD=1 when want_ad (RFC 6840
 * §5.7: asks the resolver to say whether the answer was authenticated);
 * an EDNS0 OPT record (payload DNS_EDNS_UDP_SIZE, version 0, DO clear)
 * when edns.  A trailing dot on name is allowed; the root alone, an
 * empty label, a label over 63 bytes, a name over 253 bytes and a byte
 * outside '!'..'~' are refused.
 * Returns the query's length, or -1 (bad name, cap too small; then
 * nothing is promised about out).  DNS_QUERY_MAX is always enough.
 */
long dns_build_query(uint16_t id, const char *name, uint16_t qtype,
    int want_ad, int edns, char *out, size_t cap);

/*
 * Parse the response msg[0..len) into *out.  It must be a response
 * (QR=1) to a standard query (opcode 0) with id want_id and at most one
 * question.  Every section is walked and checked: names (compression
 * pointers must point before the name they continue, to a position
 * after the header; at most 255 wire bytes; no reserved label types),
 * record lengths, and the data of the records kept.  Kept are the
 * answer section's class-IN records of type A, AAAA, MX and CNAME, up
 * to DNS_MAX_RR (the rest are checked, then counted in n_dropped);
 * other records are only checked for framing.  In the additional
 * section, an OPT record not owned by the root, or a second one, is
 * malformed (an OPT record elsewhere is skipped).  So is a name to keep
 * (question, owners and targets of kept records) with a byte outside
 * '!'..'~' or a '.' inside a label.  Bytes after the last record are
 * ignored.  Checking that the question is the one asked is the
 * caller's (dns_question_is()).
 * Returns 0, or -1 on any malformed input (*out is then unspecified).
 */
int dns_parse(const unsigned char *msg, size_t len, uint16_t want_id,
    struct dns_answer *out);

/* Are the text names a and b equal, without regard to ASCII case and
 * to one trailing dot each?  NULL equals nothing. */
int dns_name_eq(const char *a, const char *b);

/* Is the answer's question (name, type, class IN)? */
int dns_question_is(const struct dns_answer *a, const char *name,
    uint16_t qtype);

/*
 * The smallest TTL among the kept records of `type` owned by `owner`
 * (dns_name_eq()).  Returns 0 and sets *ttl, or -1 when there is none.
 */
int dns_min_ttl(const struct dns_answer *a, const char *owner,
    uint16_t type, uint32_t *ttl);

/*
 * Follow the CNAME records of the answer from `name`: the name whose
 * other records answer the question (`name` itself when it has no
 * CNAME), a pointer into *a or `name`.  NULL when the chain loops or is
 * longer than the records kept.
 */
const char *dns_cname_follow(const struct dns_answer *a, const char *name);

#endif

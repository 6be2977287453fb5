/*
 * Fuzz target for common/dns.c.  The input is parsed as a response
 * (its own first two bytes as the expected id, so that most inputs get
 * past the id check) and the result checked for what the header
 * promises.  Its first 300 bytes up to a NUL are also taken as a name:
 * a query built from it must read back, as a response, with that name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Is s a name as dns_parse() writes it: "." or labels of '!'..'~'
 * without '.', no empty label, at most DNS_NAME_MAX bytes? */
static int
text_name_ok(const char *s)
{
	size_t n = strnlen(s, DNS_NAME_MAX + 1), i, label = 0;

	if (n > DNS_NAME_MAX || n == 0)
		return 0;
	if (strcmp(s, ".") == 0)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (c < 0x21 || c > 0x7e || ++label > DNS_LABEL_MAX)
			return 0;
	}
	return label > 0;
}

static void
check_answer(const struct dns_answer *a)
{
	uint32_t	ttl;
	int		i;

	if (a->n_rr < 0 || a->n_rr > DNS_MAX_RR || a->n_dropped < 0 ||
	    (a->n_dropped > 0 && a->n_rr != DNS_MAX_RR))
		abort();
	if (a->qdcount > 1 || (a->qdcount == 1 && !text_name_ok(a->qname)))
		abort();
	if (a->rcode < 0 || a->rcode > 4095)
		abort();
	for (i = 0; i < a->n_rr; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (!text_name_ok(rr->owner) || rr->ttl > 0x7fffffffu)
			abort();
		if (rr->type == DNS_T_MX) {
			if (!text_name_ok(rr->u.mx.exchange))
				abort();
		} else if (rr->type == DNS_T_CNAME) {
			if (!text_name_ok(rr->u.cname))
				abort();
		} else if (rr->type != DNS_T_A && rr->type != DNS_T_AAAA)
			abort();
		if (dns_min_ttl(a, rr->owner, rr->type, &ttl) != 0 ||
		    ttl > rr->ttl)
			abort();
		(void)dns_cname_follow(a, rr->owner);
	}
	if (a->qdcount == 1)
		(void)dns_cname_follow(a, a->qname);
}

/* Build a query from the name; read it back. */
static void
round_trip(const uint8_t *data, size_t size)
{
	static struct dns_answer a;
	char		 name[301];
	unsigned char	*q;
	size_t		 n;
	long		 len;
	int		 flags = size > 0 ? data[0] : 0;

	n = size < 300 ? size : 300;
	memcpy(name, data, n);
	name[n] = '\0';
	if ((q = malloc(DNS_QUERY_MAX)) == NULL)
		return;
	len = dns_build_query(0x4242, name, DNS_T_MX, flags & 1, flags & 2,
	    (char *)q, DNS_QUERY_MAX);
	if (len > DNS_QUERY_MAX)
		abort();
	if (len > 0) {
		/* One byte less must not do. */
		if (dns_build_query(0x4242, name, DNS_T_MX, flags & 1,
		    flags & 2, (char *)q, (size_t)len - 1) != -1)
			abort();
		len = dns_build_query(0x4242, name, DNS_T_MX, flags & 1,
		    flags & 2, (char *)q, (size_t)len);
		q[2] |= 0x80;
		if (dns_parse(q, (size_t)len, 0x4242, &a) != 0 ||
		    !dns_question_is(&a, name, DNS_T_MX) ||
		    a.ad != (flags & 1) || a.edns != !!(flags & 2) ||
		    a.n_rr != 0)
			abort();
	}
	free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_answer a;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;

	if (dns_parse(data, size, id, &a) == 0)
		check_answer(&a);
	round_trip(data, size);
	return 0;
}

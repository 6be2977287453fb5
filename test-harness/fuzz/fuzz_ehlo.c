/*
 * Fuzz target: EHLO reply rewriting and keyword lookup.  The first byte
 * gives the flags and the output capacity, the rest is the reply.  Every
 * output is checked for the shape a client relies on.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ehlo.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define OUT_MAX	(16384 * 2 + 64)

/* Is the first word of t[0..n), blanks skipped, STARTTLS in any case? */
static int
is_starttls(const char *t, size_t n)
{
	static const char	kw[] = "STARTTLS";
	size_t			i = 0, j;

	while (i < n && (t[i] == ' ' || t[i] == '\t'))
		i++;
	for (j = 0; j < 8; j++, i++)
		if (i >= n || (t[i] & ~0x20) != kw[j])
			return 0;
	return i == n || t[i] == ' ' || t[i] == '\t';
}

/*
 * Check the shape of a rewritten reply: CRLF line ends and nothing bare,
 * "250-" on every line but the last, "250 " on the last, no control
 * characters; returns the number of STARTTLS keyword lines.
 */
static int
check_shape(const char *o, size_t n)
{
	size_t	pos = 0, end, i;
	int	starttls = 0, first = 1;

	if (n < 6 || o[n - 2] != '\r' || o[n - 1] != '\n')
		abort();
	while (pos < n) {
		const char *lf = memchr(o + pos, '\n', n - pos);

		if (lf == NULL)
			abort();
		end = (size_t)(lf - o);
		if (end - pos < 5 || o[end - 1] != '\r')
			abort();
		if (memcmp(o + pos, end + 1 == n ? "250 " : "250-", 4) != 0)
			abort();
		for (i = pos + 4; i < end - 1; i++) {
			unsigned char c = (unsigned char)o[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				abort();
		}
		if (!first && is_starttls(o + pos + 4, end - 1 - pos - 4))
			starttls++;
		first = 0;
		pos = end + 1;
	}
	return starttls;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 out[OUT_MAX + 1], again[OUT_MAX + 1];
	const char	*in, *args;
	size_t		 inlen, cap, alen;
	unsigned	 flags;
	long		 r, r2;
	int		 n, h;

	if (size < 1 || size > 16384)
		return 0;
	flags = data[0] & 0x07;
	/* Mostly plenty of room; sometimes a tight, arbitrary cap. */
	cap = (data[0] & 0x80) ? (size_t)(data[0] & 0x78) : OUT_MAX;
	in = (const char *)data + 1;
	inlen = size - 1;

	out[cap] = '#';
	r = ehlo_rewrite(in, inlen, flags, out, cap);
	if (r < -1 || (r >= 0 && (size_t)r > cap) || out[cap] != '#')
		abort();

	h = ehlo_has(in, inlen, "STARTTLS", &args, &alen);
	if (h == 1 && (args == NULL || args < in || alen > inlen ||
	    (size_t)(args - in) > inlen - alen))
		abort();
	if (h == 0 && (args != NULL || alen != 0))
		abort();
	if (h != 0 && h != 1)
		abort();

	if (r < 0)
		return 0;

	n = check_shape(out, (size_t)r);
	if ((flags & EHLO_ADD_STARTTLS) && n != 1)
		abort();
	if ((flags & EHLO_DROP_STARTTLS) && !(flags & EHLO_ADD_STARTTLS) &&
	    n != 0)
		abort();
	if ((flags & EHLO_ADD_STARTTLS) && memcmp(out + r - 14,
	    "250 STARTTLS\r\n", 14) != 0)
		abort();

	/* What was found is what a client finds. */
	h = ehlo_has(out, (size_t)r, "STARTTLS", NULL, NULL);
	if (h != (n > 0))
		abort();

	/* Rewriting the output again changes nothing, even in a buffer of
	 * exactly the right size; one byte less is refused. */
	r2 = ehlo_rewrite(out, (size_t)r, flags, again, (size_t)r);
	if (r2 != r || memcmp(out, again, (size_t)r) != 0)
		abort();
	if (ehlo_rewrite(out, (size_t)r, flags, again, (size_t)r - 1) != -1)
		abort();
	return 0;
}

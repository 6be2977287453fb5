/*
 * smtp_dot_scan() against a plain reference: the first "\r\n.\r\n"
 * (or ".\r\n" at the very start), found the same whatever the chunking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

static long
reference(const uint8_t *p, size_t n)
{
	size_t	i;

	if (n >= 3 && memcmp(p, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= n; i++)
		if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
			return (long)(i + 5);
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_dot	 d;
	size_t		 step, off;
	long		 want, got;

	if (size < 1)
		return 0;
	/* Small chunks for the state kept across them, whole ones for
	 * the sixteen-at-a-time search. */
	step = data[0] >= 200 ? size : (size_t)data[0] % 48 + 1;
	data++;
	size--;
	want = reference(data, size);
	smtp_dot_init(&d);
	got = -1;
	for (off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		long r = smtp_dot_scan(&d, (const char *)data + off, n);
		if (r >= 0) {
			got = (long)off + r;
			break;
		}
	}
	if (got != want)
		abort();
	return 0;
}

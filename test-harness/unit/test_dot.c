/*
 * smtp_dot_scan(): the end-of-data scanner of the outbound relay.  It
 * must find the terminating <CRLF>.<CRLF> wherever the chunk boundaries
 * fall, and nothing that merely looks like it.
 */
#include <stdlib.h>

#include "smtp_parse.h"
#include "t.h"

struct tcase {
	const char	*name;
	const char	*body;		/* what follows the DATA reply */
	long		 end;		/* bytes up to the marker, -1: none */
};

static const struct tcase cases[] = {
	{ "empty message", ".\r\n", 3 },
	{ "one line", "Subject: x\r\n\r\nhello\r\n.\r\n", 24 },
	{ "data after the end is not eaten", "a\r\n.\r\nMAIL FROM:<>\r\n", 6 },
	{ "dot-stuffed line is not the end", "..\r\nb\r\n.\r\n", 10 },
	{ "dot then text", ".x\r\n.\r\n", 7 },
	{ "bare LF dot LF is not the end", "a\n.\nb\r\n.\r\n", 10 },
	{ "CR dot CR LF without LF before", "a\r.\r\n.\r\n", 8 },
	{ "dot CR CR LF", "a\r\n.\r\r\n.\r\n", 10 },
	{ "no end yet", "a\r\nb\r\n", -1 },
	{ "marker without final LF", "a\r\n.\r", -1 },
	{ "CRLF CRLF dot", "\r\n\r\n.\r\n", 7 },
	{ "dot in mid-line", "a.\r\nb\r\n.\r\n", 10 },
};

/* Scan in chunks of `step` bytes; the position of the end or -1. */
static long
scan_chunked(const char *p, size_t len, size_t step)
{
	struct smtp_dot	d;
	size_t		off = 0;

	smtp_dot_init(&d);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		long r = smtp_dot_scan(&d, p + off, n);
		if (r >= 0)
			return (long)off + r;
		off += n;
	}
	return -1;
}

int
main(void)
{
	size_t	i, step;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		size_t len = strlen(c->body);
		int all = 1;

		for (step = 1; step <= len; step++) {
			long got = scan_chunked(c->body, len, step);
			if (got != c->end) {
				all = 0;
				printf("#   step %zu: got %ld\n", step, got);
			}
		}
		T_OK(all, "%s: end at %ld for every chunk size", c->name,
		    c->end);
	}

	/* A long random body without the marker, then the marker. */
	{
		size_t	 n = 1 << 20, j;
		char	*b = malloc(n + 5);
		unsigned x = 12345;

		T_OK(b != NULL, "allocation");
		if (b == NULL)
			return T_DONE();
		for (j = 0; j < n; j++) {
			x = x * 1103515245 + 12345;
			b[j] = "ab.\r\n"[(x >> 16) % 5];
			/* Never let ".\r\n" follow a line end by chance. */
			if (j >= 2 && b[j] == '\n' && b[j - 1] == '\r' &&
			    b[j - 2] == '.' && (j < 4 || (b[j - 3] == '\n' &&
			    b[j - 4] == '\r')))
				b[j] = 'a';
			if (j == 2 && b[0] == '.' && b[1] == '\r' && b[2] == '\n')
				b[j] = 'a';
		}
		memcpy(b + n, "\r\n.\r\n", 5);
		T_OK(scan_chunked(b, n + 5, 4096) == (long)n + 5,
		    "1 MiB of noise, then the marker: found at its end");
		T_OK(scan_chunked(b, n + 5, 7) == (long)n + 5,
		    "the same in chunks of 7 bytes");
		{
			/* Around the 32-byte blocks of the fast search. */
			static const size_t steps[] = { 31, 32, 33, 34, 35, 36,
			    63, 64, 65, 1000, 65536 };
			int all = 1;

			for (j = 0; j < sizeof(steps) / sizeof(steps[0]); j++)
				if (scan_chunked(b, n + 5, steps[j]) !=
				    (long)n + 5) {
					all = 0;
					printf("#   step %zu\n", steps[j]);
				}
			T_OK(all, "the same in chunks of 31 to 65536 bytes");
			T_OK(scan_chunked(b, n + 5, n + 5) == (long)n + 5,
			    "the same in one chunk");
		}
		free(b);
	}
	return T_DONE();
}

/*
 * smtp_stuff(): BDAT chunks relayed as DATA.  Whatever the chunking of
 * the input and the room for the output, the result is the message
 * with every line-initial dot doubled and one end of data; a bare CR
 * or LF is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"
#include "t.h"

struct tcase {
	const char	*name;
	const char	*in;		/* the message as BDAT carries it */
	const char	*out;		/* what DATA must carry, or NULL:
					 * refused */
};

static const struct tcase cases[] = {
	{ "empty message", "", ".\r\n" },
	{ "one line", "Subject: x\r\n\r\nhi\r\n", "Subject: x\r\n\r\nhi\r\n.\r\n" },
	{ "no final line end", "a\r\nb", "a\r\nb\r\n.\r\n" },
	{ "leading dot", ".x\r\n", "..x\r\n.\r\n" },
	{ "a lone dot line", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n" },
	{ "dots at every line start", ".\r\n..\r\n.a.\r\n",
	    "..\r\n...\r\n..a.\r\n.\r\n" },
	{ "dot mid-line untouched", "a.b\r\nc.\r\n", "a.b\r\nc.\r\n.\r\n" },
	{ "the marker itself", "x\r\n.\r\n", "x\r\n..\r\n.\r\n" },
	{ "ends with a dot", "a\r\n.", "a\r\n..\r\n.\r\n" },
	{ "8-bit and NUL pass", "\xc3\xa9\x00\xff\r\n", "\xc3\xa9\x00\xff\r\n.\r\n" },
	{ "bare LF", "a\nb\r\n", NULL },
	{ "bare LF after CRLF", "a\r\n\n", NULL },
	{ "bare CR", "a\rb\r\n", NULL },
	{ "CR CR LF", "a\r\r\n", NULL },
	{ "ends in a bare CR", "a\r", NULL },
	{ "bare LF dot", "a\n.\r\n", NULL },
};

/* Case lengths: the NUL case needs an explicit length. */
static size_t
in_len(const struct tcase *c)
{
	return strcmp(c->name, "8-bit and NUL pass") == 0 ? 6 : strlen(c->in);
}

static size_t
out_len(const struct tcase *c)
{
	return strcmp(c->name, "8-bit and NUL pass") == 0 ? 9 : strlen(c->out);
}

/*
 * Encode p[0..len) fed in chunks of `step` into output pieces of at
 * most `cap` bytes, then the end.  Returns the output length, or -1.
 */
static long
encode(const char *p, size_t len, size_t step, size_t cap, char *out,
    size_t outcap)
{
	struct smtp_stuff	 f;
	size_t			 off = 0, o = 0;
	char			 piece[4096];

	if (cap > sizeof(piece))
		return -2;
	smtp_stuff_init(&f);
	while (off < len) {
		size_t	n = len - off < step ? len - off : step;
		size_t	done = 0;

		while (done < n) {
			size_t	take = n - done;
			long	r = smtp_stuff(&f, p + off + done, &take, piece,
			    cap);

			if (r < 0)
				return -1;
			if (take == 0 || o + (size_t)r > outcap)
				return -2;	/* no progress, or overflow */
			memcpy(out + o, piece, (size_t)r);
			o += (size_t)r;
			done += take;
		}
		off += n;
	}
	{
		char	end[SMTP_STUFF_END_MAX];
		long	r = smtp_stuff_end(&f, end);

		if (r < 0)
			return -1;
		if (o + (size_t)r > outcap)
			return -2;
		memcpy(out + o, end, (size_t)r);
		o += (size_t)r;
	}
	return (long)o;
}

int
main(void)
{
	size_t	i, step, cap;
	char	out[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		size_t	len = in_len(c);
		int	all = 1;

		for (step = 1; step <= len + 1; step++)
			for (cap = 2; cap <= 9; cap++) {
				long got = encode(c->in, len, step, cap, out,
				    sizeof(out));
				int good = c->out == NULL ? got == -1 :
				    got == (long)out_len(c) &&
				    memcmp(out, c->out, out_len(c)) == 0;
				if (!good) {
					all = 0;
					printf("#   step %zu cap %zu: %ld\n",
					    step, cap, got);
				}
			}
		T_OK(all, "%s: %s for every chunking and output room",
		    c->name, c->out ? "stuffed" : "refused");
	}

	/* Stuffing then the end-of-data scan gives the length back, and
	 * un-stuffing gives the message back: the DATA path's reader sees
	 * exactly what BDAT carried. */
	{
		size_t	 n = 1 << 16, j, k;
		char	*m = malloc(n), *d = malloc(2 * n + 8), *u = malloc(n);
		unsigned x = 99;
		long	 r;
		int	 good;

		T_OK(m && d && u, "allocation");
		if (!m || !d || !u)
			return T_DONE();
		for (j = 0; j < n; j++) {
			x = x * 1103515245 + 12345;
			m[j] = "a..\r"[(x >> 16) % 4];
			if (m[j] == '\r' && j + 1 < n)
				m[++j] = '\n';
			else if (m[j] == '\r')
				m[j] = 'a';
		}
		memcpy(m + n - 3, "a\r\n", 3);
		r = encode(m, n, 1000, 4096, d, 2 * n + 8);
		T_OK(r > (long)n, "64 KiB of dotted lines: stuffed");
		{
			struct smtp_dot dt;
			smtp_dot_init(&dt);
			T_OK(r > 0 && smtp_dot_scan(&dt, d, (size_t)r) == r,
			    "the end of data is found at its end, not before");
		}
		/* Un-stuff: drop the first dot of each line, and the end. */
		good = r > 0;
		for (j = 0, k = 0; good && j + 3 < (size_t)r; j++) {
			int bol = j == 0 || (j >= 2 && d[j - 1] == '\n' &&
			    d[j - 2] == '\r');
			if (bol && d[j] == '.') {
				if (d[j + 1] != '.')
					good = 0;	/* not a stuffed dot */
				continue;
			}
			if (k < n)
				u[k++] = d[j];
		}
		T_OK(good && k == n && memcmp(u, m, n) == 0,
		    "un-stuffed, the message is unchanged");
		free(m);
		free(d);
		free(u);
	}
	return T_DONE();
}

/*
 * smtp_stuff() against a plain reference: the same output whatever the
 * chunking of the input and the room for the output, refusal exactly
 * when the message holds a bare CR or LF, and an output in which the
 * end-of-data scanner finds the end only at its very end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

/* The stuffed message and its end into out; -1 at a bare CR or LF. */
static long
reference(const uint8_t *p, size_t n, char *out)
{
	size_t	i, o = 0;
	int	bol = 1;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n')
			return -1;
		if (p[i] == '\r') {
			if (i + 1 == n || p[i + 1] != '\n')
				return -1;
			out[o++] = '\r';
			out[o++] = '\n';
			i++;
			bol = 1;
			continue;
		}
		if (bol && p[i] == '.')
			out[o++] = '.';
		out[o++] = (char)p[i];
		bol = 0;
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return (long)(o + 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_stuff	 f;
	struct smtp_dot		 d;
	size_t			 step, cap, off = 0, o = 0;
	char			*want, *got;
	long			 wl, r;
	int			 refused = 0;

	if (size < 2)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	cap = (size_t)data[1] % 40 + 2;
	data += 2;
	size -= 2;
	want = malloc(2 * size + 8);
	got = malloc(2 * size + 8);
	if (want == NULL || got == NULL)
		abort();
	wl = reference(data, size, want);

	smtp_stuff_init(&f);
	while (off < size && !refused) {
		size_t	n = size - off < step ? size - off : step;
		size_t	done = 0;

		while (done < n) {
			size_t	take = n - done;
			char	piece[48];

			r = smtp_stuff(&f, (const char *)data + off + done,
			    &take, piece, cap);
			if (r < 0) {
				refused = 1;
				break;
			}
			/* Progress, and never more than twice the input. */
			if (take == 0 || (size_t)r > cap || (size_t)r > 2 * take)
				abort();
			memcpy(got + o, piece, (size_t)r);
			o += (size_t)r;
			done += take;
		}
		off += n;
	}
	if (!refused) {
		char	end[SMTP_STUFF_END_MAX];

		r = smtp_stuff_end(&f, end);
		if (r < 0)
			refused = 1;
		else {
			memcpy(got + o, end, (size_t)r);
			o += (size_t)r;
		}
	}
	if (refused != (wl < 0))
		abort();
	if (!refused) {
		if ((long)o != wl || memcmp(got, want, o) != 0)
			abort();
		smtp_dot_init(&d);
		if (smtp_dot_scan(&d, got, o) != (long)o)
			abort();
	}
	free(want);
	free(got);
	return 0;
}

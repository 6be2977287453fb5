/*
 * Fuzz target: split arbitrary bytes into reply lines and feed them to
 * the reply parser, starting over after a malformed line.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Is enh "" or class.subject.detail? */
static int
enh_ok(const char *e)
{
	size_t	n, i, dots = 0, run = 0;

	n = strnlen(e, 16);
	if (n == 16)
		return 0;
	if (n == 0)
		return 1;
	if (e[0] != '2' && e[0] != '4' && e[0] != '5')
		return 0;
	for (i = 1; i < n; i++) {
		if (e[i] == '.') {
			if (i > 1 && run == 0)
				return 0;
			dots++;
			run = 0;
		} else if (e[i] >= '0' && e[i] <= '9') {
			if (++run > 3)
				return 0;
		} else
			return 0;
	}
	return dots == 2 && run > 0 && e[1] == '.';
}

/* Feed one line from an exactly sized heap copy and check the state. */
static void
feed(struct smtp_reply *rp, const char *text, size_t len)
{
	char	*line;
	int	 r, before;

	if ((line = malloc(len ? len : 1)) == NULL)
		return;
	memcpy(line, text, len);
	before = rp->complete ? 0 : rp->lines;
	r = smtp_reply_feed(rp, line, len);
	if (r == -1)
		smtp_reply_init(rp);
	else if (r == 0 || r == 1) {
		if (rp->code < 200 || rp->code > 599)
			abort();
		if (rp->lines != before + 1 || rp->lines > SMTP_REPLY_MAX / 4)
			abort();
		if (rp->complete != r)
			abort();
		if (!enh_ok(rp->enh))
			abort();
		if (rp->enh[0] != '\0' && rp->enh[0] - '0' != rp->code / 100)
			abort();
		if (len < 3 || line[0] - '0' != rp->code / 100)
			abort();
	} else
		abort();
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply	 rp;
	const char		*buf = (const char *)data;
	size_t			 off, tl;
	long			 r;

	smtp_reply_init(&rp);
	for (off = 0; off < size; ) {
		r = smtp_line_next(buf + off, size - off, SMTP_REPLY_LINE_MAX,
		    &tl);
		if (r > 0) {
			feed(&rp, buf + off, tl);
			off += (size_t)r;
		} else if (r == 0) {
			feed(&rp, buf + off, size - off);
			break;
		} else
			off += SMTP_REPLY_LINE_MAX;
	}
	return 0;
}

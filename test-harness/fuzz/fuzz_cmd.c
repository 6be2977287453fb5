/*
 * Fuzz target: split arbitrary bytes into command lines and parse each.
 * The first byte picks the line limit, so that the boundaries around
 * small limits are reached as often as the real one.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Is p[0..n) inside b[0..blen)? */
static int
inside(const char *p, size_t n, const char *b, size_t blen)
{
	return p >= b && n <= blen && (size_t)(p - b) <= blen - n;
}

/* Parse one line from an exactly sized heap copy, so that any read past
 * its end is caught, and check what comes back. */
static void
parse_line(const char *text, size_t len)
{
	struct smtp_cmd	 cmd;
	char		*line;
	size_t		 i;
	int		 r;

	if ((line = malloc(len ? len : 1)) == NULL)
		return;
	memcpy(line, text, len);
	r = smtp_cmd_parse(line, len, &cmd);

	if (r != 0 && r != -1)
		abort();
	if (smtp_verb_name(cmd.verb) == NULL)
		abort();
	if (r == -1 && cmd.verb == SMTP_V_UNKNOWN)
		abort();
	if (cmd.arglen > 0 && !inside(cmd.arg, cmd.arglen, line, len))
		abort();
	if (cmd.arglen > 0 && (cmd.arg[0] == ' ' ||
	    cmd.arg[cmd.arglen - 1] == ' '))
		abort();
	if (r == 0 && (cmd.verb == SMTP_V_MAIL || cmd.verb == SMTP_V_RCPT)) {
		if (cmd.path == NULL || cmd.params == NULL)
			abort();
		if (!inside(cmd.path, cmd.pathlen, cmd.arg, cmd.arglen))
			abort();
		if (cmd.path[-1] != '<' || cmd.path[cmd.pathlen] != '>')
			abort();
		if (cmd.paramslen > 0 && !inside(cmd.params, cmd.paramslen,
		    cmd.arg, cmd.arglen))
			abort();
		for (i = 0; i < cmd.pathlen; i++)
			if ((unsigned char)cmd.path[i] < 0x20 &&
			    cmd.path[i] != '\t')
				abort();
	} else if (r == 0 && (cmd.path != NULL || cmd.params != NULL))
		abort();
	if (r == 0 && cmd.verb != SMTP_V_UNKNOWN)
		for (i = 0; i < cmd.arglen; i++)
			if (cmd.arg[i] == '\r' || cmd.arg[i] == '\n' ||
			    cmd.arg[i] == '\0')
				abort();
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf;
	size_t		 max, tl, off;
	long		 r;

	if (size < 1)
		return 0;
	max = data[0] < 128 ? (size_t)data[0] + 1 : SMTP_CMD_LINE_MAX;
	buf = (const char *)data + 1;
	size--;

	for (off = 0; off < size; ) {
		r = smtp_line_next(buf + off, size - off, max, &tl);
		if (r > 0) {
			if ((size_t)r > max || (size_t)r > size - off ||
			    buf[off + (size_t)r - 1] != '\n' ||
			    tl >= (size_t)r || (size_t)r - tl > 2)
				abort();
			if ((size_t)r - tl == 2 && buf[off + tl] != '\r')
				abort();
			if (memchr(buf + off, '\n', tl) != NULL)
				abort();
			parse_line(buf + off, tl);
			off += (size_t)r;
		} else if (r == 0) {
			if (size - off >= max ||
			    memchr(buf + off, '\n', size - off) != NULL)
				abort();
			/* What is left, as if the peer had closed. */
			parse_line(buf + off, size - off);
			break;
		} else if (r == -1) {
			if (size - off < max ||
			    memchr(buf + off, '\n', max) != NULL)
				abort();
			/* Discard the over-long line, as the daemon would. */
			off += max;
		} else
			abort();
	}
	return 0;
}

/*
 * One key=value line per event, session id first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	2048

int log_level = LOG_INFO;

void
log_set_level(int level)
{
	log_level = level;
}

/* Write the whole line in one call, retrying only on EINTR. */
static void
log_write(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

static void
log_vevent(int level, const char *id, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX];
	size_t	 len;
	int	 n;

	n = snprintf(line, sizeof(line), "id=%s %s", id,
	    level == LOG_ERROR ? "level=error " :
	    level == LOG_WARN ? "level=warn " : "");
	len = (size_t)n;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		n = 0;
	len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	log_write(line, len);
}

void
log_event(int level, const char *id, const char *fmt, ...)
{
	va_list	ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vevent(level, id, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vevent(LOG_ERROR, "-", fmt, ap);
	va_end(ap);
	exit(1);
}

/* xorshift64* per thread, seeded from getrandom(2). */
static __thread uint64_t id_state;

void
log_new_id(char *id)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t	x;
	int		i;

	if (id_state == 0) {
		if (getrandom(&id_state, sizeof(id_state), 0) !=
		    (ssize_t)sizeof(id_state))
			id_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)id;
		id_state |= 1;
	}
	x = id_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	id_state = x;
	x *= 0x2545f4914f6cdd1dULL;
	for (i = 0; i < LOG_ID_LEN; i++) {
		id[i] = hex[x & 0xf];
		x >>= 4;
	}
	id[LOG_ID_LEN] = '\0';
}

char *
log_safe(const char *in, size_t inlen, char *out, size_t outcap)
{
	size_t	i, o = 0;

	if (outcap == 0)
		return out;
	for (i = 0; i < inlen && o + 1 < outcap; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\t')
			out[o++] = '_';
		else if (c < 0x21 || c > 0x7e || c == '"' || c == '=')
			out[o++] = '?';
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

char *
log_quote(const char *in, char *out, size_t outcap)
{
	size_t	o = 0;

	if (outcap == 0)
		return out;
	for (; *in != '\0' && o + 1 < outcap; in++) {
		unsigned char c = (unsigned char)*in;
		out[o++] = c < 0x20 || c > 0x7e || c == '"' || c == '\\' ?
		    '?' : (char)c;
	}
	out[o] = '\0';
	return out;
}

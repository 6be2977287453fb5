/*
 * Pure SMTP parsers: line splitting, command lines, replies.
 *
 * Nothing here reads a socket or allocates: the caller owns the bytes and
 * the struct that holds the parser state, and every scan is bounded by a
 * length the caller gives us.
 */

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "smtp_parse.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct verb_ent {
	enum smtp_verb	 verb;
	const char	*name;
	size_t		 len;
};

#define VERB(v, s)	{ (v), (s), sizeof(s) - 1 }

static const struct verb_ent verbs[] = {
	VERB(SMTP_V_HELO, "HELO"),
	VERB(SMTP_V_EHLO, "EHLO"),
	VERB(SMTP_V_MAIL, "MAIL"),
	VERB(SMTP_V_RCPT, "RCPT"),
	VERB(SMTP_V_DATA, "DATA"),
	VERB(SMTP_V_BDAT, "BDAT"),
	VERB(SMTP_V_RSET, "RSET"),
	VERB(SMTP_V_NOOP, "NOOP"),
	VERB(SMTP_V_QUIT, "QUIT"),
	VERB(SMTP_V_VRFY, "VRFY"),
	VERB(SMTP_V_EXPN, "EXPN"),
	VERB(SMTP_V_HELP, "HELP"),
	VERB(SMTP_V_STARTTLS, "STARTTLS"),
	VERB(SMTP_V_AUTH, "AUTH"),
	VERB(SMTP_V_ETRN, "ETRN"),
	VERB(SMTP_V_XCLIENT, "XCLIENT"),
};

#define NVERBS	(sizeof(verbs) / sizeof(verbs[0]))

/* What a verb accepts after it. */
enum argrule {
	ARG_NONE,	/* nothing: DATA, RSET, QUIT, STARTTLS */
	ARG_OPT,	/* anything or nothing: NOOP, HELP */
	ARG_REQ,	/* something: HELO, EHLO, VRFY, ... */
	ARG_PATH,	/* FROM:<path> / TO:<path> [params] */
	ARG_BDAT	/* chunk-size [LAST] */
};

/* ASCII upper case, independent of the locale. */
static int
up(int c)
{
	return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c;
}

/* Case-insensitive compare of s[0..n) with the upper-case word w. */
static int
word_eq(const char *s, size_t n, const char *w, size_t wn)
{
	size_t	i;

	if (n != wn)
		return 0;
	for (i = 0; i < n; i++)
		if (up((unsigned char)s[i]) != (unsigned char)w[i])
			return 0;
	return 1;
}

/* Control characters have no business in an argument we pass on. */
static int
has_ctl(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 1;
	}
	return 0;
}

/*
 * Tolerate a caller that left one line terminator (LF or CRLF) on.  A CR
 * that does not end with an LF is text, and stays.
 */
static size_t
strip_eol(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n') {
		len--;
		if (len > 0 && s[len - 1] == '\r')
			len--;
	}
	return len;
}

long
smtp_line_next(const char *buf, size_t len, size_t max, size_t *textlen)
{
	const char	*lf;
	size_t		 scan, n;

	/* The return value must be able to carry any line we accept. */
	if (max > (size_t)LONG_MAX)
		max = (size_t)LONG_MAX;
	scan = len < max ? len : max;

	if (scan == 0 || (lf = memchr(buf, '\n', scan)) == NULL) {
		if (textlen != NULL)
			*textlen = 0;
		return len < max ? 0 : -1;
	}

	n = (size_t)(lf - buf);
	if (textlen != NULL)
		*textlen = (n > 0 && buf[n - 1] == '\r') ? n - 1 : n;
	return (long)(n + 1);
}

const char *
smtp_verb_name(enum smtp_verb v)
{
	size_t	i;

	for (i = 0; i < NVERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}

/* How the arguments of verb v are checked. */
static enum argrule
verb_rule(enum smtp_verb v)
{
	switch (v) {
	case SMTP_V_DATA:
	case SMTP_V_RSET:
	case SMTP_V_QUIT:
	case SMTP_V_STARTTLS:
		return ARG_NONE;
	case SMTP_V_NOOP:
	case SMTP_V_HELP:
	case SMTP_V_UNKNOWN:
		return ARG_OPT;
	case SMTP_V_MAIL:
	case SMTP_V_RCPT:
		return ARG_PATH;
	case SMTP_V_BDAT:
		return ARG_BDAT;
	default:
		return ARG_REQ;
	}
}

/*
 * Parse "FROM:<path> params" (kw is "FROM:" or "TO:") in a[0..n), which
 * has no leading or trailing spaces.  Fills the path and params of cmd.
 */
static int
parse_path(const char *a, size_t n, const char *kw, struct smtp_cmd *cmd)
{
	size_t	 kwlen = strlen(kw), i, start;
	int	 quoted = 0;

	if (n < kwlen || !word_eq(a, kwlen, kw, kwlen))
		return -1;
	i = kwlen;

	/* Many clients send "MAIL FROM: <a@b>"; RFC 5321 does not, but
	 * nothing is ambiguous about it. */
	while (i < n && a[i] == ' ')
		i++;
	if (i >= n || a[i] != '<')
		return -1;
	start = ++i;

	/* A quoted local part may hold '>' (RFC 5321 4.1.2). */
	for (; i < n; i++) {
		if (quoted) {
			if (a[i] == '\\') {
				if (++i >= n)
					return -1;
			} else if (a[i] == '"')
				quoted = 0;
		} else if (a[i] == '"')
			quoted = 1;
		else if (a[i] == '>')
			break;
		else if (a[i] == '<')
			return -1;
	}
	if (i >= n)
		return -1;

	cmd->path = a + start;
	cmd->pathlen = i - start;
	if (has_ctl(cmd->path, cmd->pathlen))
		return -1;

	/* After '>': the end, or SP and the parameters. */
	i++;
	if (i < n && a[i] != ' ')
		return -1;
	while (i < n && a[i] == ' ')
		i++;
	cmd->params = i < n ? a + i : "";
	cmd->paramslen = n - i;
	if (has_ctl(cmd->params, cmd->paramslen))
		return -1;
	return 0;
}

/* "BDAT" SP chunk-size [ SP "LAST" ] (RFC 3030). */
static int
parse_bdat(const char *a, size_t n, struct smtp_cmd *cmd)
{
	size_t	i = 0;

	cmd->chunk = 0;
	while (i < n && a[i] >= '0' && a[i] <= '9') {
		if (i == SMTP_CHUNK_DIGITS)
			return -1;
		cmd->chunk = cmd->chunk * 10 + (unsigned long long)(a[i] - '0');
		i++;
	}
	if (i == 0)
		return -1;
	if (i == n)
		return 0;
	if (a[i] != ' ')
		return -1;
	while (i < n && a[i] == ' ')
		i++;
	if (!word_eq(a + i, n - i, "LAST", 4))
		return -1;
	cmd->last = 1;
	return 0;
}

int
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t	 vlen, i, end;

	cmd->verb = SMTP_V_UNKNOWN;
	cmd->arg = "";
	cmd->arglen = 0;
	cmd->path = NULL;
	cmd->pathlen = 0;
	cmd->params = NULL;
	cmd->paramslen = 0;
	cmd->chunk = 0;
	cmd->last = 0;

	len = strip_eol(line, len);

	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (i = 0; i < NVERBS; i++) {
		if (word_eq(line, vlen, verbs[i].name, verbs[i].len)) {
			cmd->verb = verbs[i].verb;
			break;
		}
	}

	for (i = vlen; i < len && line[i] == ' '; i++)
		;
	for (end = len; end > i && (line[end - 1] == ' ' ||
	    line[end - 1] == '\t'); end--)
		;
	if (end > i) {
		cmd->arg = line + i;
		cmd->arglen = end - i;
	}

	if (cmd->verb == SMTP_V_UNKNOWN)
		return 0;

	/*
	 * Arguments of the verbs we know are passed on to the backend or
	 * the remote MX: a bare CR or a NUL in them is refused here so that
	 * no later stage has to think about it.
	 */
	if (has_ctl(cmd->arg, cmd->arglen))
		return -1;

	switch (verb_rule(cmd->verb)) {
	case ARG_NONE:
		return cmd->arglen == 0 ? 0 : -1;
	case ARG_OPT:
		return 0;
	case ARG_REQ:
		return cmd->arglen > 0 ? 0 : -1;
	case ARG_BDAT:
		return parse_bdat(cmd->arg, cmd->arglen, cmd);
	case ARG_PATH:
		return parse_path(cmd->arg, cmd->arglen,
		    cmd->verb == SMTP_V_MAIL ? "FROM:" : "TO:", cmd);
	}
	return -1;
}

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* Is c an ASCII digit? */
static int
isdig(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Copy the RFC 3463 enhanced status code at the start of t[0..n) into
 * enh (class "." 1*3digit "." 1*3digit, then SP or the end; class 2, 4
 * or 5).  The class must agree with the reply code's first digit, as RFC
 * 2034 requires; otherwise the text is just text.
 */
static void
reply_enh(const char *t, size_t n, int cls, char *enh, size_t enhcap)
{
	size_t	i = 0, d, part;

	enh[0] = '\0';
	if (cls == 3 || n < 5 || t[0] != '0' + cls || t[1] != '.')
		return;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (d = 0; i < n && isdig(t[i]) && d < 4; i++, d++)
			;
		if (d == 0 || d > 3)
			return;
		if (part == 0) {
			if (i >= n || t[i] != '.')
				return;
			i++;
		}
	}
	if (i < n && t[i] != ' ')
		return;
	if (i >= enhcap)
		return;
	memcpy(enh, t, i);
	enh[i] = '\0';
}

int
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
	int	code;

	/* A finished reply followed by another line starts the next one. */
	if (r->complete)
		smtp_reply_init(r);

	len = strip_eol(line, len);

	if (len < 3 || !isdig(line[0]) || !isdig(line[1]) || !isdig(line[2]))
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599)
		return -1;

	if (r->lines == 0) {
		r->code = code;
		if (len > 4)
			reply_enh(line + 4, len - 4, code / 100, r->enh,
			    sizeof(r->enh));
		else
			r->enh[0] = '\0';
	} else if (code != r->code)
		return -1;

	if (r->lines >= SMTP_REPLY_MAX / 4)
		return -1;
	r->lines++;

	if (len == 3 || line[3] == ' ') {
		r->complete = 1;
		return 1;
	}
	return 0;
}

enum { DOT_MID, DOT_BOL, DOT_DOT, DOT_DOTCR, DOT_CR };

void
smtp_dot_init(struct smtp_dot *d)
{
	d->st = DOT_BOL;
}

/*
 * The first "\r\n." in p[0..n), or n.  Only there can the end of data
 * begin once the scanner is in the middle of a line, so the common case
 * is a search, 32 positions at a time where SSE2 is available (every
 * x86-64), for a CR with a dot two bytes on, which is rare in any body;
 * the LF between is checked only for those.  Bodies are mostly short
 * lines: a search for CR alone would stop at every one of them.
 */
static size_t
dot_find(const char *p, size_t n)
{
	size_t	i = 0;

#ifdef __SSE2__
	const __m128i	cr = _mm_set1_epi8('\r'), dot = _mm_set1_epi8('.');

	for (; i + 34 <= n; i += 32) {
		__m128i		a0, a1, d0, d1;
		unsigned	m;

		a0 = _mm_loadu_si128((const __m128i *)(p + i));
		a1 = _mm_loadu_si128((const __m128i *)(p + i + 16));
		d0 = _mm_loadu_si128((const __m128i *)(p + i + 2));
		d1 = _mm_loadu_si128((const __m128i *)(p + i + 18));
		m = (unsigned)_mm_movemask_epi8(_mm_and_si128(
		    _mm_cmpeq_epi8(a0, cr), _mm_cmpeq_epi8(d0, dot))) |
		    (unsigned)_mm_movemask_epi8(_mm_and_si128(
		    _mm_cmpeq_epi8(a1, cr), _mm_cmpeq_epi8(d1, dot))) << 16;
		for (; m != 0; m &= m - 1) {
			size_t k = i + (size_t)__builtin_ctz(m);

			if (p[k + 1] == '\n')
				return k;
		}
	}
#endif
	for (; i + 3 <= n; i++) {
		const char *q = memchr(p + i, '\r', n - 2 - i);

		if (q == NULL)
			break;
		i = (size_t)(q - p);
		if (q[1] == '\n' && q[2] == '.')
			return i;
	}
	return n;
}

long
smtp_dot_scan(struct smtp_dot *d, const char *p, size_t n)
{
	size_t	i = 0, j;
	int	st = d->st;

	while (i < n) {
		char c;

		if (st == DOT_MID) {
			/* The common case: jump to the next "\r\n.", or
			 * take the state the chunk's last bytes leave. */
			if ((j = dot_find(p + i, n - i)) == n - i) {
				if (p[n - 1] == '\r')
					st = DOT_CR;
				else if (n - i >= 2 && p[n - 2] == '\r' &&
				    p[n - 1] == '\n')
					st = DOT_BOL;
				break;
			}
			i += j + 3;
			st = DOT_DOT;
			continue;
		}
		c = p[i++];
		switch (st) {
		case DOT_CR:
			st = c == '\n' ? DOT_BOL : c == '\r' ? DOT_CR : DOT_MID;
			break;
		case DOT_BOL:
			st = c == '.' ? DOT_DOT : c == '\r' ? DOT_CR : DOT_MID;
			break;
		case DOT_DOT:
			st = c == '\r' ? DOT_DOTCR : DOT_MID;
			break;
		case DOT_DOTCR:
			if (c == '\n') {
				d->st = DOT_BOL;
				return (long)i;
			}
			st = c == '\r' ? DOT_CR : DOT_MID;
			break;
		}
	}
	d->st = st;
	return -1;
}

long
smtp_reply_collect(struct smtp_reply *r, size_t *scan, const char *buf,
    size_t len, size_t room)
{
	size_t	textlen;
	long	n;
	int	rc;

	while (*scan < len) {
		n = smtp_line_next(buf + *scan, len - *scan, SMTP_REPLY_LINE_MAX,
		    &textlen);
		if (n < 0)
			return -1;
		if (n == 0)
			return room == 0 ? -1 : 0;
		rc = smtp_reply_feed(r, buf + *scan, textlen);
		*scan += (size_t)n;
		if (rc < 0)
			return -1;
		if (rc == 1) {
			n = (long)*scan;
			*scan = 0;
			return n;
		}
	}
	return 0;
}

enum { STUFF_BOL, STUFF_MID, STUFF_CR };

void
smtp_stuff_init(struct smtp_stuff *f)
{
	f->st = STUFF_BOL;
}

long
smtp_stuff(struct smtp_stuff *f, const char *in, size_t *inlen, char *out,
    size_t cap)
{
	size_t	i = 0, o = 0, n = *inlen;
	int	st = f->st;

	while (i < n && o + 2 <= cap) {
		char c = in[i];

		if (st == STUFF_MID) {
			/* Copy up to the next CR or LF in one go. */
			size_t room = cap - o - 1, k = 0;

			while (k < n - i && k < room && in[i + k] != '\r' &&
			    in[i + k] != '\n')
				k++;
			memcpy(out + o, in + i, k);
			i += k;
			o += k;
			if (i == n || o + 2 > cap)
				break;
			c = in[i];
		}
		if (st == STUFF_CR) {
			if (c != '\n')
				goto bare;
			st = STUFF_BOL;
		} else if (c == '\n')
			goto bare;
		else if (c == '\r')
			st = STUFF_CR;
		else {
			if (st == STUFF_BOL && c == '.')
				out[o++] = '.';
			st = STUFF_MID;
		}
		out[o++] = c;
		i++;
	}
	f->st = st;
	*inlen = i;
	return (long)o;
bare:
	*inlen = i;
	return -1;
}

long
smtp_stuff_end(struct smtp_stuff *f, char *out)
{
	size_t	o = 0;

	if (f->st == STUFF_CR)
		return -1;
	if (f->st == STUFF_MID) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	f->st = STUFF_BOL;
	return (long)(o + 3);
}

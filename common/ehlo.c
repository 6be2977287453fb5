/*
 * EHLO reply rewriting: what the inbound STARTTLS front advertises is
 * the backend's EHLO reply, minus the backend's own STARTTLS (which we
 * would never let the client reach), plus ours.
 */

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "ehlo.h"

/* One line of a reply, terminator stripped. */
struct eline {
	const char	*text;		/* after "250-" / "250 " */
	size_t		 textlen;
	char		 sep;		/* '-' or ' ' */
};

/* ASCII upper case, independent of the locale. */
static int
up(int c)
{
	return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c;
}

/*
 * Cut the next line out of in[*pos..inlen).  Returns its length without
 * CR/LF and sets *next past the terminator; *terminated says whether an
 * LF was found.
 */
static size_t
next_line(const char *in, size_t inlen, size_t pos, size_t *next,
    int *terminated)
{
	const char	*lf;
	size_t		 n;

	lf = memchr(in + pos, '\n', inlen - pos);
	if (lf == NULL) {
		*next = inlen;
		*terminated = 0;
		return inlen - pos;
	}
	n = (size_t)(lf - (in + pos));
	*next = pos + n + 1;
	*terminated = 1;
	if (n > 0 && in[pos + n - 1] == '\r')
		n--;
	return n;
}

/* Split a "250-..." / "250 ..." line; -1 if it is not one. */
static int
split_250(const char *l, size_t n, struct eline *el)
{
	if (n < 4 || l[0] != '2' || l[1] != '5' || l[2] != '0' ||
	    (l[3] != '-' && l[3] != ' '))
		return -1;
	el->sep = l[3];
	el->text = l + 4;
	el->textlen = n - 4;
	return 0;
}

/* The first word of an EHLO keyword line, leading blanks skipped. */
static const char *
keyword(const struct eline *el, size_t *kwlen, size_t *rest)
{
	size_t	i = 0, j;

	while (i < el->textlen && (el->text[i] == ' ' || el->text[i] == '\t'))
		i++;
	for (j = i; j < el->textlen && el->text[j] != ' ' &&
	    el->text[j] != '\t'; j++)
		;
	*kwlen = j - i;
	*rest = j;
	return el->text + i;
}

/* Case-insensitive equality of s[0..n) and the C string kw. */
static int
kw_eq(const char *s, size_t n, const char *kw)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (kw[i] == '\0' || up((unsigned char)s[i]) !=
		    up((unsigned char)kw[i]))
			return 0;
	return kw[n] == '\0';
}

/* Should keyword line el be left out of the rewritten reply? */
static int
dropped(const struct eline *el, unsigned flags)
{
	const char	*kw;
	size_t		 kwlen, rest;

	kw = keyword(el, &kwlen, &rest);
	if ((flags & (EHLO_ADD_STARTTLS | EHLO_DROP_STARTTLS)) &&
	    kw_eq(kw, kwlen, "STARTTLS"))
		return 1;
	if ((flags & EHLO_DROP_CHUNKING) && kw_eq(kw, kwlen, "CHUNKING"))
		return 1;
	return 0;
}

/* Append s[0..n) to out at *o; -1 when it does not fit. */
static int
put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	if (n > cap - *o)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	return 0;
}

/* Append one reply line "250" sep text CRLF. */
static int
put_line(char *out, size_t cap, size_t *o, int last, const char *t,
    size_t tn)
{
	if (put(out, cap, o, last ? "250 " : "250-", 4) == -1 ||
	    put(out, cap, o, t, tn) == -1 ||
	    put(out, cap, o, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/*
 * Check that in[0..inlen) is one complete, well-formed 250 reply and
 * count the lines that survive the rewrite.
 */
static int
validate(const char *in, size_t inlen, unsigned flags, size_t *kept)
{
	struct eline	 el;
	size_t		 pos = 0, next, n, i, nlines = 0;
	int		 term;

	*kept = 0;
	while (pos < inlen) {
		n = next_line(in, inlen, pos, &next, &term);
		if (!term || split_250(in + pos, n, &el) == -1)
			return -1;
		/*
		 * Control characters (a bare CR above all) would be sent
		 * on to the client verbatim; the backend has no reason to
		 * send them.
		 */
		for (i = 0; i < el.textlen; i++) {
			unsigned char c = (unsigned char)el.text[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
		}
		/* "250 " ends the reply, and only the last line may. */
		if ((el.sep == ' ') != (next == inlen))
			return -1;
		if (nlines == 0 || !dropped(&el, flags))
			(*kept)++;
		nlines++;
		pos = next;
	}
	return nlines > 0 ? 0 : -1;
}

long
ehlo_rewrite(const char *in, size_t inlen, unsigned flags, char *out,
    size_t outcap)
{
	struct eline	 el;
	size_t		 pos, next, n, kept, total, j, o = 0;
	int		 term;

	if (outcap > (size_t)LONG_MAX)
		outcap = (size_t)LONG_MAX;
	if (validate(in, inlen, flags, &kept) == -1)
		return -1;
	total = kept + ((flags & EHLO_ADD_STARTTLS) ? 1 : 0);

	for (pos = 0, j = 0; pos < inlen; pos = next) {
		n = next_line(in, inlen, pos, &next, &term);
		if (split_250(in + pos, n, &el) == -1)
			return -1;
		if (pos != 0 && dropped(&el, flags))
			continue;
		if (put_line(out, outcap, &o, j + 1 == total, el.text,
		    el.textlen) == -1)
			return -1;
		j++;
	}
	/* Ours goes last, where a client that stops reading at the first
	 * STARTTLS it sees still finds it. */
	if ((flags & EHLO_ADD_STARTTLS) &&
	    put_line(out, outcap, &o, 1, "STARTTLS", 8) == -1)
		return -1;
	return (long)o;
}

int
ehlo_has(const char *in, size_t inlen, const char *kw, const char **args,
    size_t *argslen)
{
	struct eline	 el;
	const char	*w;
	size_t		 pos, next, n, wlen, rest, end;
	int		 term;

	if (args != NULL)
		*args = NULL;
	if (argslen != NULL)
		*argslen = 0;
	if (in == NULL || kw == NULL || kw[0] == '\0')
		return 0;

	for (pos = 0; pos < inlen; pos = next) {
		n = next_line(in, inlen, pos, &next, &term);
		if (split_250(in + pos, n, &el) == -1)
			return 0;
		/* The first line is the greeting, not a keyword. */
		if (pos != 0) {
			w = keyword(&el, &wlen, &rest);
			if (wlen > 0 && kw_eq(w, wlen, kw)) {
				while (rest < el.textlen &&
				    (el.text[rest] == ' ' ||
				    el.text[rest] == '\t'))
					rest++;
				for (end = el.textlen; end > rest &&
				    (el.text[end - 1] == ' ' ||
				    el.text[end - 1] == '\t'); end--)
					;
				if (args != NULL)
					*args = el.text + rest;
				if (argslen != NULL)
					*argslen = end - rest;
				return 1;
			}
		}
		if (el.sep == ' ')
			break;
	}
	return 0;
}

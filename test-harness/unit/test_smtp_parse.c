/*
 * Unit tests for common/smtp_parse.c: line splitting, command lines,
 * replies.
 */

#include <stdio.h>
#include <string.h>

#include "smtp_parse.h"
#include "t.h"

/* Copy s[0..n) into a NUL-terminated static buffer for T_STREQ. */
static const char *
str(const char *s, size_t n)
{
	static char	buf[4][SMTP_CMD_LINE_MAX + 1];
	static int	i;

	if (s == NULL)
		return NULL;
	i = (i + 1) % 4;
	if (n > SMTP_CMD_LINE_MAX)
		n = SMTP_CMD_LINE_MAX;
	memcpy(buf[i], s, n);
	buf[i][n] = '\0';
	return buf[i];
}

struct line_case {
	const char	*in;
	size_t		 max;
	long		 ret;
	size_t		 textlen;
};

static const struct line_case line_cases[] = {
	{ "EHLO x\r\n", 64, 8, 6 },
	{ "EHLO x\n", 64, 7, 6 },
	{ "EHLO x", 64, 0, 0 },
	{ "EHLO x\r", 64, 0, 0 },		/* CR, LF still to come */
	{ "a\rb\r\n", 64, 5, 3 },		/* bare CR is text */
	{ "a\r\rb\n", 64, 5, 4 },
	{ "a\r\r\n", 64, 4, 2 },		/* only the last CR goes */
	{ "\r\n", 64, 2, 0 },
	{ "\n", 64, 1, 0 },
	{ "", 64, 0, 0 },
	{ "A\r\nB\r\n", 64, 3, 1 },		/* first line only */
	{ "\nB\r\n", 64, 1, 0 },
	/* Bounds: a line of exactly max bytes (CRLF included) is fine. */
	{ "abcd\r\n", 6, 6, 4 },
	{ "abcde\r\n", 6, -1, 0 },		/* max + 1 */
	{ "abcde\n", 6, 6, 5 },
	{ "abcdef\n", 6, -1, 0 },
	{ "abcde", 6, 0, 0 },			/* max - 1, may still end */
	{ "abcdef", 6, -1, 0 },			/* max, no LF: too long */
	{ "abcde\r", 6, -1, 0 },		/* CRLF would make max + 1 */
	{ "abcdefgh", 6, -1, 0 },
	{ "a", 0, -1, 0 },
	{ "\n", 1, 1, 0 },
};

static void
test_line_table(void)
{
	size_t	i, tl;
	long	r;

	for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];

		tl = 12345;
		r = smtp_line_next(c->in, strlen(c->in), c->max, &tl);
		T_OK(r == c->ret, "line_next case %zu returns %ld (got %ld)",
		    i, c->ret, r);
		if (c->ret > 0)
			T_OK(tl == c->textlen, "line_next case %zu textlen %zu "
			    "(got %zu)", i, c->textlen, tl);
	}
}

/* A line longer than the real limit, and one exactly at it. */
static void
test_line_limit(void)
{
	static char	buf[SMTP_CMD_LINE_MAX + 8];
	size_t		tl;
	long		r;

	memset(buf, 'x', sizeof(buf));
	buf[SMTP_CMD_LINE_MAX - 2] = '\r';
	buf[SMTP_CMD_LINE_MAX - 1] = '\n';
	r = smtp_line_next(buf, sizeof(buf), SMTP_CMD_LINE_MAX, &tl);
	T_OK(r == SMTP_CMD_LINE_MAX && tl == SMTP_CMD_LINE_MAX - 2,
	    "line of exactly SMTP_CMD_LINE_MAX accepted");

	memset(buf, 'x', sizeof(buf));
	buf[SMTP_CMD_LINE_MAX - 1] = '\r';
	buf[SMTP_CMD_LINE_MAX] = '\n';
	r = smtp_line_next(buf, sizeof(buf), SMTP_CMD_LINE_MAX, &tl);
	T_OK(r == -1, "line of SMTP_CMD_LINE_MAX + 1 refused");
	r = smtp_line_next(buf, SMTP_CMD_LINE_MAX - 1, SMTP_CMD_LINE_MAX, &tl);
	T_OK(r == 0, "partial long line below max: need more");
	r = smtp_line_next(buf, SMTP_CMD_LINE_MAX, SMTP_CMD_LINE_MAX, &tl);
	T_OK(r == -1, "partial line reaching max without LF: too long");
	r = smtp_line_next(buf, 0, SMTP_CMD_LINE_MAX, &tl);
	T_OK(r == 0, "empty buffer: need more");
}

/*
 * Feed a stream to a bounded buffer in chunks of every size and check
 * that the same lines come out, whatever the boundaries.
 */
static void
test_line_chunks(void)
{
	static const char stream[] =
	    "EHLO client.example\r\n"
	    "MAIL FROM:<a@b>\r\n"
	    "\r\n"
	    "RCPT TO:<c@d>\n"
	    "DA\rTA\r\n"
	    "QUIT\r\n";
	static const char *want[] = {
		"EHLO client.example", "MAIL FROM:<a@b>", "", "RCPT TO:<c@d>",
		"DA\rTA", "QUIT"
	};
	const size_t	nwant = sizeof(want) / sizeof(want[0]);
	char		buf[64], got[8][64];
	size_t		chunk, in, have, ngot, tl, i;
	long		r;
	int		bad, fails = 0;

	for (chunk = 1; chunk <= sizeof(stream) - 1; chunk++) {
		in = have = ngot = 0;
		bad = 0;
		while (in < sizeof(stream) - 1 || have > 0) {
			size_t n = sizeof(stream) - 1 - in;

			if (n > chunk)
				n = chunk;
			if (n > sizeof(buf) - have)
				n = sizeof(buf) - have;
			memcpy(buf + have, stream + in, n);
			have += n;
			in += n;
			while ((r = smtp_line_next(buf, have, sizeof(buf),
			    &tl)) > 0) {
				if (ngot < 8) {
					memcpy(got[ngot], buf, tl);
					got[ngot][tl] = '\0';
				}
				ngot++;
				memmove(buf, buf + r, have - (size_t)r);
				have -= (size_t)r;
			}
			if (r < 0 || (n == 0 && have > 0)) {
				bad = 1;
				break;
			}
		}
		if (!bad && ngot != nwant)
			bad = 1;
		for (i = 0; !bad && i < nwant; i++)
			if (strcmp(got[i], want[i]) != 0)
				bad = 1;
		if (bad) {
			fails++;
			printf("# chunk size %zu gave different lines\n", chunk);
		}
	}
	T_OK(fails == 0, "line splitting independent of chunk boundaries "
	    "(%zu chunk sizes)", sizeof(stream) - 1);
}

struct cmd_case {
	const char	*line;
	int		 ret;
	enum smtp_verb	 verb;
	const char	*arg;
	const char	*path;		/* NULL: must be NULL */
	const char	*params;	/* NULL: must be NULL */
};

static const struct cmd_case cmd_cases[] = {
	{ "EHLO example.com", 0, SMTP_V_EHLO, "example.com", NULL, NULL },
	{ "ehlo example.com", 0, SMTP_V_EHLO, "example.com", NULL, NULL },
	{ "eHlO   example.com  \t ", 0, SMTP_V_EHLO, "example.com", NULL,
	    NULL },
	{ "EHLO [192.0.2.1]", 0, SMTP_V_EHLO, "[192.0.2.1]", NULL, NULL },
	{ "EHLO", -1, SMTP_V_EHLO, "", NULL, NULL },
	{ "EHLO   ", -1, SMTP_V_EHLO, "", NULL, NULL },
	{ "HELO x", 0, SMTP_V_HELO, "x", NULL, NULL },
	{ "HELO x\ty", 0, SMTP_V_HELO, "x\ty", NULL, NULL },
	{ "HELO", -1, SMTP_V_HELO, "", NULL, NULL },
	{ "EHLO x\r\n", 0, SMTP_V_EHLO, "x", NULL, NULL },
	{ "EHLO x\n", 0, SMTP_V_EHLO, "x", NULL, NULL },
	{ "EHLO x\r", -1, SMTP_V_EHLO, "x\r", NULL, NULL },
	{ "EHLO x\r\r\n", -1, SMTP_V_EHLO, "x\r", NULL, NULL },
	{ "EHLO x\n\n", -1, SMTP_V_EHLO, "x\n", NULL, NULL },
	{ "QUIT\r", 0, SMTP_V_UNKNOWN, "", NULL, NULL },	/* verb ends at SP */
	{ "EHLO a\rb", -1, SMTP_V_EHLO, "a\rb", NULL, NULL },
	{ "EHLO a\nb", -1, SMTP_V_EHLO, "a\nb", NULL, NULL },

	{ "MAIL FROM:<a@b>", 0, SMTP_V_MAIL, "FROM:<a@b>", "a@b", "" },
	{ "mail from:<a@b>", 0, SMTP_V_MAIL, "from:<a@b>", "a@b", "" },
	{ "Mail From:<A@B.example>", 0, SMTP_V_MAIL, "From:<A@B.example>",
	    "A@B.example", "" },
	{ "MAIL FROM:<>", 0, SMTP_V_MAIL, "FROM:<>", "", "" },
	{ "MAIL FROM:<> SIZE=0", 0, SMTP_V_MAIL, "FROM:<> SIZE=0", "",
	    "SIZE=0" },
	{ "MAIL FROM: <a@b> SIZE=10", 0, SMTP_V_MAIL, "FROM: <a@b> SIZE=10",
	    "a@b", "SIZE=10" },
	{ "MAIL FROM:   <a@b>", 0, SMTP_V_MAIL, "FROM:   <a@b>", "a@b", "" },
	{ "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME", 0, SMTP_V_MAIL,
	    "FROM:<a@b> SIZE=10 BODY=8BITMIME", "a@b",
	    "SIZE=10 BODY=8BITMIME" },
	{ "MAIL FROM:<a@b>   SIZE=10   ", 0, SMTP_V_MAIL,
	    "FROM:<a@b>   SIZE=10", "a@b", "SIZE=10" },
	{ "MAIL  FROM:<a@b>", 0, SMTP_V_MAIL, "FROM:<a@b>", "a@b", "" },
	{ "MAIL FROM:<\"a b>c\"@d>", 0, SMTP_V_MAIL, "FROM:<\"a b>c\"@d>",
	    "\"a b>c\"@d", "" },
	{ "MAIL FROM:<\"a\\\"b>\"@d> X", 0, SMTP_V_MAIL,
	    "FROM:<\"a\\\"b>\"@d> X", "\"a\\\"b>\"@d", "X" },
	{ "MAIL FROM:a@b", -1, SMTP_V_MAIL, "FROM:a@b", NULL, NULL },
	{ "MAIL FROM:", -1, SMTP_V_MAIL, "FROM:", NULL, NULL },
	{ "MAIL FROM:<a@b", -1, SMTP_V_MAIL, "FROM:<a@b", NULL, NULL },
	{ "MAIL FROM:<\"a@b>", -1, SMTP_V_MAIL, "FROM:<\"a@b>", NULL, NULL },
	{ "MAIL FROM:<a@b>SIZE=10", -1, SMTP_V_MAIL, "FROM:<a@b>SIZE=10",
	    NULL, NULL },
	{ "MAIL FROM:<a<b@c>", -1, SMTP_V_MAIL, "FROM:<a<b@c>", NULL, NULL },
	{ "MAIL FROM <a@b>", -1, SMTP_V_MAIL, "FROM <a@b>", NULL, NULL },
	{ "MAIL FRO:<a@b>", -1, SMTP_V_MAIL, "FRO:<a@b>", NULL, NULL },
	{ "MAIL TO:<a@b>", -1, SMTP_V_MAIL, "TO:<a@b>", NULL, NULL },
	{ "MAIL", -1, SMTP_V_MAIL, "", NULL, NULL },
	{ "MAIL FROM:<a\x01" "b>", -1, SMTP_V_MAIL, "FROM:<a\x01" "b>",
	    NULL, NULL },

	{ "RCPT TO:<c@d>", 0, SMTP_V_RCPT, "TO:<c@d>", "c@d", "" },
	{ "rcpt to:<Postmaster>", 0, SMTP_V_RCPT, "to:<Postmaster>",
	    "Postmaster", "" },
	{ "RCPT TO: <c@d> NOTIFY=NEVER", 0, SMTP_V_RCPT,
	    "TO: <c@d> NOTIFY=NEVER", "c@d", "NOTIFY=NEVER" },
	{ "RCPT TO:<@a,@b:c@d>", 0, SMTP_V_RCPT, "TO:<@a,@b:c@d>",
	    "@a,@b:c@d", "" },
	{ "RCPT TO:<>", 0, SMTP_V_RCPT, "TO:<>", "", "" },
	{ "RCPT FROM:<c@d>", -1, SMTP_V_RCPT, "FROM:<c@d>", NULL, NULL },
	{ "RCPT TO:c@d", -1, SMTP_V_RCPT, "TO:c@d", NULL, NULL },
	{ "RCPT", -1, SMTP_V_RCPT, "", NULL, NULL },

	{ "DATA", 0, SMTP_V_DATA, "", NULL, NULL },
	{ "data", 0, SMTP_V_DATA, "", NULL, NULL },
	{ "DATA   ", 0, SMTP_V_DATA, "", NULL, NULL },
	{ "DATA x", -1, SMTP_V_DATA, "x", NULL, NULL },
	{ "RSET", 0, SMTP_V_RSET, "", NULL, NULL },
	{ "QUIT", 0, SMTP_V_QUIT, "", NULL, NULL },
	{ "quit now", -1, SMTP_V_QUIT, "now", NULL, NULL },
	{ "STARTTLS", 0, SMTP_V_STARTTLS, "", NULL, NULL },
	{ "starttls", 0, SMTP_V_STARTTLS, "", NULL, NULL },
	{ "STARTTLS x", -1, SMTP_V_STARTTLS, "x", NULL, NULL },
	{ "NOOP", 0, SMTP_V_NOOP, "", NULL, NULL },
	{ "NOOP hello", 0, SMTP_V_NOOP, "hello", NULL, NULL },
	{ "HELP", 0, SMTP_V_HELP, "", NULL, NULL },
	{ "HELP MAIL", 0, SMTP_V_HELP, "MAIL", NULL, NULL },
	{ "VRFY", -1, SMTP_V_VRFY, "", NULL, NULL },
	{ "VRFY root", 0, SMTP_V_VRFY, "root", NULL, NULL },
	{ "EXPN list", 0, SMTP_V_EXPN, "list", NULL, NULL },
	{ "AUTH PLAIN dGVzdA==", 0, SMTP_V_AUTH, "PLAIN dGVzdA==", NULL,
	    NULL },
	{ "AUTH", -1, SMTP_V_AUTH, "", NULL, NULL },
	{ "ETRN example.org", 0, SMTP_V_ETRN, "example.org", NULL, NULL },
	{ "XCLIENT ADDR=192.0.2.1", 0, SMTP_V_XCLIENT, "ADDR=192.0.2.1",
	    NULL, NULL },
	{ "BDAT 100", 0, SMTP_V_BDAT, "100", NULL, NULL },
	{ "BDAT 100 LAST", 0, SMTP_V_BDAT, "100 LAST", NULL, NULL },
	{ "bdat 0 last", 0, SMTP_V_BDAT, "0 last", NULL, NULL },
	{ "BDAT", -1, SMTP_V_BDAT, "", NULL, NULL },
	{ "BDAT x", -1, SMTP_V_BDAT, "x", NULL, NULL },
	{ "BDAT 10LAST", -1, SMTP_V_BDAT, "10LAST", NULL, NULL },
	{ "BDAT 10 FIRST", -1, SMTP_V_BDAT, "10 FIRST", NULL, NULL },
	{ "BDAT 10 LAST x", -1, SMTP_V_BDAT, "10 LAST x", NULL, NULL },

	{ "FOO bar", 0, SMTP_V_UNKNOWN, "bar", NULL, NULL },
	{ "", 0, SMTP_V_UNKNOWN, "", NULL, NULL },
	{ "EHLOX foo", 0, SMTP_V_UNKNOWN, "foo", NULL, NULL },
	{ "EHL foo", 0, SMTP_V_UNKNOWN, "foo", NULL, NULL },
	{ "STARTTLSX", 0, SMTP_V_UNKNOWN, "", NULL, NULL },
	{ " EHLO x", 0, SMTP_V_UNKNOWN, "EHLO x", NULL, NULL },
	{ "EHLO\tx", 0, SMTP_V_UNKNOWN, "", NULL, NULL },
	{ "X\x01Y a\rb", 0, SMTP_V_UNKNOWN, "a\rb", NULL, NULL },
};

static void
test_cmd_table(void)
{
	struct smtp_cmd	 cmd;
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];

		memset(&cmd, 0xa5, sizeof(cmd));
		r = smtp_cmd_parse(c->line, strlen(c->line), &cmd);
		T_OK(r == c->ret && cmd.verb == c->verb,
		    "cmd \"%s\": ret %d verb %s (got %d %s)", str(c->line,
		    strlen(c->line)), c->ret, smtp_verb_name(c->verb), r,
		    smtp_verb_name(cmd.verb));
		T_STREQ(str(cmd.arg, cmd.arglen), c->arg, "cmd \"%s\": arg",
		    str(c->line, strlen(c->line)));
		if (r != 0)
			continue;
		if (c->path == NULL)
			T_OK(cmd.path == NULL && cmd.params == NULL,
			    "cmd \"%s\": no path, no params", c->line);
		else {
			T_STREQ(str(cmd.path, cmd.pathlen), c->path,
			    "cmd \"%s\": path", c->line);
			T_STREQ(str(cmd.params, cmd.paramslen), c->params,
			    "cmd \"%s\": params", c->line);
		}
	}
}

/* BDAT's size and LAST, as the outbound session needs them. */
static void
test_bdat_args(void)
{
	static const struct {
		const char		*line;
		int			 rc;
		unsigned long long	 chunk;
		int			 last;
	} t[] = {
		{ "BDAT 0 LAST", 0, 0, 1 },
		{ "BDAT 1048576", 0, 1048576, 0 },
		{ "bdat 7 last", 0, 7, 1 },
		{ "BDAT 12   LAST  ", 0, 12, 1 },
		{ "BDAT 0007", 0, 7, 0 },
		{ "BDAT 999999999999999999 LAST", 0, 999999999999999999ULL, 1 },
		{ "BDAT 1000000000000000000", -1, 0, 0 },
		{ "BDAT 18446744073709551617", -1, 0, 0 },
		{ "BDAT -1", -1, 0, 0 },
		{ "BDAT 5 LASTX", -1, 0, 0 },
	};
	struct smtp_cmd	cmd;
	size_t		i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = smtp_cmd_parse(t[i].line, strlen(t[i].line), &cmd);
		T_OK(rc == t[i].rc && cmd.verb == SMTP_V_BDAT &&
		    (rc < 0 || (cmd.chunk == t[i].chunk &&
		    cmd.last == t[i].last)), "bdat \"%s\": rc %d size %llu "
		    "last %d", t[i].line, rc, cmd.chunk, cmd.last);
	}
	(void)smtp_cmd_parse("DATA", 4, &cmd);
	T_OK(cmd.chunk == 0 && cmd.last == 0, "other verbs: size 0, no LAST");
}

static void
test_cmd_misc(void)
{
	struct smtp_cmd	 cmd;
	enum smtp_verb	 v;
	char		 line[32];
	int		 r, bad = 0;

	/* A NUL inside the line is not the end of it. */
	r = smtp_cmd_parse("EHLO a\0b", 8, &cmd);
	T_OK(r == -1 && cmd.verb == SMTP_V_EHLO, "NUL in EHLO argument "
	    "refused");
	r = smtp_cmd_parse("MAIL FROM:<a@b>\0", 16, &cmd);
	T_OK(r == -1, "NUL after MAIL path refused");

	/* The length, not a NUL, bounds the parse. */
	r = smtp_cmd_parse("MAIL FROM:<a@b> SIZE=1", 15, &cmd);
	T_OK(r == 0 && cmd.pathlen == 3 && cmd.paramslen == 0,
	    "length bounds the parse");
	r = smtp_cmd_parse("DATAX", 4, &cmd);
	T_OK(r == 0 && cmd.verb == SMTP_V_DATA, "length cuts the verb");

	/* The path points into the line, not into a copy. */
	r = smtp_cmd_parse("RCPT TO:<x@y>", 13, &cmd);
	T_OK(r == 0 && cmd.path != NULL && cmd.path[-1] == '<' &&
	    cmd.path[cmd.pathlen] == '>', "path points inside the <>");

	/* Every verb's name parses back to the verb, in either case. */
	for (v = SMTP_V_HELO; v <= SMTP_V_XCLIENT; v++) {
		size_t n, i;

		n = (size_t)snprintf(line, sizeof(line), "%s",
		    smtp_verb_name(v));
		for (i = 0; i < n; i++)
			line[i] = (char)(line[i] | 0x20);
		(void)smtp_cmd_parse(line, n, &cmd);
		if (cmd.verb != v || strcmp(smtp_verb_name(v), "UNKNOWN") == 0)
			bad++;
	}
	T_OK(bad == 0, "all verb names round-trip, lower case");
	T_STREQ(smtp_verb_name(SMTP_V_STARTTLS), "STARTTLS", "name STARTTLS");
	T_STREQ(smtp_verb_name(SMTP_V_MAIL), "MAIL", "name MAIL");
	T_STREQ(smtp_verb_name(SMTP_V_UNKNOWN), "UNKNOWN", "name UNKNOWN");
	T_STREQ(smtp_verb_name((enum smtp_verb)999), "UNKNOWN",
	    "name of an out-of-range verb");
}

/* One reply: lines fed in order, the return of each. */
struct reply_case {
	const char	*name;
	const char	*lines[5];
	int		 ret[5];
	int		 code;		/* after the last line, if all ok */
	const char	*enh;
};

static const struct reply_case reply_cases[] = {
	{ "single", { "250 Ok" }, { 1 }, 250, "" },
	{ "enhanced", { "250 2.1.0 Ok" }, { 1 }, 250, "2.1.0" },
	{ "enhanced only", { "250 2.1.0" }, { 1 }, 250, "2.1.0" },
	{ "enhanced wide", { "550 5.100.999 x" }, { 1 }, 550, "5.100.999" },
	{ "enhanced 4xx", { "451 4.7.0 try later" }, { 1 }, 451, "4.7.0" },
	{ "enh class mismatch", { "250 5.1.0 x" }, { 1 }, 250, "" },
	{ "enh on 3xx", { "354 3.0.0 go" }, { 1 }, 354, "" },
	{ "enh two parts", { "250 2.1 x" }, { 1 }, 250, "" },
	{ "enh glued", { "250 2.1.0x" }, { 1 }, 250, "" },
	{ "enh four digits", { "250 2.1000.0 x" }, { 1 }, 250, "" },
	{ "enh empty part", { "250 2..0 x" }, { 1 }, 250, "" },
	{ "enh trailing dot", { "250 2.1. x" }, { 1 }, 250, "" },
	{ "bare code", { "250" }, { 1 }, 250, "" },
	{ "code and space", { "250 " }, { 1 }, 250, "" },
	{ "multi", { "250-mx.example", "250-PIPELINING", "250 SIZE 100" },
	    { 0, 0, 1 }, 250, "" },
	{ "multi enh first", { "250-2.0.0 a", "250 2.1.5 b" }, { 0, 1 }, 250,
	    "2.0.0" },
	{ "multi enh later only", { "250-hello", "250 2.1.0 b" }, { 0, 1 },
	    250, "" },
	{ "empty continuation", { "250-", "250 x" }, { 0, 1 }, 250, "" },
	{ "code change", { "250-a", "251 b" }, { 0, -1 }, 0, NULL },
	{ "code change, digit", { "250-a", "550 b" }, { 0, -1 }, 0, NULL },
	{ "bad digit", { "25x ok" }, { -1 }, 0, NULL },
	{ "letter first", { "x50 ok" }, { -1 }, 0, NULL },
	{ "four digits", { "2500 ok" }, { -1 }, 0, NULL },
	{ "bad separator", { "250_ok" }, { -1 }, 0, NULL },
	{ "two digits", { "25" }, { -1 }, 0, NULL },
	{ "empty", { "" }, { -1 }, 0, NULL },
	{ "leading space", { " 250 ok" }, { -1 }, 0, NULL },
	{ "199", { "199 x" }, { -1 }, 0, NULL },
	{ "200", { "200 x" }, { 1 }, 200, "" },
	{ "599", { "599 x" }, { 1 }, 599, "" },
	{ "600", { "600 x" }, { -1 }, 0, NULL },
	{ "099", { "099 x" }, { -1 }, 0, NULL },
	{ "100", { "100 x" }, { -1 }, 0, NULL },
	{ "bad continuation", { "250-a", "250x" }, { 0, -1 }, 0, NULL },
	{ "with CRLF", { "220 mx ESMTP\r\n" }, { 1 }, 220, "" },
	{ "with LF", { "250-a\n", "250 b\n" }, { 0, 1 }, 250, "" },
	{ "bare code, CR", { "250\r" }, { -1 }, 0, NULL },
};

static void
test_reply_table(void)
{
	struct smtp_reply	 r;
	size_t			 i, j;
	int			 ret, ok, n;

	for (i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];

		smtp_reply_init(&r);
		ok = 1;
		n = 0;
		for (j = 0; j < 5 && c->lines[j] != NULL; j++) {
			ret = smtp_reply_feed(&r, c->lines[j],
			    strlen(c->lines[j]));
			if (ret != c->ret[j]) {
				printf("# %s: line %zu returned %d, not %d\n",
				    c->name, j, ret, c->ret[j]);
				ok = 0;
			}
			if (ret == -1)
				break;
			n++;
		}
		T_OK(ok, "reply \"%s\": returns", c->name);
		if (c->enh == NULL)
			continue;
		T_OK(r.code == c->code && r.complete && r.lines == n,
		    "reply \"%s\": code %d, complete, %d lines (got %d %d %d)",
		    c->name, c->code, n, r.code, r.complete, r.lines);
		T_STREQ(r.enh, c->enh, "reply \"%s\": enh", c->name);
	}
}

static void
test_reply_misc(void)
{
	struct smtp_reply	 r;
	int			 i, ret = 0;

	/* Progress is visible between lines. */
	smtp_reply_init(&r);
	T_OK(r.code == 0 && r.lines == 0 && !r.complete && r.enh[0] == '\0',
	    "init zeroes the reply");
	ret = smtp_reply_feed(&r, "250-a", 5);
	T_OK(ret == 0 && r.code == 250 && r.lines == 1 && !r.complete,
	    "after a continuation line: not complete");

	/* A finished reply and then a new one. */
	smtp_reply_init(&r);
	ret = smtp_reply_feed(&r, "250 2.0.0 ok", 12);
	T_OK(ret == 1, "first reply done");
	ret = smtp_reply_feed(&r, "354 go ahead", 12);
	T_OK(ret == 1 && r.code == 354 && r.lines == 1 && r.enh[0] == '\0',
	    "line after a complete reply starts a new one");

	/* The length, not a NUL, ends the line. */
	smtp_reply_init(&r);
	ret = smtp_reply_feed(&r, "250-ok", 3);
	T_OK(ret == 1 && r.complete, "length 3 is the whole line");
	smtp_reply_init(&r);
	ret = smtp_reply_feed(&r, "250 2.1.0 ok", 9);
	T_OK(ret == 1 && strcmp(r.enh, "2.1.0") == 0,
	    "enh found within the given length");
	smtp_reply_init(&r);
	ret = smtp_reply_feed(&r, "250 2.1.05", 9);
	T_OK(ret == 1 && strcmp(r.enh, "2.1.0") == 0,
	    "enh ends at the given length");

	/* At most SMTP_REPLY_MAX/4 lines. */
	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_MAX / 4 - 1; i++)
		if ((ret = smtp_reply_feed(&r, "250-x", 5)) != 0)
			break;
	T_OK(i == SMTP_REPLY_MAX / 4 - 1, "%d continuation lines accepted",
	    SMTP_REPLY_MAX / 4 - 1);
	ret = smtp_reply_feed(&r, "250 x", 5);
	T_OK(ret == 1 && r.lines == SMTP_REPLY_MAX / 4,
	    "reply of exactly SMTP_REPLY_MAX/4 lines accepted");

	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_MAX / 4; i++)
		if ((ret = smtp_reply_feed(&r, "250-x", 5)) != 0)
			break;
	T_OK(i == SMTP_REPLY_MAX / 4, "%d continuation lines accepted",
	    SMTP_REPLY_MAX / 4);
	ret = smtp_reply_feed(&r, "250 x", 5);
	T_OK(ret == -1, "line SMTP_REPLY_MAX/4 + 1 refused");
}

/* A multi-line reply split at every chunk size still parses. */
static void
test_reply_chunks(void)
{
	static const char stream[] =
	    "250-mx.example.org Hello\r\n"
	    "250-PIPELINING\n"
	    "250-SIZE 1000\r\n"
	    "250 2.0.0 STARTTLS\r\n"
	    "221 2.0.0 Bye\r\n";
	struct smtp_reply	 r;
	char			 buf[64];
	size_t			 chunk, in, have, tl;
	long			 n;
	int			 fails = 0, ret, replies, lines, bad;

	for (chunk = 1; chunk < sizeof(stream); chunk++) {
		smtp_reply_init(&r);
		in = have = 0;
		replies = lines = bad = 0;
		while (in < sizeof(stream) - 1) {
			size_t k = sizeof(stream) - 1 - in;

			if (k > chunk)
				k = chunk;
			if (k > sizeof(buf) - have)
				k = sizeof(buf) - have;
			memcpy(buf + have, stream + in, k);
			have += k;
			in += k;
			while ((n = smtp_line_next(buf, have, sizeof(buf),
			    &tl)) > 0) {
				ret = smtp_reply_feed(&r, buf, tl);
				lines++;
				if (ret == -1)
					bad = 1;
				if (ret == 1) {
					replies++;
					if (replies == 1 && (r.code != 250 ||
					    r.lines != 4 || r.enh[0] != '\0'))
						bad = 1;
					if (replies == 2 && (r.code != 221 ||
					    strcmp(r.enh, "2.0.0") != 0))
						bad = 1;
				}
				memmove(buf, buf + n, have - (size_t)n);
				have -= (size_t)n;
			}
			if (n < 0 || k == 0) {
				bad = 1;
				break;
			}
		}
		if (bad || replies != 2 || lines != 5 || have != 0) {
			fails++;
			printf("# reply chunk size %zu failed\n", chunk);
		}
	}
	T_OK(fails == 0, "replies independent of chunk boundaries");
}

int
main(void)
{
	test_line_table();
	test_line_limit();
	test_line_chunks();
	test_cmd_table();
	test_cmd_misc();
	test_bdat_args();
	test_reply_table();
	test_reply_misc();
	test_reply_chunks();
	return T_DONE();
}

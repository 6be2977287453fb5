/*
 * Unit tests for common/ehlo.c: rewriting the backend's EHLO reply and
 * looking up keywords in it.
 */

#include <stdio.h>
#include <string.h>

#include "ehlo.h"
#include "t.h"

#define ADD	EHLO_ADD_STARTTLS
#define DROP	EHLO_DROP_STARTTLS
#define NOCHUNK	EHLO_DROP_CHUNKING

struct rw_case {
	const char	*name;
	const char	*in;
	unsigned	 flags;
	const char	*want;		/* NULL: must fail */
};

static const struct rw_case rw_cases[] = {
	{ "one line, add", "250 host\r\n", ADD,
	    "250-host\r\n250 STARTTLS\r\n" },
	{ "one line, add+drop", "250 mx.example Hello\r\n", ADD | DROP,
	    "250-mx.example Hello\r\n250 STARTTLS\r\n" },
	{ "one line, nothing", "250 host\r\n", 0, "250 host\r\n" },
	{ "one line, drop", "250 host\r\n", DROP, "250 host\r\n" },
	{ "multi, add", "250-host\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", ADD,
	    "250-host\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n" },
	{ "multi, unchanged", "250-host\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
	    0, "250-host\r\n250-PIPELINING\r\n250 SIZE 1000\r\n" },
	{ "backend STARTTLS in the middle",
	    "250-host\r\n250-STARTTLS\r\n250 8BITMIME\r\n", ADD | DROP,
	    "250-host\r\n250-8BITMIME\r\n250 STARTTLS\r\n" },
	{ "backend starttls lower case",
	    "250-host\r\n250-starttls\r\n250 8BITMIME\r\n", ADD | DROP,
	    "250-host\r\n250-8BITMIME\r\n250 STARTTLS\r\n" },
	{ "backend StartTLS mixed case, last",
	    "250-host\r\n250-SIZE\r\n250 StartTLS\r\n", ADD | DROP,
	    "250-host\r\n250-SIZE\r\n250 STARTTLS\r\n" },
	{ "add alone never duplicates",
	    "250-host\r\n250-STARTTLS\r\n250 SIZE\r\n", ADD,
	    "250-host\r\n250-SIZE\r\n250 STARTTLS\r\n" },
	{ "drop alone, last line", "250-host\r\n250-SIZE\r\n250 STARTTLS\r\n",
	    DROP, "250-host\r\n250 SIZE\r\n" },
	{ "drop alone, only keyword", "250-host\r\n250 STARTTLS\r\n", DROP,
	    "250 host\r\n" },
	{ "drop several", "250-host\r\n250-STARTTLS\r\n250-starttls\r\n"
	    "250 STARTTLS\r\n", DROP, "250 host\r\n" },
	{ "STARTTLS with arguments dropped",
	    "250-host\r\n250-STARTTLS foo\r\n250 SIZE\r\n", DROP,
	    "250-host\r\n250 SIZE\r\n" },
	{ "STARTTLS after blanks dropped",
	    "250-host\r\n250- \tSTARTTLS\r\n250 SIZE\r\n", DROP,
	    "250-host\r\n250 SIZE\r\n" },
	{ "STARTTLSX kept", "250-host\r\n250-STARTTLSX\r\n250 START\r\n",
	    ADD | DROP,
	    "250-host\r\n250-STARTTLSX\r\n250-START\r\n250 STARTTLS\r\n" },
	{ "greeting is never a keyword", "250-STARTTLS greets\r\n250 SIZE\r\n",
	    DROP, "250-STARTTLS greets\r\n250 SIZE\r\n" },
	{ "unflagged STARTTLS passes", "250-host\r\n250 STARTTLS\r\n", 0,
	    "250-host\r\n250 STARTTLS\r\n" },
	{ "LF only", "250-host\n250-PIPELINING\n250 SIZE\n", ADD | DROP,
	    "250-host\r\n250-PIPELINING\r\n250-SIZE\r\n250 STARTTLS\r\n" },
	{ "LF only, one line", "250 host\n", ADD,
	    "250-host\r\n250 STARTTLS\r\n" },
	{ "mixed line ends", "250-host\n250-A\r\n250 B\n", 0,
	    "250-host\r\n250-A\r\n250 B\r\n" },
	{ "drop CHUNKING", "250-host\r\n250-CHUNKING\r\n250-chunking\r\n"
	    "250 8BITMIME\r\n", NOCHUNK, "250-host\r\n250 8BITMIME\r\n" },
	{ "drop CHUNKING last", "250-host\r\n250-SIZE\r\n250 CHUNKING\r\n",
	    NOCHUNK | ADD, "250-host\r\n250-SIZE\r\n250 STARTTLS\r\n" },
	{ "CHUNKING kept without the flag", "250-host\r\n250 CHUNKING\r\n",
	    ADD, "250-host\r\n250-CHUNKING\r\n250 STARTTLS\r\n" },
	{ "text kept verbatim", "250-host says hi\r\n250-AUTH PLAIN\tLOGIN \r\n"
	    "250 x\r\n", ADD, "250-host says hi\r\n250-AUTH PLAIN\tLOGIN \r\n"
	    "250-x\r\n250 STARTTLS\r\n" },
	{ "empty keyword line kept", "250-host\r\n250-\r\n250 SIZE\r\n", 0,
	    "250-host\r\n250-\r\n250 SIZE\r\n" },

	{ "220 refused", "220 host ESMTP\r\n", ADD, NULL },
	{ "550 refused", "550 5.7.1 go away\r\n", ADD, NULL },
	{ "251 refused", "251 host\r\n", ADD, NULL },
	{ "code changes", "250-host\r\n251 SIZE\r\n", ADD, NULL },
	{ "no final line", "250-host\r\n250-SIZE\r\n", ADD, NULL },
	{ "final marker too early", "250 host\r\n250 SIZE\r\n", ADD, NULL },
	{ "final marker in the middle", "250-host\r\n250 A\r\n250 B\r\n", 0,
	    NULL },
	{ "unterminated", "250 host", ADD, NULL },
	{ "unterminated last", "250-host\r\n250 SIZE", ADD, NULL },
	{ "CR only", "250 host\r", ADD, NULL },
	{ "empty", "", ADD, NULL },
	{ "empty line", "\r\n", ADD, NULL },
	{ "blank line inside", "250-host\r\n\r\n250 SIZE\r\n", ADD, NULL },
	{ "bare 250", "250\r\n", ADD, NULL },
	{ "bad separator", "250_host\r\n", ADD, NULL },
	{ "bad digit", "25O host\r\n", ADD, NULL },
	{ "bare CR in text", "250-host\r\n250 A\rB\r\n", ADD, NULL },
	{ "control char", "250-host\r\n250 A\x01" "B\r\n", 0, NULL },
	{ "DEL char", "250 host\x7f\r\n", 0, NULL },
	{ "trailing garbage", "250 host\r\nx", ADD, NULL },
};

static void
test_rewrite_table(void)
{
	char	 out[512];
	size_t	 i;
	long	 r;

	for (i = 0; i < sizeof(rw_cases) / sizeof(rw_cases[0]); i++) {
		const struct rw_case *c = &rw_cases[i];

		memset(out, '#', sizeof(out));
		r = ehlo_rewrite(c->in, strlen(c->in), c->flags, out,
		    sizeof(out) - 1);
		if (c->want == NULL) {
			T_OK(r == -1, "rewrite \"%s\" fails (got %ld)",
			    c->name, r);
			continue;
		}
		T_OK(r == (long)strlen(c->want), "rewrite \"%s\" length %zu "
		    "(got %ld)", c->name, strlen(c->want), r);
		if (r >= 0 && r < (long)sizeof(out)) {
			T_OK(out[r] == '#', "rewrite \"%s\" writes no more "
			    "than it says", c->name);
			out[r] = '\0';
			T_STREQ(out, c->want, "rewrite \"%s\" output",
			    c->name);
		}
	}
}

/* The output capacity is respected exactly. */
static void
test_rewrite_cap(void)
{
	static const char in[] = "250-host\r\n250 SIZE 1000\r\n";
	static const char want[] = "250-host\r\n250-SIZE 1000\r\n"
	    "250 STARTTLS\r\n";
	char	 out[sizeof(want) + 8];
	size_t	 cap;
	long	 r;
	int	 bad = 0;

	r = ehlo_rewrite(in, sizeof(in) - 1, ADD, out, sizeof(want) - 1);
	T_OK(r == (long)sizeof(want) - 1 && memcmp(out, want,
	    sizeof(want) - 1) == 0, "output exactly as large as outcap");

	for (cap = 0; cap < sizeof(want) - 1; cap++) {
		memset(out, '#', sizeof(out));
		r = ehlo_rewrite(in, sizeof(in) - 1, ADD, out, cap);
		if (r != -1 || out[cap] != '#')
			bad++;
	}
	T_OK(bad == 0, "every outcap below the output size fails without "
	    "writing past outcap");
	r = ehlo_rewrite(in, sizeof(in) - 1, ADD, NULL, 0);
	T_OK(r == -1, "NULL out with outcap 0 fails");

	/* Input length, not a NUL, bounds the input. */
	r = ehlo_rewrite("250 host\r\n250 more\r\n", 10, ADD, out,
	    sizeof(out));
	T_OK(r == (long)strlen("250-host\r\n250 STARTTLS\r\n"),
	    "inlen bounds the input");
}

struct has_case {
	const char	*name;
	const char	*in;
	const char	*kw;
	int		 ret;
	const char	*args;
};

#define REPLY	"250-mx.example.org Hello\r\n"		\
		"250-SIZE 10485760\r\n"			\
		"250-8BITMIME\r\n"			\
		"250-XCLIENT NAME ADDR PROTO HELO\r\n"	\
		"250-AUTH  PLAIN LOGIN  \r\n"		\
		"250-STARTTLSX\r\n"			\
		"250 PIPELINING\r\n"

static const struct has_case has_cases[] = {
	{ "size", REPLY, "SIZE", 1, "10485760" },
	{ "size lower case kw", REPLY, "size", 1, "10485760" },
	{ "no args", REPLY, "8BITMIME", 1, "" },
	{ "xclient", REPLY, "XCLIENT", 1, "NAME ADDR PROTO HELO" },
	{ "args trimmed", REPLY, "AUTH", 1, "PLAIN LOGIN" },
	{ "last line", REPLY, "PIPELINING", 1, "" },
	{ "absent", REPLY, "STARTTLS", 0, NULL },
	{ "prefix of a keyword", REPLY, "PIPE", 0, NULL },
	{ "longer than a keyword", REPLY, "SIZEX", 0, NULL },
	{ "greeting is not a keyword", REPLY, "mx.example.org", 0, NULL },
	{ "greeting STARTTLS", "250-STARTTLS\r\n250 SIZE\r\n", "STARTTLS", 0,
	    NULL },
	{ "lower case keyword", "250-h\r\n250 starttls\r\n", "STARTTLS", 1,
	    "" },
	{ "LF only", "250-h\n250-SIZE 5\n250 X\n", "SIZE", 1, "5" },
	{ "unterminated last", "250-h\r\n250 STARTTLS", "STARTTLS", 1, "" },
	{ "stops at the final line", "250 h\r\n250-STARTTLS\r\n", "STARTTLS",
	    0, NULL },
	{ "stops at a bad line", "250-h\r\n220 x\r\n250 STARTTLS\r\n",
	    "STARTTLS", 0, NULL },
	{ "not a 250 reply", "550-h\r\n550 STARTTLS\r\n", "STARTTLS", 0,
	    NULL },
	{ "empty input", "", "STARTTLS", 0, NULL },
	{ "empty kw", REPLY, "", 0, NULL },
};

static void
test_has_table(void)
{
	const char	*args;
	char		 got[128];
	size_t		 i, alen;
	int		 r;

	for (i = 0; i < sizeof(has_cases) / sizeof(has_cases[0]); i++) {
		const struct has_case *c = &has_cases[i];

		args = "junk";
		alen = 99;
		r = ehlo_has(c->in, strlen(c->in), c->kw, &args, &alen);
		T_OK(r == c->ret, "has \"%s\": %d (got %d)", c->name, c->ret,
		    r);
		if (c->ret == 0) {
			T_OK(args == NULL && alen == 0, "has \"%s\": args "
			    "cleared", c->name);
			continue;
		}
		if (args == NULL || alen >= sizeof(got)) {
			T_OK(0, "has \"%s\": args set", c->name);
			continue;
		}
		T_OK(args >= c->in && args + alen <= c->in + strlen(c->in),
		    "has \"%s\": args point into the input", c->name);
		memcpy(got, args, alen);
		got[alen] = '\0';
		T_STREQ(got, c->args, "has \"%s\": args", c->name);
	}

	T_OK(ehlo_has(REPLY, sizeof(REPLY) - 1, "SIZE", NULL, NULL) == 1,
	    "has with NULL args");
	T_OK(ehlo_has(REPLY, 26 + 19, "SIZE", NULL, NULL) == 1 &&
	    ehlo_has(REPLY, 26 + 5, "SIZE", NULL, NULL) == 0 &&
	    ehlo_has(REPLY, 26 + 8, "SIZE", NULL, NULL) == 1,
	    "inlen bounds the search");
	T_OK(ehlo_has(REPLY, sizeof(REPLY) - 1, NULL, NULL, NULL) == 0,
	    "NULL kw");
}

/* What the rewrite produces is what ehlo_has finds. */
static void
test_roundtrip(void)
{
	static const char in[] = "250-host\r\n250-starttls\r\n250 SIZE 9\r\n";
	char	 out[256];
	long	 r;

	r = ehlo_rewrite(in, sizeof(in) - 1, DROP, out, sizeof(out));
	T_OK(r > 0 && ehlo_has(out, (size_t)r, "STARTTLS", NULL, NULL) == 0 &&
	    ehlo_has(out, (size_t)r, "SIZE", NULL, NULL) == 1,
	    "after DROP: no STARTTLS, SIZE kept");
	r = ehlo_rewrite(in, sizeof(in) - 1, ADD | DROP, out, sizeof(out));
	T_OK(r > 0 && ehlo_has(out, (size_t)r, "STARTTLS", NULL, NULL) == 1,
	    "after ADD: STARTTLS found");
}

int
main(void)
{
	test_rewrite_table();
	test_rewrite_cap();
	test_has_table();
	test_roundtrip();
	return T_DONE();
}

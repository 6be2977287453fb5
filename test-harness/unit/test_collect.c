/*
 * smtp_reply_collect(): whole replies out of a stream that arrives in
 * pieces, as the inbound session and the upstream engine read them.
 */
#include "smtp_parse.h"
#include "t.h"

int
main(void)
{
	static const char stream[] =
	    "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
	    "220 2.0.0 go ahead\r\n";
	struct smtp_reply	r;
	size_t			scan = 0, len, off = 0, cut;
	long			n;
	int			ok = 1;

	/* Every split point of the stream: the first reply comes out
	 * whole, exactly once, at the first length that completes it. */
	for (cut = 0; cut <= sizeof(stream) - 1; cut++) {
		smtp_reply_init(&r);
		scan = 0;
		n = smtp_reply_collect(&r, &scan, stream, cut, 4096);
		if (cut < 46 && n != 0)
			ok = 0;
		if (cut >= 46 && (n != 46 || r.code != 250 || r.lines != 3))
			ok = 0;
	}
	T_OK(ok, "a three-line reply completes at its 46th byte, not before");

	/* Resuming: fed in two steps, the scan position carries over. */
	smtp_reply_init(&r);
	scan = 0;
	n = smtp_reply_collect(&r, &scan, stream, 20, 4096);
	T_OK(n == 0 && scan == 16, "first line consumed, second incomplete");
	n = smtp_reply_collect(&r, &scan, stream, sizeof(stream) - 1, 4096);
	T_OK(n == 46 && scan == 0, "resumed to the end of the reply");
	off = (size_t)n;
	smtp_reply_init(&r);
	len = sizeof(stream) - 1 - off;
	n = smtp_reply_collect(&r, &scan, stream + off, len, 4096);
	T_OK(n == (long)len && r.code == 220 && strcmp(r.enh, "2.0.0") == 0,
	    "the next reply follows with its enhanced code");

	/* Bounds and garbage. */
	smtp_reply_init(&r);
	scan = 0;
	T_OK(smtp_reply_collect(&r, &scan, "250-partial", 11, 0) == -1,
	    "an incomplete reply with no room left is an error");
	smtp_reply_init(&r);
	scan = 0;
	T_OK(smtp_reply_collect(&r, &scan, "hello\r\n", 7, 4096) == -1,
	    "a line that is not a reply is an error");
	smtp_reply_init(&r);
	scan = 0;
	T_OK(smtp_reply_collect(&r, &scan, "250-a\r\n354 b\r\n", 14, 4096) == -1,
	    "a code changing within a reply is an error");
	smtp_reply_init(&r);
	scan = 0;
	T_OK(smtp_reply_collect(&r, &scan, "", 0, 4096) == 0,
	    "nothing yet is not an error");
	return T_DONE();
}

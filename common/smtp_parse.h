/*
 * Pure, resumable SMTP parsers: no I/O, no allocation, bounded lines.
 * Bytes go in, complete lines / commands / replies come out.
 */
#ifndef SMTP_PARSE_H
#define SMTP_PARSE_H

#include <stddef.h>

/* RFC 5321 4.5.3.1: command line 512, reply line 512, text line 1000
 * (all including CRLF).  We accept somewhat longer lines from peers. */
#define SMTP_CMD_LINE_MAX	2048	/* command lines, incl. CRLF */
#define SMTP_REPLY_LINE_MAX	2048	/* reply lines, incl. CRLF */
#define SMTP_REPLY_MAX		16384	/* a whole multi-line reply */

/*
 * Line splitter.  smtp_line_next() looks for one complete line at the
 * start of buf[0..len).  A line ends with LF (a preceding CR is part of
 * the terminator).
 * A CR not followed by LF is an ordinary byte of the text (the command
 * parser refuses it in the arguments of the verbs it knows).
 * Returns:
 *   > 0  length of the line including its terminator (at most max);
 *        *textlen gets the length without CR/LF;
 *     0  no complete line yet and len < max (need more bytes);
 *    -1  no line terminator within max bytes (line too long).
 */
long smtp_line_next(const char *buf, size_t len, size_t max, size_t *textlen);

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO, SMTP_V_EHLO, SMTP_V_MAIL, SMTP_V_RCPT, SMTP_V_DATA,
	SMTP_V_BDAT, SMTP_V_RSET, SMTP_V_NOOP, SMTP_V_QUIT, SMTP_V_VRFY,
	SMTP_V_EXPN, SMTP_V_HELP, SMTP_V_STARTTLS, SMTP_V_AUTH,
	SMTP_V_ETRN, SMTP_V_XCLIENT
};

struct smtp_cmd {
	enum smtp_verb	verb;
	const char	*arg;		/* points into the line, after the
					 * verb and its separating spaces;
					 * "" when none */
	size_t		 arglen;	/* without trailing spaces/CRLF */
	/* MAIL FROM:<path> / RCPT TO:<path> only: */
	const char	*path;		/* inside the <>, NULL otherwise */
	size_t		 pathlen;
	const char	*params;	/* ESMTP parameters after '>' */
	size_t		 paramslen;
	/* BDAT only: */
	unsigned long long chunk;	/* the chunk's size in octets */
	int		 last;		/* "LAST" given */
};

/* A BDAT size of more digits than this is a syntax error: no chunk
 * that long is real, and the value cannot overflow. */
#define SMTP_CHUNK_DIGITS	18

/*
 * Parse one command line (text without CRLF, as given by
 * smtp_line_next()).  Verbs are case-insensitive.  For MAIL and RCPT the
 * "FROM:" / "TO:" keyword and the <path> are checked (spaces allowed
 * after the colon, as many clients send them).
 * Returns 0 and fills *cmd; -1 on a syntax error (verb known but
 * arguments malformed; cmd->verb is still set) ; an unknown verb is not
 * an error (verb SMTP_V_UNKNOWN, returns 0).
 *
 * One trailing LF or CRLF, if left on, is ignored; any other CR is text.
 * The verb is everything up to the first SP.  For known verbs these are
 * syntax errors: a control character other than HTAB in the arguments;
 * arguments to DATA, RSET, QUIT, STARTTLS; none to HELO, EHLO, VRFY,
 * EXPN, AUTH, ETRN, XCLIENT; for BDAT anything but 1*DIGIT [SP "LAST"]
 * or more than SMTP_CHUNK_DIGITS digits (chunk and last are set then,
 * 0 for other verbs);
 * for MAIL/RCPT a missing keyword, '<' or '>', an unquoted '<' inside
 * the path, or anything but SP after the '>'.  "MAIL FROM:<>" gives
 * path "" (non-NULL), pathlen 0.  For MAIL/RCPT params is "" when there
 * are none; for other verbs path and params are NULL.
 */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd);

/* Name of a verb, upper case ("EHLO"), "UNKNOWN" for SMTP_V_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb);

/*
 * Resumable reply parser.  Feed it reply lines one at a time (text
 * without CRLF); it tracks the code and continuation ("250-") lines and
 * says when the reply is complete.
 */
struct smtp_reply {
	int	code;		/* 3-digit code, e.g. 250 */
	int	lines;		/* lines so far */
	int	complete;	/* last line seen ("250 ") */
	char	enh[16];	/* enhanced status code of the first line
				 * ("2.0.0"), "" when none */
};

void smtp_reply_init(struct smtp_reply *);

/*
 * Returns 1 when this line completed the reply, 0 when more lines
 * follow, -1 on a malformed line (not 3 digits followed by ' ', '-' or
 * end of line; code outside 200..599; code changing between lines of one
 * reply; more than SMTP_REPLY_MAX/4 lines).
 * One trailing LF or CRLF is ignored, as for commands.
 * Feeding a line after a completed reply starts a new reply.  enh is
 * taken from the first line only, and only when its class matches the
 * code's first digit (RFC 2034): "250 2.1.0 Ok" gives "2.1.0", "250 Ok"
 * and "250 5.1.0 x" give "".
 */
int smtp_reply_feed(struct smtp_reply *, const char *line, size_t len);

/*
 * Collect one complete reply from buf[0..len) into r, resuming at *scan
 * (bytes already fed; 0 for a new reply).  room is the free space left
 * in the caller's buffer: a reply that cannot complete in it is an
 * error.  Returns the reply's length (its bytes stay in buf; *scan is
 * reset for the next one), 0 when it is incomplete, -1 when a line is
 * malformed or too long.
 */
long smtp_reply_collect(struct smtp_reply *r, size_t *scan, const char *buf,
    size_t len, size_t room);

/*
 * End-of-data scanner for a message body in transit: finds the
 * <CRLF>.<CRLF> that ends DATA without changing a byte (dot-stuffing is
 * left alone).  Resumable across chunks.
 */
struct smtp_dot {
	int	st;		/* scanner state; smtp_dot_init() */
};

/* The body starts at the beginning of a line. */
void smtp_dot_init(struct smtp_dot *);

/*
 * Scan p[0..n).  Returns the number of bytes up to and including the
 * terminating ".\r\n" when it is in this chunk, or -1 when the body
 * goes on (the state remembers a partial marker).
 */
long smtp_dot_scan(struct smtp_dot *, const char *p, size_t n);

/*
 * Dot-stuffing, for BDAT chunks (RFC 3030: the octets as they are)
 * relayed with DATA to a server without CHUNKING: a '.' that begins a
 * line is doubled, and the end of data is added after the last chunk.
 * The message must use CRLF line ends: a bare CR or LF is refused, for
 * a server that took one for a line end could be made to see an end of
 * data where there is none, and the message could not reach it as it
 * was written.  Resumable across chunks.
 */
struct smtp_stuff {
	int	st;		/* encoder state; smtp_stuff_init() */
};

void smtp_stuff_init(struct smtp_stuff *);

/*
 * Encode in[0..*inlen) into out[0..cap): as many input bytes as fit
 * (each takes at most two output bytes; cap >= 2 always makes
 * progress).  *inlen gets the number of input bytes taken.  Returns
 * the number of output bytes, or -1 at a bare CR or LF (the state is
 * then unspecified).
 */
long smtp_stuff(struct smtp_stuff *, const char *in, size_t *inlen,
    char *out, size_t cap);

/*
 * The end of data after the last chunk: ".\r\n", preceded by a CRLF when
 * the message did not end with one.  out must hold SMTP_STUFF_END_MAX
 * bytes.  Returns the number written, or -1 when the message ended in
 * a bare CR.
 */
#define SMTP_STUFF_END_MAX	5
long smtp_stuff_end(struct smtp_stuff *, char *out);

#endif

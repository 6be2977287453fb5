/*
 * EHLO reply rewriting for the inbound STARTTLS front: pure function.
 */
#ifndef EHLO_H
#define EHLO_H

#include <stddef.h>

#define EHLO_ADD_STARTTLS	0x01	/* advertise STARTTLS */
#define EHLO_DROP_STARTTLS	0x02	/* drop the backend's own STARTTLS */
#define EHLO_DROP_CHUNKING	0x04	/* drop CHUNKING (reserved for later) */

/*
 * Rewrite a complete multi-line EHLO reply in[0..inlen) (lines ending in
 * CRLF or LF, first line "250-host greeting" or "250 host greeting").
 * Keywords are matched case-insensitively on the first word of each
 * line after the first.  The output uses CRLF line ends and correct
 * "250-"/"250 " continuation marks: the last line gets "250 ".
 * STARTTLS, when added, goes last.
 *
 * EHLO_ADD_STARTTLS also drops any STARTTLS of the backend, so that the
 * output has exactly one STARTTLS line, ours; EHLO_DROP_STARTTLS alone
 * leaves none.  EHLO_DROP_CHUNKING drops CHUNKING.  A keyword line is
 * matched on its first word, leading blanks skipped ("250-starttls",
 * "250- STARTTLS" both count); the first line, the greeting, is never
 * a keyword and never dropped.
 *
 * Well-formed means: at least one line, every line ends in LF, starts
 * with "250-" except the last, which starts with "250 ", and holds no
 * control character other than HTAB (a bare CR would reach the client).
 * Returns the output length (no NUL is appended), or -1 if the input is
 * not a well-formed 250 reply or the output does not fit in outcap; out
 * is then unspecified.
 */
long ehlo_rewrite(const char *in, size_t inlen, unsigned flags,
    char *out, size_t outcap);

/*
 * Does the EHLO reply in[0..inlen) advertise keyword kw (e.g.
 * "XCLIENT", "STARTTLS")?  kw is matched case-insensitively against the
 * first word of each line after the first; the scan stops at the first
 * "250 " line or at any line that is not "250-"/"250 " (then the answer
 * is 0).  The last line need not be terminated.
 * Returns 1/0.  When args and argslen are non-NULL they get the text
 * after the keyword, blanks trimmed ((pointer into in, 0) when there is
 * none; (NULL, 0) when kw is not found).
 */
int ehlo_has(const char *in, size_t inlen, const char *kw,
    const char **args, size_t *argslen);

#endif

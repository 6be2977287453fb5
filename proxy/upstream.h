/*
 * The upstream SMTP client engine: one connection to one address of a
 * remote MX host, negotiated as the policy demands (implicit TLS on the
 * smtps port first, STARTTLS, certificate verification against the MX
 * name as published), then a command/reply channel for the owner.
 *
 * The engine does not own policy decisions beyond enforcing the level it
 * is given: it tells its owner "ready", "failed (why)", each reply, and
 * "closed", through callbacks.
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "config.h"
#include "tls.h"

struct upstream;

/* Why an attempt failed before the session was ready. */
enum upstream_fail {
	UP_FAIL_CONNECT,	/* refused, unreachable, timed out */
	UP_FAIL_SMTP,		/* greeting or EHLO refused, garbage */
	UP_FAIL_POLICY		/* TLS required and not achieved, bad
				 * certificate, STARTTLS injection */
};

struct upstream_target {
	const char		*mxhost;	/* as published: SNI and the
						 * name the certificate must
						 * be valid for */
	struct sockaddr_storage	 addr;		/* port ignored */
	enum tls_policy		 level;
	int			 try_smtps;	/* implicit TLS first */
};

struct upstream_ops {
	void	(*ready)(void *arg);
	void	(*failed)(void *arg, enum upstream_fail, int port,
		    const char *reason);
	/* The complete reply (CRLF-terminated lines) to the oldest
	 * command. */
	void	(*reply)(void *arg, int code, const char *text, size_t len);
	/* Body bytes may be queued again. */
	void	(*drained)(void *arg);
	/* The ready session ended (peer closed, error, timeout). */
	void	(*closed)(void *arg, const char *reason);
};

/* What the negotiation established, valid once ready. */
struct upstream_info {
	int		 port;
	const char	*tls;		/* "TLSv1.3" or "none" */
	const char	*cipher;	/* or "none" */
	const char	*verify;	/* "ok", "fail" or "none" */
	const char	*verify_reason;
	int		 resumed;	/* TLS session resumed */
	int		 reused;	/* times it was parked for reuse */
	int		 has_8bitmime, has_size, has_smtputf8;
	int		 has_chunking;	/* BDAT (RFC 3030) */
	unsigned long	 size_max;	/* 0: no limit announced */
};

/*
 * Open a session to target; callbacks go to ops with arg.  helo is the
 * EHLO name, sid the session id for the log.  Returns NULL only when
 * nothing could be started (then no callback is made).
 */
struct upstream *upstream_open(uv_loop_t *, struct tls_client *,
    const struct config *, const struct upstream_target *, const char *helo,
    const char *sid, const struct upstream_ops *, void *arg);

/* Queue one command line (with its CRLF); its reply comes through
 * ops->reply.  0 or -1 (no room, not ready). */
int upstream_command(struct upstream *, const char *line, size_t len);

/* Room for body bytes, and queue them; the reply to the final dot is
 * announced with upstream_expect_reply(). */
size_t upstream_body_room(const struct upstream *);
int upstream_body(struct upstream *, const char *p, size_t n);
void upstream_expect_reply(struct upstream *);

/*
 * The splice path for a plain session.  upstream_body_leg() gives the
 * session's leg when it is ready, plain and has nothing of its own
 * queued, so that body bytes may be written to its socket directly;
 * NULL otherwise.  A writer that finds the socket full clears the leg's
 * wr_ok and calls upstream_body_wait(): ops->drained follows once the
 * socket takes bytes again.
 */
struct leg *upstream_body_leg(struct upstream *);
void upstream_body_wait(struct upstream *);

const struct upstream_info *upstream_info(const struct upstream *);

/* Detach and close; with quit, say QUIT first.  No callback follows. */
void upstream_close(struct upstream *, int quit);

/*
 * Connection reuse.  upstream_reusable(): ready, no reply owed, nothing
 * queued, and within the bounds on age and number of transactions.
 * upstream_attach() hands such a session to a new owner (and session id
 * for the log); upstream_park() bounds how long it may wait unused.
 */
int upstream_reusable(const struct upstream *);
void upstream_attach(struct upstream *, const struct upstream_ops *,
    void *arg, const char *sid);
void upstream_park(struct upstream *, int seconds);

#endif

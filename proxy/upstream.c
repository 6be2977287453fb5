/*
 * Upstream SMTP client engine.
 *
 *   connect -> [implicit TLS handshake] -> greeting -> EHLO
 *     -> [STARTTLS -> handshake -> EHLO] -> ready -> commands/replies
 *
 * For smtps- hosts the smtps port is tried first with implicit TLS; a
 * refusal, a timeout, a failed handshake (a plaintext greeting is one)
 * or a bad certificate falls back to the smtp port with STARTTLS
 * required.  Never plaintext when the level is encrypt or verify.
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "ehlo.h"
#include "leg.h"
#include "session.h"
#include "log.h"
#include "smtp_parse.h"
#include "upstream.h"

#define UP_OUT_SIZE	(64 * 1024)

enum up_state {
	UP_CONNECT, UP_HANDSHAKE, UP_GREETING, UP_EHLO, UP_HELO,
	UP_STARTTLS, UP_READY, UP_DEAD
};

static const char *const up_state_names[] = {
	"connect", "handshake", "greeting", "ehlo", "helo", "starttls",
	"ready", "dead"
};

struct upstream {
	uv_loop_t		*loop;
	struct tls_client	*tls;
	const struct config	*cfg;
	const struct upstream_ops *ops;
	void			*arg;
	struct upstream_target	 t;
	char			 mxhost[256];
	char			 helo[256];
	char			 sid[LOG_ID_LEN + 1];
	enum up_state		 state;
	struct leg		*leg;		/* this connection's; a
						 * fall-back gets a new one */
	uv_timer_t		 timer;
	int			 handles;
	struct buf		 in, out;
	struct smtp_reply	 reply;
	size_t			 reply_scan;
	int			 expect;	/* replies owed to the owner */
	int			 port;
	int			 own_port;	/* our local port, for the
						 * loop check */
	int			 implicit;	/* this connection: TLS first */
	int			 no_starttls;	/* may: TLS failed, plaintext */
	int			 tls_on;
	int			 ehlo_count;
	struct tls_verify	 verify;
	int			 offered;	/* a remembered session */
	int			 offered_verified;
	int			 tls_ok;	/* the handshake met the level:
						 * the session may be reused */
	int			 verified;
	uint64_t		 opened;	/* loop time, ms */
	struct upstream_info	 info;
	char			 tls_version[16];
	char			 cipher[64];
	char			 why[512];
	unsigned		 in_cycle:1, again:1, detached:1, quitting:1;
	unsigned		 body_wait:1;	/* the owner writes the
						 * socket and waits for room */
};

static void	up_cycle(void *);
static int	up_connect(struct upstream *);
static void	up_deadline(struct upstream *, int);

static void
up_enter(struct upstream *u, enum up_state st)
{
	log_debug(u->sid, "dir=out event=upstream-state mx=%s port=%d "
	    "from=%s to=%s", u->mxhost, u->port, up_state_names[u->state],
	    up_state_names[st]);
	u->state = st;
}

static void
up_timer_cb(uv_timer_t *t)
{
	struct upstream *u = t->data;

	snprintf(u->why, sizeof(u->why), "timeout in %s",
	    up_state_names[u->state]);
	if (u->leg == NULL)
		return;
	u->leg->failed = 1;
	u->leg->err = ETIMEDOUT;
	up_cycle(u);
}

static void
up_kick_cb(uv_timer_t *t)
{
	struct upstream *u = t->data;

	up_deadline(u, u->cfg->connect_timeout);
	up_cycle(u);
}

static void
up_deadline(struct upstream *u, int seconds)
{
	uv_timer_start(&u->timer, up_timer_cb, (uint64_t)seconds * 1000, 0);
}

static void
up_handle_closed(uv_handle_t *h)
{
	struct upstream *u;

	if (h->type == UV_POLL) {
		struct leg *l = h->data;
		u = l->owner;
		free(l);
	} else
		u = h->data;
	if (--u->handles > 0)
		return;
	buf_free(&u->in);
	buf_free(&u->out);
	free(u);
}

/* Drop the socket (not the object): for the fall-back to another port. */
/* Close this connection's socket; the leg is freed by its close
 * callback, so a fall-back connection can start at once. */
static void
up_close_leg(struct upstream *u)
{
	struct leg *l = u->leg;

	if (l == NULL)
		return;
	u->leg = NULL;
	/* By now the server's session tickets have arrived. */
	if (l->ssl != NULL && u->tls_ok && !l->failed)
		tls_client_save(u->tls, l->ssl, u->mxhost, (int)u->t.level,
		    u->verified);
	u->tls_ok = 0;
	if (l->ssl != NULL && u->tls_on)
		leg_shutdown(l);
	leg_close(l, up_handle_closed);
}

static void
up_unmark(struct upstream *u)
{
	if (u->own_port != 0) {
		session_out_own_port(u->own_port, 0);
		u->own_port = 0;
	}
}

static void
up_drop_socket(struct upstream *u)
{
	up_unmark(u);
	up_close_leg(u);
	buf_free(&u->in);
	buf_free(&u->out);
	smtp_reply_init(&u->reply);
	u->reply_scan = 0;
	u->tls_on = 0;
}

static void
up_free(struct upstream *u)
{
	if (u->state == UP_DEAD)
		return;
	u->state = UP_DEAD;
	up_unmark(u);
	up_close_leg(u);
	uv_close((uv_handle_t *)&u->timer, up_handle_closed);
}

/* Before ready: the attempt failed; after: the session closed. */
static void
up_fail(struct upstream *u, enum upstream_fail cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
up_fail(struct upstream *u, enum upstream_fail cls, const char *fmt, ...)
{
	va_list	ap;
	char	why[sizeof(u->why)];
	int	was_ready = u->state == UP_READY;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memcpy(u->why, why, sizeof(why));
	up_free(u);
	if (u->detached)
		return;
	if (was_ready)
		u->ops->closed(u->arg, u->why);
	else
		u->ops->failed(u->arg, cls, u->port, u->why);
}

/* A connection that failed, and what is tried next. */
static void
up_log_attempt(struct upstream *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
up_log_attempt(struct upstream *u, const char *fmt, ...)
{
	char	ip[ADDR_TEXT_MAX], next[64], why[sizeof(u->why)];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(next, sizeof(next), fmt, ap);
	va_end(ap);
	log_event(LOG_INFO, u->sid, "dir=out event=attempt mx=%s addr=%s:%d "
	    "result=fail reason=\"%s\" next=%s", u->mxhost,
	    addr_ip((const struct sockaddr *)&u->t.addr, ip, sizeof(ip)),
	    u->port, log_quote(u->why, why, sizeof(why)), next);
}

/*
 * The smtps port did not work out: try the smtp port with STARTTLS
 * required.  Returns 1 if the fall-back started.
 */
static int
up_fallback(struct upstream *u)
{
	if (!u->implicit)
		return 0;
	up_log_attempt(u, "port-%d", u->cfg->remote_smtp_port);
	up_drop_socket(u);
	u->implicit = 0;
	u->port = u->cfg->remote_smtp_port;
	if (up_connect(u) < 0)
		return 0;
	return 1;
}

/*
 * Opportunistic TLS (may) that failed in the handshake: as other MTAs
 * do, deliver to this host in plaintext rather than not at all, on a
 * new connection.  Never for encrypt or verify.  Returns 1 if started.
 */
static int
up_plaintext_retry(struct upstream *u)
{
	if (u->implicit || u->no_starttls || u->t.level != POLICY_MAY)
		return 0;
	up_log_attempt(u, "plaintext");
	up_drop_socket(u);
	u->no_starttls = 1;
	return up_connect(u) == 0;
}

static int
up_connect(struct upstream *u)
{
	struct sockaddr_storage	 ss = u->t.addr;
	socklen_t		 len = addr_len((struct sockaddr *)&ss);
	int			 fd, one = 1;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)u->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)u->port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (u->cfg->outbound_mark != 0) {
		unsigned mark = u->cfg->outbound_mark;
		/* Lets the REDIRECT rule skip our own connections; needs
		 * CAP_NET_ADMIN, which mxgate keeps for this. */
		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark,
		    sizeof(mark)) < 0)
			log_event(LOG_WARN, u->sid, "dir=out event=mark "
			    "error=\"%s\"", strerror(errno));
	}
	if ((u->leg = calloc(1, sizeof(*u->leg))) == NULL) {
		close(fd);
		return -1;
	}
	if (leg_init(u->loop, u->leg, fd, u, up_cycle) < 0) {
		close(fd);
		free(u->leg);
		u->leg = NULL;
		return -1;
	}
	u->handles++;
	buf_init(&u->in, SMTP_REPLY_MAX);
	buf_init(&u->out, UP_OUT_SIZE);
	u->leg->rd_ok = 0;
	u->leg->wr_ok = 0;
	u->state = UP_CONNECT;
	up_deadline(u, u->cfg->connect_timeout);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
	    errno != EINPROGRESS) {
		u->leg->failed = 1;
		u->leg->err = errno;
		u->leg->wr_ok = 1;
	} else {
		struct sockaddr_storage	me;
		socklen_t		mlen = sizeof(me);

		if (getsockname(fd, (struct sockaddr *)&me, &mlen) == 0) {
			u->own_port = ntohs(me.ss_family == AF_INET ?
			    ((struct sockaddr_in *)&me)->sin_port :
			    ((struct sockaddr_in6 *)&me)->sin6_port);
			session_out_own_port(u->own_port, 1);
		}
	}
	return 0;
}

struct upstream *
upstream_open(uv_loop_t *loop, struct tls_client *tls,
    const struct config *cfg, const struct upstream_target *t,
    const char *helo, const char *sid, const struct upstream_ops *ops,
    void *arg)
{
	struct upstream	*u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->loop = loop;
	u->tls = tls;
	u->cfg = cfg;
	u->ops = ops;
	u->arg = arg;
	u->t = *t;
	snprintf(u->mxhost, sizeof(u->mxhost), "%s", t->mxhost);
	u->t.mxhost = u->mxhost;
	snprintf(u->helo, sizeof(u->helo), "%s", helo);
	snprintf(u->sid, sizeof(u->sid), "%s", sid);
	smtp_reply_init(&u->reply);
	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	u->handles = 1;
	u->implicit = t->try_smtps;
	u->port = t->try_smtps ? cfg->remote_smtps_port : cfg->remote_smtp_port;
	u->opened = uv_now(loop);
	if (up_connect(u) < 0) {
		u->state = UP_DEAD;
		uv_close((uv_handle_t *)&u->timer, up_handle_closed);
		return NULL;
	}
	/* An immediate failure is reported through the loop, never from
	 * inside this call, so that callbacks never find the owner
	 * half-way through opening. */
	if (u->leg->failed)
		uv_timer_start(&u->timer, up_kick_cb, 0, 0);
	else
		leg_want(u->leg, 0, 1);
	return u;
}

/* One complete reply from in, or 0 / -1 as session_reply() does. */
static long
up_read_reply(struct upstream *u)
{
	return smtp_reply_collect(&u->reply, &u->reply_scan, buf_data(&u->in),
	    buf_len(&u->in), buf_room(&u->in));
}

static void
up_consume_reply(struct upstream *u, size_t len)
{
	buf_consume(&u->in, len);
	smtp_reply_init(&u->reply);
}

static int
up_send(struct upstream *u, const char *line)
{
	return buf_append(&u->out, line, strlen(line));
}

static void
up_send_ehlo(struct upstream *u)
{
	char	line[300];

	snprintf(line, sizeof(line), "EHLO %s\r\n", u->helo);
	(void)up_send(u, line);
	up_enter(u, UP_EHLO);
}

/* Remember what the EHLO reply offers. */
static void
up_caps(struct upstream *u, const char *r, size_t len)
{
	const char	*args;
	size_t		 alen;

	u->info.has_8bitmime = ehlo_has(r, len, "8BITMIME", NULL, NULL);
	u->info.has_smtputf8 = ehlo_has(r, len, "SMTPUTF8", NULL, NULL);
	u->info.has_chunking = ehlo_has(r, len, "CHUNKING", NULL, NULL);
	u->info.has_size = ehlo_has(r, len, "SIZE", &args, &alen);
	u->info.size_max = 0;
	if (u->info.has_size && args != NULL && alen > 0 && alen < 20) {
		char n[24];
		memcpy(n, args, alen);
		n[alen] = '\0';
		u->info.size_max = strtoul(n, NULL, 10);
	}
}

static void
up_ready(struct upstream *u)
{
	u->info.port = u->port;
	u->info.tls = u->tls_on ? u->tls_version : "none";
	u->info.cipher = u->tls_on ? u->cipher : "none";
	if (!u->tls_on) {
		u->info.verify = "none";
		u->info.verify_reason = "no TLS";
	}
	up_enter(u, UP_READY);
	up_deadline(u, u->cfg->command_timeout);
	if (!u->detached)
		u->ops->ready(u->arg);
}

/* The handshake is done: check the certificate as the policy says. */
static int
up_tls_done(struct upstream *u)
{
	const char	*why;
	int		 ok;

	u->tls_on = 1;
	snprintf(u->tls_version, sizeof(u->tls_version), "%s",
	    tls_version(u->leg->ssl));
	snprintf(u->cipher, sizeof(u->cipher), "%s", tls_cipher(u->leg->ssl));
	if (u->offered && wolfSSL_session_reused(u->leg->ssl)) {
		/* Resumed: no certificate was sent; the session is the one
		 * whose full handshake with this name was checked. */
		u->info.resumed = 1;
		ok = u->offered_verified;
		why = ok ? "ok" : "certificate not valid when first seen";
	} else
		ok = tls_client_verified(u->leg->ssl, &u->verify, &why);
	u->verified = ok;
	u->info.verify = ok ? "ok" : "fail";
	u->info.verify_reason = ok ? "ok" : why;
	if (!ok && u->t.level >= POLICY_VERIFY) {
		snprintf(u->why, sizeof(u->why), "certificate not valid for "
		    "%s: %s", u->mxhost, why);
		return -1;
	}
	u->tls_ok = 1;
	return 0;
}

/* Put TLS on the connection: implicit, or after the 220 to STARTTLS. */
static int
up_start_tls(struct upstream *u)
{
	u->verify.enforce = u->t.level >= POLICY_VERIFY;
	leg_tls_attach(u->leg, tls_client_session(u->tls, u->leg->fd,
	    u->mxhost, &u->verify));
	if (u->leg->ssl == NULL) {
		up_fail(u, UP_FAIL_POLICY, "cannot start TLS");
		return -1;
	}
	u->offered = tls_client_offer(u->tls, u->leg->ssl, u->mxhost,
	    (int)u->t.level, &u->offered_verified);
	u->leg->rd_ok = u->leg->wr_ok = 1;
	up_enter(u, UP_HANDSHAKE);
	up_deadline(u, u->cfg->handshake_timeout);
	return 1;
}

/* A reply arrived in a negotiation state. */
static int
up_negotiate(struct upstream *u, size_t len)
{
	const char	*r = buf_data(&u->in);
	int		 code = u->reply.code;

	switch (u->state) {
	case UP_GREETING:
		up_consume_reply(u, len);
		if (code != 220) {
			up_fail(u, UP_FAIL_SMTP, "greeting %d", code);
			return -1;
		}
		up_send_ehlo(u);
		return 1;
	case UP_EHLO:
		if (code != 250) {
			up_consume_reply(u, len);
			if (u->t.level >= POLICY_ENCRYPT || u->tls_on) {
				up_fail(u, u->tls_on ? UP_FAIL_SMTP :
				    UP_FAIL_POLICY, "EHLO refused (%d), "
				    "so no STARTTLS", code);
				return -1;
			}
			{
				char line[300];
				snprintf(line, sizeof(line), "HELO %s\r\n",
				    u->helo);
				(void)up_send(u, line);
			}
			up_enter(u, UP_HELO);
			return 1;
		}
		up_caps(u, r, len);
		if (u->tls_on || u->t.level == POLICY_NONE || u->no_starttls) {
			up_consume_reply(u, len);
			up_ready(u);
			return 1;
		}
		if (!ehlo_has(r, len, "STARTTLS", NULL, NULL)) {
			up_consume_reply(u, len);
			if (u->t.level >= POLICY_ENCRYPT) {
				up_fail(u, UP_FAIL_POLICY, "TLS required, "
				    "but STARTTLS not offered by %s",
				    u->mxhost);
				return -1;
			}
			up_ready(u);	/* may: plaintext */
			return 1;
		}
		up_consume_reply(u, len);
		(void)up_send(u, "STARTTLS\r\n");
		up_enter(u, UP_STARTTLS);
		return 1;
	case UP_HELO:
		up_consume_reply(u, len);
		if (code != 250) {
			up_fail(u, UP_FAIL_SMTP, "HELO refused (%d)", code);
			return -1;
		}
		up_ready(u);
		return 1;
	case UP_STARTTLS:
		up_consume_reply(u, len);
		if (code != 220) {
			if (u->t.level >= POLICY_ENCRYPT) {
				up_fail(u, UP_FAIL_POLICY, "TLS required, "
				    "but STARTTLS refused by %s (%d)",
				    u->mxhost, code);
				return -1;
			}
			up_ready(u);	/* may: go on in plaintext */
			return 1;
		}
		/*
		 * Anything after the 220 and before the handshake would be
		 * read as if it came over TLS: an on-path attacker's
		 * injected response.  Drop the connection.
		 */
		if (buf_len(&u->in) > 0) {
			up_fail(u, UP_FAIL_POLICY, "response injected after "
			    "STARTTLS by %s (%zu bytes)", u->mxhost,
			    buf_len(&u->in));
			return -1;
		}
		buf_free(&u->in);
		return up_start_tls(u);
	default:
		return 0;
	}
}

/* What the current state does now.  > 0 on progress, 0 idle, -1 gone. */
static int
up_step(struct upstream *u)
{
	ssize_t	n;
	long	len;
	int	r, progress = 0;

	if (u->state == UP_CONNECT) {
		int		err = 0;
		socklen_t	elen = sizeof(err);

		if (!u->leg->failed) {
			if (!u->leg->wr_ok)
				return 0;
			if (getsockopt(u->leg->fd, SOL_SOCKET, SO_ERROR, &err,
			    &elen) < 0)
				err = errno;
		} else
			err = u->leg->err;
		if (err != 0) {
			snprintf(u->why, sizeof(u->why), "connect to port %d: "
			    "%s", u->port, strerror(err));
			if (up_fallback(u))
				return 1;
			up_fail(u, UP_FAIL_CONNECT, "%s", u->why);
			return -1;
		}
		u->leg->rd_ok = u->leg->wr_ok = 1;
		if (u->implicit)
			return up_start_tls(u);
		up_enter(u, UP_GREETING);
		up_deadline(u, u->cfg->command_timeout);
		return 1;
	}
	if (u->state == UP_HANDSHAKE) {
		if (u->leg->failed && u->leg->err == ETIMEDOUT)
			r = LEG_ERR;
		else
			r = leg_connect(u->leg);
		if (r == LEG_AGAIN)
			return 0;
		if (r < 0 || up_tls_done(u) < 0) {
			if (r < 0 && u->verify.failed) {
				const char *why;
				(void)tls_client_verified(u->leg->ssl,
				    &u->verify, &why);
				snprintf(u->why, sizeof(u->why), "TLS handshake "
				    "on port %d failed: certificate not valid "
				    "for %s: %s", u->port, u->mxhost, why);
			} else if (r < 0)
				snprintf(u->why, sizeof(u->why), "TLS handshake "
				    "on port %d failed: %s", u->port,
				    leg_tls_error(u->leg));
			if (up_fallback(u))
				return 1;
			if (up_plaintext_retry(u))
				return 1;
			up_fail(u, UP_FAIL_POLICY, "%s", u->why);
			return -1;
		}
		if (u->implicit) {
			up_enter(u, UP_GREETING);
		} else {
			/* RFC 3207: forget what was said before TLS. */
			up_send_ehlo(u);
		}
		up_deadline(u, u->cfg->command_timeout);
		return 1;
	}

	/* A reply that never came, or a parked session that was not
	 * reused in time. */
	if (u->leg->failed && u->leg->err == ETIMEDOUT)
		goto io_error;
	if ((n = leg_flush(u->leg, &u->out)) < 0)
		goto io_error;
	progress |= n > 0;
	if (n > 0 && !u->detached && buf_room(&u->out) >= UP_OUT_SIZE / 2 &&
	    u->state == UP_READY)
		u->ops->drained(u->arg);
	else if (u->body_wait && u->leg->wr_ok) {
		u->body_wait = 0;
		progress = 1;
		if (!u->detached && u->state == UP_READY)
			u->ops->drained(u->arg);
	}
	if (u->state == UP_DEAD)
		return -1;
	/* Read nothing between our STARTTLS and its reply being handled:
	 * the check for injected bytes needs to see them. */
	if ((n = leg_fill(u->leg, &u->in)) < 0)
		goto io_error;
	progress |= n > 0;
	if (n > 0)
		up_deadline(u, u->cfg->command_timeout);

	while ((len = up_read_reply(u)) > 0) {
		progress = 1;
		if (u->state != UP_READY) {
			if ((r = up_negotiate(u, (size_t)len)) < 0)
				return -1;
			if (u->state == UP_HANDSHAKE)
				return 1;
			continue;
		}
		if (u->expect == 0) {
			/* Unsolicited: a 421 before the server hangs up. */
			up_consume_reply(u, (size_t)len);
			continue;
		}
		u->expect--;
		{
			int code = u->reply.code;
			char text[SMTP_REPLY_MAX];
			size_t tl = (size_t)len < sizeof(text) ? (size_t)len :
			    sizeof(text);
			memcpy(text, buf_data(&u->in), tl);
			up_consume_reply(u, (size_t)len);
			if (!u->detached)
				u->ops->reply(u->arg, code, text, tl);
			if (u->state == UP_DEAD)
				return -1;
		}
	}
	if (len < 0) {
		up_fail(u, UP_FAIL_SMTP, "malformed reply from %s", u->mxhost);
		return -1;
	}
	if (u->leg->eof) {
		if (u->quitting) {
			up_free(u);
			return -1;
		}
		up_fail(u, UP_FAIL_SMTP, "%s closed the connection in %s",
		    u->mxhost, up_state_names[u->state]);
		return -1;
	}
	return progress;

io_error:
	if (u->quitting) {
		up_free(u);
		return -1;
	}
	if (u->leg->err == ETIMEDOUT)
		up_fail(u, UP_FAIL_CONNECT, "%s", u->why);
	else
		up_fail(u, UP_FAIL_SMTP, "connection to %s lost: %s", u->mxhost,
		    u->leg->ssl ? leg_tls_error(u->leg) : strerror(u->leg->err));
	return -1;
}

static void
up_cycle(void *arg)
{
	struct upstream	*u = arg;
	int		 r;

	if (u->in_cycle) {
		u->again = 1;
		return;
	}
	u->in_cycle = 1;
	do {
		u->again = 0;
		r = up_step(u);
	} while ((r > 0 || u->again) && u->state != UP_DEAD);
	u->in_cycle = 0;
	if (u->state == UP_DEAD)
		return;
	switch (u->state) {
	case UP_CONNECT:
		leg_want(u->leg, 0, 1);
		break;
	case UP_HANDSHAKE:
		leg_want(u->leg, !u->leg->rd_ok, !u->leg->wr_ok);
		break;
	default:
		leg_want(u->leg, buf_room(&u->in) > 0,
		    buf_len(&u->out) > 0 || u->body_wait);
		break;
	}
}

int
upstream_command(struct upstream *u, const char *line, size_t len)
{
	if (u->state != UP_READY || buf_append(&u->out, line, len) < 0)
		return -1;
	u->expect++;
	up_deadline(u, u->cfg->command_timeout);
	up_cycle(u);
	return 0;
}

size_t
upstream_body_room(const struct upstream *u)
{
	return u->state == UP_READY ? buf_room(&u->out) : 0;
}

int
upstream_body(struct upstream *u, const char *p, size_t n)
{
	if (u->state != UP_READY || buf_append(&u->out, p, n) < 0)
		return -1;
	up_cycle(u);
	return 0;
}

struct leg *
upstream_body_leg(struct upstream *u)
{
	if (u->state != UP_READY || u->leg->ssl != NULL ||
	    buf_len(&u->out) > 0 || u->leg->failed)
		return NULL;
	return u->leg;
}

void
upstream_body_wait(struct upstream *u)
{
	u->body_wait = 1;
	up_cycle(u);
}

void
upstream_expect_reply(struct upstream *u)
{
	u->expect++;
	up_deadline(u, u->cfg->command_timeout);
}

const struct upstream_info *
upstream_info(const struct upstream *u)
{
	return &u->info;
}

void
upstream_close(struct upstream *u, int quit)
{
	if (u == NULL)
		return;
	u->detached = 1;
	if (u->state == UP_DEAD)
		return;
	if (quit && u->state == UP_READY &&
	    buf_append(&u->out, "QUIT\r\n", 6) == 0) {
		/* One attempt to say goodbye; the reply is not awaited. */
		(void)leg_flush(u->leg, &u->out);
	}
	up_free(u);
}

int
upstream_reusable(const struct upstream *u)
{
	return u->state == UP_READY && !u->detached && u->expect == 0 &&
	    buf_len(&u->out) == 0 && buf_len(&u->in) == 0 &&
	    u->info.reused + 1 < u->cfg->upstream_reuse_count &&
	    uv_now(u->loop) - u->opened <
	    (uint64_t)u->cfg->upstream_reuse_time * 1000;
}

void
upstream_attach(struct upstream *u, const struct upstream_ops *ops,
    void *arg, const char *sid)
{
	u->ops = ops;
	u->arg = arg;
	snprintf(u->sid, sizeof(u->sid), "%s", sid);
	up_deadline(u, u->cfg->command_timeout);
}

void
upstream_park(struct upstream *u, int seconds)
{
	u->info.reused++;	/* one more transaction done on it */
	/* Remember the TLS session now: a parked connection usually ends
	 * by its idle limit, which does not count as a clean close. */
	if (u->leg != NULL && u->leg->ssl != NULL && u->tls_ok)
		tls_client_save(u->tls, u->leg->ssl, u->mxhost, (int)u->t.level,
		    u->verified);
	up_deadline(u, seconds);
}

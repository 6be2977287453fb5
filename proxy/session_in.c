/*
 * Inbound session: mxgate in front of the backend MTA.
 *
 * listen_smtps:    TLS handshake -> connect backend -> relay.
 * listen_starttls: connect backend -> relay its greeting -> command
 *                  mode (EHLO replies rewritten to offer STARTTLS, which
 *                  mxgate performs itself) -> relay from the first
 *                  command that is not part of the negotiation.
 *
 * One state machine, one strategy function (session_cycle) that runs
 * after every event and does whatever can be done now.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "ehlo.h"
#include "leg.h"
#include "log.h"
#include "proxy_proto.h"
#include "relay.h"
#include "session.h"
#include "smtp_parse.h"

#define CMD_BUF_SIZE	(2 * SMTP_CMD_LINE_MAX)
#define REPLY_BUF_SIZE	SMTP_REPLY_MAX
#define RELAY_BUF_SIZE	(64 * 1024)	/* grows to RELAY_BUF_MAX */
#define RELAY_BUF_MAX	(512 * 1024)	/* under bulk transfer */

enum in_state {
	IN_HANDSHAKE,		/* smtps: TLS handshake with the client */
	IN_CONNECT,		/* connecting to the backend */
	IN_XCLIENT_GREETING,	/* XCLIENT: backend's first greeting */
	IN_XCLIENT_EHLO,	/* XCLIENT: our EHLO's reply */
	IN_GREETING,		/* the greeting the client will see */
	IN_COMMAND,		/* waiting for a client command */
	IN_REPLY,		/* waiting for the backend's reply */
	IN_STARTTLS,		/* 220 queued: flush it, then handshake */
	IN_STARTTLS_HANDSHAKE,
	IN_RELAY,
	IN_CLOSING,		/* flushing last words to the client */
	IN_DEAD
};

static const char *const in_state_names[] = {
	"handshake", "connect", "xclient-greeting", "xclient-ehlo",
	"greeting", "command", "reply", "starttls", "starttls-handshake",
	"relay", "closing", "dead"
};

struct session {
	struct worker		*w;
	struct session		*next, *prev;
	char			 id[LOG_ID_LEN + 1];
	enum listener_kind	 kind;
	enum in_state		 state;
	struct leg		 client, backend;
	uv_timer_t		 timer;
	int			 handles;	/* open libuv handles */
	uint64_t		 started;	/* loop time, ms */
	uint64_t		 deadline;	/* phase deadline, ms */
	uint64_t		 timer_due;
	struct sockaddr_storage	 peer, local;
	struct buf		 cin;		/* client bytes, command mode */
	struct buf		 bin;		/* backend bytes, reply mode */
	struct buf		 tob;		/* to the backend */
	struct buf		 toc;		/* to the client */
	struct smtp_reply	 reply;
	size_t			 reply_scan;	/* bytes of bin parsed */
	enum smtp_verb		 pending;	/* verb awaiting its reply */
	struct relay		 relay;
	uint64_t		 bytes_in, bytes_out;	/* command mode */
	const char		*reason;	/* why the session ends */
	char			 detail[160];
	unsigned		 tls_active:1;
	unsigned		 in_cycle:1;
	unsigned		 again:1;
	unsigned		 relaying:1;
};

static void	session_cycle(void *);
static void	session_close(struct session *, const char *reason);
static void	session_fail(struct session *, const char *reason,
		    const char *code, const char *text);

/* Every state change goes through here. */
static void
session_enter(struct session *s, enum in_state st)
{
	log_debug(s->id, "dir=in event=state from=%s to=%s",
	    in_state_names[s->state], in_state_names[st]);
	s->state = st;
}

/* Move the phase deadline.  The timer itself is re-armed at the end of
 * the cycle, and only when it would fire too late, so a busy relay costs
 * no timer work per read. */
static void
session_deadline(struct session *s, int seconds)
{
	s->deadline = uv_now(&s->w->loop) + (uint64_t)seconds * 1000;
}

static void
session_timer_cb(uv_timer_t *t)
{
	struct session	*s = t->data;
	uint64_t	 now = uv_now(&s->w->loop);
	const char	*reason;

	if (now < s->deadline) {
		s->timer_due = s->deadline;
		uv_timer_start(t, session_timer_cb, s->deadline - now, 0);
		return;
	}
	switch (s->state) {
	case IN_HANDSHAKE:
	case IN_STARTTLS:
	case IN_STARTTLS_HANDSHAKE:
		reason = "timeout-handshake";
		break;
	case IN_RELAY:
		reason = "timeout-idle";
		break;
	case IN_CONNECT:
		reason = "backend-unreachable";
		break;
	default:
		reason = "timeout-command";
		break;
	}
	if (s->state == IN_CONNECT) {
		snprintf(s->detail, sizeof(s->detail), "error=\"connect timeout\"");
		session_fail(s, reason, "421 4.3.0",
		    "Service not available, try again later");
		session_cycle(s);
		return;
	}
	if (s->state == IN_COMMAND || s->state == IN_REPLY ||
	    s->state == IN_GREETING) {
		/* Say why before hanging up, as SMTP servers do. */
		char line[300];
		int n = snprintf(line, sizeof(line), "421 4.4.2 %s Timeout, "
		    "closing connection\r\n", s->w->hostname);
		(void)buf_append(&s->toc, line, (size_t)n);
		(void)leg_flush(&s->client, &s->toc);
	}
	session_close(s, reason);
}

/* Arm the timer for the current deadline. */
static void
session_arm(struct session *s)
{
	uint64_t now = uv_now(&s->w->loop);

	if (uv_is_active((uv_handle_t *)&s->timer) &&
	    s->timer_due <= s->deadline)
		return;
	s->timer_due = s->deadline;
	uv_timer_start(&s->timer, session_timer_cb,
	    s->deadline > now ? s->deadline - now : 0, 0);
}

/* Queue our own reply to the client and stop after it is sent. */
static void
session_fail(struct session *s, const char *reason, const char *code,
    const char *text)
{
	char	line[512];
	int	n;

	n = snprintf(line, sizeof(line), "%s %s %s\r\n", code,
	    s->w->hostname, text);
	buf_free(&s->tob);
	if (s->tls_active || s->client.ssl == NULL) {
		if (buf_append(&s->toc, line, (size_t)n) < 0) {
			session_close(s, reason);
			return;
		}
	}
	s->reason = reason;
	session_enter(s, IN_CLOSING);
	session_deadline(s, 10);
}

static void
session_log_tls(struct session *s)
{
	WOLFSSL		*ssl = s->client.ssl;
	const char	*sni = tls_sni(ssl);
	char		 sn[128];

	log_event(LOG_INFO, s->id, "dir=in event=tls version=%s cipher=%s "
	    "sni=%s cert=%s", tls_version(ssl), tls_cipher(ssl),
	    sni != NULL && *sni ? log_safe(sni, strlen(sni), sn, sizeof(sn)) :
	    "-", tls_server_cert_name(s->w->tls, ssl));
}

/* Start a non-blocking connect to the backend. */
static int
session_connect(struct session *s)
{
	const struct config	*cfg = s->w->cfg;
	const struct sockaddr	*sa = (const struct sockaddr *)&cfg->backend.sa;
	int			 fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (leg_init(&s->w->loop, &s->backend, fd, s, session_cycle) < 0) {
		close(fd);
		s->backend.fd = -1;
		return -1;
	}
	s->handles++;
	session_enter(s, IN_CONNECT);
	session_deadline(s, cfg->connect_timeout);
	s->backend.wr_ok = 0;	/* writable = connected (or failed) */
	s->backend.rd_ok = 0;
	if (connect(fd, sa, cfg->backend.len) < 0 && errno != EINPROGRESS) {
		/* Reported as unreachable by the next step. */
		s->backend.failed = 1;
		s->backend.err = errno;
	}
	return 0;
}

/* Tell the backend who the client is: the first bytes it reads. */
static int
session_client_address(struct session *s)
{
	const struct sockaddr	*src = (const struct sockaddr *)&s->peer;
	const struct sockaddr	*dst = (const struct sockaddr *)&s->local;
	char			 hdr[PROXY_V2_MAX + PROXY_V1_MAX];
	long			 n = 0;

	switch (s->w->cfg->backend_client_address) {
	case CLIENT_ADDR_PROXY_V1:
		n = proxy_v1_encode(src, dst, hdr, sizeof(hdr));
		break;
	case CLIENT_ADDR_PROXY_V2:
		n = proxy_v2_encode(src, dst,
		    s->tls_active ? PROXY_V2_TLS : 0,
		    s->tls_active ? tls_version(s->client.ssl) : NULL,
		    hdr, sizeof(hdr));
		break;
	default:
		return 0;	/* XCLIENT later, none never */
	}
	if (n < 0 || buf_append(&s->tob, hdr, (size_t)n) < 0)
		return -1;
	return 0;
}

/*
 * Collect one complete reply from the backend in bin.  Returns its
 * length (the bytes stay in bin), 0 when incomplete, -1 when malformed
 * or too long.
 */
static long
session_reply(struct session *s)
{
	return smtp_reply_collect(&s->reply, &s->reply_scan, buf_data(&s->bin),
	    buf_len(&s->bin), buf_room(&s->bin));
}

static void
session_reply_done(struct session *s, size_t len)
{
	buf_consume(&s->bin, len);
	smtp_reply_init(&s->reply);
}

/* Forward n bytes of bin to the client unchanged. */
static int
session_pass_reply(struct session *s, size_t n)
{
	if (buf_append(&s->toc, buf_data(&s->bin), n) < 0)
		return -1;
	s->bytes_out += n;
	session_reply_done(s, n);
	return 0;
}

/* Hand the session to the relay: no SMTP code runs after this. */
static void
session_start_relay(struct session *s)
{
	/* Whatever is still buffered in command mode goes first. */
	if (buf_len(&s->cin) > 0) {
		if (buf_append(&s->tob, buf_data(&s->cin), buf_len(&s->cin)) < 0) {
			session_fail(s, "client-error", "421 4.3.0",
			    "Internal buffer overflow");
			return;
		}
		s->bytes_in += buf_len(&s->cin);
	}
	if (buf_len(&s->bin) > 0) {
		if (buf_append(&s->toc, buf_data(&s->bin), buf_len(&s->bin)) < 0) {
			session_fail(s, "backend-error", "421 4.3.0",
			    "Internal buffer overflow");
			return;
		}
		s->bytes_out += buf_len(&s->bin);
	}
	buf_free(&s->cin);
	buf_free(&s->bin);
	/* The relay buffers are larger than the command-mode ones (and
	 * may hold bytes already). */
	if (buf_resize(&s->tob, RELAY_BUF_SIZE, RELAY_BUF_MAX) < 0 ||
	    buf_resize(&s->toc, RELAY_BUF_SIZE, RELAY_BUF_MAX) < 0) {
		session_fail(s, "internal-error", "421 4.3.0",
		    "Out of memory");
		return;
	}
	relay_init(&s->relay, &s->client, &s->backend, &s->tob, &s->toc,
	    s->w->cfg->relay_splice);
	s->relaying = 1;
	session_enter(s, IN_RELAY);
	session_deadline(s, s->w->cfg->idle_timeout);
}

static int
session_append_line(struct buf *b, const char *line)
{
	return buf_append(b, line, strlen(line));
}

/* One client command in STARTTLS command mode.  Returns 1 if it made
 * progress, 0 if it needs more input. */
static int
session_command(struct session *s)
{
	struct smtp_cmd	 cmd;
	size_t		 textlen;
	long		 n;

	n = smtp_line_next(buf_data(&s->cin), buf_len(&s->cin),
	    SMTP_CMD_LINE_MAX, &textlen);
	if (n < 0) {
		session_fail(s, "line-too-long", "500 5.5.2",
		    "Line too long");
		return 1;
	}
	if (n == 0) {
		if (s->client.eof)
			session_close(s, "done");
		return 0;
	}
	(void)smtp_cmd_parse(buf_data(&s->cin), textlen, &cmd);
	log_debug(s->id, "dir=in event=command verb=%s",
	    smtp_verb_name(cmd.verb));

	switch (cmd.verb) {
	case SMTP_V_STARTTLS:
		if (s->tls_active) {
			buf_consume(&s->cin, (size_t)n);
			return session_append_line(&s->toc,
			    "503 5.5.1 TLS already active\r\n") < 0 ? -1 : 1;
		}
		if (cmd.arglen > 0) {
			buf_consume(&s->cin, (size_t)n);
			return session_append_line(&s->toc,
			    "501 5.5.4 Syntax: STARTTLS\r\n") < 0 ? -1 : 1;
		}
		/*
		 * Anything the client sent after STARTTLS and before the
		 * handshake would be read as if it came over TLS: a
		 * man-in-the-middle could prepend plaintext commands
		 * (CVE-2011-0411).  Refuse the whole connection.
		 */
		if (buf_len(&s->cin) > (size_t)n) {
			snprintf(s->detail, sizeof(s->detail),
			    "pipelined=%zu", buf_len(&s->cin) - (size_t)n);
			session_close(s, "starttls-injection");
			return 1;
		}
		buf_consume(&s->cin, (size_t)n);
		buf_free(&s->cin);
		if (session_append_line(&s->toc,
		    "220 2.0.0 Ready to start TLS\r\n") < 0)
			return -1;
		session_enter(s, IN_STARTTLS);
		session_deadline(s, s->w->cfg->handshake_timeout);
		return 1;
	case SMTP_V_EHLO:
	case SMTP_V_HELO:
	case SMTP_V_NOOP:
	case SMTP_V_RSET:
	case SMTP_V_HELP:
		/* Part of the negotiation: one at a time, so that each
		 * reply can be examined. */
		if (buf_append(&s->tob, buf_data(&s->cin), (size_t)n) < 0)
			return -1;
		s->bytes_in += (size_t)n;
		buf_consume(&s->cin, (size_t)n);
		s->pending = cmd.verb;
		smtp_reply_init(&s->reply);
		session_enter(s, IN_REPLY);
		return 1;
	default:
		/* The session proper (MAIL, AUTH, QUIT, ...): from here on
		 * mxgate only relays, and this line goes first. */
		session_start_relay(s);
		return 1;
	}
}

/* The backend's reply to a negotiation command. */
static int
session_got_reply(struct session *s, size_t len)
{
	char		 out[REPLY_BUF_SIZE + 64];
	long		 n;
	unsigned	 flags;

	if (s->pending != SMTP_V_EHLO || s->reply.code != 250)
		return session_pass_reply(s, len);
	/* Offer STARTTLS until TLS is on; never pass on the backend's
	 * own STARTTLS, which is not ours to offer. */
	flags = EHLO_DROP_STARTTLS | (s->tls_active ? 0 : EHLO_ADD_STARTTLS);
	n = ehlo_rewrite(buf_data(&s->bin), len, flags, out, sizeof(out));
	if (n < 0 || buf_append(&s->toc, out, (size_t)n) < 0)
		return -1;
	s->bytes_out += (size_t)n;
	session_reply_done(s, len);
	return 0;
}

/* A complete backend reply of len bytes sits in bin: act on it. */
static int
session_reply_step(struct session *s, size_t len)
{
	const struct config	*cfg = s->w->cfg;
	char			 line[PROXY_V1_MAX + 512];
	long			 n;
	int			 code;

	switch (s->state) {
	case IN_XCLIENT_GREETING:
		if (s->reply.code != 220)
			goto refused;
		session_reply_done(s, len);
		n = snprintf(line, sizeof(line), "EHLO %s\r\n", s->w->hostname);
		if (buf_append(&s->tob, line, (size_t)n) < 0)
			return -1;
		session_enter(s, IN_XCLIENT_EHLO);
		return 1;
	case IN_XCLIENT_EHLO:
		if (s->reply.code != 250 || !ehlo_has(buf_data(&s->bin), len,
		    "XCLIENT", NULL, NULL)) {
			snprintf(s->detail, sizeof(s->detail),
			    "error=\"backend does not offer XCLIENT\"");
			goto refused_logged;
		}
		session_reply_done(s, len);
		n = xclient_encode((const struct sockaddr *)&s->peer, NULL,
		    line, sizeof(line));
		if (n < 0 || buf_append(&s->tob, line, (size_t)n) < 0)
			return -1;
		/* The backend answers XCLIENT with a fresh greeting, which
		 * is the one the client sees. */
		session_enter(s, IN_GREETING);
		return 1;
	case IN_GREETING:
		code = s->reply.code;
		if (session_pass_reply(s, len) < 0)
			return -1;
		if (s->kind == LISTEN_SMTPS || code != 220)
			session_start_relay(s);
		else {
			smtp_reply_init(&s->reply);
			session_enter(s, IN_COMMAND);
			session_deadline(s, cfg->command_timeout);
		}
		return 1;
	case IN_REPLY:
		if (session_got_reply(s, len) < 0) {
			snprintf(s->detail, sizeof(s->detail),
			    "error=\"EHLO reply too large\"");
			session_fail(s, "backend-error", "421 4.3.0",
			    "Service not available, try again later");
			return 1;
		}
		session_enter(s, IN_COMMAND);
		session_deadline(s, cfg->command_timeout);
		return 1;
	default:
		return 0;
	}
refused:
	snprintf(s->detail, sizeof(s->detail), "error=\"backend replied %d\"",
	    s->reply.code);
refused_logged:
	session_fail(s, "backend-error", "421 4.3.0",
	    "Service not available, try again later");
	/* Leave the backend politely: it did nothing wrong. */
	(void)session_append_line(&s->tob, "QUIT\r\n");
	return 1;
}

/* Move line-mode bytes: client -> cin, backend -> bin, queues out. */
static int
session_io(struct session *s, int read_client)
{
	int	progress = 0;
	ssize_t	n;

	if ((n = leg_flush(&s->client, &s->toc)) < 0)
		return -1;
	progress |= n > 0;
	if (s->state != IN_CONNECT) {
		if ((n = leg_flush(&s->backend, &s->tob)) < 0)
			return -2;
		progress |= n > 0;
		if ((n = leg_fill(&s->backend, &s->bin)) < 0)
			return -2;
		progress |= n > 0;
	}
	if (read_client) {
		if ((n = leg_fill(&s->client, &s->cin)) < 0)
			return -1;
		progress |= n > 0;
	}
	return progress;
}

/* What the current state does now.  Returns > 0 on progress. */
static int
session_step(struct session *s)
{
	const struct config	*cfg = s->w->cfg;
	int			 r, io;
	long			 len;

	switch (s->state) {
	case IN_HANDSHAKE:
	case IN_STARTTLS_HANDSHAKE:
		r = leg_accept(&s->client);
		if (r == LEG_AGAIN)
			return 0;
		if (r < 0) {
			snprintf(s->detail, sizeof(s->detail), "error=\"%s\"",
			    leg_tls_error(&s->client));
			session_close(s, "tls-handshake-failed");
			return 1;
		}
		s->tls_active = 1;
		session_log_tls(s);
		if (s->state == IN_STARTTLS_HANDSHAKE) {
			/* The client starts over with EHLO, in TLS. */
			session_enter(s, IN_COMMAND);
			session_deadline(s, cfg->command_timeout);
			return 1;
		}
		if (session_connect(s) < 0) {
			session_fail(s, "backend-unreachable", "421 4.3.0",
			    "Service not available, try again later");
			return 1;
		}
		return 1;

	case IN_CONNECT: {
		int		err = 0;
		socklen_t	elen = sizeof(err);
		char		ab[ADDR_TEXT_MAX];

		if (!s->backend.failed) {
			if (!s->backend.wr_ok)
				return 0;
			if (getsockopt(s->backend.fd, SOL_SOCKET, SO_ERROR,
			    &err, &elen) < 0)
				err = errno;
		} else
			err = s->backend.err;
		if (err != 0) {
			snprintf(s->detail, sizeof(s->detail),
			    "backend=%s error=\"%s\"",
			    addr_fmt((const void *)&cfg->backend.sa, ab,
			    sizeof(ab)), strerror(err));
			session_fail(s, "backend-unreachable", "421 4.3.0",
			    "Service not available, try again later");
			return 1;
		}
		s->backend.rd_ok = 1;
		log_event(LOG_INFO, s->id, "dir=in event=backend backend=%s "
		    "client_address=%s", cfg->backend.text,
		    config_client_addr_name(cfg->backend_client_address));
		if (session_client_address(s) < 0) {
			session_fail(s, "backend-error", "421 4.3.0",
			    "Internal error");
			return 1;
		}
		smtp_reply_init(&s->reply);
		if (cfg->backend_client_address == CLIENT_ADDR_XCLIENT)
			session_enter(s, IN_XCLIENT_GREETING);
		else if (s->kind == LISTEN_SMTPS) {
			session_start_relay(s);
			return 1;
		} else
			session_enter(s, IN_GREETING);
		session_deadline(s, cfg->command_timeout);
		return 1;
	}

	case IN_XCLIENT_GREETING:
	case IN_XCLIENT_EHLO:
	case IN_GREETING:
	case IN_REPLY:
		io = session_io(s, s->state == IN_REPLY);
		if (io < 0)
			goto io_error;
		if ((len = session_reply(s)) < 0) {
			snprintf(s->detail, sizeof(s->detail),
			    "error=\"malformed reply\"");
			session_fail(s, "backend-error", "421 4.3.0",
			    "Service not available, try again later");
			return 1;
		}
		if (len == 0) {
			if (s->backend.eof) {
				snprintf(s->detail, sizeof(s->detail),
				    "error=\"backend closed\"");
				session_fail(s, "backend-error", "421 4.3.0",
				    "Service not available, try again later");
				return 1;
			}
			return io;
		}
		return session_reply_step(s, (size_t)len);

	case IN_COMMAND:
		io = session_io(s, 1);
		if (io < 0)
			goto io_error;
		if (s->state != IN_COMMAND)
			return 1;
		if (buf_len(&s->bin) > 0) {
			/* Unsolicited: a 421 before the backend hangs up. */
			if (session_pass_reply(s, buf_len(&s->bin)) < 0)
				return -1;
			io = 1;
		}
		if (s->backend.eof) {
			(void)leg_flush(&s->client, &s->toc);
			session_close(s, "done");
			return 1;
		}
		r = session_command(s);
		if (r < 0) {
			session_fail(s, "client-error", "421 4.3.0",
			    "Internal error");
			return 1;
		}
		return io | r;

	case IN_STARTTLS:
		io = session_io(s, 0);
		if (io < 0)
			goto io_error;
		if (buf_len(&s->toc) > 0)
			return io;
		/* The 220 is out; from here the client speaks TLS. */
		leg_tls_attach(&s->client, tls_server_session(s->w->tls,
		    s->client.fd));
		if (s->client.ssl == NULL) {
			session_close(s, "tls-handshake-failed");
			return 1;
		}
		s->client.rd_ok = s->client.wr_ok = 1;
		session_enter(s, IN_STARTTLS_HANDSHAKE);
		return 1;

	case IN_RELAY:
		r = relay_step(&s->relay);
		if (r == RELAY_DONE) {
			session_close(s, "done");
			return 1;
		}
		if (r == RELAY_ERR) {
			if (s->client.failed) {
				snprintf(s->detail, sizeof(s->detail),
				    "error=\"%s\"", leg_tls_error(&s->client));
				session_close(s, "client-error");
			} else {
				snprintf(s->detail, sizeof(s->detail),
				    "error=\"%s\"", strerror(s->backend.err));
				session_close(s, "backend-error");
			}
			return 1;
		}
		if (r == RELAY_PROGRESS)
			session_deadline(s, cfg->idle_timeout);
		return r;

	case IN_CLOSING:
		if (buf_len(&s->tob) > 0 && s->backend.active &&
		    !s->backend.failed)
			(void)leg_flush(&s->backend, &s->tob);
		r = (int)leg_flush(&s->client, &s->toc);
		if (r < 0 || buf_len(&s->toc) == 0) {
			session_close(s, s->reason);
			return 1;
		}
		return r > 0;

	case IN_DEAD:
		return 0;
	}
	return 0;

io_error:
	if (io == -1) {
		snprintf(s->detail, sizeof(s->detail), "error=\"%s\"",
		    leg_tls_error(&s->client));
		session_close(s, "client-error");
	} else {
		snprintf(s->detail, sizeof(s->detail), "error=\"%s\"",
		    strerror(s->backend.err));
		session_fail(s, "backend-error", "421 4.3.0",
		    "Service not available, try again later");
	}
	return 1;
}

/* Which readiness the current state waits for. */
static void
session_want(struct session *s)
{
	int	toc = buf_len(&s->toc) > 0, tob = buf_len(&s->tob) > 0;

	switch (s->state) {
	case IN_HANDSHAKE:
	case IN_STARTTLS_HANDSHAKE:
		/* The handshake told the leg which way it is blocked. */
		leg_want(&s->client, !s->client.rd_ok, !s->client.wr_ok);
		break;
	case IN_CONNECT:
		leg_want(&s->client, 0, toc);
		leg_want(&s->backend, 0, 1);
		break;
	case IN_RELAY:
		relay_want(&s->relay);
		break;
	case IN_STARTTLS:
	case IN_CLOSING:
		leg_want(&s->client, 0, toc);
		if (s->backend.active)
			leg_want(&s->backend, 0, 0);
		break;
	default:
		/* Command mode: read both sides (bounded by the buffers),
		 * write what is queued.  The client is not read while a
		 * full command waits for its turn. */
		leg_want(&s->client, s->state != IN_STARTTLS &&
		    buf_room(&s->cin) > 0, toc);
		leg_want(&s->backend, buf_room(&s->bin) > 0, tob);
		break;
	}
}

/* The strategy function: after any event, do all that can be done. */
static void
session_cycle(void *arg)
{
	struct session	*s = arg;
	int		 r;

	if (s->in_cycle) {
		s->again = 1;
		return;
	}
	s->in_cycle = 1;
	do {
		s->again = 0;
		r = session_step(s);
		if (r < 0)
			session_fail(s, "client-error", "421 4.3.0",
			    "Internal error");
	} while ((r != 0 || s->again) && s->state != IN_DEAD);
	s->in_cycle = 0;
	if (s->state == IN_DEAD)
		return;
	session_want(s);
	session_arm(s);
}

static void
session_handle_closed(uv_handle_t *h)
{
	struct session *s = h->data;

	if (h->type == UV_POLL)
		s = ((struct leg *)h->data)->owner;
	if (--s->handles > 0)
		return;
	buf_free(&s->cin);
	buf_free(&s->bin);
	buf_free(&s->tob);
	buf_free(&s->toc);
	worker_session_gone(s->w);
	free(s);
}

/* Log the end and release everything; memory goes in the last close
 * callback. */
static void
session_close(struct session *s, const char *reason)
{
	struct worker	*w = s->w;
	uint64_t	 in = s->bytes_in, out = s->bytes_out;

	if (s->state == IN_DEAD)
		return;
	if (s->relaying) {
		in += s->relay.c2s.bytes;
		out += s->relay.s2c.bytes;
		relay_free(&s->relay);
	}
	log_event(LOG_INFO, s->id, "dir=in event=close reason=%s relay=%s "
	    "bytes_in=%llu bytes_out=%llu duration_ms=%llu%s%s", reason,
	    !s->relaying ? "none" : s->relay.splice ? "splice" :
	    s->client.ssl != NULL ? "tls" : "copy",
	    (unsigned long long)in, (unsigned long long)out,
	    (unsigned long long)(uv_now(&w->loop) - s->started),
	    s->detail[0] ? " " : "", s->detail);
	s->state = IN_DEAD;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;

	if (s->client.ssl != NULL && s->tls_active)
		leg_shutdown(&s->client);
	leg_close(&s->client, session_handle_closed);
	if (s->backend.active || s->backend.fd >= 0)
		leg_close(&s->backend, session_handle_closed);
	uv_close((uv_handle_t *)&s->timer, session_handle_closed);
}

void
session_close_all(struct worker *w)
{
	while (w->sessions != NULL)
		session_close(w->sessions, "shutdown");
}

void
session_in_start(struct worker *w, struct listener *l, int fd,
    const struct sockaddr *peer, socklen_t peerlen)
{
	const struct config	*cfg = w->cfg;
	struct session		*s;
	socklen_t		 len = sizeof(s->local);
	char			 pa[ADDR_TEXT_MAX], la[ADDR_TEXT_MAX];
	int			 one = 1;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_event(LOG_ERROR, "-", "event=accept error=\"out of memory\"");
		close(fd);
		worker_session_gone(w);
		return;
	}
	s->w = w;
	s->kind = l->kind;
	s->backend.fd = -1;
	log_new_id(s->id);
	memcpy(&s->peer, peer, peerlen);
	if (getsockname(fd, (struct sockaddr *)&s->local, &len) < 0)
		memset(&s->local, 0, sizeof(s->local));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	buf_init(&s->cin, CMD_BUF_SIZE);
	buf_init(&s->bin, REPLY_BUF_SIZE);
	buf_init(&s->tob, REPLY_BUF_SIZE);
	buf_init(&s->toc, REPLY_BUF_SIZE);
	smtp_reply_init(&s->reply);
	s->started = uv_now(&w->loop);

	if (leg_init(&w->loop, &s->client, fd, s, session_cycle) < 0) {
		close(fd);
		free(s);
		worker_session_gone(w);
		return;
	}
	s->handles = 1;
	uv_timer_init(&w->loop, &s->timer);
	s->timer.data = s;
	s->handles++;

	s->next = w->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	w->sessions = s;

	log_event(LOG_INFO, s->id, "dir=in event=accept listener=%s "
	    "client=%s local=%s", l->kind == LISTEN_SMTPS ? "smtps" :
	    "starttls", addr_fmt(peer, pa, sizeof(pa)),
	    addr_fmt((struct sockaddr *)&s->local, la, sizeof(la)));

	if (l->kind == LISTEN_SMTPS) {
		leg_tls_attach(&s->client, tls_server_session(w->tls, fd));
		if (s->client.ssl == NULL) {
			session_close(s, "tls-handshake-failed");
			return;
		}
		s->state = IN_HANDSHAKE;
		session_deadline(s, cfg->handshake_timeout);
	} else if (session_connect(s) < 0) {
		session_fail(s, "backend-unreachable", "421 4.3.0",
		    "Service not available, try again later");
	}
	session_cycle(s);
}

/*
 * Outbound session: the MTA's port-25 connection (redirected, or sent
 * to mxgate as its smarthost).
 *
 * mxgate speaks SMTP to the MTA itself and owns the upstream session:
 * at the first RCPT the recipient domain is known, its MX set resolved,
 * the policy derived, and the upstream session opened as the policy
 * demands.  Replies are end to end: the MTA gets 250 for a message only
 * when the remote MX said 250 for it.
 *
 * Commands are handled one at a time, in order, which honours
 * PIPELINING: the next command is not looked at before the reply to
 * the previous one is queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "leg.h"
#include "log.h"
#include "policy.h"
#include "resolve.h"
#include "session.h"
#include "smtp_parse.h"
#include "upstream.h"

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * which clash with the C library's <netinet/in.h>. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST		80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST	80
#endif
#define OUT_REPLY_BUF	SMTP_REPLY_MAX
#define OUT_BODY_BUF	(64 * 1024)
/* The splice path moves a body in chunks of up to this (the default
 * pipe-max-size): the kernel's cost per chunk (an ACK round on the MTA's
 * connection, a transmit burst to the MX) is what dominates, not the
 * copy that the peek makes. */
#define OUT_PIPE_SIZE	(1024 * 1024)
#define OUT_ATTEMPTS	(MX_HOSTS_MAX * MX_ADDRS_MAX + 1)

enum out_state {
	OUT_COMMAND,		/* waiting for an MTA command */
	OUT_RESOLVE,		/* MX lookup for the first RCPT */
	OUT_CONNECT,		/* an upstream attempt is negotiating */
	OUT_REUSE,		/* RSET on a cached session before reuse */
	OUT_MAIL,		/* MAIL replayed upstream */
	OUT_RCPT,		/* RCPT sent upstream */
	OUT_DATA,		/* DATA sent upstream, waiting for 354 */
	OUT_BODY,		/* relaying the message body */
	OUT_DOT,		/* body sent, waiting for the verdict */
	OUT_CHUNK_DATA,		/* BDAT as DATA: waiting for 354 */
	OUT_CHUNK,		/* relaying (or dropping) a BDAT chunk */
	OUT_CHUNK_REPLY,	/* chunk sent, waiting for the MX's reply */
	OUT_RSET,		/* RSET sent upstream */
	OUT_CLOSING,		/* flushing the last reply */
	OUT_DEAD
};

static const char *const out_state_names[] = {
	"command", "resolve", "connect", "reuse", "mail", "rcpt", "data", "body",
	"dot", "chunk-data", "chunk", "chunk-reply", "rset", "closing", "dead"
};

/* How the chunk in hand goes on. */
enum chunk_how {
	CH_PASS,		/* as BDAT, to an MX with CHUNKING */
	CH_STUFF,		/* dot-stuffed, inside DATA */
	CH_DISCARD		/* read and dropped; chunk_reply follows */
};

/* How this transaction's BDAT chunks reach the MX. */
enum { BDAT_NONE, BDAT_PASS, BDAT_STUFF };

/* One place to connect to: an MX host's address, and its policy. */
struct attempt {
	int			host;		/* index into set.host */
	struct sockaddr_storage	addr;
};

struct out_session {
	struct worker		*w;
	struct out_session	*next, *prev;	/* the worker's list */
	char			 id[LOG_ID_LEN + 1];
	enum out_state		 state;
	struct leg		 mta;
	uv_timer_t		 timer;
	int			 handles;
	uint64_t		 started;
	struct sockaddr_storage	 peer, orig;
	int			 have_orig;
	struct buf		 cin, toc;
	char			 helo[256];
	unsigned		 in_cycle:1, again:1, quit:1;

	/* the transaction */
	int			 have_mail;
	char			 mail_path[SMTP_CMD_LINE_MAX];
	size_t			 mail_pathlen;
	char			 mail_line[SMTP_CMD_LINE_MAX + 64];
	size_t			 mail_len;
	int			 mail_8bit;	/* BODY=8BITMIME */
	unsigned long		 mail_size;	/* SIZE=, 0 when absent */
	int			 mail_sent;	/* replayed upstream */
	char			 domain[DNS_NAME_MAX + 1];
	int			 nrcpt;		/* accepted by the MX */
	char			 rcpt_line[SMTP_CMD_LINE_MAX + 8];
	size_t			 rcpt_len;
	char			 fail_reply[700];	/* every further RCPT of
						 * this domain gets it */
	struct smtp_dot		 dot;
	int			 body_lost;	/* upstream gone mid-body */
	int			 body_end;	/* the end of data is read */
	uint64_t		 body_bytes;
	uint64_t		 body_spliced;	/* of body_bytes */

	/* CHUNKING (RFC 3030): the BDAT in hand */
	int			 bdat;		/* BDAT_*, per transaction */
	enum chunk_how		 chunk_how;
	uint64_t		 chunk_size, chunk_left;
	int			 chunk_last;
	char			 chunk_reply[700];
	struct smtp_stuff	 stuff;

	/* the splice path for plain-to-plain bodies */
	int			 pipe[2];	/* -1 until first used */
	size_t			 pipe_size;
	size_t			 inpipe;	/* bytes in the pipe */
	int			 no_splice;	/* the kernel refused */

	/* resolution and attempts */
	struct resolve_req	*req;
	struct mx_set		*set;
	struct attempt		 att[OUT_ATTEMPTS];
	int			 n_att, cur_att;
	struct policy_result	 pol;		/* of the current attempt */
	char			 first_fail[600];
	char			 fail_mx[DNS_NAME_MAX + 1];
	struct policy_result	 fail_pol;
	int			 fail_policy;	/* a policy failure seen */

	/* the upstream session, kept across transactions to one domain */
	struct upstream		*up;
	char			 up_domain[DNS_NAME_MAX + 1];
	char			 up_mx[DNS_NAME_MAX + 1];
	char			 up_addr[ADDR_TEXT_MAX];
	char			 up_helo[256];	/* the EHLO name it used */
	struct policy_result	 up_pol;
	int			 up_secure;
	int			 up_dirty;	/* a transaction is open */
	int			 up_in_data;	/* the MX reads message octets
						 * (after DATA or BDAT): no
						 * command can be said */
};

static void	out_cycle(void *);
static void	out_close(struct out_session *, const char *reason);
static void	out_next_attempt(struct out_session *);
static void	out_replay(struct out_session *);
static void	out_chunk_refused(struct out_session *, int code,
		    const char *text, size_t n);
static void	out_chunk_lost(struct out_session *, const char *why);
static void	out_bdat(struct out_session *, const struct smtp_cmd *);
static void	out_pipe_close(struct out_session *);
static void	out_up_abandon(struct out_session *);
static struct leg *out_chunk_leg(struct out_session *);
static int	out_chunk(struct out_session *);

/*
 * Queue a command upstream.  The upstream engine may find the session
 * dead while sending it and call out_up_closed() at once, so callers
 * enter the state that waits for the reply first: that is the state the
 * loss is handled in.  -1: the line could not be queued (the session is
 * still there); 1: the session closed meanwhile, and the loss has been
 * handled; 0: on its way.
 */
static int
out_up_send(struct out_session *s, const char *line, size_t len)
{
	struct upstream	*u = s->up;

	if (upstream_command(u, line, len) < 0)
		return -1;
	return s->up != u;
}

static void
out_enter(struct out_session *s, enum out_state st)
{
	log_debug(s->id, "dir=out event=state from=%s to=%s",
	    out_state_names[s->state], out_state_names[st]);
	s->state = st;
}

/* Queue a reply to the MTA (text without CRLF). */
static void
out_reply(struct out_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out_reply(struct out_session *s, const char *fmt, ...)
{
	char	line[1024];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	(void)buf_append(&s->toc, line, (size_t)n);
}

static void
out_timer_cb(uv_timer_t *t)
{
	struct out_session *s = t->data;

	out_reply(s, "421 4.4.2 %s Timeout, closing connection",
	    s->w->hostname);
	(void)leg_flush(&s->mta, &s->toc);
	out_close(s, "timeout-command");
}

static void
out_deadline(struct out_session *s)
{
	uv_timer_start(&s->timer, out_timer_cb,
	    (uint64_t)s->w->cfg->command_timeout * 1000, 0);
}

static void
out_reset_txn(struct out_session *s)
{
	s->have_mail = 0;
	s->mail_sent = 0;
	s->mail_len = 0;
	s->mail_8bit = 0;
	s->mail_size = 0;
	s->domain[0] = '\0';
	s->nrcpt = 0;
	s->fail_reply[0] = '\0';
	s->body_lost = 0;
	s->body_end = 0;
	s->body_bytes = 0;
	s->body_spliced = 0;
	s->bdat = BDAT_NONE;
}

static const char *
out_level_name(enum tls_policy p)
{
	return config_policy_name(p);
}

/* The one line per delivery decision (SPEC §6). */
static void
out_log_delivery(struct out_session *s, const char *result,
    const char *reason)
{
	const struct upstream_info *ui = s->up ? upstream_info(s->up) : NULL;
	char	rs[400];

	log_event(LOG_INFO, s->id, "dir=out event=delivery domain=%s mx=%s "
	    "prefix=%s policy=%s port=%d tls=%s cipher=%s verify=%s "
	    "dnssec=%s result=%s%s%s%s rcpts=%d bytes=%llu relay=%s body=%s",
	    s->domain[0] ? s->domain : "-",
	    s->up_mx[0] ? s->up_mx : "-", policy_prefix_name(s->up_pol.prefix),
	    out_level_name(s->up_pol.level), ui ? ui->port : 0,
	    ui && ui->tls ? ui->tls : "none",
	    ui && ui->cipher ? ui->cipher : "none",
	    ui && ui->verify ? ui->verify : "none",
	    s->up_secure ? "secure" : "insecure", result,
	    reason ? " reason=\"" : "",
	    reason ? log_quote(reason, rs, sizeof(rs)) : "",
	    reason ? "\"" : "", s->nrcpt, (unsigned long long)s->body_bytes,
	    s->body_spliced == 0 ? "copy" : s->body_spliced == s->body_bytes ?
	    "splice" : "splice+copy", s->bdat == BDAT_PASS ? "bdat" :
	    s->bdat == BDAT_STUFF ? "bdat-as-data" : "data");
}

/* ---------------------------------------------------------------- upstream callbacks */

/* An upstream session is ready for this transaction: new or reused. */
static void
out_log_upstream(struct out_session *s, int reused)
{
	const struct upstream_info *ui = upstream_info(s->up);

	log_event(LOG_INFO, s->id, "dir=out event=upstream mx=%s addr=%s "
	    "port=%d tls=%s cipher=%s verify=%s resumed=%s reused=%d "
	    "policy=%s prefix=%s source=%s", s->up_mx, s->up_addr, ui->port,
	    ui->tls, ui->cipher, ui->verify, ui->resumed ? "yes" : "no",
	    reused ? ui->reused : 0, out_level_name(s->up_pol.level),
	    policy_prefix_name(s->up_pol.prefix), s->up_pol.source);
}

static void
out_up_ready(void *arg)
{
	struct out_session		*s = arg;
	const struct upstream_info	*ui = upstream_info(s->up);

	(void)ui;
	out_deadline(s);	/* the MTA waits while the MX works */
	out_log_upstream(s, 0);
	snprintf(s->up_domain, sizeof(s->up_domain), "%s", s->domain);
	if (s->state == OUT_CONNECT)
		out_replay(s);
	out_cycle(s);
}

static void
out_up_failed(void *arg, enum upstream_fail cls, int port, const char *reason)
{
	struct out_session	*s = arg;
	char			 rs[400];

	log_event(LOG_INFO, s->id, "dir=out event=attempt mx=%s addr=%s:%d "
	    "result=fail class=%s reason=\"%s\"", s->up_mx, s->up_addr, port,
	    cls == UP_FAIL_POLICY ? "policy" : cls == UP_FAIL_CONNECT ?
	    "connect" : "smtp", log_quote(reason, rs, sizeof(rs)));
	if (s->first_fail[0] == '\0' || (cls == UP_FAIL_POLICY &&
	    !s->fail_policy)) {
		snprintf(s->first_fail, sizeof(s->first_fail), "%s: %s",
		    s->up_mx, reason);
		snprintf(s->fail_mx, sizeof(s->fail_mx), "%s", s->up_mx);
		s->fail_pol = s->up_pol;
	}
	if (cls == UP_FAIL_POLICY)
		s->fail_policy = 1;
	s->up = NULL;		/* the engine frees itself */
	out_deadline(s);
	out_next_attempt(s);
	out_cycle(s);
}

/* Replies to MAIL, RCPT, DATA, the final dot and RSET arrive here. */
static void
out_up_reply(void *arg, int code, const char *text, size_t n)
{
	struct out_session	*s = arg;

	out_deadline(s);
	switch (s->state) {
	case OUT_MAIL:
		if (code / 100 == 2) {
			s->mail_sent = 1;
			s->up_dirty = 1;
			out_enter(s, OUT_RCPT);
			if (out_up_send(s, s->rcpt_line, s->rcpt_len) >= 0)
				break;
			out_reply(s, "451 4.3.0 %s upstream session lost",
			    s->up_mx);
			out_enter(s, OUT_COMMAND);
			break;
		}
		/* The sender was refused: every recipient of this
		 * transaction hears it. */
		(void)buf_append(&s->toc, text, n);
		snprintf(s->fail_reply, sizeof(s->fail_reply), "%.*s",
		    (int)(n > 2 ? n - 2 : n), text);
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_RCPT:
		(void)buf_append(&s->toc, text, n);
		if (code / 100 == 2)
			s->nrcpt++;
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_DATA:
		(void)buf_append(&s->toc, text, n);
		if (code == 354) {
			smtp_dot_init(&s->dot);
			out_enter(s, OUT_BODY);
		} else {
			s->up_in_data = 0;
			out_enter(s, OUT_COMMAND);
		}
		break;
	case OUT_CHUNK_DATA:
		if (code == 354) {
			smtp_stuff_init(&s->stuff);
			s->chunk_how = CH_STUFF;
		} else {
			/* The MX will not take the message: its refusal
			 * answers the chunk, which is read and dropped. */
			s->up_in_data = 0;
			out_chunk_refused(s, code, text, n);
		}
		out_enter(s, OUT_CHUNK);
		break;
	case OUT_CHUNK:
		/* A reply before the whole chunk was sent: the MX gave up
		 * on it, and reads the rest as it likes.  The session
		 * cannot carry another transaction. */
		out_up_abandon(s);
		if (s->chunk_how != CH_DISCARD && code / 100 != 2)
			out_chunk_refused(s, code, text, n);
		else if (s->chunk_how != CH_DISCARD)
			out_chunk_lost(s, "replied before the chunk was sent");
		break;
	case OUT_CHUNK_REPLY:
		(void)buf_append(&s->toc, text, n);
		if (code / 100 != 2) {
			/* The transaction failed (RFC 3030 3); the MX's
			 * session stays dirty until the MTA's RSET. */
			char why[200];
			snprintf(why, sizeof(why), "%.*s", (int)(n > 2 ? n - 2 :
			    n), text);
			out_log_delivery(s, code / 100 == 4 ? "deferred" :
			    "rejected", why);
			out_reset_txn(s);
		}
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_DOT: {
		/* The remote MX's verdict, passed on as it is. */
		char why[200];
		(void)buf_append(&s->toc, text, n);
		snprintf(why, sizeof(why), "%.*s", (int)(n > 2 ? n - 2 : n),
		    text);
		out_log_delivery(s, code / 100 == 2 ? "sent" : code / 100 ==
		    4 ? "deferred" : "rejected", code / 100 == 2 ? NULL : why);
		/* After DATA the reply ends the transaction whatever it
		 * says; after BDAT LAST a refusal may leave it open. */
		s->up_dirty = s->bdat == BDAT_PASS && code / 100 != 2;
		out_reset_txn(s);
		out_enter(s, OUT_COMMAND);
		break;
	}
	case OUT_RSET:
		s->up_dirty = 0;
		out_reply(s, "250 2.0.0 Reset");
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_REUSE:
		if (code / 100 == 2) {
			out_log_upstream(s, 1);
			snprintf(s->up_domain, sizeof(s->up_domain), "%s",
			    s->domain);
			out_replay(s);
			break;
		}
		/* Not usable after all: a fresh connection instead. */
		upstream_close(s->up, 1);
		s->up = NULL;
		s->cur_att--;
		out_next_attempt(s);
		break;
	default:
		break;
	}
	out_cycle(s);
}

static void
out_up_drained(void *arg)
{
	out_cycle(arg);
}

static void
out_up_closed(void *arg, const char *reason)
{
	struct out_session	*s = arg;
	char			 rs[400];

	log_event(LOG_INFO, s->id, "dir=out event=upstream-closed mx=%s "
	    "reason=\"%s\"", s->up_mx, log_quote(reason, rs, sizeof(rs)));
	s->up = NULL;
	s->up_domain[0] = '\0';
	s->up_dirty = 0;
	s->up_in_data = 0;
	switch (s->state) {
	case OUT_CHUNK_DATA:
	case OUT_CHUNK:
		if (s->chunk_how != CH_DISCARD)
			out_chunk_lost(s, reason);
		out_enter(s, OUT_CHUNK);
		break;
	case OUT_CHUNK_REPLY:
		out_reply(s, "451 4.4.2 %s: connection lost before the chunk "
		    "was acknowledged", s->up_mx);
		out_log_delivery(s, "deferred", reason);
		out_reset_txn(s);
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_REUSE:
		/* The cached session had died: connect afresh. */
		s->cur_att--;
		out_next_attempt(s);
		break;
	case OUT_RSET:
		/* Reset all the same: the next transaction connects
		 * afresh.  (Exim, for one, hangs up on a RSET after a
		 * refused chunk.) */
		out_reply(s, "250 2.0.0 Reset");
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_MAIL:
	case OUT_RCPT:
	case OUT_DATA:
		out_reply(s, "451 4.4.2 %s: connection lost: %s", s->up_mx,
		    reason);
		out_enter(s, OUT_COMMAND);
		break;
	case OUT_BODY:
		/* Swallow the rest of the body, then say so. */
		s->body_lost = 1;
		break;
	case OUT_DOT:
		out_reply(s, "451 4.4.2 %s: connection lost before the "
		    "end of data was acknowledged", s->up_mx);
		out_log_delivery(s, "deferred", reason);
		out_reset_txn(s);
		out_enter(s, OUT_COMMAND);
		break;
	default:
		/* Between transactions: a later one reconnects. */
		if (s->have_mail && s->mail_sent)
			s->mail_sent = 0;
		break;
	}
	out_cycle(s);
}

static const struct upstream_ops out_up_ops = {
	out_up_ready, out_up_failed, out_up_reply, out_up_drained,
	out_up_closed
};

/* ---------------------------------------------------------------- connection cache */

/*
 * Idle upstream sessions kept for reuse, per worker: keyed by policy
 * level, MX name as published, address and EHLO name, so a session is
 * only reused where the same policy was met with the same name.  Bounded
 * in number (upstream_cache), idle time (upstream_cache_idle), age and
 * transactions (the engine's bounds); a session is checked with RSET
 * before reuse.
 */

struct up_slot {
	struct worker	*w;
	struct upstream	*u;
	char		 key[DNS_NAME_MAX + ADDR_TEXT_MAX + 300];
	uint64_t	 parked;
};

struct up_pool {
	int		n;
	struct up_slot	slot[];		/* n of them */
};

static void
pool_key(char *key, size_t cap, int level, const char *mx, const char *addr,
    const char *helo)
{
	snprintf(key, cap, "%d|%s|%s|%s", level, mx, addr, helo);
}

static void
pool_reply(void *arg, int code, const char *text, size_t n)
{
	(void)arg;
	(void)code;
	(void)text;
	(void)n;
}

static void
pool_ignore(void *arg)
{
	(void)arg;
}

static void
pool_failed(void *arg, enum upstream_fail cls, int port, const char *why)
{
	(void)arg;
	(void)cls;
	(void)port;
	(void)why;
}

/* A parked session ended (idle limit, or the MX hung up). */
static void
pool_closed(void *arg, const char *reason)
{
	struct up_slot *sl = arg;

	(void)reason;
	sl->u = NULL;
}

static const struct upstream_ops pool_ops = {
	pool_ignore, pool_failed, pool_reply, pool_ignore, pool_closed
};

/* Park an idle session, or close it when it cannot be kept. */
static void
pool_put(struct out_session *s)
{
	struct up_pool	*p = s->w->up_pool;
	struct up_slot	*sl = NULL, *oldest = NULL;
	int		 i, n = s->w->cfg->upstream_cache;

	if (n == 0)
		goto close;
	if (p == NULL && !s->w->stopping) {
		p = calloc(1, sizeof(*p) + (size_t)n * sizeof(p->slot[0]));
		if (p == NULL)
			goto close;
		p->n = n;
		s->w->up_pool = p;
	}
	if (p == NULL || s->w->stopping || !upstream_reusable(s->up))
		goto close;
	for (i = 0; i < p->n; i++) {
		if (p->slot[i].u == NULL) {
			sl = &p->slot[i];
			break;
		}
		if (oldest == NULL || p->slot[i].parked < oldest->parked)
			oldest = &p->slot[i];
	}
	if (sl == NULL) {
		upstream_close(oldest->u, 1);
		oldest->u = NULL;
		sl = oldest;
	}
	sl->w = s->w;
	sl->u = s->up;
	sl->parked = uv_now(&s->w->loop);
	pool_key(sl->key, sizeof(sl->key), (int)s->up_pol.level, s->up_mx,
	    s->up_addr, s->up_helo);
	upstream_attach(sl->u, &pool_ops, sl, "-");
	upstream_park(sl->u, s->w->cfg->upstream_cache_idle);
	s->up = NULL;
	return;
close:
	upstream_close(s->up, 1);
	s->up = NULL;
}

/* A parked session for this key, taken out of the pool, or NULL. */
static struct upstream *
pool_get(struct out_session *s, const char *key)
{
	struct up_pool	*p = s->w->up_pool;
	struct upstream	*u;
	int		 i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < p->n; i++) {
		if (p->slot[i].u != NULL && strcmp(p->slot[i].key, key) == 0) {
			u = p->slot[i].u;
			p->slot[i].u = NULL;
			return u;
		}
	}
	return NULL;
}

void
session_out_pool_flush(struct worker *w)
{
	struct up_pool	*p = w->up_pool;
	int		 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		if (p->slot[i].u != NULL) {
			upstream_close(p->slot[i].u, 1);
			p->slot[i].u = NULL;
		}
	}
	free(p);
	w->up_pool = NULL;
}

/* ---------------------------------------------------------------- choosing the MX */

static int
out_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

static void
out_add_attempt(struct out_session *s, int host,
    const struct sockaddr_storage *ss)
{
	int	i;

	if (s->n_att >= OUT_ATTEMPTS)
		return;
	for (i = 0; i < s->n_att; i++)
		if (s->att[i].host == host && out_same_addr(&s->att[i].addr, ss))
			return;
	s->att[s->n_att].host = host;
	s->att[s->n_att].addr = *ss;
	s->n_att++;
}

/*
 * The order to try: in transparent mode the MX host the MTA chose (the
 * one whose address is the original destination) first, at that
 * address; then every MX host in preference order.  An original
 * destination that is no MX of the domain is a manual route: honoured,
 * as a host named by the domain.
 */
static void
out_plan(struct out_session *s)
{
	struct mx_set	*set = s->set;
	int		 i, j, chosen = -1;

	s->n_att = 0;
	s->cur_att = -1;
	if (s->w->cfg->outbound_mode == OUTBOUND_TRANSPARENT && s->have_orig) {
		for (i = 0; i < set->n && chosen < 0; i++)
			for (j = 0; j < set->host[i].naddr; j++)
				if (out_same_addr(&set->host[i].addr[j],
				    &s->orig)) {
					chosen = i;
					break;
				}
		if (chosen < 0 && set->n < MX_HOSTS_MAX) {
			struct mx_host *h = &set->host[set->n];
			snprintf(h->name, sizeof(h->name), "%s", s->domain);
			h->pref = 65535;
			h->naddr = 1;
			h->addr[0] = s->orig;
			chosen = set->n++;
			log_event(LOG_INFO, s->id, "dir=out event=route "
			    "domain=%s route=manual", s->domain);
		}
		if (chosen >= 0)
			out_add_attempt(s, chosen, &s->orig);
	}
	for (i = 0; i < set->n; i++)
		for (j = 0; j < set->host[i].naddr; j++)
			out_add_attempt(s, i, &set->host[i].addr[j]);
}

/* All attempts failed: the recipient gets a temporary failure that
 * names the MX and the reason. */
static void
out_give_up(struct out_session *s)
{
	const char *code = s->fail_policy ? "451 4.7.5" : "451 4.4.1";

	snprintf(s->fail_reply, sizeof(s->fail_reply), "%s %s", code,
	    s->first_fail[0] ? s->first_fail : "no usable MX host");
	out_log_delivery(s, "deferred", s->first_fail[0] ? s->first_fail :
	    "no usable MX host");
	out_reply(s, "%s", s->fail_reply);
	out_enter(s, OUT_COMMAND);
}

/* Start the next attempt, or give up. */
static void
out_next_attempt(struct out_session *s)
{
	const struct config	*cfg = s->w->cfg;
	struct upstream_target	 t;
	struct mx_host		*h;

	while (++s->cur_att < s->n_att) {
		h = &s->set->host[s->att[s->cur_att].host];
		policy_lookup(cfg, s->domain, h->name, s->set->secure, &s->pol);
		s->up_pol = s->pol;
		s->up_secure = s->set->secure;
		snprintf(s->up_mx, sizeof(s->up_mx), "%s", h->name);
		addr_ip((const struct sockaddr *)&s->att[s->cur_att].addr,
		    s->up_addr, sizeof(s->up_addr));
		if (s->pol.refuse) {
			/* Refused before connecting: no port was tried. */
			log_event(LOG_INFO, s->id, "dir=out event=attempt "
			    "mx=%s addr=%s:0 result=fail class=policy "
			    "reason=\"%s\"", h->name, s->up_addr,
			    s->pol.reason);
			if (!s->fail_policy) {
				snprintf(s->first_fail, sizeof(s->first_fail),
				    "%s: %s", h->name, s->pol.reason);
				snprintf(s->fail_mx, sizeof(s->fail_mx), "%s",
				    h->name);
				s->fail_pol = s->pol;
			}
			s->fail_policy = 1;
			continue;
		}
		snprintf(s->up_helo, sizeof(s->up_helo), "%s",
		    cfg->helo_name[0] ? cfg->helo_name : s->helo);
		{
			char key[sizeof(((struct up_slot *)0)->key)];
			pool_key(key, sizeof(key), (int)s->pol.level, h->name,
			    s->up_addr, s->up_helo);
			if ((s->up = pool_get(s, key)) != NULL) {
				/* Check that the parked session still
				 * answers before trusting it with MAIL. */
				upstream_attach(s->up, &out_up_ops, s, s->id);
				out_enter(s, OUT_REUSE);
				if (out_up_send(s, "RSET\r\n", 6) >= 0)
					return;
				upstream_close(s->up, 0);
				s->up = NULL;
			}
		}
		memset(&t, 0, sizeof(t));
		t.mxhost = h->name;
		t.addr = s->att[s->cur_att].addr;
		t.level = s->pol.level;
		t.try_smtps = s->pol.try_smtps;
		s->up = upstream_open(&s->w->loop, s->w->tls_client, cfg, &t,
		    s->up_helo, s->id, &out_up_ops, s);
		if (s->up != NULL) {
			out_enter(s, OUT_CONNECT);
			return;
		}
	}
	/* The delivery line names the MX whose failure is reported. */
	snprintf(s->up_mx, sizeof(s->up_mx), "%s", s->fail_mx[0] ?
	    s->fail_mx : "-");
	s->up_pol = s->fail_pol;
	out_give_up(s);
}

/* The MX set could not be had: every recipient of the domain in this
 * transaction gets the same reply. */
static void
out_resolve_fail(struct out_session *s, const char *code, const char *result,
    const char *error)
{
	snprintf(s->fail_reply, sizeof(s->fail_reply), "%s %s", code, error);
	out_log_delivery(s, result, error);
	out_reply(s, "%s", s->fail_reply);
	out_enter(s, OUT_COMMAND);
}

static void
out_resolved(void *arg, const struct mx_set *set)
{
	struct out_session *s = arg;

	s->req = NULL;
	s->up_secure = set->secure;
	switch (set->status) {
	case RESOLVE_OK:
		if (s->set == NULL && (s->set = malloc(sizeof(*s->set))) == NULL) {
			out_reply(s, "451 4.3.0 Out of memory");
			out_enter(s, OUT_COMMAND);
			break;
		}
		*s->set = *set;
		s->first_fail[0] = '\0';
		s->fail_mx[0] = '\0';
		s->fail_policy = 0;
		memset(&s->fail_pol, 0, sizeof(s->fail_pol));
		out_plan(s);
		out_next_attempt(s);
		break;
	case RESOLVE_NXDOMAIN:
		out_resolve_fail(s, "550 5.1.2", "rejected", set->error);
		break;
	case RESOLVE_NULLMX:
		out_resolve_fail(s, "556 5.1.10", "rejected", set->error);
		break;
	default:
		out_resolve_fail(s, "451 4.4.3", "deferred", set->error);
		break;
	}
	out_cycle(s);
}

/* ---------------------------------------------------------------- MTA commands */

/*
 * Check MAIL's parameters against what mxgate offered, and keep those
 * the upstream will be asked about.  Returns NULL when acceptable, or
 * the reply to give.
 */
static const char *
out_mail_params(struct out_session *s, const char *p, size_t len)
{
	size_t	i = 0;

	s->mail_8bit = 0;
	s->mail_size = 0;
	while (i < len) {
		size_t	start, wl;
		char	word[128];

		while (i < len && p[i] == ' ')
			i++;
		start = i;
		while (i < len && p[i] != ' ')
			i++;
		wl = i - start;
		if (wl == 0)
			break;
		if (wl >= sizeof(word))
			return "555 5.5.4 Parameter too long";
		memcpy(word, p + start, wl);
		word[wl] = '\0';
		if (strncasecmp(word, "SIZE=", 5) == 0) {
			char *end;
			errno = 0;
			s->mail_size = strtoul(word + 5, &end, 10);
			if (*end != '\0' || end == word + 5 || errno != 0)
				return "501 5.5.4 Bad SIZE parameter";
		} else if (strcasecmp(word, "BODY=8BITMIME") == 0)
			s->mail_8bit = 1;
		else if (strcasecmp(word, "BODY=7BIT") == 0)
			s->mail_8bit = 0;
		else
			return "555 5.5.4 Unsupported MAIL parameter";
	}
	return NULL;
}

/* The MAIL line to replay, with the parameters this MX supports. */
static int
out_build_mail(struct out_session *s, const char *path, size_t pathlen)
{
	const struct upstream_info *ui = upstream_info(s->up);
	int	n;

	if (s->mail_8bit && !ui->has_8bitmime) {
		snprintf(s->fail_reply, sizeof(s->fail_reply), "554 5.6.3 %s "
		    "does not support 8BITMIME and mxgate does not convert",
		    s->up_mx);
		return -1;
	}
	if (s->mail_size > 0 && ui->size_max > 0 &&
	    s->mail_size > ui->size_max) {
		snprintf(s->fail_reply, sizeof(s->fail_reply), "552 5.3.4 "
		    "Message size exceeds the fixed limit of %s (%lu)",
		    s->up_mx, ui->size_max);
		return -1;
	}
	n = snprintf(s->mail_line, sizeof(s->mail_line), "MAIL FROM:<%.*s>",
	    (int)pathlen, path);
	if (s->mail_size > 0 && ui->has_size)
		n += snprintf(s->mail_line + n, sizeof(s->mail_line) - (size_t)n,
		    " SIZE=%lu", s->mail_size);
	if (s->mail_8bit)
		n += snprintf(s->mail_line + n, sizeof(s->mail_line) - (size_t)n,
		    " BODY=8BITMIME");
	n += snprintf(s->mail_line + n, sizeof(s->mail_line) - (size_t)n,
	    "\r\n");
	s->mail_len = (size_t)n;
	return 0;
}

/* Send the transaction upstream: MAIL first (after a pending RSET),
 * then the RCPT in hand. */
static void
out_replay(struct out_session *s)
{
	if (s->mail_sent) {
		out_enter(s, OUT_RCPT);
		if (out_up_send(s, s->rcpt_line, s->rcpt_len) < 0) {
			out_reply(s, "451 4.3.0 %s upstream session lost",
			    s->up_mx);
			out_enter(s, OUT_COMMAND);
		}
		return;
	}
	if (out_build_mail(s, s->mail_path, s->mail_pathlen) < 0) {
		out_reply(s, "%s", s->fail_reply);
		out_enter(s, OUT_COMMAND);
		return;
	}
	out_enter(s, OUT_MAIL);
	if (out_up_send(s, s->mail_line, s->mail_len) < 0) {
		out_reply(s, "451 4.3.0 %s upstream session lost", s->up_mx);
		out_enter(s, OUT_COMMAND);
	}
}

/* The recipient's domain, lower case, from a path; -1 if none. */
static int
out_rcpt_domain(const char *path, size_t len, char *out, size_t cap)
{
	const char	*at = NULL;
	size_t		 i, n;

	for (i = 0; i < len; i++)
		if (path[i] == '@')
			at = path + i;
	if (at == NULL)
		return -1;
	n = len - (size_t)(at + 1 - path);
	if (n == 0 || n >= cap || n > DNS_NAME_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)at[1 + i];
		if (c <= ' ' || c >= 0x7f || c == '[')
			return -1;	/* address literals are not routed */
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
	if (out[n - 1] == '.')
		out[n - 1] = '\0';
	return out[0] ? 0 : -1;
}

static void
out_ehlo_reply(struct out_session *s, int ehlo)
{
	if (!ehlo) {
		out_reply(s, "250 %s Hello %s", s->w->hostname, s->helo);
		return;
	}
	/* Only what mxgate can honour whatever the upstream turns out to
	 * be; never STARTTLS on this loopback leg. */
	out_reply(s, "250-%s Hello %s", s->w->hostname, s->helo);
	out_reply(s, "250-PIPELINING");
	out_reply(s, "250-SIZE");
	out_reply(s, "250-8BITMIME");
	out_reply(s, "250-CHUNKING");
	out_reply(s, "250 ENHANCEDSTATUSCODES");
}

/* Drop the upstream session (saying QUIT). */
/* Close the upstream session at once, without QUIT: it is reading
 * message octets (QUIT would be message text, and closing without the
 * end makes the MX drop the message), or gave up on them. */
static void
out_up_abandon(struct out_session *s)
{
	upstream_close(s->up, 0);
	s->up = NULL;
	s->up_domain[0] = '\0';
	s->up_dirty = 0;
	s->up_in_data = 0;
}

static void
out_drop_upstream(struct out_session *s)
{
	if (s->up != NULL) {
		if (s->up_in_data) {
			out_up_abandon(s);
			return;
		} else if (s->up_dirty)
			upstream_close(s->up, 1);
		else
			pool_put(s);
		s->up = NULL;
	}
	s->up_domain[0] = '\0';
	s->up_dirty = 0;
	s->up_in_data = 0;
}

static void
out_rcpt(struct out_session *s, const struct smtp_cmd *cmd, const char *line,
    size_t linelen)
{
	char	domain[DNS_NAME_MAX + 1];

	if (!s->have_mail) {
		out_reply(s, "503 5.5.1 MAIL first");
		return;
	}
	if (out_rcpt_domain(cmd->path, cmd->pathlen, domain,
	    sizeof(domain)) < 0) {
		out_reply(s, "501 5.1.3 Recipient address without a domain "
		    "mxgate can route");
		return;
	}
	if (cmd->paramslen > 0) {
		out_reply(s, "555 5.5.4 Unsupported RCPT parameter");
		return;
	}
	if (s->domain[0] != '\0' && strcmp(s->domain, domain) != 0) {
		/* One upstream session per transaction: the MTA sends this
		 * recipient again in a transaction of its own. */
		out_reply(s, "452 4.5.3 %s routes elsewhere; try again in a "
		    "separate transaction", domain);
		return;
	}
	if (s->fail_reply[0] != '\0') {
		out_reply(s, "%s", s->fail_reply);
		return;
	}
	if (s->nrcpt >= 1000) {
		out_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	snprintf(s->rcpt_line, sizeof(s->rcpt_line), "%.*s\r\n",
	    (int)linelen, line);
	s->rcpt_len = strlen(s->rcpt_line);
	if (s->domain[0] == '\0')
		snprintf(s->domain, sizeof(s->domain), "%s", domain);
	if (s->up != NULL && strcmp(s->up_domain, domain) == 0) {
		out_replay(s);
		return;
	}
	out_drop_upstream(s);
	out_enter(s, OUT_RESOLVE);
	s->req = resolve_mx(s->w->resolver, domain, out_resolved, s);
}

/* One MTA command.  Returns 1 on progress, 0 when a line is incomplete. */
static int
out_command(struct out_session *s)
{
	struct smtp_cmd	 cmd;
	size_t		 textlen;
	long		 n;
	int		 r;
	const char	*line = buf_data(&s->cin);
	const char	*err;

	n = smtp_line_next(line, buf_len(&s->cin), SMTP_CMD_LINE_MAX, &textlen);
	if (n < 0) {
		out_reply(s, "500 5.5.2 Line too long");
		s->quit = 1;
		out_enter(s, OUT_CLOSING);
		return 1;
	}
	if (n == 0) {
		if (s->mta.eof) {
			out_close(s, "done");
			return 1;
		}
		return 0;
	}
	r = smtp_cmd_parse(line, textlen, &cmd);
	log_debug(s->id, "dir=out event=command verb=%s",
	    smtp_verb_name(cmd.verb));
	switch (cmd.verb) {
	case SMTP_V_EHLO:
	case SMTP_V_HELO:
		if (r < 0) {
			out_reply(s, "501 5.5.4 Syntax: %s hostname",
			    smtp_verb_name(cmd.verb));
			break;
		}
		snprintf(s->helo, sizeof(s->helo), "%.*s",
		    (int)(cmd.arglen < sizeof(s->helo) ? cmd.arglen :
		    sizeof(s->helo) - 1), cmd.arg);
		for (size_t i = 0; s->helo[i]; i++)
			if (s->helo[i] == ' ' || s->helo[i] == '\t')
				s->helo[i] = '\0';
		out_reset_txn(s);
		if (s->up_dirty)
			out_drop_upstream(s);
		out_ehlo_reply(s, cmd.verb == SMTP_V_EHLO);
		break;
	case SMTP_V_MAIL:
		if (s->helo[0] == '\0') {
			out_reply(s, "503 5.5.1 EHLO first");
			break;
		}
		if (s->have_mail) {
			out_reply(s, "503 5.5.1 Sender already given");
			break;
		}
		if (r < 0 || cmd.path == NULL) {
			out_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
			break;
		}
		out_reset_txn(s);
		if ((err = out_mail_params(s, cmd.params, cmd.paramslen))) {
			out_reply(s, "%s", err);
			break;
		}
		memcpy(s->mail_path, cmd.path, cmd.pathlen);
		s->mail_pathlen = cmd.pathlen;
		s->have_mail = 1;
		if (s->up_dirty)
			out_drop_upstream(s);
		/* The remote MX's verdict on the sender comes with the
		 * reply to the first RCPT. */
		out_reply(s, "250 2.1.0 Ok");
		break;
	case SMTP_V_RCPT:
		if (r < 0 || cmd.path == NULL) {
			out_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
			break;
		}
		out_rcpt(s, &cmd, line, textlen);
		break;
	case SMTP_V_DATA:
		if (!s->have_mail) {
			out_reply(s, "503 5.5.1 MAIL first");
			break;
		}
		if (s->bdat != BDAT_NONE) {
			out_reply(s, "503 5.5.1 DATA after BDAT in one "
			    "transaction");
			break;
		}
		if (s->nrcpt == 0 || s->up == NULL) {
			out_reply(s, "554 5.5.1 No valid recipients");
			break;
		}
		s->up_in_data = 1;
		out_enter(s, OUT_DATA);
		if (out_up_send(s, "DATA\r\n", 6) < 0) {
			s->up_in_data = 0;
			out_reply(s, "451 4.3.0 %s upstream session lost",
			    s->up_mx);
			out_enter(s, OUT_COMMAND);
		}
		break;
	case SMTP_V_BDAT:
		if (r < 0) {
			/* The octets that follow cannot be told from
			 * commands: nothing more can be read safely. */
			out_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
			out_enter(s, OUT_CLOSING);
			break;
		}
		out_bdat(s, &cmd);
		break;
	case SMTP_V_RSET:
		out_reset_txn(s);
		if (s->up_in_data)	/* between chunks sent as DATA */
			out_drop_upstream(s);
		if (s->up != NULL && s->up_dirty) {
			out_enter(s, OUT_RSET);
			if (out_up_send(s, "RSET\r\n", 6) >= 0)
				break;
			out_enter(s, OUT_COMMAND);
		}
		out_reply(s, "250 2.0.0 Reset");
		break;
	case SMTP_V_NOOP:
		out_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_V_QUIT:
		out_reply(s, "221 2.0.0 %s closing connection", s->w->hostname);
		s->quit = 1;
		out_enter(s, OUT_CLOSING);
		break;
	case SMTP_V_VRFY:
		out_reply(s, "252 2.1.5 Cannot VRFY; send the message");
		break;
	case SMTP_V_HELP:
		out_reply(s, "214 2.0.0 mxgate: see RFC 5321");
		break;
	case SMTP_V_UNKNOWN:
		out_reply(s, "500 5.5.2 Command unrecognized");
		break;
	default:
		/* STARTTLS, AUTH, ETRN, EXPN, XCLIENT: not offered. */
		out_reply(s, "502 5.5.1 Command not implemented");
		break;
	}
	buf_consume(&s->cin, (size_t)n);
	return 1;
}

/* The end of data has passed on: the MX's verdict decides, unless the
 * MX was lost on the way. */
static int
out_body_done(struct out_session *s)
{
	if (s->body_lost || s->up == NULL) {
		out_reply(s, "451 4.4.2 %s: connection lost during DATA",
		    s->up_mx);
		out_log_delivery(s, "deferred", "connection lost during DATA");
		out_reset_txn(s);
		out_drop_upstream(s);
		out_enter(s, OUT_COMMAND);
		return 1;
	}
	upstream_expect_reply(s->up);
	s->up_in_data = 0;
	out_enter(s, OUT_DOT);
	return 1;
}

static void
out_pipe_close(struct out_session *s)
{
	if (s->pipe[0] >= 0) {
		close(s->pipe[0]);
		close(s->pipe[1]);
	}
	s->pipe[0] = s->pipe[1] = -1;
	s->inpipe = 0;
}

/*
 * The session's pipe for the splice paths, opened on first use.  -1 when
 * there is none to be had: the copy path takes over (no_splice).
 */
static int
out_pipe_open(struct out_session *s)
{
	int	n;

	if (s->pipe[0] >= 0)
		return 0;
	if (pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		s->pipe[0] = s->pipe[1] = -1;
		s->no_splice = 1;
		return -1;
	}
	(void)fcntl(s->pipe[1], F_SETPIPE_SZ, OUT_PIPE_SIZE);
	if ((n = fcntl(s->pipe[1], F_GETPIPE_SZ)) <= 0) {
		out_pipe_close(s);
		s->no_splice = 1;
		return -1;
	}
	/* Smaller than asked when the user's pipe quota is used up. */
	s->pipe_size = (size_t)n < OUT_PIPE_SIZE ? (size_t)n : OUT_PIPE_SIZE;
	return 0;
}

/*
 * Whether the body goes by splice now: `splice yes`, both legs plain,
 * and nothing already read into user space that must go first.  Gives
 * the upstream leg, or NULL.
 */
static struct leg *
out_splice_leg(struct out_session *s)
{
	if (s->state != OUT_BODY || !s->w->cfg->relay_splice ||
	    s->no_splice || s->body_lost || s->up == NULL ||
	    s->mta.ssl != NULL || buf_len(&s->cin) > 0)
		return NULL;
	return upstream_body_leg(s->up);
}


/*
 * One move from the pipe to the MX's socket.  1 when bytes went; 0 when
 * the socket is full (its becoming writable wakes us again); -1 when the
 * write failed.
 */
static int
out_pipe_push(struct out_session *s, struct leg *up)
{
	ssize_t	n;

	if (!up->wr_ok) {
		upstream_body_wait(s->up);
		return 0;
	}
	do
		n = splice(s->pipe[0], NULL, up->fd, NULL, s->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		s->inpipe -= (size_t)n;
		return 1;
	}
	if (n < 0 && errno == EAGAIN) {
		up->wr_ok = 0;
		upstream_body_wait(s->up);
		return 0;
	}
	return -1;
}
/*
 * The body of a plain-to-plain session.  Each chunk is looked at with
 * MSG_PEEK, only to find the end of data, and then moved by splice(2)
 * through a pipe: it crosses into user space once, read-only, and is
 * never written back.  Bytes after the end of data (a pipelined
 * command) stay in the socket for the command reader.
 */
static int
out_body_splice(struct out_session *s, struct leg *up)
{
	struct smtp_dot	 dot;
	ssize_t		 n;
	size_t		 chunk;
	long		 end;
	int		 progress = 0, full = 0, r;

	/* The worker's peek buffer: only DATA is looked at. */
	if (s->w->peek == NULL &&
	    (s->w->peek = malloc(OUT_PIPE_SIZE)) == NULL) {
		s->no_splice = 1;	/* the copy path takes over */
		return 1;
	}
	if (out_pipe_open(s) < 0)
		return 1;
	for (;;) {
		/* The pipe is passed on when it is full, at the end of
		 * data, or when the MTA has nothing more for now. */
		while (s->inpipe > 0 && (s->body_end || !s->mta.rd_ok ||
		    full || s->inpipe >= s->pipe_size)) {
			if ((r = out_pipe_push(s, up)) == 0)
				return progress;
			if (r < 0) {
				/* The MX went away: swallow the rest of
				 * the body, then say so. */
				s->body_lost = 1;
				out_pipe_close(s);
				return 1;
			}
			progress = 1;
		}
		full = 0;
		if (s->body_end)
			return out_body_done(s);
		if (!s->mta.rd_ok)
			return progress;
		n = recv(s->mta.fd, s->w->peek, s->pipe_size - s->inpipe,
		    MSG_PEEK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->mta.rd_ok = 0;
				continue;	/* pass the pipe on */
			}
			s->mta.err = errno;
			out_close(s, "client-error");
			return -1;
		}
		if (n == 0) {
			s->mta.eof = 1;
			out_close(s, "client-closed");
			return -1;
		}
		dot = s->dot;
		end = smtp_dot_scan(&dot, s->w->peek, (size_t)n);
		chunk = end >= 0 ? (size_t)end : (size_t)n;
		do
			n = splice(s->mta.fd, NULL, s->pipe[1], NULL, chunk,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (n < 0 && errno == EINTR);
		if (n <= 0 && s->inpipe > 0) {
			full = 1;	/* out of pipe slots: pass it on */
			continue;
		}
		if (n <= 0) {
			/* Bytes are waiting and the pipe is empty: a
			 * refusal means no splice here.  Copy instead. */
			s->no_splice = 1;
			return 1;
		}
		if ((size_t)n == chunk) {
			s->dot = dot;
			s->body_end = end >= 0;
		} else	/* a short move: the end lies beyond it */
			(void)smtp_dot_scan(&s->dot, s->w->peek, (size_t)n);
		s->inpipe += (size_t)n;
		s->body_bytes += (uint64_t)n;
		s->body_spliced += (uint64_t)n;
		progress = 1;
		out_deadline(s);
	}
}

/* Relay body bytes from the MTA to the MX, watching for the end. */
static int
out_body(struct out_session *s)
{
	struct leg	*up;
	size_t		 chunk, room;
	long		 end;

	if ((up = out_splice_leg(s)) != NULL)
		return out_body_splice(s, up);
	if (s->inpipe > 0) {
		/* The splice path was cut off mid-body (the MX went
		 * away): what is in the pipe can never be delivered. */
		s->body_lost = 1;
		out_pipe_close(s);
	}
	if (buf_len(&s->cin) == 0) {
		if (s->mta.eof) {
			out_close(s, "client-closed");
			return -1;
		}
		return 0;
	}
	chunk = buf_len(&s->cin);
	if (!s->body_lost) {
		room = s->up ? upstream_body_room(s->up) : 0;
		if (room == 0)
			return 0;	/* back-pressure: wait for drained */
		if (chunk > room)
			chunk = room;
	}
	end = smtp_dot_scan(&s->dot, buf_data(&s->cin), chunk);
	if (end >= 0)
		chunk = (size_t)end;
	if (!s->body_lost && upstream_body(s->up, buf_data(&s->cin),
	    chunk) < 0)
		s->body_lost = 1;
	s->body_bytes += chunk;
	buf_consume(&s->cin, chunk);
	if (end < 0)
		return 1;
	return out_body_done(s);
}

/* ---------------------------------------------------------------- CHUNKING */

/*
 * BDAT (RFC 3030).  The MTA gives each chunk's length, so the octets
 * need no scan: to an MX that offers CHUNKING they go on as BDAT with
 * the same length, by splice where both legs are plain, and the MX's
 * reply to each chunk is the MTA's.  To an MX without CHUNKING the
 * transaction becomes DATA: the chunks are dot-stuffed on the way, the
 * end of data follows the last one, and the MX's verdict on it answers
 * BDAT LAST; an earlier chunk is answered when it has been passed on,
 * which acknowledges its octets, not the message.  A chunk that cannot
 * go on (no transaction, the MX refused or went away) is still read to
 * its end, then refused: the MTA's next command follows it.
 */

/* Read the rest of this chunk and drop it, then say reply.  With a
 * result, the transaction failed and the delivery line says why. */
static void
out_chunk_drop(struct out_session *s, const char *reply, const char *result,
    const char *why)
{
	snprintf(s->chunk_reply, sizeof(s->chunk_reply), "%s", reply);
	s->chunk_how = CH_DISCARD;
	out_pipe_close(s);	/* what was spliced cannot go on */
	if (result != NULL) {
		out_log_delivery(s, result, why);
		out_reset_txn(s);
	}
}

/* The MX refused the chunk, or the DATA it was to go in. */
static void
out_chunk_refused(struct out_session *s, int code, const char *text, size_t n)
{
	char	reply[700];

	snprintf(reply, sizeof(reply), "%.*s", (int)(n > 2 ? n - 2 : n), text);
	/* A multi-line reply keeps its CRLFs between lines. */
	out_chunk_drop(s, reply, code / 100 == 4 ? "deferred" : "rejected",
	    reply);
}

static void
out_chunk_lost(struct out_session *s, const char *why)
{
	char	reply[700];

	snprintf(reply, sizeof(reply), "451 4.4.2 %s: connection lost during "
	    "BDAT: %s", s->up_mx, why);
	out_chunk_drop(s, reply, "deferred", why);
}

static void
out_bdat(struct out_session *s, const struct smtp_cmd *cmd)
{
	char	line[64];
	int	n;

	s->chunk_size = s->chunk_left = cmd->chunk;
	s->chunk_last = cmd->last;
	out_enter(s, OUT_CHUNK);
	if (!s->have_mail) {
		out_chunk_drop(s, "503 5.5.1 MAIL first", NULL, NULL);
		return;
	}
	if (s->nrcpt == 0 || s->up == NULL) {
		out_chunk_drop(s, "554 5.5.1 No valid recipients", NULL, NULL);
		return;
	}
	if (s->bdat == BDAT_NONE)
		s->bdat = upstream_info(s->up)->has_chunking ? BDAT_PASS :
		    BDAT_STUFF;
	if (s->bdat == BDAT_PASS) {
		n = snprintf(line, sizeof(line), "BDAT %llu%s\r\n", cmd->chunk,
		    cmd->last ? " LAST" : "");
		s->chunk_how = CH_PASS;
		s->up_in_data = 1;
		if (out_up_send(s, line, (size_t)n) < 0) {
			s->up_in_data = 0;
			out_chunk_lost(s, "upstream session lost");
			out_drop_upstream(s);
		}
		return;
	}
	s->chunk_how = CH_STUFF;
	if (!s->up_in_data) {
		/* The first chunk: DATA, and the chunk once it is 354. */
		s->up_in_data = 1;
		out_enter(s, OUT_CHUNK_DATA);
		if (out_up_send(s, "DATA\r\n", 6) < 0) {
			s->up_in_data = 0;
			out_enter(s, OUT_CHUNK);
			out_chunk_lost(s, "upstream session lost");
			out_drop_upstream(s);
		}
	}
}

/* The whole chunk is read. */
static int
out_chunk_done(struct out_session *s)
{
	char	end[SMTP_STUFF_END_MAX];
	long	n;

	switch (s->chunk_how) {
	case CH_DISCARD:
		out_reply(s, "%s", s->chunk_reply);
		out_enter(s, OUT_COMMAND);
		return 1;
	case CH_PASS:
		/* Its reply was asked for with the BDAT line. */
		s->up_in_data = 0;
		if (s->chunk_last)
			out_enter(s, OUT_DOT);
		else
			out_enter(s, OUT_CHUNK_REPLY);
		return 1;
	case CH_STUFF:
		if (!s->chunk_last) {
			out_reply(s, "250 2.0.0 %llu octets received",
			    (unsigned long long)s->chunk_size);
			out_enter(s, OUT_COMMAND);
			return 1;
		}
		if (upstream_body_room(s->up) < sizeof(end))
			return 0;	/* wait for drained */
		if ((n = smtp_stuff_end(&s->stuff, end)) < 0) {
			out_chunk_drop(s, "554 5.6.0 The message ends in a bare "
			    "CR; it cannot be sent with DATA", "rejected",
			    "bare CR at the end of the message");
			out_drop_upstream(s);
			return out_chunk_done(s);
		}
		if (upstream_body(s->up, end, (size_t)n) < 0) {
			out_chunk_lost(s, "upstream session lost");
			out_drop_upstream(s);
			return out_chunk_done(s);
		}
		if (s->up == NULL)	/* lost while sending: handled */
			return out_chunk_done(s);
		upstream_expect_reply(s->up);
		s->up_in_data = 0;
		out_enter(s, OUT_DOT);
		return 1;
	}
	return 1;
}

/*
 * Whether the chunk goes by splice now: `splice yes`, both legs plain,
 * a chunk passed on as BDAT, and nothing already read that is part of
 * it.  Bytes in the pipe are passed on whatever is read after them.
 * Gives the upstream leg, or NULL.
 */
static struct leg *
out_chunk_leg(struct out_session *s)
{
	if (s->state != OUT_CHUNK || s->chunk_how != CH_PASS ||
	    !s->w->cfg->relay_splice || s->no_splice || s->up == NULL ||
	    s->mta.ssl != NULL)
		return NULL;
	if (s->inpipe == 0 && (s->chunk_left == 0 || buf_len(&s->cin) > 0))
		return NULL;
	return upstream_body_leg(s->up);
}

/*
 * A chunk of a plain-to-plain session: its length is known, so its
 * octets go from socket to pipe to socket without being looked at.
 * Exactly chunk_left bytes are taken; the command after them stays in
 * the socket.
 */
static int
out_chunk_splice(struct out_session *s, struct leg *up)
{
	ssize_t	n;
	size_t	want;
	int	progress = 0, full = 0, r;

	if (out_pipe_open(s) < 0)
		return 1;		/* the copy path takes over */
	for (;;) {
		while (s->inpipe > 0 && (s->chunk_left == 0 ||
		    !s->mta.rd_ok || full || s->inpipe >= s->pipe_size)) {
			if ((r = out_pipe_push(s, up)) == 0)
				return progress;
			if (r < 0) {
				/* The MX went away mid-chunk. */
				out_up_abandon(s);
				out_chunk_lost(s, "write to the MX failed");
				return 1;
			}
			progress = 1;
		}
		full = 0;
		if (s->chunk_left == 0)
			return out_chunk_done(s);
		if (!s->mta.rd_ok)
			return progress;
		want = s->pipe_size - s->inpipe;
		if (want > s->chunk_left)
			want = (size_t)s->chunk_left;
		n = splice(s->mta.fd, NULL, s->pipe[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			/* Passed on at once: the pipe's pages go out while
			 * the next ones arrive. */
			s->inpipe += (size_t)n;
			s->chunk_left -= (uint64_t)n;
			s->body_bytes += (uint64_t)n;
			s->body_spliced += (uint64_t)n;
			progress = 1;
			full = 1;
			out_deadline(s);
			continue;
		}
		if (n == 0) {
			s->mta.eof = 1;
			out_close(s, "client-closed");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* The socket is empty, or the pipe is full: pass the
			 * pipe on; a readable socket wakes us again. */
			if (s->inpipe > 0)
				full = 1;
			else
				s->mta.rd_ok = 0;
			continue;
		}
		if (s->inpipe > 0) {
			full = 1;
			continue;
		}
		/* Refused with nothing in the pipe: copy instead. */
		s->no_splice = 1;
		return 1;
	}
}

/* Relay, stuff or drop the octets of the chunk in hand. */
static int
out_chunk(struct out_session *s)
{
	struct leg	*up;
	size_t		 chunk, room;
	char		 tmp[16384];
	long		 o;

	if ((up = out_chunk_leg(s)) != NULL)
		return out_chunk_splice(s, up);
	if (s->inpipe > 0) {
		/* The splice path was cut off mid-chunk. */
		out_chunk_lost(s, "upstream session lost");
		out_drop_upstream(s);
	}
	if (s->chunk_left == 0)
		return out_chunk_done(s);
	if (buf_len(&s->cin) == 0) {
		if (s->mta.eof) {
			out_close(s, "client-closed");
			return -1;
		}
		return 0;
	}
	chunk = buf_len(&s->cin);
	if (chunk > s->chunk_left)
		chunk = (size_t)s->chunk_left;
	switch (s->chunk_how) {
	case CH_DISCARD:
		break;
	case CH_PASS:
		if ((room = upstream_body_room(s->up)) == 0)
			return 0;	/* back-pressure: wait for drained */
		if (chunk > room)
			chunk = room;
		if (upstream_body(s->up, buf_data(&s->cin), chunk) < 0) {
			out_chunk_lost(s, "upstream session lost");
			out_drop_upstream(s);
		}
		s->body_bytes += chunk;
		break;
	case CH_STUFF:
		if ((room = upstream_body_room(s->up)) < 2)
			return 0;
		o = smtp_stuff(&s->stuff, buf_data(&s->cin), &chunk, tmp,
		    room < sizeof(tmp) ? room : sizeof(tmp));
		if (o < 0) {
			/* The MX reads the message so far as DATA:
			 * closing without the end makes it drop it. */
			out_chunk_drop(s, "554 5.6.0 The message holds a bare "
			    "CR or LF; it cannot be sent with DATA", "rejected",
			    "bare CR or LF in the message");
			out_drop_upstream(s);
			chunk = 0;
			break;
		}
		if (upstream_body(s->up, tmp, (size_t)o) < 0) {
			out_chunk_lost(s, "upstream session lost");
			out_drop_upstream(s);
		}
		s->body_bytes += chunk;
		break;
	}
	buf_consume(&s->cin, chunk);
	s->chunk_left -= chunk;
	if (s->chunk_left == 0)
		return out_chunk_done(s);
	return 1;
}

static int
out_step(struct out_session *s)
{
	ssize_t	n;
	int	progress = 0;

	if ((n = leg_flush(&s->mta, &s->toc)) < 0) {
		out_close(s, "client-error");
		return -1;
	}
	progress |= n > 0;
	if (s->state == OUT_CLOSING) {
		if (buf_len(&s->toc) == 0) {
			out_close(s, s->quit ? "done" : "client-error");
			return -1;
		}
		return progress;
	}
	/* Read only as much as the current state can use; a body on the
	 * splice path is read by out_body_splice() itself. */
	if (buf_len(&s->toc) < OUT_REPLY_BUF / 2 && out_splice_leg(s) == NULL &&
	    (out_chunk_leg(s) == NULL || s->chunk_left == 0)) {
		if ((n = leg_fill(&s->mta, &s->cin)) < 0) {
			out_close(s, "client-error");
			return -1;
		}
		if (n > 0) {
			progress = 1;
			out_deadline(s);
		}
	}
	switch (s->state) {
	case OUT_COMMAND:
		if (buf_len(&s->toc) >= OUT_REPLY_BUF / 2)
			return progress;	/* the MTA is not reading */
		return out_command(s) | progress;
	case OUT_BODY:
		return out_body(s) | progress;
	case OUT_CHUNK:
		return out_chunk(s) | progress;
	default:
		if (s->mta.eof && buf_len(&s->cin) == 0) {
			out_close(s, "client-closed");
			return -1;
		}
		return progress;
	}
}

static void
out_cycle(void *arg)
{
	struct out_session	*s = arg;
	int			 r;

	if (s->in_cycle) {
		s->again = 1;
		return;
	}
	s->in_cycle = 1;
	do {
		s->again = 0;
		r = out_step(s);
	} while ((r > 0 || s->again) && s->state != OUT_DEAD);
	s->in_cycle = 0;
	if (s->state == OUT_DEAD)
		return;
	/* With body bytes in the pipe the MX is what is waited for. */
	leg_want(&s->mta, buf_room(&s->cin) > 0 && s->inpipe == 0 &&
	    buf_len(&s->toc) < OUT_REPLY_BUF / 2, buf_len(&s->toc) > 0);
}

/* ---------------------------------------------------------------- life cycle */

/*
 * Loop prevention.  Every local port our upstream connections use is
 * marked here while they are open; a redirected connection coming from
 * one of them means mxgate's own traffic was redirected back to itself
 * (a missing exclusion rule), and is refused instead of looping.
 */
static _Atomic unsigned char out_own_ports[65536 / 8];

void
session_out_own_port(int port, int on)
{
	unsigned char bit = (unsigned char)(1u << (port & 7));

	if (port <= 0 || port > 65535)
		return;
	if (on)
		atomic_fetch_or(&out_own_ports[port >> 3], bit);
	else
		atomic_fetch_and(&out_own_ports[port >> 3], (unsigned char)~bit);
}

static int
out_is_own_port(int port)
{
	return port > 0 && port <= 65535 &&
	    (atomic_load(&out_own_ports[port >> 3]) & (1u << (port & 7)));
}

static int
out_port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* The destination the MTA meant, before REDIRECT changed it. */
static int
out_original_dst(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ss, &len) == 0)
		return 0;
	len = sizeof(*ss);
	if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, ss, &len) == 0)
		return 0;
	return -1;
}

static void
out_handle_closed(uv_handle_t *h)
{
	struct out_session *s;

	if (h->type == UV_POLL)
		s = ((struct leg *)h->data)->owner;
	else
		s = h->data;
	if (--s->handles > 0)
		return;
	buf_free(&s->cin);
	buf_free(&s->toc);
	free(s->set);
	worker_session_gone(s->w);
	free(s);
}

static void
out_close(struct out_session *s, const char *reason)
{
	struct worker *w = s->w;

	if (s->state == OUT_DEAD)
		return;
	log_event(LOG_INFO, s->id, "dir=out event=close reason=%s "
	    "duration_ms=%llu", reason,
	    (unsigned long long)(uv_now(&w->loop) - s->started));
	s->state = OUT_DEAD;
	if (s->req != NULL) {
		resolve_cancel(s->req);
		s->req = NULL;
	}
	out_drop_upstream(s);
	out_pipe_close(s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		w->out_sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	leg_close(&s->mta, out_handle_closed);
	uv_close((uv_handle_t *)&s->timer, out_handle_closed);
}

void
session_out_close_all(struct worker *w)
{
	while (w->out_sessions != NULL)
		out_close(w->out_sessions, "shutdown");
}

void
session_out_start(struct worker *w, struct listener *l, int fd,
    const struct sockaddr *peer, socklen_t peerlen)
{
	const struct config	*cfg = w->cfg;
	struct out_session	*s;
	char			 pa[ADDR_TEXT_MAX], oa[ADDR_TEXT_MAX];
	int			 one = 1, i;
	const char		*refuse = NULL;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		worker_session_gone(w);
		return;
	}
	s->w = w;
	log_new_id(s->id);
	memcpy(&s->peer, peer, peerlen);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	buf_init(&s->cin, OUT_BODY_BUF);
	buf_init(&s->toc, OUT_REPLY_BUF);
	s->pipe[0] = s->pipe[1] = -1;
	s->started = uv_now(&w->loop);
	if (leg_init(&w->loop, &s->mta, fd, s, out_cycle) < 0) {
		close(fd);
		free(s);
		worker_session_gone(w);
		return;
	}
	s->handles = 1;
	uv_timer_init(&w->loop, &s->timer);
	s->timer.data = s;
	s->handles++;
	s->next = w->out_sessions;
	if (s->next != NULL)
		s->next->prev = s;
	w->out_sessions = s;

	s->have_orig = out_original_dst(fd, &s->orig) == 0;
	log_event(LOG_INFO, s->id, "dir=out event=accept listener=outbound "
	    "client=%s orig_dst=%s", addr_fmt(peer, pa, sizeof(pa)),
	    s->have_orig ? addr_fmt((struct sockaddr *)&s->orig, oa,
	    sizeof(oa)) : "-");

	if (cfg->outbound_mode == OUTBOUND_TRANSPARENT) {
		if (!s->have_orig)
			refuse = "421 4.3.5 %s No original destination: this "
			    "connection was not redirected";
		for (i = 0; s->have_orig && i < cfg->n_listen_outbound; i++)
			if (out_same_addr(&s->orig, &cfg->listen_outbound[i].sa) &&
			    out_port_of(&s->orig) == out_port_of(
			    &cfg->listen_outbound[i].sa))
				refuse = "421 4.3.5 %s Loop: the original "
				    "destination is mxgate itself";
		if (out_is_own_port(out_port_of(&s->peer)))
			refuse = "421 4.3.5 %s Loop: mxgate's own connection "
			    "was redirected back to it";
	}
	if (refuse != NULL) {
		out_reply(s, refuse, w->hostname);
		log_event(LOG_WARN, s->id, "dir=out event=refused reason=loop-"
		    "or-not-redirected");
		out_enter(s, OUT_CLOSING);
	} else
		out_reply(s, "220 %s ESMTP mxgate", w->hostname);
	out_deadline(s);
	out_cycle(s);
}

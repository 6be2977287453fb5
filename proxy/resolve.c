/*
 * c-ares driven from libuv: one uv_poll_t per c-ares socket (created and
 * stopped from the socket-state callback) and one timer for c-ares's
 * own timeouts.  Queries are built and answers parsed by common/dns.c,
 * which gives the MX TTLs and the AD bit that c-ares's parsers hide.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "resolve.h"

#define RESOLVE_CACHE		64
#define RESOLVE_TTL_MAX		3600	/* seconds; TTLs above are cut */
#define RESOLVE_TIMEOUT_MS	2000	/* per try; c-ares tries twice */

struct resolve_sock {
	struct resolve_sock	*next;
	struct resolver		*r;
	ares_socket_t		 fd;
	uv_poll_t		 poll;
};

struct resolve_cache {
	char		domain[DNS_NAME_MAX + 1];
	uint64_t	expires;	/* loop time, ms */
	struct mx_set	set;
};

struct resolver {
	uv_loop_t		*loop;
	ares_channel		 channel;
	uv_timer_t		 timer;
	struct resolve_sock	*socks;
	struct resolve_cache	 cache[RESOLVE_CACHE];
	unsigned		 cache_next;
	int			 closing;
};

struct resolve_req {
	struct resolver	*r;
	resolve_cb	*cb;
	void		*arg;
	char		 domain[DNS_NAME_MAX + 1];
	int		 pending;	/* queries in flight */
	int		 cancelled;
	int		 insecure;	/* an answer without AD */
	int		 tempfail;	/* an address query failed */
	uint32_t	 ttl;
	struct mx_set	 set;
};

/* One query in flight: which request, and for which host (-1 = MX). */
struct resolve_query {
	struct resolve_req	*req;
	int			 host;
	uint16_t		 type;
};

static void	resolve_arm(struct resolver *);

static void
resolve_poll_cb(uv_poll_t *h, int status, int events)
{
	struct resolve_sock	*s = h->data;
	ares_socket_t		 rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (status < 0 || (events & UV_READABLE))
		rfd = s->fd;
	if (status < 0 || (events & UV_WRITABLE))
		wfd = s->fd;
	ares_process_fd(s->r->channel, rfd, wfd);
	resolve_arm(s->r);
}

static void
resolve_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

/* c-ares says which sockets it wants watched, and for what. */
static void
resolve_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver		*r = data;
	struct resolve_sock	*s, **sp;
	int			 ev = (readable ? UV_READABLE : 0) |
			    (writable ? UV_WRITABLE : 0);

	for (sp = &r->socks; (s = *sp) != NULL; sp = &s->next)
		if (s->fd == fd)
			break;
	if (ev == 0) {
		if (s != NULL) {
			*sp = s->next;
			uv_close((uv_handle_t *)&s->poll, resolve_sock_closed);
		}
		return;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return;
		s->r = r;
		s->fd = fd;
		if (uv_poll_init_socket(r->loop, &s->poll, fd) < 0) {
			free(s);
			return;
		}
		s->poll.data = s;
		s->next = r->socks;
		r->socks = s;
	}
	uv_poll_start(&s->poll, ev, resolve_poll_cb);
}

static void
resolve_timer_cb(uv_timer_t *t)
{
	struct resolver *r = t->data;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolve_arm(r);
}

/* Re-arm the timer for c-ares's next deadline. */
static void
resolve_arm(struct resolver *r)
{
	struct timeval	 tv, *tvp;
	uint64_t	 ms;

	if (r->closing)
		return;
	tvp = ares_timeout(r->channel, NULL, &tv);
	if (tvp == NULL) {
		uv_timer_stop(&r->timer);
		return;
	}
	ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000;
	uv_timer_start(&r->timer, resolve_timer_cb, ms ? ms : 1, 0);
}

struct resolver *
resolver_new(uv_loop_t *loop, const struct config *cfg)
{
	struct resolver		*r;
	struct ares_options	 opt;
	char			 csv[CONFIG_DNS_MAX * 72];
	size_t			 off = 0;
	int			 i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = loop;
	memset(&opt, 0, sizeof(opt));
	opt.sock_state_cb = resolve_sock_state;
	opt.sock_state_cb_data = r;
	opt.timeout = RESOLVE_TIMEOUT_MS;
	opt.tries = 2;
	if (ares_init_options(&r->channel, &opt, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS) {
		free(r);
		return NULL;
	}
	csv[0] = '\0';
	for (i = 0; i < cfg->n_dns_servers; i++) {
		char a[ADDR_TEXT_MAX];
		int n = snprintf(csv + off, sizeof(csv) - off, "%s%s",
		    i ? "," : "", addr_fmt((const struct sockaddr *)
		    &cfg->dns_servers[i].sa, a, sizeof(a)));
		if (n < 0 || (size_t)n >= sizeof(csv) - off)
			break;
		off += (size_t)n;
	}
	if (off > 0 && ares_set_servers_ports_csv(r->channel, csv) !=
	    ARES_SUCCESS) {
		ares_destroy(r->channel);
		free(r);
		return NULL;
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	return r;
}

static void
resolver_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	/* Callbacks of cancelled queries run inside ares_destroy(). */
	ares_destroy(r->channel);
	r->closing = 1;
	while (r->socks != NULL) {
		struct resolve_sock *s = r->socks;
		r->socks = s->next;
		uv_close((uv_handle_t *)&s->poll, resolve_sock_closed);
	}
	uv_close((uv_handle_t *)&r->timer, resolver_timer_closed);
}

static int
mx_host_cmp(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

/* All answers are in: finish the set, cache it, tell the caller. */
static void
resolve_done(struct resolve_req *q)
{
	struct resolver	*r = q->r;
	struct mx_set	*set = &q->set;
	int		 i, any = 0;

	if (set->status == RESOLVE_OK) {
		for (i = 0; i < set->n; i++)
			any |= set->host[i].naddr > 0;
		if (!any) {
			/* Nothing to connect to is never a bounce: the
			 * DNS may be between two states. */
			set->status = RESOLVE_TEMPFAIL;
			snprintf(set->error, sizeof(set->error),
			    "no address for any MX host of %s", q->domain);
		}
	}
	set->secure = !q->insecure;
	/* Cache what the DNS said for sure: a full answer, or that the
	 * domain does not exist; failures are retried next time. */
	if (!q->tempfail && set->status != RESOLVE_TEMPFAIL && q->ttl > 0) {
		struct resolve_cache *c = &r->cache[r->cache_next++ %
		    RESOLVE_CACHE];
		snprintf(c->domain, sizeof(c->domain), "%s", q->domain);
		c->expires = uv_now(r->loop) +
		    (uint64_t)(q->ttl > RESOLVE_TTL_MAX ? RESOLVE_TTL_MAX :
		    q->ttl) * 1000;
		c->set = *set;
	}
	if (!q->cancelled)
		q->cb(q->arg, set);
	free(q);
}

static void	resolve_answer(void *, int, int, unsigned char *, int);

static void
resolve_send(struct resolve_req *q, const char *name, uint16_t type, int host)
{
	struct resolve_query	*rq;
	char			 buf[DNS_QUERY_MAX];
	long			 n;

	n = dns_build_query(0, name, type, 1, 1, buf, sizeof(buf));
	if (n < 0 || (rq = malloc(sizeof(*rq))) == NULL) {
		q->tempfail = 1;
		return;
	}
	rq->req = q;
	rq->host = host;
	rq->type = type;
	q->pending++;
	ares_send(q->r->channel, (unsigned char *)buf, (int)n, resolve_answer,
	    rq);
}

static void
resolve_ttl(struct resolve_req *q, uint32_t ttl)
{
	if (ttl < q->ttl)
		q->ttl = ttl;
}

/* The MX answer: build the host list, then ask for addresses. */
static void
resolve_got_mx(struct resolve_req *q, const struct dns_answer *a)
{
	struct mx_set	*set = &q->set;
	const char	*owner;
	uint32_t	 ttl;
	int		 i;

	if (a->rcode == DNS_R_NXDOMAIN) {
		set->status = RESOLVE_NXDOMAIN;
		snprintf(set->error, sizeof(set->error), "%s: no such domain",
		    q->domain);
		return;
	}
	if (a->rcode != DNS_R_NOERROR) {
		set->status = RESOLVE_TEMPFAIL;
		q->tempfail = 1;
		snprintf(set->error, sizeof(set->error), "MX lookup for %s: "
		    "rcode %d", q->domain, a->rcode);
		return;
	}
	if ((owner = dns_cname_follow(a, q->domain)) == NULL)
		owner = q->domain;
	for (i = 0; i < a->n_rr && set->n < MX_HOSTS_MAX; i++) {
		const struct dns_rr *rr = &a->rr[i];
		if (rr->type != DNS_T_MX || !dns_name_eq(rr->owner, owner))
			continue;
		snprintf(set->host[set->n].name, sizeof(set->host[0].name),
		    "%s", rr->u.mx.exchange);
		set->host[set->n].pref = rr->u.mx.preference;
		set->n++;
	}
	if (dns_min_ttl(a, owner, DNS_T_MX, &ttl) == 0)
		resolve_ttl(q, ttl);
	if (set->n == 1 && strcmp(set->host[0].name, ".") == 0) {
		set->status = RESOLVE_NULLMX;
		snprintf(set->error, sizeof(set->error), "%s accepts no mail "
		    "(null MX)", q->domain);
		return;
	}
	if (set->n == 0) {
		/* RFC 5321 5.1: no MX, the domain is its own exchange. */
		set->implicit = 1;
		snprintf(set->host[0].name, sizeof(set->host[0].name), "%s",
		    q->domain);
		set->host[0].pref = 0;
		set->n = 1;
	}
	qsort(set->host, (size_t)set->n, sizeof(set->host[0]), mx_host_cmp);
	for (i = 0; i < set->n; i++) {
		if (strcmp(set->host[i].name, ".") == 0)
			continue;
		resolve_send(q, set->host[i].name, DNS_T_A, i);
		resolve_send(q, set->host[i].name, DNS_T_AAAA, i);
	}
}

static void
resolve_got_addr(struct resolve_req *q, int host, uint16_t type,
    const struct dns_answer *a)
{
	struct mx_host	*h = &q->set.host[host];
	const char	*owner;
	uint32_t	 ttl;
	int		 i;

	if (a->rcode != DNS_R_NOERROR && a->rcode != DNS_R_NXDOMAIN) {
		q->tempfail = 1;
		return;
	}
	if ((owner = dns_cname_follow(a, h->name)) == NULL)
		return;
	if (dns_min_ttl(a, owner, type, &ttl) == 0)
		resolve_ttl(q, ttl);
	for (i = 0; i < a->n_rr && h->naddr < MX_ADDRS_MAX; i++) {
		const struct dns_rr *rr = &a->rr[i];
		struct sockaddr_storage *ss = &h->addr[h->naddr];

		if (rr->type != type || !dns_name_eq(rr->owner, owner))
			continue;
		memset(ss, 0, sizeof(*ss));
		if (type == DNS_T_A) {
			struct sockaddr_in *sin = (void *)ss;
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, rr->u.a, 4);
		} else {
			struct sockaddr_in6 *sin6 = (void *)ss;
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, rr->u.aaaa, 16);
		}
		h->naddr++;
	}
}

static void
resolve_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct resolve_query	*rq = arg;
	struct resolve_req	*q = rq->req;
	static __thread struct dns_answer a;

	(void)timeouts;
	if (status != ARES_SUCCESS || abuf == NULL || alen < 2 ||
	    dns_parse(abuf, (size_t)alen, (uint16_t)(abuf[0] << 8 | abuf[1]),
	    &a) < 0) {
		if (rq->host < 0) {
			q->set.status = RESOLVE_TEMPFAIL;
			snprintf(q->set.error, sizeof(q->set.error),
			    "MX lookup for %s: %s", q->domain,
			    status == ARES_SUCCESS ? "malformed answer" :
			    ares_strerror(status));
		}
		q->tempfail = 1;
	} else {
		if (!a.ad)
			q->insecure = 1;
		if (rq->host < 0)
			resolve_got_mx(q, &a);
		else
			resolve_got_addr(q, rq->host, rq->type, &a);
	}
	free(rq);
	if (--q->pending == 0)
		resolve_done(q);
}

struct resolve_req *
resolve_mx(struct resolver *r, const char *domain, resolve_cb *cb,
    void *arg)
{
	struct resolve_req	*q;
	uint64_t		 now = uv_now(r->loop);
	int			 i;

	for (i = 0; i < RESOLVE_CACHE; i++) {
		struct resolve_cache *c = &r->cache[i];
		if (c->expires > now && dns_name_eq(c->domain, domain)) {
			cb(arg, &c->set);
			return NULL;
		}
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		struct mx_set set;
		memset(&set, 0, sizeof(set));
		set.status = RESOLVE_TEMPFAIL;
		snprintf(set.error, sizeof(set.error), "out of memory");
		cb(arg, &set);
		return NULL;
	}
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->ttl = RESOLVE_TTL_MAX;
	q->set.status = RESOLVE_OK;
	snprintf(q->domain, sizeof(q->domain), "%s", domain);
	/* Hold a reference while sending, so that an answer delivered
	 * synchronously cannot finish the request under our feet. */
	q->pending = 1;
	resolve_send(q, domain, DNS_T_MX, -1);
	if (q->pending == 1 && q->tempfail) {
		q->set.status = RESOLVE_TEMPFAIL;
		snprintf(q->set.error, sizeof(q->set.error), "bad domain %s",
		    domain);
	}
	resolve_arm(r);
	if (--q->pending == 0) {
		resolve_done(q);
		return NULL;
	}
	return q;
}

void
resolve_cancel(struct resolve_req *q)
{
	if (q != NULL)
		q->cancelled = 1;
}

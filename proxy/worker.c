/*
 * Workers: one thread and one libuv loop each, SO_REUSEPORT listeners
 * so that the kernel spreads connections across them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "resolve.h"
#include "session.h"
#include "worker.h"

#define ACCEPT_BURST	64
#define EMFILE_PAUSE_MS	500
#define WORKER_GRACE_S	30	/* SIGTERM: sessions get this long */

static void	worker_accept_cb(uv_poll_t *, int, int);

static void
worker_closed_cb(uv_handle_t *h)
{
	(void)h;
}

static int
listener_open(struct listener *l, char *err, size_t errlen)
{
	const struct sockaddr	*sa = (const struct sockaddr *)&l->addr->sa;
	int			 fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, sa, l->addr->len) < 0 || listen(fd, 1024) < 0)
		goto fail;
	l->fd = fd;
	return 0;
fail:
	snprintf(err, errlen, "listen %s: %s", l->addr->text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Open one listener of `kind` per configured address. */
static int
worker_bind_kind(struct worker *w, enum listener_kind kind,
    const struct config_addr *addrs, int n, char *err, size_t errlen)
{
	int	i;

	for (i = 0; i < n; i++) {
		struct listener *l = &w->listeners[w->n_listeners];
		l->w = w;
		l->kind = kind;
		l->addr = &addrs[i];
		if (listener_open(l, err, errlen) < 0)
			return -1;
		w->n_listeners++;
	}
	return 0;
}

int
worker_bind(struct worker *w, char *err, size_t errlen)
{
	const struct config *cfg = w->cfg;

	if (worker_bind_kind(w, LISTEN_SMTPS, cfg->listen_smtps,
	    cfg->n_listen_smtps, err, errlen) < 0 ||
	    worker_bind_kind(w, LISTEN_STARTTLS, cfg->listen_starttls,
	    cfg->n_listen_starttls, err, errlen) < 0 ||
	    worker_bind_kind(w, LISTEN_OUTBOUND, cfg->listen_outbound,
	    cfg->n_listen_outbound, err, errlen) < 0)
		return -1;
	return 0;
}

/* Start or stop polling every listener. */
static void
worker_listen(struct worker *w, int on)
{
	int	i;

	for (i = 0; i < w->n_listeners; i++) {
		struct listener *l = &w->listeners[i];
		if (on && !l->polling) {
			uv_poll_start(&l->poll, UV_READABLE, worker_accept_cb);
			l->polling = 1;
		} else if (!on && l->polling) {
			uv_poll_stop(&l->poll);
			l->polling = 0;
		}
	}
}

static void
worker_resume_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	w->paused = 0;
	if (!w->stopping && w->nconns < w->cfg->max_connections)
		worker_listen(w, 1);
}

static void
worker_accept_cb(uv_poll_t *h, int status, int events)
{
	struct listener		*l = h->data;
	struct worker		*w = l->w;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, n;

	for (n = 0; n < ACCEPT_BURST; n++) {
		if (w->stopping)
			return;
		if (w->nconns >= w->cfg->max_connections) {
			/* Leave further clients in the kernel's backlog
			 * until a session ends. */
			worker_listen(w, 0);
			return;
		}
		len = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_event(LOG_WARN, "-", "event=accept "
				    "listener=%s error=\"%s\" action=pause",
				    l->addr->text, strerror(errno));
				worker_listen(w, 0);
				w->paused = 1;
				uv_timer_start(&w->pause_timer,
				    worker_resume_cb, EMFILE_PAUSE_MS, 0);
			}
			return;
		}
		w->nconns++;
		if (l->kind == LISTEN_OUTBOUND)
			session_out_start(w, l, fd, (struct sockaddr *)&ss, len);
		else
			session_in_start(w, l, fd, (struct sockaddr *)&ss, len);
	}
}

/* A stopping worker leaves its loop once its last session is gone. */
static void
worker_maybe_exit(struct worker *w)
{
	if (!w->stopping || w->nconns > 0 || w->exited)
		return;
	w->exited = 1;
	session_out_pool_flush(w);
	free(w->peek);
	w->peek = NULL;
	resolver_free(w->resolver);
	w->resolver = NULL;
	uv_close((uv_handle_t *)&w->pause_timer, worker_closed_cb);
	uv_close((uv_handle_t *)&w->wakeup, worker_closed_cb);
}

void
worker_session_gone(struct worker *w)
{
	w->nconns--;
	if (w->stopping)
		worker_maybe_exit(w);
	else if (!w->paused && w->nconns < w->cfg->max_connections)
		worker_listen(w, 1);
}

/* The shutdown grace period is over: end what is left. */
static void
worker_grace_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	log_event(LOG_WARN, "-", "event=shutdown worker=%d sessions=%d "
	    "action=close", w->index, w->nconns);
	session_close_all(w);
	session_out_close_all(w);
}

/* Runs on the worker's loop when the main thread asks it to stop:
 * no new connections, sessions finish within the grace period. */
static void
worker_wakeup_cb(uv_async_t *a)
{
	struct worker	*w = a->data;
	int		 i;

	if (w->stopping)
		return;
	w->stopping = 1;
	for (i = 0; i < w->n_listeners; i++) {
		uv_close((uv_handle_t *)&w->listeners[i].poll, worker_closed_cb);
		close(w->listeners[i].fd);
		w->listeners[i].fd = -1;
	}
	session_out_pool_flush(w);
	uv_timer_stop(&w->pause_timer);
	uv_timer_start(&w->pause_timer, worker_grace_cb,
	    (uint64_t)WORKER_GRACE_S * 1000, 0);
	worker_maybe_exit(w);
}

static void
worker_main(void *arg)
{
	struct worker	*w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
}

int
worker_start(struct worker *w)
{
	int	i;

	if (uv_loop_init(&w->loop) < 0)
		return -1;
	uv_async_init(&w->loop, &w->wakeup, worker_wakeup_cb);
	w->wakeup.data = w;
	uv_timer_init(&w->loop, &w->pause_timer);
	w->pause_timer.data = w;
	for (i = 0; i < w->n_listeners; i++) {
		uv_poll_init(&w->loop, &w->listeners[i].poll,
		    w->listeners[i].fd);
		w->listeners[i].poll.data = &w->listeners[i];
	}
	if (w->cfg->n_listen_outbound > 0 &&
	    (w->resolver = resolver_new(&w->loop, w->cfg)) == NULL)
		return -1;
	worker_listen(w, 1);
	return uv_thread_create(&w->thread, worker_main, w) == 0 ? 0 : -1;
}

void
worker_stop(struct worker *w)
{
	uv_async_send(&w->wakeup);
}

void
worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
	uv_loop_close(&w->loop);
}

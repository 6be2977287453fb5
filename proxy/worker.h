/*
 * A worker: one thread, one libuv loop, its own SO_REUSEPORT listening
 * sockets.  Sessions live and die on the worker that accepted them; no
 * lock is taken on the per-connection path.
 */
#ifndef WORKER_H
#define WORKER_H

#include <uv.h>

#include "config.h"
#include "tls.h"

enum listener_kind { LISTEN_SMTPS, LISTEN_STARTTLS, LISTEN_OUTBOUND };

struct worker;

struct listener {
	struct worker		*w;
	enum listener_kind	 kind;
	int			 fd;
	uv_poll_t		 poll;
	const struct config_addr *addr;
	unsigned		 polling:1;
};

#define WORKER_LISTEN_MAX	(3 * CONFIG_LISTEN_MAX)

struct session;
struct out_session;
struct resolver;
struct up_pool;

struct worker {
	int			 index;
	uv_loop_t		 loop;
	uv_thread_t		 thread;
	uv_async_t		 wakeup;	/* main thread -> worker */
	uv_timer_t		 pause_timer;	/* accept back-off */
	const struct config	*cfg;
	struct tls_server	*tls;
	struct listener		 listeners[WORKER_LISTEN_MAX];
	int			 n_listeners;
	int			 nconns;
	unsigned		 stopping:1;
	unsigned		 paused:1;
	unsigned		 exited:1;
	struct session		*sessions;	/* doubly linked, for shutdown */
	struct out_session	*out_sessions;
	struct resolver		*resolver;	/* outbound only */
	struct tls_client	*tls_client;	/* outbound only */
	struct up_pool		*up_pool;	/* idle upstream sessions */
	char			*peek;		/* outbound splice path: where
						 * bodies are looked at */
	char			 hostname[256];
};

/* Open (bind, listen) this worker's sockets.  Before privileges are
 * dropped.  0, or -1 with a message in err. */
int worker_bind(struct worker *, char *err, size_t errlen);

/* Start the worker thread.  0 or -1. */
int worker_start(struct worker *);

/* From the main thread, once: stop accepting; sessions finish on their
 * own within a grace period, then are closed; the thread then ends. */
void worker_stop(struct worker *);

void worker_join(struct worker *);

/* Called by sessions when they end: frees a connection slot. */
void worker_session_gone(struct worker *);

#endif

/*
 * A non-blocking TLS client connection that goes through TCP connect,
 * a full TLS 1.3 handshake and, optionally, the first line the server
 * side sends (a greeting from the sink behind a terminator), driven by
 * an epoll loop owned by the caller.
 */
#ifndef TCONN_H
#define TCONN_H

#include "bench.h"

enum tconn_state { TC_IDLE, TC_CONNECT, TC_HANDSHAKE, TC_GREETING, TC_DONE };

struct tconn {
	int		 fd;
	WOLFSSL		*ssl;
	enum tconn_state st;
	uint64_t	 t0;		/* ns at connect() */
	uint64_t	 t_done;	/* ns when established */
	uint32_t	 want;		/* EPOLLIN / EPOLLOUT wanted now */
	int		 greeting;	/* wait for a line after the handshake */
	size_t		 got;
	char		 err[160];
};

/* Start connecting; adds the fd to ep with ptr as its data. With
 * check_name, the certificate must also be valid for sni. -1 on error
 * (tc->err says why; nothing is left open). */
int	tconn_start(struct tconn *tc, int ep, void *ptr,
	    const struct bench_addr *a, WOLFSSL_CTX *ctx, const char *sni,
	    int greeting, int check_name);
/* Advance after an event; 1 established, 0 in progress, -1 failed. */
int	tconn_step(struct tconn *tc, int ep, void *ptr);
/* Read and drop whatever is readable once established (tickets, data);
 * returns -1 when the peer closed or failed. */
int	tconn_drain(struct tconn *tc);
/* Send close_notify (unless abort) and close; removes fd from ep. */
void	tconn_close(struct tconn *tc, int ep, int abort);

#endif

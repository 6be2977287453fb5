/*
 * One side of a connection: a non-blocking socket, optionally carrying
 * TLS.  The session above sees bytes, "would block", end of stream or
 * error; whether wolfSSL sits in between is the leg's business.
 *
 * I/O is attempted optimistically: a leg remembers whether the last
 * read or write would have blocked and only then asks the event loop to
 * wait for readiness (the rd_ok/wr_ok flags).
 */
#ifndef LEG_H
#define LEG_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <sys/types.h>
#include <uv.h>

#include "buf.h"

#define LEG_AGAIN	(-2)	/* would block: wait for readiness */
#define LEG_ERR		(-1)	/* connection error or TLS failure */

struct leg;
typedef void leg_cb(void *owner);

struct leg {
	int		 fd;
	WOLFSSL		*ssl;		/* NULL: plain */
	uv_poll_t	 poll;
	void		*owner;
	leg_cb		*on_event;	/* called after readiness changes */
	int		 polling;	/* events currently asked of libuv */
	unsigned	 active:1;	/* poll handle initialised */
	unsigned	 rd_ok:1;	/* a read may make progress */
	unsigned	 wr_ok:1;	/* a write may make progress */
	unsigned	 rd_wants_wr:1;	/* TLS read blocked on a write */
	unsigned	 wr_wants_rd:1;	/* TLS write blocked on a read */
	unsigned	 eof:1;		/* end of stream read */
	unsigned	 shut:1;	/* our write side is shut */
	unsigned	 failed:1;
	size_t		 wr_pending;	/* TLS: length of a blocked write,
					 * to be retried unchanged */
	struct buf	 ra;		/* TLS: bytes read ahead of the
					 * record layer; empty = freed */
	int		 err;		/* last errno / wolfSSL error */
};

/* Initialise a leg on a non-blocking socket (no TLS yet).  0 or a
 * libuv error. */
int leg_init(uv_loop_t *, struct leg *, int fd, void *owner, leg_cb *);

/* Read up to n bytes: > 0, 0 at end of stream, LEG_AGAIN or LEG_ERR. */
ssize_t leg_read(struct leg *, char *p, size_t n);

/* Write up to n bytes: > 0 written, LEG_AGAIN or LEG_ERR.  On a TLS leg
 * a write that returned LEG_AGAIN must be retried with the same bytes. */
ssize_t leg_write(struct leg *, const char *p, size_t n);

/* Read as much as fits into b.  Returns bytes read (> 0), 0 when
 * nothing could be read now, LEG_ERR; sets eof on end of stream. */
ssize_t leg_fill(struct leg *, struct buf *b);

/* Write as much of b as the socket takes.  Returns bytes written,
 * 0 when blocked, LEG_ERR. */
ssize_t leg_flush(struct leg *, struct buf *b);

/* Put TLS on the leg: ssl was made for its socket, and reads it
 * through the leg's read-ahead buffer from now on. */
void leg_tls_attach(struct leg *, WOLFSSL *ssl);

/* TLS server handshake step: 1 done, LEG_AGAIN, LEG_ERR. */
int leg_accept(struct leg *);

/* TLS client handshake step: 1 done, LEG_AGAIN, LEG_ERR. */
int leg_connect(struct leg *);

/* Shut our write side: FIN on a plain leg, close_notify on TLS. */
void leg_shutdown(struct leg *);

/* Ask the loop for the readiness the leg needs: want_read when the
 * caller wants input, want_write when it has output queued. */
void leg_want(struct leg *, int want_read, int want_write);

/* wolfSSL's description of the leg's last TLS error. */
const char *leg_tls_error(const struct leg *);

/* Stop polling, close the socket, free the TLS object.  The poll
 * handle is closed with uv_close(); `cb` runs when it is done. */
void leg_close(struct leg *, uv_close_cb cb);

#endif

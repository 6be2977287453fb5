/*
 * The relay: once a session is negotiated, bytes flow between two legs
 * with no SMTP code in the path.  Plain-to-plain directions use
 * splice(2) through a pipe; anything with TLS on it is copied through a
 * bounded buffer, one user-space pass per byte.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdint.h>

#include "buf.h"
#include "leg.h"

#define RELAY_DONE	2	/* the server side closed, all flushed */
#define RELAY_PROGRESS	1
#define RELAY_IDLE	0
#define RELAY_ERR	(-1)

struct relay_dir {
	struct leg	*src, *dst;
	struct buf	*buf;		/* bytes read, not yet written */
	int		 pipe[2];	/* splice path; -1 until used */
	size_t		 inpipe;
	uint64_t	 bytes;
	unsigned	 done:1;	/* src ended and everything passed */
};

struct relay {
	struct relay_dir c2s, s2c;	/* client -> server, server -> client */
	unsigned	 splice:1;	/* both legs plain and splice allowed */
};

/*
 * Set up a relay between client leg c and server leg s using the
 * buffers c2s and s2c, which may already hold bytes to pass on (they are
 * written before anything else in their direction).  use_splice asks for
 * the splice path where both legs are plain.
 */
void relay_init(struct relay *, struct leg *c, struct leg *s,
    struct buf *c2s, struct buf *s2c, int use_splice);

/*
 * Move what can be moved now.  Returns RELAY_PROGRESS if any byte moved,
 * RELAY_IDLE if nothing could, RELAY_DONE when the server side has
 * ended and its last bytes reached the client, RELAY_ERR on a socket or
 * TLS error (the failing leg has `failed` set).
 */
int relay_step(struct relay *);

/* Ask the event loop for the readiness the relay waits on. */
void relay_want(struct relay *);

/* Close the pipes.  The legs and buffers belong to the caller. */
void relay_free(struct relay *);

#endif

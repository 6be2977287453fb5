/*
 * Relay engine.  Back-pressure is by construction: a direction reads
 * its source only while its buffer (or pipe) has room, so a slow
 * destination stops the source being read and TCP flow control does
 * the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "relay.h"

#define RELAY_SPLICE_CHUNK	(256 * 1024)

static void
relay_dir_init(struct relay_dir *d, struct leg *src, struct leg *dst,
    struct buf *b)
{
	d->src = src;
	d->dst = dst;
	d->buf = b;
	d->pipe[0] = d->pipe[1] = -1;
	d->inpipe = 0;
	d->bytes = 0;
	d->done = 0;
}

void
relay_init(struct relay *r, struct leg *c, struct leg *s, struct buf *c2s,
    struct buf *s2c, int use_splice)
{
	relay_dir_init(&r->c2s, c, s, c2s);
	relay_dir_init(&r->s2c, s, c, s2c);
	r->splice = use_splice && c->ssl == NULL && s->ssl == NULL;
}

/* splice from fd to fd; returns bytes, 0 at EOF, LEG_AGAIN, LEG_ERR
 * (errno kept). */
static ssize_t
relay_splice(int from, int to, size_t n)
{
	ssize_t	r;

	do
		r = splice(from, NULL, to, NULL, n,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return r;
	if (errno == EAGAIN)
		return LEG_AGAIN;
	return LEG_ERR;
}

/*
 * The splice path of one direction.  Returns bytes moved, or LEG_ERR;
 * -3 when the kernel refuses splice for these descriptors, so that the
 * caller falls back to copying.
 */
static ssize_t
relay_dir_splice(struct relay_dir *d)
{
	ssize_t	moved = 0, n;

	if (d->pipe[0] < 0) {
		if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
			return -3;
		(void)fcntl(d->pipe[1], F_SETPIPE_SZ, RELAY_SPLICE_CHUNK);
	}
	for (;;) {
		/* Drain the pipe first: read the source only into an
		 * empty pipe, so that EAGAIN on input always means "no
		 * data" and never "pipe full". */
		while (d->inpipe > 0 && d->dst->wr_ok) {
			n = relay_splice(d->pipe[0], d->dst->fd, d->inpipe);
			if (n > 0) {
				d->inpipe -= (size_t)n;
				d->bytes += (uint64_t)n;
				moved += n;
			} else if (n == LEG_AGAIN)
				d->dst->wr_ok = 0;
			else {
				d->dst->err = errno;
				d->dst->failed = 1;
				return LEG_ERR;
			}
		}
		if (d->inpipe > 0 || !d->src->rd_ok || d->src->eof)
			return moved;
		n = relay_splice(d->src->fd, d->pipe[1], RELAY_SPLICE_CHUNK);
		if (n > 0) {
			d->inpipe = (size_t)n;
			continue;
		}
		if (n == 0) {
			d->src->eof = 1;
			return moved;
		}
		if (n == LEG_AGAIN) {
			d->src->rd_ok = 0;
			return moved;
		}
		if (errno == EINVAL || errno == ENOSYS)
			return moved > 0 ? moved : -3;
		d->src->err = errno;
		d->src->failed = 1;
		return LEG_ERR;
	}
}

/* One direction: returns bytes moved or LEG_ERR. */
static ssize_t
relay_dir_step(struct relay *r, struct relay_dir *d)
{
	ssize_t	moved = 0, n;

	if (d->done)
		return 0;
	for (;;) {
		if (buf_len(d->buf) > 0) {
			if ((n = leg_flush(d->dst, d->buf)) < 0)
				return LEG_ERR;
			d->bytes += (uint64_t)n;
			moved += n;
			if (buf_len(d->buf) > 0)
				break;		/* destination is full */
		}
		if (r->splice) {
			n = relay_dir_splice(d);
			if (n == -3) {
				r->splice = 0;	/* kernel said no: copy */
				continue;
			}
			if (n < 0)
				return LEG_ERR;
			moved += n;
			break;
		}
		if (d->src->eof || !d->src->rd_ok)
			break;
		if ((n = leg_fill(d->src, d->buf)) < 0)
			return LEG_ERR;
		if (n == 0 && buf_len(d->buf) == 0)
			break;
	}
	if (d->src->eof && buf_len(d->buf) == 0 && d->inpipe == 0) {
		/* Pass the end of stream on: FIN or close_notify. */
		leg_shutdown(d->dst);
		d->done = 1;
		buf_trim(d->buf);
	} else if (buf_len(d->buf) == 0)
		buf_trim(d->buf);	/* idle: hold no buffer memory */
	return moved;
}

int
relay_step(struct relay *r)
{
	ssize_t	a, b;

	if ((a = relay_dir_step(r, &r->c2s)) < 0 ||
	    (b = relay_dir_step(r, &r->s2c)) < 0)
		return RELAY_ERR;
	/* The server ending the session ends the relay: SMTP servers
	 * close after QUIT or 421, and nothing the client could still
	 * send would be read. */
	if (r->s2c.done)
		return RELAY_DONE;
	return a + b > 0 ? RELAY_PROGRESS : RELAY_IDLE;
}

void
relay_want(struct relay *r)
{
	struct relay_dir	*c2s = &r->c2s, *s2c = &r->s2c;
	int			 rd_c, rd_s, wr_c, wr_s;

	rd_c = !c2s->done && !c2s->src->eof && buf_room(c2s->buf) > 0 &&
	    c2s->inpipe == 0;
	rd_s = !s2c->done && !s2c->src->eof && buf_room(s2c->buf) > 0 &&
	    s2c->inpipe == 0;
	wr_s = buf_len(c2s->buf) > 0 || c2s->inpipe > 0;
	wr_c = buf_len(s2c->buf) > 0 || s2c->inpipe > 0;
	leg_want(c2s->src, rd_c, wr_c);
	leg_want(s2c->src, rd_s, wr_s);
}

void
relay_free(struct relay *r)
{
	struct relay_dir	*d[2] = { &r->c2s, &r->s2c };
	int			 i;

	for (i = 0; i < 2; i++) {
		if (d[i]->pipe[0] >= 0) {
			close(d[i]->pipe[0]);
			close(d[i]->pipe[1]);
			d[i]->pipe[0] = d[i]->pipe[1] = -1;
		}
	}
}

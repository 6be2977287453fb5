/*
 * A leg: non-blocking socket I/O, plain or through wolfSSL.
 *
 * wolfSSL writes the socket itself (wolfSSL_set_fd) and decrypts
 * straight into the buffer that the other leg writes from.  It reads
 * through leg_tls_recv(): wolfSSL asks for exactly one record header,
 * then exactly one record, and two small recv(2) calls per 16 KiB record
 * cost more than the copy out of a read-ahead buffer filled by one large
 * recv(2) (on loopback every receive may also send the peer's ACK and
 * run its transmit path on our time).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "leg.h"

#define LEG_READ_AHEAD	(64 * 1024)	/* grows to LEG_READ_AHEAD_MAX */
#define LEG_READ_AHEAD_MAX (512 * 1024)	/* under bulk transfer */

static void
leg_poll_cb(uv_poll_t *h, int status, int events)
{
	struct leg *l = h->data;

	if (status < 0) {
		/* Let the next read or write report the error. */
		l->rd_ok = l->wr_ok = 1;
	}
	if (events & (UV_READABLE | UV_DISCONNECT)) {
		l->rd_ok = 1;
		if (l->wr_wants_rd)
			l->wr_ok = 1;
	}
	if (events & UV_WRITABLE) {
		l->wr_ok = 1;
		if (l->rd_wants_wr)
			l->rd_ok = 1;
	}
	l->on_event(l->owner);
}

int
leg_init(uv_loop_t *loop, struct leg *l, int fd, void *owner, leg_cb *cb)
{
	int	r;

	memset(l, 0, sizeof(*l));
	buf_init(&l->ra, LEG_READ_AHEAD);
	(void)buf_resize(&l->ra, LEG_READ_AHEAD, LEG_READ_AHEAD_MAX);
	l->fd = fd;
	l->owner = owner;
	l->on_event = cb;
	l->rd_ok = 1;
	l->wr_ok = 1;
	if ((r = uv_poll_init(loop, &l->poll, fd)) < 0)
		return r;
	l->poll.data = l;
	l->active = 1;
	return 0;
}

/* Map a wolfSSL return code onto the leg's flags. */
static ssize_t
leg_tls_result(struct leg *l, int ret, int reading)
{
	int	e = wolfSSL_get_error(l->ssl, ret);

	switch (e) {
	case WOLFSSL_ERROR_WANT_READ:
		if (reading)
			l->rd_ok = 0;
		else {
			l->wr_ok = 0;
			l->wr_wants_rd = 1;
		}
		return LEG_AGAIN;
	case WOLFSSL_ERROR_WANT_WRITE:
		if (reading) {
			l->rd_ok = 0;
			l->rd_wants_wr = 1;
		} else
			l->wr_ok = 0;
		return LEG_AGAIN;
	case WOLFSSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		/* A TCP close without close_notify ends the stream too;
		 * SMTP has its own end-of-data marker, so truncation is
		 * visible to the peer MTA. */
		if (e == SOCKET_PEER_CLOSED_E || e == SOCKET_ERROR_E) {
			if (reading && e == SOCKET_PEER_CLOSED_E)
				return 0;
		}
		l->err = e;
		l->failed = 1;
		return LEG_ERR;
	}
}

ssize_t
leg_read(struct leg *l, char *p, size_t n)
{
	ssize_t	r;

	if (l->ssl != NULL) {
		l->rd_wants_wr = 0;
		r = wolfSSL_read(l->ssl, p, (int)(n > 0x40000000 ? 0x40000000 : n));
		if (r > 0)
			return r;
		return leg_tls_result(l, (int)r, 1);
	}
	for (;;) {
		r = read(l->fd, p, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			l->rd_ok = 0;
			return LEG_AGAIN;
		}
		l->err = errno;
		l->failed = 1;
		return LEG_ERR;
	}
}

ssize_t
leg_write(struct leg *l, const char *p, size_t n)
{
	ssize_t	r;

	if (l->ssl != NULL) {
		/* wolfSSL wants a blocked write repeated with the same
		 * arguments; it keeps the encrypted record meanwhile. */
		if (l->wr_pending != 0 && n > l->wr_pending)
			n = l->wr_pending;
		if (n > 0x40000000)
			n = 0x40000000;
		l->wr_wants_rd = 0;
		r = wolfSSL_write(l->ssl, p, (int)n);
		if (r > 0) {
			l->wr_pending = 0;
			return r;
		}
		r = leg_tls_result(l, (int)r, 0);
		if (r == LEG_AGAIN)
			l->wr_pending = n;
		else if (r == 0) {
			l->failed = 1;
			r = LEG_ERR;
		}
		return r;
	}
	for (;;) {
		r = send(l->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			l->wr_ok = 0;
			return LEG_AGAIN;
		}
		l->err = errno;
		l->failed = 1;
		return LEG_ERR;
	}
}

ssize_t
leg_fill(struct leg *l, struct buf *b)
{
	ssize_t	 total = 0, r;
	size_t	 room;
	char	*p;

	while (l->rd_ok && !l->eof) {
		if (buf_room(b) == 0) {
			/* Full with more to come: bulk.  Grow if allowed. */
			buf_grow(b);
			if (buf_room(b) == 0)
				break;
		}
		if ((p = buf_space(b, &room)) == NULL) {
			l->err = ENOMEM;
			l->failed = 1;
			return LEG_ERR;
		}
		r = leg_read(l, p, room);
		if (r > 0) {
			buf_produced(b, (size_t)r);
			total += r;
			/* A short plain read means the socket is drained:
			 * save the syscall that would return EAGAIN. */
			if (l->ssl == NULL && (size_t)r < room)
				l->rd_ok = 0;
			continue;
		}
		if (r == 0) {
			l->eof = 1;
			break;
		}
		if (r == LEG_AGAIN)
			break;
		return LEG_ERR;
	}
	return total;
}

ssize_t
leg_flush(struct leg *l, struct buf *b)
{
	ssize_t	total = 0, r;

	while (l->wr_ok && buf_len(b) > 0) {
		r = leg_write(l, buf_data(b), buf_len(b));
		if (r > 0) {
			buf_consume(b, (size_t)r);
			total += r;
			continue;
		}
		if (r == LEG_AGAIN)
			break;
		return LEG_ERR;
	}
	return total;
}

/* wolfSSL's receive callback (ctx is the leg). */
static int
leg_tls_recv(WOLFSSL *ssl, char *p, int sz, void *ctx)
{
	struct leg	*l = ctx;
	ssize_t		 r;
	size_t		 n, room;
	char		*q;

	if (buf_len(&l->ra) == 0) {
		if ((q = buf_space(&l->ra, &room)) == NULL)
			return WOLFSSL_CBIO_ERR_GENERAL;
		do
			r = recv(l->fd, q, room, 0);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			buf_trim(&l->ra);	/* idle: hold no memory */
			if (r == 0)
				return WOLFSSL_CBIO_ERR_CONN_CLOSE;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return WOLFSSL_CBIO_ERR_WANT_READ;
			if (errno == ECONNRESET)
				return WOLFSSL_CBIO_ERR_CONN_RST;
			if (errno == EPIPE || errno == ECONNABORTED)
				return WOLFSSL_CBIO_ERR_CONN_CLOSE;
			return WOLFSSL_CBIO_ERR_GENERAL;
		}
		buf_produced(&l->ra, (size_t)r);
		if ((size_t)r == room)
			buf_grow(&l->ra);	/* more was waiting */
	}
	n = buf_len(&l->ra) < (size_t)sz ? buf_len(&l->ra) : (size_t)sz;
	memcpy(p, buf_data(&l->ra), n);
	buf_consume(&l->ra, n);
	buf_trim(&l->ra);
	return (int)n;
}

void
leg_tls_attach(struct leg *l, WOLFSSL *ssl)
{
	l->ssl = ssl;
	if (ssl != NULL) {
		wolfSSL_SSLSetIORecv(ssl, leg_tls_recv);
		wolfSSL_SetIOReadCtx(ssl, l);
	}
}

static int
leg_handshake(struct leg *l, int server)
{
	int	r, e;

	r = server ? wolfSSL_accept(l->ssl) : wolfSSL_connect(l->ssl);
	if (r == WOLFSSL_SUCCESS) {
		/*
		 * The handshake's secrets and scratch arrays are of no use
		 * past it: the session keys and the resumption secret are
		 * derived by now, and mxgate neither asks for nor answers
		 * post-handshake authentication.  Our own wolfSSL build has
		 * freed them already; a build with post-handshake
		 * authentication (Debian's, WOLFSSL=system) would keep
		 * 5 KiB of them for as long as the connection lives.
		 */
		wolfSSL_FreeArrays(l->ssl);
		return 1;
	}
	e = wolfSSL_get_error(l->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ) {
		l->rd_ok = 0;
		l->wr_wants_rd = 0;
		return LEG_AGAIN;
	}
	if (e == WOLFSSL_ERROR_WANT_WRITE) {
		l->wr_ok = 0;
		l->rd_wants_wr = 0;
		return LEG_AGAIN;
	}
	l->err = e;
	l->failed = 1;
	return LEG_ERR;
}

int
leg_accept(struct leg *l)
{
	return leg_handshake(l, 1);
}

int
leg_connect(struct leg *l)
{
	return leg_handshake(l, 0);
}

void
leg_shutdown(struct leg *l)
{
	if (l->shut)
		return;
	l->shut = 1;
	if (l->ssl != NULL)
		(void)wolfSSL_shutdown(l->ssl);	/* one try: non-blocking */
	else
		(void)shutdown(l->fd, SHUT_WR);
}

void
leg_want(struct leg *l, int want_read, int want_write)
{
	int	ev = 0;

	if (!l->active)
		return;
	/* Wait only for what would block; what would not is retried by
	 * the owner's strategy function before it sleeps. */
	if (want_read && !l->rd_ok)
		ev |= l->rd_wants_wr ? UV_WRITABLE : UV_READABLE;
	if (want_write && !l->wr_ok)
		ev |= l->wr_wants_rd ? UV_READABLE : UV_WRITABLE;
	if (ev == l->polling)
		return;
	l->polling = ev;
	if (ev == 0)
		uv_poll_stop(&l->poll);
	else
		uv_poll_start(&l->poll, ev, leg_poll_cb);
}

const char *
leg_tls_error(const struct leg *l)
{
	static __thread char	msg[WOLFSSL_MAX_ERROR_SZ];

	if (l->err == 0)
		return "none";
	if (l->ssl == NULL)
		return strerror(l->err);
	wolfSSL_ERR_error_string_n((unsigned long)l->err, msg, sizeof(msg));
	return msg;
}

void
leg_close(struct leg *l, uv_close_cb cb)
{
	if (l->ssl != NULL) {
		wolfSSL_free(l->ssl);
		l->ssl = NULL;
	}
	buf_free(&l->ra);
	if (l->active) {
		l->active = 0;
		uv_close((uv_handle_t *)&l->poll, cb);
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

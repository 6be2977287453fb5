/*
 * Non-blocking TLS client connections for the handshake loop and the
 * idle-connection holder (see tconn.h).
 */
#include "tconn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static void
tconn_want(struct tconn *tc, int ep, void *ptr, uint32_t want)
{
	struct epoll_event	ev;

	if (want == tc->want)
		return;
	ev.events = want;
	ev.data.ptr = ptr;
	epoll_ctl(ep, EPOLL_CTL_MOD, tc->fd, &ev);
	tc->want = want;
}

int
tconn_start(struct tconn *tc, int ep, void *ptr, const struct bench_addr *a,
    WOLFSSL_CTX *ctx, const char *sni, int greeting, int check_name)
{
	struct epoll_event	ev;

	memset(tc, 0, sizeof(*tc));
	tc->fd = -1;
	tc->greeting = greeting;
	tc->t0 = bench_now_ns();
	if ((tc->fd = bench_connect(a, 1)) < 0) {
		snprintf(tc->err, sizeof(tc->err), "connect: %s",
		    strerror(errno));
		return -1;
	}
	if ((tc->ssl = wolfSSL_new(ctx)) == NULL ||
	    wolfSSL_set_fd(tc->ssl, tc->fd) != WOLFSSL_SUCCESS ||
	    (sni != NULL && wolfSSL_UseSNI(tc->ssl, WOLFSSL_SNI_HOST_NAME,
	    sni, (unsigned short)strlen(sni)) != WOLFSSL_SUCCESS) ||
	    (check_name && sni != NULL &&
	    wolfSSL_check_domain_name(tc->ssl, sni) != WOLFSSL_SUCCESS)) {
		snprintf(tc->err, sizeof(tc->err), "wolfSSL_new failed");
		goto fail;
	}
	tc->st = TC_CONNECT;
	tc->want = EPOLLOUT;
	ev.events = EPOLLOUT;
	ev.data.ptr = ptr;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tc->fd, &ev) < 0) {
		snprintf(tc->err, sizeof(tc->err), "epoll: %s",
		    strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (tc->ssl != NULL)
		wolfSSL_free(tc->ssl);
	tc->ssl = NULL;
	close(tc->fd);
	tc->fd = -1;
	return -1;
}

int
tconn_step(struct tconn *tc, int ep, void *ptr)
{
	int		ret, e, soerr = 0;
	socklen_t	sl = sizeof(soerr);
	char		buf[1024];

	switch (tc->st) {
	case TC_CONNECT:
		if (getsockopt(tc->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr != 0) {
			snprintf(tc->err, sizeof(tc->err), "connect: %s",
			    strerror(soerr ? soerr : errno));
			return -1;
		}
		tc->st = TC_HANDSHAKE;
		/* FALLTHROUGH */
	case TC_HANDSHAKE:
		ret = wolfSSL_connect(tc->ssl);
		if (ret != WOLFSSL_SUCCESS) {
			e = wolfSSL_get_error(tc->ssl, ret);
			if (e == WOLFSSL_ERROR_WANT_READ) {
				tconn_want(tc, ep, ptr, EPOLLIN);
				return 0;
			}
			if (e == WOLFSSL_ERROR_WANT_WRITE) {
				tconn_want(tc, ep, ptr, EPOLLOUT);
				return 0;
			}
			snprintf(tc->err, sizeof(tc->err), "handshake: %s",
			    bench_tls_err(tc->ssl, ret));
			return -1;
		}
		if (!tc->greeting) {
			tc->st = TC_DONE;
			tc->t_done = bench_now_ns();
			tconn_want(tc, ep, ptr, EPOLLIN);
			return 1;
		}
		tc->st = TC_GREETING;
		tconn_want(tc, ep, ptr, EPOLLIN);
		/* FALLTHROUGH */
	case TC_GREETING:
		for (;;) {
			ret = wolfSSL_read(tc->ssl, buf, sizeof(buf));
			if (ret > 0) {
				tc->got += (size_t)ret;
				if (memchr(buf, '\n', (size_t)ret) != NULL) {
					tc->st = TC_DONE;
					tc->t_done = bench_now_ns();
					tconn_want(tc, ep, ptr, EPOLLIN);
					return 1;
				}
				continue;
			}
			e = wolfSSL_get_error(tc->ssl, ret);
			if (e == WOLFSSL_ERROR_WANT_READ)
				return 0;
			if (e == WOLFSSL_ERROR_WANT_WRITE) {
				tconn_want(tc, ep, ptr, EPOLLIN | EPOLLOUT);
				return 0;
			}
			snprintf(tc->err, sizeof(tc->err), "no greeting: %s",
			    ret == 0 ? "closed" : bench_tls_err(tc->ssl, ret));
			return -1;
		}
	case TC_DONE:
		return 1;
	default:
		snprintf(tc->err, sizeof(tc->err), "not started");
		return -1;
	}
}

int
tconn_drain(struct tconn *tc)
{
	char	buf[1024];
	int	ret, e;

	for (;;) {
		ret = wolfSSL_read(tc->ssl, buf, sizeof(buf));
		if (ret > 0)
			continue;
		e = wolfSSL_get_error(tc->ssl, ret);
		if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
			return 0;
		return -1;
	}
}

void
tconn_close(struct tconn *tc, int ep, int abort)
{
	if (tc->fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, tc->fd, NULL);
	if (tc->ssl != NULL) {
		if (!abort && tc->st == TC_DONE)
			wolfSSL_shutdown(tc->ssl);
		wolfSSL_free(tc->ssl);
		tc->ssl = NULL;
	}
	if (tc->fd >= 0)
		close(tc->fd);
	tc->fd = -1;
	tc->st = TC_IDLE;
}

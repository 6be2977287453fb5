/*
 * bulk_send: one TLS 1.3 connection that sends N bytes of the bulk
 * pattern, then close_notify and a FIN, and waits for the far end to
 * close. The rate is measured from the first byte written to that close,
 * so it covers every byte reaching the sink behind the terminator.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TOOL	"bulk_send"
#define CHUNK	(256 * 1024)

/*
 * While sending the bulk, wolfSSL's records (16 KiB each) are gathered
 * and written 256 KiB at a time, so the sender spends one syscall where
 * it would spend sixteen and stays cheap next to the terminator.
 */
struct wbuf {
	int		 fd;
	int		 gather;
	size_t		 len;
	unsigned char	 b[CHUNK + 32 * 1024];
};

static int
wbuf_flush(struct wbuf *w)
{
	size_t	off = 0;

	while (off < w->len) {
		ssize_t r = send(w->fd, w->b + off, w->len - off, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)r;
	}
	w->len = 0;
	return 0;
}

static int
io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct wbuf	*w = ctx;

	(void)ssl;
	if (w->len + (size_t)sz > sizeof(w->b) && wbuf_flush(w) < 0)
		return WOLFSSL_CBIO_ERR_GENERAL;
	if ((size_t)sz > sizeof(w->b)) {
		ssize_t r = send(w->fd, buf, (size_t)sz, 0);
		return r < 0 ? WOLFSSL_CBIO_ERR_GENERAL : (int)r;
	}
	memcpy(w->b + w->len, buf, (size_t)sz);
	w->len += (size_t)sz;
	if ((!w->gather || w->len >= CHUNK) && wbuf_flush(w) < 0)
		return WOLFSSL_CBIO_ERR_GENERAL;
	return sz;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " TOOL " -c ADDR:PORT -n BYTES [-s SNI] [-a CAFILE] "
	    "[-t TIMEOUT_S] [-w]\n"
	    "  -n  bytes to send (suffixes k, M, G)\n"
	    "  -s  server name to send (default mx.bench.test)\n"
	    "  -a  verify the server against this CA bundle and the name\n"
	    "  -t  give up after this long in all (default 120)\n"
	    "  -w  wait for a greeting line before sending\n"
	    "Prints: tool=" TOOL " ok=1 bytes=N secs=S mibps=R hs_ms=H "
	    "cpu_s=C cipher=...\n");
	exit(2);
}

static void
on_alarm(int sig)
{
	static const char msg[] =
	    "tool=" TOOL " ok=0 error=\"timeout\"\n";

	(void)sig;
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(1);
}

int
main(int argc, char **argv)
{
	struct bench_addr	 a;
	const char		*sni = "mx.bench.test", *ca = NULL;
	long long		 n = -1;
	double			 timeout = 120;
	int			 c, fd, ret, wait_greet = 0, have_addr = 0;
	WOLFSSL_CTX		*ctx;
	WOLFSSL			*ssl;
	uint64_t		 t0, t1, t2, sent = 0, back = 0;
	char			 rbuf[4096];
	struct itimerval	 it;
	static struct wbuf	 wb;

	while ((c = getopt(argc, argv, "c:n:s:a:t:wh")) != -1) {
		switch (c) {
		case 'c':
			if (bench_parse_addr(optarg, &a) < 0)
				usage();
			have_addr = 1;
			break;
		case 'n':
			if ((n = bench_parse_size(optarg)) <= 0)
				usage();
			break;
		case 's':
			sni = optarg;
			break;
		case 'a':
			ca = optarg;
			break;
		case 't':
			if ((timeout = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'w':
			wait_greet = 1;
			break;
		default:
			usage();
		}
	}
	if (!have_addr || n <= 0 || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = (time_t)timeout;
	it.it_value.tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout)
	    * 1e6);
	setitimer(ITIMER_REAL, &it, NULL);
	bench_pattern_init();
	if ((ctx = bench_tls_client_ctx(ca)) == NULL)
		bench_die(TOOL, "cannot set up TLS");
	wolfSSL_CTX_SetIOSend(ctx, io_send);

	t0 = bench_now_ns();
	if ((fd = bench_connect(&a, 0)) < 0)
		bench_die(TOOL, "connect %s: %s", a.text, strerror(errno));
	if ((ssl = wolfSSL_new(ctx)) == NULL ||
	    wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, sni,
	    (unsigned short)strlen(sni)) != WOLFSSL_SUCCESS ||
	    (ca != NULL && wolfSSL_check_domain_name(ssl, sni) !=
	    WOLFSSL_SUCCESS))
		bench_die(TOOL, "wolfSSL_new failed");
	wb.fd = fd;
	wolfSSL_SetIOWriteCtx(ssl, &wb);
	if ((ret = wolfSSL_connect(ssl)) != WOLFSSL_SUCCESS)
		bench_die(TOOL, "handshake: %s", bench_tls_err(ssl, ret));
	t1 = bench_now_ns();
	if (wait_greet) {
		ret = wolfSSL_read(ssl, rbuf, sizeof(rbuf));
		if (ret <= 0)
			bench_die(TOOL, "no greeting: %s",
			    bench_tls_err(ssl, ret));
		back += (uint64_t)ret;
		t1 = bench_now_ns();
	}
	wb.gather = 1;
	while (sent < (uint64_t)n) {
		uint64_t left = (uint64_t)n - sent;
		int len = left < CHUNK ? (int)left : CHUNK;

		ret = wolfSSL_write(ssl, bench_pattern_at(sent), len);
		if (ret <= 0)
			bench_die(TOOL, "write after %llu bytes: %s",
			    (unsigned long long)sent, bench_tls_err(ssl, ret));
		sent += (uint64_t)ret;
	}
	/* close_notify and a FIN, then wait for the far end to finish:
	 * the terminator closes once the sink has taken the last byte. */
	wb.gather = 0;
	wolfSSL_shutdown(ssl);
	if (wbuf_flush(&wb) < 0)
		bench_die(TOOL, "write: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t r = recv(fd, rbuf, sizeof(rbuf), 0);
		if (r > 0) {
			back += (uint64_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	t2 = bench_now_ns();
	{
		double secs = (double)(t2 - t1) / 1e9;
		printf("tool=" TOOL " ok=1 bytes=%llu secs=%.3f mibps=%.1f "
		    "hs_ms=%.2f rx_bytes=%llu cpu_s=%.3f version=%s "
		    "cipher=%s\n", (unsigned long long)sent, secs,
		    (double)sent / 1048576.0 / secs, (double)(t1 - t0) / 1e6,
		    (unsigned long long)back, bench_cpu_self(),
		    wolfSSL_get_version(ssl), wolfSSL_get_cipher(ssl));
	}
	wolfSSL_free(ssl);
	close(fd);
	wolfSSL_CTX_free(ctx);
	return 0;
}

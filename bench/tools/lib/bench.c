/*
 * Helpers shared by the benchmark load tools (see bench.h).
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void
bench_die(const char *tool, const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];
	size_t	i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", tool, msg);
	/* The value is quoted: keep it free of quotes and newlines. */
	for (i = 0; msg[i] != '\0'; i++)
		if (msg[i] == '"' || msg[i] == '\n' || msg[i] == '\r')
			msg[i] = '\'';
	printf("tool=%s ok=0 error=\"%s\"\n", tool, msg);
	fflush(stdout);
	exit(1);
}

int
bench_parse_addr(const char *s, struct bench_addr *a)
{
	char		 host[64];
	const char	*colon, *h;
	size_t		 hl;
	char		*end;
	long		 port;

	memset(a, 0, sizeof(*a));
	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	h = s;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || port < 1 || port > 65535)
		return -1;
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*s4);
	}
	snprintf(a->text, sizeof(a->text), "%s", s);
	return 0;
}

long long
bench_parse_size(const char *s)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0 || end == s)
		return -1;
	switch (*end) {
	case '\0':
		return v;
	case 'k': case 'K':
		v <<= 10;
		break;
	case 'm': case 'M':
		v <<= 20;
		break;
	case 'g': case 'G':
		v <<= 30;
		break;
	default:
		return -1;
	}
	return end[1] == '\0' ? v : -1;
}

double
bench_parse_secs(const char *s)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	return v;
}

uint64_t
bench_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
bench_cpu_self(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void
bench_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
bench_nonblock(int fd)
{
	int	fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
bench_connect(const struct bench_addr *a, int nonblock)
{
	int	fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

int
bench_listen(const struct bench_addr *a, int backlog)
{
	int	fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
	    listen(fd, backlog) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void
bench_lat_add(struct bench_lat *l, uint64_t ns)
{
	uint64_t	us = ns / 1000;
	uint32_t	*nv;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		if (cap > (size_t)1 << 26)	/* 64 M samples is plenty */
			return;
		if ((nv = realloc(l->v, cap * sizeof(*nv))) == NULL)
			return;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

double
bench_lat_pct(struct bench_lat *l, double q)
{
	size_t	i;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	i = (size_t)(q * (double)(l->n - 1) + 0.5);
	return l->v[i] / 1000.0;
}

WOLFSSL_CTX *
bench_tls_client_ctx(const char *ca)
{
	WOLFSSL_CTX	*ctx;
	int		 groups[] = { WOLFSSL_ECC_SECP256R1 };

	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		return NULL;
	if ((ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method())) == NULL)
		return NULL;
	if (wolfSSL_CTX_set_cipher_list(ctx, BENCH_TLS13_SUITE) !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_groups(ctx, groups, 1) != WOLFSSL_SUCCESS)
		goto fail;
	wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
	if (ca != NULL) {
		if (wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) !=
		    WOLFSSL_SUCCESS)
			goto fail;
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	} else
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	return ctx;
fail:
	wolfSSL_CTX_free(ctx);
	return NULL;
}

WOLFSSL_CTX *
bench_tls_server_ctx(const char *chain, const char *key, int tickets)
{
	WOLFSSL_CTX	*ctx;

	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		return NULL;
	if ((ctx = wolfSSL_CTX_new(wolfSSLv23_server_method())) == NULL)
		return NULL;
	/* TLS 1.2 and 1.3 with AEAD suites only, as a careful MX would. */
	if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_cipher_list(ctx,
	    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
	    "TLS13-CHACHA20-POLY1305-SHA256:"
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384") !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_certificate_chain_file(ctx, chain) !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM) !=
	    WOLFSSL_SUCCESS)
		goto fail;
	if (!tickets) {
		wolfSSL_CTX_no_ticket_TLSv13(ctx);
		wolfSSL_CTX_NoTicketTLSv12(ctx);
	}
	return ctx;
fail:
	wolfSSL_CTX_free(ctx);
	return NULL;
}

const char *
bench_tls_err(WOLFSSL *ssl, int ret)
{
	static char	buf[WOLFSSL_MAX_ERROR_SZ];
	int		e = wolfSSL_get_error(ssl, ret);

	wolfSSL_ERR_error_string_n((unsigned long)e, buf, sizeof(buf));
	return buf;
}

static unsigned char	*pattern;

void
bench_pattern_init(void)
{
	uint32_t	x = 2463534242u;
	size_t		i, n = BENCH_PATTERN_PERIOD + BENCH_PATTERN_SPAN;

	if (pattern != NULL)
		return;
	if ((pattern = malloc(n)) == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (i = 0; i < BENCH_PATTERN_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pattern[i] = (unsigned char)(x >> 24);
	}
	for (; i < n; i++)
		pattern[i] = pattern[i - BENCH_PATTERN_PERIOD];
}

const unsigned char *
bench_pattern_at(uint64_t off)
{
	return pattern + off % BENCH_PATTERN_PERIOD;
}

int
bench_pattern_check(uint64_t off, const unsigned char *buf, size_t len)
{
	size_t	n;

	while (len > 0) {
		n = len < BENCH_PATTERN_SPAN ? len : BENCH_PATTERN_SPAN;
		if (memcmp(bench_pattern_at(off), buf, n) != 0)
			return 0;
		off += n;
		buf += n;
		len -= n;
	}
	return 1;
}

unsigned char *
bench_smtp_body(size_t size, size_t *total)
{
	static const char hdr[] =
	    "From: <bench@client.bench.test>\r\n"
	    "To: <user@bench.test>\r\n"
	    "Subject: benchmark message\r\n"
	    "Message-ID: <bench@client.bench.test>\r\n"
	    "\r\n";
	unsigned char	*b;
	size_t		 off, hl = sizeof(hdr) - 1, i, line;
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	if (size < hl + 2)
		size = hl + 2;
	if ((b = malloc(size + 3)) == NULL)
		return NULL;
	memcpy(b, hdr, hl);
	off = hl;
	for (line = 0; off < size; line++) {
		/* Lines of 76 characters plus CRLF; the last one shorter. */
		size_t room = size - off, len = room >= 78 ? 76 : room - 2;
		for (i = 0; i < len; i++)
			b[off + i] = (unsigned char)alpha[(line * 7 + i) %
			    (sizeof(alpha) - 1)];
		off += len;
		if (room >= 78 && size - off - 2 == 1) {
			/* Never leave a 1-byte remainder: it could not hold
			 * its own CRLF. Shorten this line by one. */
			off--;
		}
		b[off++] = '\r';
		b[off++] = '\n';
	}
	memcpy(b + size, ".\r\n", 3);
	*total = size + 3;
	return b;
}

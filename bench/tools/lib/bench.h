/*
 * Helpers shared by the benchmark load tools: addresses, sockets, time,
 * latency percentiles, the TLS contexts every tool uses, the byte pattern
 * the bulk sender writes and the sink checks, and the SMTP message body.
 *
 * The tools are deliberately small and single-threaded (one epoll loop),
 * so that what they cost is easy to see in their own cpu_s= output.
 */
#ifndef BENCH_H
#define BENCH_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The TLS 1.3 suite and group every load client offers, so that each
 * terminator negotiates the same thing: AES-128-GCM over P-256 ECDHE. */
#define BENCH_TLS13_SUITE	"TLS13-AES128-GCM-SHA256"

struct bench_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
	char			text[64];
};

/* Exit with a key=value error line on stdout and the message on stderr. */
void	bench_die(const char *tool, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
/* "1.2.3.4:25" or "[::1]:25" into a, or -1. */
int	bench_parse_addr(const char *s, struct bench_addr *a);
/* "10k", "100M", "1G" (powers of 1024) or a plain number; -1 on error. */
long long bench_parse_size(const char *s);
/* A strictly positive number of seconds (fractions allowed), or -1. */
double	bench_parse_secs(const char *s);

uint64_t bench_now_ns(void);
double	bench_cpu_self(void);		/* user + system seconds so far */
void	bench_raise_nofile(void);	/* soft fd limit up to the hard one */
int	bench_nonblock(int fd);
/* Non-blocking connect; returns the fd (connect may be in progress). */
int	bench_connect(const struct bench_addr *a, int nonblock);
int	bench_listen(const struct bench_addr *a, int backlog);

/* Latencies in microseconds, kept in full for exact percentiles. */
struct bench_lat {
	uint32_t	*v;
	size_t		 n, cap;
};
void	bench_lat_add(struct bench_lat *l, uint64_t ns);
/* q in [0,1]; milliseconds; sorts the samples (call after the run). */
double	bench_lat_pct(struct bench_lat *l, double q);

/* TLS. Clients offer TLS 1.3 only, BENCH_TLS13_SUITE, P-256 only, and do
 * not verify unless ca is given; they never resume. */
WOLFSSL_CTX *bench_tls_client_ctx(const char *ca);
/* Server for the SMTP sink; tickets 0 disables session tickets. */
WOLFSSL_CTX *bench_tls_server_ctx(const char *chain, const char *key,
	    int tickets);
const char *bench_tls_err(WOLFSSL *ssl, int ret);

/*
 * The bulk pattern: byte i of the stream is a pseudo-random function of
 * i mod a prime period, so a lost, duplicated or reordered block shows.
 */
#define BENCH_PATTERN_PERIOD	65521u
#define BENCH_PATTERN_SPAN	(1u << 20)	/* longest contiguous slice */
void	bench_pattern_init(void);
/* Pointer to BENCH_PATTERN_SPAN bytes equal to the stream from off on. */
const unsigned char *bench_pattern_at(uint64_t off);
/* 1 when buf equals the stream at off for len bytes. */
int	bench_pattern_check(uint64_t off, const unsigned char *buf, size_t len);

/*
 * An SMTP message of exactly size bytes (headers, blank line, lines of
 * printable text, each ending in CRLF, no line starting with a dot),
 * followed by the end-of-data ".\r\n". *content is size.
 */
unsigned char *bench_smtp_body(size_t size, size_t *total);

#endif

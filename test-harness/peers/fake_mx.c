/*
 * fake_mx: a scripted SMTP server for what a real MTA will not do.
 *
 *   fake_mx -l ADDR:PORT -m MODE -t TRANSCRIPT [-n NAME] [-T SECONDS]
 *           [-R REPLY] [-g GREETING]
 *
 * Modes:
 *   nostarttls  an ordinary-looking ESMTP server that never offers
 *               STARTTLS (STARTTLS gets 502); it accepts mail and throws
 *               it away
 *   inject      offers STARTTLS and answers the STARTTLS command with
 *               "220 2.0.0 Ready\r\n250 injected\r\n" in one write (a
 *               response injected behind the 220), then only records what
 *               arrives until the client closes or the idle time runs out
 *   plain26     a plaintext server for the implicit-TLS port: greets
 *               "220 fake ESMTP\r\n" and behaves as nostarttls if the
 *               client goes on in plaintext; binary input (a TLS
 *               ClientHello) is recorded and never answered
 *
 * Every connection, command, reply and close goes to TRANSCRIPT, one line
 * each, prefixed with the connection's number:
 *   3 CONNECT from=127.0.0.1:40000 to=127.0.0.46:2525 orig_dst=-
 *   3 C: EHLO client.test
 *   3 S: 250-fake.test
 *   3 C: [binary 517 bytes: 16 03 01 02 00 ...]
 *   3 MESSAGE bytes=1234
 *   3 CLOSE peer (after STARTTLS: 0 bytes)
 * orig_dst is the address read with SO_ORIGINAL_DST when the connection
 * was redirected by netfilter, "-" otherwise.
 *
 * Options: -n host name in greeting and EHLO (default fake.test), -T idle
 * seconds before a connection is closed (default 30), -R reply line to
 * every RCPT (default "250 2.1.5 Ok"), -g greeting line (default per mode).
 * Exits with status 0 on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif

#define MAX_CLIENTS	32
#define INBUF		8192
#define LINE_MAX_CMD	2048

enum mode { M_NOSTARTTLS, M_INJECT, M_PLAIN26 };
enum state { S_CMD, S_DATA, S_RAW };

struct client {
	int		fd;
	unsigned	num;
	enum state	state;
	int		after_starttls;	/* inject: STARTTLS was answered */
	unsigned long	raw_bytes;	/* bytes received in S_RAW */
	unsigned long	msg_bytes;
	int		rcpts;
	int		mail;
	time_t		last;
	size_t		len;
	char		in[INBUF];
};

static volatile sig_atomic_t stopping;
static FILE *tr;
static enum mode mode;
static const char *hostname = "fake.test";
static const char *rcpt_reply = "250 2.1.5 Ok";
static const char *greeting;
static int idle_secs = 30;
static unsigned next_num = 1;
static struct client clients[MAX_CLIENTS];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fake_mx -l ADDR:PORT -m nostarttls|inject|plain26 -t TRANSCRIPT\n"
	    "               [-n NAME] [-T IDLE_SECONDS] [-R RCPT_REPLY] [-g GREETING]\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
trace(const struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (tr == NULL)
		return;
	fprintf(tr, "%u ", c->num);
	va_start(ap, fmt);
	vfprintf(tr, fmt, ap);
	va_end(ap);
	fputc('\n', tr);
	fflush(tr);
}

/* One line of text for the transcript: control bytes as \xHH. */
static void
trace_text(const struct client *c, const char *dir, const char *s, size_t n)
{
	char out[LINE_MAX_CMD * 4 + 1];
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < sizeof(out); i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", ch);
	}
	out[o] = '\0';
	trace(c, "%s: %s", dir, out);
}

static void
trace_binary(const struct client *c, const char *s, size_t n)
{
	char hex[3 * 16 + 8];
	size_t i, o = 0;

	for (i = 0; i < n && i < 16; i++)
		o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%s%02x",
		    i ? " " : "", (unsigned char)s[i]);
	if (n > 16)
		snprintf(hex + o, sizeof(hex) - o, " ...");
	trace(c, "C: [binary %zu bytes: %s]", n, hex);
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

static void
fmt_addr(const struct sockaddr_in *sin, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
}

/* Write all of buf (the socket is non-blocking): bounded wait for room. */
static int
send_all(struct client *c, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			if (poll(&p, 1, 5000) > 0)
				continue;
		}
		return -1;
	}
	return 0;
}

/* Send one reply (possibly several lines separated by \r\n) and trace it. */
static int
reply(struct client *c, const char *text)
{
	char buf[1024];
	const char *p = text;
	int n = snprintf(buf, sizeof(buf), "%s\r\n", text);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		size_t l = e ? (size_t)(e - p) : strlen(p);
		trace_text(c, "S", p, l);
		p += l;
		if (e)
			p += 2;
	}
	return send_all(c, buf, (size_t)n);
}

static void
drop(struct client *c, const char *why)
{
	if (mode == M_INJECT && c->after_starttls)
		trace(c, "CLOSE %s (after STARTTLS: %lu bytes)", why, c->raw_bytes);
	else if (c->state == S_RAW)
		trace(c, "CLOSE %s (raw: %lu bytes)", why, c->raw_bytes);
	else
		trace(c, "CLOSE %s", why);
	close(c->fd);
	c->fd = -1;
}

static int
verb_is(const char *line, size_t n, const char *verb)
{
	size_t l = strlen(verb);

	if (n < l || strncasecmp(line, verb, l) != 0)
		return 0;
	return n == l || line[l] == ' ' || line[l] == ':';
}

static int
ehlo_reply(struct client *c)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
	    "250-%s\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n%s"
	    "250 ENHANCEDSTATUSCODES", hostname,
	    mode == M_INJECT ? "250-STARTTLS\r\n" : "");
	return reply(c, buf);
}

/* One command line (without its CRLF).  Returns -1 to close. */
static int
command(struct client *c, const char *line, size_t n)
{
	trace_text(c, "C", line, n);
	if (verb_is(line, n, "EHLO")) {
		c->mail = 0;
		c->rcpts = 0;
		return ehlo_reply(c);
	}
	if (verb_is(line, n, "HELO"))
		return reply(c, "250 fake.test");
	if (verb_is(line, n, "MAIL")) {
		c->mail = 1;
		c->rcpts = 0;
		return reply(c, "250 2.1.0 Ok");
	}
	if (verb_is(line, n, "RCPT")) {
		if (!c->mail)
			return reply(c, "503 5.5.1 MAIL first");
		if (rcpt_reply[0] == '2')
			c->rcpts++;
		return reply(c, rcpt_reply);
	}
	if (verb_is(line, n, "DATA")) {
		if (c->rcpts == 0)
			return reply(c, "554 5.5.1 no valid recipients");
		c->state = S_DATA;
		c->msg_bytes = 0;
		return reply(c, "354 End data with <CR><LF>.<CR><LF>");
	}
	if (verb_is(line, n, "RSET")) {
		c->mail = 0;
		c->rcpts = 0;
		return reply(c, "250 2.0.0 Ok");
	}
	if (verb_is(line, n, "NOOP"))
		return reply(c, "250 2.0.0 Ok");
	if (verb_is(line, n, "QUIT")) {
		reply(c, "221 2.0.0 Bye");
		return -1;
	}
	if (verb_is(line, n, "STARTTLS")) {
		static const char inj[] = "220 2.0.0 Ready\r\n250 injected\r\n";
		if (mode != M_INJECT)
			return reply(c, "502 5.5.1 not supported");
		/* Both replies in a single write: the injection. */
		trace(c, "S: 220 2.0.0 Ready");
		trace(c, "S: 250 injected");
		if (send_all(c, inj, sizeof(inj) - 1) < 0)
			return -1;
		c->after_starttls = 1;
		c->state = S_RAW;
		return 0;
	}
	return reply(c, "500 5.5.2 command not recognised");
}

/* Consume what is in c->in.  Returns -1 to close. */
static int
process(struct client *c)
{
	for (;;) {
		char *nl;
		size_t n;

		if (c->len == 0)
			return 0;
		if (c->state == S_RAW) {
			/* Recorded, never answered. */
			if (c->after_starttls || !isprint((unsigned char)c->in[0]))
				trace_binary(c, c->in, c->len);
			else
				trace_text(c, "C", c->in, c->len);
			c->raw_bytes += c->len;
			c->len = 0;
			return 0;
		}
		if (c->state == S_CMD && c->in[0] != '\r' && c->in[0] != '\n' &&
		    !isprint((unsigned char)c->in[0])) {
			/* Not SMTP (a TLS ClientHello on a plaintext port). */
			c->state = S_RAW;
			continue;
		}
		nl = memchr(c->in, '\n', c->len);
		if (nl == NULL) {
			if (c->len < sizeof(c->in))
				return 0;
			if (c->state == S_DATA) {
				/* An over-long body line: count it, keep going. */
				c->msg_bytes += c->len;
				c->len = 0;
				return 0;
			}
			trace(c, "C: [line longer than %zu bytes]", sizeof(c->in));
			reply(c, "500 5.5.2 line too long");
			return -1;
		}
		n = (size_t)(nl - c->in) + 1;
		if (c->state == S_DATA) {
			if ((n == 3 && memcmp(c->in, ".\r\n", 3) == 0) ||
			    (n == 2 && memcmp(c->in, ".\n", 2) == 0)) {
				trace(c, "MESSAGE bytes=%lu", c->msg_bytes);
				c->state = S_CMD;
				c->mail = 0;
				c->rcpts = 0;
				if (reply(c, "250 2.0.0 Ok: queued") < 0)
					return -1;
			} else {
				c->msg_bytes += n;
			}
		} else {
			size_t l = n - 1;
			if (l > 0 && c->in[l - 1] == '\r')
				l--;
			if (l > LINE_MAX_CMD) {
				trace(c, "C: [command line of %zu bytes]", l);
				if (reply(c, "500 5.5.2 line too long") < 0)
					return -1;
			} else if (command(c, c->in, l) < 0) {
				return -1;
			}
		}
		memmove(c->in, c->in + n, c->len - n);
		c->len -= n;
	}
}

static void
accept_one(int lfd)
{
	struct sockaddr_in peer, local, orig;
	socklen_t pl = sizeof(peer), ll = sizeof(local), ol = sizeof(orig);
	char ps[64], ls[64], os[64];
	struct client *c = NULL;
	int fd, i;

	fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd < 0) {
			c = &clients[i];
			break;
		}
	if (c == NULL) {
		static const char busy[] = "421 4.3.2 too many connections\r\n";
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0) {
			/* nothing more to do */
		}
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->num = next_num++;
	c->state = S_CMD;
	c->last = time(NULL);
	fmt_addr(&peer, ps, sizeof(ps));
	if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
		fmt_addr(&local, ls, sizeof(ls));
	else
		snprintf(ls, sizeof(ls), "-");
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &ol) == 0 &&
	    (orig.sin_addr.s_addr != local.sin_addr.s_addr ||
	    orig.sin_port != local.sin_port))
		fmt_addr(&orig, os, sizeof(os));
	else
		snprintf(os, sizeof(os), "-");
	trace(c, "CONNECT from=%s to=%s orig_dst=%s", ps, ls, os);
	if (greeting != NULL) {
		if (reply(c, greeting) < 0)
			drop(c, "write-failed");
	} else if (mode == M_PLAIN26) {
		if (reply(c, "220 fake ESMTP") < 0)
			drop(c, "write-failed");
	} else {
		char g[300];
		snprintf(g, sizeof(g), "220 %s ESMTP fake", hostname);
		if (reply(c, g) < 0)
			drop(c, "write-failed");
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	const char *listen_arg = NULL, *mode_arg = NULL, *tr_path = NULL;
	struct sigaction sa;
	int opt, lfd, one = 1, i;

	while ((opt = getopt(argc, argv, "l:m:t:n:T:R:g:h")) != -1) {
		switch (opt) {
		case 'l': listen_arg = optarg; break;
		case 'm': mode_arg = optarg; break;
		case 't': tr_path = optarg; break;
		case 'n': hostname = optarg; break;
		case 'T': idle_secs = atoi(optarg); break;
		case 'R': rcpt_reply = optarg; break;
		case 'g': greeting = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || listen_arg == NULL || mode_arg == NULL || tr_path == NULL)
		usage();
	if (strcmp(mode_arg, "nostarttls") == 0)
		mode = M_NOSTARTTLS;
	else if (strcmp(mode_arg, "inject") == 0)
		mode = M_INJECT;
	else if (strcmp(mode_arg, "plain26") == 0)
		mode = M_PLAIN26;
	else
		usage();
	if (idle_secs < 1 || idle_secs > 3600 || strlen(hostname) > 200 ||
	    strlen(rcpt_reply) > 500 || strlen(rcpt_reply) < 3 ||
	    (greeting != NULL && strlen(greeting) > 500))
		usage();
	if (parse_addr(listen_arg, &sin) < 0) {
		fprintf(stderr, "fake_mx: bad address %s (want IPv4:PORT)\n", listen_arg);
		return 2;
	}
	tr = fopen(tr_path, "a");
	if (tr == NULL) {
		fprintf(stderr, "fake_mx: %s: %s\n", tr_path, strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "fake_mx: listen %s: %s\n", listen_arg, strerror(errno));
		return 1;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	fprintf(tr, "0 LISTEN %s mode=%s\n", listen_arg, mode_arg);
	fflush(tr);

	while (!stopping) {
		struct pollfd pfd[MAX_CLIENTS + 1];
		int map[MAX_CLIENTS + 1], np = 0, r;
		time_t now;

		pfd[np].fd = lfd;
		pfd[np].events = POLLIN;
		map[np++] = -1;
		for (i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0)
				continue;
			pfd[np].fd = clients[i].fd;
			pfd[np].events = POLLIN;
			map[np++] = i;
		}
		r = poll(pfd, (nfds_t)np, 500);
		if (r < 0 && errno != EINTR) {
			perror("fake_mx: poll");
			return 1;
		}
		for (i = 0; r > 0 && i < np; i++) {
			struct client *c;
			ssize_t n;

			if (pfd[i].revents == 0)
				continue;
			if (map[i] < 0) {
				accept_one(lfd);
				continue;
			}
			c = &clients[map[i]];
			if (c->fd < 0)
				continue;
			n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
			if (n == 0) {
				drop(c, "peer");
				continue;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				drop(c, "error");
				continue;
			}
			c->len += (size_t)n;
			c->last = time(NULL);
			if (process(c) < 0)
				drop(c, "quit");
		}
		now = time(NULL);
		for (i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd >= 0 && now - clients[i].last >= idle_secs)
				drop(&clients[i], "timeout");
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			drop(&clients[i], "shutdown");
	close(lfd);
	fprintf(tr, "0 EXIT\n");
	fclose(tr);
	return 0;
}

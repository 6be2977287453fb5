/*
 * smtp_load: C concurrent plaintext SMTP sessions, each sending messages
 * of S bytes (EHLO, MAIL, RCPT, DATA, body, then QUIT, or RSET and the
 * next message with -k), one command at a time as a non-pipelining MTA
 * does. A message's latency runs from connect() (first message of a
 * session) or from MAIL (later ones) to the 250 after the body, so it is
 * the wait the MTA sees before its message is acknowledged.
 *
 * With -B the body goes in BDAT chunks (RFC 3030) instead of DATA: each
 * chunk's command and octets in one write, its 250 awaited before the
 * next; -B 0 sends the whole message as one BDAT ... LAST. The server
 * must offer CHUNKING.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOOL	"smtp_load"
#define RMAX	8192

enum st {
	L_IDLE, L_CONNECT, L_GREET, L_EHLO, L_MAIL, L_RCPT, L_DATA, L_BODY,
	L_DOT, L_RSET, L_QUIT
};

static const char *const st_name[] = {
	"idle", "connect", "greeting", "ehlo", "mail", "rcpt", "data", "body",
	"dot", "rset", "quit"
};

struct sess {
	int		 fd;
	enum st		 st;
	uint32_t	 want;
	uint64_t	 t_msg;		/* start of the current message */
	uint64_t	 t_step;	/* start of the current step */
	char		 in[RMAX];
	size_t		 ilen;
	char		 out[600];
	size_t		 olen, ooff;
	size_t		 boff;		/* body bytes sent */
	size_t		 bend;		/* end of what goes before a reply */
	int		 chunking;	/* the server offers CHUNKING */
	int		 sent_in_session;
};

static unsigned char	*body;
static size_t		 body_len, msg_size;
static const char	*mail_from = "bench@client.bench.test";
static const char	*rcpt_to = "user@bench.test";
static const char	*ehlo_name = "client.bench.test";
static int		 per_session = 1;
static long long	 bdat_chunk = -1;	/* -1: DATA; 0: one chunk */
static struct bench_addr addr;
static struct bench_lat	 lat;
static uint64_t		 n_msgs, n_errors, n_sessions, n_started, n_bytes;
static long long	 n_limit = -1;
static int		 stopping;
static char		 first_err[200];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " TOOL " -c ADDR:PORT -s SIZE [-C CONC] [-d SECS | -n COUNT] "
	    "[-k MSGS_PER_SESSION] [-f FROM] [-r RCPT] [-e EHLO_NAME] "
	    "[-t STEP_TIMEOUT_S] [-E MAX_ERRORS] [-B CHUNK]\n"
	    "  -s  message size in bytes (suffixes k, M, G)\n"
	    "  -B  send the body in BDAT chunks of this size "
	    "(0: one chunk)\n"
	    "  -C  concurrent sessions (default 1)\n"
	    "  -d  start new messages for this long (default 5)\n"
	    "  -n  or send this many messages in all\n"
	    "  -k  messages per session, RSET between them (default 1: QUIT)\n"
	    "  -t  give one step (a reply, the body) at most this long "
	    "(default 60)\n"
	    "  -E  stop after this many failed sessions (default 100)\n"
	    "Prints: tool=" TOOL " ok=1 messages=N errors=N secs=S rate=R "
	    "p50_ms=X p99_ms=Y mib=M cpu_s=C\n");
	exit(2);
}

static void
fail(struct sess *s, const char *fmt, const char *detail)
{
	n_errors++;
	if (first_err[0] == '\0') {
		size_t i;
		snprintf(first_err, sizeof(first_err), fmt, st_name[s->st],
		    detail);
		for (i = 0; first_err[i] != '\0'; i++)
			if (first_err[i] == '"' || first_err[i] == '\r' ||
			    first_err[i] == '\n')
				first_err[i] = ' ';
	}
}

static void
set_want(int ep, struct sess *s, uint32_t want)
{
	struct epoll_event	ev;

	if (want == s->want)
		return;
	ev.events = want;
	ev.data.ptr = s;
	epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
	s->want = want;
}

static void
sess_close(int ep, struct sess *s)
{
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->st = L_IDLE;
}

static int
may_start_message(void)
{
	if (stopping)
		return 0;
	return n_limit < 0 || n_started < (uint64_t)n_limit;
}

static void
sess_start(int ep, struct sess *s)
{
	struct epoll_event	ev;

	memset(s, 0, sizeof(*s));
	s->t_msg = s->t_step = bench_now_ns();
	n_started++;
	if ((s->fd = bench_connect(&addr, 1)) < 0) {
		s->st = L_CONNECT;
		fail(s, "%s: %s", strerror(errno));
		s->fd = -1;
		s->st = L_IDLE;
		return;
	}
	n_sessions++;
	s->st = L_CONNECT;
	s->want = EPOLLOUT;
	ev.events = EPOLLOUT;
	ev.data.ptr = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
}

static void
queue(struct sess *s, enum st next, const char *fmt, const char *arg)
{
	int	n = snprintf(s->out, sizeof(s->out), fmt, arg);

	s->olen = n > 0 && (size_t)n < sizeof(s->out) ? (size_t)n : 0;
	s->ooff = 0;
	s->st = next;
	s->t_step = bench_now_ns();
}

/* Write what is pending (a command, or the body); 1 when blocked. */
static int
pump_out(struct sess *s)
{
	ssize_t	r;

	while (s->ooff < s->olen) {
		r = write(s->fd, s->out + s->ooff, s->olen - s->ooff);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : -1;
		s->ooff += (size_t)r;
	}
	if (s->st == L_BODY) {
		while (s->boff < s->bend) {
			r = write(s->fd, body + s->boff, s->bend - s->boff);
			if (r < 0)
				return errno == EAGAIN || errno == EINTR ?
				    1 : -1;
			s->boff += (size_t)r;
		}
		s->st = L_DOT;
		s->t_step = bench_now_ns();
		if (s->bend == body_len || s->bend == body_len - 3)
			n_bytes += msg_size;
	}
	return 0;
}

/* Queue the next BDAT chunk: its command, then its octets. The body
 * holds no line that begins with a dot, so all of it but the final
 * ".\r\n" is the message as BDAT carries it. */
static void
next_chunk(struct sess *s)
{
	size_t	total = body_len - 3, n = total - s->boff;
	char	cmd[64];

	if (bdat_chunk > 0 && n > (size_t)bdat_chunk)
		n = (size_t)bdat_chunk;
	snprintf(cmd, sizeof(cmd), "BDAT %zu%s\r\n", n,
	    s->boff + n == total ? " LAST" : "");
	queue(s, L_BODY, "%s", cmd);
	s->bend = s->boff + n;
}

/* A complete reply with this code arrived in state s->st. */
static int
on_reply(struct sess *s, int code, const char *line)
{
	uint64_t now;

	switch (s->st) {
	case L_GREET:
		if (code != 220)
			goto bad;
		queue(s, L_EHLO, "EHLO %s\r\n", ehlo_name);
		return 0;
	case L_EHLO:
	case L_RSET:
		if (code != 250)
			goto bad;
		if (s->st == L_EHLO && bdat_chunk >= 0 && !s->chunking) {
			fail(s, "no CHUNKING in the reply to %s%s", "");
			return -1;
		}
		if (s->st == L_RSET)
			s->t_msg = bench_now_ns();
		queue(s, L_MAIL, "MAIL FROM:<%s>\r\n", mail_from);
		return 0;
	case L_MAIL:
		if (code != 250)
			goto bad;
		queue(s, L_RCPT, "RCPT TO:<%s>\r\n", rcpt_to);
		return 0;
	case L_RCPT:
		if (code != 250 && code != 251)
			goto bad;
		if (bdat_chunk >= 0) {
			s->boff = 0;
			next_chunk(s);
		} else
			queue(s, L_DATA, "DATA\r\n%s", "");
		return 0;
	case L_DATA:
		if (code != 354)
			goto bad;
		s->olen = s->ooff = s->boff = 0;
		s->bend = body_len;
		s->st = L_BODY;
		s->t_step = bench_now_ns();
		return 0;
	case L_DOT:
		if (code != 250)
			goto bad;
		if (bdat_chunk >= 0 && s->boff < body_len - 3) {
			next_chunk(s);
			return 0;
		}
		now = bench_now_ns();
		n_msgs++;
		bench_lat_add(&lat, now - s->t_msg);
		s->sent_in_session++;
		if (s->sent_in_session < per_session && may_start_message()) {
			n_started++;
			queue(s, L_RSET, "RSET\r\n%s", "");
		} else
			queue(s, L_QUIT, "QUIT\r\n%s", "");
		return 0;
	case L_QUIT:
		/* Any reply to QUIT ends the session. */
		return 1;
	default:
		goto bad;
	}
bad:
	fail(s, "unexpected reply in %s: %s", line);
	return -1;
}

/* Parse complete replies; -1 on a bad one, 1 when the session ended. */
static int
pump_in(struct sess *s)
{
	ssize_t	r;

	for (;;) {
		char	*nl, *line;
		size_t	 pos = 0;

		r = read(s->fd, s->in + s->ilen, sizeof(s->in) - 1 - s->ilen);
		if (r == 0) {
			if (s->st == L_QUIT)
				return 1;
			fail(s, "connection closed in %s%s", "");
			return -1;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			fail(s, "read in %s: %s", strerror(errno));
			return -1;
		}
		s->ilen += (size_t)r;
		s->in[s->ilen] = '\0';
		while ((nl = memchr(s->in + pos, '\n', s->ilen - pos)) != NULL) {
			int code, ret;
			line = s->in + pos;
			pos = (size_t)(nl - s->in) + 1;
			if (nl - line < 3 || line[0] < '2' || line[0] > '5') {
				*nl = '\0';
				fail(s, "malformed reply in %s: %s", line);
				return -1;
			}
			if (s->st == L_EHLO && nl - line >= 12 &&
			    strncasecmp(line + 4, "CHUNKING", 8) == 0 &&
			    (nl - line == 12 || line[12] == '\r' ||
			    line[12] == ' '))
				s->chunking = 1;
			if (line[3] == '-')
				continue;
			code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			    (line[2] - '0');
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			ret = on_reply(s, code, line);
			if (ret != 0)
				return ret;
		}
		memmove(s->in, s->in + pos, s->ilen - pos);
		s->ilen -= pos;
		if (s->ilen >= sizeof(s->in) - 1) {
			fail(s, "reply too long in %s%s", "");
			return -1;
		}
	}
}

static void
cycle(int ep, struct sess *s)
{
	int	soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	if (s->st == L_CONNECT) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr != 0) {
			fail(s, "%s: %s", strerror(soerr ? soerr : errno));
			sess_close(ep, s);
			return;
		}
		s->st = L_GREET;
		s->t_step = bench_now_ns();
	}
	for (;;) {
		enum st before = s->st;

		if ((r = pump_out(s)) < 0) {
			fail(s, "write in %s: %s", strerror(errno));
			sess_close(ep, s);
			return;
		}
		if (r == 1) {
			set_want(ep, s, EPOLLOUT);
			return;
		}
		if ((r = pump_in(s)) != 0) {
			sess_close(ep, s);
			return;
		}
		if (s->st == before && s->ooff >= s->olen)
			break;
	}
	set_want(ep, s, EPOLLIN);
}

int
main(int argc, char **argv)
{
	int			 c, ep, i, n, conc = 1, have_addr = 0, active;
	double			 dur = 5, step_timeout = 60;
	long long		 size = -1;
	uint64_t		 max_errors = 100, t0, deadline, now, lastscan;
	struct sess		*ss;
	struct epoll_event	 evs[256];

	while ((c = getopt(argc, argv, "c:s:C:d:n:k:f:r:e:t:E:B:h")) != -1) {
		switch (c) {
		case 'c':
			if (bench_parse_addr(optarg, &addr) < 0)
				usage();
			have_addr = 1;
			break;
		case 's':
			if ((size = bench_parse_size(optarg)) <= 0)
				usage();
			break;
		case 'C':
			conc = atoi(optarg);
			if (conc < 1 || conc > 20000)
				usage();
			break;
		case 'd':
			if ((dur = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'n':
			if ((n_limit = bench_parse_size(optarg)) <= 0)
				usage();
			break;
		case 'k':
			per_session = atoi(optarg);
			if (per_session < 1)
				usage();
			break;
		case 'f':
			mail_from = optarg;
			break;
		case 'r':
			rcpt_to = optarg;
			break;
		case 'e':
			ehlo_name = optarg;
			break;
		case 't':
			if ((step_timeout = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'E':
			max_errors = (uint64_t)atoll(optarg);
			break;
		case 'B':
			if ((bdat_chunk = bench_parse_size(optarg)) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!have_addr || size <= 0 || optind != argc ||
	    strlen(mail_from) > 256 || strlen(rcpt_to) > 256 ||
	    strlen(ehlo_name) > 256)
		usage();
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	msg_size = (size_t)size;
	if ((body = bench_smtp_body(msg_size, &body_len)) == NULL ||
	    (ss = calloc((size_t)conc, sizeof(*ss))) == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die(TOOL, "out of memory");
	for (i = 0; i < conc; i++)
		ss[i].fd = -1;

	t0 = lastscan = bench_now_ns();
	deadline = t0 + (uint64_t)(dur * 1e9);
	for (;;) {
		now = bench_now_ns();
		if ((n_limit < 0 && now >= deadline) || n_errors >= max_errors)
			stopping = 1;
		active = 0;
		for (i = 0; i < conc; i++) {
			if (ss[i].st == L_IDLE && may_start_message()) {
				sess_start(ep, &ss[i]);
				if (ss[i].st == L_IDLE &&
				    n_errors >= max_errors)
					stopping = 1;
			}
			active += ss[i].st != L_IDLE;
		}
		if (active == 0 && !may_start_message())
			break;
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++)
			cycle(ep, evs[i].data.ptr);
		now = bench_now_ns();
		if (now - lastscan > 100000000u) {
			lastscan = now;
			for (i = 0; i < conc; i++) {
				if (ss[i].st == L_IDLE || now - ss[i].t_step <
				    (uint64_t)(step_timeout * 1e9))
					continue;
				fail(&ss[i], "timeout in %s%s", "");
				sess_close(ep, &ss[i]);
			}
		}
	}
	{
		double secs = (double)(bench_now_ns() - t0) / 1e9;
		double p50 = bench_lat_pct(&lat, 0.50);
		double p99 = bench_lat_pct(&lat, 0.99);
		printf("tool=" TOOL " ok=%d messages=%llu errors=%llu "
		    "sessions=%llu secs=%.3f rate=%.1f p50_ms=%.3f "
		    "p99_ms=%.3f mib=%.1f size=%zu conc=%d per_session=%d "
		    "body=%s cpu_s=%.3f", n_msgs > 0 && n_errors == 0,
		    (unsigned long long)n_msgs, (unsigned long long)n_errors,
		    (unsigned long long)n_sessions, secs,
		    (double)n_msgs / secs, p50, p99,
		    (double)n_bytes / 1048576.0, msg_size, conc, per_session,
		    bdat_chunk >= 0 ? "bdat" : "data", bench_cpu_self());
		if (first_err[0] != '\0')
			printf(" error=\"%s\"", first_err);
		printf("\n");
	}
	return n_msgs > 0 && n_errors == 0 ? 0 : 1;
}

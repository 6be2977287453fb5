/*
 * splice_relay: the least a user-space TCP relay can do. Each accepted
 * connection gets a connection to the remote address and, per direction,
 * a pipe that splice(2) fills from one socket and drains into the other;
 * no byte is copied into user space. A direction reads its source only
 * into an empty pipe, so a slow receiver holds back the sender. A FIN is
 * passed on as shutdown(SHUT_WR); the connection ends when both
 * directions have. Used as the floor that plain relays are compared to.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOOL	"splice_relay"

struct conn;

struct end {
	struct conn	*c;
	int		 fd;
	uint32_t	 want;		/* epoll events registered */
};

struct dir {
	int		 pr, pw;	/* the pipe */
	size_t		 pending;	/* bytes in the pipe */
	int		 eof, shut;
};

struct conn {
	struct end	 e[2];		/* 0 client, 1 remote */
	struct dir	 d[2];		/* 0 client->remote, 1 remote->client */
	uint64_t	 last;
	struct conn	*next, *prev;
	int		 dead;
};

static volatile sig_atomic_t	 stop;
static struct conn		*conns;
static int			 pipe_size = 1024 * 1024;	/* as mxgate's outbound path */
static uint64_t			 n_conns, n_bytes[2], n_fail;
static int			 n_open, n_dead;

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
	    "usage: " TOOL " -l ADDR:PORT -r ADDR:PORT [-p PIPE_BYTES] "
	    "[-i IDLE_S] [-L LIFETIME_S] [-m MAXCONN]\n"
	    "  -p  pipe size per direction (default 1m, as mxgate's outbound path)\n"
	    "  -i  close a connection idle this long (default 600)\n"
	    "  -L  exit after this long whatever happens (default 3600)\n"
	    "  -m  most connections at once (default 10000)\n"
	    "Prints on exit: tool=" TOOL " ok=1 conns=N bytes_up=N "
	    "bytes_down=N failed=N cpu_s=C\n");
	exit(2);
}

static void
conn_free(int ep, struct conn *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (c->e[i].fd >= 0) {
			epoll_ctl(ep, EPOLL_CTL_DEL, c->e[i].fd, NULL);
			close(c->e[i].fd);
		}
		if (c->d[i].pr >= 0)
			close(c->d[i].pr);
		if (c->d[i].pw >= 0)
			close(c->d[i].pw);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	n_open--;
	free(c);
}

/* Move what can be moved in direction k; -1 on a socket error. */
static int
pump(struct conn *c, int k)
{
	struct dir	*d = &c->d[k];
	int		 src = c->e[k].fd, dst = c->e[1 - k].fd;
	ssize_t		 r;

	for (;;) {
		int moved = 0;

		if (d->pending == 0 && !d->eof) {
			r = splice(src, NULL, d->pw, NULL, (size_t)pipe_size,
			    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (r > 0) {
				d->pending = (size_t)r;
				moved = 1;
			} else if (r == 0)
				d->eof = 1;
			else if (errno != EAGAIN && errno != EINTR)
				return -1;
		}
		if (d->pending > 0) {
			r = splice(d->pr, NULL, dst, NULL, d->pending,
			    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (r > 0) {
				d->pending -= (size_t)r;
				n_bytes[k] += (uint64_t)r;
				moved = 1;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
		}
		if (d->eof && d->pending == 0 && !d->shut) {
			shutdown(dst, SHUT_WR);
			d->shut = 1;
		}
		if (!moved)
			return 0;
	}
}

static void
arm(int ep, struct conn *c)
{
	int			i;
	struct epoll_event	ev;

	for (i = 0; i < 2; i++) {
		uint32_t want = 0;
		/* Readable: this side is the source of direction i. */
		if (c->d[i].pending == 0 && !c->d[i].eof)
			want |= EPOLLIN;
		/* Writable: this side is the sink of direction 1 - i. */
		if (c->d[1 - i].pending > 0)
			want |= EPOLLOUT;
		if (want == c->e[i].want)
			continue;
		ev.events = want;
		ev.data.ptr = &c->e[i];
		epoll_ctl(ep, EPOLL_CTL_MOD, c->e[i].fd, &ev);
		c->e[i].want = want;
	}
}

static void
accept_one(int ep, int lfd, const struct bench_addr *remote, int maxconn)
{
	struct conn		*c;
	struct epoll_event	 ev;
	int			 fd, i, p[2];

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
		return;
	if (n_open >= maxconn || (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		n_fail++;
		return;
	}
	c->e[0].fd = fd;
	c->e[1].fd = -1;
	for (i = 0; i < 2; i++) {
		c->e[i].c = c;
		c->d[i].pr = c->d[i].pw = -1;
	}
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	n_open++;
	n_conns++;
	c->last = bench_now_ns();
	if ((c->e[1].fd = bench_connect(remote, 1)) < 0)
		goto fail;
	for (i = 0; i < 2; i++) {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			goto fail;
		c->d[i].pr = p[0];
		c->d[i].pw = p[1];
		fcntl(p[1], F_SETPIPE_SZ, pipe_size);
	}
	for (i = 0; i < 2; i++) {
		ev.events = EPOLLIN;
		ev.data.ptr = &c->e[i];
		c->e[i].want = EPOLLIN;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->e[i].fd, &ev) < 0)
			goto fail;
	}
	return;
fail:
	n_fail++;
	conn_free(ep, c);
}

int
main(int argc, char **argv)
{
	struct bench_addr	 la, ra;
	int			 c, lfd, ep, i, n, have_l = 0, have_r = 0;
	int			 maxconn = 10000;
	double			 idle = 600, life = 3600;
	long long		 ps;
	uint64_t		 t0, now, lastscan;
	struct epoll_event	 ev, evs[256];

	while ((c = getopt(argc, argv, "l:r:p:i:L:m:h")) != -1) {
		switch (c) {
		case 'l':
			if (bench_parse_addr(optarg, &la) < 0)
				usage();
			have_l = 1;
			break;
		case 'r':
			if (bench_parse_addr(optarg, &ra) < 0)
				usage();
			have_r = 1;
			break;
		case 'p':
			if ((ps = bench_parse_size(optarg)) < 4096 ||
			    ps > (1 << 24))
				usage();
			pipe_size = (int)ps;
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
	if (!have_l || !have_r || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	bench_raise_nofile();
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
			struct end	*e = evs[i].data.ptr;
			struct conn	*cn;

			if (e == NULL) {
				int k;
				for (k = 0; k < 64; k++)
					accept_one(ep, lfd, &ra, maxconn);
				continue;
			}
			cn = e->c;
			if (cn->dead)
				continue;
			cn->last = now;
			if (pump(cn, 0) < 0 || pump(cn, 1) < 0 ||
			    (cn->d[0].shut && cn->d[1].shut)) {
				/* Freed after this batch: another event of
				 * the batch may still point at it. */
				cn->dead = 1;
				n_dead++;
				continue;
			}
			arm(ep, cn);
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
	printf("tool=" TOOL " ok=1 conns=%llu bytes_up=%llu bytes_down=%llu "
	    "failed=%llu open=%d cpu_s=%.3f\n", (unsigned long long)n_conns,
	    (unsigned long long)n_bytes[0], (unsigned long long)n_bytes[1],
	    (unsigned long long)n_fail, n_open, bench_cpu_self());
	return 0;
}

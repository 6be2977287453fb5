/*
 * count_sink: a plain TCP sink that counts and discards what it receives.
 *
 * Optionally greets each connection with a line (so that a client behind
 * a TLS terminator can tell the whole path is up) and checks that each
 * connection's bytes are the bulk pattern from offset 0, in full (-v) or
 * one read in N (-V N). Unchecked bytes are dropped in the kernel
 * (MSG_TRUNC), never copied, so the sink costs little next to the relay
 * it measures; a lost, repeated or reordered block still shifts every
 * later offset and is caught by the next checked read. Prints one
 * key=value line with the totals when it is told to stop (SIGTERM,
 * SIGINT) or its lifetime ends.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TOOL	"count_sink"
#define RBUF	(256 * 1024)

struct conn {
	int		 fd;
	uint64_t	 bytes;
	uint64_t	 last;		/* ns of the last activity */
	uint64_t	 reads;
	int		 bad;
	int		 slot;
};

static volatile sig_atomic_t	stop;

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
	    "usage: " TOOL " -l ADDR:PORT [-g GREETING] [-v | -V N] [-i IDLE_S] "
	    "[-L LIFETIME_S] [-m MAXCONN]\n"
	    "  -g  line sent to each new connection (CRLF appended)\n"
	    "  -v  check every connection's bytes against the bulk pattern\n"
	    "  -V  check one read in N against it (the rest is dropped unread)\n"
	    "  -i  close a connection idle this long (default 600)\n"
	    "  -L  exit after this long whatever happens (default 3600)\n"
	    "  -m  most connections at once (default 20000)\n"
	    "Prints on exit: tool=" TOOL " ok=1 conns=N bytes=N bad=N "
	    "max_open=N\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_addr	 la;
	const char		*greet = NULL;
	char			 gbuf[512];
	size_t			 glen = 0;
	int			 verify = 0, c, lfd, ep, i, n, open_now = 0;
	int			 max_open = 0, maxconn = 20000;
	double			 idle = 600, life = 3600;
	struct conn		**conns;
	unsigned char		*buf;
	uint64_t		 t0, total = 0, nconn = 0, nbad = 0, lastscan;
	struct epoll_event	 ev, evs[256];
	int			 have_addr = 0;

	while ((c = getopt(argc, argv, "l:g:vV:i:L:m:h")) != -1) {
		switch (c) {
		case 'l':
			if (bench_parse_addr(optarg, &la) < 0)
				usage();
			have_addr = 1;
			break;
		case 'g':
			greet = optarg;
			break;
		case 'v':
			verify = 1;
			break;
		case 'V':
			if ((verify = atoi(optarg)) < 1)
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
			maxconn = atoi(optarg);
			if (maxconn < 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!have_addr || optind != argc)
		usage();
	if (greet != NULL) {
		n = snprintf(gbuf, sizeof(gbuf), "%s\r\n", greet);
		if (n < 0 || (size_t)n >= sizeof(gbuf))
			usage();
		glen = (size_t)n;
	}
	bench_raise_nofile();
	if (verify)
		bench_pattern_init();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((buf = malloc(RBUF)) == NULL ||
	    (conns = calloc((size_t)maxconn, sizeof(*conns))) == NULL)
		bench_die(TOOL, "out of memory");
	if ((lfd = bench_listen(&la, 4096)) < 0)
		bench_die(TOOL, "listen %s: %s", la.text, strerror(errno));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die(TOOL, "epoll: %s", strerror(errno));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	t0 = lastscan = bench_now_ns();

	while (!stop) {
		uint64_t now;

		n = epoll_wait(ep, evs, 256, 200);
		now = bench_now_ns();
		if (now - t0 > (uint64_t)(life * 1e9))
			break;
		for (i = 0; i < n; i++) {
			struct conn *cn = evs[i].data.ptr;

			if (cn == NULL) {
				/* Accept a batch; the listener stays level
				 * triggered, so leftovers come back. */
				int k;
				for (k = 0; k < 64 && open_now < maxconn; k++) {
					int fd = accept4(lfd, NULL, NULL,
					    SOCK_NONBLOCK | SOCK_CLOEXEC);
					int slot;
					if (fd < 0)
						break;
					for (slot = 0; conns[slot] != NULL;
					    slot++)
						;
					cn = calloc(1, sizeof(*cn));
					if (cn == NULL) {
						close(fd);
						break;
					}
					cn->fd = fd;
					cn->slot = slot;
					cn->last = now;
					conns[slot] = cn;
					open_now++;
					nconn++;
					if (open_now > max_open)
						max_open = open_now;
					if (glen && write(fd, gbuf, glen) !=
					    (ssize_t)glen)
						cn->bad = 1;
					ev.events = EPOLLIN;
					ev.data.ptr = cn;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			for (;;) {
				int check = verify > 0 &&
				    cn->reads++ % (uint64_t)verify == 0;
				ssize_t r = recv(cn->fd, buf, RBUF,
				    check ? 0 : MSG_TRUNC);
				if (r > 0) {
					if (check && !cn->bad &&
					    !bench_pattern_check(cn->bytes,
					    buf, (size_t)r))
						cn->bad = 1;
					cn->bytes += (uint64_t)r;
					total += (uint64_t)r;
					cn->last = now;
					if (r < RBUF)
						break;
					continue;
				}
				if (r < 0 && (errno == EAGAIN ||
				    errno == EINTR))
					break;
				/* End of stream or error: close. */
				cn->last = 0;
				break;
			}
			if (cn->last == 0) {
				nbad += (uint64_t)cn->bad;
				close(cn->fd);
				conns[cn->slot] = NULL;
				free(cn);
				open_now--;
			}
		}
		if (now - lastscan > 1000000000u) {
			lastscan = now;
			for (i = 0; i < maxconn; i++) {
				struct conn *cn = conns[i];
				if (cn == NULL ||
				    now - cn->last < (uint64_t)(idle * 1e9))
					continue;
				nbad += (uint64_t)cn->bad;
				close(cn->fd);
				conns[i] = NULL;
				free(cn);
				open_now--;
			}
		}
	}
	for (i = 0; i < maxconn; i++)
		if (conns[i] != NULL)
			nbad += (uint64_t)conns[i]->bad;
	printf("tool=" TOOL " ok=1 conns=%llu bytes=%llu bad=%llu "
	    "open=%d max_open=%d verify=%d cpu_s=%.3f\n",
	    (unsigned long long)nconn, (unsigned long long)total,
	    (unsigned long long)nbad, open_now, max_open, verify,
	    bench_cpu_self());
	return 0;
}

/*
 * idle_hold: open N TLS connections (C handshakes at a time), wait until
 * each is established (and greeted, with -g), then hold them all idle so
 * that the terminator's memory per connection can be read. Connections
 * the far side closes while held are counted. Ends after the hold time,
 * or at SIGTERM/SIGINT, and prints one key=value line; with -r it also
 * writes that line to a file the moment every connection is up.
 */
#include "tconn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TOOL	"idle_hold"

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
	    "usage: " TOOL " -c ADDR:PORT -n N [-C CONC] [-g] [-h HOLD_S] "
	    "[-r READYFILE] [-s SNI] [-t CONN_TIMEOUT_S]\n"
	    "  -n  connections to open and hold\n"
	    "  -C  handshakes in flight while opening (default 32)\n"
	    "  -g  wait for a greeting line on each connection\n"
	    "  -h  hold this long once all are up (default 60)\n"
	    "  -r  write the status line here when all are up\n"
	    "  -t  give one connection at most this long to open "
	    "(default 20)\n"
	    "Prints: tool=" TOOL " ok=1 established=N failed=N "
	    "closed_early=N open_secs=S held_secs=H cpu_s=C\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_addr	 a;
	const char		*sni = "mx.bench.test", *ready = NULL;
	double			 hold = 60, ctimeout = 20;
	int			 nconn = -1, conc = 32, greeting = 0, c, ep;
	int			 i, n, have_addr = 0, next = 0, inflight = 0;
	int			 established = 0, failed = 0, closed_early = 0;
	int			 all_up = 0;
	WOLFSSL_CTX		*ctx;
	struct tconn		*tc;
	uint64_t		 t0, t_up = 0, now, lastscan;
	char			 first_err[160] = "", line[512];
	struct epoll_event	 evs[256];

	while ((c = getopt(argc, argv, "c:n:C:gh:r:s:t:")) != -1) {
		switch (c) {
		case 'c':
			if (bench_parse_addr(optarg, &a) < 0)
				usage();
			have_addr = 1;
			break;
		case 'n':
			nconn = atoi(optarg);
			if (nconn < 1 || nconn > 1000000)
				usage();
			break;
		case 'C':
			conc = atoi(optarg);
			if (conc < 1)
				usage();
			break;
		case 'g':
			greeting = 1;
			break;
		case 'h':
			if ((hold = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'r':
			ready = optarg;
			break;
		case 's':
			sni = optarg;
			break;
		case 't':
			if ((ctimeout = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!have_addr || nconn < 1 || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	bench_raise_nofile();
	if ((ctx = bench_tls_client_ctx(NULL)) == NULL)
		bench_die(TOOL, "cannot set up TLS");
	if ((tc = calloc((size_t)nconn, sizeof(*tc))) == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die(TOOL, "out of memory");
	for (i = 0; i < nconn; i++)
		tc[i].fd = -1;

	t0 = lastscan = bench_now_ns();
	while (!stop) {
		now = bench_now_ns();
		while (next < nconn && inflight < conc) {
			if (tconn_start(&tc[next], ep, &tc[next], &a, ctx, sni,
			    greeting, 0) < 0) {
				failed++;
				if (first_err[0] == '\0')
					snprintf(first_err, sizeof(first_err),
					    "%s", tc[next].err);
			} else
				inflight++;
			next++;
		}
		if (!all_up && next == nconn && inflight == 0) {
			all_up = 1;
			t_up = now;
			if (ready != NULL) {
				FILE *f = fopen(ready, "w");
				if (f != NULL) {
					fprintf(f, "established=%d failed=%d "
					    "open_secs=%.3f\n", established,
					    failed, (double)(t_up - t0) / 1e9);
					fclose(f);
				}
			}
		}
		if (all_up && now - t_up >= (uint64_t)(hold * 1e9))
			break;
		n = epoll_wait(ep, evs, 256, 100);
		now = bench_now_ns();
		for (i = 0; i < n; i++) {
			struct tconn *t = evs[i].data.ptr;
			int r;

			if (t->st == TC_IDLE)
				continue;
			if (t->st == TC_DONE) {
				/* Held: anything readable is a ticket or
				 * the end of the connection. */
				if (tconn_drain(t) < 0) {
					closed_early++;
					established--;
					tconn_close(t, ep, 1);
				}
				continue;
			}
			r = tconn_step(t, ep, t);
			if (r == 0)
				continue;
			inflight--;
			if (r > 0) {
				established++;
				continue;
			}
			failed++;
			if (first_err[0] == '\0')
				snprintf(first_err, sizeof(first_err), "%s",
				    t->err);
			tconn_close(t, ep, 1);
		}
		if (now - lastscan > 200000000u) {
			lastscan = now;
			for (i = 0; i < next; i++) {
				if (tc[i].st == TC_IDLE || tc[i].st == TC_DONE ||
				    now - tc[i].t0 < (uint64_t)(ctimeout * 1e9))
					continue;
				failed++;
				inflight--;
				if (first_err[0] == '\0')
					snprintf(first_err, sizeof(first_err),
					    "timeout in state %d", tc[i].st);
				tconn_close(&tc[i], ep, 1);
			}
		}
	}
	now = bench_now_ns();
	snprintf(line, sizeof(line), "tool=" TOOL " ok=%d established=%d "
	    "failed=%d closed_early=%d open_secs=%.3f held_secs=%.3f "
	    "cpu_s=%.3f", all_up && failed == 0 && closed_early == 0,
	    established, failed, closed_early,
	    all_up ? (double)(t_up - t0) / 1e9 : (double)(now - t0) / 1e9,
	    all_up ? (double)(now - t_up) / 1e9 : 0.0, bench_cpu_self());
	printf("%s", line);
	if (first_err[0] != '\0')
		printf(" error=\"%s\"", first_err);
	printf("\n");
	fflush(stdout);
	for (i = 0; i < nconn; i++)
		if (tc[i].st != TC_IDLE)
			tconn_close(&tc[i], ep, 0);
	return all_up && failed == 0 ? 0 : 1;
}

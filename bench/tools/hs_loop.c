/*
 * hs_loop: full TLS 1.3 handshakes in a loop, C connections at a time,
 * never resuming. Each connection is timed from connect() to the
 * handshake's end, or to the first line behind it with -g (which proves
 * the terminator reached its backend), and is then closed with a
 * close_notify. New connections stop at the deadline and the ones in
 * flight are finished, so every handshake the terminator did is counted.
 */
#include "tconn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TOOL	"hs_loop"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " TOOL " -c ADDR:PORT [-C CONC] [-d SECS | -n COUNT] [-g] "
	    "[-s SNI] [-a CAFILE] [-t CONN_TIMEOUT_S]\n"
	    "  -C  connections in flight (default 16)\n"
	    "  -d  start new handshakes for this long (default 5)\n"
	    "  -n  or stop after this many handshakes\n"
	    "  -g  wait for a greeting line after each handshake\n"
	    "  -s  server name to send (default mx.bench.test)\n"
	    "  -a  verify the server against this CA bundle and the name\n"
	    "  -t  give one connection at most this long (default 10)\n"
	    "Prints: tool=" TOOL " ok=1 handshakes=N errors=N secs=S "
	    "rate=R p50_ms=X p99_ms=Y cpu_s=C\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_addr	 a;
	const char		*sni = "mx.bench.test", *ca = NULL;
	double			 dur = 5, ctimeout = 10;
	long long		 count = -1;
	int			 conc = 16, greeting = 0, c, ep, i, n;
	int			 have_addr = 0, inflight = 0, stopping = 0;
	WOLFSSL_CTX		*ctx;
	struct tconn		*tc;
	struct bench_lat	 lat = { 0 };
	uint64_t		 t0, deadline, now, started = 0, done = 0;
	uint64_t		 errors = 0, lastscan;
	char			 first_err[160] = "";
	struct epoll_event	 evs[256];

	while ((c = getopt(argc, argv, "c:C:d:n:gs:a:t:h")) != -1) {
		switch (c) {
		case 'c':
			if (bench_parse_addr(optarg, &a) < 0)
				usage();
			have_addr = 1;
			break;
		case 'C':
			conc = atoi(optarg);
			if (conc < 1 || conc > 10000)
				usage();
			break;
		case 'd':
			if ((dur = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		case 'n':
			if ((count = bench_parse_size(optarg)) <= 0)
				usage();
			break;
		case 'g':
			greeting = 1;
			break;
		case 's':
			sni = optarg;
			break;
		case 'a':
			ca = optarg;
			break;
		case 't':
			if ((ctimeout = bench_parse_secs(optarg)) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!have_addr || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	if ((ctx = bench_tls_client_ctx(ca)) == NULL)
		bench_die(TOOL, "cannot set up TLS");
	if ((tc = calloc((size_t)conc, sizeof(*tc))) == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die(TOOL, "out of memory");
	for (i = 0; i < conc; i++)
		tc[i].fd = -1;

	t0 = lastscan = bench_now_ns();
	deadline = t0 + (uint64_t)(dur * 1e9);
	for (;;) {
		now = bench_now_ns();
		if (count < 0 ? now >= deadline : started >= (uint64_t)count)
			stopping = 1;
		/* Keep every slot busy until the deadline. */
		for (i = 0; i < conc && !stopping; i++) {
			if (tc[i].st != TC_IDLE)
				continue;
			if (count >= 0 && started >= (uint64_t)count)
				break;
			started++;
			if (tconn_start(&tc[i], ep, &tc[i], &a, ctx, sni,
			    greeting, ca != NULL) < 0) {
				errors++;
				if (first_err[0] == '\0')
					snprintf(first_err, sizeof(first_err),
					    "%s", tc[i].err);
				continue;
			}
			inflight++;
		}
		if (stopping && inflight == 0)
			break;
		n = epoll_wait(ep, evs, 256, 100);
		now = bench_now_ns();
		for (i = 0; i < n; i++) {
			struct tconn *t = evs[i].data.ptr;
			int r;

			if (t->st == TC_IDLE)
				continue;
			r = tconn_step(t, ep, t);
			if (r == 0)
				continue;
			if (r > 0) {
				done++;
				bench_lat_add(&lat, t->t_done - t->t0);
			} else {
				errors++;
				if (first_err[0] == '\0')
					snprintf(first_err, sizeof(first_err),
					    "%s", t->err);
			}
			tconn_close(t, ep, r < 0);
			inflight--;
		}
		if (now - lastscan > 100000000u) {
			lastscan = now;
			for (i = 0; i < conc; i++) {
				if (tc[i].st == TC_IDLE ||
				    now - tc[i].t0 < (uint64_t)(ctimeout * 1e9))
					continue;
				errors++;
				if (first_err[0] == '\0')
					snprintf(first_err, sizeof(first_err),
					    "timeout in state %d", tc[i].st);
				tconn_close(&tc[i], ep, 1);
				inflight--;
			}
		}
	}
	{
		double secs = (double)(bench_now_ns() - t0) / 1e9;
		double p50 = bench_lat_pct(&lat, 0.50);
		double p99 = bench_lat_pct(&lat, 0.99);
		printf("tool=" TOOL " ok=%d handshakes=%llu errors=%llu "
		    "secs=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f "
		    "conc=%d cpu_s=%.3f", done > 0 && errors == 0,
		    (unsigned long long)done, (unsigned long long)errors,
		    secs, (double)done / secs, p50, p99, conc,
		    bench_cpu_self());
		if (first_err[0] != '\0')
			printf(" error=\"%s\"", first_err);
		printf("\n");
	}
	return done > 0 ? 0 : 1;
}

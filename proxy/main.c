/*
 * mxgate: command line, start-up order, signals.
 *
 * Start-up order: parse config -> bind -> load keys -> drop privileges
 * -> start the workers.  Any failure before the workers run is fatal.
 */
#include <ares.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "tls_rsa.h"
#include "worker.h"

#define MXGATE_VERSION	"0.1.0"
#define WORKERS_MAX	64

static struct worker	*workers;
static int		 n_workers;
static uv_signal_t	 sig_term, sig_int, sig_hup;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mxgate [-c FILE]          run in the foreground\n"
	    "       mxgate -t [-c FILE]       check the configuration\n"
	    "       mxgate -V                 show versions\n"
	    "       mxgate check DOMAIN [--dns HOST:PORT] [--ca FILE]\n");
	exit(2);
}

static void
print_versions(void)
{
	printf("mxgate %s\n", MXGATE_VERSION);
	printf("wolfSSL %s (AES-NI %s, assembly ECC %s)\n",
	    tls_library_version(), tls_has_aesni() ? "yes" : "no",
	    tls_has_asm_ecc() ? "yes" : "no");
	printf("RSA-2048 signatures by %s\n", tls_rsa_usable() ?
	    "mxgate's AVX-512 IFMA code" : "wolfSSL");
	printf("libuv %s\n", uv_version_string());
	printf("c-ares %s\n", ares_version(NULL));
}

/* Print config errors, one per line, to stderr. */
static int
load_config(const char *path, struct config *cfg)
{
	static char	errbuf[16384];
	int		r;

	errbuf[0] = '\0';
	if (path == NULL)
		r = config_embedded(cfg);
	else
		r = config_load(path, cfg, errbuf, sizeof(errbuf));
	if (r < 0)
		fputs(errbuf, stderr);
	return r;
}

/* Keep exactly CAP_NET_ADMIN (for SO_MARK) across the change of user,
 * or nothing. */
static void
set_caps(int net_admin)
{
	struct __user_cap_header_struct	hdr;
	struct __user_cap_data_struct	data[2];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (net_admin) {
		data[0].permitted = data[0].effective = 1u << CAP_NET_ADMIN;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		fatal("event=privileges error=\"capset: %s\"", strerror(errno));
}

/* Drop groups, gid, uid, in that order; each failure is fatal. */
static void
drop_privileges(const char *user, int keep_net_admin)
{
	struct passwd	*pw;

	if ((pw = getpwnam(user)) == NULL)
		fatal("event=privileges error=\"no such user: %s\"", user);
	if (keep_net_admin && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fatal("event=privileges error=\"keepcaps: %s\"", strerror(errno));
	if (setgroups(1, &pw->pw_gid) < 0)
		fatal("event=privileges error=\"setgroups: %s\"", strerror(errno));
	if (setgid(pw->pw_gid) < 0)
		fatal("event=privileges error=\"setgid: %s\"", strerror(errno));
	if (setuid(pw->pw_uid) < 0)
		fatal("event=privileges error=\"setuid: %s\"", strerror(errno));
	if (setuid(0) == 0)
		fatal("event=privileges error=\"could regain root\"");
	if (keep_net_admin) {
		set_caps(1);
		(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	log_event(LOG_INFO, "-", "event=privileges user=%s uid=%u caps=%s",
	    user, (unsigned)pw->pw_uid, keep_net_admin ? "net_admin" : "none");
}

static void
on_stop_signal(uv_signal_t *sig, int signum)
{
	int	i;

	log_event(LOG_INFO, "-", "event=stop signal=%s sessions=finishing",
	    signum == SIGTERM ? "TERM" : "INT");
	for (i = 0; i < n_workers; i++)
		worker_stop(&workers[i]);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void
on_hup(uv_signal_t *sig, int signum)
{
	log_event(LOG_WARN, "-", "event=reload result=unsupported "
	    "action=ignored");
}

int
main(int argc, char **argv)
{
	static struct config	 cfg;
	struct tls_server	*tls = NULL;
	struct tls_client	*tls_client = NULL;
	const char		*path = NULL;
	char			 err[512], host[256];
	int			 ch, test = 0, i, n, errline;

	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		fprintf(stderr, "mxgate check: not available in this "
		    "version (outbound support comes first)\n");
		return 2;
	}
	while ((ch = getopt(argc, argv, "c:tVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			print_versions();
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (load_config(path, &cfg) < 0)
		return 1;
	log_set_level((int)cfg.log_level);

	if (tls_global_init() < 0)
		fatal("event=start error=\"wolfSSL_Init failed\"");
	if (cfg.n_certs > 0 &&
	    (tls = tls_server_new(&cfg, &errline, err, sizeof(err))) == NULL) {
		if (test) {
			fprintf(stderr, "%s:%d: %s\n",
			    path ? path : "(defaults)", errline, err);
			return 1;
		}
		fatal("event=start error=\"%s:%d: %s\"",
		    path ? path : "(defaults)", errline, err);
	}
	if (test) {
		printf("%s: configuration ok\n", path ? path : "(defaults)");
		tls_server_free(tls);
		tls_global_cleanup();
		return 0;
	}

	if (cfg.n_listen_outbound > 0 &&
	    (tls_client = tls_client_new(&cfg, err, sizeof(err))) == NULL)
		fatal("event=start error=\"%s\"", err);
	if (cfg.n_listen_smtps + cfg.n_listen_starttls +
	    cfg.n_listen_outbound == 0)
		fatal("event=start error=\"nothing to listen on: configure "
		    "listen_smtps, listen_starttls or listen_outbound (see "
		    "mxgate.conf.example)\"");
	if (cfg.backend_client_address == CLIENT_ADDR_NONE)
		log_event(LOG_WARN, "-", "event=config "
		    "backend_client_address=none msg=\"the backend sees every "
		    "client as mxgate's own address; an MTA that trusts "
		    "localhost becomes an OPEN RELAY: use proxy-v2, proxy-v1 "
		    "or xclient\"");

	if (cfg.hostname[0] != '\0')
		snprintf(host, sizeof(host), "%s", cfg.hostname);
	else if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';

	n = cfg.workers > 0 ? cfg.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	if ((workers = calloc((size_t)n, sizeof(*workers))) == NULL)
		fatal("event=start error=\"out of memory\"");
	n_workers = n;
	for (i = 0; i < n; i++) {
		workers[i].index = i;
		workers[i].cfg = &cfg;
		workers[i].tls = tls;
		workers[i].tls_client = tls_client;
		snprintf(workers[i].hostname, sizeof(workers[i].hostname),
		    "%s", host);
		if (worker_bind(&workers[i], err, sizeof(err)) < 0)
			fatal("event=start error=\"%s\"", err);
	}

	if (cfg.user[0] != '\0')
		drop_privileges(cfg.user, cfg.outbound_mark != 0 &&
		    cfg.n_listen_outbound > 0);
	else if (geteuid() == 0)
		log_event(LOG_WARN, "-", "event=config msg=\"running as root: "
		    "set user to drop privileges after binding\"");

	signal(SIGPIPE, SIG_IGN);
	uv_signal_init(uv_default_loop(), &sig_term);
	uv_signal_init(uv_default_loop(), &sig_int);
	uv_signal_init(uv_default_loop(), &sig_hup);
	uv_signal_start(&sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&sig_hup, on_hup, SIGHUP);

	for (i = 0; i < n; i++)
		if (worker_start(&workers[i]) < 0)
			fatal("event=start error=\"cannot start worker %d\"", i);
	log_event(LOG_INFO, "-", "event=start version=%s workers=%d "
	    "listeners=%d backend=%s client_address=%s rsa_sign=%s",
	    MXGATE_VERSION, n, cfg.n_listen_smtps + cfg.n_listen_starttls +
	    cfg.n_listen_outbound, cfg.backend.text,
	    config_client_addr_name(cfg.backend_client_address),
	    tls_rsa_signer());

	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	for (i = 0; i < n; i++)
		worker_join(&workers[i]);
	log_event(LOG_INFO, "-", "event=exit");
	uv_loop_close(uv_default_loop());
	free(workers);
	tls_server_free(tls);
	tls_client_free(tls_client);
	tls_global_cleanup();
	return 0;
}

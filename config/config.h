/*
 * mxgate's configuration: one table-driven parser, one immutable struct.
 * Nothing else in mxgate reads text from disk.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_LISTEN_MAX	16
#define CONFIG_CERT_MAX		16
#define CONFIG_DNS_MAX		8
#define CONFIG_POLICY_MAX	256
#define CONFIG_PATH_MAX		1024
#define CONFIG_NAME_MAX		256

enum log_level { LOG_L_ERROR, LOG_L_WARN, LOG_L_INFO, LOG_L_DEBUG };

enum client_addr_mode {
	CLIENT_ADDR_PROXY_V1, CLIENT_ADDR_PROXY_V2, CLIENT_ADDR_XCLIENT,
	CLIENT_ADDR_TRANSPARENT, CLIENT_ADDR_NONE
};

enum outbound_mode { OUTBOUND_TRANSPARENT, OUTBOUND_SMARTHOST };

/* Ordered: a stronger policy compares greater. */
enum tls_policy { POLICY_NONE, POLICY_MAY, POLICY_ENCRYPT, POLICY_VERIFY };

struct config_addr {
	struct sockaddr_storage	sa;
	socklen_t		len;
	char			text[64];	/* as written, e.g. "0.0.0.0:26" */
};

struct config_cert {
	char	chain[CONFIG_PATH_MAX];		/* PEM chain, leaf first */
	char	key[CONFIG_PATH_MAX];		/* PEM private key */
	int	line;				/* where it was configured */
};

struct config_policy {
	char		name[CONFIG_NAME_MAX];	/* domain or MX host, lower
						 * case, no trailing dot */
	enum tls_policy	policy;
	int		line;
};

struct config {
	/* general */
	int		workers;		/* 0 = auto (one per core) */
	char		user[64];		/* "" = do not change user */
	enum log_level	log_level;
	char		hostname[CONFIG_NAME_MAX]; /* own name in replies;
						 * "" = gethostname() */

	/* inbound */
	struct config_addr listen_smtps[CONFIG_LISTEN_MAX];
	int		n_listen_smtps;
	struct config_addr listen_starttls[CONFIG_LISTEN_MAX];
	int		n_listen_starttls;
	struct config_addr backend;
	enum client_addr_mode backend_client_address;
	struct config_cert certs[CONFIG_CERT_MAX];
	int		n_certs;

	/* outbound */
	struct config_addr listen_outbound[CONFIG_LISTEN_MAX];
	int		n_listen_outbound;
	enum outbound_mode outbound_mode;
	struct config_addr dns_servers[CONFIG_DNS_MAX];
	int		n_dns_servers;
	char		ca_file[CONFIG_PATH_MAX];
	enum tls_policy	default_policy;
	struct config_policy policies[CONFIG_POLICY_MAX];
	int		n_policies;
	int		require_dnssec;		/* 0/1 */
	unsigned	outbound_mark;		/* 0 = no SO_MARK */
	char		helo_name[CONFIG_NAME_MAX]; /* "" = the MTA's own */
	int		remote_smtp_port;
	int		remote_smtps_port;
	int		upstream_cache;		/* idle upstream sessions kept
						 * per worker, 0 = none */
	int		upstream_cache_idle;	/* seconds one may wait */
	int		upstream_reuse_count;	/* transactions per session */
	int		upstream_reuse_time;	/* seconds a session is reused */

	/* limits and timeouts, in seconds / counts */
	int		handshake_timeout;	/* TLS handshake */
	int		connect_timeout;	/* connecting to backend / MX */
	int		command_timeout;	/* waiting for a command or reply
						 * while mxgate speaks SMTP */
	int		idle_timeout;		/* relay with no traffic */
	int		max_connections;	/* per worker; accept pauses */
	int		relay_splice;		/* splice(2) plain-to-plain relays */
};

/*
 * Parse the configuration text buf[0..len) named `name` (for messages)
 * into *cfg, starting from the embedded defaults.  On errors, each is
 * written to errbuf (if not NULL) as "name:LINE: message\n" lines, up to
 * errcap bytes, and -1 is returned; 0 on success.
 * Semantic checks (e.g. listen_smtps without tls_certificate,
 * backend_client_address transparent not supported yet) are errors too.
 * Pure: no file access, no DNS.  Addresses are numeric: "1.2.3.4:25",
 * "[::1]:25"; a bare "*:26" means 0.0.0.0:26.
 */
int config_parse(const char *name, const char *buf, size_t len,
    struct config *cfg, char *errbuf, size_t errcap);

/* Read `path` and config_parse() it.  Same contract; a missing or
 * unreadable file is an error naming the path. */
int config_load(const char *path, struct config *cfg, char *errbuf,
    size_t errcap);

/* Every directive at its table default, as commented-out text (the
 * defaults a config file starts from; no listener). */
extern const char config_default_text[];
int config_defaults(struct config *cfg);	/* parse config_default_text */

/* What mxgate runs with when given no -c, for a local trial: the
 * defaults plus an outbound smarthost listener on loopback only (TLS
 * listeners would need a certificate). */
extern const char config_embedded_text[];
int config_embedded(struct config *cfg);

const char *config_policy_name(enum tls_policy);
const char *config_client_addr_name(enum client_addr_mode);

/* Print every directive with its default and a one-line description,
 * from the table (used to check that the sample config is complete). */
void config_print_table(FILE *);

#endif

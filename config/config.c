/*
 * mxgate's configuration parser.  One static table describes every
 * directive: its parser, where it lands in struct config, its default,
 * its range and a one-line description.  Parsing, defaults, range checks
 * and the printed documentation all come from that table, so they cannot
 * drift apart.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define CONF_LINE_MAX	4096		/* bytes per line, without EOL */
#define CONF_FILE_MAX	(1024 * 1024)	/* bytes per file (config_load) */
#define CONF_WORDS_MAX	8		/* words kept per line */
#define CONF_ERRLINE	8192		/* one formatted error message */
#define CONF_QUOTE_MAX	64		/* bytes of a bad value echoed back */
#define DNS_PORT	53

/* Directive flags. */
#define D_REPEAT	0x01	/* may appear many times, values append */
#define D_AUTO		0x02	/* number: "auto" means 0 */
#define D_HEX		0x04	/* number: "0x..." accepted */
#define D_WILDCARD	0x08	/* address to listen on: "*:port" means
				 * 0.0.0.0:port.  Addresses without it
				 * are connected to: no wildcard there. */
#define D_UNSIGNED	0x10	/* number: the field is unsigned */

enum group { G_GENERAL, G_INBOUND, G_OUTBOUND, G_LIMITS };

static const char *const group_names[] = {
	"general", "inbound", "outbound", "limits and timeouts"
};

struct parse;
struct directive;

/* A value parser: argv holds exactly d->nargs words; the value goes to
 * `field`.  Returns 0, or -1 after reporting the error. */
typedef int parse_fn(struct parse *, const struct directive *, void *field,
    char **argv);

struct directive {
	const char	*name;
	parse_fn	*parse;
	size_t		off;		/* field, or first array element */
	size_t		size;		/* bytes of one value */
	size_t		count_off;	/* D_REPEAT: the element count */
	int		max_count;	/* D_REPEAT: array capacity */
	const char	*def;		/* default as written; NULL = none */
	long long	min, max;	/* numbers */
	const char *const *words;	/* keywords, indexed by enum value */
	int		port;		/* address: port when omitted, 0 =
					 * the port is required */
	int		nargs;		/* values after the name (0 means 1) */
	const char	*syntax;	/* what the values look like */
	unsigned	flags;
	enum group	group;
	const char	*desc;
};

static int addr_is_any(const struct config_addr *);

static parse_fn p_number, p_keyword, p_user, p_hostname, p_path, p_addr,
    p_cert, p_policy;

static const char *const log_level_words[] =
    { "error", "warn", "info", "debug", NULL };
static const char *const client_addr_words[] =
    { "proxy-v1", "proxy-v2", "xclient", "transparent", "none", NULL };
static const char *const outbound_mode_words[] =
    { "transparent", "smarthost", NULL };
static const char *const policy_words[] =
    { "none", "may", "encrypt", "verify", NULL };
static const char *const bool_words[] = { "no", "yes", NULL };

/* The keyword tables are indexed by enum value, and stored as int. */
_Static_assert(LOG_L_DEBUG == 3 && CLIENT_ADDR_NONE == 4 &&
    OUTBOUND_SMARTHOST == 1 && POLICY_VERIFY == 3, "keyword order");
_Static_assert(sizeof(enum log_level) == sizeof(int) &&
    sizeof(enum client_addr_mode) == sizeof(int) &&
    sizeof(enum outbound_mode) == sizeof(int) &&
    sizeof(enum tls_policy) == sizeof(int), "enums stored as int");

#define FIELD(f)	.off = offsetof(struct config, f),		\
			.size = sizeof(((struct config *)0)->f)
#define ARRAY(f, n)	.off = offsetof(struct config, f),		\
			.size = sizeof(((struct config *)0)->f[0]),	\
			.count_off = offsetof(struct config, n),	\
			.max_count = (int)(sizeof(((struct config *)0)->f) / \
			    sizeof(((struct config *)0)->f[0]))

#define ADDR_SYNTAX	"IPv4:PORT | [IPv6]:PORT"
#define LISTEN_SYNTAX	"IPv4:PORT | [IPv6]:PORT | *:PORT"
#define DNS_SYNTAX	"IPv4[:PORT] | [IPv6][:PORT]"

static const struct directive directives[] = {
	/* general */
	{ .name = "workers", .parse = p_number, FIELD(workers),
	  .def = "auto", .min = 1, .max = 64, .flags = D_AUTO,
	  .group = G_GENERAL,
	  .desc = "event loops; auto = one per CPU core" },
	{ .name = "user", .parse = p_user, FIELD(user),
	  .def = "", .syntax = "user name", .group = G_GENERAL,
	  .desc = "drop to this user after binding and loading keys "
		  "(unset: keep the starting user)" },
	{ .name = "log_level", .parse = p_keyword, FIELD(log_level),
	  .def = "info", .words = log_level_words, .group = G_GENERAL,
	  .desc = "least severe messages logged" },
	{ .name = "hostname", .parse = p_hostname, FIELD(hostname),
	  .def = "", .syntax = "host name", .group = G_GENERAL,
	  .desc = "own name in greetings and replies "
		  "(unset: the system host name)" },

	/* inbound */
	{ .name = "listen_smtps", .parse = p_addr,
	  ARRAY(listen_smtps, n_listen_smtps),
	  .flags = D_REPEAT | D_WILDCARD,
	  .syntax = LISTEN_SYNTAX, .group = G_INBOUND,
	  .desc = "implicit-TLS listener; a file's listen_* lines replace "
		  "the defaults' listeners" },
	{ .name = "listen_starttls", .parse = p_addr,
	  ARRAY(listen_starttls, n_listen_starttls),
	  .flags = D_REPEAT | D_WILDCARD,
	  .syntax = LISTEN_SYNTAX, .group = G_INBOUND,
	  .desc = "STARTTLS front for an MTA without usable TLS" },
	{ .name = "backend", .parse = p_addr, FIELD(backend),
	  .def = "127.0.0.1:2525", .syntax = ADDR_SYNTAX, .group = G_INBOUND,
	  .desc = "the legacy MTA that inbound sessions are relayed to" },
	{ .name = "backend_client_address", .parse = p_keyword,
	  FIELD(backend_client_address), .def = "proxy-v2",
	  .words = client_addr_words, .group = G_INBOUND,
	  .desc = "how the backend learns the client address "
		  "(transparent: not supported yet)" },
	{ .name = "tls_certificate", .parse = p_cert, ARRAY(certs, n_certs),
	  .flags = D_REPEAT, .nargs = 2, .syntax = "CHAIN KEY",
	  .group = G_INBOUND,
	  .desc = "PEM chain (leaf first) and PEM key; SNI picks among "
		  "several" },

	/* outbound */
	{ .name = "listen_outbound", .parse = p_addr,
	  ARRAY(listen_outbound, n_listen_outbound),
	  .flags = D_REPEAT | D_WILDCARD,
	  .syntax = LISTEN_SYNTAX, .group = G_OUTBOUND,
	  .desc = "where the MTA's port-25 traffic arrives" },
	{ .name = "outbound_mode", .parse = p_keyword, FIELD(outbound_mode),
	  .def = "transparent", .words = outbound_mode_words,
	  .group = G_OUTBOUND,
	  .desc = "transparent (REDIRECTed traffic) or smarthost" },
	{ .name = "dns_servers", .parse = p_addr,
	  ARRAY(dns_servers, n_dns_servers), .flags = D_REPEAT,
	  .port = DNS_PORT,
	  .syntax = DNS_SYNTAX, .group = G_OUTBOUND,
	  .desc = "recursive resolvers, port 53 when omitted "
		  "(none: the system's resolver configuration)" },
	{ .name = "ca_file", .parse = p_path, FIELD(ca_file),
	  .def = "/etc/ssl/certs/ca-certificates.crt", .syntax = "path",
	  .group = G_OUTBOUND,
	  .desc = "trusted roots for remote MX certificates" },
	{ .name = "default_policy", .parse = p_keyword, FIELD(default_policy),
	  .def = "may", .words = policy_words, .group = G_OUTBOUND,
	  .desc = "policy for MX hosts with neither prefix nor policy line" },
	{ .name = "policy", .parse = p_policy, ARRAY(policies, n_policies),
	  .flags = D_REPEAT, .nargs = 2,
	  .syntax = "NAME none|may|encrypt|verify",
	  .group = G_OUTBOUND,
	  .desc = "domain or MX host name and the policy it gets" },
	{ .name = "require_dnssec", .parse = p_keyword, FIELD(require_dnssec),
	  .def = "no", .words = bool_words, .group = G_OUTBOUND,
	  .desc = "insecure DNS answers for prefixed names defer the mail" },
	{ .name = "outbound_mark", .parse = p_number, FIELD(outbound_mark),
	  .def = "0", .min = 0, .max = 4294967295LL,
	  .flags = D_HEX | D_UNSIGNED,
	  .group = G_OUTBOUND,
	  .desc = "SO_MARK on upstream sockets, 0 = none "
		  "(needs CAP_NET_ADMIN)" },
	{ .name = "helo_name", .parse = p_hostname, FIELD(helo_name),
	  .def = "", .syntax = "host name", .group = G_OUTBOUND,
	  .desc = "EHLO name upstream (unset: the name the MTA gave)" },
	{ .name = "remote_smtp_port", .parse = p_number,
	  FIELD(remote_smtp_port), .def = "25", .min = 1, .max = 65535,
	  .group = G_OUTBOUND,
	  .desc = "port for SMTP/STARTTLS to remote MX hosts" },
	{ .name = "remote_smtps_port", .parse = p_number,
	  FIELD(remote_smtps_port), .def = "26", .min = 1, .max = 65535,
	  .group = G_OUTBOUND,
	  .desc = "port for implicit TLS to smtps- MX hosts" },
	{ .name = "upstream_cache", .parse = p_number, FIELD(upstream_cache),
	  .def = "256", .min = 0, .max = 4096, .group = G_OUTBOUND,
	  .desc = "idle upstream sessions kept per worker for reuse "
		  "(0: none)" },
	{ .name = "upstream_cache_idle", .parse = p_number,
	  FIELD(upstream_cache_idle), .def = "10", .min = 1, .max = 300,
	  .group = G_OUTBOUND,
	  .desc = "seconds a cached upstream session may wait unused" },
	{ .name = "upstream_reuse_count", .parse = p_number,
	  FIELD(upstream_reuse_count), .def = "100", .min = 1, .max = 10000,
	  .group = G_OUTBOUND,
	  .desc = "transactions one upstream session may carry" },
	{ .name = "upstream_reuse_time", .parse = p_number,
	  FIELD(upstream_reuse_time), .def = "300", .min = 1, .max = 3600,
	  .group = G_OUTBOUND,
	  .desc = "seconds after its opening an upstream session is no "
		  "longer reused" },

	/* limits and timeouts */
	{ .name = "handshake_timeout", .parse = p_number,
	  FIELD(handshake_timeout), .def = "30", .min = 1, .max = 3600,
	  .group = G_LIMITS, .desc = "seconds for a TLS handshake" },
	{ .name = "connect_timeout", .parse = p_number,
	  FIELD(connect_timeout), .def = "30", .min = 1, .max = 3600,
	  .group = G_LIMITS,
	  .desc = "seconds to connect to the backend or a remote MX" },
	{ .name = "command_timeout", .parse = p_number,
	  FIELD(command_timeout), .def = "300", .min = 1, .max = 3600,
	  .group = G_LIMITS,
	  .desc = "seconds waiting for a command or reply while mxgate "
		  "speaks SMTP" },
	{ .name = "idle_timeout", .parse = p_number, FIELD(idle_timeout),
	  .def = "300", .min = 1, .max = 86400, .group = G_LIMITS,
	  .desc = "seconds a relay may carry no traffic" },
	{ .name = "max_connections", .parse = p_number,
	  FIELD(max_connections), .def = "1024", .min = 1, .max = 1000000,
	  .group = G_LIMITS,
	  .desc = "connections per worker; accepting pauses beyond" },
	{ .name = "splice", .parse = p_keyword, FIELD(relay_splice),
	  .def = "yes", .words = bool_words, .group = G_LIMITS,
	  .desc = "relay plain-to-plain sessions with splice(2) "
		  "(no: copy through user space)" },
};

#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))
#define REPEAT_MAX	CONFIG_POLICY_MAX	/* the largest array */

_Static_assert(CONFIG_LISTEN_MAX <= REPEAT_MAX && CONFIG_CERT_MAX <=
    REPEAT_MAX && CONFIG_DNS_MAX <= REPEAT_MAX, "REPEAT_MAX");

/* Parser state.  The config is built here and copied out only when the
 * whole text is valid, so a failed reload leaves the caller's intact. */
struct parse {
	struct config	cfg;
	const char	*name;		/* for messages */
	int		line;		/* current line; 0 = defaults */
	int		nerr;
	char		*err;
	size_t		errcap, errlen;
	int		errfull;	/* stop appending: keep whole lines */
	int		first[NDIRECTIVES];	/* line of a single directive */
	int		elem[NDIRECTIVES][REPEAT_MAX]; /* line of each value */
	char		quote[CONF_QUOTE_MAX * 4 + 8];
	char		lbuf[CONF_LINE_MAX + 1];
};

/* Append one complete message line to errbuf; a line that does not fit
 * is cut only when it is the first, so the caller always sees something. */
static void
err_append(char *err, size_t cap, size_t *len, int *full, const char *msg)
{
	size_t n = strlen(msg);

	if (err == NULL || cap == 0 || *full)
		return;
	if (*len + n + 1 > cap) {
		*full = 1;
		if (*len > 0)
			return;
		n = cap - 1;
	}
	memcpy(err + *len, msg, n);
	*len += n;
	err[*len] = '\0';
}

/* Report "name:LINE: message". */
static void __attribute__((format(printf, 2, 3)))
perr(struct parse *p, const char *fmt, ...)
{
	char msg[CONF_ERRLINE];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "%s:%d: ", p->name, p->line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	p->nerr++;
	err_append(p->err, p->errcap, &p->errlen, &p->errfull, msg);
}

/* A bad value as echoed in a message: bounded, control bytes escaped,
 * so that a hostile file cannot forge log lines. */
static const char *
quote(struct parse *p, const char *s)
{
	char *o = p->quote;
	size_t i;

	for (i = 0; s[i] != '\0' && i < CONF_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'')
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	if (s[i] != '\0')
		o += sprintf(o, "...");
	*o = '\0';
	return p->quote;
}

/*
 * ASCII-only character classes: the daemon may run under any locale, and
 * a config must mean the same thing in all of them.
 */
static int
is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static int
to_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
word_eq(const char *a, const char *b)
{
	while (*a != '\0' && to_lower((unsigned char)*a) ==
	    to_lower((unsigned char)*b))
		a++, b++;
	return *a == '\0' && *b == '\0';
}

/* Unsigned decimal (or 0x hex when allowed); -1 on syntax or when the
 * value exceeds `limit`. */
static int
parse_ull(const char *s, int hex, unsigned long long limit,
    unsigned long long *out)
{
	unsigned long long v = 0;
	int base = 10, d;

	if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && to_lower(*s) >= 'a' &&
		    to_lower(*s) <= 'f')
			d = to_lower(*s) - 'a' + 10;
		else
			return -1;
		v = v * (unsigned)base + (unsigned)d;
		if (v > limit)
			return -1;
	}
	*out = v;
	return 0;
}

/* Numbers: int fields, or the unsigned outbound_mark. */
static int
p_number(struct parse *p, const struct directive *d, void *field, char **argv)
{
	unsigned long long v;

	if ((d->flags & D_AUTO) && word_eq(argv[0], "auto")) {
		v = 0;
	} else if (parse_ull(argv[0], d->flags & D_HEX,
	    (unsigned long long)d->max, &v) < 0 ||
	    v < (unsigned long long)d->min) {
		perr(p, "%s: expected %sa number %lld..%lld, got '%s'",
		    d->name, (d->flags & D_AUTO) ? "auto or " : "",
		    d->min, d->max, quote(p, argv[0]));
		return -1;
	}
	if (d->flags & D_UNSIGNED)
		*(unsigned *)field = (unsigned)v;
	else
		*(int *)field = (int)v;
	return 0;
}

/* "a, b or c" from a keyword table. */
static void
words_list(const char *const *w, const char *sep, const char *last,
    char *out, size_t cap)
{
	size_t n = 0;
	int i;

	out[0] = '\0';
	for (i = 0; w[i] != NULL; i++) {
		const char *s = i == 0 ? "" : w[i + 1] == NULL ? last : sep;
		int k = snprintf(out + n, cap - n, "%s%s", s, w[i]);

		if (k < 0 || (size_t)k >= cap - n)
			return;
		n += (size_t)k;
	}
}

/* Keyword position in its table (case-insensitive), or -1. */
static int
keyword(const char *const *w, const char *s)
{
	int i;

	for (i = 0; w[i] != NULL; i++)
		if (word_eq(w[i], s))
			return i;
	return -1;
}

/* Keywords: enums and yes/no, stored as int. */
static int
p_keyword(struct parse *p, const struct directive *d, void *field,
    char **argv)
{
	char list[128];
	int i = keyword(d->words, argv[0]);

	if (i < 0) {
		words_list(d->words, ", ", " or ", list, sizeof(list));
		perr(p, "%s: expected %s, got '%s'", d->name, list,
		    quote(p, argv[0]));
		return -1;
	}
	*(int *)field = i;
	return 0;
}

/* Portable user names: letters, digits, '.', '_', '-', not starting
 * with '-', at most 32 bytes (useradd's limit). */
static int
p_user(struct parse *p, const struct directive *d, void *field, char **argv)
{
	const char *s = argv[0];
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			break;
	if (n == 0 || n > 32 || n >= d->size || i < n || s[0] == '-') {
		perr(p, "%s: expected a user name (letters, digits, '.', "
		    "'_', '-'; at most 32), got '%s'", d->name, quote(p, s));
		return -1;
	}
	memcpy(field, s, n + 1);
	return 0;
}

/* Host name syntax (RFC 1123 letters, digits, hyphens; labels 1..63,
 * total at most 253).  A trailing dot is dropped in place; returns the
 * length, or -1. */
static int
hostname_check(char *s)
{
	size_t n = strlen(s), i, label = 0;

	if (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	if (n == 0 || n > 253)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return -1;
		if (c == '-' && label == 0)
			return -1;
		if (++label > 63)
			return -1;
	}
	if (s[n - 1] == '-')
		return -1;
	return (int)n;
}

/* Host names for hostname and helo_name: kept as written. */
static int
p_hostname(struct parse *p, const struct directive *d, void *field,
    char **argv)
{
	char copy[CONF_LINE_MAX + 1];
	int n;

	snprintf(copy, sizeof(copy), "%s", argv[0]);
	n = hostname_check(copy);
	if (n < 0 || (size_t)n >= d->size) {
		perr(p, "%s: expected a host name (letters, digits, '-' and "
		    "'.'), got '%s'", d->name, quote(p, argv[0]));
		return -1;
	}
	memcpy(field, copy, (size_t)n + 1);
	return 0;
}

/* A path into a buffer of `size` bytes; a relative path is taken from
 * the working directory at start-up.  Nothing is opened here. */
static int
path_copy(struct parse *p, const struct directive *d, char *dst, size_t size,
    const char *s)
{
	size_t n = strlen(s);

	if (n >= size) {
		perr(p, "%s: path too long (at most %zu bytes), got '%s'",
		    d->name, size - 1, quote(p, s));
		return -1;
	}
	memcpy(dst, s, n + 1);
	return 0;
}

static int
p_path(struct parse *p, const struct directive *d, void *field, char **argv)
{
	return path_copy(p, d, field, d->size, argv[0]);
}

/* Port number 1..65535, decimal. */
static int
port_parse(const char *s, int *port)
{
	unsigned long long v;

	if (strlen(s) > 5 || parse_ull(s, 0, 65535, &v) < 0 || v == 0)
		return -1;
	*port = (int)v;
	return 0;
}

/*
 * Numeric socket address: "a.b.c.d:port", "[v6]:port", "*:port" when
 * `wildcard`; when default_port is set the port may be left out, and a
 * bare IPv6 address is accepted too.  The text stored is canonical
 * (inet_ntop), so "*:26" reads "0.0.0.0:26" in logs.
 * Returns 0, -1 on syntax, -2 on a port out of range.
 */
static int
addr_parse(const char *s, int wildcard, int default_port,
    struct config_addr *a)
{
	char host[INET6_ADDRSTRLEN + 1], ntop[INET6_ADDRSTRLEN];
	const char *portstr = NULL, *colon;
	size_t hlen;
	int port = default_port, v6 = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		v6 = 1;
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0')
			return -1;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL) {
		/* Several colons and no brackets: a bare IPv6 address. */
		if (default_port == 0 || strlen(s) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%s", s);
		v6 = 1;
	} else {
		hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon != NULL)
			portstr = colon + 1;
		if (wildcard && strcmp(host, "*") == 0)
			snprintf(host, sizeof(host), "0.0.0.0");
	}
	if (portstr != NULL) {
		if (*portstr == '\0' || strspn(portstr, "0123456789") !=
		    strlen(portstr))
			return -1;
		if (port_parse(portstr, &port) < 0)
			return -2;
	} else if (port == 0) {
		return -1;
	}

	memset(a, 0, sizeof(*a));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, ntop, sizeof(ntop));
		snprintf(a->text, sizeof(a->text), "[%s]:%d", ntop, port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, ntop, sizeof(ntop));
		snprintf(a->text, sizeof(a->text), "%s:%d", ntop, port);
	}
	return 0;
}

/* Addresses: listeners, backend, DNS servers. */
static int
p_addr(struct parse *p, const struct directive *d, void *field, char **argv)
{
	struct config_addr *a = field;
	int rc = addr_parse(argv[0], d->flags & D_WILDCARD, d->port, a);

	/* Connecting to 0.0.0.0 or :: reaches this host by accident of
	 * the kernel; say which address is meant. */
	if (rc == 0 && !(d->flags & D_WILDCARD) && addr_is_any(a)) {
		perr(p, "%s: %s is the wildcard address, not one to connect "
		    "to", d->name, a->text);
		return -1;
	}
	if (rc == -2)
		perr(p, "%s: port must be 1..65535, got '%s'", d->name,
		    quote(p, argv[0]));
	else if (rc < 0)
		perr(p, "%s: expected %s, got '%s'", d->name, d->syntax,
		    quote(p, argv[0]));
	return rc < 0 ? -1 : 0;
}

/* tls_certificate CHAIN KEY. */
static int
p_cert(struct parse *p, const struct directive *d, void *field, char **argv)
{
	struct config_cert *c = field;

	if (path_copy(p, d, c->chain, sizeof(c->chain), argv[0]) < 0 ||
	    path_copy(p, d, c->key, sizeof(c->key), argv[1]) < 0)
		return -1;
	c->line = p->line;
	return 0;
}

/* policy NAME POLICY: the name is lower-cased without its trailing dot,
 * so that lookups compare bytes; one policy per name. */
static int
p_policy(struct parse *p, const struct directive *d, void *field,
    char **argv)
{
	struct config_policy *pol = field;
	char name[CONF_LINE_MAX + 1], list[128];
	int i, n, level;

	snprintf(name, sizeof(name), "%s", argv[0]);
	n = hostname_check(name);
	if (n < 0 || (size_t)n >= sizeof(pol->name)) {
		perr(p, "%s: expected a domain or host name, got '%s'",
		    d->name, quote(p, argv[0]));
		return -1;
	}
	for (i = 0; i < n; i++)
		name[i] = (char)to_lower((unsigned char)name[i]);
	level = keyword(policy_words, argv[1]);
	if (level < 0) {
		words_list(policy_words, ", ", " or ", list, sizeof(list));
		perr(p, "%s: expected %s, got '%s'", d->name, list,
		    quote(p, argv[1]));
		return -1;
	}
	for (i = 0; i < p->cfg.n_policies; i++) {
		if (strcmp(p->cfg.policies[i].name, name) == 0) {
			perr(p, "%s: '%s' already has a policy (line %d)",
			    d->name, name, p->cfg.policies[i].line);
			return -1;
		}
	}
	memcpy(pol->name, name, (size_t)n + 1);
	pol->policy = (enum tls_policy)level;
	pol->line = p->line;
	return 0;
}

static const struct directive *
directive_find(const char *name)
{
	size_t i;

	for (i = 0; i < NDIRECTIVES; i++)
		if (strcmp(directives[i].name, name) == 0)
			return &directives[i];
	return NULL;
}

/* Apply one directive line: argv[0] is the name, argc counts every word
 * (argv holds at most CONF_WORDS_MAX of them). */
static void
apply(struct parse *p, char **argv, int argc)
{
	const struct directive *d = directive_find(argv[0]);
	int nargs, i, *count = NULL;
	char *field;

	if (d == NULL) {
		perr(p, "unknown directive '%s'", quote(p, argv[0]));
		return;
	}
	i = (int)(d - directives);
	nargs = d->nargs ? d->nargs : 1;
	if (argc - 1 != nargs) {
		if (nargs == 1)
			perr(p, "%s: expected 1 value, got %d", d->name,
			    argc - 1);
		else
			perr(p, "%s: expected %d values (%s), got %d",
			    d->name, nargs, d->syntax, argc - 1);
		return;
	}
	field = (char *)&p->cfg + d->off;
	if (d->flags & D_REPEAT) {
		count = (int *)((char *)&p->cfg + d->count_off);
		if (*count >= d->max_count) {
			perr(p, "%s: too many (at most %d)", d->name,
			    d->max_count);
			return;
		}
		field += (size_t)*count * d->size;
	} else if (p->first[i] != 0) {
		perr(p, "%s: duplicate directive (first on line %d)",
		    d->name, p->first[i]);
		return;
	} else {
		p->first[i] = p->line;
	}
	if (d->parse(p, d, field, argv + 1) < 0)
		return;
	if (count != NULL)
		p->elem[i][(*count)++] = p->line;
}

/* Split one line (no EOL) into words and apply it. */
static void
parse_line(struct parse *p, const char *s, size_t n)
{
	char *argv[CONF_WORDS_MAX], *b = p->lbuf;
	size_t i = 0, start;
	int argc = 0;

	memcpy(b, s, n);
	b[n] = '\0';
	for (;;) {
		while (i < n && (b[i] == ' ' || b[i] == '\t'))
			i++;
		if (i == n || b[i] == '#')
			break;
		start = i;
		for (; i < n && b[i] != ' ' && b[i] != '\t'; i++) {
			unsigned char c = (unsigned char)b[i];

			if (c < 0x20 || c == 0x7f) {
				perr(p, "invalid control character 0x%02x",
				    c);
				return;
			}
		}
		b[i] = '\0';
		if (i < n)
			i++;
		if (argc < CONF_WORDS_MAX)
			argv[argc] = b + start;
		argc++;
	}
	if (argc > 0)
		apply(p, argv, argc);
}

/* Line of the n-th value of a repeatable directive. */
static int
elem_line(struct parse *p, const char *name, int n)
{
	return p->elem[directive_find(name) - directives][n];
}

static int
first_line(struct parse *p, const char *name)
{
	return p->first[directive_find(name) - directives];
}

/* Report an error at a given line (semantic checks run after parsing). */
#define perr_at(p, at, ...) do {					\
	(p)->line = (at);						\
	perr((p), __VA_ARGS__);						\
} while (0)

/* A TLS listener cannot serve without a certificate. */
static void
check_tls_listeners(struct parse *p)
{
	const struct config *c = &p->cfg;
	int l1 = c->n_listen_smtps ? elem_line(p, "listen_smtps", 0) : 0;
	int l2 = c->n_listen_starttls ? elem_line(p, "listen_starttls", 0) : 0;

	if (c->n_certs > 0 || (l1 == 0 && l2 == 0))
		return;
	if (l1 != 0 && (l2 == 0 || l1 < l2))
		perr_at(p, l1, "listen_smtps: TLS listener configured but no "
		    "tls_certificate");
	else
		perr_at(p, l2, "listen_starttls: TLS listener configured but "
		    "no tls_certificate");
}

static void
check_client_address(struct parse *p)
{
	if (p->cfg.backend_client_address == CLIENT_ADDR_TRANSPARENT)
		perr_at(p, first_line(p, "backend_client_address"),
		    "backend_client_address: transparent is not supported "
		    "yet (use proxy-v1, proxy-v2, xclient or none)");
}

struct listener {
	const struct config_addr *a;
	const char	*name;
	int		line;
};

/* 0.0.0.0 or :: */
static int
addr_is_any(const struct config_addr *a)
{
	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
}

static int
addr_is_loopback(const struct config_addr *a)
{
	if (a->sa.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&a->sa)->
		    sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
}

static int
addr_port(const struct config_addr *a)
{
	if (a->sa.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

static int
addr_same_host(const struct config_addr *a, const struct config_addr *b)
{
	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
	    &((const struct sockaddr_in6 *)&b->sa)->sin6_addr,
	    sizeof(struct in6_addr)) == 0;
}

/* 1 = same address, 2 = one is the wildcard of the other's port. */
static int
addr_overlap(const struct config_addr *a, const struct config_addr *b)
{
	if (a->sa.ss_family != b->sa.ss_family || addr_port(a) != addr_port(b))
		return 0;
	if (addr_same_host(a, b))
		return 1;
	return addr_is_any(a) || addr_is_any(b) ? 2 : 0;
}

static int
listeners_collect(struct parse *p, struct listener *l)
{
	static const char *const names[] =
	    { "listen_smtps", "listen_starttls", "listen_outbound" };
	const struct config_addr *arr[] = { p->cfg.listen_smtps,
	    p->cfg.listen_starttls, p->cfg.listen_outbound };
	const int cnt[] = { p->cfg.n_listen_smtps, p->cfg.n_listen_starttls,
	    p->cfg.n_listen_outbound };
	int k, i, n = 0;

	for (k = 0; k < 3; k++) {
		for (i = 0; i < cnt[k]; i++) {
			l[n].a = &arr[k][i];
			l[n].name = names[k];
			l[n].line = elem_line(p, names[k], i);
			n++;
		}
	}
	return n;
}

/* One socket per address: the same address twice, or an address next to
 * the wildcard of its port, would fail at bind time or steal traffic. */
static void
check_listener_overlap(struct parse *p)
{
	struct listener l[3 * CONFIG_LISTEN_MAX];
	int n = listeners_collect(p, l), i, j;

	/* Each line is reported once, against the earliest line it
	 * clashes with. */
	for (i = 0; i < n; i++) {
		const struct listener *a = NULL, *b = &l[i];
		int o = 0;

		for (j = 0; j < n; j++)
			if (l[j].line < b->line &&
			    (a == NULL || l[j].line < a->line) &&
			    addr_overlap(b->a, l[j].a) != 0)
				a = &l[j];
		if (a != NULL) {
			o = addr_overlap(b->a, a->a);
			if (o == 1)
				perr_at(p, b->line, "%s: address %s already "
				    "used on line %d (%s)", b->name,
				    b->a->text, a->line, a->name);
			else
				perr_at(p, b->line, "%s: %s overlaps %s on "
				    "line %d (%s)", b->name, b->a->text,
				    a->a->text, a->line, a->name);
		}
	}
}

/* The backend must not be mxgate itself, or sessions loop until the
 * connection limit is reached. */
static void
check_backend_not_self(struct parse *p)
{
	struct listener l[3 * CONFIG_LISTEN_MAX];
	const struct config_addr *b = &p->cfg.backend;
	int n = listeners_collect(p, l), i, bl = first_line(p, "backend");

	for (i = 0; i < n; i++) {
		int o = addr_overlap(b, l[i].a);

		/* The backend is never a wildcard (p_addr refuses it). */
		if (o == 0 || (o == 2 && !addr_is_loopback(b)))
			continue;
		if (bl != 0)
			perr_at(p, bl, "backend: %s is mxgate's own listener "
			    "%s on line %d; sessions would loop", b->text,
			    l[i].name, l[i].line);
		else
			perr_at(p, l[i].line, "%s: %s would receive the "
			    "default backend %s; sessions would loop",
			    l[i].name, l[i].a->text, b->text);
		return;
	}
}

/* Checks across directives; run only on a syntactically valid text so
 * that one typo does not cascade. */
static void
check_semantics(struct parse *p)
{
	check_tls_listeners(p);
	check_client_address(p);
	check_listener_overlap(p);
	check_backend_not_self(p);
}

/* Table defaults, through the same parsers as the file. */
static void
apply_defaults(struct parse *p)
{
	size_t i;

	p->line = 0;
	for (i = 0; i < NDIRECTIVES; i++) {
		const struct directive *d = &directives[i];
		char *argv[1];

		if (d->def == NULL || d->def[0] == '\0')
			continue;
		snprintf(p->lbuf, sizeof(p->lbuf), "%s", d->def);
		argv[0] = p->lbuf;
		d->parse(p, d, (char *)&p->cfg + d->off, argv);
	}
}

/*
 * Beyond config.h's contract: *cfg is written only on success, so a
 * failed reload leaves the running config untouched; semantic checks run
 * only when every line parsed, so one typo does not cascade.
 */
int
config_parse(const char *name, const char *buf, size_t len,
    struct config *cfg, char *errbuf, size_t errcap)
{
	struct parse *p;
	const char *s, *end;
	int rc;

	if (errbuf != NULL && errcap > 0)
		errbuf[0] = '\0';
	if (name == NULL)
		name = "config";
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		size_t el = 0;
		int full = 0;
		char msg[CONF_ERRLINE];

		snprintf(msg, sizeof(msg), "%s: out of memory\n", name);
		err_append(errbuf, errcap, &el, &full, msg);
		return -1;
	}
	p->name = name;
	p->err = errbuf;
	p->errcap = errcap;
	apply_defaults(p);

	if (buf == NULL)
		buf = "", len = 0;
	s = buf;
	end = buf + len;
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;		/* a UTF-8 byte order mark some editors add */
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl != NULL ? nl : end;
		size_t n = (size_t)(eol - s);

		p->line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > CONF_LINE_MAX)
			perr(p, "line too long (at most %d bytes)",
			    CONF_LINE_MAX);
		else if (memchr(s, '\0', n) != NULL)
			perr(p, "invalid control character 0x00");
		else
			parse_line(p, s, n);
		s = nl != NULL ? nl + 1 : end;
	}
	if (p->nerr == 0)
		check_semantics(p);

	rc = p->nerr == 0 ? 0 : -1;
	if (rc == 0)
		memcpy(cfg, &p->cfg, sizeof(*cfg));
	free(p);
	return rc;
}

/* Files are read whole, at most CONF_FILE_MAX bytes; a pipe such as
 * /dev/stdin works too. */
int
config_load(const char *path, struct config *cfg, char *errbuf,
    size_t errcap)
{
	char msg[CONF_ERRLINE], *buf = NULL;
	size_t len = 0, el = 0;
	int fd, full = 0, rc = -1;
	ssize_t r;

	if (errbuf != NULL && errcap > 0)
		errbuf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(msg, sizeof(msg), "%s: cannot open: %s\n", path,
		    strerror(errno));
		goto fail;
	}
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		snprintf(msg, sizeof(msg), "%s: out of memory\n", path);
		goto fail;
	}
	/* One byte past the limit tells "exactly full" from "too large". */
	while (len < CONF_FILE_MAX + 1) {
		r = read(fd, buf + len, CONF_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(msg, sizeof(msg), "%s: cannot read: %s\n",
			    path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > CONF_FILE_MAX) {
		snprintf(msg, sizeof(msg), "%s: file too large (at most %d "
		    "bytes)\n", path, CONF_FILE_MAX);
		goto fail;
	}
	rc = config_parse(path, buf, len, cfg, errbuf, errcap);
	goto out;
fail:
	err_append(errbuf, errcap, &el, &full, msg);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/*
 * The embedded defaults, as a config file.  Every directive is at its
 * table default and shown commented out; no listener is configured, since
 * both TLS listeners need a certificate that no built-in default can
 * provide: with no -c, mxgate has nothing to listen on and says so.  Give
 * it a file with listen_* and tls_certificate lines (see
 * mxgate.conf.example) to serve.
 */
const char config_default_text[] =
	"# mxgate embedded defaults: what runs when no -c FILE is given.\n"
	"# Every directive below is at its default and commented out.\n"
	"# No listener is configured: TLS listeners need a certificate.\n"
	"\n"
	"# general\n"
	"#workers                auto\n"
	"#user                   (unset: keep the starting user)\n"
	"#log_level              info\n"
	"#hostname               (unset: the system host name)\n"
	"\n"
	"# inbound\n"
	"#listen_smtps           (none)\n"
	"#listen_starttls        (none)\n"
	"#backend                127.0.0.1:2525\n"
	"#backend_client_address proxy-v2\n"
	"#tls_certificate        (none)\n"
	"\n"
	"# outbound\n"
	"#listen_outbound        (none)\n"
	"#outbound_mode          transparent\n"
	"#dns_servers            (none: the system's resolver configuration)\n"
	"#ca_file                /etc/ssl/certs/ca-certificates.crt\n"
	"#default_policy         may\n"
	"#policy                 (none)\n"
	"#require_dnssec         no\n"
	"#outbound_mark          0\n"
	"#helo_name              (unset: the name the MTA gave)\n"
	"#remote_smtp_port       25\n"
	"#remote_smtps_port      26\n"
	"#upstream_cache         256\n"
	"#upstream_cache_idle    10\n"
	"#upstream_reuse_count   100\n"
	"#upstream_reuse_time    300\n"
	"\n"
	"# limits and timeouts\n"
	"#handshake_timeout      30\n"
	"#connect_timeout        30\n"
	"#command_timeout        300\n"
	"#idle_timeout           300\n"
	"#max_connections        1024\n"
	"#splice                 yes\n";

const char config_embedded_text[] =
	"# mxgate with no -c: a local trial of the outbound side.\n"
	"# Point an MTA's smarthost (or swaks) at 127.0.0.1:10025.\n"
	"listen_outbound         127.0.0.1:10025\n"
	"outbound_mode           smarthost\n";

int
config_embedded(struct config *cfg)
{
	return config_parse("(embedded)", config_embedded_text,
	    sizeof(config_embedded_text) - 1, cfg, NULL, 0);
}

int
config_defaults(struct config *cfg)
{
	return config_parse("(defaults)", config_default_text,
	    sizeof(config_default_text) - 1, cfg, NULL, 0);
}

const char *
config_policy_name(enum tls_policy p)
{
	if ((int)p < 0 || (int)p > POLICY_VERIFY)
		return "unknown";
	return policy_words[p];
}

const char *
config_client_addr_name(enum client_addr_mode m)
{
	if ((int)m < 0 || (int)m > CLIENT_ADDR_NONE)
		return "unknown";
	return client_addr_words[m];
}

/* What a directive accepts, for the printed table. */
static void
allowed(const struct directive *d, char *out, size_t cap)
{
	if (d->words != NULL)
		words_list(d->words, " | ", " | ", out, cap);
	else if (d->parse == p_number)
		snprintf(out, cap, "%s%lld..%lld",
		    (d->flags & D_AUTO) ? "auto | " : "", d->min, d->max);
	else
		snprintf(out, cap, "%s", d->syntax);
}

void
config_print_table(FILE *f)
{
	char values[160];
	size_t i;
	int g = -1;

	fprintf(f, "# %-22s %-3s %-34s %-32s %s\n", "directive", "",
	    "default", "allowed", "description");
	fprintf(f, "# (+) = repeatable, values append; others at most "
	    "once\n");
	for (i = 0; i < NDIRECTIVES; i++) {
		const struct directive *d = &directives[i];
		const char *def = d->def == NULL ? "(none)" :
		    d->def[0] == '\0' ? "(unset)" : d->def;

		if ((int)d->group != g) {
			g = (int)d->group;
			fprintf(f, "\n# %s\n", group_names[g]);
		}
		allowed(d, values, sizeof(values));
		fprintf(f, "%-24s %-3s %-34s %-32s %s\n", d->name,
		    (d->flags & D_REPEAT) ? "(+)" : "", def, values, d->desc);
	}
}

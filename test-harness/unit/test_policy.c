/*
 * proxy/policy.c: a table of {config, domain, MX host, DNSSEC} and the
 * decision expected for it, one row per rule of docs/policy.md, plus a
 * table of MX host names and the prefix each carries.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"
#include "t.h"

#define R_DNSSEC	"insecure DNS answer for prefixed MX"
#define R_ARGS		"invalid arguments to the policy lookup"

/* Names too long, or just short enough, built in main(). */
static char long255[POLICY_NAME_MAX + 1];	/* 255 bytes: accepted */
static char long256[POLICY_NAME_MAX + 2];	/* 256 bytes: refused */
static char long256p[POLICY_NAME_MAX + 2];	/* 256, prefixed */

/* ---- policy_prefix() ---- */

struct prefix_case {
	const char	*mx;
	enum mx_prefix	 want;
};

static const struct prefix_case prefix_cases[] = {
	{ "starttls-mx1.example.com",		PREFIX_STARTTLS },
	{ "smtps-mx1.example.com",		PREFIX_SMTPS },
	/* case and the trailing dot */
	{ "STARTTLS-MX1.EXAMPLE.COM",		PREFIX_STARTTLS },
	{ "StartTLS-mx1.example.com",		PREFIX_STARTTLS },
	{ "SmTpS-mx.Example.com.",		PREFIX_SMTPS },
	{ "starttls-mx1.example.com.",		PREFIX_STARTTLS },
	{ "smtps-a.b",				PREFIX_SMTPS },
	{ "starttls-x.y",			PREFIX_STARTTLS },
	/* only the first prefix counts, whatever follows it */
	{ "starttls-smtps-mx.example.com",	PREFIX_STARTTLS },
	{ "smtps-starttls-mx.example.com",	PREFIX_SMTPS },
	{ "starttls--mx.example.com",		PREFIX_STARTTLS },
	{ "starttls-1.example.com",		PREFIX_STARTTLS },
	/* look-alikes */
	{ "starttlsmx.example.com",		PREFIX_NONE },
	{ "smtpsmx.example.com",		PREFIX_NONE },
	{ "starttls_mx.example.com",		PREFIX_NONE },
	{ "starttls.example.com",		PREFIX_NONE },
	{ "smtp-mx.example.com",		PREFIX_NONE },
	{ "smtps.example.com",			PREFIX_NONE },
	{ "tls-mx.example.com",			PREFIX_NONE },
	{ "xstarttls-mx.example.com",		PREFIX_NONE },
	{ "xsmtps-mx.example.com",		PREFIX_NONE },
	{ "-starttls-mx.example.com",		PREFIX_NONE },
	{ " starttls-mx.example.com",		PREFIX_NONE },
	{ "xn--starttls-mx.example.com",	PREFIX_NONE },
	{ "mx.starttls-example.com",		PREFIX_NONE },
	{ "mx.smtps-mx.example.com",		PREFIX_NONE },
	{ "mx1.starttls-mx.example.com",	PREFIX_NONE },
	/* the prefix alone is no prefix */
	{ "starttls-.example.com",		PREFIX_NONE },
	{ "smtps-.example.com",			PREFIX_NONE },
	{ "STARTTLS-.example.com.",		PREFIX_NONE },
	/* single-label names and empty labels */
	{ "starttls-mx",			PREFIX_NONE },
	{ "starttls-mx.",			PREFIX_NONE },
	{ "smtps-mx",				PREFIX_NONE },
	{ "starttls-mx..",			PREFIX_NONE },
	{ "starttls-mx..com",			PREFIX_NONE },
	{ "starttls-mx.example..",		PREFIX_NONE },
	{ "starttls-mx.example..com",		PREFIX_NONE },
	{ ".starttls-mx.example.com",		PREFIX_NONE },
	{ "starttls-",				PREFIX_NONE },
	{ "",					PREFIX_NONE },
	{ ".",					PREFIX_NONE },
	{ NULL,					PREFIX_NONE },
	{ long256p,				PREFIX_NONE },
};

/* ---- policy_lookup() ---- */

#define C_NONE		"default_policy none\n"
#define C_MAY		"default_policy may\n"
#define C_ENC		"default_policy encrypt\n"
#define C_VER		"default_policy verify\n"
/* Lines: 2 example.org, 3 mx.example.org, 4 starttls-mx.example.net,
 * 5 example.net, 6 smtps-mx.example.com, 7 mx.example.com,
 * 8 up.example.com. */
#define C_MAP		"default_policy may\n"			\
			"policy example.org encrypt\n"		\
			"policy MX.example.org. none\n"		\
			"policy starttls-mx.example.net none\n"	\
			"policy example.net none\n"		\
			"policy smtps-mx.example.com may\n"	\
			"policy mx.example.com verify\n"	\
			"policy up.example.com encrypt\n"
/* Line 2 legacy.example.com. */
#define C_LEGACY	"default_policy verify\n"		\
			"policy legacy.example.com none\n"
#define C_DNSSEC	"require_dnssec yes\n"
#define C_NODNSSEC	"require_dnssec no\n"
/* Line 3 mx.example.com. */
#define C_DNSSEC_MAP	"require_dnssec yes\n"			\
			"default_policy none\n"			\
			"policy mx.example.com verify\n"

#define V	POLICY_VERIFY
#define E	POLICY_ENCRYPT
#define M	POLICY_MAY
#define N	POLICY_NONE
#define P0	PREFIX_NONE
#define PS	PREFIX_STARTTLS
#define P26	PREFIX_SMTPS

struct lookup_case {
	const char	*name;
	const char	*conf;
	const char	*domain;
	const char	*mx;
	int		 dnssec;
	int		 ret;
	enum tls_policy	 level;
	enum mx_prefix	 prefix;
	int		 try_smtps;
	const char	*source;
	int		 line;
	int		 refuse;
};

static const struct lookup_case lookup_cases[] = {
	/* the prefixes */
	{ "starttls- gives verify on 25", C_MAY, "example.com",
	    "starttls-mx1.example.com", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "smtps- gives verify, 26 first", C_MAY, "example.com",
	    "smtps-mx1.example.com", 1, 0, V, P26, 1, "prefix", 0, 0 },
	{ "prefix in upper case", C_MAY, "EXAMPLE.COM",
	    "STARTTLS-MX1.EXAMPLE.COM", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "smtps- mixed case, trailing dots", C_MAY, "Example.Com.",
	    "SMTPS-mx1.Example.Com.", 1, 0, V, P26, 1, "prefix", 0, 0 },
	{ "starttls- trailing dot", C_NONE, "example.com",
	    "starttls-mx1.example.com.", 0, 0, V, PS, 0, "prefix", 0, 0 },

	/* look-alikes get the default */
	{ "starttlsmx is no prefix", C_MAY, "example.com",
	    "starttlsmx.example.com", 1, 0, M, P0, 0, "default", 0, 0 },
	{ "prefix in the second label", C_MAY, "starttls-example.com",
	    "mx.starttls-example.com", 1, 0, M, P0, 0, "default", 0, 0 },
	{ "xstarttls- is no prefix", C_NONE, "example.com",
	    "xstarttls-mx.example.com", 1, 0, N, P0, 0, "default", 0, 0 },
	{ "xsmtps- is no prefix", C_NONE, "example.com",
	    "xsmtps-mx.example.com", 1, 0, N, P0, 0, "default", 0, 0 },
	{ "bare starttls- label", C_NONE, "example.com",
	    "starttls-.example.com", 1, 0, N, P0, 0, "default", 0, 0 },
	{ "single label starttls-mx", C_NONE, "starttls-mx",
	    "starttls-mx", 1, 0, N, P0, 0, "default", 0, 0 },
	{ "single label smtps-mx.", C_MAY, "smtps-mx.",
	    "smtps-mx.", 1, 0, M, P0, 0, "default", 0, 0 },

	/* the default, for unprefixed and prefixed hosts */
	{ "default none", C_NONE, "example.com", "mx.example.com", 1,
	    0, N, P0, 0, "default", 0, 0 },
	{ "default may", C_MAY, "example.com", "mx.example.com", 1,
	    0, M, P0, 0, "default", 0, 0 },
	{ "default may, empty config", "", "example.com", "mx.example.com",
	    1, 0, M, P0, 0, "default", 0, 0 },
	{ "default encrypt", C_ENC, "example.com", "mx.example.com", 1,
	    0, E, P0, 0, "default", 0, 0 },
	{ "default verify", C_VER, "example.com", "mx.example.com", 1,
	    0, V, P0, 0, "default", 0, 0 },
	{ "default none, starttls-", C_NONE, "example.com",
	    "starttls-mx.example.com", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "default encrypt, smtps-", C_ENC, "example.com",
	    "smtps-mx.example.com", 1, 0, V, P26, 1, "prefix", 0, 0 },
	{ "default verify ties with the prefix", C_VER, "example.com",
	    "starttls-mx.example.com", 1, 0, V, PS, 0, "prefix", 0, 0 },

	/* the map: MX host before domain, exact names only */
	{ "domain entry", C_MAP, "example.org", "mx1.example.net", 1,
	    0, E, P0, 0, "domain-map", 2, 0 },
	{ "domain entry, case and dot", C_MAP, "EXAMPLE.Org.",
	    "mx1.example.net", 1, 0, E, P0, 0, "domain-map", 2, 0 },
	{ "MX entry beats domain entry", C_MAP, "example.org",
	    "mx.example.org", 1, 0, N, P0, 0, "mx-map", 3, 0 },
	{ "MX entry, case and dot", C_MAP, "example.org",
	    "Mx.Example.ORG.", 1, 0, N, P0, 0, "mx-map", 3, 0 },
	{ "MX entry raises the default", C_MAP, "example.com",
	    "mx.example.com", 1, 0, V, P0, 0, "mx-map", 7, 0 },
	{ "MX entry for another domain", C_MAP, "other.test",
	    "mx.example.com", 1, 0, V, P0, 0, "mx-map", 7, 0 },
	{ "domain is its own MX (no MX record)", C_MAP, "mx.example.com",
	    "mx.example.com", 1, 0, V, P0, 0, "mx-map", 7, 0 },
	{ "domain entry names the MX host's domain only", C_MAP,
	    "other.test", "mx9.example.org", 1, 0, M, P0, 0, "default", 0,
	    0 },
	{ "no parent-domain match for the domain", C_MAP,
	    "sub.example.org", "mx.sub.example.org", 1, 0, M, P0, 0,
	    "default", 0, 0 },
	{ "no parent-domain match for the MX host", C_MAP, "other.test",
	    "a.up.example.com", 1, 0, M, P0, 0, "default", 0, 0 },
	{ "no suffix match", C_MAP, "example.org",
	    "mx.example.org.evil.test", 1, 0, E, P0, 0, "domain-map", 2, 0 },
	{ "no look-alike match", C_MAP, "xexample.org", "xmx.example.org",
	    1, 0, M, P0, 0, "default", 0, 0 },
	{ "map entry weaker than the prefix", C_MAP, "example.org",
	    "starttls-mx.example.org", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "smtps- host mapped to may", C_MAP, "example.com",
	    "smtps-mx.example.com", 1, 0, V, P26, 1, "prefix", 0, 0 },

	/* explicit none exceptions */
	{ "none on an unprefixed host applies", C_LEGACY,
	    "legacy.example.com", "legacy.example.com", 1, 0, N, P0, 0,
	    "mx-map", 2, 0 },
	{ "none on a domain applies to its unprefixed MX", C_LEGACY,
	    "legacy.example.com", "mx.legacy.example.com", 1, 0, N, P0, 0,
	    "domain-map", 2, 0 },
	{ "none on a domain, prefixed MX", C_LEGACY, "legacy.example.com",
	    "starttls-mx.legacy.example.com", 1, 0, V, PS, 0, "prefix", 0,
	    0 },
	{ "none on a prefixed MX host is ignored", C_MAP, "example.net",
	    "starttls-mx.example.net", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "none on the domain, other unprefixed MX", C_MAP, "example.net",
	    "mx.other.test", 1, 0, N, P0, 0, "domain-map", 5, 0 },
	{ "none exception, default verify elsewhere", C_LEGACY,
	    "example.com", "mx.example.com", 1, 0, V, P0, 0, "default", 0,
	    0 },

	/* require_dnssec × secure × prefixed */
	{ "dnssec yes, insecure, starttls-", C_DNSSEC, "example.com",
	    "starttls-mx.example.com", 0, 0, V, PS, 0, "prefix", 0, 1 },
	{ "dnssec yes, insecure, smtps-", C_DNSSEC, "example.com",
	    "smtps-mx.example.com", 0, 0, V, P26, 1, "prefix", 0, 1 },
	{ "dnssec yes, secure, starttls-", C_DNSSEC, "example.com",
	    "starttls-mx.example.com", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "dnssec yes, secure (any non-zero), smtps-", C_DNSSEC,
	    "example.com", "smtps-mx.example.com", 2, 0, V, P26, 1, "prefix",
	    0, 0 },
	{ "dnssec yes, insecure, unprefixed", C_DNSSEC, "example.com",
	    "mx.example.com", 0, 0, M, P0, 0, "default", 0, 0 },
	{ "dnssec yes, secure, unprefixed", C_DNSSEC, "example.com",
	    "mx.example.com", 1, 0, M, P0, 0, "default", 0, 0 },
	{ "dnssec yes, insecure, mapped verify", C_DNSSEC_MAP,
	    "example.com", "mx.example.com", 0, 0, V, P0, 0, "mx-map", 3, 0 },
	{ "dnssec yes, insecure, look-alike", C_DNSSEC, "example.com",
	    "xstarttls-mx.example.com", 0, 0, M, P0, 0, "default", 0, 0 },
	{ "dnssec no, insecure, starttls-", C_NODNSSEC, "example.com",
	    "starttls-mx.example.com", 0, 0, V, PS, 0, "prefix", 0, 0 },
	{ "dnssec no, insecure, smtps-", C_NODNSSEC, "example.com",
	    "smtps-mx.example.com", 0, 0, V, P26, 1, "prefix", 0, 0 },
	{ "dnssec no, secure, starttls-", C_NODNSSEC, "example.com",
	    "starttls-mx.example.com", 1, 0, V, PS, 0, "prefix", 0, 0 },
	{ "dnssec no, insecure, unprefixed", C_NODNSSEC, "example.com",
	    "mx.example.com", 0, 0, M, P0, 0, "default", 0, 0 },
	{ "dnssec no, secure, unprefixed", C_NODNSSEC, "example.com",
	    "mx.example.com", 1, 0, M, P0, 0, "default", 0, 0 },
	{ "dnssec default (no), insecure, starttls-", C_MAY, "example.com",
	    "starttls-mx.example.com", 0, 0, V, PS, 0, "prefix", 0, 0 },

	/* invalid arguments: fail-safe result and -1 */
	{ "NULL domain", C_MAY, NULL, "mx.example.com", 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "NULL MX host", C_MAY, "example.com", NULL, 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "empty domain", C_MAY, "", "mx.example.com", 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "empty MX host", C_MAY, "example.com", "", 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "MX host \".\"", C_MAY, "example.com", ".", 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "domain \".\"", C_MAY, ".", "mx.example.com", 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "leading empty label", C_MAY, "example.com", ".mx.example.com", 1,
	    -1, V, P0, 0, "default", 0, 1 },
	{ "inner empty label", C_MAY, "example..com", "mx.example.com", 1,
	    -1, V, P0, 0, "default", 0, 1 },
	{ "two trailing dots", C_MAY, "example.com",
	    "starttls-mx.example..", 1, -1, V, P0, 0, "default", 0, 1 },
	{ "256-byte MX host", C_MAY, "example.com", long256, 1, -1, V, P0, 0,
	    "default", 0, 1 },
	{ "256-byte prefixed MX host", C_MAY, "example.com", long256p, 1, -1,
	    V, P0, 0, "default", 0, 1 },
	{ "256-byte domain", C_MAY, long256, "mx.example.com", 1, -1, V, P0,
	    0, "default", 0, 1 },
	{ "255-byte names are accepted", C_MAY, long255, long255, 1, 0, M,
	    P0, 0, "default", 0, 0 },
};

/* The decision as one line, so that a failure shows all of it. */
static void
describe(char *buf, size_t cap, int ret, enum tls_policy level,
    enum mx_prefix prefix, int try_smtps, const char *source, int line,
    int refuse, const char *reason)
{
	snprintf(buf, cap, "ret=%d level=%s prefix=%s smtps=%d source=%s "
	    "line=%d refuse=%d reason=%s", ret, config_policy_name(level),
	    policy_prefix_name(prefix), try_smtps, source ? source : "(null)",
	    line, refuse, reason ? reason : "-");
}

/* A name of exactly n bytes: labels of 50 'a's, then 'b's, no dot at
 * either end, starting with `first`. */
static void
long_name(char *buf, size_t n, const char *first)
{
	size_t i, f = strlen(first);

	memcpy(buf, first, f);
	for (i = f; i < n; i++)
		buf[i] = (i - f) % 51 == 50 ? '.' : 'a';
	if (buf[n - 1] == '.')
		buf[n - 1] = 'b';
	buf[n] = '\0';
}

static void
run_prefix_cases(void)
{
	size_t i;

	for (i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
		const struct prefix_case *c = &prefix_cases[i];
		enum mx_prefix got = policy_prefix(c->mx);

		T_STREQ(policy_prefix_name(got), policy_prefix_name(c->want),
		    "prefix of \"%.40s\"", c->mx ? c->mx : "(null)");
	}
	T_STREQ(policy_prefix_name(PREFIX_NONE), "none", "name of none");
	T_STREQ(policy_prefix_name(PREFIX_STARTTLS), "starttls",
	    "name of starttls");
	T_STREQ(policy_prefix_name(PREFIX_SMTPS), "smtps", "name of smtps");
	T_STREQ(policy_prefix_name((enum mx_prefix)7), "?", "name of 7");
}

static void
run_lookup_cases(void)
{
	static struct config	cfg;
	char			err[1024], got[256], want[256];
	struct policy_result	r;
	size_t			i;
	int			ret;

	for (i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const struct lookup_case *c = &lookup_cases[i];
		const char *reason = NULL;

		if (config_parse("test", c->conf, strlen(c->conf), &cfg, err,
		    sizeof(err)) != 0) {
			T_OK(0, "%s: config parses: %s", c->name, err);
			continue;
		}
		memset(&r, 0x5a, sizeof(r));
		ret = policy_lookup(&cfg, c->domain, c->mx, c->dnssec, &r);
		describe(got, sizeof(got), ret, r.level, r.prefix, r.try_smtps,
		    r.source, r.line, r.refuse, r.reason);
		if (c->ret < 0)
			reason = R_ARGS;
		else if (c->refuse)
			reason = R_DNSSEC;
		describe(want, sizeof(want), c->ret, c->level, c->prefix,
		    c->try_smtps, c->source, c->line, c->refuse, reason);
		T_STREQ(got, want, "%s", c->name);
	}

	/* The arguments the table cannot express. */
	config_parse("test", C_MAY, strlen(C_MAY), &cfg, err, sizeof(err));
	T_OK(policy_lookup(&cfg, "example.com", "mx.example.com", 1, NULL)
	    == -1, "NULL result");
	memset(&r, 0, sizeof(r));
	T_OK(policy_lookup(NULL, "example.com", "starttls-mx.example.com", 1,
	    &r) == -1 && r.refuse == 1 && r.level == POLICY_VERIFY,
	    "NULL config: -1, refused");

	/* A config whose counters went wrong is read within its array. */
	cfg.n_policies = CONFIG_POLICY_MAX + 5;
	T_OK(policy_lookup(&cfg, "example.com", "mx.example.com", 1, &r) == 0
	    && strcmp(r.source, "default") == 0, "n_policies over the max");
	cfg.n_policies = -3;
	T_OK(policy_lookup(&cfg, "example.com", "mx.example.com", 1, &r) == 0
	    && strcmp(r.source, "default") == 0, "n_policies negative");
}

/* Every one of the 256 entries a config may hold is reachable, the
 * first and the last alike. */
static void
run_full_map(void)
{
	static struct config	cfg;
	static char		text[CONFIG_POLICY_MAX * 40];
	char			err[1024], name[64];
	struct policy_result	r;
	size_t			off = 0;
	int			i, ok = 1;

	for (i = 0; i < CONFIG_POLICY_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "policy mx%d.example.com %s\n", i,
		    i % 2 ? "none" : "encrypt");
	T_OK(config_parse("full", text, off, &cfg, err, sizeof(err)) == 0 &&
	    cfg.n_policies == CONFIG_POLICY_MAX, "full map parses");
	for (i = 0; i < CONFIG_POLICY_MAX; i++) {
		snprintf(name, sizeof(name), "MX%d.Example.Com.", i);
		if (policy_lookup(&cfg, "example.com", name, 0, &r) != 0 ||
		    r.level != (i % 2 ? POLICY_NONE : POLICY_ENCRYPT) ||
		    r.line != i + 1 || strcmp(r.source, "mx-map") != 0)
			ok = 0;
	}
	T_OK(ok, "each of %d map entries found", CONFIG_POLICY_MAX);
	T_OK(policy_lookup(&cfg, "example.com", "mx256.example.com", 0, &r)
	    == 0 && r.level == POLICY_MAY && strcmp(r.source, "default") == 0,
	    "a name past the map gets the default");
}

int
main(void)
{
	long_name(long255, 255, "");
	long_name(long256, 256, "");
	long_name(long256p, 256, "starttls-");

	run_prefix_cases();
	run_lookup_cases();
	run_full_map();
	return T_DONE();
}

/*
 * The policy engine (SPEC §1, §4): the MX prefix and the static map of
 * the config, strongest wins.  Pure: it reads the config and the names
 * it is given and nothing else, so that every rule is checked by a table
 * in test-harness/unit/test_policy.c.  docs/policy.md argues each rule.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "policy.h"

#define PREFIX_STARTTLS_TEXT	"starttls-"
#define PREFIX_SMTPS_TEXT	"smtps-"

static const char REASON_DNSSEC[] = "insecure DNS answer for prefixed MX";
static const char REASON_ARGS[] = "invalid arguments to the policy lookup";

/* ASCII lower case, independent of the locale. */
static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Are a[0..n) and b[0..n) equal without regard to ASCII case? */
static int
caseeq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/*
 * Length of `name` without its trailing dot, or -1 when it is not a
 * name the engine decides for: NULL, longer than POLICY_NAME_MAX, empty,
 * or with an empty label.
 */
static long
name_len(const char *name)
{
	size_t n, i;

	if (name == NULL)
		return -1;
	n = strnlen(name, POLICY_NAME_MAX + 1);
	if (n > POLICY_NAME_MAX)
		return -1;
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || name[0] == '.' || name[n - 1] == '.')
		return -1;
	for (i = 1; i < n; i++)
		if (name[i] == '.' && name[i - 1] == '.')
			return -1;
	return (long)n;
}

/* Does the label label[0..len) start with `prefix` and go on after it? */
static int
label_has_prefix(const char *label, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);

	return len > plen && caseeq(label, prefix, plen);
}

enum mx_prefix
policy_prefix(const char *mxhost)
{
	const char	*dot;
	size_t		 first;
	long		 n;

	/* A name that is no name makes no promise (and policy_lookup()
	 * refuses it).  A single-label name is no MX host anyone can
	 * publish a promise for (it would be completed by a search list),
	 * so it carries none either. */
	if ((n = name_len(mxhost)) < 0)
		return PREFIX_NONE;
	if ((dot = memchr(mxhost, '.', (size_t)n)) == NULL)
		return PREFIX_NONE;
	first = (size_t)(dot - mxhost);

	if (label_has_prefix(mxhost, first, PREFIX_STARTTLS_TEXT))
		return PREFIX_STARTTLS;
	if (label_has_prefix(mxhost, first, PREFIX_SMTPS_TEXT))
		return PREFIX_SMTPS;
	return PREFIX_NONE;
}

const char *
policy_prefix_name(enum mx_prefix p)
{
	switch (p) {
	case PREFIX_NONE:
		return "none";
	case PREFIX_STARTTLS:
		return "starttls";
	case PREFIX_SMTPS:
		return "smtps";
	}
	return "?";
}

/* The map entry whose name is exactly name[0..n) (ASCII case and a
 * trailing dot aside), or NULL.  The config stores names lower-cased
 * without the dot; comparing without case keeps this true if it
 * ever did not. */
static const struct config_policy *
map_find(const struct config *cfg, const char *name, size_t n)
{
	const struct config_policy *e;
	size_t	elen;
	int	i, count;

	count = cfg->n_policies;
	if (count < 0)
		count = 0;
	if (count > CONFIG_POLICY_MAX)
		count = CONFIG_POLICY_MAX;
	for (i = 0; i < count; i++) {
		e = &cfg->policies[i];
		elen = strnlen(e->name, sizeof(e->name));
		if (elen > 0 && e->name[elen - 1] == '.')
			elen--;
		if (elen == n && caseeq(e->name, name, n))
			return e;
	}
	return NULL;
}

/* The fail-safe answer for a call that broke the contract. */
static void
result_invalid(struct policy_result *out)
{
	out->level = POLICY_VERIFY;
	out->prefix = PREFIX_NONE;
	out->try_smtps = 0;
	out->source = "default";
	out->line = 0;
	out->refuse = 1;
	out->reason = REASON_ARGS;
}

int
policy_lookup(const struct config *cfg, const char *domain,
    const char *mxhost, int dnssec_secure, struct policy_result *out)
{
	const struct config_policy *e;
	enum tls_policy	 level;
	const char	*source;
	long		 dn, mn;
	int		 line;

	if (out == NULL)
		return -1;
	dn = name_len(domain);
	mn = name_len(mxhost);
	if (cfg == NULL || dn < 0 || mn < 0) {
		result_invalid(out);
		return -1;
	}

	/* The static map: the MX host's own entry is the more specific,
	 * so it decides before the domain's; then the default. */
	if ((e = map_find(cfg, mxhost, (size_t)mn)) != NULL) {
		level = e->policy;
		source = "mx-map";
		line = e->line;
	} else if ((e = map_find(cfg, domain, (size_t)dn)) != NULL) {
		level = e->policy;
		source = "domain-map";
		line = e->line;
	} else {
		level = cfg->default_policy;
		source = "default";
		line = 0;
	}

	out->prefix = policy_prefix(mxhost);
	out->try_smtps = out->prefix == PREFIX_SMTPS;

	/* Strongest wins.  The prefix is the receiving domain's own
	 * promise: nothing in the local map may weaken it, so an explicit
	 * `none` only ever lowers the default for unprefixed hosts. */
	if (out->prefix != PREFIX_NONE && POLICY_VERIFY >= level) {
		level = POLICY_VERIFY;
		source = "prefix";
		line = 0;
	}
	out->level = level;
	out->source = source;
	out->line = line;

	/* The operator asked that a prefix's promise be acted on only
	 * when the answers that carried it were authenticated.  This
	 * cannot see a prefix an attacker stripped from an unsigned MX
	 * answer: that host is unprefixed here (docs/policy.md). */
	out->refuse = 0;
	out->reason = NULL;
	if (cfg->require_dnssec && out->prefix != PREFIX_NONE &&
	    !dnssec_secure) {
		out->refuse = 1;
		out->reason = REASON_DNSSEC;
	}
	return 0;
}

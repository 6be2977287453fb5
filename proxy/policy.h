/*
 * The policy engine: what must the session to MX host H, chosen for
 * recipient domain D, satisfy?  One pure function over the immutable
 * config: no I/O, no allocation, no state.  docs/policy.md gives the
 * rules and the reasons for each decision.
 */
#ifndef POLICY_H
#define POLICY_H

#include "config.h"

/* Longest name policy_lookup() accepts, in bytes, a trailing dot
 * included.  DNS names are at most 253 bytes in text form. */
#define POLICY_NAME_MAX	255

/* The promise an MX host name makes through the prefix of its first
 * label (SPEC §1). */
enum mx_prefix {
	PREFIX_NONE,		/* no promise */
	PREFIX_STARTTLS,	/* "starttls-": STARTTLS on 25, valid cert */
	PREFIX_SMTPS		/* "smtps-": implicit TLS on 26, and
				 * STARTTLS on 25, valid cert on both */
};

struct policy_result {
	enum tls_policy	 level;		/* none < may < encrypt < verify */
	enum mx_prefix	 prefix;
	int		 try_smtps;	/* 1: implicit TLS on the smtps port
					 * first, then 25 with mandatory
					 * STARTTLS; 0: port 25 only */
	const char	*source;	/* what decided the level: "prefix",
					 * "mx-map", "domain-map", "default"
					 * (static strings) */
	int		 line;		/* config line of the deciding map
					 * entry; 0 when none decided */
	int		 refuse;	/* 1: temporary failure before any
					 * connection is made */
	const char	*reason;	/* why, when refuse is 1; else NULL */
};

/*
 * The prefix carried by the first label of `mxhost`: "starttls-" or
 * "smtps-", matched without regard to ASCII case, a trailing dot
 * ignored.  The prefix counts only when at least one more byte follows
 * it in that label and the name has at least two labels
 * ("starttls-.example.com" and "starttls-mx" carry none).
 * NULL, an empty name, a name with an empty label or one longer than
 * POLICY_NAME_MAX carries none (policy_lookup() refuses such names).
 */
enum mx_prefix policy_prefix(const char *mxhost);

/* "none", "starttls" or "smtps", for logs; "?" for anything else. */
const char *policy_prefix_name(enum mx_prefix);

/*
 * Decide the policy for a session to `mxhost` chosen for recipient
 * `domain` (when the domain has no MX record, mxhost is the domain
 * itself).  `dnssec_secure` is 1 when every DNS answer that led to
 * mxhost and its address came back authenticated (AD bit), else 0.
 *
 * Sources, strongest wins (SPEC §4): the prefix (verify); the static
 * map, where an entry for the MX host takes precedence over one for
 * the domain, names compared exactly (no parent-domain matching),
 * without regard to ASCII case or a trailing dot; else default_policy.
 * The level is the maximum of the prefix's and the map's (or
 * default's), so a map entry, `none` included, can lower the default
 * for an unprefixed host but never weaken a prefix's promise.
 * `source` names the strongest source; on a tie the prefix is named.
 * With require_dnssec, a prefixed host reached through an insecure
 * answer gets refuse = 1 and reason "insecure DNS answer for prefixed
 * MX"; the other fields are still filled in for the log line.
 *
 * Returns 0 and fills *out; -1 on invalid arguments (a NULL pointer, an
 * empty name, an empty label, a name longer than POLICY_NAME_MAX).  On
 * -1, a non-NULL *out is still filled in, fail-safe: level verify,
 * refuse = 1, reason "invalid arguments to the policy lookup".
 */
int policy_lookup(const struct config *cfg, const char *domain,
    const char *mxhost, int dnssec_secure, struct policy_result *out);

#endif

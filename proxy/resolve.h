/*
 * MX resolution with c-ares on a worker's libuv loop: MX, then A and
 * AAAA of each exchange; no MX means the domain itself (RFC 5321 5.1).
 * Answers are cached for their TTL, and whether every answer came back
 * with the AD bit from the configured resolver is recorded.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "config.h"
#include "dns.h"

#define MX_HOSTS_MAX	16
#define MX_ADDRS_MAX	4

enum resolve_status {
	RESOLVE_OK,		/* hosts[] holds the MX set */
	RESOLVE_TEMPFAIL,	/* timeout, SERVFAIL, no address found */
	RESOLVE_NXDOMAIN,	/* the domain does not exist */
	RESOLVE_NULLMX		/* RFC 7505: the domain takes no mail */
};

struct mx_host {
	char			name[DNS_NAME_MAX + 1];
	uint16_t		pref;
	int			naddr;
	struct sockaddr_storage	addr[MX_ADDRS_MAX];	/* port 0 */
};

struct mx_set {
	enum resolve_status	status;
	int			secure;		/* every answer had AD */
	int			implicit;	/* no MX: the domain itself */
	int			n;
	struct mx_host		host[MX_HOSTS_MAX];	/* preference order */
	char			error[DNS_NAME_MAX + 96]; /* why, when not OK */
};

struct resolver;
struct resolve_req;

typedef void resolve_cb(void *arg, const struct mx_set *);

/* A resolver for one loop, using cfg's dns_servers (the system's
 * resolver configuration when there are none).  NULL on failure. */
struct resolver *resolver_new(uv_loop_t *, const struct config *);

/* Cancel everything and release the resolver (handles close
 * asynchronously). */
void resolver_free(struct resolver *);

/*
 * Resolve domain's MX set; cb(arg, set) is called exactly once, unless
 * the request is cancelled first — possibly before resolve_mx() returns
 * when the answer is cached (then NULL is returned).  The set is only
 * valid during the callback.
 */
struct resolve_req *resolve_mx(struct resolver *, const char *domain,
    resolve_cb *cb, void *arg);

/* The callback will not be called. */
void resolve_cancel(struct resolve_req *);

#endif

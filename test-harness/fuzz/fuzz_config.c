/*
 * libFuzzer target: config_parse() on arbitrary bytes.  Besides crashes
 * and sanitizer reports, it checks the parser's promises: a result of 0
 * or -1 only; on success every count is within its array and every string
 * is terminated; on failure at least one "name:LINE: " message, and the
 * caller's struct left as it was.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg, before;
static char err[4096];

/* A NUL within the first `cap` bytes. */
static int
terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void
check_ok(const struct config *c)
{
	int i;

	if (c->n_listen_smtps < 0 || c->n_listen_smtps > CONFIG_LISTEN_MAX ||
	    c->n_listen_starttls < 0 ||
	    c->n_listen_starttls > CONFIG_LISTEN_MAX ||
	    c->n_listen_outbound != 0 ||
	    c->n_certs < 0 || c->n_certs > CONFIG_CERT_MAX ||
	    c->n_dns_servers < 0 || c->n_dns_servers > CONFIG_DNS_MAX ||
	    c->n_policies < 0 || c->n_policies > CONFIG_POLICY_MAX)
		abort();
	if ((c->n_listen_smtps || c->n_listen_starttls) && c->n_certs == 0)
		abort();
	if (c->backend_client_address == CLIENT_ADDR_TRANSPARENT)
		abort();
	if (c->workers < 0 || c->workers > 64 ||
	    c->max_connections < 1 || c->max_connections > 1000000 ||
	    c->remote_smtp_port < 1 || c->remote_smtp_port > 65535 ||
	    c->remote_smtps_port < 1 || c->remote_smtps_port > 65535 ||
	    c->handshake_timeout < 1 || c->handshake_timeout > 3600 ||
	    c->connect_timeout < 1 || c->connect_timeout > 3600 ||
	    c->command_timeout < 1 || c->command_timeout > 3600 ||
	    c->idle_timeout < 1 || c->idle_timeout > 86400 ||
	    c->upstream_cache < 0 || c->upstream_cache > 4096 ||
	    c->upstream_cache_idle < 1 || c->upstream_cache_idle > 300 ||
	    c->upstream_reuse_count < 1 || c->upstream_reuse_count > 10000 ||
	    c->upstream_reuse_time < 1 || c->upstream_reuse_time > 3600)
		abort();
	if (!terminated(c->user, sizeof(c->user)) ||
	    !terminated(c->hostname, sizeof(c->hostname)) ||
	    !terminated(c->ca_file, sizeof(c->ca_file)) ||
	    !terminated(c->helo_name, sizeof(c->helo_name)) ||
	    !terminated(c->backend.text, sizeof(c->backend.text)))
		abort();
	for (i = 0; i < c->n_certs; i++)
		if (!terminated(c->certs[i].chain, sizeof(c->certs[i].chain)) ||
		    !terminated(c->certs[i].key, sizeof(c->certs[i].key)) ||
		    c->certs[i].line < 1)
			abort();
	for (i = 0; i < c->n_policies; i++) {
		const char *n = c->policies[i].name;
		size_t k;

		if (!terminated(n, sizeof(c->policies[i].name)) ||
		    n[0] == '\0' || n[strlen(n) - 1] == '.' ||
		    c->policies[i].policy > POLICY_VERIFY)
			abort();
		for (k = 0; n[k] != '\0'; k++)
			if (n[k] >= 'A' && n[k] <= 'Z')
				abort();
	}
	for (i = 0; i < c->n_dns_servers; i++)
		if (c->dns_servers[i].len == 0 ||
		    !terminated(c->dns_servers[i].text,
		    sizeof(c->dns_servers[i].text)))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc;

	memset(&cfg, 0x5a, sizeof(cfg));
	memcpy(&before, &cfg, sizeof(cfg));
	memset(err, 0x5a, sizeof(err));
	rc = config_parse("fuzz", (const char *)data, size, &cfg, err,
	    sizeof(err));
	if (rc == 0) {
		if (err[0] != '\0')
			abort();
		check_ok(&cfg);
	} else if (rc == -1) {
		if (strncmp(err, "fuzz:", 5) != 0 ||
		    !terminated(err, sizeof(err)) ||
		    memcmp(&cfg, &before, sizeof(cfg)) != 0)
			abort();
	} else {
		abort();
	}

	/* A tiny error buffer must stay terminated and within bounds. */
	rc = config_parse("fuzz", (const char *)data, size, &cfg, err, 7);
	if (rc == -1 && strlen(err) > 6)
		abort();
	return 0;
}

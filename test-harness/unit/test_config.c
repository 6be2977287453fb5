/*
 * config/config.c: table-driven checks of every directive's good and bad
 * values, the exact error lines, limits, the semantic checks, and that
 * the sample config, the embedded defaults and the printed table agree.
 * Run from the repository root (it reads config/mxgate.conf.example).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "t.h"

#define EXAMPLE	"config/mxgate.conf.example"
#define CERT	"tls_certificate /etc/mxgate/c.pem /etc/mxgate/k.pem\n"

static struct config cfg, cfg2;
static char err[8192];

/* A short printable name for a test input. */
static const char *
label(const char *s)
{
	static char b[64];
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o < sizeof(b) - 5; i++) {
		if (s[i] == '\n') {
			b[o++] = '\\';
			b[o++] = 'n';
		} else if ((unsigned char)s[i] < 0x20) {
			b[o++] = '?';
		} else {
			b[o++] = s[i];
		}
	}
	if (s[i] != '\0') {
		memcpy(b + o, "...", 3);
		o += 3;
	}
	b[o] = '\0';
	return b;
}

/* The whole config as " key=value " tokens, so that a case can name the
 * fields it expects. */
static char *
dump(const struct config *c)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	int i;

	fprintf(f, " workers=%d user=%s log_level=%d hostname=%s",
	    c->workers, c->user, (int)c->log_level, c->hostname);
	fprintf(f, " n_listen_smtps=%d", c->n_listen_smtps);
	for (i = 0; i < c->n_listen_smtps; i++)
		fprintf(f, " listen_smtps=%s", c->listen_smtps[i].text);
	fprintf(f, " n_listen_starttls=%d", c->n_listen_starttls);
	for (i = 0; i < c->n_listen_starttls; i++)
		fprintf(f, " listen_starttls=%s", c->listen_starttls[i].text);
	fprintf(f, " backend=%s bca=%s n_certs=%d", c->backend.text,
	    config_client_addr_name(c->backend_client_address), c->n_certs);
	for (i = 0; i < c->n_certs; i++)
		fprintf(f, " cert=%s,%s@%d cert=%s,%s", c->certs[i].chain,
		    c->certs[i].key, c->certs[i].line, c->certs[i].chain,
		    c->certs[i].key);
	fprintf(f, " n_listen_outbound=%d", c->n_listen_outbound);
	fprintf(f, " outbound_mode=%d n_dns=%d", (int)c->outbound_mode,
	    c->n_dns_servers);
	for (i = 0; i < c->n_dns_servers; i++)
		fprintf(f, " dns=%s", c->dns_servers[i].text);
	fprintf(f, " ca_file=%s default_policy=%s n_policies=%d", c->ca_file,
	    config_policy_name(c->default_policy), c->n_policies);
	for (i = 0; i < c->n_policies; i++)
		fprintf(f, " policy=%s:%s@%d policy=%s:%s",
		    c->policies[i].name,
		    config_policy_name(c->policies[i].policy),
		    c->policies[i].line, c->policies[i].name,
		    config_policy_name(c->policies[i].policy));
	fprintf(f, " require_dnssec=%d outbound_mark=%u helo_name=%s",
	    c->require_dnssec, c->outbound_mark, c->helo_name);
	fprintf(f, " remote_smtp_port=%d remote_smtps_port=%d",
	    c->remote_smtp_port, c->remote_smtps_port);
	fprintf(f, " upstream_cache=%d upstream_cache_idle=%d "
	    "upstream_reuse_count=%d upstream_reuse_time=%d",
	    c->upstream_cache, c->upstream_cache_idle,
	    c->upstream_reuse_count, c->upstream_reuse_time);
	fprintf(f, " handshake_timeout=%d connect_timeout=%d "
	    "command_timeout=%d idle_timeout=%d max_connections=%d "
	    "splice=%d ",
	    c->handshake_timeout, c->connect_timeout, c->command_timeout,
	    c->idle_timeout, c->max_connections, c->relay_splice);
	fclose(f);
	return s;
}

/* Every space-separated token of `want` is a token of the dump. */
static int
has_tokens(const char *d, const char *want, char *missing, size_t cap)
{
	char tok[1200];
	const char *w = want;

	missing[0] = '\0';
	while (*w != '\0') {
		size_t n = strcspn(w, " ");

		if (n > 0) {
			snprintf(tok, sizeof(tok), " %.*s ", (int)n, w);
			if (strstr(d, tok) == NULL) {
				snprintf(missing, cap, "%s", tok);
				return 0;
			}
		}
		w += n;
		w += strspn(w, " ");
	}
	return 1;
}

static int
parse(const char *text)
{
	return config_parse("t.conf", text, strlen(text), &cfg, err,
	    sizeof(err));
}

/* Expect success and these fields. */
static void
good(const char *text, const char *want)
{
	char missing[1200], *d;
	int rc = parse(text);

	d = dump(&cfg);
	T_OK(rc == 0 && err[0] == '\0' && has_tokens(d, want, missing,
	    sizeof(missing)), "good: %s", label(text));
	if (rc != 0)
		printf("#   errors: %s", err);
	else if (missing[0] != '\0')
		printf("#   missing:%s\n#   in:%s\n", missing, d);
	free(d);
}

/* Expect failure with exactly these error lines. */
static void
bad(const char *text, const char *want)
{
	int rc = parse(text);

	T_STREQ(rc == -1 ? err : "(accepted)", want, "bad: %s", label(text));
}

struct tcase {
	const char	*text;
	const char	*want;
};

static const struct tcase goods[] = {
	/* defaults */
	{ "", "workers=0 user= log_level=2 hostname= n_listen_smtps=0 "
	  "n_listen_starttls=0 backend=127.0.0.1:2525 bca=proxy-v2 n_certs=0 "
	  "n_listen_outbound=0 outbound_mode=0 n_dns=0 "
	  "ca_file=/etc/ssl/certs/ca-certificates.crt default_policy=may "
	  "n_policies=0 require_dnssec=0 outbound_mark=0 helo_name= "
	  "remote_smtp_port=25 remote_smtps_port=26 upstream_cache=256 "
	  "upstream_cache_idle=10 upstream_reuse_count=100 "
	  "upstream_reuse_time=300 handshake_timeout=30 "
	  "connect_timeout=30 command_timeout=300 idle_timeout=300 "
	  "max_connections=1024 splice=1" },
	{ "splice no\n", "splice=0" },
	{ "splice yes\n", "splice=1" },

	/* comments, blank lines, separators, line ends */
	{ "# only a comment\n\n   \n\t\n", "workers=0" },
	{ "  workers\t 8   # eight\n", "workers=8" },
	{ "workers 8 #", "workers=8" },		/* no final newline */
	{ "workers 8\r\nuser mx\r\n", "workers=8 user=mx" },
	{ "\xef\xbb\xbfworkers 2\n", "workers=2" },
	{ "#workers 8\nworkers 3\n", "workers=3" },

	/* general */
	{ "workers auto", "workers=0" },
	{ "workers AUTO", "workers=0" },
	{ "workers 1", "workers=1" },
	{ "workers 64", "workers=64" },
	{ "workers 007", "workers=7" },
	{ "user mxgate", "user=mxgate" },
	{ "user _mx-gate.1", "user=_mx-gate.1" },
	{ "user abcdefghijklmnopqrstuvwxyz012345",
	  "user=abcdefghijklmnopqrstuvwxyz012345" },
	{ "log_level error", "log_level=0" },
	{ "log_level warn", "log_level=1" },
	{ "log_level info", "log_level=2" },
	{ "log_level Debug", "log_level=3" },
	{ "hostname mx1.Example.org.", "hostname=mx1.Example.org" },
	{ "hostname localhost", "hostname=localhost" },
	{ "hostname a-b.c1", "hostname=a-b.c1" },

	/* inbound */
	{ CERT "listen_smtps *:26", "n_listen_smtps=1 "
	  "listen_smtps=0.0.0.0:26 n_certs=1 "
	  "cert=/etc/mxgate/c.pem,/etc/mxgate/k.pem@1" },
	{ CERT "listen_smtps 192.0.2.1:465\nlisten_smtps [::1]:26\n"
	  "listen_smtps [2001:DB8::1]:26\nlisten_smtps [::]:465\n",
	  "n_listen_smtps=4 listen_smtps=192.0.2.1:465 listen_smtps=[::1]:26 "
	  "listen_smtps=[2001:db8::1]:26 listen_smtps=[::]:465" },
	{ CERT "listen_smtps [::ffff:192.0.2.1]:26",
	  "listen_smtps=[::ffff:192.0.2.1]:26" },
	{ CERT "listen_starttls 0.0.0.0:25\nlisten_starttls [::]:25\n",
	  "n_listen_starttls=2 listen_starttls=0.0.0.0:25 "
	  "listen_starttls=[::]:25" },
	{ CERT "listen_smtps 127.0.0.1:26\nlisten_smtps 127.0.0.2:26\n"
	  "listen_starttls 127.0.0.1:25\n", "n_listen_smtps=2" },
	{ CERT "listen_smtps *:26\nlisten_smtps [::]:26\n",
	  "n_listen_smtps=2" },
	{ CERT "listen_starttls *:25\nbackend 10.0.0.5:25\n",
	  "backend=10.0.0.5:25" },
	{ "backend [::1]:2525", "backend=[::1]:2525" },
	{ "backend 127.0.0.1:65535", "backend=127.0.0.1:65535" },
	{ "backend_client_address proxy-v1", "bca=proxy-v1" },
	{ "backend_client_address proxy-v2", "bca=proxy-v2" },
	{ "backend_client_address XCLIENT", "bca=xclient" },
	{ "backend_client_address none", "bca=none" },
	{ "tls_certificate a.pem b.key\n\ntls_certificate /c /d\n",
	  "n_certs=2 cert=a.pem,b.key@1 cert=/c,/d@3" },
	{ "tls_certificate /etc/mxgate/both.pem /etc/mxgate/both.pem",
	  "n_certs=1" },

	/* outbound */
	{ "outbound_mode smarthost", "outbound_mode=1" },
	{ "outbound_mode transparent", "outbound_mode=0" },
	{ "dns_servers 127.0.0.1", "n_dns=1 dns=127.0.0.1:53" },
	{ "dns_servers 1.1.1.1:5353\ndns_servers [::1]\ndns_servers ::1\n"
	  "dns_servers [2001:db8::53]:5300\n", "n_dns=4 dns=1.1.1.1:5353 "
	  "dns=[::1]:53 dns=[::1]:53 dns=[2001:db8::53]:5300" },
	{ "ca_file /x/ca.pem", "ca_file=/x/ca.pem" },
	{ "default_policy none", "default_policy=none" },
	{ "default_policy may", "default_policy=may" },
	{ "default_policy encrypt", "default_policy=encrypt" },
	{ "default_policy VERIFY", "default_policy=verify" },
	{ "policy Example.ORG. verify\n# x\npolicy smtps-mx.example.net none\n"
	  "policy b.example Encrypt\n",
	  "n_policies=3 policy=example.org:verify@1 "
	  "policy=smtps-mx.example.net:none@3 policy=b.example:encrypt@4" },
	{ "require_dnssec yes", "require_dnssec=1" },
	{ "require_dnssec NO", "require_dnssec=0" },
	{ "outbound_mark 1", "outbound_mark=1" },
	{ "outbound_mark 4294967295", "outbound_mark=4294967295" },
	{ "outbound_mark 0x10", "outbound_mark=16" },
	{ "outbound_mark 0XFFFFFFFF", "outbound_mark=4294967295" },
	{ "helo_name mx-out.example.org", "helo_name=mx-out.example.org" },
	{ "remote_smtp_port 2525\nremote_smtps_port 1\n",
	  "remote_smtp_port=2525 remote_smtps_port=1" },
	{ "remote_smtp_port 65535", "remote_smtp_port=65535" },
	{ "upstream_cache 0\nupstream_cache_idle 1\nupstream_reuse_count 1\n"
	  "upstream_reuse_time 1\n",
	  "upstream_cache=0 upstream_cache_idle=1 upstream_reuse_count=1 "
	  "upstream_reuse_time=1" },
	{ "upstream_cache 4096\nupstream_cache_idle 300\n"
	  "upstream_reuse_count 10000\nupstream_reuse_time 3600\n",
	  "upstream_cache=4096 upstream_cache_idle=300 "
	  "upstream_reuse_count=10000 upstream_reuse_time=3600" },

	/* limits and timeouts, at their bounds */
	{ "handshake_timeout 1\nconnect_timeout 3600\ncommand_timeout 1\n"
	  "idle_timeout 86400\nmax_connections 1000000\n",
	  "handshake_timeout=1 connect_timeout=3600 command_timeout=1 "
	  "idle_timeout=86400 max_connections=1000000" },
	{ "handshake_timeout 3600\nconnect_timeout 1\ncommand_timeout 3600\n"
	  "idle_timeout 1\nmax_connections 1\n",
	  "handshake_timeout=3600 connect_timeout=1 command_timeout=3600 "
	  "idle_timeout=1 max_connections=1" },
};

static const struct tcase bads[] = {
	/* syntax */
	{ "bogus 1", "t.conf:1: unknown directive 'bogus'\n" },
	{ "\nsplice maybe", "t.conf:2: splice: expected no or yes, got 'maybe'\n" },
	{ "Workers 2", "t.conf:1: unknown directive 'Workers'\n" },
	{ "workers", "t.conf:1: workers: expected 1 value, got 0\n" },
	{ "workers 1 2", "t.conf:1: workers: expected 1 value, got 2\n" },
	{ "workers 1 2 3 4 5 6 7 8 9 10",
	  "t.conf:1: workers: expected 1 value, got 10\n" },
	{ "workers 8#", "t.conf:1: workers: expected auto or a number 1..64, "
	  "got '8#'\n" },
	{ "workers 4#x",
	  "t.conf:1: workers: expected auto or a number 1..64, got '4#x'\n" },
	{ "\n\nworkers 4\nworkers 5\n",
	  "t.conf:4: workers: duplicate directive (first on line 3)\n" },
	{ "workers x\nworkers 2\n",
	  "t.conf:1: workers: expected auto or a number 1..64, got 'x'\n"
	  "t.conf:2: workers: duplicate directive (first on line 1)\n" },
	{ "workers \x01",
	  "t.conf:1: invalid control character 0x01\n" },
	{ "workers 2\x0b",
	  "t.conf:1: invalid control character 0x0b\n" },
	{ "# fine\nworkers 2\r\r\n",
	  "t.conf:2: invalid control character 0x0d\n" },
	{ "workers x\nbogus\n# ok\nlog_level loud\n",
	  "t.conf:1: workers: expected auto or a number 1..64, got 'x'\n"
	  "t.conf:2: unknown directive 'bogus'\n"
	  "t.conf:4: log_level: expected error, warn, info or debug, "
	  "got 'loud'\n" },

	/* general */
	{ "workers x",
	  "t.conf:1: workers: expected auto or a number 1..64, got 'x'\n" },
	{ "workers 0",
	  "t.conf:1: workers: expected auto or a number 1..64, got '0'\n" },
	{ "workers 65",
	  "t.conf:1: workers: expected auto or a number 1..64, got '65'\n" },
	{ "workers -1",
	  "t.conf:1: workers: expected auto or a number 1..64, got '-1'\n" },
	{ "workers +1",
	  "t.conf:1: workers: expected auto or a number 1..64, got '+1'\n" },
	{ "workers 0x10",
	  "t.conf:1: workers: expected auto or a number 1..64, got '0x10'\n" },
	{ "workers 99999999999999999999999",
	  "t.conf:1: workers: expected auto or a number 1..64, "
	  "got '99999999999999999999999'\n" },
	{ "user -x", "t.conf:1: user: expected a user name (letters, digits, "
	  "'.', '_', '-'; at most 32), got '-x'\n" },
	{ "user us:er", "t.conf:1: user: expected a user name (letters, "
	  "digits, '.', '_', '-'; at most 32), got 'us:er'\n" },
	{ "user a'b", "t.conf:1: user: expected a user name (letters, "
	  "digits, '.', '_', '-'; at most 32), got 'a\\x27b'\n" },
	{ "user abcdefghijklmnopqrstuvwxyz0123456",
	  "t.conf:1: user: expected a user name (letters, digits, '.', '_', "
	  "'-'; at most 32), got 'abcdefghijklmnopqrstuvwxyz0123456'\n" },
	{ "user a b", "t.conf:1: user: expected 1 value, got 2\n" },
	{ "log_level verbose", "t.conf:1: log_level: expected error, warn, "
	  "info or debug, got 'verbose'\n" },
	{ "hostname -a.b", "t.conf:1: hostname: expected a host name "
	  "(letters, digits, '-' and '.'), got '-a.b'\n" },
	{ "hostname a-.b", "t.conf:1: hostname: expected a host name "
	  "(letters, digits, '-' and '.'), got 'a-.b'\n" },
	{ "hostname a..b", "t.conf:1: hostname: expected a host name "
	  "(letters, digits, '-' and '.'), got 'a..b'\n" },
	{ "hostname a_b", "t.conf:1: hostname: expected a host name "
	  "(letters, digits, '-' and '.'), got 'a_b'\n" },
	{ "hostname .", "t.conf:1: hostname: expected a host name "
	  "(letters, digits, '-' and '.'), got '.'\n" },
	{ "hostname "
	  "a123456789012345678901234567890123456789012345678901234567890123.b",
	  "t.conf:1: hostname: expected a host name (letters, digits, '-' "
	  "and '.'), got 'a12345678901234567890123456789012345678901234567"
	  "8901234567890123...'\n" },

	/* inbound: addresses */
	{ CERT "listen_smtps 1.2.3.4", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '1.2.3.4'\n" },
	{ CERT "listen_smtps 1.2.3.4:", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '1.2.3.4:'\n" },
	{ CERT "listen_smtps 1.2.3.4:0", "t.conf:2: listen_smtps: port must "
	  "be 1..65535, got '1.2.3.4:0'\n" },
	{ CERT "listen_smtps 1.2.3.4:65536", "t.conf:2: listen_smtps: port "
	  "must be 1..65535, got '1.2.3.4:65536'\n" },
	{ CERT "listen_smtps 1.2.3.4:25x", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '1.2.3.4:25x'\n" },
	{ CERT "listen_smtps 1.2.3:25", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '1.2.3:25'\n" },
	{ CERT "listen_smtps localhost:25", "t.conf:2: listen_smtps: "
	  "expected IPv4:PORT | [IPv6]:PORT | *:PORT, got 'localhost:25'\n" },
	{ CERT "listen_smtps [::1]26", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '[::1]26'\n" },
	{ CERT "listen_smtps [::1", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '[::1'\n" },
	{ CERT "listen_smtps [::1]", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '[::1]'\n" },
	{ CERT "listen_smtps ::1:26", "t.conf:2: listen_smtps: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '::1:26'\n" },
	{ CERT "listen_smtps [1.2.3.4]:26", "t.conf:2: listen_smtps: "
	  "expected IPv4:PORT | [IPv6]:PORT | *:PORT, got '[1.2.3.4]:26'\n" },
	{ CERT "listen_smtps [fe80::1%eth0]:26", "t.conf:2: listen_smtps: "
	  "expected IPv4:PORT | [IPv6]:PORT | *:PORT, "
	  "got '[fe80::1%eth0]:26'\n" },
	{ CERT "listen_smtps [0000:0000:0000:0000:0000:0000:0000:0000:1]:26",
	  "t.conf:2: listen_smtps: expected IPv4:PORT | [IPv6]:PORT | *:PORT, "
	  "got '[0000:0000:0000:0000:0000:0000:0000:0000:1]:26'\n" },
	{ CERT "listen_smtps "
	  "000000000000000000000000000000000000000001.2.3.4:26",
	  "t.conf:2: listen_smtps: expected IPv4:PORT | [IPv6]:PORT | *:PORT, "
	  "got '000000000000000000000000000000000000000001.2.3.4:26'\n" },
	{ CERT "listen_starttls *", "t.conf:2: listen_starttls: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '*'\n" },
	{ CERT "listen_starttls *:", "t.conf:2: listen_starttls: expected "
	  "IPv4:PORT | [IPv6]:PORT | *:PORT, got '*:'\n" },
	{ "backend *:2525", "t.conf:1: backend: expected IPv4:PORT | "
	  "[IPv6]:PORT, got '*:2525'\n" },
	{ "backend 127.0.0.1", "t.conf:1: backend: expected IPv4:PORT | "
	  "[IPv6]:PORT, got '127.0.0.1'\n" },
	{ "backend 0.0.0.0:2525", "t.conf:1: backend: 0.0.0.0:2525 is the "
	  "wildcard address, not one to connect to\n" },
	{ "backend [::]:2525", "t.conf:1: backend: [::]:2525 is the "
	  "wildcard address, not one to connect to\n" },
	{ "backend_client_address proxy", "t.conf:1: backend_client_address: "
	  "expected proxy-v1, proxy-v2, xclient, transparent or none, "
	  "got 'proxy'\n" },
	{ "tls_certificate /c.pem", "t.conf:1: tls_certificate: expected 2 "
	  "values (CHAIN KEY), got 1\n" },
	{ "tls_certificate a b c", "t.conf:1: tls_certificate: expected 2 "
	  "values (CHAIN KEY), got 3\n" },

	/* outbound */
	{ "outbound_mode relay", "t.conf:1: outbound_mode: expected "
	  "transparent or smarthost, got 'relay'\n" },
	{ "dns_servers 1.2.3.4:0", "t.conf:1: dns_servers: port must be "
	  "1..65535, got '1.2.3.4:0'\n" },
	{ "dns_servers *:53", "t.conf:1: dns_servers: expected IPv4[:PORT] | "
	  "[IPv6][:PORT], got '*:53'\n" },
	{ "dns_servers ns1.example.org", "t.conf:1: dns_servers: expected "
	  "IPv4[:PORT] | [IPv6][:PORT], got 'ns1.example.org'\n" },
	{ "dns_servers ::", "t.conf:1: dns_servers: [::]:53 is the wildcard "
	  "address, not one to connect to\n" },
	{ "default_policy must", "t.conf:1: default_policy: expected none, "
	  "may, encrypt or verify, got 'must'\n" },
	{ "policy example.org", "t.conf:1: policy: expected 2 values "
	  "(NAME none|may|encrypt|verify), got 1\n" },
	{ "policy ex_ample.org verify", "t.conf:1: policy: expected a domain "
	  "or host name, got 'ex_ample.org'\n" },
	{ "policy *.example.org verify", "t.conf:1: policy: expected a "
	  "domain or host name, got '*.example.org'\n" },
	{ "policy example.org strict", "t.conf:1: policy: expected none, may, "
	  "encrypt or verify, got 'strict'\n" },
	{ "policy Example.org may\npolicy example.org. verify\n",
	  "t.conf:2: policy: 'example.org' already has a policy (line 1)\n" },
	{ "require_dnssec true", "t.conf:1: require_dnssec: expected no or "
	  "yes, got 'true'\n" },
	{ "outbound_mark 4294967296", "t.conf:1: outbound_mark: expected a "
	  "number 0..4294967295, got '4294967296'\n" },
	{ "outbound_mark -1", "t.conf:1: outbound_mark: expected a number "
	  "0..4294967295, got '-1'\n" },
	{ "outbound_mark 0x", "t.conf:1: outbound_mark: expected a number "
	  "0..4294967295, got '0x'\n" },
	{ "outbound_mark 0x1g", "t.conf:1: outbound_mark: expected a number "
	  "0..4294967295, got '0x1g'\n" },
	{ "outbound_mark 0x100000000", "t.conf:1: outbound_mark: expected a "
	  "number 0..4294967295, got '0x100000000'\n" },
	{ "helo_name mx out", "t.conf:1: helo_name: expected 1 value, "
	  "got 2\n" },
	{ "helo_name [192.0.2.1]", "t.conf:1: helo_name: expected a host "
	  "name (letters, digits, '-' and '.'), got '[192.0.2.1]'\n" },
	{ "remote_smtp_port 0", "t.conf:1: remote_smtp_port: expected a "
	  "number 1..65535, got '0'\n" },
	{ "remote_smtps_port 65536", "t.conf:1: remote_smtps_port: expected "
	  "a number 1..65535, got '65536'\n" },
	{ "upstream_cache 4097", "t.conf:1: upstream_cache: expected a "
	  "number 0..4096, got '4097'\n" },
	{ "upstream_cache -1", "t.conf:1: upstream_cache: expected a "
	  "number 0..4096, got '-1'\n" },
	{ "upstream_cache_idle 0", "t.conf:1: upstream_cache_idle: expected "
	  "a number 1..300, got '0'\n" },
	{ "upstream_reuse_count 10001", "t.conf:1: upstream_reuse_count: "
	  "expected a number 1..10000, got '10001'\n" },
	{ "upstream_reuse_time 0", "t.conf:1: upstream_reuse_time: expected "
	  "a number 1..3600, got '0'\n" },

	/* limits and timeouts */
	{ "handshake_timeout 0", "t.conf:1: handshake_timeout: expected a "
	  "number 1..3600, got '0'\n" },
	{ "handshake_timeout 3601", "t.conf:1: handshake_timeout: expected "
	  "a number 1..3600, got '3601'\n" },
	{ "connect_timeout 3601", "t.conf:1: connect_timeout: expected a "
	  "number 1..3600, got '3601'\n" },
	{ "command_timeout 0", "t.conf:1: command_timeout: expected a "
	  "number 1..3600, got '0'\n" },
	{ "idle_timeout 86401", "t.conf:1: idle_timeout: expected a number "
	  "1..86400, got '86401'\n" },
	{ "max_connections 0", "t.conf:1: max_connections: expected a "
	  "number 1..1000000, got '0'\n" },
	{ "max_connections 1000001", "t.conf:1: max_connections: expected a "
	  "number 1..1000000, got '1000001'\n" },
	{ "max_connections 1k", "t.conf:1: max_connections: expected a "
	  "number 1..1000000, got '1k'\n" },

	/* semantic checks */
	{ "workers 2\nlisten_smtps *:26\n", "t.conf:2: listen_smtps: TLS "
	  "listener configured but no tls_certificate\n" },
	{ "listen_starttls *:25\nlisten_smtps *:26\n", "t.conf:1: "
	  "listen_starttls: TLS listener configured but no "
	  "tls_certificate\n" },
	{ "log_level warn\nbackend_client_address transparent\n",
	  "t.conf:2: backend_client_address: transparent is not supported "
	  "yet (use proxy-v1, proxy-v2, xclient or none)\n" },
	{ CERT "listen_smtps *:26\nlisten_starttls 0.0.0.0:26\n",
	  "t.conf:3: listen_starttls: address 0.0.0.0:26 already used on "
	  "line 2 (listen_smtps)\n" },
	{ CERT "listen_smtps [::1]:26\nlisten_smtps [0::1]:26\n",
	  "t.conf:3: listen_smtps: address [::1]:26 already used on line 2 "
	  "(listen_smtps)\n" },
	{ CERT "listen_smtps 127.0.0.1:26\nlisten_smtps *:26\n",
	  "t.conf:3: listen_smtps: 0.0.0.0:26 overlaps 127.0.0.1:26 on "
	  "line 2 (listen_smtps)\n" },
	{ CERT "listen_smtps *:26\nlisten_smtps 127.0.0.1:26\n"
	  "listen_smtps 0.0.0.0:26\n",
	  "t.conf:3: listen_smtps: 127.0.0.1:26 overlaps 0.0.0.0:26 on "
	  "line 2 (listen_smtps)\n"
	  "t.conf:4: listen_smtps: address 0.0.0.0:26 already used on "
	  "line 2 (listen_smtps)\n" },
	{ "backend 127.0.0.1:26\n" CERT "listen_smtps 127.0.0.1:26\n",
	  "t.conf:1: backend: 127.0.0.1:26 is mxgate's own listener "
	  "listen_smtps on line 3; sessions would loop\n" },
	{ "backend 127.0.0.9:25\n" CERT "listen_starttls *:25\n",
	  "t.conf:1: backend: 127.0.0.9:25 is mxgate's own listener "
	  "listen_starttls on line 3; sessions would loop\n" },
	{ "backend [::1]:25\n" CERT "listen_starttls [::]:25\n",
	  "t.conf:1: backend: [::1]:25 is mxgate's own listener "
	  "listen_starttls on line 3; sessions would loop\n" },
	{ CERT "listen_smtps *:2525\n", "t.conf:2: listen_smtps: "
	  "0.0.0.0:2525 would receive the default backend 127.0.0.1:2525; "
	  "sessions would loop\n" },
	/* syntax errors hide the semantic ones they could cause */
	{ "listen_smtps *:26\ntls_certificate /c\n", "t.conf:2: "
	  "tls_certificate: expected 2 values (CHAIN KEY), got 1\n" },
};

/* "listen_smtps 127.0.0.1:P" lines, or other repeated lines. */
static char *
repeat(const char *head, const char *fmt, int n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	int i;

	fputs(head, f);
	for (i = 0; i < n; i++)
		fprintf(f, fmt, i + 1, i + 1);
	fclose(f);
	return s;
}

static void
test_limits(void)
{
	char want[256], *s;

	s = repeat(CERT, "listen_smtps 127.0.0.1:%d\n", CONFIG_LISTEN_MAX);
	good(s, "n_listen_smtps=16");
	free(s);
	s = repeat(CERT, "listen_smtps 127.0.0.1:%d\n",
	    CONFIG_LISTEN_MAX + 1);
	bad(s, "t.conf:18: listen_smtps: too many (at most 16)\n");
	free(s);
	s = repeat(CERT, "listen_starttls [::1]:%d\n",
	    CONFIG_LISTEN_MAX + 2);
	bad(s, "t.conf:18: listen_starttls: too many (at most 16)\n"
	    "t.conf:19: listen_starttls: too many (at most 16)\n");
	free(s);
	s = repeat("", "listen_outbound 127.0.0.1:%d\n",
	    CONFIG_LISTEN_MAX + 1);
	bad(s, "t.conf:17: listen_outbound: too many (at most 16)\n");
	free(s);
	s = repeat("", "tls_certificate /c%d /k%d\n", CONFIG_CERT_MAX);
	good(s, "n_certs=16 cert=/c16,/k16@16");
	free(s);
	s = repeat("", "tls_certificate /c%d /k%d\n", CONFIG_CERT_MAX + 1);
	bad(s, "t.conf:17: tls_certificate: too many (at most 16)\n");
	free(s);
	s = repeat("", "dns_servers 127.0.0.%d:%d\n", CONFIG_DNS_MAX);
	good(s, "n_dns=8 dns=127.0.0.8:8");
	free(s);
	s = repeat("", "dns_servers 127.0.0.%d:%d\n", CONFIG_DNS_MAX + 1);
	bad(s, "t.conf:9: dns_servers: too many (at most 8)\n");
	free(s);
	s = repeat("", "policy d%d.example verify\n", CONFIG_POLICY_MAX);
	good(s, "n_policies=256 policy=d256.example:verify@256");
	free(s);
	s = repeat("", "policy d%d.example verify\n",
	    CONFIG_POLICY_MAX + 1);
	snprintf(want, sizeof(want), "t.conf:%d: policy: too many (at most "
	    "%d)\n", CONFIG_POLICY_MAX + 1, CONFIG_POLICY_MAX);
	bad(s, want);
	free(s);
}

/* Line length: 4096 bytes pass (CR excluded), 4097 fail; long words and
 * long values are reported, not overflowed. */
static void
test_long_lines(void)
{
	size_t big = 100000;
	char *s = malloc(big + 64);

	memset(s, '#', 4096);
	strcpy(s + 4096, "\r\nworkers 3\n");
	good(s, "workers=3");

	memset(s, ' ', 4097);
	s[0] = '#';
	strcpy(s + 4097, "\nworkers 3\n");
	bad(s, "t.conf:1: line too long (at most 4096 bytes)\n");

	strcpy(s, "workers 2\nworkers ");
	memset(s + 18, '9', big);
	strcpy(s + 18 + big, "\nworkers 4\n");
	bad(s, "t.conf:2: line too long (at most 4096 bytes)\n"
	    "t.conf:3: workers: duplicate directive (first on line 1)\n");

	/* a path of 1023 bytes fits, 1024 does not */
	strcpy(s, "ca_file /");
	memset(s + 9, 'a', 1022);
	s[9 + 1022] = '\0';
	good(s, "n_policies=0");
	T_OK(strlen(cfg.ca_file) == 1023, "ca_file of 1023 bytes kept");
	strcpy(s + 9 + 1022, "a");
	bad(s, "t.conf:1: ca_file: path too long (at most 1023 bytes), got "
	    "'/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "a...'\n");
	memcpy(s, "tls_certificate /c ", 19);
	s[19] = '/';
	memset(s + 20, 'k', 1100);
	s[1120] = '\0';
	bad(s, "t.conf:1: tls_certificate: path too long (at most 1023 "
	    "bytes), got '/kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkk...'\n");
	free(s);
}

/* Bytes that are not text: NUL, control characters, high bytes. */
static void
test_binary(void)
{
	static const char nul[] = "workers 2\nuser a\0b\n";
	int rc;

	rc = config_parse("t.conf", nul, sizeof(nul) - 1, &cfg, err,
	    sizeof(err));
	T_OK(rc == -1, "NUL byte rejected");
	T_STREQ(err, "t.conf:2: invalid control character 0x00\n",
	    "NUL byte error line");
	bad("hostname caf\xc3\xa9.example", "t.conf:1: hostname: expected a "
	    "host name (letters, digits, '-' and '.'), got "
	    "'caf\\xc3\\xa9.example'\n");
	good("# comment with \x01 control \xff" " bytes\nworkers 5\n",
	    "workers=5");
	good("tls_certificate /etc/mxgate/caf\xc3\xa9.pem /k",
	    "n_certs=1");
}

/* Error buffer handling and the unchanged config on failure. */
static void
test_errors(void)
{
	char small[24];
	int rc;

	cfg.workers = 42;
	rc = config_parse("t.conf", "workers 1\nbogus\n", 16, &cfg, NULL, 0);
	T_OK(rc == -1 && cfg.workers == 42, "failure leaves *cfg untouched, "
	    "NULL errbuf");

	memset(small, 'x', sizeof(small));
	rc = config_parse("t.conf", "bogus 1\n", 8, &cfg, small,
	    sizeof(small));
	T_OK(rc == -1 && strlen(small) == sizeof(small) - 1,
	    "first error cut to errcap");
	T_STREQ(small, "t.conf:1: unknown direc", "cut error text");

	/* only whole lines after the first */
	rc = config_parse("t.conf", "bogus\nbogus\n", 12, &cfg, err, 40);
	T_STREQ(err, "t.conf:1: unknown directive 'bogus'\n",
	    "later errors kept whole or dropped");

	rc = config_parse("t.conf", "bogus\n", 6, &cfg, small, 1);
	T_OK(rc == -1 && small[0] == '\0', "errcap 1 gives empty string");

	rc = config_parse(NULL, "bogus", 5, &cfg, err, sizeof(err));
	T_STREQ(err, "config:1: unknown directive 'bogus'\n",
	    "NULL name reads 'config'");

	rc = config_parse("t.conf", NULL, 0, &cfg, err, sizeof(err));
	T_OK(rc == 0 && cfg.max_connections == 1024, "NULL buffer, length 0");

	/* length is honoured: nothing after len is read */
	rc = config_parse("t.conf", "workers 3\nbogus", 10, &cfg, err,
	    sizeof(err));
	T_OK(rc == 0 && cfg.workers == 3, "len bounds the text");
}

static void
test_names(void)
{
	T_STREQ(config_policy_name(POLICY_NONE), "none", "policy name none");
	T_STREQ(config_policy_name(POLICY_VERIFY), "verify",
	    "policy name verify");
	T_STREQ(config_policy_name((enum tls_policy)9), "unknown",
	    "policy name out of range");
	T_STREQ(config_client_addr_name(CLIENT_ADDR_PROXY_V1), "proxy-v1",
	    "client address name proxy-v1");
	T_STREQ(config_client_addr_name(CLIENT_ADDR_NONE), "none",
	    "client address name none");
	T_STREQ(config_client_addr_name((enum client_addr_mode)-1), "unknown",
	    "client address name out of range");
}

/* The directive names, from the printed table. */
static int
table_names(char names[][64], int max)
{
	char *s = NULL, *line, *save = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	int k = 0;

	config_print_table(f);
	fclose(f);
	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || k == max)
			continue;
		sscanf(line, "%63s", names[k++]);
	}
	free(s);
	return k;
}

/* Does `text` have a line "[#]NAME VALUE" (directive, maybe commented)? */
static int
has_directive(const char *text, const char *name, int commented)
{
	size_t n = strlen(name);
	const char *l;

	for (l = text; l != NULL && *l != '\0'; l = strchr(l, '\n'),
	    l = l != NULL ? l + 1 : NULL) {
		const char *w = l;

		if (commented) {
			if (*w != '#')
				continue;
			w++;
		}
		if (strncmp(w, name, n) == 0 && (w[n] == ' ' || w[n] == '\t') &&
		    w[n + strspn(w + n, " \t")] > ' ')
			return 1;
	}
	return 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	s[fread(s, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return s;
}

/* The defaults: config_defaults, the empty text and the table agree,
 * and config_default_text, uncommented, states exactly the defaults. */
static void
test_defaults(void)
{
	char names[64][64], *text, *o;
	const char *l;
	int n, i, rc;

	memset(&cfg, 0xa5, sizeof(cfg));
	memset(&cfg2, 0x5a, sizeof(cfg2));
	T_OK(config_defaults(&cfg) == 0, "config_defaults succeeds");
	T_OK(config_parse("x", "", 0, &cfg2, err, sizeof(err)) == 0,
	    "empty text parses");
	T_OK(memcmp(&cfg, &cfg2, sizeof(cfg)) == 0,
	    "config_defaults equals an empty file");
	T_OK(cfg.n_listen_smtps + cfg.n_listen_starttls +
	    cfg.n_listen_outbound == 0, "defaults have no listeners");
	T_OK(config_parse("default", config_default_text,
	    strlen(config_default_text), &cfg2, err, sizeof(err)) == 0,
	    "config_default_text parses");

	/* No -c: the table defaults plus one loopback listener. */
	rc = config_embedded(&cfg2);
	T_OK(rc == 0, "the embedded config parses");
	T_OK(cfg2.n_listen_smtps + cfg2.n_listen_starttls == 0 &&
	    cfg2.n_listen_outbound == 1 &&
	    strcmp(cfg2.listen_outbound[0].text, "127.0.0.1:10025") == 0 &&
	    cfg2.outbound_mode == OUTBOUND_SMARTHOST,
	    "the embedded config listens on loopback only (smarthost "
	    "127.0.0.1:10025)");
	cfg2.n_listen_outbound = 0;
	memset(&cfg2.listen_outbound, 0, sizeof(cfg2.listen_outbound));
	cfg2.outbound_mode = cfg.outbound_mode;
	T_OK(memcmp(&cfg, &cfg2, sizeof(cfg)) == 0,
	    "the embedded config is otherwise the defaults");

	n = table_names(names, 64);
	T_OK(n == 30, "table has 30 directives (%d)", n);
	for (i = 0; i < n; i++)
		T_OK(has_directive(config_default_text, names[i], 1),
		    "default text shows %s", names[i]);

	/* "#name value" -> "name value", except "(unset)" / "(none)". */
	text = malloc(strlen(config_default_text) + 1);
	o = text;
	for (l = config_default_text; *l != '\0'; ) {
		size_t len = strcspn(l, "\n");

		if (l[0] == '#' && l[1] >= 'a' && l[1] <= 'z' &&
		    memchr(l, '(', len) == NULL) {
			memcpy(o, l + 1, len - 1);
			o += len - 1;
			*o++ = '\n';
		}
		l += len + (l[len] == '\n');
	}
	*o = '\0';
	rc = config_parse("uncommented", text, strlen(text), &cfg2, err,
	    sizeof(err));
	T_OK(rc == 0 && memcmp(&cfg, &cfg2, sizeof(cfg)) == 0,
	    "default text values equal the table defaults");
	if (rc != 0)
		printf("#   %s", err);
	free(text);
}

/* The sample config: parses and sets every directive. */
static void
test_example(void)
{
	char names[64][64], *text, *p;
	int n, i, rc;

	rc = config_load(EXAMPLE, &cfg, err, sizeof(err));
	T_OK(rc == 0, "example config loads");
	if (rc != 0)
		printf("#   %s", err);
	text = slurp(EXAMPLE);
	T_OK(text != NULL, "example config readable");
	if (text == NULL)
		return;
	rc = config_parse(EXAMPLE, text, strlen(text), &cfg, err,
	    sizeof(err));
	T_OK(rc == 0, "example config parses");
	p = dump(&cfg);
	T_OK(has_tokens(p, "workers=0 user=mxgate log_level=2 "
	    "hostname=mx1.example.org listen_smtps=0.0.0.0:26 "
	    "listen_starttls=0.0.0.0:25 backend=127.0.0.1:2525 bca=proxy-v2 "
	    "cert=/etc/mxgate/mx1.pem,/etc/mxgate/mx1.key "
	    "n_listen_outbound=1 outbound_mode=0 dns=127.0.0.1:53 "
	    "default_policy=may policy=example.org:verify "
	    "require_dnssec=0 outbound_mark=1 helo_name=mx-out.example.org "
	    "remote_smtp_port=25 remote_smtps_port=26", err, sizeof(err)),
	    "example config values (SPEC section 10)");
	free(p);

	n = table_names(names, 64);
	for (i = 0; i < n; i++)
		T_OK(has_directive(text, names[i], 0), "example sets %s",
		    names[i]);
	free(text);
}

/* config_load: file errors name the path; the size is bounded. */
static void
test_load(void)
{
	char path[] = "/tmp/test_config.XXXXXX", want[256];
	int fd, rc;
	FILE *f;

	rc = config_load("/nonexistent/mxgate.conf", &cfg, err, sizeof(err));
	T_STREQ(rc == -1 ? err : "(accepted)", "/nonexistent/mxgate.conf: "
	    "cannot open: No such file or directory\n", "missing file");
	rc = config_load("config", &cfg, err, sizeof(err));
	T_STREQ(rc == -1 ? err : "(accepted)", "config: cannot read: Is a "
	    "directory\n", "directory");

	fd = mkstemp(path);
	T_OK(fd >= 0, "temporary file");
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	fputs("workers 4\nmax_connections 10\n", f);
	fflush(f);
	rc = config_load(path, &cfg, err, sizeof(err));
	T_OK(rc == 0 && cfg.workers == 4 && cfg.max_connections == 10,
	    "small file loads");

	fputs("bogus\n", f);
	fflush(f);
	rc = config_load(path, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:3: unknown directive 'bogus'\n",
	    path);
	T_STREQ(rc == -1 ? err : "(accepted)", want,
	    "errors carry the path name");

	/* exactly 1 MiB of comment is fine, one byte more is not */
	rewind(f);
	if (ftruncate(fd, 0) < 0)
		perror("ftruncate");
	{
		static char blk[1024];
		int i;

		memset(blk, ' ', sizeof(blk));
		blk[0] = '#';
		blk[sizeof(blk) - 1] = '\n';
		for (i = 0; i < 1024; i++)
			fwrite(blk, 1, sizeof(blk), f);
		fflush(f);
		rc = config_load(path, &cfg, err, sizeof(err));
		T_OK(rc == 0, "1 MiB file loads");
		fputc('\n', f);
		fflush(f);
		rc = config_load(path, &cfg, err, sizeof(err));
		snprintf(want, sizeof(want), "%s: file too large (at most "
		    "1048576 bytes)\n", path);
		T_STREQ(rc == -1 ? err : "(accepted)", want,
		    "file over 1 MiB refused");
	}
	fclose(f);
	unlink(path);
}

/* The table printout: one line per directive with its default. */
static void
test_print_table(void)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	config_print_table(f);
	fclose(f);
	T_OK(strstr(s, "\nworkers ") != NULL && strstr(s, "auto | 1..64") !=
	    NULL, "table shows workers' range");
	T_OK(strstr(s, "\nlisten_smtps             (+) (none) ") != NULL,
	    "table marks repeatable directives");
	T_OK(strstr(s, "proxy-v1 | proxy-v2 | xclient | transparent | none")
	    != NULL, "table lists keywords");
	T_OK(strstr(s, "\nuser                         (unset) ") != NULL,
	    "table shows unset defaults");
	T_OK(strstr(s, " /etc/ssl/certs/ca-certificates.crt ") != NULL,
	    "table shows ca_file's default");
	free(s);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++)
		good(goods[i].text, goods[i].want);
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		bad(bads[i].text, bads[i].want);
	test_limits();
	test_long_lines();
	test_binary();
	test_errors();
	test_names();
	test_defaults();
	test_example();
	test_load();
	test_print_table();
	return T_DONE();
}

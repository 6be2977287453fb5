/*
 * TLS server contexts.  Each configured certificate gets its own
 * WOLFSSL_CTX; the SNI callback moves a handshake onto the context whose
 * certificate covers the requested name, which changes only the
 * certificate and key the server presents.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>

#include "log.h"
#include "tls.h"
#include "tls_rsa.h"

/*
 * TLS 1.3 suites, then TLS 1.2 with ECDHE and AEAD only: no RSA key
 * exchange, no CBC, no anonymous, NULL or export suites, which this
 * wolfSSL build would otherwise offer.
 */
static const char tls_cipher_list[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
    "TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct tls_cert {
	WOLFSSL_CTX	*ctx;
	WOLFSSL_X509	*leaf;
	int		 devid;		/* tls_rsa_devid for an RSA key */
	char		 name[256];	/* first DNS name, or the CN */
};

struct tls_server {
	struct tls_cert	certs[CONFIG_CERT_MAX];
	int		n;
};

/* The IFMA RSA signer's device id for server contexts, or INVALID_DEVID
 * (tls_rsa.h). */
static int	tls_rsa_devid = INVALID_DEVID;

int
tls_global_init(void)
{
	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		return -1;
	tls_rsa_devid = tls_rsa_init();
	return 0;
}

const char *
tls_rsa_signer(void)
{
	return tls_rsa_devid != INVALID_DEVID ? "ifma" : "wolfssl";
}

void
tls_global_cleanup(void)
{
	tls_rsa_cleanup();
	tls_rsa_devid = INVALID_DEVID;
	wolfSSL_Cleanup();
}

/* Pick the certificate for the SNI name; stay on the default if none. */
static int
tls_sni_cb(WOLFSSL *ssl, int *ad, void *arg)
{
	struct tls_server	*ts = arg;
	const char		*name;
	int			 i;

	(void)ad;
	name = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);
	if (name == NULL || *name == '\0')
		return 0;
	for (i = 0; i < ts->n; i++) {
		if (wolfSSL_X509_check_host(ts->certs[i].leaf, name,
		    strlen(name), 0, NULL) == WOLFSSL_SUCCESS) {
			/* The device goes with the context: wolfSSL_new()
			 * took the default's. */
			if (i > 0 && (wolfSSL_set_SSL_CTX(ssl,
			    ts->certs[i].ctx) == NULL ||
			    wolfSSL_SetDevId(ssl, ts->certs[i].devid) !=
			    WOLFSSL_SUCCESS))
				return -1;
			break;
		}
	}
	return 0;		/* unknown names get the default */
}

/* The name a certificate is known by in the logs. */
static void
tls_cert_label(WOLFSSL_X509 *x, char *out, size_t cap)
{
	char			*alt;
	WOLFSSL_X509_NAME	*subj;

	out[0] = '\0';
	if ((alt = wolfSSL_X509_get_next_altname(x)) != NULL) {
		snprintf(out, cap, "%s", alt);
		return;
	}
	subj = wolfSSL_X509_get_subject_name(x);
	if (subj == NULL || wolfSSL_X509_NAME_get_text_by_NID(subj,
	    NID_commonName, out, (int)cap) < 0)
		snprintf(out, cap, "?");
}

/*
 * Fewer system calls and packets per handshake.  A flight of handshake
 * messages goes out in one write, not one per message (each would also
 * wake the peer).  And with the OpenSSL-compatible defaults wolfSSL
 * retries a receive that would block up to ten times in a row during a
 * handshake: on a non-blocking socket "would block" goes straight back
 * to the event loop instead.
 */
static void
tls_ctx_tune(WOLFSSL_CTX *ctx)
{
	(void)wolfSSL_CTX_set_group_messages(ctx);
	(void)wolfSSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
}

static WOLFSSL_CTX *
tls_ctx_new(const struct config_cert *cc, char *err, size_t errlen)
{
	WOLFSSL_CTX	*ctx;

	if ((ctx = wolfSSL_CTX_new(wolfSSLv23_server_method())) == NULL) {
		snprintf(err, errlen, "wolfSSL_CTX_new failed");
		return NULL;
	}
	if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_cipher_list(ctx, tls_cipher_list) !=
	    WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot restrict TLS versions/ciphers");
		goto fail;
	}
	if (wolfSSL_CTX_use_certificate_chain_file(ctx, cc->chain) !=
	    WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls_certificate: cannot load "
		    "certificate chain %s", cc->chain);
		goto fail;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(ctx, cc->key,
	    WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls_certificate: cannot load private "
		    "key %s", cc->key);
		goto fail;
	}
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls_certificate: key %s does not "
		    "match certificate %s", cc->key, cc->chain);
		goto fail;
	}
	/* The client certificate is not asked for: SMTP servers accept
	 * mail from anyone. */
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	tls_ctx_tune(ctx);
	return ctx;
fail:
	wolfSSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *
tls_server_new(const struct config *cfg, int *errline, char *err,
    size_t errlen)
{
	struct tls_server	*ts;
	int			 i;

	*errline = 0;
	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < cfg->n_certs; i++) {
		struct tls_cert *tc = &ts->certs[i];

		*errline = cfg->certs[i].line;
		if ((tc->ctx = tls_ctx_new(&cfg->certs[i], err, errlen)) == NULL)
			goto fail;
		ts->n++;
		tc->leaf = wolfSSL_X509_load_certificate_file(cfg->certs[i].chain,
		    WOLFSSL_FILETYPE_PEM);
		if (tc->leaf == NULL) {
			snprintf(err, errlen, "tls_certificate: cannot parse %s",
			    cfg->certs[i].chain);
			goto fail;
		}
		tls_cert_label(tc->leaf, tc->name, sizeof(tc->name));
		/* An RSA certificate's signatures go to the IFMA signer where
		 * the CPU has it: wolfSSL asks the device first and does the
		 * rest itself.  Other contexts are not given it, so their
		 * operations are not offered to it one by one. */
		tc->devid = INVALID_DEVID;
		if (tls_rsa_devid != INVALID_DEVID &&
		    wolfSSL_X509_get_pubkey_type(tc->leaf) == RSAk) {
			if (wolfSSL_CTX_SetDevId(tc->ctx, tls_rsa_devid) !=
			    WOLFSSL_SUCCESS) {
				snprintf(err, errlen, "tls_certificate: cannot "
				    "attach the RSA signer to %s",
				    cfg->certs[i].chain);
				goto fail;
			}
			tc->devid = tls_rsa_devid;
		}
	}
	*errline = 0;
	if (ts->n > 1) {
		wolfSSL_CTX_set_servername_callback(ts->certs[0].ctx, tls_sni_cb);
		wolfSSL_CTX_set_servername_arg(ts->certs[0].ctx, ts);
	}
	return ts;
fail:
	tls_server_free(ts);
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
	int	i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->n; i++) {
		wolfSSL_X509_free(ts->certs[i].leaf);
		wolfSSL_CTX_free(ts->certs[i].ctx);
	}
	free(ts);
}

WOLFSSL *
tls_server_session(struct tls_server *ts, int fd)
{
	WOLFSSL	*ssl;

	if (ts->n == 0 || (ssl = wolfSSL_new(ts->certs[0].ctx)) == NULL)
		return NULL;
	if (wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		return NULL;
	}
	return ssl;
}

const char *
tls_server_cert_name(const struct tls_server *ts, WOLFSSL *ssl)
{
	WOLFSSL_CTX	*ctx = wolfSSL_get_SSL_CTX(ssl);
	int		 i;

	for (i = 0; i < ts->n; i++)
		if (ts->certs[i].ctx == ctx)
			return ts->certs[i].name;
	return "?";
}

#define TLS_SESSIONS		256	/* remembered upstream sessions */
#define TLS_SESSION_AGE_MS	(3600 * 1000)

struct tls_cached {
	char		 key[300];	/* level ':' name */
	WOLFSSL_SESSION	*sess;
	int		 verified;
	uint64_t	 stored;	/* ms, CLOCK_MONOTONIC */
};

struct tls_client {
	WOLFSSL_CTX		*ctx;
	uv_mutex_t		 lock;	/* workers share the cache; it is
					 * taken once per connection */
	struct tls_cached	 cache[TLS_SESSIONS];
	unsigned		 next;
};

struct tls_client *
tls_client_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_client	*tc;
	int			 roots = 0;

	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (uv_mutex_init(&tc->lock) != 0) {
		free(tc);
		snprintf(err, errlen, "cannot create a mutex");
		return NULL;
	}
	tc->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (tc->ctx == NULL ||
	    wolfSSL_CTX_SetMinVersion(tc->ctx, WOLFSSL_TLSV1_2) !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_cipher_list(tc->ctx, tls_cipher_list) !=
	    WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot set up the TLS client context");
		goto fail;
	}
	tls_ctx_tune(tc->ctx);
	if (wolfSSL_CTX_load_system_CA_certs(tc->ctx) == WOLFSSL_SUCCESS)
		roots++;
	if (cfg->ca_file[0] != '\0') {
		if (wolfSSL_CTX_load_verify_locations(tc->ctx, cfg->ca_file,
		    NULL) != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "ca_file: cannot load %s",
			    cfg->ca_file);
			goto fail;
		}
		roots++;
	}
	if (roots == 0)
		log_event(LOG_WARN, "-", "event=config msg=\"no trusted roots: "
		    "every remote certificate will fail verification\"");
	return tc;
fail:
	tls_client_free(tc);
	return NULL;
}

void
tls_client_free(struct tls_client *tc)
{
	int	i;

	if (tc == NULL)
		return;
	for (i = 0; i < TLS_SESSIONS; i++)
		if (tc->cache[i].sess != NULL)
			wolfSSL_SESSION_free(tc->cache[i].sess);
	uv_mutex_destroy(&tc->lock);
	wolfSSL_CTX_free(tc->ctx);
	free(tc);
}

static uint64_t
tls_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* The entry for key, or NULL. */
static struct tls_cached *
tls_cache_find(struct tls_client *tc, const char *key)
{
	int	i;

	for (i = 0; i < TLS_SESSIONS; i++)
		if (tc->cache[i].sess != NULL &&
		    strcmp(tc->cache[i].key, key) == 0)
			return &tc->cache[i];
	return NULL;
}

void
tls_client_save(struct tls_client *tc, WOLFSSL *ssl, const char *name,
    int level, int verified)
{
	struct tls_cached	*c;
	WOLFSSL_SESSION		*sess;
	char			 key[sizeof(c->key)];

	if ((sess = wolfSSL_get1_session(ssl)) == NULL)
		return;
	if (wolfSSL_SESSION_is_resumable(sess) != 1) {
		wolfSSL_SESSION_free(sess);
		return;
	}
	snprintf(key, sizeof(key), "%d:%s", level, name);
	uv_mutex_lock(&tc->lock);
	if ((c = tls_cache_find(tc, key)) == NULL)
		c = &tc->cache[tc->next++ % TLS_SESSIONS];
	if (c->sess != NULL)
		wolfSSL_SESSION_free(c->sess);
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->sess = sess;
	c->verified = verified;
	c->stored = tls_now_ms();
	uv_mutex_unlock(&tc->lock);
}

int
tls_client_offer(struct tls_client *tc, WOLFSSL *ssl, const char *name,
    int level, int *verified)
{
	struct tls_cached	*c;
	char			 key[sizeof(c->key)];
	int			 offered = 0;

	snprintf(key, sizeof(key), "%d:%s", level, name);
	uv_mutex_lock(&tc->lock);
	if ((c = tls_cache_find(tc, key)) != NULL) {
		if (tls_now_ms() - c->stored > TLS_SESSION_AGE_MS) {
			wolfSSL_SESSION_free(c->sess);
			c->sess = NULL;
		} else if (wolfSSL_set_session(ssl, c->sess) ==
		    WOLFSSL_SUCCESS) {
			*verified = c->verified;
			offered = 1;
		}
	}
	uv_mutex_unlock(&tc->lock);
	return offered;
}

/* Record the first verification error; stop the handshake only when
 * the policy says the certificate must be valid. */
static int
tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct tls_verify *v = store->userCtx;

	if (v == NULL)
		return preverify;
	v->checked = 1;
	if (!preverify && !v->failed) {
		v->failed = 1;
		v->error = store->error;
	}
	return v->enforce ? preverify : 1;
}

WOLFSSL *
tls_client_session(struct tls_client *tc, int fd, const char *name,
    struct tls_verify *v)
{
	WOLFSSL	*ssl;

	if ((ssl = wolfSSL_new(tc->ctx)) == NULL)
		return NULL;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->checked = v->failed = v->error = 0;
	wolfSSL_set_verify(ssl, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	wolfSSL_SetCertCbCtx(ssl, v);
	if (wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, name,
	    (unsigned short)strlen(name)) != WOLFSSL_SUCCESS ||
	    wolfSSL_check_domain_name(ssl, name) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		return NULL;
	}
	return ssl;
}

int
tls_client_verified(WOLFSSL *ssl, struct tls_verify *v, const char **why)
{
	WOLFSSL_X509	*peer;
	static __thread char	reason[WOLFSSL_MAX_ERROR_SZ];

	if (v->failed) {
		wolfSSL_ERR_error_string_n((unsigned long)v->error, reason,
		    sizeof(reason));
		*why = reason;
		return 0;
	}
	/* The name once more, independently of the handshake's check. */
	peer = wolfSSL_get_peer_certificate(ssl);
	if (peer == NULL) {
		*why = "no certificate";
		return 0;
	}
	if (wolfSSL_X509_check_host(peer, v->name, strlen(v->name), 0,
	    NULL) != WOLFSSL_SUCCESS) {
		wolfSSL_X509_free(peer);
		*why = "certificate not valid for the MX name";
		return 0;
	}
	wolfSSL_X509_free(peer);
	*why = "ok";
	return 1;
}

const char *
tls_version(WOLFSSL *ssl)
{
	return wolfSSL_get_version(ssl);
}

const char *
tls_cipher(WOLFSSL *ssl)
{
	int		 suite = wolfSSL_get_current_cipher_suite(ssl);
	const char	*c;

	/* IANA names, as other MTAs log them. */
	c = wolfSSL_get_cipher_name_iana_from_suite(
	    (unsigned char)((suite >> 8) & 0xff), (unsigned char)(suite & 0xff));
	if (c == NULL || strcmp(c, "None") == 0)
		c = wolfSSL_get_cipher_name(ssl);
	return c != NULL ? c : "?";
}

const char *
tls_sni(WOLFSSL *ssl)
{
	return wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);
}

const char *
tls_library_version(void)
{
	return wolfSSL_lib_version();
}

int
tls_has_aesni(void)
{
#ifdef WOLFSSL_AESNI
	return 1;
#else
	return 0;
#endif
}

int
tls_has_asm_ecc(void)
{
#if defined(WOLFSSL_SP_X86_64_ASM) || defined(WOLFSSL_SP_ARM64_ASM)
	return 1;
#else
	return 0;
#endif
}

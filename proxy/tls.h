/*
 * wolfSSL set-up for mxgate's TLS server side: the certificates, SNI
 * selection among them, protocol versions and cipher suites.
 */
#ifndef TLS_H
#define TLS_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "config.h"

struct tls_server;

/* Once per process, before any other tls_* call.  0 or -1. */
int tls_global_init(void);
void tls_global_cleanup(void);

/* Who makes RSA-2048 signatures: "ifma" (tls_rsa.h) or "wolfssl". */
const char *tls_rsa_signer(void);

/*
 * Load every tls_certificate of cfg (chain and key, checked to match),
 * one wolfSSL context each; the first is the default for clients that
 * send no SNI or a name no certificate covers.  TLS 1.2 and 1.3 only,
 * forward-secret AEAD suites only.  NULL with a message in err and
 * the config line of the failing certificate in *errline.
 */
struct tls_server *tls_server_new(const struct config *cfg, int *errline,
    char *err, size_t errlen);
void tls_server_free(struct tls_server *);

/* A new server-side TLS object on fd, ready for wolfSSL_accept().
 * NULL on failure. */
WOLFSSL *tls_server_session(struct tls_server *, int fd);

/* The name of the certificate the handshake chose. */
const char *tls_server_cert_name(const struct tls_server *, WOLFSSL *);

/* "TLSv1.3", "TLS_AES_128_GCM_SHA256" of an established session. */
const char *tls_version(WOLFSSL *);
const char *tls_cipher(WOLFSSL *);
/* SNI the client sent, or NULL. */
const char *tls_sni(WOLFSSL *);

/*
 * Client side, towards remote MX hosts.
 */
struct tls_client;

/* Trusted roots: the system's CA store plus cfg->ca_file.  NULL with a
 * message in err. */
struct tls_client *tls_client_new(const struct config *cfg, char *err,
    size_t errlen);
void tls_client_free(struct tls_client *);

/* What the certificate check found; lives as long as the TLS object. */
struct tls_verify {
	int	enforce;	/* fail the handshake on a bad certificate */
	int	checked;	/* the peer presented a certificate */
	int	failed;		/* chain, dates or name did not check out */
	int	error;		/* the first wolfSSL verification error */
	char	name[256];	/* the name it must be valid for */
};

/*
 * A client TLS object on fd with SNI and certificate verification
 * against `name`, exactly as given (RFC 6125 matching, wildcards
 * included).  With v->enforce the handshake fails on a bad certificate;
 * otherwise it goes on and v records what was wrong.  v must outlive
 * the TLS object.  NULL on failure.
 */
WOLFSSL *tls_client_session(struct tls_client *, int fd, const char *name,
    struct tls_verify *v);

/*
 * TLS session resumption towards MX hosts.  A session is remembered per
 * MX name and policy level, only from a connection whose handshake met
 * that level, together with what its certificate check found; it is
 * offered to the next connection with the same name and level.  A
 * resumed session is as trustworthy as the full handshake that
 * created it: only that server holds its keys.
 */
void tls_client_save(struct tls_client *, WOLFSSL *, const char *name,
    int level, int verified);
/* Offer a remembered session before the handshake: 1 if one was
 * offered (*verified says what its certificate check found). */
int tls_client_offer(struct tls_client *, WOLFSSL *, const char *name,
    int level, int *verified);

/* After the handshake: 1 when the certificate is valid for v->name
 * (chain, dates, name), 0 otherwise; *why gets a short reason. */
int tls_client_verified(WOLFSSL *, struct tls_verify *v, const char **why);

/* "5.5.4", and whether AES-NI and assembly ECC are compiled in. */
const char *tls_library_version(void);
int tls_has_aesni(void);
int tls_has_asm_ecc(void);

#endif

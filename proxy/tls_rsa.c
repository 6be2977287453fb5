/*
 * The IFMA RSA-2048 signer as a wolfSSL crypto callback device.
 *
 * wolfSSL decodes the certificate's key afresh for every handshake, so
 * the prepared form of each key (rsa52_key: its primes' Montgomery
 * constants, about 100 us of work) is kept here, found again by the
 * modulus.  Entries are made once, under a lock, and never change or go
 * away until tls_rsa_cleanup(), so the workers read them without one.
 *
 * Only RSA_PRIVATE_ENCRYPT (signing) is taken.  mxgate's suites never
 * decrypt with RSA; wolfSSL's decryption path checks the input's range
 * first, and it keeps it.  A signature computed here is checked by
 * wolfSSL against the public key before it is sent, as every RSA
 * signature of its TLS code is, so a wrong result fails the handshake
 * and cannot leak the key.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tls_rsa.h"

#if defined(WOLF_CRYPTO_CB) && !defined(MXGATE_WOLFSSL_SYSTEM)

#include <wolfssl/wolfcrypt/cryptocb.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#define TLS_RSA_DEVID	0x72353200	/* "r52" */
#define TLS_RSA_KEYS	CONFIG_CERT_MAX	/* one per tls_certificate */

static struct rsa52_key	tls_rsa_keys[TLS_RSA_KEYS];
static int		tls_rsa_nkeys;		/* entries ready to read */
static pthread_mutex_t	tls_rsa_lock = PTHREAD_MUTEX_INITIALIZER;
static int		tls_rsa_registered;
static unsigned long	tls_rsa_count;

/* The number as exactly len big-endian bytes; -1 when it needs more. */
static int
tls_rsa_num(const mp_int *a, uint8_t *out, int len)
{
	return mp_to_unsigned_bin_len((mp_int *)a, out, len) == MP_OKAY ?
	    0 : -1;
}

int
tls_rsa_key(struct rsa52_key *k, const RsaKey *key)
{
	uint8_t	n[RSA52_BYTES], p[128], q[128], dp[128], dq[128], u[128];
	int	rc = -1;

	if (mp_count_bits((mp_int *)&key->n) != 2048 ||
	    mp_count_bits((mp_int *)&key->p) != 1024 ||
	    mp_count_bits((mp_int *)&key->q) != 1024 ||
	    mp_iszero((mp_int *)&key->dP) || mp_iszero((mp_int *)&key->dQ) ||
	    mp_iszero((mp_int *)&key->u))
		return -1;
	if (tls_rsa_num(&key->n, n, sizeof(n)) == 0 &&
	    tls_rsa_num(&key->p, p, sizeof(p)) == 0 &&
	    tls_rsa_num(&key->q, q, sizeof(q)) == 0 &&
	    tls_rsa_num(&key->dP, dp, sizeof(dp)) == 0 &&
	    tls_rsa_num(&key->dQ, dq, sizeof(dq)) == 0 &&
	    tls_rsa_num(&key->u, u, sizeof(u)) == 0)
		rc = rsa52_key_init(k, n, p, q, dp, dq, u);
	explicit_bzero(p, sizeof(p));
	explicit_bzero(q, sizeof(q));
	explicit_bzero(dp, sizeof(dp));
	explicit_bzero(dq, sizeof(dq));
	explicit_bzero(u, sizeof(u));
	return rc;
}

/* The prepared key for this modulus, made on first use; NULL when the
 * key does not qualify or the table is full. */
static const struct rsa52_key *
tls_rsa_find(const RsaKey *key)
{
	uint8_t			 n[RSA52_BYTES];
	const struct rsa52_key	*found = NULL;
	int			 i, ready;

	if (mp_count_bits((mp_int *)&key->n) != 2048 ||
	    tls_rsa_num(&key->n, n, sizeof(n)) == -1)
		return NULL;
	ready = __atomic_load_n(&tls_rsa_nkeys, __ATOMIC_ACQUIRE);
	for (i = 0; i < ready; i++)
		if (memcmp(tls_rsa_keys[i].n, n, sizeof(n)) == 0)
			return &tls_rsa_keys[i];

	pthread_mutex_lock(&tls_rsa_lock);
	for (i = 0; i < tls_rsa_nkeys; i++)
		if (memcmp(tls_rsa_keys[i].n, n, sizeof(n)) == 0)
			found = &tls_rsa_keys[i];
	if (found == NULL && tls_rsa_nkeys < TLS_RSA_KEYS &&
	    tls_rsa_key(&tls_rsa_keys[tls_rsa_nkeys], key) == 0) {
		found = &tls_rsa_keys[tls_rsa_nkeys];
		__atomic_store_n(&tls_rsa_nkeys, tls_rsa_nkeys + 1,
		    __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&tls_rsa_lock);
	return found;
}

static int
tls_rsa_cb(int devid, wc_CryptoInfo *info, void *arg)
{
	const struct rsa52_key	*k;

	(void)devid;
	(void)arg;
	if (info->algo_type != WC_ALGO_TYPE_PK ||
	    info->pk.type != WC_PK_TYPE_RSA ||
	    info->pk.rsa.type != RSA_PRIVATE_ENCRYPT ||
	    info->pk.rsa.inLen != RSA52_BYTES ||
	    *info->pk.rsa.outLen < RSA52_BYTES ||
	    (k = tls_rsa_find(info->pk.rsa.key)) == NULL)
		return CRYPTOCB_UNAVAILABLE;
	rsa52_private(k, info->pk.rsa.in, info->pk.rsa.out);
	*info->pk.rsa.outLen = RSA52_BYTES;
	__atomic_add_fetch(&tls_rsa_count, 1, __ATOMIC_RELAXED);
	return 0;
}

unsigned long
tls_rsa_signed(void)
{
	return __atomic_load_n(&tls_rsa_count, __ATOMIC_RELAXED);
}

int
tls_rsa_usable(void)
{
	const char	*env = getenv("MXGATE_RSA52");

	return (env == NULL || strcmp(env, "0") != 0) && rsa52_usable();
}

int
tls_rsa_init(void)
{
	if (!tls_rsa_usable())
		return INVALID_DEVID;
	if (!tls_rsa_registered) {
		if (wc_CryptoCb_RegisterDevice(TLS_RSA_DEVID, tls_rsa_cb,
		    NULL) != 0)
			return INVALID_DEVID;
		tls_rsa_registered = 1;
	}
	return TLS_RSA_DEVID;
}

void
tls_rsa_cleanup(void)
{
	if (tls_rsa_registered)
		wc_CryptoCb_UnRegisterDevice(TLS_RSA_DEVID);
	tls_rsa_registered = 0;
	explicit_bzero(tls_rsa_keys, sizeof(tls_rsa_keys));
	tls_rsa_nkeys = 0;
}

#else	/* no crypto callbacks in this wolfSSL */

int
tls_rsa_usable(void)
{
	return 0;
}

unsigned long
tls_rsa_signed(void)
{
	return 0;
}

int
tls_rsa_init(void)
{
	return INVALID_DEVID;
}

void
tls_rsa_cleanup(void)
{
}

int
tls_rsa_key(struct rsa52_key *k, const RsaKey *key)
{
	return -1;
}

#endif

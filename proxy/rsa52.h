/*
 * RSA-2048 private-key operation (CRT) on AVX-512 IFMA: 1024-bit
 * Montgomery arithmetic in twenty 52-bit limbs, both primes' exponentiations
 * run side by side.  Constant time in the key and the input: no branch
 * and no memory address depends on either.
 *
 * Pure arithmetic, no wolfSSL: proxy/tls.c hands it the key's numbers
 * and the padded block (a wolfSSL crypto callback, only for signing).
 */
#ifndef RSA52_H
#define RSA52_H

#include <stddef.h>
#include <stdint.h>

#define RSA52_LIMBS	20		/* 52-bit limbs of a 1024-bit prime */
#define RSA52_VLIMBS	24		/* padded to three 8-lane vectors */
#define RSA52_BYTES	256		/* modulus, input and output */

/* One prime's precomputed values; limbs little-endian, 52 bits each. */
struct rsa52_prime {
	uint64_t	m[RSA52_VLIMBS];	/* the prime */
	uint64_t	rr[RSA52_VLIMBS];	/* R^2 mod m, R = 2^1040 */
	uint64_t	rrr[RSA52_VLIMBS];	/* R^3 mod m (< 2m) */
	uint64_t	e[16];			/* CRT exponent, 64-bit words */
	uint64_t	k0;			/* -m^-1 mod 2^52 */
} __attribute__((aligned(64)));

struct rsa52_key {
	struct rsa52_prime p, q;
	uint64_t	ur[RSA52_VLIMBS];	/* q^-1 mod p, times R mod p */
	uint8_t		n[RSA52_BYTES];		/* the modulus, to recognise it */
} __attribute__((aligned(64)));

/* 1 when this CPU can run the code (AVX-512 F and IFMA), else 0. */
int rsa52_usable(void);

/*
 * Set k up from the big-endian numbers of a 2048-bit key: n (256
 * bytes), p, q, dP = d mod (p-1), dQ = d mod (q-1), qInv = q^-1 mod p
 * (128 bytes each).  p and q must be odd and exactly 1024 bits long.
 * 0, or -1 when they are not (k is then unusable).
 */
int rsa52_key_init(struct rsa52_key *k, const uint8_t *n, const uint8_t *p,
    const uint8_t *q, const uint8_t *dp, const uint8_t *dq,
    const uint8_t *qinv);

/* out = in^d mod n, both 256 bytes big-endian.  Only when
 * rsa52_usable(). */
void rsa52_private(const struct rsa52_key *k, const uint8_t *in,
    uint8_t *out);

#endif

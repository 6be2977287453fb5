/*
 * RSA-2048 signing on AVX-512 IFMA (rsa52.c) under wolfSSL, as a crypto
 * callback device: a TLS context given its id sends the raw private-key
 * operation of its signatures here; everything else (and every other
 * key size, and decryption) wolfSSL does itself.
 */
#ifndef TLS_RSA_H
#define TLS_RSA_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "rsa52.h"

/* 1 when the device can be had here: this wolfSSL build, this CPU, and
 * no MXGATE_RSA52=0 in the environment. */
int tls_rsa_usable(void);

/*
 * Register the device once per process, before any handshake.  Its id
 * for wolfSSL_CTX_SetDevId(), or INVALID_DEVID when this CPU or this
 * wolfSSL build cannot have it (or MXGATE_RSA52=0 is in the
 * environment, to compare against wolfSSL's own code).
 */
int tls_rsa_init(void);
void tls_rsa_cleanup(void);

/* Signatures the device has made in this process. */
unsigned long tls_rsa_signed(void);

/* Fill k from a private key: 0, or -1 when it is not a 2048-bit key of
 * two 1024-bit primes with CRT values. */
int tls_rsa_key(struct rsa52_key *k, const RsaKey *key);

#endif

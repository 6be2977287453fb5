/*
 * wolfSSL's random source in mxgate's build (CUSTOM_RAND_GENERATE_BLOCK,
 * scripts/build-wolfssl.sh): the kernel's generator through getrandom(2).
 * Without it every connection creates, seeds from /dev/urandom and
 * self-tests a SHA-256 DRBG of its own.  getrandom() never fails for want
 * of entropy once the kernel's pool is initialised, needs no open file,
 * and works after privileges are dropped.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

int	mxgate_wolfssl_rand(byte *, word32);

int
mxgate_wolfssl_rand(byte *out, word32 sz)
{
	ssize_t	n;

	while (sz > 0) {
		n = getrandom(out, sz, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return RNG_FAILURE_E;
		}
		out += n;
		sz -= (word32)n;
	}
	return 0;
}

/* The seed source, which wolfSSL leaves out with a custom generator but
 * its OpenSSL layer (RAND_poll) still calls. */
int
wc_GenerateSeed(OS_Seed *os, byte *seed, word32 sz)
{
	(void)os;
	return mxgate_wolfssl_rand(seed, sz);
}

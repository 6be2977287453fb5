/*
 * rsa52 (RSA-2048 private-key operation on AVX-512 IFMA) against
 * wolfSSL's own: the same outputs for edge and random inputs, with the
 * primes in either order, and signatures through the crypto callback
 * device (tls_rsa.c) that wolfSSL's software accepts.  On a CPU without
 * IFMA only the refusal to register is checked.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "config.h"
#include "rsa52.h"
#include "tls.h"
#include "tls_rsa.h"
#include "t.h"

#define RANDOM_INPUTS	64

/* Throwaway test keys (openssl genrsa 2048). */
static const char *const keys[] = {
"-----BEGIN RSA PRIVATE KEY-----\n"
"MIIEpAIBAAKCAQEArhPPn80+0dKnnAud7iIRA1JJohF1kr5JlKaE84DQu30Losir\n"
"PL+Cit+poumRNKVzCge5rlByrC0/K63GvipZKSj5t4JrylUwoxt8rlVPSUGnrZQM\n"
"xPbe5zZEgF2Ht2sQBDPS6wMiXWrw017j+ye1jBcCGSLPlCQUV7o+s8H463vcV9OI\n"
"/euDLlvJRm5YeC4Fv7jJTNcgfb5MQT6u3O+EeKyfW/uSKjDAElCuWjqs7OM6FP3e\n"
"f4f5XmTV7zAOtKDyrhYJwQo6+3Ex9JHGQ1FfkELkv/ftnYJBsSPX8AX9caOQHgA7\n"
"vweS7m37dwAsnCYbrfK7Rq/QGaPDVnffEwtBRQIDAQABAoIBABKQNMYlCEOuW+bZ\n"
"W0pbciaBRi5k/716EtUqC8f+zuOLgmvly9Ly1jwyfT/M+gnb8eBaMgwbcpsXSSMC\n"
"iUzarb7kqnqOCyocuw7NvdZGbSnR+UxamyD+9YbBA/2PW8tsvJzCHQYoQ6gkIRHd\n"
"TuEH20WY54WgL3QsA8pWJ10afI257sgWApZcy3UT/S1L7zfXyzfQtk6S+hfmq/br\n"
"GJKNcSpPTvqSzUAEXKwFfUNfyrDWvpmis0CUGTOxk75POZ9M09hOfqHuqt7RuEoH\n"
"+3hwIMfzcIHRSsdOPyoXzPb6EThR0iBn+3vgaTOdVWI4POH5eQRh6W4atjtsEW49\n"
"VYsl9hkCgYEA4QTGI1O0OuSxpP+OiEPKxD8jq1ex+2j7/iBI0DLy0QJBqoFZPqoF\n"
"8uhAVSwYkiz3LXoQzGGj+1GuI92ZblssPs6p7KmGIjDkAVqAjqdIvabfFsw5ZtxA\n"
"Be57xrbVhjnCx7GPm/gEd/JsJ0Qb+2XaA4T6/HPzc13bYHaUL/LBds0CgYEAxguD\n"
"B2t4+ewAvqUQpBUa4Z5UL3J+JCRvrBKw0m7m44yGb9qPSO4nm4/fMsmZbzk5xZVb\n"
"PZGCrHjyKswTCy5HnVS+8jWpMTcHYnJLjQjGvFZpcB08Q/lr1Ad8cphKII4dCq3z\n"
"ASoJbjBu1zpeYMTNtgOy84+iDvsWVOzrikIkxFkCgYEAuO7ZgRM8HuLx9S9rjyZY\n"
"MW3K/Pk39+5SnIsgDKyyz4BRQ7bHCC9ocDjdFqMFFq4J/8BAqhjdUqHQwv1PKlmY\n"
"RY5ILY8uBE+2ND6TRarKp8PLucriqlz96WIVLD37wzMZmFGgO4lc8s+0f5kEfls5\n"
"EIdsV6tcPEa5E9Cg/b8/rUkCgYB0j1nzCAIPtiNKEYSVzgYgPDt4IX60bu167RU9\n"
"BSDHVHHba1thpSmSmT7YeWbg22FxNNKajgXG1PhS0AF1Vyu3IaWwkHygBq9F9dcZ\n"
"jszJFGLCJbLOnwIjrLRGDfOy7XGSU4bubHtYaxERg70AX1RjiBHO3/6VqpoeKcMH\n"
"gJ57IQKBgQCpeCA4mMZN8GnvhbYpMXRTtkCpgAJWy38rnZoDVFwwFNdgN67GNF8K\n"
"2tMDLj/MNn6CzE5h1nVu7evn1p7V+ZIIVsPeSpXaURE2MWGC3gF9Rlx5zLwUkYBA\n"
"OYq5qxnt/IxENDgt9fejMrtkxDahDRKzh+wn7ZQMXU8sLlWb6mQgYA==\n"
"-----END RSA PRIVATE KEY-----\n"
,
"-----BEGIN RSA PRIVATE KEY-----\n"
"MIIEogIBAAKCAQEAvUqKrAK3Bh+72lZp2a6vTYPljZkpj6vDPk9+k0eHdW6ZTle2\n"
"84YRl4FFAMTEdyoaYWX8MOQzE1M1mQo/W3EFCkaM/6b7L5uEyazUpEQNjaULG7pA\n"
"5xBIVMeuuQtEkUqkMGcGafoY/caU6iN1pgkpT+FKHHsE83bBNRPtjAHeDXk7lsS0\n"
"Ub/A01G58nsk0KBecJxIKPod+3x/AUI4XLsAx2EW0gxJ8bfu4warHgyouxsig0Fa\n"
"df96MFNqBd2rLg0/uFLYhx+aD7zO8K6kpWbmKuGbbcYdf0HaM4K2OjWlKV4lqdLh\n"
"18xWVjwq76DbnI5Xx4Wze4JHm9Ae4e4qeNYP3wIDAQABAoIBAFi69urvsNyJhpSv\n"
"2hlktZ7322R3LdC/epucRuCB8KDe8bUUD9nyeA+VVIOqONAFJ+2NEVzXs4t0/1RY\n"
"Rd+2yF6LOK/kFa240FN7FQhVMCc7/MuIEMFfVBCNs7zg58jVfMaFnK+TwSBAdHCW\n"
"o6DrfXaIzCUyk10Oxz16tGjjPTQB19cblhFFKA/hFVnkkiLmw5aIlWQze1um1xzg\n"
"ahfhYzPH4tQtsjtK8g7gqTPC1JiLEDqbxnKEK+7K/HLvkTQr3LYO94JhOMPHh7Ic\n"
"OFm+6EhVud8Br1+/lnSBBBC60sBTOiF5GFl6ssaGkABT33YdjHQ0SOAMk0lZIZqQ\n"
"O+h7xh0CgYEA6wv7jl+md84FmifAuhNhbAgZlbIVIm/rpGmZav6K84qxqtRbyIMF\n"
"sWDRaXGhZU3i3/APrkKTIAxhVSwn4R/tlgzwoh1dag7KMSCWcpUzt+dyN0RYJUVo\n"
"Our9if1OEi29BBW14WKh3bffjbiPVUZmsaFviGUDf57HYH1ZCM4QGBsCgYEAzipd\n"
"+TfsyH9bTium+sIJzmKxSeWn/c54r3ZPSHjHctRvqvTBjlpmNq1Hz0rtu7i4rCBB\n"
"E3v4mJkYKpNi2QlJJGn5knAaM5hln4UfFmKFfMsf38l8HcFNZ/d9Cf2XAkrZYXA4\n"
"Zx8+/mO6AQkFL18TUuKxrGdgrt1NUWjjU4kI640CgYAEMU2GZ5xfjLQ64LSmXQwi\n"
"0i4qpmeMGrT4VM3gw7OUzoeGxYzxkay7Uj/KArXfSblfRzfwYs2fB7mAvG3lrR0e\n"
"zRJJwf5Vkvf2Ul98ob6vbBh0deqgl5FZY7GsEXGgD2LMvNpmr8y1WL9LFtyvp7bT\n"
"Ok7z/uFGGH3z8ahx6MMOuwKBgAZav/LCioXThxjtt4PbHzpBSH2imn70MjwWRXNS\n"
"ZbNgYODAEoc0uhnNVX1KLfGvS+HiTJ8xHwR1E42cZVuTMbHxokOlOOmGNPupur+R\n"
"4dNq31yidTTllGEz+6KnMlRbwj+CmfpzuBlXMZB+mq5PG+VeH2PU++Hn6E4uEXOt\n"
"sZyxAoGAE8efiLhOV2Odr+zuu3juCENDSLnQldecul6mnYy2LEWtjhZVPHK1vLQ3\n"
"5WQtMz3lteu6e6SlVpNtvcznTAQCr+LukeqYVb4P383EgfyS4Axoht8lkkXN3Zwp\n"
"xq564Hngs8oeuWAAC4CzYQsgMNdsN24jffw1bXY8Eu6unqWQOOs=\n"
"-----END RSA PRIVATE KEY-----\n"
,
};

/* A 1024-bit key, which is not the device's. */
static const char key1024[] =
"-----BEGIN RSA PRIVATE KEY-----\n"
"MIICXgIBAAKBgQC03VHuMSDhjBQ4m3GPNR/XQczAMs+M1FH931J50WyYmBlOMLes\n"
"jFxamTCvByuaNEE6uEM2C/6t/3dE4Z64lRT2etLpxPCjFc3tP9bXpIjhMg+tkF2/\n"
"ne/G6RX1pohR6N1R4xR03gQv+oFSFpWMlD2p/ZmxLKB/AQ05DDqyRAkxJwIDAQAB\n"
"AoGBAJeFMrZSAjHyoJ4r258V6m7zeQ0rhCV/WpFNHlNf15KfGdQfjEDJ9jUQUXDQ\n"
"mP6++EaxR91nfx1WAB18xvPsMXpEMOozBz1dXdEJ+/XxOxuhHlveAATfKS268uu2\n"
"MsKsKqDPuyQX2wiAknr2keqejIj9pzF39HOKDC1vElYZbE5BAkEA2DOO7Xzctxlm\n"
"lFraUNHdYMiQfjcqc6xvxIomfHpOUAM5+Rd6ke8uCmi8nIX9hcp/8B+P13TT0mlq\n"
"+nIKt40HMwJBANYohRX2ejdWWObh3Ddl76etaILup4Vv2wWCHfohJUkKE8M2qk8R\n"
"/AcFxHjFD+5MyH/ElomzZHcxSrdBE6sPnj0CQQCUrrBmZm4rhU5kTC7DUfBatNOZ\n"
"2TpanoWmthNNm5brs6xUv27NmZ0iD3FWe1ckgWSGsE3tsCxUEac+YNs568S9AkEA\n"
"jl2rc1lCD+1v9jRpf85dDfviQUBDzxn34OaJ5REJx09SqfB6MUxEXarA3IQsPf9/\n"
"PijC5lGCVRZIlCBH4ezlBQJAVZLKmyQO8dtkHPg3agipeh0r3C1XMcomfp2NkjAf\n"
"RzbNY50EWriDQ1sBY1ePOrGoxoXAWALE9BRYAJp8W9J69g==\n"
"-----END RSA PRIVATE KEY-----\n";

/* A certificate for keys[0], and an ECDSA P-256 key and certificate, for
 * handshakes through mxgate's server contexts (tls.c). */
static const char rsa_cert[] =
"-----BEGIN CERTIFICATE-----\n"
"MIIDLTCCAhWgAwIBAgIUe27xKO2x14+yXnv5mVVhgeNSiU4wDQYJKoZIhvcNAQEL\n"
"BQAwGDEWMBQGA1UEAwwNcnNhLnVuaXQudGVzdDAgFw0yNjEyMDQxNzU5NDVaGA8y\n"
"MTI2MTExMDE3NTk0NVowGDEWMBQGA1UEAwwNcnNhLnVuaXQudGVzdDCCASIwDQYJ\n"
"KoZIhvcNAQEBBQADggEPADCCAQoCggEBAK4Tz5/NPtHSp5wLne4iEQNSSaIRdZK+\n"
"SZSmhPOA0Lt9C6LIqzy/gorfqaLpkTSlcwoHua5QcqwtPyutxr4qWSko+beCa8pV\n"
"MKMbfK5VT0lBp62UDMT23uc2RIBdh7drEAQz0usDIl1q8NNe4/sntYwXAhkiz5Qk\n"
"FFe6PrPB+Ot73FfTiP3rgy5byUZuWHguBb+4yUzXIH2+TEE+rtzvhHisn1v7kiow\n"
"wBJQrlo6rOzjOhT93n+H+V5k1e8wDrSg8q4WCcEKOvtxMfSRxkNRX5BC5L/37Z2C\n"
"QbEj1/AF/XGjkB4AO78Hku5t+3cALJwmG63yu0av0Bmjw1Z33xMLQUUCAwEAAaNt\n"
"MGswHQYDVR0OBBYEFNUe73zSA+a5nZRdCWtPbudEyFkoMB8GA1UdIwQYMBaAFNUe\n"
"73zSA+a5nZRdCWtPbudEyFkoMA8GA1UdEwEB/wQFMAMBAf8wGAYDVR0RBBEwD4IN\n"
"cnNhLnVuaXQudGVzdDANBgkqhkiG9w0BAQsFAAOCAQEAJuLPBgkXdVfCs2mYaqsO\n"
"f/Iid6pdMGzExfkbQMOWoYTgDqAMWl2xzoy+Ojib46PidBPllsiNI3AfsL2nN/qa\n"
"A4gEwlbNUlOQd3kEnMG1lnwrjBytKoFkB+c+V/7g2vKTm4cZDuFiWtG2hQ/TABwz\n"
"zW1PhKJyQk//nuSQZTQQdvEwbbas3m7psImHRIkbym00CRzJdwbmZW6+mTas9Pxi\n"
"h5kmTsQyhS3ffUgWN3frsPdfoakM7I3KyakIDcRFe4JHCs5EDRBpHbe0it9Wtwth\n"
"otJftGcRwRx8EiwI+z9VYgmWHp3tvpfcP/lBpJJbMF7T9JfmmuT4V3a/bpzkafg/\n"
"nQ==\n"
"-----END CERTIFICATE-----\n";
static const char ec_key[] =
"-----BEGIN EC PRIVATE KEY-----\n"
"MHcCAQEEIEcICCxcjaEY3iAc97j1UnYKM+l6Xjcb2SfjlO6sADJWoAoGCCqGSM49\n"
"AwEHoUQDQgAE2uJhHLpFdk+TSBZP8aMF0GSXmIgzUy5/Pwij6h4AAtDKj3ayijMP\n"
"4PIXgXtHWMwxayQpxoBHNI6lEGByAN0rcQ==\n"
"-----END EC PRIVATE KEY-----\n";
static const char ec_cert[] =
"-----BEGIN CERTIFICATE-----\n"
"MIIBpzCCAU2gAwIBAgIUNoo17PyU+lREipJysJw+cG5+gM4wCgYIKoZIzj0EAwIw\n"
"GjEYMBYGA1UEAwwPZWNkc2EudW5pdC50ZXN0MCAXDTI2MTIwNDE3NTk0NVoYDzIx\n"
"MjYxMTEwMTc1OTQ1WjAaMRgwFgYDVQQDDA9lY2RzYS51bml0LnRlc3QwWTATBgcq\n"
"hkjOPQIBBggqhkjOPQMBBwNCAATa4mEcukV2T5NIFk/xowXQZJeYiDNTLn8/CKPq\n"
"HgAC0MqPdrKKMw/g8heBe0dYzDFrJCnGgEc0jqUQYHIA3Stxo28wbTAdBgNVHQ4E\n"
"FgQUbkLorhC892vLWkCrfWZtyzfbA7UwHwYDVR0jBBgwFoAUbkLorhC892vLWkCr\n"
"fWZtyzfbA7UwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgg9lY2RzYS51bml0\n"
"LnRlc3QwCgYIKoZIzj0EAwIDSAAwRQIgU76UT9nNyDCI3nSviKqe/jqNHztxgoxh\n"
"gUUKCQu71R4CIQDJhCDgj+7JWkQWfUE5LtVKXNLFmtTaZTiz1fX0vHSi6w==\n"
"-----END CERTIFICATE-----\n";

struct loaded {
	RsaKey	soft;		/* wolfSSL's own arithmetic */
	uint8_t	n[RSA52_BYTES], p[128], q[128];
};

static int
load(RsaKey *key, const char *pem, int devid)
{
	static unsigned char	der[4096];
	word32			idx = 0;
	int			len;

	len = wc_KeyPemToDer((const unsigned char *)pem, (int)strlen(pem),
	    der, sizeof(der), NULL);
	if (len <= 0 || wc_InitRsaKey_ex(key, NULL, devid) != 0)
		return -1;
	return wc_RsaPrivateKeyDecode(der, &idx, key, (word32)len) == 0 ?
	    0 : -1;
}

static int
soft_private(RsaKey *key, WC_RNG *rng, const uint8_t *in, uint8_t *out)
{
	word32	len = RSA52_BYTES;

	return wc_RsaFunction(in, RSA52_BYTES, out, &len, RSA_PRIVATE_ENCRYPT,
	    key, rng) == 0 && len == RSA52_BYTES ? 0 : -1;
}

/* Compare rsa52 with wolfSSL on edge and random inputs below n; the
 * number of mismatches. */
static int
compare(const struct rsa52_key *k, struct loaded *l, WC_RNG *rng)
{
	uint8_t	in[RSA52_BYTES], want[RSA52_BYTES], got[RSA52_BYTES];
	int	i, bad = 0;

	for (i = 0; i < 7 + RANDOM_INPUTS; i++) {
		memset(in, 0, sizeof(in));
		switch (i) {
		case 0:				/* 0 */
			break;
		case 1:				/* 1 */
			in[RSA52_BYTES - 1] = 1;
			break;
		case 2:				/* 2 */
			in[RSA52_BYTES - 1] = 2;
			break;
		case 3:				/* n - 1 */
			memcpy(in, l->n, sizeof(in));
			in[RSA52_BYTES - 1]--;
			break;
		case 4:				/* p: 0 mod p */
			memcpy(in + 128, l->p, 128);
			break;
		case 5:				/* q: 0 mod q */
			memcpy(in + 128, l->q, 128);
			break;
		case 6:				/* all ones below n's top */
			memset(in, 0xff, sizeof(in));
			in[0] = (uint8_t)(l->n[0] - 1);
			break;
		default:
			if (getrandom(in, sizeof(in), 0) != sizeof(in))
				return -1;
			in[0] = (uint8_t)(in[0] % l->n[0]);
			break;
		}
		if (soft_private(&l->soft, rng, in, want) != 0)
			return -1;
		rsa52_private(k, in, got);
		if (memcmp(want, got, sizeof(got)) != 0) {
			printf("# input %d differs\n", i);
			bad++;
		}
	}
	return bad;
}


static int
write_file(const char *dir, const char *name, const char *text, char *path,
    size_t cap)
{
	FILE	*f;
	int	 ok;

	snprintf(path, cap, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* One go at one side's handshake: 0, or -1 when it failed. */
static int
step(WOLFSSL *ssl, int (*fn)(WOLFSSL *), int *done)
{
	int	e;

	if (*done)
		return 0;
	if (fn(ssl) == WOLFSSL_SUCCESS) {
		*done = 1;
		return 0;
	}
	e = wolfSSL_get_error(ssl, 0);
	return e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE ?
	    0 : -1;
}

/*
 * One TLS handshake with a wolfSSL client over a socket pair, sending
 * sni (or none), and *signed set to how many signatures the device made
 * meanwhile.  The name of the certificate mxgate chose, or NULL when the
 * handshake failed.
 */
static const char *
handshake(struct tls_server *ts, const char *sni, unsigned long *signed_)
{
	WOLFSSL_CTX	*cctx;
	WOLFSSL		*c = NULL, *s = NULL;
	const char	*name = NULL;
	unsigned long	 before = tls_rsa_signed();
	int		 sv[2], cdone = 0, sdone = 0, i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return NULL;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if ((cctx = wolfSSL_CTX_new(wolfSSLv23_client_method())) == NULL)
		goto out;
	wolfSSL_CTX_set_verify(cctx, WOLFSSL_VERIFY_NONE, NULL);
	if ((c = wolfSSL_new(cctx)) == NULL ||
	    wolfSSL_set_fd(c, sv[0]) != WOLFSSL_SUCCESS ||
	    (sni != NULL && wolfSSL_UseSNI(c, WOLFSSL_SNI_HOST_NAME, sni,
	    (unsigned short)strlen(sni)) != WOLFSSL_SUCCESS) ||
	    (s = tls_server_session(ts, sv[1])) == NULL)
		goto out;
	for (i = 0; i < 1000 && !(cdone && sdone); i++)
		if (step(c, wolfSSL_connect, &cdone) == -1 ||
		    step(s, wolfSSL_accept, &sdone) == -1)
			break;
	if (cdone && sdone)
		name = tls_server_cert_name(ts, s);
out:
	*signed_ = tls_rsa_signed() - before;
	wolfSSL_free(s);
	wolfSSL_free(c);
	wolfSSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	return name;
}

/* mxgate's server contexts with an ECDSA and an RSA certificate, the
 * first named the default: the RSA one's signatures, and only they, are
 * the device's, whether it is the default or chosen by SNI. */
static void
server_contexts(const char *dir, int rsa_first)
{
	static struct config	cfg;
	struct tls_server	*ts;
	char			 err[256];
	const char		*name;
	unsigned long		 n;
	int			 line, r = rsa_first ? 0 : 1, e = 1 - r;
	const char		*first = rsa_first ? "RSA" : "ECDSA";

	memset(&cfg, 0, sizeof(cfg));
	cfg.n_certs = 2;
	if (write_file(dir, "r.pem", rsa_cert, cfg.certs[r].chain,
	    sizeof(cfg.certs[r].chain)) == -1 ||
	    write_file(dir, "r.key", keys[0], cfg.certs[r].key,
	    sizeof(cfg.certs[r].key)) == -1 ||
	    write_file(dir, "e.pem", ec_cert, cfg.certs[e].chain,
	    sizeof(cfg.certs[e].chain)) == -1 ||
	    write_file(dir, "e.key", ec_key, cfg.certs[e].key,
	    sizeof(cfg.certs[e].key)) == -1 ||
	    (ts = tls_server_new(&cfg, &line, err, sizeof(err))) == NULL) {
		printf("not ok - %s default: server contexts (%s)\n", first,
		    err);
		t_failed++;
		return;
	}
	name = handshake(ts, "rsa.unit.test", &n);
	T_OK(name != NULL && strcmp(name, "rsa.unit.test") == 0 && n == 1,
	    "%s default, SNI rsa.unit.test: the RSA certificate, signed by "
	    "the device (%lu)", first, n);
	name = handshake(ts, "ecdsa.unit.test", &n);
	T_OK(name != NULL && strcmp(name, "ecdsa.unit.test") == 0 && n == 0,
	    "%s default, SNI ecdsa.unit.test: the ECDSA certificate, not "
	    "the device's (%lu)", first, n);
	name = handshake(ts, NULL, &n);
	T_OK(name != NULL && strcmp(name, rsa_first ? "rsa.unit.test" :
	    "ecdsa.unit.test") == 0 && n == (rsa_first ? 1UL : 0UL),
	    "%s default, no SNI: the default certificate (%lu signed by "
	    "the device)", first, n);
	tls_server_free(ts);
}

int
main(void)
{
	WC_RNG		rng;
	char		dir[] = "/tmp/test_rsa52.XXXXXX";
	int		i, devid;

	if (tls_global_init() != 0 || wc_InitRng(&rng) != 0) {
		printf("not ok - wolfSSL set-up\n");
		return 1;
	}
	devid = tls_rsa_init();
	if (!rsa52_usable()) {
		T_OK(devid == INVALID_DEVID,
		    "no AVX-512 IFMA here: the RSA device is not registered");
		return T_DONE();
	}
	T_OK(devid != INVALID_DEVID, "AVX-512 IFMA: the RSA device registers");

	for (i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
		static struct loaded	l;
		static struct rsa52_key	k;
		mp_int			pinv;
		uint8_t			pi[128], dp[128], dq[128];
		RsaKey			dev;
		uint8_t			msg[32], sig[RSA52_BYTES];
		uint8_t			want[RSA52_BYTES], out[RSA52_BYTES];
		word32			len;
		unsigned long		before;
		int			r;

		if (load(&l.soft, keys[i], INVALID_DEVID) != 0 ||
		    mp_to_unsigned_bin_len(&l.soft.n, l.n, sizeof(l.n)) != 0 ||
		    mp_to_unsigned_bin_len(&l.soft.p, l.p, 128) != 0 ||
		    mp_to_unsigned_bin_len(&l.soft.q, l.q, 128) != 0 ||
		    mp_to_unsigned_bin_len(&l.soft.dP, dp, 128) != 0 ||
		    mp_to_unsigned_bin_len(&l.soft.dQ, dq, 128) != 0) {
			printf("not ok - key %d loads\n", i);
			t_failed++;
			continue;
		}
		T_OK(tls_rsa_key(&k, &l.soft) == 0, "key %d: prepared", i);
		T_OK(compare(&k, &l, &rng) == 0,
		    "key %d: %d inputs give wolfSSL's result", i,
		    7 + RANDOM_INPUTS);

		/* The same key with p and q exchanged (p < q): qInv becomes
		 * p^-1 mod q. */
		mp_init(&pinv);
		r = mp_invmod(&l.soft.p, &l.soft.q, &pinv) == 0 &&
		    mp_to_unsigned_bin_len(&pinv, pi, 128) == 0 &&
		    rsa52_key_init(&k, l.n, l.q, l.p, dq, dp, pi) == 0;
		mp_clear(&pinv);
		T_OK(r && compare(&k, &l, &rng) == 0,
		    "key %d, primes exchanged: the same results", i);

		/* Through wolfSSL with the device: PKCS #1 v1.5 signatures
		 * are deterministic, so equal to the software's; a PSS one
		 * verifies with the software key; decryption stays
		 * wolfSSL's. */
		memset(msg, 0x5a, sizeof(msg));
		T_OK(load(&dev, keys[i], devid) == 0, "key %d on the device",
		    i);
		before = tls_rsa_signed();
		r = wc_RsaSSL_Sign(msg, sizeof(msg), sig, sizeof(sig), &dev,
		    &rng);
		T_OK(r == RSA52_BYTES && tls_rsa_signed() == before + 1 &&
		    wc_RsaSSL_Sign(msg, sizeof(msg), want, sizeof(want),
		    &l.soft, &rng) == RSA52_BYTES &&
		    memcmp(sig, want, sizeof(sig)) == 0,
		    "key %d: PKCS #1 v1.5 signature by the device equals "
		    "wolfSSL's", i);
		r = wc_RsaPSS_Sign(msg, sizeof(msg), sig, sizeof(sig),
		    WC_HASH_TYPE_SHA256, WC_MGF1SHA256, &dev, &rng);
		T_OK(r == RSA52_BYTES && tls_rsa_signed() == before + 2,
		    "key %d: PSS signature made by the device", i);
		r = wc_RsaPSS_Verify(sig, RSA52_BYTES, out, sizeof(out),
		    WC_HASH_TYPE_SHA256, WC_MGF1SHA256, &l.soft);
		T_OK(r > 0 && wc_RsaPSS_CheckPadding(msg, sizeof(msg), out,
		    (word32)r, WC_HASH_TYPE_SHA256) == 0,
		    "key %d: wolfSSL verifies the device's PSS signature", i);
		len = sizeof(out);
		r = wc_RsaFunction(want, RSA52_BYTES, out, &len,
		    RSA_PRIVATE_DECRYPT, &dev, &rng);
		T_OK(tls_rsa_signed() == before + 2,
		    "key %d: decryption is not the device's", i);
		(void)r;
		wc_FreeRsaKey(&dev);
		wc_FreeRsaKey(&l.soft);
	}
	/* Another size stays with wolfSSL, through the device id too. */
	{
		RsaKey		small, dev;
		static struct rsa52_key	k;
		uint8_t		msg[32], sig[128], out[128];
		unsigned long	before;
		int		r;

		memset(msg, 0xa5, sizeof(msg));
		r = load(&small, key1024, INVALID_DEVID) == 0 &&
		    load(&dev, key1024, devid) == 0;
		T_OK(r && tls_rsa_key(&k, &small) == -1,
		    "a 1024-bit key is not prepared");
		before = tls_rsa_signed();
		T_OK(r && wc_RsaSSL_Sign(msg, sizeof(msg), sig, sizeof(sig),
		    &dev, &rng) == (int)sizeof(sig) &&
		    tls_rsa_signed() == before &&
		    wc_RsaSSL_Verify(sig, sizeof(sig), out, sizeof(out),
		    &small) == (int)sizeof(msg) &&
		    memcmp(out, msg, sizeof(msg)) == 0,
		    "a 1024-bit key on the device id: wolfSSL signs, and it "
		    "verifies");
		wc_FreeRsaKey(&small);
		wc_FreeRsaKey(&dev);
	}

	if (mkdtemp(dir) == NULL) {
		printf("not ok - a temporary directory\n");
		t_failed++;
	} else {
		server_contexts(dir, 0);
		server_contexts(dir, 1);
		for (i = 0; i < 4; i++) {
			char	path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/%s", dir,
			    (const char *[]){ "r.pem", "r.key", "e.pem",
			    "e.key" }[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	wc_FreeRng(&rng);
	tls_global_cleanup();
	return T_DONE();
}

/*
 * RSA-2048 private-key operation on AVX-512 IFMA (rsa52.h).
 *
 * Numbers below 2^1040 are held as twenty 52-bit limbs, little-endian,
 * padded with zeros to 24 so that three 8-lane vectors hold one.  The
 * Montgomery radix is R = 2^1040.  A 1024-bit prime p is at least 2^1023,
 * so R is more than 2^16 p, and "almost Montgomery" multiplication,
 * which never subtracts p at the end, keeps every value below 2p:
 * amm(x, y) = (x y + m p) / R < x y / R + p, which is below 2p whenever
 * x y < p R, and x, y < 4p is far inside that.  The only subtractions are
 * the constant-time ones at the end of each exponentiation.
 *
 * amm() adds limb products with vpmadd52luq/vpmadd52huq (the low and the
 * high 52 bits of 52 x 52-bit products) into 64-bit lanes, one limb of y
 * per round, and shifts the accumulator down by one lane per round after
 * adding the multiple of p that clears its lowest limb.  Lanes gain at
 * most four 52-bit terms and a carry per round, under 2^60 after twenty
 * rounds, so nothing overflows before the carries are propagated once at
 * the end.  Each round waits on the previous one (the multiple of p
 * depends on the lowest lane), so the two CRT halves, which do not
 * depend on each other, are computed in the same rounds: while one waits,
 * the other runs.
 *
 * Exponents are taken in fixed windows of five bits, from a table of 32
 * powers read whole for every window (every entry is loaded and the
 * wanted one kept by a mask), so neither the exponent's bits nor the
 * input decide a branch or an address.
 */
#include <stdint.h>
#include <string.h>

#include "rsa52.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define MASK52		((UINT64_C(1) << 52) - 1)
#define L		RSA52_LIMBS
#define VL		RSA52_VLIMBS
#define WIN		5
#define TABLE		(1 << WIN)
#define EXP_BITS	1024
/* windows from the top: 1025 bits rounded up to a multiple of WIN */
#define TOP_WINDOW	((EXP_BITS + WIN - 1) / WIN * WIN - WIN)

#define IFMA	__attribute__((target("avx512f,avx512ifma")))
#define IFMA_INLINE IFMA static inline __attribute__((always_inline))

typedef uint64_t	num[VL] __attribute__((aligned(64)));

int
rsa52_usable(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512ifma");
}

/* Big-endian bytes to nl limbs. */
static void
be_to_limbs(uint64_t *l, int nl, const uint8_t *be, size_t len)
{
	uint64_t	acc = 0;
	int		bits = 0, j = 0;
	size_t		i;

	memset(l, 0, (size_t)nl * sizeof(*l));
	for (i = len; i-- > 0;) {
		acc |= (uint64_t)be[i] << bits;
		bits += 8;
		if (bits >= 52) {
			if (j < nl)
				l[j++] = acc & MASK52;
			acc >>= 52;
			bits -= 52;
		}
	}
	if (bits > 0 && j < nl)
		l[j] = acc;
}

/* nl normalised limbs to len big-endian bytes. */
static void
limbs_to_be(uint8_t *be, size_t len, const uint64_t *l, int nl)
{
	uint64_t	acc = 0;
	int		bits = 0, j = 0;
	size_t		i;

	for (i = len; i-- > 0;) {
		if (bits < 8) {
			acc |= (j < nl ? l[j++] : 0) << bits;
			bits += 52;
		}
		be[i] = (uint8_t)acc;
		acc >>= 8;
		bits -= 8;
	}
}

/* 128 big-endian bytes to sixteen 64-bit words, little-endian. */
static void
be_to_words(uint64_t *w, const uint8_t *be)
{
	int	i, j;

	for (i = 0; i < 16; i++) {
		w[i] = 0;
		for (j = 0; j < 8; j++)
			w[i] |= (uint64_t)be[127 - 8 * i - j] << (8 * j);
	}
}

/* x = x - m when x >= m, in constant time; x < 2^1040, normalised. */
static void
sub_if_ge(uint64_t *x, const uint64_t *m)
{
	uint64_t	d[L], v, borrow = 0, keep;
	int		j;

	for (j = 0; j < L; j++) {
		v = x[j] - m[j] - borrow;
		d[j] = v & MASK52;
		borrow = v >> 63;
	}
	keep = borrow - 1;		/* all ones when x >= m */
	for (j = 0; j < L; j++)
		x[j] = (d[j] & keep) | (x[j] & ~keep);
}

/* x += y, both normalised, the sum below 2^1040. */
static void
add_into(uint64_t *x, const uint64_t *y)
{
	uint64_t	carry = 0;
	int		j;

	for (j = 0; j < L; j++) {
		x[j] += y[j] + carry;
		carry = x[j] >> 52;
		x[j] &= MASK52;
	}
}

/* A number in three 8-lane vectors. */
struct v3 {
	__m512i	v0, v1, v2;
};

IFMA_INLINE struct v3
v3_load(const uint64_t *x)
{
	struct v3	r;

	r.v0 = _mm512_load_si512((const void *)x);
	r.v1 = _mm512_load_si512((const void *)(x + 8));
	r.v2 = _mm512_load_si512((const void *)(x + 16));
	return r;
}

/* c += the low (lo) or high (hi) 52 bits of each limb of a times b. */
IFMA_INLINE void
v3_madd52lo(struct v3 *c, const struct v3 *a, __m512i b)
{
	c->v0 = _mm512_madd52lo_epu64(c->v0, a->v0, b);
	c->v1 = _mm512_madd52lo_epu64(c->v1, a->v1, b);
	c->v2 = _mm512_madd52lo_epu64(c->v2, a->v2, b);
}

IFMA_INLINE void
v3_madd52hi(struct v3 *c, const struct v3 *a, __m512i b)
{
	c->v0 = _mm512_madd52hi_epu64(c->v0, a->v0, b);
	c->v1 = _mm512_madd52hi_epu64(c->v1, a->v1, b);
	c->v2 = _mm512_madd52hi_epu64(c->v2, a->v2, b);
}

/* One round of amm() for one operand: c += x y_i + m p, then c /= 2^52. */
IFMA_INLINE void
amm_round(struct v3 *c, const struct v3 *x, const struct v3 *p,
    uint64_t xlow, uint64_t plow, uint64_t yi, uint64_t k0)
{
	__m512i		y = _mm512_set1_epi64((long long)yi), m;
	uint64_t	t, mi, carry;

	/* The lowest lane after the low halves of x y_i are added, the
	 * multiple of p that clears its low 52 bits, and what is left
	 * above them: worked out in scalar registers, alongside. */
	t = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(c->v0)) +
	    ((xlow * yi) & MASK52);
	mi = (t * k0) & MASK52;
	carry = (t + ((plow * mi) & MASK52)) >> 52;
	m = _mm512_set1_epi64((long long)mi);

	v3_madd52lo(c, x, y);
	v3_madd52lo(c, p, m);

	/* Drop the cleared lowest lane; its carry goes into the next. */
	c->v0 = _mm512_alignr_epi64(c->v1, c->v0, 1);
	c->v1 = _mm512_alignr_epi64(c->v2, c->v1, 1);
	c->v2 = _mm512_alignr_epi64(_mm512_setzero_si512(), c->v2, 1);
	c->v0 = _mm512_add_epi64(c->v0, _mm512_maskz_set1_epi64(1,
	    (long long)carry));

	/* The high halves weigh one limb more: after the shift, the same
	 * lanes. */
	v3_madd52hi(c, x, y);
	v3_madd52hi(c, p, m);
}

/* Propagate the carries of an accumulator into r; r < 2^1040. */
IFMA_INLINE void
amm_store(uint64_t *r, const struct v3 *c)
{
	num		t;
	uint64_t	v, carry = 0;
	int		j;

	_mm512_store_si512((void *)t, c->v0);
	_mm512_store_si512((void *)(t + 8), c->v1);
	_mm512_store_si512((void *)(t + 16), c->v2);
	for (j = 0; j < L; j++) {
		v = t[j] + carry;
		r[j] = v & MASK52;
		carry = v >> 52;
	}
	for (; j < VL; j++)
		r[j] = 0;
}

/*
 * ra = xa ya / R mod pa and rb = xb yb / R mod pb (below 2pa and 2pb),
 * in the same rounds.  The results may overwrite the inputs.
 */
IFMA static void
amm2(uint64_t *ra, const uint64_t *xa, const uint64_t *ya,
    const struct rsa52_prime *pa, uint64_t *rb, const uint64_t *xb,
    const uint64_t *yb, const struct rsa52_prime *pb)
{
	struct v3	vxa = v3_load(xa), vpa = v3_load(pa->m);
	struct v3	vxb = v3_load(xb), vpb = v3_load(pb->m);
	struct v3	ca, cb;
	int		i;

	ca.v0 = ca.v1 = ca.v2 = _mm512_setzero_si512();
	cb = ca;
	for (i = 0; i < L; i++) {
		amm_round(&ca, &vxa, &vpa, xa[0], pa->m[0], ya[i], pa->k0);
		amm_round(&cb, &vxb, &vpb, xb[0], pb->m[0], yb[i], pb->k0);
	}
	amm_store(ra, &ca);
	amm_store(rb, &cb);
}

/* r = tab[idx], reading every entry. */
IFMA static void
table_get(uint64_t *r, const num *tab, unsigned idx)
{
	__m512i		want = _mm512_set1_epi64(idx);
	__m512i		r0 = _mm512_setzero_si512(), r1 = r0, r2 = r0;
	__mmask8	k;
	int		j;

	for (j = 0; j < TABLE; j++) {
		k = _mm512_cmpeq_epi64_mask(want, _mm512_set1_epi64(j));
		r0 = _mm512_mask_mov_epi64(r0, k,
		    _mm512_load_si512((const void *)tab[j]));
		r1 = _mm512_mask_mov_epi64(r1, k,
		    _mm512_load_si512((const void *)(tab[j] + 8)));
		r2 = _mm512_mask_mov_epi64(r2, k,
		    _mm512_load_si512((const void *)(tab[j] + 16)));
	}
	_mm512_store_si512((void *)r, r0);
	_mm512_store_si512((void *)(r + 8), r1);
	_mm512_store_si512((void *)(r + 16), r2);
}

/* The WIN exponent bits from bit pos up; pos is public. */
static unsigned
window(const uint64_t *e, int pos)
{
	int		w = pos / 64, b = pos % 64;
	uint64_t	v = e[w] >> b;

	if (b > 64 - WIN && w + 1 < EXP_BITS / 64)
		v |= e[w + 1] << (64 - b);
	return (unsigned)(v & (TABLE - 1));
}

/*
 * ra = ba^ea mod pa and rb = bb^eb mod pb, fully reduced and out of
 * Montgomery form; ba, bb are in Montgomery form, below 4pa and 4pb.
 */
IFMA static void
modexp2(uint64_t *ra, const uint64_t *ba, const struct rsa52_prime *pa,
    uint64_t *rb, const uint64_t *bb, const struct rsa52_prime *pb)
{
	static const num one = { 1 };
	struct {
		num	ta[TABLE], tb[TABLE], xa, xb, ya, yb;
	}	w;
	int	j, pos;

	amm2(w.ta[0], one, pa->rr, pa, w.tb[0], one, pb->rr, pb);	/* R */
	memcpy(w.ta[1], ba, sizeof(w.ta[1]));
	memcpy(w.tb[1], bb, sizeof(w.tb[1]));
	for (j = 2; j < TABLE; j++)
		amm2(w.ta[j], w.ta[j - 1], w.ta[1], pa,
		    w.tb[j], w.tb[j - 1], w.tb[1], pb);

	table_get(w.xa, w.ta, window(pa->e, TOP_WINDOW));
	table_get(w.xb, w.tb, window(pb->e, TOP_WINDOW));
	for (pos = TOP_WINDOW - WIN; pos >= 0; pos -= WIN) {
		for (j = 0; j < WIN; j++)
			amm2(w.xa, w.xa, w.xa, pa, w.xb, w.xb, w.xb, pb);
		table_get(w.ya, w.ta, window(pa->e, pos));
		table_get(w.yb, w.tb, window(pb->e, pos));
		amm2(w.xa, w.xa, w.ya, pa, w.xb, w.xb, w.yb, pb);
	}
	amm2(ra, w.xa, one, pa, rb, w.xb, one, pb);
	sub_if_ge(ra, pa->m);
	sub_if_ge(rb, pb->m);

	explicit_bzero(&w, sizeof(w));
}

/* -m^-1 mod 2^52 for odd m, by Newton's iteration (3 bits, doubling). */
static uint64_t
neg_inverse(uint64_t m)
{
	uint64_t	x = m;
	int		i;

	for (i = 0; i < 5; i++)
		x *= 2 - m * x;
	return (0 - x) & MASK52;
}

IFMA static int
prime_init(struct rsa52_prime *pr, const uint8_t *p, const uint8_t *e)
{
	int		i, j;
	uint64_t	v, carry;

	if ((p[0] & 0x80) == 0 || (p[127] & 1) == 0)
		return -1;
	memset(pr, 0, sizeof(*pr));
	be_to_limbs(pr->m, L, p, 128);
	be_to_words(pr->e, e);
	pr->k0 = neg_inverse(pr->m[0]);

	/* R^2 = 2^2080 mod p: 2^1023 (below p) doubled 1057 times, p taken
	 * off in constant time whenever it fits. */
	pr->rr[1023 / 52] = UINT64_C(1) << (1023 % 52);
	for (i = 0; i < 2 * 1040 - 1023; i++) {
		carry = 0;
		for (j = 0; j < L; j++) {
			v = (pr->rr[j] << 1) | carry;
			carry = v >> 52;
			pr->rr[j] = v & MASK52;
		}
		sub_if_ge(pr->rr, pr->m);
	}
	/* R^3 = R^2 R^2 / R; it serves as amm()'s other input only. */
	amm2(pr->rrr, pr->rr, pr->rr, pr, pr->rrr, pr->rr, pr->rr, pr);
	return 0;
}

IFMA int
rsa52_key_init(struct rsa52_key *k, const uint8_t *n, const uint8_t *p,
    const uint8_t *q, const uint8_t *dp, const uint8_t *dq,
    const uint8_t *qinv)
{
	num	u;

	memset(k, 0, sizeof(*k));
	if (prime_init(&k->p, p, dp) == -1 || prime_init(&k->q, q, dq) == -1)
		return -1;
	be_to_limbs(u, L, qinv, 128);
	u[L] = u[L + 1] = u[L + 2] = u[L + 3] = 0;
	amm2(k->ur, u, k->p.rr, &k->p, k->ur, u, k->p.rr, &k->p);
	memcpy(k->n, n, RSA52_BYTES);
	explicit_bzero(u, sizeof(u));
	return 0;
}

IFMA void
rsa52_private(const struct rsa52_key *k, const uint8_t *in, uint8_t *out)
{
	struct {
		uint64_t		c[2 * L];
		num			lo, hi, bp, bq, sp, sq, m1, m2, h;
		unsigned __int128	acc[2 * L];
	}			w;
	unsigned __int128	v;
	int64_t			sv, scarry;
	int			i, j;

	/* c = hi 2^1040 + lo; into Montgomery form mod each prime as
	 * lo R^2 / R + hi R^3 / R = c R, below 4p. */
	be_to_limbs(w.c, 2 * L, in, RSA52_BYTES);
	memset(w.lo, 0, sizeof(w.lo));
	memset(w.hi, 0, sizeof(w.hi));
	memcpy(w.lo, w.c, L * sizeof(*w.c));
	memcpy(w.hi, w.c + L, L * sizeof(*w.c));
	amm2(w.bp, w.lo, k->p.rr, &k->p, w.bq, w.lo, k->q.rr, &k->q);
	amm2(w.sp, w.hi, k->p.rrr, &k->p, w.sq, w.hi, k->q.rrr, &k->q);
	add_into(w.bp, w.sp);
	add_into(w.bq, w.sq);

	modexp2(w.m1, w.bp, &k->p, w.m2, w.bq, &k->q);

	/* h = (m1 - m2) qInv mod p, from m1 + 2p - m2, which is positive
	 * (m2 < q < 2^1024 <= 2p) and below 3p. */
	scarry = 0;
	for (j = 0; j < L; j++) {
		sv = (int64_t)w.m1[j] + 2 * (int64_t)k->p.m[j] -
		    (int64_t)w.m2[j] + scarry;
		w.h[j] = (uint64_t)sv & MASK52;
		scarry = sv >> 52;
	}
	for (; j < VL; j++)
		w.h[j] = 0;
	amm2(w.h, w.h, k->ur, &k->p, w.sp, w.h, k->ur, &k->p);
	sub_if_ge(w.h, k->p.m);

	/* m = m2 + h q, below n. */
	memset(w.acc, 0, sizeof(w.acc));
	for (i = 0; i < L; i++)
		for (j = 0; j < L; j++)
			w.acc[i + j] += (unsigned __int128)w.h[i] * k->q.m[j];
	for (j = 0; j < L; j++)
		w.acc[j] += w.m2[j];
	v = 0;
	for (j = 0; j < 2 * L; j++) {
		v += w.acc[j];
		w.c[j] = (uint64_t)v & MASK52;
		v >>= 52;
	}
	limbs_to_be(out, RSA52_BYTES, w.c, 2 * L);

	explicit_bzero(&w, sizeof(w));
}

#else	/* not x86-64 */

int
rsa52_usable(void)
{
	return 0;
}

int
rsa52_key_init(struct rsa52_key *k, const uint8_t *n, const uint8_t *p,
    const uint8_t *q, const uint8_t *dp, const uint8_t *dq,
    const uint8_t *qinv)
{
	return -1;
}

void
rsa52_private(const struct rsa52_key *k, const uint8_t *in, uint8_t *out)
{
	memset(out, 0, RSA52_BYTES);
}

#endif

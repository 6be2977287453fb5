/*
 * Minimal TAP-style checks for the unit tests.  Each check prints
 * "ok - name" or "not ok - name"; test-harness/run.sh counts them.
 */
#ifndef T_H
#define T_H

#include <stdio.h>
#include <string.h>

static int t_failed;

#define T_OK(cond, ...) do {						\
	int t_ok_ = (cond) ? 1 : 0;	/* evaluated once */		\
	if (t_ok_) {							\
		printf("ok - ");					\
	} else {							\
		printf("not ok - ");					\
		t_failed++;						\
	}								\
	printf(__VA_ARGS__);						\
	if (!t_ok_)							\
		printf("  (%s:%d: %s)", __FILE__, __LINE__, #cond);	\
	printf("\n");							\
} while (0)

#define T_STREQ(got, want, ...) do {					\
	const char *t_g_ = (got), *t_w_ = (want);			\
	int t_eq_ = t_g_ != NULL && t_w_ != NULL && strcmp(t_g_, t_w_) == 0; \
	T_OK(t_eq_, __VA_ARGS__);					\
	if (!t_eq_)							\
		printf("#   got:  \"%s\"\n#   want: \"%s\"\n",		\
		    t_g_ ? t_g_ : "(null)", t_w_ ? t_w_ : "(null)");	\
} while (0)

#define T_DONE() (t_failed ? 1 : 0)

#endif

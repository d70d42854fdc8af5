/*
 * check — the tests' tiny harness (header-only: every test program has its
 * own counters).
 *
 * A test file defines test functions, lists them in main() with RUN(), and
 * returns check_summary(). CHECK* macros record failures and keep going, so
 * one run reports every broken assertion. Exit codes follow meson: 0 pass,
 * 1 fail, 77 skip (used when ../shared/assets is absent).
 *
 * A test that checks nothing cannot fail, so it fails: a RUN() function
 * that made no CHECK fails unless it called check_skip() to say why it had
 * nothing to check (e.g. an optional asset is absent), and a program that
 * made no CHECK at all fails too (or exits 77 when everything it ran
 * skipped on purpose).
 *
 * The counters are static, so only the test's own files may CHECK: code in
 * the support library (libadalora_test_support) reports through return
 * values, which the test CHECKs.
 */
#ifndef ADA_TESTS_CHECK_H
#define ADA_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int check_failures;
static int check_count;
static int check_skips;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_MSG(cond, ...) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#define CHECK_INT_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	check_count++; \
	if (_a != _b) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
			__FILE__, __LINE__, #a, #b, _a, _b); \
	} \
} while (0)

#define CHECK_STR_EQ(a, b) do { \
	const char *_a = (a), *_b = (b); \
	check_count++; \
	if (!_a || !_b || strcmp(_a, _b)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", \
			__FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
	} \
} while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol) do { \
	double _a = (double)(a), _b = (double)(b), _t = (double)(tol); \
	check_count++; \
	if (!(fabs(_a - _b) <= _t)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s ~ %s failed: %.10g vs %.10g (tol %g)\n", \
			__FILE__, __LINE__, #a, #b, _a, _b, _t); \
	} \
} while (0)

/* An expression returning an ada code must succeed; print the error otherwise. */
#define CHECK_OK(expr, errp) do { \
	int _rc = (expr); \
	const struct ada_err *_e = (errp); \
	check_count++; \
	if (_rc != 0) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, \
			#expr, _rc, _e ? _e->msg : ""); \
	} \
} while (0)

/* This test function has nothing to check, on purpose (say why). */
static inline void check_skip(const char *why)
{
	check_skips++;
	fprintf(stderr, "skip: %s\n", why);
}

/* ADALORA_TEST_ONLY=name runs that one RUN() function (main()'s setup
 * still runs): no function may need another to have run first. */
static inline int check_selected(const char *name)
{
	const char *only = getenv("ADALORA_TEST_ONLY");

	return !only || !*only || !strcmp(only, name);
}

/* Every RUN() function runs (no ADALORA_TEST_ONLY): for a check over the
 * whole program's work. */
static inline int check_running_all(void)
{
	const char *only = getenv("ADALORA_TEST_ONLY");

	return !only || !*only;
}

#define RUN(fn) do { \
	int _failed = check_failures, _count = check_count, _skips = check_skips; \
	if (!check_selected(#fn)) \
		break; \
	fn(); \
	if (check_count == _count && check_skips == _skips) { \
		check_failures++; \
		fprintf(stderr, "%s: ran no checks (and did not call check_skip)\n", #fn); \
	} \
	fprintf(stderr, "%s %s\n", check_failures != _failed ? "FAIL" : \
		check_count == _count ? "skip" : "ok  ", #fn); \
} while (0)

static inline int check_summary(void)
{
	fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
	if (check_failures)
		return 1;
	if (check_count == 0 && check_skips > 0) {
		fprintf(stderr, "SKIP: every test skipped\n");
		return 77;
	}
	if (check_count == 0) {
		fprintf(stderr, "FAIL: the program ran no checks\n");
		return 1;
	}
	return 0;
}

/* The shared assets directory (env ADALORA_ASSETS, else ../shared/assets
 * relative to the source root passed by meson), or NULL when absent. */
static inline const char *check_assets(void)
{
	static char buf[4096];
	const char *env = getenv("ADALORA_ASSETS");
	struct stat st;

	if (env && *env) {
		snprintf(buf, sizeof(buf), "%s", env);
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
			return buf;
	}
	return NULL;
}

/* Skip the whole test program (exit 77) unless the assets are present. */
static inline const char *check_require_assets(const char *what)
{
	const char *a = check_assets();

	if (!a) {
		fprintf(stderr, "SKIP: %s needs ../shared/assets (set ADALORA_ASSETS); not found\n",
			what);
		exit(77);
	}
	return a;
}

/* assets/rel, in one of eight rotating buffers (for tests that required the
 * assets first). */
static inline const char *check_asset(const char *rel)
{
	static char buf[8][4096];
	static int next;
	const char *a = check_assets();
	char *p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", a ? a : "(no assets)", rel);
	return p;
}

/* A fresh scratch directory under the build tree (or /tmp); caller frees. */
static inline char *check_tmpdir(const char *name)
{
	const char *base = getenv("ADALORA_TEST_TMP");
	char *p = malloc(4096);

	snprintf(p, 4096, "%s/%s-XXXXXX", base && *base ? base : "/tmp", name);
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		exit(1);
	}
	return p;
}

#endif

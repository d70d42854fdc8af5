/* Tests of util/: growable arrays (ALLOC_GROW), the string buffer and the
 * owned-buffer list. */
#include "check.h"

#include <stdint.h>

#include "util/alloc.h"
#include "util/strbuf.h"

static void test_alloc_grow(void)
{
	int *v = NULL;
	size_t cap = 0, grows = 0, last_cap = 0;

	for (size_t n = 0; n < 100000; n++) {
		if (ALLOC_GROW(v, n + 1, cap)) {
			CHECK_MSG(0, "ALLOC_GROW failed at %zu", n);
			break;
		}
		v[n] = (int)n;
		if (cap != last_cap)
			grows++;
		last_cap = cap;
	}
	CHECK(cap >= 100000);
	CHECK_MSG(grows < 40, "%zu reallocations for 100000 appends", grows);
	CHECK(v[99999] == 99999 && v[12345] == 12345);
	/* A size that overflows leaves the array as it was. */
	{
		int *before = v;
		size_t cap_before = cap;
		CHECK_INT_EQ(ALLOC_GROW(v, SIZE_MAX / 2, cap), -1);
		CHECK(v == before && cap == cap_before);
	}
	free(v);
}

static void test_strbuf(void)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len;
	char *s;

	CHECK_INT_EQ(strbuf_addstr(&sb, "step"), 0);
	CHECK_INT_EQ(strbuf_addf(&sb, " %d/%d", 3, 10), 0);
	CHECK_INT_EQ(strbuf_addch(&sb, '!'), 0);
	CHECK_STR_EQ(sb.p, "step 3/10!");
	CHECK_INT_EQ(sb.n, 10);
	for (int i = 0; i < 10000; i++)
		strbuf_addf(&sb, "%04d", i);
	CHECK_INT_EQ(sb.n, 10 + 40000);
	CHECK(!memcmp(sb.p + sb.n - 4, "9999", 5));   /* and its NUL */
	strbuf_reset(&sb);
	CHECK(sb.n == 0 && sb.p[0] == '\0');
	/* Failure is sticky: a reservation that cannot be met stops every add. */
	CHECK_INT_EQ(strbuf_reserve(&sb, SIZE_MAX - 4), -1);
	CHECK(sb.failed);
	CHECK_INT_EQ(strbuf_addstr(&sb, "x"), -1);
	CHECK(strbuf_detach(&sb, NULL) == NULL);      /* and frees the buffer */
	CHECK(sb.p == NULL && !sb.failed);
	/* An empty buffer detaches as "". */
	s = strbuf_detach(&sb, &len);
	CHECK(s && !*s && len == 0);
	free(s);
	strbuf_release(&sb);
}

static void test_owned_bufs(void)
{
	struct owned_bufs ob = { 0 };

	for (int i = 0; i < 100; i++)
		CHECK(owned_bufs_take(&ob, malloc(16)) != NULL);
	CHECK(owned_bufs_take(&ob, NULL) == NULL);   /* a failed allocation stays failed */
	CHECK_INT_EQ(ob.n, 100);
	owned_bufs_free(&ob);                        /* LeakSanitizer checks the rest */
	CHECK(ob.n == 0 && ob.v == NULL);
}

int main(void)
{
	RUN(test_alloc_grow);
	RUN(test_strbuf);
	RUN(test_owned_bufs);
	return check_summary();
}

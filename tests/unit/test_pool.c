/*
 * Tests of util/pool.c: every task runs exactly once on a thread in range,
 * pieces of pool_for() do not depend on the thread count, regions inside
 * tasks run inline, the caller's floating-point mode reaches the helpers,
 * many tiny regions in a row (lost wake-ups would hang here), sleeping
 * helpers (meson runs it with OMP_WAIT_POLICY=passive, and again spinning)
 * and pools of threads that exit.
 *
 * CHECK is not thread-safe: tasks record into arrays and atomics, the main
 * thread checks.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "util/pool.h"

#define MAX_TASKS 5000

struct record {
	_Atomic int runs[MAX_TASKS];
	_Atomic int bad_thread;
	_Atomic int not_in_task;
	int max_threads;
};

static void record_task(void *arg, long t, int thread)
{
	struct record *r = arg;

	atomic_fetch_add(&r->runs[t], 1);
	if (thread < 0 || thread >= r->max_threads || thread != pool_thread_index())
		atomic_store(&r->bad_thread, 1);
	if (!pool_in_task())
		atomic_store(&r->not_in_task, 1);
}

static void test_every_task_once(void)
{
	static struct record r;
	const long counts[] = { 1, 2, 3, 7, 64, 1000, MAX_TASKS };
	int saved = pool_threads();

	for (int threads = 1; threads <= 4; threads++) {
		pool_set_threads(threads);
		CHECK_INT_EQ(pool_threads(), threads);
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
			for (int cap = 0; cap <= 2; cap++) {
				long n = counts[c];
				int ok = 1;

				memset(&r, 0, sizeof(r));
				r.max_threads = cap > 0 && cap < threads ? cap : threads;
				pool_run(n, cap, record_task, &r);
				for (long t = 0; t < n; t++)
					ok &= atomic_load(&r.runs[t]) == 1;
				for (long t = n; t < MAX_TASKS; t++)
					ok &= atomic_load(&r.runs[t]) == 0;
				CHECK_MSG(ok, "%d threads, cap %d, %ld tasks: a task ran other than once",
					  threads, cap, n);
				CHECK(!atomic_load(&r.bad_thread));
				CHECK(!atomic_load(&r.not_in_task));
			}
	}
	CHECK(!pool_in_task());
	CHECK_INT_EQ(pool_thread_index(), 0);
	pool_set_threads(saved);
}

/* pool_for's pieces: recorded as (lo, hi) per piece index. */
struct pieces {
	long lo[MAX_TASKS], hi[MAX_TASKS];
	long grain;
};

static void piece(void *arg, long lo, long hi, int thread)
{
	struct pieces *p = arg;
	long i = lo / p->grain;

	(void)thread;
	p->lo[i] = lo;
	p->hi[i] = hi;
}

static void test_pieces_fixed(void)
{
	static struct pieces one, four;
	const long n = 10007, grain = 13;
	int saved = pool_threads();

	memset(&one, 0, sizeof(one));
	memset(&four, 0, sizeof(four));
	one.grain = four.grain = grain;
	pool_set_threads(1);
	pool_for(n, grain, piece, &one);
	pool_set_threads(4);
	pool_for(n, grain, piece, &four);
	CHECK(!memcmp(&one, &four, sizeof(one)));
	for (long i = 0; i * grain < n; i++) {
		CHECK_INT_EQ(four.lo[i], i * grain);
		CHECK_INT_EQ(four.hi[i], (i + 1) * grain < n ? (i + 1) * grain : n);
	}
	/* n <= grain: one piece, on the caller */
	memset(&four, 0, sizeof(four));
	four.grain = 100;
	pool_for(100, 100, piece, &four);
	CHECK(four.lo[0] == 0 && four.hi[0] == 100);
	pool_set_threads(saved);
}

/* A region started inside a task runs inline on the task's thread. */
struct nested {
	_Atomic int inner_runs;
	_Atomic int wrong_thread;
};

struct inner_arg {
	struct nested *n;
	int outer_thread;
};

static void inner_task(void *arg, long t, int thread)
{
	struct inner_arg *a = arg;

	(void)t;
	atomic_fetch_add(&a->n->inner_runs, 1);
	if (thread != a->outer_thread)
		atomic_store(&a->n->wrong_thread, 1);
}

static void outer_task(void *arg, long t, int thread)
{
	struct inner_arg a = { arg, thread };

	(void)t;
	pool_run(10, 0, inner_task, &a);
}

static void test_nested_inline(void)
{
	struct nested n = { 0, 0 };
	int saved = pool_threads();

	pool_set_threads(3);
	pool_run(20, 0, outer_task, &n);
	CHECK_INT_EQ(atomic_load(&n.inner_runs), 200);
	CHECK(!atomic_load(&n.wrong_thread));
	pool_set_threads(saved);
}

#if defined(__SSE__)
struct fp_seen {
	_Atomic int mismatch;
	unsigned want;
};

static void fp_task(void *arg, long t, int thread)
{
	struct fp_seen *s = arg;

	(void)t;
	(void)thread;
	if ((_mm_getcsr() & ~0x3fu) != s->want)
		atomic_store(&s->mismatch, 1);
}
#endif

/* Flush-to-zero set in the caller holds in every task, and is undone in
 * the helpers when the caller clears it. */
static void test_fp_mode_follows_caller(void)
{
#if defined(__SSE__)
	struct fp_seen s = { 0, 0 };
	unsigned orig = _mm_getcsr();
	int saved = pool_threads();

	pool_set_threads(4);
	for (int round = 0; round < 4; round++) {
		if (round % 2)
			_mm_setcsr(orig | 0x8040);   /* FTZ and DAZ */
		else
			_mm_setcsr(orig & ~0x8040u);
		s.want = _mm_getcsr() & ~0x3fu;
		atomic_store(&s.mismatch, 0);
		pool_run(400, 0, fp_task, &s);
		CHECK_MSG(!atomic_load(&s.mismatch), "round %d: a task ran in another FP mode", round);
	}
	_mm_setcsr(orig);
	pool_set_threads(saved);
#else
	check_skip("no SSE control register on this machine");
#endif
}

struct sum_arg {
	_Atomic long sum;
};

static void add_task(void *arg, long t, int thread)
{
	struct sum_arg *s = arg;

	(void)thread;
	atomic_fetch_add(&s->sum, t + 1);
}

/* 100000 regions of 1-3 tasks: a lost wake-up or a task taken by a helper
 * still on an old region would hang or miscount. */
static void test_many_tiny_regions(void)
{
	struct sum_arg s = { 0 };
	long want = 0;
	int saved = pool_threads();

	pool_set_threads(3);
	for (long i = 0; i < 100000; i++) {
		long n = 1 + i % 3;
		pool_run(n, 0, add_task, &s);
		want += n * (n + 1) / 2;
	}
	CHECK_INT_EQ(atomic_load(&s.sum), want);
	pool_set_threads(saved);
}

/* A thread with a pool of its own that exits: its helpers are joined
 * (ASan's leak check sees the pool freed), and regions keep working. */
static void *thread_with_pool(void *arg)
{
	struct sum_arg *s = arg;

	pool_set_threads(2);
	for (int i = 0; i < 1000; i++)
		pool_run(4, 0, add_task, s);
	pool_set_threads(3);   /* a new count: the old pool stops */
	for (int i = 0; i < 1000; i++)
		pool_run(4, 0, add_task, s);
	return NULL;
}

static void test_pools_of_exiting_threads(void)
{
	struct sum_arg s = { 0 };

	for (int i = 0; i < 8; i++) {
		pthread_t th;
		CHECK_INT_EQ(pthread_create(&th, NULL, thread_with_pool, &s), 0);
		pthread_join(th, NULL);
	}
	CHECK_INT_EQ(atomic_load(&s.sum), 8L * 2000 * 10);
}

int main(void)
{
	RUN(test_every_task_once);
	RUN(test_pieces_fixed);
	RUN(test_nested_inline);
	RUN(test_fp_mode_follows_caller);
	RUN(test_many_tiny_regions);
	RUN(test_pools_of_exiting_threads);
	return check_summary();
}

/*
 * pool — a caller and its helper threads running regions of tasks; see
 * util/pool.h for why and for the waiting policy.
 *
 * One 64-bit word carries a region: its generation (high half) and how
 * many of its tasks are still unclaimed (low half). A thread claims one by
 * a compare-and-swap from (gen, r) to (gen, r - 1), r > 0: the check and
 * the claim are one atomic step, so a helper still holding an old
 * generation can never take a task of a newer region, nor one past the end
 * of its own. The region's task count, function and context are read only
 * after a successful claim: the region cannot end (nor the caller
 * overwrite them) while one of its tasks is claimed and not done. `done`
 * counts finished tasks; the caller returns when it reaches the count.
 *
 * Sleep and wake-up are futexes with the usual pairing: a sleeper counts
 * itself in, then re-checks the word it waits for; a waker changes the
 * word, then looks at the count (both sequentially consistent, so one of
 * the two sees the other).
 */
#include "util/pool.h"

#include <assert.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* More helpers than this are never started (a typo in OMP_NUM_THREADS
 * should not start a thousand threads). */
#define POOL_MAX_THREADS 256

struct helper {
	struct pool *pool;
	int index;
};

struct pool {
	int requested;               /* the thread count it was made for */
	int n_threads;               /* the caller + the helpers that started */
	pthread_t *threads;
	struct helper *helpers;
	_Atomic uint64_t state;      /* generation << 32 | tasks not yet claimed */
	_Atomic uint32_t wake_seq;   /* helpers sleep on it */
	_Atomic int sleepers;
	_Atomic uint32_t done;       /* tasks of the current region finished */
	_Atomic int caller_waiting;  /* the caller sleeps on done */
	_Atomic int stop;
	_Atomic uint32_t n_tasks;    /* of the current region */
	_Atomic int max_threads;     /* of the current region */
	/* The current region: written before its generation is published,
	 * read by a helper only after it has claimed one of its tasks. */
	pool_task_fn *fn;
	void *ctx;
	unsigned fp_control;         /* the caller's MXCSR, status flags masked */
	uint32_t gen;                /* the caller's count of regions */
};

static __thread struct pool *tls_pool;
static __thread int tls_threads;     /* 0: the default */
static __thread int tls_index;
static __thread int tls_in_task;

static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;
static int default_threads = 1;
static int64_t spin_ns;
static pthread_key_t pool_key;

static void pool_destroy(struct pool *p);

static void pool_key_destructor(void *arg)
{
	struct pool *p = arg;

	if (p && p == tls_pool)
		tls_pool = NULL;
	pool_destroy(p);
}

static int env_long(const char *name, long *out)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return 0;
	v = strtol(s, &end, 10);
	if (end == s)
		return 0;
	*out = v;
	return 1;
}

static void read_defaults(void)
{
	long v;
	const char *policy = getenv("OMP_WAIT_POLICY");
	cpu_set_t set;

	if (env_long("OMP_NUM_THREADS", &v) && v > 0) {
		default_threads = v < POOL_MAX_THREADS ? (int)v : POOL_MAX_THREADS;
	} else {
#ifdef _OPENMP
		int n = 0;
		if (!sched_getaffinity(0, sizeof(set), &set))
			n = CPU_COUNT(&set);
		if (n <= 0) {
			long c = sysconf(_SC_NPROCESSORS_ONLN);
			n = c > 0 ? (int)c : 1;
		}
		default_threads = n < POOL_MAX_THREADS ? n : POOL_MAX_THREADS;
#else
		(void)set;
		default_threads = 1;
#endif
	}
	spin_ns = (int64_t)POOL_SPIN_US_DEFAULT * 1000;
	if (policy && !strcasecmp(policy, "passive"))
		spin_ns = 0;
	else if (policy && !strcasecmp(policy, "active"))
		spin_ns = (int64_t)100 * 1000 * 1000;
	if (env_long("ADALORA_POOL_SPIN_US", &v) && v >= 0)
		spin_ns = v * 1000;
	pthread_key_create(&pool_key, pool_key_destructor);
}

static inline uint32_t gen_of(uint64_t s)
{
	return (uint32_t)(s >> 32);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static unsigned fp_control_get(void)
{
#if defined(__SSE__)
	return _mm_getcsr() & ~0x3fu;   /* without the sticky exception flags */
#else
	return 0;
#endif
}

static void fp_control_set(unsigned c)
{
#if defined(__SSE__)
	if ((_mm_getcsr() & ~0x3fu) != c)
		_mm_setcsr(c);
#else
	(void)c;
#endif
}

/* Claim and run tasks of region gen until none is left. */
static void run_tasks(struct pool *p, uint32_t gen, int thread, int set_fp)
{
	uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);

	for (;;) {
		uint32_t left = (uint32_t)s, n, k;

		if (gen_of(s) != gen || left == 0)
			return;
		if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s - 1,
							   memory_order_acq_rel,
							   memory_order_acquire))
			continue;
		/* claimed: the region is live until this task is counted done */
		n = atomic_load_explicit(&p->n_tasks, memory_order_relaxed);
		k = n - left;
		if (set_fp) {
			fp_control_set(p->fp_control);
			set_fp = 0;
		}
		p->fn(p->ctx, (long)k, thread);
		if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->caller_waiting))
			futex_wake(&p->done, 1);
		s = atomic_load_explicit(&p->state, memory_order_acquire);
	}
}

/* A helper's wait for a region newer than seen: 0, or 1 when stopping. */
static int helper_wait(struct pool *p, uint32_t seen)
{
	if (spin_ns > 0) {
		int64_t t0 = now_ns();
		for (unsigned i = 1;; i++) {
			if (gen_of(atomic_load_explicit(&p->state, memory_order_acquire)) != seen)
				return 0;
			if (atomic_load_explicit(&p->stop, memory_order_acquire))
				return 1;
			cpu_relax();
			if (!(i & 63) && now_ns() - t0 >= spin_ns)
				break;
		}
	}
	for (;;) {
		uint32_t seq = atomic_load(&p->wake_seq);
		int ready;

		atomic_fetch_add(&p->sleepers, 1);
		ready = gen_of(atomic_load(&p->state)) != seen || atomic_load(&p->stop);
		if (!ready)
			futex_wait(&p->wake_seq, seq);
		atomic_fetch_sub(&p->sleepers, 1);
		if (gen_of(atomic_load_explicit(&p->state, memory_order_acquire)) != seen)
			return 0;
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			return 1;
	}
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct pool *p = h->pool;
	uint32_t seen = 0;

	tls_index = h->index;
	tls_in_task = 1;   /* regions started by its tasks run inline */
	while (!helper_wait(p, seen)) {
		seen = gen_of(atomic_load_explicit(&p->state, memory_order_acquire));
		/* max_threads is region seen's or, if that region has ended
		 * meanwhile, a newer one's: then no claim of seen can succeed. */
		if (h->index < atomic_load_explicit(&p->max_threads, memory_order_relaxed))
			run_tasks(p, seen, h->index, 1);
	}
	return NULL;
}

static void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	atomic_fetch_add(&p->wake_seq, 1);
	futex_wake(&p->wake_seq, INT_MAX);
	for (int i = 1; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	free(p->helpers);
	free(p);
}

static struct pool *pool_create(int n)
{
	struct pool *p = calloc(1, sizeof(*p));
	sigset_t all, old;

	if (!p)
		return NULL;
	p->requested = n;
	p->n_threads = 1;
	p->threads = calloc((size_t)n, sizeof(*p->threads));
	p->helpers = calloc((size_t)n, sizeof(*p->helpers));
	if (!p->threads || !p->helpers) {
		free(p->threads);
		free(p->helpers);
		free(p);
		return NULL;
	}
	/* Helpers take no signals: they are created with every one blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 1; i < n; i++) {
		char name[16];

		p->helpers[i].pool = p;
		p->helpers[i].index = i;
		if (pthread_create(&p->threads[i], NULL, helper_main, &p->helpers[i]))
			break;   /* fewer helpers: the regions still complete */
		snprintf(name, sizeof(name), "ada-pool-%d", i);
		pthread_setname_np(p->threads[i], name);
		p->n_threads = i + 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
}

/* The calling thread's pool for its current thread count, or NULL. */
static struct pool *pool_get(int n)
{
	if (tls_pool && tls_pool->requested == n)
		return tls_pool;
	if (tls_pool) {
		pool_destroy(tls_pool);
		tls_pool = NULL;
		pthread_setspecific(pool_key, NULL);
	}
	tls_pool = pool_create(n);
	if (tls_pool)
		pthread_setspecific(pool_key, tls_pool);
	return tls_pool;
}

void pool_set_threads(int n)
{
	pthread_once(&defaults_once, read_defaults);
	tls_threads = n > 0 ? (n < POOL_MAX_THREADS ? n : POOL_MAX_THREADS) : 0;
}

int pool_threads(void)
{
	pthread_once(&defaults_once, read_defaults);
	return tls_threads > 0 ? tls_threads : default_threads;
}

int pool_thread_index(void)
{
	return tls_in_task ? tls_index : 0;
}

int pool_in_task(void)
{
	return tls_in_task;
}

static void run_inline(long n_tasks, pool_task_fn *fn, void *ctx)
{
	int was = tls_in_task;

	tls_in_task = 1;
	for (long t = 0; t < n_tasks; t++)
		fn(ctx, t, tls_index);
	tls_in_task = was;
}

void pool_run(long n_tasks, int max_threads, pool_task_fn *fn, void *ctx)
{
	int nt = pool_threads();
	struct pool *p;
	uint32_t n;

	if (n_tasks <= 0)
		return;
	if (max_threads > 0 && max_threads < nt)
		nt = max_threads;
	if (tls_in_task || nt <= 1 || n_tasks == 1 || n_tasks > INT32_MAX ||
	    !(p = pool_get(pool_threads()))) {
		run_inline(n_tasks, fn, ctx);
		return;
	}
	n = (uint32_t)n_tasks;
	p->fn = fn;
	p->ctx = ctx;
	p->fp_control = fp_control_get();
	atomic_store_explicit(&p->n_tasks, n, memory_order_relaxed);
	atomic_store_explicit(&p->max_threads, nt, memory_order_relaxed);
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	p->gen++;
	atomic_store(&p->state, (uint64_t)p->gen << 32 | n);
	if (atomic_load(&p->sleepers) > 0) {
		atomic_fetch_add(&p->wake_seq, 1);
		futex_wake(&p->wake_seq, INT_MAX);
	}
	tls_in_task = 1;
	run_tasks(p, p->gen, 0, 0);
	tls_in_task = 0;
	/* Wait for the tasks other threads claimed. */
	if (atomic_load_explicit(&p->done, memory_order_acquire) == n)
		return;
	if (spin_ns > 0) {
		int64_t t0 = now_ns();
		for (unsigned i = 1; atomic_load_explicit(&p->done, memory_order_acquire) != n; i++) {
			cpu_relax();
			if (!(i & 63) && now_ns() - t0 >= spin_ns)
				break;
		}
	}
	if (atomic_load_explicit(&p->done, memory_order_acquire) == n)
		return;
	atomic_store(&p->caller_waiting, 1);
	for (;;) {
		uint32_t d = atomic_load(&p->done);
		if (d == n)
			break;
		futex_wait(&p->done, d);
	}
	atomic_store(&p->caller_waiting, 0);
}

struct range {
	pool_range_fn *fn;
	void *ctx;
	long n, grain;
};

static void range_task(void *arg, long t, int thread)
{
	const struct range *r = arg;
	long lo = t * r->grain, hi = r->n - lo > r->grain ? lo + r->grain : r->n;

	r->fn(r->ctx, lo, hi, thread);
}

void pool_for(long n, long grain, pool_range_fn *fn, void *ctx)
{
	struct range r = { fn, ctx, n, grain > 0 ? grain : 1 };

	if (n <= 0)
		return;
	pool_run((n + r.grain - 1) / r.grain, 0, range_task, &r);
}

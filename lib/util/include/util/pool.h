/*
 * pool — the threads of lib/'s parallel loops and products: the calling
 * thread and helpers of its own.
 *
 * Why not OpenMP's fork-join: every thread of an OpenMP team must pass
 * every region's barrier, so one thread that shares its core with another
 * busy process (a neighbour on a cloud VM, another job) stalls each region
 * until the scheduler runs it again — milliseconds per region, hundreds of
 * regions per training step: a step ran 15x slower beside one busy
 * process. Here a region is a count of tasks, claimed one at a time from a
 * shared counter, and it ends when every task is done, not when every
 * thread has arrived. A helper that is not running claims nothing and the
 * caller does its share; only a task already claimed by a thread that is
 * then preempted is waited for.
 *
 * Waiting: a helper with no work spins for a while (ADALORA_POOL_SPIN_US
 * microseconds, default POOL_SPIN_US_DEFAULT; OMP_WAIT_POLICY=passive
 * means 0 and =active 100 ms, as OpenMP reads them) and then sleeps on a
 * futex; the caller wakes sleepers when it starts a region but never waits
 * for them to wake. The caller waiting for a preempted task spins just as
 * long, then sleeps until that task ends.
 *
 * Results never depend on which thread ran a task: tasks write disjoint
 * outputs, and a task's thread index only picks per-thread scratch. The
 * floating-point control word (flush-to-zero, rounding) of the caller is
 * set in a helper before it runs the caller's tasks, so every task
 * computes the same bits on any thread.
 *
 * Each thread that runs regions has its own pool (the daemon's workers
 * each train their own job), created at its first region with more than
 * one thread, and stopped (helpers joined) when that thread exits or
 * changes its thread count. Helpers inherit the creating thread's nice
 * value and take no signals. A region started inside a task runs inline
 * on the task's thread.
 */
#ifndef ADA_UTIL_POOL_H
#define ADA_UTIL_POOL_H

#define POOL_SPIN_US_DEFAULT 100

/* A task of pool_run(): task in [0, n_tasks); thread in [0, pool_threads())
 * is the index of the thread running it (0: the caller), for scratch. */
typedef void pool_task_fn(void *ctx, long task, int thread);

/* A piece [lo, hi) of pool_for()'s range. */
typedef void pool_range_fn(void *ctx, long lo, long hi, int thread);

/* Threads for the calling thread's regions from now on (the caller
 * included); n <= 0: the default (OMP_NUM_THREADS, else the CPUs this
 * process may run on). Builds without parallel numerics (-Dopenmp=false)
 * default to 1 but honour an explicit n. */
void pool_set_threads(int n);

/* The calling thread's thread count (>= 1). */
int pool_threads(void);

/* Inside a task: the running thread's index; elsewhere 0. */
int pool_thread_index(void);

/* 1 inside a task (of any pool), else 0. */
int pool_in_task(void);

/* Run fn(ctx, t, thread) for every t in [0, n_tasks) on at most
 * max_threads threads (<= 0: all of the calling thread's), and return when
 * all have finished. Tasks must not depend on each other's order. */
void pool_run(long n_tasks, int max_threads, pool_task_fn *fn, void *ctx);

/* [0, n) in pieces of grain (the last one shorter): fn(ctx, lo, hi, thread)
 * for each. The pieces depend on n and grain only, never on the thread
 * count; n <= grain runs fn once on the calling thread. */
void pool_for(long n, long grain, pool_range_fn *fn, void *ctx);

#endif

/*
 * busy — a one-core neighbour for the co-tenancy benchmark: one thread,
 * pinned to one CPU (sched_setaffinity), that never sleeps, the way
 * another tenant's compute-bound process shares a core with a training
 * job on a cloud VM.
 *
 * usage: busy [--cpu N] [--seconds S]
 *   --cpu N      the CPU to occupy (default: the last one this process may use)
 *   --seconds S  stop after S seconds (default: run until SIGTERM or SIGINT)
 *
 * Prints "busy: pid P on cpu N" on stderr once pinned, so a script can wait
 * for that line before it measures.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int last_allowed_cpu(void)
{
	cpu_set_t set;
	int last = -1;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			last = c;
	return last < 0 ? 0 : last;
}

static int usage(void)
{
	fprintf(stderr, "usage: busy [--cpu N] [--seconds S]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int cpu = last_allowed_cpu();
	double seconds = 0, t_end;
	struct sigaction sa;
	cpu_set_t set;
	volatile unsigned long x = 1;

	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 0 || v >= CPU_SETSIZE)
				return usage();
			cpu = (int)v;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = strtod(argv[++i], &end);
			if (*end || !(seconds > 0))
				return usage();
		} else {
			return usage();
		}
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "busy: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "busy: pid %d on cpu %d\n", (int)getpid(), cpu);
	fflush(stderr);
	t_end = seconds > 0 ? now() + seconds : 0;
	while (!stop) {
		/* a few million dependent multiply-adds between clock reads */
		for (int i = 0; i < 1 << 22; i++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
		if (t_end && now() >= t_end)
			break;
	}
	return 0;
}

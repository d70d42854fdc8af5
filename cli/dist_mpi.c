/*
 * dist_mpi — the processes of one `adalora train` over MPI (dist.h).
 *
 * MPI is initialised only when an MPI launcher started us (its environment
 * says so), so a plain `adalora train` stays one process with no MPI
 * runtime in the way. Calls into MPI come from the main thread only (lib's
 * pool threads never make them): MPI_THREAD_FUNNELED.
 *
 * The allreduce: the gradients in place, as MPI_FLOAT over the arena's
 * gradient block (one buffer: one MPI_Allreduce, or one per 2^30 floats for
 * arenas beyond an int count), then the trainer's few counters as
 * MPI_DOUBLE. MPI reduces with a fixed tree for a given size and message,
 * and every process receives the same bits, which is what keeps their
 * weights identical.
 *
 * A process whose launcher (mpirun, or the orted of its host) dies is
 * killed (PR_SET_PDEATHSIG), so a daemon or user that kills mpirun leaves
 * no process training behind.
 */
#include "dist.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util/err.h"

/* Open MPI keeps some of what MPI_Init and its progress threads allocate
 * past MPI_Finalize, partly in components it unloads by then. Under
 * LeakSanitizer (the sanitizer build) those allocations are left out by
 * the libraries they come from; that needs full stacks (the slow unwinder:
 * the components have no frame pointers), which costs adalora little, as it
 * allocates at set-up rather than per step. Our own leaks are reported as
 * ever. */
#if defined(__SANITIZE_ADDRESS__)
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

const char *__lsan_default_suppressions(void)
{
	return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libpmix.so\n"
	       "leak:libevent\nleak:libhwloc.so\n";
}

const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
#endif

/* Under ThreadSanitizer (the daemon's test pass builds everything so) Open
 * MPI's own threads and locks, in its libraries and the components it
 * loads (mca_*.so, libpmix: unloaded at MPI_Finalize, so named by the
 * reports they would be in rather than by the library), are not ours to
 * check. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_suppressions(void);

const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:libmpi.so\ncalled_from_lib:libopen-pal.so\n"
	       "called_from_lib:libopen-rte.so\n"
	       "called_from_lib:libevent_core\ncalled_from_lib:libevent_pthreads\n"
	       "called_from_lib:libhwloc.so\n"
	       "race:mca_\ndeadlock:mca_\nmutex:mca_\nthread:mca_\nsignal:mca_\n"
	       "race:libpmix\ndeadlock:libpmix\nmutex:libpmix\nthread:libpmix\n";
}
#endif

/* The largest piece of one MPI_Allreduce (its count is an int). */
#define PIECE ((size_t)1 << 30)

static int launched(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK",
					    "PMIX_RANK" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (getenv(vars[i]))
			return 1;
	return 0;
}

static int mpi_fail(struct ada_err *err, const char *what, int code)
{
	char msg[MPI_MAX_ERROR_STRING + 1] = "";
	int len = 0;

	MPI_Error_string(code, msg, &len);
	msg[len < (int)sizeof(msg) ? len : (int)sizeof(msg) - 1] = '\0';
	return ada_fail(err, ADA_EIO, "%s: %s", what, msg);
}

static int allreduce(void *ctx, float *g, size_t n, double *s, size_t ns, struct ada_err *err)
{
	struct dist *d = ctx;
	double t0 = MPI_Wtime();
	int rc;

	for (size_t off = 0; off < n; off += PIECE) {
		size_t k = n - off < PIECE ? n - off : PIECE;
		rc = MPI_Allreduce(MPI_IN_PLACE, g + off, (int)k, MPI_FLOAT, MPI_SUM,
				   MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS)
			return mpi_fail(err, "MPI_Allreduce of the gradients", rc);
	}
	rc = MPI_Allreduce(MPI_IN_PLACE, s, (int)ns, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS)
		return mpi_fail(err, "MPI_Allreduce of the step's counters", rc);
	d->reduces++;
	d->reduce_seconds += MPI_Wtime() - t0;
	d->reduce_bytes = (double)n * sizeof(float) + (double)ns * sizeof(double);
	return ADA_OK;
}

int dist_start(struct dist *d, int *argc, char ***argv, struct ada_err *err)
{
	int provided = 0, rc;

	memset(d, 0, sizeof(*d));
	d->size = d->local_size = 1;
	if (!launched())
		return ADA_OK;
	rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
	if (rc != MPI_SUCCESS)
		return ada_fail(err, ADA_EIO, "MPI_Init failed (code %d)", rc);
	d->active = 1;
	/* errors come back as codes, reported like any other */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &d->size);
	{
		/* the processes that share this host's CPUs */
		MPI_Comm local;
		if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
					&local) == MPI_SUCCESS) {
			MPI_Comm_size(local, &d->local_size);
			MPI_Comm_free(&local);
		}
	}
	{
		pid_t launcher = getppid();
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() != launcher)
			raise(SIGKILL);   /* the launcher died before the line above */
	}
	d->par = (struct ada_parallel){
		.rank = d->rank, .size = d->size, .writer = d->rank == 0,
		.ctx = d, .allreduce = allreduce,
	};
	return ADA_OK;
}

void dist_finish(struct dist *d)
{
	if (d->active) {
			MPI_Finalize();
		}
	d->active = 0;
}

const char *dist_library(void)
{
	static char version[MPI_MAX_LIBRARY_VERSION_STRING + 1];
	int len = 0;
	char *nl;

	if (!version[0]) {
		MPI_Get_library_version(version, &len);
		version[len < (int)sizeof(version) ? len : (int)sizeof(version) - 1] = '\0';
		if ((nl = strchr(version, '\n')))
			*nl = '\0';
	}
	return version;
}

int dist_default_threads(const struct dist *d)
{
	const char *omp = getenv("OMP_NUM_THREADS");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (d->size <= 1 || (omp && *omp))
		return 0;
	return cpus / d->local_size > 1 ? (int)(cpus / d->local_size) : 1;
}

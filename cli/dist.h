/*
 * dist — the processes of one `adalora train` (README "One job across
 * processes"): `mpirun -np N adalora train job.json` starts N copies, which
 * train the job data-parallel through lib's hook (adalora.h, struct
 * ada_parallel); this module is the transport lib does not know.
 *
 * Two implementations, chosen by the build: dist_mpi.c (MPI found by meson:
 * MPI_Init when an MPI launcher started us, MPI_Allreduce in place over the
 * gradient arena) and dist_none.c (no MPI: one process; being started as
 * one of several is refused, since each copy would train the whole job).
 */
#ifndef ADA_CLI_DIST_H
#define ADA_CLI_DIST_H

#include <stdint.h>

#include "adalora.h"

struct dist {
	int rank, size;             /* 0 and 1 unless an MPI launcher started several */
	int local_size;             /* processes of the job on this host (1 alone) */
	int active;                 /* MPI is initialised: dist_finish must be called */
	struct ada_parallel par;    /* the job's hook when size > 1 (ctx = this struct) */
	/* what the allreduces cost, for the writer's report */
	int64_t reduces;
	double reduce_seconds;
	double reduce_bytes;        /* per reduce, of the last one */
};

/* Join the processes of this run: *d describes them. ADA_OK, or an error
 * (a launcher started several copies of a build without MPI, or MPI failed). */
int dist_start(struct dist *d, int *argc, char ***argv, struct ada_err *err);

/* Leave cleanly (MPI_Finalize: it waits for the other processes); for a run
 * that ended well or was stopped. A failing process exits without it: its
 * non-zero status makes the launcher end the others. */
void dist_finish(struct dist *d);

/* Threads for each process when the user chose none (--threads,
 * OMP_NUM_THREADS): this host's CPUs shared among its processes; 0 (lib's
 * default) for a process alone. */
int dist_default_threads(const struct dist *d);

/* "Open MPI v4.1.4, ..." (the MPI library's own line), or "none". */
const char *dist_library(void);

#endif

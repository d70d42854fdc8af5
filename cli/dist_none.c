/*
 * dist_none — `adalora` built without MPI (dist.h): always one process.
 * A launcher that starts several copies of it would have each train the
 * whole job and all write the same directory, so that is refused, naming
 * what to install.
 */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* The world size an MPI launcher announces (Open MPI's mpirun; MPICH's
 * Hydra and Slurm's PMI), or 1. */
static int launched_size(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && atoi(v) > 1)
			return atoi(v);
	}
	return 1;
}

int dist_start(struct dist *d, int *argc, char ***argv, struct ada_err *err)
{
	int n = launched_size();

	(void)argc;
	(void)argv;
	memset(d, 0, sizeof(*d));
	d->size = d->local_size = 1;
	if (n > 1)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"a launcher started %d copies of this adalora, which was built without "
				"MPI: each would train the whole job alone. Install Open MPI "
				"(openmpi-bin libopenmpi-dev) and rebuild", n);
	return ADA_OK;
}

void dist_finish(struct dist *d)
{
	(void)d;
}

const char *dist_library(void)
{
	return "none";
}

int dist_default_threads(const struct dist *d)
{
	(void)d;
	return 0;
}

/*
 * launch — a job trained by several processes (README "One job across
 * processes"): instead of calling ada_train on its thread, the worker runs
 * the operator's launcher (--launcher, default "mpirun -np {n}") over
 * `adalora train --progress-json`, and turns what that prints back into
 * the same callbacks, so the job's events, metrics and checkpoints are
 * recorded by job_run.c's code as for a job trained in-process.
 *
 * The launcher runs in its own process group with the daemon's descriptors
 * closed, and gets SIGTERM if the worker's thread dies (the daemon was
 * killed). A cancel sends SIGTERM to that group (mpirun ends its processes);
 * a pause (the daemon stopping) sends SIGUSR1 to the launcher, which mpirun
 * forwards: every process stops at one step with a checkpoint. Either way
 * the group is killed if it has not exited after --launcher-grace. The
 * job's directory holds launch.json (the job, for adalora) and launch.lock,
 * locked by the worker and inherited by the launcher, so that a job re-run
 * after a crash waits for the last launch of it to be gone.
 */
#ifndef ADALORAD_DAEMON_LAUNCH_H
#define ADALORAD_DAEMON_LAUNCH_H

#include <stdint.h>

#include "adalora.h"

struct job_inputs;
struct store_job;

struct launch_config {
	char **words;               /* the launcher's words (owned), "{n}" in place */
	int n_words;
	char *launcher_path;        /* words[0] found on PATH (owned) */
	char *adalora;              /* the adalora program (owned) */
	int64_t grace_ms;
	int max_processes;
};

/* From the flags: the launcher split into words (it must hold "{n}", and
 * its program must be on PATH), adalora at adalora_bin or else next to the
 * running adalorad (or in the build tree's cli/). Errors name the flag. */
int launch_config_init(struct launch_config *lc, const char *launcher, const char *adalora_bin,
		       int64_t grace_ms, int max_processes, struct ada_err *err);
void launch_config_release(struct launch_config *lc);

/* How a launch ended, beyond ada_train's code: the launcher failed before
 * the job could say how it ended (a process was killed, the launcher is
 * missing): job_run records error.code "launcher_failed". */
struct launch_outcome {
	int launcher_failed;
	int status;                 /* the launcher's exit status (128 + a signal that killed it) */
};

/* Train job (resolved from in and j; its callbacks and stop flag as
 * ada_train takes them) as `processes` processes of `threads` threads
 * each. Returns what ada_train would: ADA_OK with *res, ADA_ECANCELLED,
 * ADA_ESTOPPED, or an error in err (the job's own, as its writing process
 * reported it, or the launcher's). */
int launch_train(const struct launch_config *lc, const struct job_inputs *in,
		 const struct store_job *j, const struct ada_job *job, int processes, int threads,
		 struct ada_result *res, struct launch_outcome *lo, struct ada_err *err);

#endif

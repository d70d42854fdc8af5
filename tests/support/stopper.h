/*
 * stopper — pause a training at step k, the way a user's Ctrl-C or the
 * daemon's SIGTERM would, so that a test can resume it and compare the
 * result with an uninterrupted run's.
 *
 * The job's on_metrics callback sets the job's stop flag to ADA_STOP_PAUSE
 * when step k's metrics arrive; the trainer checkpoints at that step
 * boundary and ada_train returns ADA_ESTOPPED with k steps done. No timing
 * is involved: the pause lands on the same step on every machine. k must
 * be a step the job logs (a multiple of log_every).
 */
#ifndef ADA_TESTS_STOPPER_H
#define ADA_TESTS_STOPPER_H

#include <stdint.h>

#include "adalora.h"

struct stopper {
	struct ada_callbacks cb;    /* what job->cb points at */
	int64_t at;                 /* the step to pause after; -1: never */
	_Atomic int flag;           /* what job->stop points at (enum ada_stop) */
};

/* Point job's callbacks and stop flag at s, to pause after step k. s must
 * outlive every ada_train call with job. */
void stopper_attach(struct stopper *s, struct ada_job *job, int64_t k);

/* Let the job run to its end (for the resume): the flag back to ADA_RUN
 * and no step to pause at; job keeps pointing at s. */
void stopper_disarm(struct stopper *s);

#endif

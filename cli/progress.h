/*
 * progress — how `adalora train` reports a running job: one human line per
 * log interval on stderr, and one JSON object per logged step, evaluation,
 * mask and checkpoint appended to DIR/metrics.jsonl (flushed each time, so
 * a crash loses at most the line being written).
 */
#ifndef ADA_CLI_PROGRESS_H
#define ADA_CLI_PROGRESS_H

#include <stdio.h>

#include "adalora.h"

struct progress {
	FILE *jsonl;          /* owned; NULL = no file */
	int quiet;            /* no stderr lines */
};

int progress_open(struct progress *p, const char *path, int append);
void progress_close(struct progress *p);
/* Callbacks with ctx = struct progress. */
void progress_callbacks(struct progress *p, struct ada_callbacks *cb);

/* Callbacks that call both[0]'s and then both[1]'s (both borrowed: it must
 * outlive the job). */
void progress_tee(const struct ada_callbacks both[2], struct ada_callbacks *cb);

/* "1h02m", "3m05s", "12s" */
void format_duration(double seconds, char *buf, size_t cap);

#endif

/*
 * bench_encoder — ada_bench() for BERT-family encoders (bench.c hands them
 * over): the steps of a sequence classifier, as a classification job runs
 * them, on one batch of random tokens with random labels.
 */
#ifndef ADA_TRAIN_BENCH_ENCODER_H
#define ADA_TRAIN_BENCH_ENCODER_H

#include "adalora.h"
#include "model/model.h"

struct trainer;

/* Time o's steps of a two-class classifier on model (taken: freed here,
 * also after an error) with job's method (bench.c's settings). */
int bench_encoder(const struct ada_bench_opts *o, const struct ada_job *job, struct model *model,
		  struct ada_bench_result *res, struct ada_err *err);

/* bench.c: o->warmup untimed then o->steps timed trainer steps into res
 * (median time, tokens/s, GFLOP/s from res->flops_per_step, trainable
 * parameters, threads, peak RSS). */
int bench_time_steps(struct trainer *tr, const struct ada_bench_opts *o,
		     struct ada_bench_result *res, struct ada_err *err);

#endif

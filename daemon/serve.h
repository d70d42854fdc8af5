/*
 * serve — the daemon's inference engine: completions, chat completions,
 * classifications and extractive question answering of the api's requests
 * (api.h, struct api_infer) on base models and fine-tuned ones.
 *
 * A request's model id is resolved on the HTTP thread (serve_submit): a
 * base model of the models directory, or a succeeded job's
 * fine_tuned_model, whose base is its job's model and whose adapter is the
 * job's adapter directory (a full fine-tuning of a causal LM: its
 * model.gguf). An unknown id is a 400 naming model; a full queue a 429.
 *
 * One engine thread runs everything else, on a pool of --serve-threads
 * threads at --serve-nice (the training workers run at +10 with their
 * --blas-threads / --workers each): it takes queued requests while fewer
 * than --serve-max-sequences are decoding, loads their base and adapter
 * through lib's cache (one mapping per base; adapters in an LRU bounded by
 * --serve-adapter-cache bytes), reads their prompts, and then steps every
 * live sequence together (ada_decode_step: one pass over each base's
 * weights per step for all of its sequences, whatever their adapters).
 * A classification or QA request is answered whole when it is admitted
 * (its forward passes run between two decoding steps).
 * Each chosen token becomes text (UTF-8 assembled, cut at stop strings)
 * that goes to the api as it comes. A sequence ends at its end-of-text
 * token, a stop string, max_tokens, or when its client is gone (asked
 * before every step, so a disconnect stops its generation within a step).
 */
#ifndef ADALORAD_DAEMON_SERVE_H
#define ADALORAD_DAEMON_SERVE_H

#include <stdint.h>

#include "adalora.h"
#include "api.h"
#include "models.h"
#include "store.h"

struct serve_config {
	struct models *models;      /* borrowed */
	struct store *store;        /* borrowed */
	const char *jobs_dir;       /* a job's outputs: jobs_dir/<job id>/ */
	int threads;                /* the engine's pool */
	int nice;                   /* its scheduling priority */
	int max_sequences;          /* decoded at once */
	int max_queue;              /* requests waiting beyond them (then 429) */
	int max_tokens;             /* the highest max_tokens a request may ask */
	int max_rows;               /* tokens per step (a prompt is read in pieces of it) */
	int64_t adapter_cache;      /* bytes of cached adapters; 0: no limit */
	int idle_bases;             /* bases kept loaded while unused */
	int max_windows;            /* a QA request's windows, all its contexts together */
};

struct serve;

int serve_start(const struct serve_config *cfg, struct serve **out, struct ada_err *err);
/* Stop: requests waiting or running end with 503 (a stream with an error
 * event), later ones get 503, the thread is joined. The hooks stay safe to
 * call until serve_free, after the api has stopped. NULL is ignored. */
void serve_stop(struct serve *s);
void serve_free(struct serve *s);
/* The api's hooks (api.h): take a checked request; render /metrics lines. */
int serve_submit(struct serve *s, struct api_infer *job, unsigned *status, int *retry_after,
		 struct ada_err *err);
void serve_metrics(struct serve *s, struct strbuf *out);

#endif

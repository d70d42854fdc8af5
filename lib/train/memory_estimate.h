/*
 * memory_estimate — a training job's peak resident memory, from the
 * model's shape and the method (internal to lib/; ada_memory_estimate()
 * in adalora.h is the public face).
 *
 * What a job holds at its peak, a training step: the frozen weights as
 * loaded (f32), the activations of one micro-batch (llama.c's and bert.c's
 * arenas, the LM head's logits included: they dominate for a large
 * vocabulary), the parameter arena (weights, gradients and both AdamW
 * moments of every trainable value), the method's extras (adapters' row
 * caches, AdaLoRA's importance buffers, the bottlenecks' buffers), the
 * tokenized data, and a fixed runtime share (code, libraries, OpenBLAS's
 * per-thread buffers, thread stacks). Each term is counted as the code
 * that allocates it does; tests/unit/test_memory_estimate.c checks the
 * activations and parameters against the real allocations and the total
 * against measured peak RSS (README, "Memory").
 */
#ifndef ADA_TRAIN_MEMORY_ESTIMATE_H
#define ADA_TRAIN_MEMORY_ESTIMATE_H

#include <stdint.h>

#include "adalora.h"
#include "model/model.h"

/* The runtime share counted into every estimate: code and libraries,
 * and per training thread its stack and OpenBLAS's packing buffers
 * (measured with adalora bench at 1 to 8 threads: about 5 MB + 1.5 MB a
 * thread; README, "Memory"). */
#define MEMORY_RUNTIME_BASE ((int64_t)6 << 20)
#define MEMORY_RUNTIME_PER_THREAD ((int64_t)2 << 20)

/* The estimate for a model of config cfg with params parameters. task is
 * resolved (causal LM or classification); n_labels the head's outputs;
 * threads the job's; windows the training plus validation windows (LM) or
 * examples (classification), 0 when unknown (data not counted). */
void memory_estimate_config(const struct model_config *cfg, int64_t params,
			    const struct ada_method *m, int task, int n_labels, int threads,
			    int64_t windows, struct ada_memory *out);

/* The trainable values the method registers on this config (the arena's
 * count, as trained_net_count() finds it on a loaded model). */
int64_t memory_trainable_params(const struct model_config *cfg, const struct ada_method *m,
				int task, int n_labels);

#endif

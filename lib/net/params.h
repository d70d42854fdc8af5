/*
 * params — the parameter arena: every trainable tensor of a job, with its
 * gradient and AdamW moments, in one allocation.
 *
 * Registration happens first (names, shapes, decay flags), then one
 * allocation of 4 * n floats (weights | grads | first moments | second
 * moments), then tensors are read back as pointers into it. One flat layout
 * makes the optimizer, gradient clipping, zeroing and checkpointing single
 * loops over contiguous memory, and makes a checkpoint four memcpy's.
 * Tensors are padded to 16 floats so each starts on a cache line.
 */
#ifndef ADA_NET_PARAMS_H
#define ADA_NET_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"

struct param_tensor {
	char name[160];          /* PEFT / Hugging Face name, for exports and errors */
	size_t offset;           /* into each of w, g, m, v */
	size_t n;                /* elements */
	int rows, cols;          /* row-major shape (cols = 1 for vectors) */
	int decay;               /* AdamW weight decay applies */
};

struct param_arena {
	struct param_tensor *t;
	int n_tensors;
	size_t cap;
	size_t n;                /* total floats per array, padding included */
	float *mem;              /* the one allocation: w | g | m | v */
	float *w, *g, *m, *v;
};

void param_arena_init(struct param_arena *pa);
/* Register a tensor before allocation; returns its index or -1 (ENOMEM/overflow). */
int param_arena_add(struct param_arena *pa, const char *name, int rows, int cols, int decay);
/* Allocate (zeroed). */
int param_arena_alloc(struct param_arena *pa, struct ada_err *err);
void param_arena_release(struct param_arena *pa);

static inline float *param_w(const struct param_arena *pa, int i)
{
	return pa->w + pa->t[i].offset;
}

static inline float *param_g(const struct param_arena *pa, int i)
{
	return pa->g + pa->t[i].offset;
}

/* Number of real (unpadded) parameters. */
size_t param_arena_count(const struct param_arena *pa);
int param_arena_find(const struct param_arena *pa, const char *name);

#endif

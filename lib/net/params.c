/* params — one allocation for every trainable tensor; see params.h. */
#include "net/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define PAD 16

void param_arena_init(struct param_arena *pa)
{
	memset(pa, 0, sizeof(*pa));
}

int param_arena_add(struct param_arena *pa, const char *name, int rows, int cols, int decay)
{
	struct param_tensor *t;
	size_t n, padded;

	if (rows < 0 || cols < 0 || size_mul((size_t)rows, (size_t)cols, &n) ||
	    size_add(n, PAD - 1, &padded))
		return -1;
	padded = padded / PAD * PAD;
	if (ALLOC_GROW(pa->t, (size_t)pa->n_tensors + 1, pa->cap))
		return -1;
	t = &pa->t[pa->n_tensors];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->offset = pa->n;
	t->n = n;
	t->rows = rows;
	t->cols = cols;
	t->decay = decay;
	if (size_add(pa->n, padded, &pa->n))
		return -1;
	return pa->n_tensors++;
}

int param_arena_alloc(struct param_arena *pa, struct ada_err *err)
{
	size_t total;

	if (size_mul(pa->n ? pa->n : PAD, 4, &total))
		return ada_fail(err, ADA_ENOMEM, "parameter arena too large");
	pa->mem = xalloc_aligned(total, sizeof(float));
	if (!pa->mem)
		return ada_fail(err, ADA_ENOMEM, "out of memory for %zu trainable parameters",
				pa->n);
	pa->w = pa->mem;
	pa->g = pa->w + pa->n;
	pa->m = pa->g + pa->n;
	pa->v = pa->m + pa->n;
	return ADA_OK;
}

void param_arena_release(struct param_arena *pa)
{
	free(pa->t);
	free(pa->mem);
	memset(pa, 0, sizeof(*pa));
}

size_t param_arena_count(const struct param_arena *pa)
{
	size_t n = 0;

	for (int i = 0; i < pa->n_tensors; i++)
		n += pa->t[i].n;
	return n;
}

int param_arena_find(const struct param_arena *pa, const char *name)
{
	for (int i = 0; i < pa->n_tensors; i++)
		if (!strcmp(pa->t[i].name, name))
			return i;
	return -1;
}

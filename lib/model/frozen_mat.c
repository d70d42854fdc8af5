/*
 * frozen_mat — a weight matrix in its file's type, read a tile at a time;
 * see model.h.
 *
 * This file and format/quant.c are the only code the frozen products of nn/
 * need from below them, so they are built into a small library of their
 * own that both builds of nn/ (float and the double gradient-check build)
 * link.
 */
#include <string.h>

#include "format/quant.h"
#include "model/model.h"

const float *frozen_mat_f32(const struct frozen_mat *w)
{
	if (w->type != GGML_TYPE_F32 || !w->data || (uintptr_t)w->data % sizeof(float))
		return NULL;
	return w->data;
}

const uint16_t *frozen_mat_bf16(const struct frozen_mat *w)
{
	if (w->type != GGML_TYPE_BF16 || !w->data || (uintptr_t)w->data % 2)
		return NULL;
	return w->data;
}

int frozen_mat_block(const struct frozen_mat *w)
{
	return quant_block_elems(w->type);
}

int frozen_mat_quantized(const struct frozen_mat *w)
{
	return quant_is_block(w->type);
}

const char *frozen_mat_type_name(const struct frozen_mat *w)
{
	return ggml_type_name(w->type);
}

void frozen_mat_tile(const struct frozen_mat *w, int r0, int nr, int c0, int nc, float *dst,
		     size_t ld)
{
	const uint8_t *base = w->data;
	const size_t skip = (size_t)quant_bytes(w->type, (uint64_t)c0);

	for (int r = 0; r < nr; r++)
		quant_dequantize(w->type, base + (size_t)(r0 + r) * w->row_bytes + skip,
				 dst + (size_t)r * ld, (size_t)nc);
}

void frozen_mat_read(const struct frozen_mat *w, float *dst)
{
	frozen_mat_tile(w, 0, w->rows, 0, w->cols, dst, (size_t)w->cols);
}

struct frozen_mat frozen_mat_of_f32(const float *data, int rows, int cols)
{
	return (struct frozen_mat){ .data = data, .type = GGML_TYPE_F32, .rows = rows,
				    .cols = cols, .row_bytes = (size_t)cols * sizeof(float) };
}

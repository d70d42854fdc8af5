/*
 * frozen — products with a frozen weight matrix kept in its file's type
 * (struct frozen_mat: F16, BF16, or a GGUF block type such as Q4_K).
 *
 * The weight is never expanded whole: a tile of it is dequantized into a
 * panel of `real` on the calling thread's stack and multiplied there by
 * nn/blas.h's gemm() (single-threaded inside our parallel region), so the
 * cost over an f32 product is the dequantization, which each weight element
 * pays once per forward and once per backward, against the N multiply-adds
 * it takes part in.
 *
 * Both products run as tasks of the calling thread's pool (util/pool.h),
 * each dequantizing its own part of W once: forward y = x W^T a tile of W's
 * rows (columns of y) per task, each y element summing its tiles of W's
 * columns in a fixed order; the input gradient dx = dy W a tile of W's
 * columns (columns of dx) per task, running down W's rows in a fixed order.
 * Tiles depend only on W's shape, never on the thread count, so results are
 * bit-identical at any thread count. F32 weights come here only in bf16
 * compute; otherwise struct linear multiplies by them in place
 * (nn/linear.c).
 */
#ifndef ADA_NN_FROZEN_H
#define ADA_NN_FROZEN_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "nn/real.h"

/*
 * compute_dtype "bf16" (float build, CPUs with AVX512-BF16: nn/bf16.h): the
 * product's activation operand (x, or dy) is rounded to bfloat16 into buf,
 * the weight tile into a bf16 panel, and the sums run in f32 through
 * VDPBF16PS. buf is scratch owned by whoever passes it (the trainer: one per
 * job, sized for its largest block product); a product whose operand does not
 * fit (the LM head's dy: vocabulary x tokens) runs in f32, as does everything
 * when bf is NULL or in the double build.
 */
struct frozen_bf16 {
	uint16_t *buf;
	size_t cap;          /* elements of buf */
};

/* Elements of frozen_bf16 scratch a product with an operand of N rows of
 * `width` values needs (rows padded to an even length). */
size_t frozen_bf16_need(int N, int width);

/* y[N][w->rows] = x[N][w->cols] W^T (bf: NULL for f32, else see above). */
void frozen_forward(const struct frozen_mat *w, const real *x, int N, real *y,
		    struct frozen_bf16 *bf);

/* dx[N][w->cols] = beta * dx + dy[N][w->rows] W (beta 0 or 1). */
void frozen_backward_dx(const struct frozen_mat *w, const real *dy, int N, real *dx,
			real beta, struct frozen_bf16 *bf);

/* The same with beta 0... 1 where dy may be destroyed (the LM head's logits'
 * gradient, vocabulary x tokens: too big for bf's scratch): in bf16 each row
 * of dy is rounded to bf16 in place and multiplied from there; otherwise (bf
 * NULL, no AVX512-BF16, an odd number of rows of W, the double build) the
 * f32 product, dy untouched. */
void frozen_backward_dx_consume(const struct frozen_mat *w, real *dy, int N, real *dx,
				real beta, struct frozen_bf16 *bf);

/* out[n] = row ids[n] of W (an embedding lookup), n < N. */
void frozen_rows(const struct frozen_mat *w, const int32_t *ids, int N, real *out);

#endif

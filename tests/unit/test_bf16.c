/*
 * Tests of compute_dtype "bf16" (nn/bf16.c, nn/frozen.c's bf16 path):
 *   - the products y = x W^T and dx = dy W (beta 0 and 1) of matrices in
 *     F32, F16, BF16, Q8_0, Q4_K and Q6_K, over shapes with ragged edges
 *     (rows not a multiple of 64 or 6, an odd width), against two
 *     references computed here in double: the same sums over the operands
 *     rounded to bf16 (only f32 accumulation may differ: |err| <= K 2^-23
 *     sum|terms|), and the exact f32 operands (bf16's own bound: each
 *     operand within 2^-9 relative, so |err| <= 2^-7.5 sum|x||w|);
 *   - bit-identical at one and two threads; a scratch too small, or none,
 *     gives the f32 products exactly; the LM head's backward, which rounds
 *     its dy in place, gives the bits of the scratch's;
 *   - training: LoRA on a tiny model with compute_dtype bf16 follows the
 *     fp32 run's loss curve (every logged train_loss within 0.02 of it, the
 *     held-out loss within 0.02) and resumes bit-identically;
 *   - the method field: parsed, written back, refused for BERT (naming
 *     the field); its default, auto, is bf16 for a decoder on this CPU and
 *     fp32 for BERT (and, without AVX512-BF16, fp32).
 * With --no-bf16 (run under ADALORA_TEST_NO_BF16=1): the field is refused
 * naming it, bench refuses, and a product given scratch runs in f32.
 * The gradient checks stay in double (nn/'s double build has no bf16 path).
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adalora.h"
#include "format/quant.h"
#include "model/model.h"
#include "nn/bf16.h"
#include "nn/frozen.h"
#include "scratch.h"
#include "stopper.h"
#include "task_data.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/half.h"
#include "util/rng.h"

static char *tmp;

static double bf(float v)
{
	return bf16_to_f32(f32_to_bf16(v));
}

struct mat {
	struct frozen_mat fm;
	void *data;
	float *deq;          /* the matrix as the products see it, f32 */
};

static int make_mat(struct mat *m, uint32_t type, int rows, int cols, uint64_t seed)
{
	const size_t n = (size_t)rows * cols;
	const uint64_t row_bytes = quant_bytes(type, (uint64_t)cols);
	float *src = xcalloc(n, sizeof(*src));
	struct rng rng;

	memset(m, 0, sizeof(*m));
	m->data = xalloc_aligned((size_t)(row_bytes * (uint64_t)rows + 4) / 4, 4);
	m->deq = xcalloc(n, sizeof(*m->deq));
	if (!src || !m->data || !m->deq) {
		free(src);
		return -1;
	}
	rng_seed(&rng, seed);
	for (size_t i = 0; i < n; i++)
		src[i] = (float)rng_normal(&rng);
	for (int r = 0; r < rows; r++)
		if (quant_quantize(type, src + (size_t)r * cols,
				   (uint8_t *)m->data + (size_t)r * row_bytes, (size_t)cols)) {
			free(src);
			return -1;
		}
	m->fm = (struct frozen_mat){ .data = m->data, .type = type, .rows = rows, .cols = cols,
				     .row_bytes = (size_t)row_bytes };
	frozen_mat_read(&m->fm, m->deq);
	free(src);
	return 0;
}

static void free_mat(struct mat *m)
{
	free(m->data);
	free(m->deq);
}

static float *random_vec(size_t n, uint64_t seed)
{
	float *v = xcalloc(n, sizeof(*v));
	struct rng rng;

	rng_seed(&rng, seed);
	for (size_t i = 0; v && i < n; i++)
		v[i] = (float)rng_normal(&rng);
	return v;
}

/* Worst ratio of |got - ref| to its bound, over both references. */
struct worst {
	double acc, bf;      /* against the bf16-rounded sum, against the exact one */
};

static void against(struct worst *w, double got, double ref_bf, double abs_bf, double ref,
		    double abs, int K)
{
	const double acc_bound = (K + 2) * 0x1p-23 * abs_bf + 1e-30;
	const double bf_bound = 0x1p-7 * 0.71 * abs + 1e-30;   /* 2^-7.5 */
	double e;

	if ((e = fabs(got - ref_bf) / acc_bound) > w->acc)
		w->acc = e;
	if ((e = fabs(got - ref) / bf_bound) > w->bf)
		w->bf = e;
}

static void check_products(uint32_t type, int M, int K, int N)
{
	struct mat m;
	struct frozen_bf16 scratch = { 0 };
	float *x = random_vec((size_t)N * K, 11), *dy = random_vec((size_t)N * M, 12);
	float *y = xcalloc((size_t)N * M, sizeof(*y)), *y1 = xcalloc((size_t)N * M, sizeof(*y1));
	float *dx = random_vec((size_t)N * K, 13), *dx0 = xcalloc((size_t)N * K, sizeof(*dx0));
	float *dx1 = xcalloc((size_t)N * K, sizeof(*dx1));
	struct worst fw = { 0 }, bw = { 0 };
	const int width = M > K ? M : K;

	if (!x || !dy || !y || !y1 || !dx || !dx0 || !dx1 || make_mat(&m, type, M, K, 7)) {
		CHECK_MSG(0, "out of memory");
		goto out;
	}
	scratch.cap = frozen_bf16_need(N, width);
	scratch.buf = xcalloc(scratch.cap, sizeof(*scratch.buf));
	memcpy(dx0, dx, sizeof(float) * (size_t)N * K);
	ada_set_threads(2);
	frozen_forward(&m.fm, x, N, y, &scratch);
	frozen_backward_dx(&m.fm, dy, N, dx, 1, &scratch);   /* dx += dy W */
	for (int n = 0; n < N; n++)
		for (int r = 0; r < M; r++) {
			double s = 0, sa = 0, sb = 0, sba = 0;
			for (int k = 0; k < K; k++) {
				const double a = x[(size_t)n * K + k], b = m.deq[(size_t)r * K + k];
				s += a * b;
				sa += fabs(a * b);
				sb += bf((float)a) * bf((float)b);
				sba += fabs(bf((float)a) * bf((float)b));
			}
			against(&fw, y[(size_t)n * M + r], sb, sba, s, sa, K);
		}
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++) {
			const double d0 = dx0[(size_t)n * K + k];
			double s = d0, sa = fabs(d0), sb = d0, sba = fabs(d0);
			for (int r = 0; r < M; r++) {
				const double a = dy[(size_t)n * M + r], b = m.deq[(size_t)r * K + k];
				s += a * b;
				sa += fabs(a * b);
				sb += bf((float)a) * bf((float)b);
				sba += fabs(bf((float)a) * bf((float)b));
			}
			against(&bw, dx[(size_t)n * K + k], sb, sba, s, sa, M);
		}
	CHECK_MSG(fw.acc <= 1 && fw.bf <= 1 && bw.acc <= 1 && bw.bf <= 1,
		  "%s %dx%d N=%d: error / bound forward %.3g (f32 sums) %.3g (bf16), backward %.3g %.3g",
		  ggml_type_name(type), M, K, N, fw.acc, fw.bf, bw.acc, bw.bf);

	/* one thread: the same bits; beta 0 overwrites */
	ada_set_threads(1);
	frozen_forward(&m.fm, x, N, y1, &scratch);
	CHECK(!memcmp(y, y1, sizeof(float) * (size_t)N * M));
	memset(dx1, 0x7f, sizeof(float) * (size_t)N * K);
	frozen_backward_dx(&m.fm, dy, N, dx1, 0, &scratch);
	ada_set_threads(2);
	frozen_backward_dx(&m.fm, dy, N, dx0, 0, &scratch);
	CHECK(!memcmp(dx0, dx1, sizeof(float) * (size_t)N * K));

	/* the LM head's way: dy rounded in place, the same bits as through the
	 * scratch (when W's rows are even; else f32 and dy untouched) */
	{
		float *dyc = xcalloc((size_t)N * M, sizeof(*dyc));
		if (dyc) {
			memcpy(dyc, dy, sizeof(float) * (size_t)N * M);
			frozen_backward_dx_consume(&m.fm, dyc, N, dx1, 0, &scratch);
			if (M % 2 == 0) {
				CHECK(!memcmp(dx0, dx1, sizeof(float) * (size_t)N * K));
			} else {
				frozen_backward_dx(&m.fm, dy, N, dx0, 0, NULL);
				CHECK(!memcmp(dx0, dx1, sizeof(float) * (size_t)N * K));
				CHECK(!memcmp(dy, dyc, sizeof(float) * (size_t)N * M));
			}
			free(dyc);
		}
	}

	/* scratch too small for the operand: the f32 product, bit for bit */
	scratch.cap = frozen_bf16_need(N, K) - 1;
	frozen_forward(&m.fm, x, N, y, &scratch);
	frozen_forward(&m.fm, x, N, y1, NULL);
	CHECK(!memcmp(y, y1, sizeof(float) * (size_t)N * M));
	free_mat(&m);
out:
	free(scratch.buf);
	free(x);
	free(dy);
	free(y);
	free(y1);
	free(dx);
	free(dx0);
	free(dx1);
}

static void test_products(void)
{
	static const struct { uint32_t type; int M, K; } cases[] = {
		{ GGML_TYPE_F32, 70, 97 },   { GGML_TYPE_F16, 130, 96 },  { GGML_TYPE_BF16, 64, 1000 },
		{ GGML_TYPE_BF16, 1, 33 },   { GGML_TYPE_Q8_0, 129, 640 }, { GGML_TYPE_Q4_K, 70, 512 },
		{ GGML_TYPE_Q6_K, 300, 256 },
	};
	static const int Ns[] = { 1, 7, 13 };

	if (!bf16_supported()) {
		check_skip("this CPU has no AVX512-BF16");
		return;
	}
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		for (size_t n = 0; n < sizeof(Ns) / sizeof(Ns[0]); n++)
			check_products(cases[k].type, cases[k].M, cases[k].K, Ns[n]);
}

/* ---- training ------------------------------------------------------------ */

static char model_path[4200], data_path[4200];

static void base_job(struct ada_job *job, const char *out, enum ada_compute_dtype cd)
{
	memset(job, 0, sizeof(*job));
	job->model = model_path;
	job->train_file = data_path;
	job->out_dir = out;
	job->seed = 3;
	job->threads = 2;
	ada_method_defaults(ADA_METHOD_LORA, &job->method);
	job->method.hp.max_steps = 30;
	job->method.hp.batch_size = 4;
	job->method.hp.seq_len = 64;
	job->method.hp.learning_rate = 1e-2;
	job->method.hp.log_every = 3;
	job->method.hp.checkpoint_every = 0;
	job->method.hp.valid_fraction = 0.1;
	job->method.hp.r = 4;
	job->method.hp.compute_dtype = cd;
}

/* The train_loss of each metrics event, in order. */
struct losses {
	double v[64];
	int n;
};

static void on_metrics(void *ctx, const struct ada_metrics *m)
{
	struct losses *l = ctx;

	if (l->n < 64)
		l->v[l->n++] = m->train_loss;
}

static void test_training_follows_fp32(void)
{
	char dir32[4300], dir16[4300];
	struct ada_job job;
	struct ada_result r32, r16;
	struct ada_err err = { 0 };
	struct losses a = { .n = 0 }, b = { .n = 0 };
	struct ada_callbacks cb32 = { .ctx = &a, .on_metrics = on_metrics };
	struct ada_callbacks cb16 = { .ctx = &b, .on_metrics = on_metrics };
	const double *l32 = a.v, *l16 = b.v;
	double worst = 0;
	int n32, n16;

	if (!bf16_supported()) {
		check_skip("this CPU has no AVX512-BF16");
		return;
	}
	snprintf(dir32, sizeof(dir32), "%s/fp32", tmp);
	snprintf(dir16, sizeof(dir16), "%s/bf16", tmp);
	base_job(&job, dir32, ADA_COMPUTE_FP32);
	job.cb = &cb32;
	CHECK_OK(ada_train(&job, &r32, &err), &err);
	base_job(&job, dir16, ADA_COMPUTE_BF16);
	job.cb = &cb16;
	CHECK_OK(ada_train(&job, &r16, &err), &err);
	n32 = a.n;
	n16 = b.n;
	CHECK(n32 >= 10 && n32 == n16);
	for (int i = 0; i < n32 && i < n16; i++)
		if (fabs(l32[i] - l16[i]) > worst)
			worst = fabs(l32[i] - l16[i]);
	fprintf(stderr, "bf16 vs fp32: %d logged losses, largest difference %.5f (%.4f -> %.4f vs "
		"%.4f -> %.4f); held-out %.5f vs %.5f\n", n32, worst, l32[0], l32[n32 - 1], l16[0],
		l16[n16 - 1], r32.valid_loss, r16.valid_loss);
	CHECK_MSG(worst <= 0.02, "train_loss curves differ by %.4f", worst);
	CHECK_NEAR(r16.valid_loss, r32.valid_loss, 0.02);
	CHECK(r16.valid_loss < r16.valid_loss_initial - 0.05);
	ada_result_release(&r32);
	ada_result_release(&r16);
}

static void test_resume(void)
{
	char dir_a[4300], dir_b[4300], fa[4400], fb[4400];
	struct ada_job job;
	struct ada_result res;
	struct ada_err err = { 0 };
	struct stopper st;

	if (!bf16_supported()) {
		check_skip("this CPU has no AVX512-BF16");
		return;
	}
	snprintf(dir_a, sizeof(dir_a), "%s/resume-a", tmp);
	snprintf(dir_b, sizeof(dir_b), "%s/resume-b", tmp);
	base_job(&job, dir_a, ADA_COMPUTE_BF16);
	job.method.hp.max_steps = 10;
	job.method.hp.log_every = 1;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	ada_result_release(&res);
	base_job(&job, dir_b, ADA_COMPUTE_BF16);
	job.method.hp.max_steps = 10;
	job.method.hp.log_every = 1;
	stopper_attach(&st, &job, 4);
	CHECK_INT_EQ(ada_train(&job, &res, &err), ADA_ESTOPPED);
	ada_result_release(&res);
	stopper_disarm(&st);
	job.resume = 1;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	ada_result_release(&res);
	snprintf(fa, sizeof(fa), "%s/adapter/adapter_model.safetensors", dir_a);
	snprintf(fb, sizeof(fb), "%s/adapter/adapter_model.safetensors", dir_b);
	CHECK_MSG(files_same(fa, fb), "bf16: the adapter differs after resume");
}

/* ---- the field ------------------------------------------------------------ */

static void test_field(void)
{
	struct ada_method m;
	struct ada_model_info info = { .family = ADA_FAMILY_BERT, .architecture = "bert" };
	struct ada_err err = { 0 };
	json_t *j = json_pack("{ss s{s{ss}}}", "type", "lora", "lora", "hyperparameters",
			      "compute_dtype", "bf16");
	json_t *back;

	if (!bf16_supported()) {
		check_skip("this CPU has no AVX512-BF16");
		json_decref(j);
		return;
	}
	CHECK_OK(ada_method_from_json(j, &m, &err), &err);
	CHECK_INT_EQ(m.hp.compute_dtype, ADA_COMPUTE_BF16);
	back = ada_method_to_json(&m);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(json_object_get(back, "lora"),
								       "hyperparameters"),
						       "compute_dtype")), "bf16");
	json_decref(back);
	CHECK_INT_EQ(ada_method_check_model(&m, &info, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.lora.hyperparameters.compute_dtype");
	json_object_set_new(json_object_get(json_object_get(j, "lora"), "hyperparameters"),
			    "compute_dtype", json_string("fp16"));
	CHECK_INT_EQ(ada_method_from_json(j, &m, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.lora.hyperparameters.compute_dtype");
	json_decref(j);
	/* the default: auto, bf16 for a decoder on this CPU, fp32 for BERT */
	ada_method_defaults(ADA_METHOD_ADALORA, &m);
	CHECK_INT_EQ(m.hp.compute_dtype, ADA_COMPUTE_AUTO);
	CHECK_INT_EQ(ada_compute_dtype_resolve(m.hp.compute_dtype, ADA_FAMILY_LLAMA),
		     ADA_COMPUTE_BF16);
	CHECK_INT_EQ(ada_compute_dtype_resolve(m.hp.compute_dtype, ADA_FAMILY_BERT),
		     ADA_COMPUTE_FP32);
	CHECK_OK(ada_method_check_model(&m, &info, &err), &err);   /* auto on BERT: fine */
}

/* ---- --no-bf16: a machine without AVX512-BF16 ---------------------------- */

static void test_refused(void)
{
	struct ada_method m;
	struct ada_err err = { 0 };
	struct ada_bench_opts o = { .shape = "stories260K", .method = ADA_METHOD_LORA, .batch = 1,
				    .seq = 8, .steps = 1, .compute_dtype = ADA_COMPUTE_BF16 };
	struct ada_bench_result res;
	json_t *j = json_pack("{ss s{s{ss}}}", "type", "adalora", "adalora", "hyperparameters",
			      "compute_dtype", "bf16");
	struct mat w;
	float *x = random_vec(5 * 64, 1), *y = xcalloc(5 * 40, sizeof(*y));
	float *y1 = xcalloc(5 * 40, sizeof(*y1));
	struct frozen_bf16 scratch = { xcalloc(5 * 64, 2), 5 * 64 };

	CHECK(!bf16_supported() && !ada_bf16_supported());
	ada_method_defaults(ADA_METHOD_LORA, &m);
	CHECK_INT_EQ(ada_compute_dtype_resolve(m.hp.compute_dtype, ADA_FAMILY_LLAMA),
		     ADA_COMPUTE_FP32);
	CHECK_INT_EQ(ada_method_from_json(j, &m, &err), ADA_EUNSUPPORTED);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.compute_dtype");
	CHECK(strstr(err.msg, "AVX512-BF16"));
	json_decref(j);
	CHECK_INT_EQ(ada_bench(&o, &res, &err), ADA_EUNSUPPORTED);
	CHECK_STR_EQ(err.param, "compute_dtype");
	if (x && y && y1 && scratch.buf && !make_mat(&w, GGML_TYPE_BF16, 40, 64, 2)) {
		frozen_forward(&w.fm, x, 5, y, &scratch);
		frozen_forward(&w.fm, x, 5, y1, NULL);
		CHECK(!memcmp(y, y1, sizeof(float) * 5 * 40));
		free_mat(&w);
	}
	free(scratch.buf);
	free(x);
	free(y);
	free(y1);
}

int main(int argc, char **argv)
{
	struct ada_err err;

	tmp = check_tmpdir("bf16");
	if (argc > 1 && !strcmp(argv[1], "--no-bf16")) {
		RUN(test_refused);
	} else {
		snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
		snprintf(data_path, sizeof(data_path), "%s/train.txt", tmp);
		if (ada_create_model("tiny", 4, model_path, &err) ||
		    task_write_corpus(data_path, 120, 5, &err)) {
			fprintf(stderr, "setup: %s\n", err.msg);
			return 1;
		}
		RUN(test_products);
		RUN(test_training_follows_fp32);
		RUN(test_resume);
		RUN(test_field);
	}
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}

/*
 * Tests of train/optim.c: AdamW against a double-precision transcription of
 * torch.optim.AdamW, weight-decay ranges, the gradient norm and clipping,
 * bit-identical results across thread counts, and the Hugging Face
 * learning-rate schedules at their boundary steps.
 */
#include "check.h"

#include <stdint.h>

#include "train/optim.h"
#include "util/err.h"
#include "util/pool.h"
#include "util/rng.h"

/* torch.optim.AdamW's single-tensor step, in double. */
static void ref_adamw(double *w, const double *g, double *m, double *v, size_t n,
		      int decay, double lr, double b1, double b2, double eps, double wd, int t)
{
	double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);

	for (size_t i = 0; i < n; i++) {
		if (decay)
			w[i] *= 1 - lr * wd;
		m[i] = b1 * m[i] + (1 - b1) * g[i];
		v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
		w[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
	}
}

static void test_adamw_hand_computed(void)
{
	struct adamw_config cfg = ADAMW_CONFIG_DEFAULT;
	struct param_range r = { 0, 1, 1 };
	struct param_chunks pc;
	struct adamw o;
	struct ada_err err;
	float w = 1.0f, g, m = 0, v = 0;

	cfg.weight_decay = 0.1;
	CHECK_OK(param_chunks_init(&pc, &r, 1, 1, &err), &err);
	CHECK_OK(adamw_init(&o, &cfg, &err), &err);
	g = 0.5f;
	adamw_step(&o, &pc, 0.1, &w, &g, &m, &v);
	/* 1 * (1 - 0.01) - 0.1 * (0.05 / 0.1) / (sqrt(0.00025 / 0.001) + 1e-8) */
	CHECK_NEAR(w, 0.890000002, 1e-6);
	CHECK_NEAR(m, 0.05, 1e-8);
	CHECK_NEAR(v, 0.00025, 1e-10);
	g = -0.25f;
	adamw_step(&o, &pc, 0.1, &w, &g, &m, &v);
	CHECK_NEAR(w, 0.8544662986878463, 1e-6);
	CHECK_NEAR(m, 0.02, 1e-8);
	CHECK_NEAR(v, 0.00031225, 1e-10);
	CHECK_INT_EQ(o.step, 2);
	param_chunks_release(&pc);
}

/* Two steps over two ranges (one without decay) and a gap, against the
 * double reference; the gap is never touched. */
static void test_adamw_two_steps_reference(void)
{
	enum { N = 40 };
	struct adamw_config cfg = { .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.3 };
	struct param_range ranges[] = { { 0, 16, 1 }, { 20, 20, 0 } };
	double rw[N], rg[N], rm[N] = { 0 }, rv[N] = { 0 };
	float w[N], g[N], m[N] = { 0 }, v[N] = { 0 };
	struct param_chunks pc;
	struct adamw o;
	struct ada_err err;
	struct rng r;
	double lr[2] = { 0.05, 0.02 };

	rng_seed(&r, 7);
	for (int i = 0; i < N; i++) {
		w[i] = (float)rng_normal(&r);
		rw[i] = w[i];
	}
	CHECK_OK(param_chunks_init(&pc, ranges, 2, N, &err), &err);
	CHECK_OK(adamw_init(&o, &cfg, &err), &err);
	for (int t = 1; t <= 2; t++) {
		for (int i = 0; i < N; i++) {
			g[i] = (float)(rng_normal(&r) * (i % 3 ? 1.0 : 1e-3));
			rg[i] = g[i];
		}
		adamw_step(&o, &pc, lr[t - 1], w, g, m, v);
		ref_adamw(rw, rg, rm, rv, 16, 1, lr[t - 1], 0.8, 0.95, 1e-6, 0.3, t);
		ref_adamw(rw + 20, rg + 20, rm + 20, rv + 20, 20, 0, lr[t - 1], 0.8, 0.95,
			  1e-6, 0.3, t);
	}
	for (int i = 0; i < N; i++) {
		if (i >= 16 && i < 20) {
			CHECK(w[i] == (float)rw[i] && m[i] == 0 && v[i] == 0);
			continue;
		}
		CHECK_NEAR(w[i], rw[i], 1e-6);
		CHECK_NEAR(m[i], rm[i], 1e-6);
		CHECK_NEAR(v[i], rv[i], 1e-6);
	}
	param_chunks_release(&pc);
}

/* With a zero gradient the Adam step is zero, so only the decay shows:
 * exactly (1 - lr wd) on decay ranges, nothing on the others. */
static void test_adamw_decay_ranges(void)
{
	struct adamw_config cfg = ADAMW_CONFIG_DEFAULT;
	struct param_range ranges[] = { { 0, 3, 0 }, { 3, 3, 1 } };
	float w[6] = { 1, 2, -3, 1, 2, -3 }, g[6] = { 0 }, m[6] = { 0 }, v[6] = { 0 };
	struct param_chunks pc;
	struct adamw o;
	struct ada_err err;

	cfg.weight_decay = 0.5;
	CHECK_OK(param_chunks_init(&pc, ranges, 2, 6, &err), &err);
	CHECK_OK(adamw_init(&o, &cfg, &err), &err);
	adamw_step(&o, &pc, 0.1, w, g, m, v);
	CHECK(w[0] == 1.0f && w[1] == 2.0f && w[2] == -3.0f);
	CHECK(w[3] == 1.0f * 0.95f && w[4] == 2.0f * 0.95f && w[5] == -3.0f * 0.95f);
	param_chunks_release(&pc);
}

static void test_adamw_config_checked(void)
{
	struct adamw_config cfg = ADAMW_CONFIG_DEFAULT;
	struct adamw o;
	struct ada_err err;

	cfg.beta1 = 1.0;
	CHECK_INT_EQ(adamw_init(&o, &cfg, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "adam_beta1");
	cfg = (struct adamw_config)ADAMW_CONFIG_DEFAULT;
	cfg.beta2 = -0.1;
	CHECK_INT_EQ(adamw_init(&o, &cfg, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "adam_beta2");
	cfg = (struct adamw_config)ADAMW_CONFIG_DEFAULT;
	cfg.eps = NAN;
	CHECK_INT_EQ(adamw_init(&o, &cfg, &err), ADA_EINVAL);
	cfg = (struct adamw_config)ADAMW_CONFIG_DEFAULT;
	cfg.weight_decay = -1;
	CHECK_INT_EQ(adamw_init(&o, &cfg, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "weight_decay");
}

static void test_param_chunks(void)
{
	struct param_range ok[] = { { 0, 2 * PARAM_CHUNK + 5, 1 }, { 2 * PARAM_CHUNK + 5, 0, 0 },
				    { 3 * PARAM_CHUNK, 7, 0 } };
	struct param_range overlap[] = { { 0, 10, 1 }, { 9, 10, 0 } };
	struct param_range past[] = { { 0, 10, 1 }, { 10, 11, 0 } };
	struct param_range wrap[] = { { SIZE_MAX, 2, 1 } };
	struct param_chunks pc;
	struct ada_err err;

	CHECK_OK(param_chunks_init(&pc, ok, 3, 3 * PARAM_CHUNK + 7, &err), &err);
	CHECK_INT_EQ(pc.n, 4);
	CHECK_INT_EQ(pc.n_elems, 2 * PARAM_CHUNK + 12);
	CHECK_INT_EQ(pc.v[1].off, PARAM_CHUNK);
	CHECK_INT_EQ(pc.v[2].len, 5);
	CHECK_INT_EQ(pc.v[3].off, 3 * PARAM_CHUNK);
	CHECK(pc.v[2].decay == 1 && pc.v[3].decay == 0);
	param_chunks_release(&pc);

	CHECK_INT_EQ(param_chunks_init(&pc, overlap, 2, 100, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "overlaps") != NULL);
	CHECK_INT_EQ(param_chunks_init(&pc, past, 2, 20, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "runs past") != NULL);
	CHECK_INT_EQ(param_chunks_init(&pc, wrap, 1, 20, &err), ADA_EINVAL);
	CHECK_OK(param_chunks_init(&pc, NULL, 0, 0, &err), &err);
	CHECK_INT_EQ(pc.n, 0);
	CHECK(grad_norm(&pc, NULL) == 0.0);
	param_chunks_release(&pc);
}

static void test_grad_norm_and_clip(void)
{
	struct param_range r = { 0, 4, 1 }, gap[] = { { 0, 1, 1 }, { 3, 1, 0 } };
	float g[4] = { 3, 0, 0, 4 };
	struct param_chunks pc, pc_gap;
	struct grad_norm_info info;
	struct ada_err err;

	CHECK_OK(param_chunks_init(&pc, &r, 1, 4, &err), &err);
	CHECK_OK(param_chunks_init(&pc_gap, gap, 2, 4, &err), &err);
	CHECK(grad_norm(&pc, g) == 5.0);

	grad_clip(&pc, g, 10.0, &info);         /* under the limit */
	CHECK(info.norm == 5.0 && info.finite && !info.clipped);
	CHECK(g[0] == 3 && g[3] == 4);
	grad_clip(&pc, g, 0.0, &info);          /* disabled: measure only */
	CHECK(info.norm == 5.0 && !info.clipped && g[0] == 3);
	grad_clip(&pc, g, 1.0, &info);
	CHECK(info.norm == 5.0 && info.finite && info.clipped);
	CHECK(g[0] == 3.0f * (float)(1.0 / (5.0 + 1e-6)));
	CHECK_NEAR(grad_norm(&pc, g), 1.0, 1e-6);

	/* Elements outside the ranges count for nothing and are not scaled. */
	g[0] = 3;
	g[1] = 100;
	g[3] = 4;
	CHECK(grad_norm(&pc_gap, g) == 5.0);
	grad_clip(&pc_gap, g, 2.5, &info);
	CHECK(info.clipped && g[1] == 100);

	g[2] = NAN;                             /* not in pc_gap's ranges */
	grad_clip(&pc_gap, g, 1.0, &info);
	CHECK(info.finite);
	grad_clip(&pc, g, 1.0, &info);
	CHECK(!info.finite && !info.clipped && isnan(g[2]) && g[1] == 100);
	g[2] = INFINITY;
	grad_clip(&pc, g, 1.0, &info);
	CHECK(!info.finite && g[2] == INFINITY);
	g[2] = 3e38f;                           /* huge but finite: no false alarm */
	grad_clip(&pc, g, 1.0, &info);
	CHECK(info.finite && info.clipped);
	param_chunks_release(&pc);
	param_chunks_release(&pc_gap);
}

/* Everything the optimizer computes, over a layout big enough to be split
 * among threads (ranges with gaps, several chunks each). */
struct run_out {
	float *w, *m, *v, *g;
	double norm[3];
};

enum { BIG = 40 * PARAM_CHUNK + 1234 };

static void run_optimizer(int threads, struct run_out *out)
{
	struct param_range ranges[] = { { 10, 2 * PARAM_CHUNK + 17, 1 },
					{ 2 * PARAM_CHUNK + 100, 3, 0 },
					{ 2 * PARAM_CHUNK + 200, BIG - 2 * PARAM_CHUNK - 200, 0 } };
	struct adamw_config cfg = ADAMW_CONFIG_DEFAULT;
	struct grad_norm_info info;
	struct param_chunks pc;
	struct adamw o;
	struct ada_err err;
	struct rng r;

	pool_set_threads(threads);
	out->w = calloc(BIG, sizeof(float));
	out->m = calloc(BIG, sizeof(float));
	out->v = calloc(BIG, sizeof(float));
	out->g = calloc(BIG, sizeof(float));
	cfg.weight_decay = 0.01;
	CHECK_OK(param_chunks_init(&pc, ranges, 3, BIG, &err), &err);
	CHECK_OK(adamw_init(&o, &cfg, &err), &err);
	rng_seed(&r, 42);
	for (size_t i = 0; i < BIG; i++)
		out->w[i] = (float)rng_normal(&r);
	for (int t = 0; t < 3; t++) {
		/* Magnitudes from 1e-6 to 1e2 by stretches, so that the order in
		 * which chunk sums are added shows in the last bits. */
		for (size_t i = 0; i < BIG; i++)
			out->g[i] = (float)(rng_normal(&r) * pow(10.0, (double)((i / 3000) % 9) - 6));
		grad_clip(&pc, out->g, 1.0, &info);
		out->norm[t] = info.norm;
		CHECK(info.clipped);
		adamw_step(&o, &pc, 1e-3, out->w, out->g, out->m, out->v);
	}
	param_chunks_release(&pc);
}

static void free_run(struct run_out *o)
{
	free(o->w);
	free(o->m);
	free(o->v);
	free(o->g);
}

static void test_bit_identical_across_threads(void)
{
	struct run_out one, two, three;

	run_optimizer(1, &one);
	run_optimizer(2, &two);
	run_optimizer(3, &three);
	for (int t = 0; t < 3; t++) {
		CHECK(memcmp(&one.norm[t], &two.norm[t], sizeof(double)) == 0);
		CHECK(memcmp(&one.norm[t], &three.norm[t], sizeof(double)) == 0);
	}
	CHECK(memcmp(one.w, two.w, BIG * sizeof(float)) == 0);
	CHECK(memcmp(one.m, two.m, BIG * sizeof(float)) == 0);
	CHECK(memcmp(one.v, two.v, BIG * sizeof(float)) == 0);
	CHECK(memcmp(one.g, two.g, BIG * sizeof(float)) == 0);
	CHECK(memcmp(one.w, three.w, BIG * sizeof(float)) == 0);
	free_run(&one);
	free_run(&two);
	free_run(&three);
}

static void test_grad_norm_matches_double(void)
{
	struct param_range r = { 0, BIG, 1 };
	struct param_chunks pc;
	struct ada_err err;
	float *g = calloc(BIG, sizeof(*g));
	struct rng rng;
	long double ref = 0;

	rng_seed(&rng, 3);
	for (size_t i = 0; i < BIG; i++) {
		g[i] = (float)rng_normal(&rng);
		ref += (long double)g[i] * g[i];
	}
	CHECK_OK(param_chunks_init(&pc, &r, 1, BIG, &err), &err);
	CHECK_NEAR(grad_norm(&pc, g), sqrtl(ref), 1e-9 * sqrtl(ref));
	param_chunks_release(&pc);
	free(g);
}

static void test_lr_schedules(void)
{
	enum ada_lr_schedule s;

	/* Warm-up is shared: step / warmup, starting at 0. */
	for (s = ADA_LR_LINEAR; s <= ADA_LR_CONSTANT; s++) {
		CHECK(lr_factor(s, 0, 10, 100) == 0.0);
		CHECK(lr_factor(s, 5, 10, 100) == 0.5);
		CHECK(lr_factor(s, 9, 10, 100) == 0.9);
		CHECK(lr_factor(s, 10, 10, 100) == 1.0);
	}
	/* linear: (T - step) / (T - warmup), never below 0. */
	CHECK(lr_factor(ADA_LR_LINEAR, 55, 10, 100) == 0.5);
	CHECK_NEAR(lr_factor(ADA_LR_LINEAR, 99, 10, 100), 1.0 / 90, 1e-15);
	CHECK(lr_factor(ADA_LR_LINEAR, 100, 10, 100) == 0.0);
	CHECK(lr_factor(ADA_LR_LINEAR, 150, 10, 100) == 0.0);
	CHECK(lr_factor(ADA_LR_LINEAR, 0, 0, 100) == 1.0);
	CHECK(lr_factor(ADA_LR_LINEAR, 0, 0, 0) == 0.0);       /* max(1, T - warmup) */
	/* cosine: half a cycle after warm-up. */
	CHECK_NEAR(lr_factor(ADA_LR_COSINE, 55, 10, 100), 0.5, 1e-15);
	CHECK_NEAR(lr_factor(ADA_LR_COSINE, 33, 10, 100),
		   0.5 * (1 + cos(M_PI * 23.0 / 90)), 1e-15);
	CHECK_NEAR(lr_factor(ADA_LR_COSINE, 100, 10, 100), 0.0, 1e-15);
	CHECK(lr_factor(ADA_LR_COSINE, 0, 0, 100) == 1.0);
	/* constant_with_warmup: 1 once warm. */
	CHECK(lr_factor(ADA_LR_CONSTANT, 99, 10, 100) == 1.0);
	CHECK(lr_factor(ADA_LR_CONSTANT, 1000, 10, 100) == 1.0);
	CHECK(lr_factor(ADA_LR_CONSTANT, 0, 0, 100) == 1.0);

	CHECK_STR_EQ(ada_lr_schedule_name(ADA_LR_COSINE), "cosine");
	CHECK_STR_EQ(ada_lr_schedule_name(ADA_LR_CONSTANT), "constant");
}

int main(void)
{
	RUN(test_adamw_hand_computed);
	RUN(test_adamw_two_steps_reference);
	RUN(test_adamw_decay_ranges);
	RUN(test_adamw_config_checked);
	RUN(test_param_chunks);
	RUN(test_grad_norm_and_clip);
	RUN(test_grad_norm_matches_double);
	RUN(test_bit_identical_across_threads);
	RUN(test_lr_schedules);
	return check_summary();
}

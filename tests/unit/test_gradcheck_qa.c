/* Gradient check, in double, of the extractive QA head and its span loss
 * (lib/nn/qa_head.c): loss = qa_span_loss(qa_outputs(hidden)) against
 * central differences for hidden, W and b, with windows of different
 * lengths (padding must get no gradient), and the loss value against a
 * direct computation of -(log p_start + log p_end) / 2. */
#include "check.h"
#include "gradcheck.h"

#include "adalora.h"
#include "nn/qa_head.h"

#define PROBES 400

#define CHECK_GRAD(name, f, ctx, param, grad, n) do { \
	double _e = fd_rel_error(f, ctx, param, grad, n, PROBES); \
	CHECK_MSG(_e < TOL, "%s: relative error %.3g", name, _e); \
} while (0)

static int all_zero(const real *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

struct qa_ctx {
	struct linear qa;
	real *hidden, *logits, *dlogits;
	int32_t len[3], start[3], end[3];
	int B, T, D;
};

static double run(struct qa_ctx *c, real scale)
{
	struct nn_step st = { .training = 1 };
	double s = NAN;

	qa_head_forward(&c->qa, c->hidden, c->B * c->T, c->logits, &st);
	qa_span_loss(c->logits, c->len, c->start, c->end, c->B, c->T, scale,
		     scale != 0 ? c->dlogits : NULL, &s);
	return s;
}

static double loss(void *vc)
{
	return run(vc, 0);
}

static void test_qa_head(void)
{
	struct qa_ctx c = { .B = 3, .T = 5, .D = 6, .len = { 5, 3, 1 }, .start = { 2, 0, 0 },
			    .end = { 4, 2, 0 } };
	struct nn_step st = { .training = 1 };
	const size_t nh = (size_t)c.B * c.T * c.D;
	real *dW = zeros(2 * (size_t)c.D), *db = zeros(2), *dhidden = zeros(nh);
	double want = 0;

	c.qa = (struct linear){ .w = rnd_mean(2 * (size_t)c.D, 0, 0.5), .dw = dW,
				.b = rnd_mean(2, 0, 0.3), .db = db, .in = c.D, .out = 2 };
	c.hidden = rnd_mean(nh, 0, 1);
	c.logits = zeros(nh);
	c.dlogits = zeros(nh);
	run(&c, 1);
	qa_head_backward(&c.qa, c.hidden, c.dlogits, c.B * c.T, dhidden, &st);

	/* the value: -(log softmax_start + log softmax_end) / 2 over real tokens */
	for (int b = 0; b < c.B; b++) {
		for (int k = 0; k < 2; k++) {
			const real *z = c.logits + (size_t)b * c.T * 2 + k;
			double sum = 0;
			for (int t = 0; t < c.len[b]; t++)
				sum += exp(z[2 * t]);
			want += 0.5 * (log(sum) - z[2 * (k ? c.end[b] : c.start[b])]);
		}
	}
	CHECK_NEAR(loss(&c), want, 1e-12);
	/* padding positions get no gradient */
	for (int b = 0; b < c.B; b++)
		for (int t = c.len[b]; t < c.T; t++)
			CHECK(all_zero(dhidden + ((size_t)b * c.T + t) * c.D, (size_t)c.D));
	CHECK_GRAD("qa dhidden", loss, &c, c.hidden, dhidden, nh);
	CHECK_GRAD("qa dW", loss, &c, (real *)c.qa.w, dW, 2 * (size_t)c.D);
	/* a bias shifts every position's logit alike, which a softmax over the
	 * positions does not see: its gradient is zero, numerically too */
	CHECK(fabs(db[0]) < 1e-12 && fabs(db[1]) < 1e-12);
	{
		double num = 0;
		fd_compare(loss, &c, (real *)c.qa.b, db, 2, 2, &num, NULL);
		CHECK_MSG(num < 1e-8, "numeric d/db %.3g", num);
	}
	{
		int32_t bad[3] = { 5, 0, 0 };
		double s;
		CHECK_INT_EQ(qa_span_loss(c.logits, c.len, bad, c.end, c.B, c.T, 1, NULL, &s), ADA_EINVAL);
	}
	free((void *)c.qa.w);
	free((void *)c.qa.b);
	free(dW);
	free(db);
	free(dhidden);
	free(c.hidden);
	free(c.logits);
	free(c.dlogits);
}

int main(void)
{
	rng_seed(&rng, 99);
	RUN(test_qa_head);
	return check_summary();
}

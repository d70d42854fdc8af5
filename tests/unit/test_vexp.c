/*
 * test_vexp — lib/nn/vexp.h, the exp() behind softmax, SiLU, swish and
 * GELU: accurate on its range, and defined everywhere else. NaN and +-Inf
 * reach it from a diverging step or a corrupt model; before they were
 * handled, (int32_t)NaN inside it was undefined behaviour (UBSan's
 * float-cast-overflow, which the sanitizer build turns on for this test).
 */
#include "check.h"

#include <float.h>
#include <stdint.h>

#include "nn/vexp.h"

/* Distance in units in the last place between two finite floats. */
static int64_t ulps(float a, float b)
{
	int32_t ia, ib;

	memcpy(&ia, &a, sizeof(ia));
	memcpy(&ib, &b, sizeof(ib));
	if (ia < 0)
		ia = INT32_MIN - ia;
	if (ib < 0)
		ib = INT32_MIN - ib;
	return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

static void test_accurate_on_its_range(void)
{
	int64_t worst = 0;
	float at = 0;

	/* every 61st float of [-87, 88]: some 17 million points */
	for (float x = -87.0f; x <= 88.0f;) {
		int64_t d = ulps(vexp(x), expf(x));
		if (d > worst) {
			worst = d;
			at = x;
		}
		for (int k = 0; k < 61; k++)
			x = nextafterf(x, INFINITY);
	}
	CHECK_MSG(worst <= 3, "%lld ulp at %.9g", (long long)worst, at);
	CHECK(vexp(0.0f) == 1.0f);
}

static void test_special_values(void)
{
	CHECK(isnan(vexp(NAN)));
	CHECK(isnan(vexp(-NAN)));
	CHECK(vexp(INFINITY) == INFINITY);
	CHECK(vexp(-INFINITY) == 0.0f && !signbit(vexp(-INFINITY)));
	CHECK(vexp(FLT_MAX) == INFINITY);
	CHECK(vexp(-FLT_MAX) == 0.0f);
	CHECK(vexp(1000.0f) == INFINITY);
	CHECK(vexp(-1000.0f) == 0.0f);
}

/* Between the accurate range and the special values: no NaN, no negative
 * number, and monotone, so a softmax or a sigmoid stays sane. */
static void test_tails_monotone(void)
{
	float prev = 0;
	int ok = 1;

	for (float x = -120.0f; x <= 120.0f; x += 0.001f) {
		float y = vexp(x);
		if (isnan(y) || y < prev)
			ok = 0;
		prev = y;
	}
	CHECK(ok);
	CHECK(vexp(88.3f) > 2.2e38f && vexp(88.3f) <= FLT_MAX);
	CHECK(vexp(-87.5f) > 0.0f);
}

/* A softmax-style loop over a row that holds NaN and infinities: the
 * results are the IEEE ones, element by element. */
static void test_in_a_loop(void)
{
	float x[64], y[64];

	for (int i = 0; i < 64; i++)
		x[i] = (float)(i - 32);
	x[3] = NAN;
	x[10] = INFINITY;
	x[20] = -INFINITY;
	for (int i = 0; i < 64; i++)
		y[i] = vexp(x[i]);
	CHECK(isnan(y[3]));
	CHECK(y[10] == INFINITY);
	CHECK(y[20] == 0.0f);
	CHECK(ulps(y[40], expf(8.0f)) <= 3);
}

int main(void)
{
	RUN(test_accurate_on_its_range);
	RUN(test_special_values);
	RUN(test_tails_monotone);
	RUN(test_in_a_loop);
	return check_summary();
}

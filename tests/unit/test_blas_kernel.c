/*
 * Tests of the BLAS kernel choice (nn/blas_kernel.c): the ranking of
 * OpenBLAS's kernel names, the kernel asked for on CPUs described by hand
 * (a cloud VM's AVX-512 Xeon OpenBLAS calls Prescott, this Zen 3, a
 * restart whose kernel OpenBLAS did not load), and on this machine: after
 * the start-up check, OpenBLAS's kernel is not below what the CPU's
 * features allow. That last test skips where OpenBLAS is not the BLAS
 * or the user chose the kernel (OPENBLAS_CORETYPE).
 */
#include "check.h"

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <string.h>

#include "adalora.h"
#include "nn/blas.h"
#include "nn/blas_kernel.h"

static void test_ranks(void)
{
	CHECK_INT_EQ(blas_kernel_rank("Prescott"), 1);
	CHECK_INT_EQ(blas_kernel_rank("Haswell"), 5);
	CHECK_INT_EQ(blas_kernel_rank("ZEN"), 5);   /* case-insensitive */
	CHECK_INT_EQ(blas_kernel_rank("SkylakeX"), 6);
	CHECK_INT_EQ(blas_kernel_rank("SapphireRapids"), BLAS_KERNEL_RANK_MAX);
	CHECK_INT_EQ(blas_kernel_rank("NoSuchCore"), -1);
	CHECK_INT_EQ(blas_kernel_rank(NULL), -1);
}

static struct cpu_features avx2_cpu(enum cpu_vendor v)
{
	struct cpu_features f = { .vendor = v };

	f.sse3 = f.ssse3 = f.sse41 = f.sse42 = f.avx = f.fma = f.avx2 = 1;
	return f;
}

static void test_choices(void)
{
	struct cpu_features xeon = avx2_cpu(CPU_VENDOR_INTEL), zen = avx2_cpu(CPU_VENDOR_AMD);
	struct cpu_features old = { .vendor = CPU_VENDOR_INTEL, .sse3 = 1 };

	xeon.avx512f = xeon.avx512bw = xeon.avx512vl = xeon.avx512dq = xeon.avx512cd = 1;
	CHECK_STR_EQ(blas_kernel_for_cpu(&xeon), "SkylakeX");
	CHECK_STR_EQ(blas_kernel_for_cpu(&zen), "Zen");
	CHECK_STR_EQ(blas_kernel_for_cpu(&old), "Prescott");
	/* the VM: OpenBLAS chose Prescott on an AVX-512 Xeon */
	CHECK_STR_EQ(blas_kernel_next(&xeon, "Prescott", NULL), "SkylakeX");
	/* SkylakeX asked for and not loaded: the next rank down, once */
	CHECK_STR_EQ(blas_kernel_next(&xeon, "Prescott", "SkylakeX"), "Haswell");
	CHECK(blas_kernel_next(&xeon, "Prescott", "Prescott") == NULL);
	/* already the best, or better than we know: left alone */
	CHECK(blas_kernel_next(&zen, "Zen", NULL) == NULL);
	CHECK(blas_kernel_next(&zen, "Haswell", NULL) == NULL);
	CHECK(blas_kernel_next(&zen, "SkylakeX", NULL) == NULL);
	CHECK_STR_EQ(blas_kernel_next(&zen, "Sandybridge", NULL), "Zen");
	/* a name we cannot rank is never replaced */
	CHECK(blas_kernel_next(&xeon, "NoSuchCore", NULL) == NULL);
	xeon.avx512_bf16 = 1;
	CHECK_STR_EQ(blas_kernel_for_cpu(&xeon), "Cooperlake");
	/* AVX without AVX2 on AMD: Bulldozer's FMA4 kernels only where FMA4 is
	 * (a Zen asked for Piledriver dies with SIGILL) */
	{
		struct cpu_features bd = { .vendor = CPU_VENDOR_AMD, .sse3 = 1, .ssse3 = 1,
					   .sse41 = 1, .sse42 = 1, .avx = 1 };
		CHECK_STR_EQ(blas_kernel_for_cpu(&bd), "Sandybridge");
		bd.fma4 = 1;
		CHECK_STR_EQ(blas_kernel_for_cpu(&bd), "Bulldozer");
		bd.fma = 1;
		CHECK_STR_EQ(blas_kernel_for_cpu(&bd), "Piledriver");
	}
}

/* The kernels to try, Prescott up: both AVX2 kernels, and the chosen one
 * last, on an AVX2 CPU of either vendor (an AVX2-only AMD VM had Haswell
 * last while Zen was chosen). */
static void test_runnable(void)
{
	const enum cpu_vendor vendors[] = { CPU_VENDOR_AMD, CPU_VENDOR_INTEL };

	for (size_t v = 0; v < 2; v++) {
		struct cpu_features f = avx2_cpu(vendors[v]);
		const char *k[16];
		int n = blas_kernels_runnable(&f, k, 16), haswell = 0, zen = 0;

		CHECK(n >= 2);
		if (n < 2)
			continue;
		CHECK_STR_EQ(k[0], "Prescott");
		CHECK_STR_EQ(k[n - 1], blas_kernel_for_cpu(&f));
		for (int i = 0; i < n; i++) {
			haswell += !strcmp(k[i], "Haswell");
			zen += !strcmp(k[i], "Zen");
		}
		CHECK_INT_EQ(haswell, 1);
		CHECK_INT_EQ(zen, 1);
	}
}

static char **test_argv;

static void test_selected_not_below_cpu(void)
{
	char msg[256];
	const char *expected = ada_blas_kernel_expected();
	real a = 1, b = 2, c = 0;

	/* a product through nn/blas.c: the BLAS the library uses is loaded */
	gemm(0, 0, 1, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1);
	CHECK(c == 2);
	if (!dlsym(RTLD_DEFAULT, "openblas_get_corename")) {
		check_skip("the BLAS is not OpenBLAS");
		return;
	}
	if (getenv("ADALORA_TEST_BLAS_CURRENT")) {
		check_skip("the re-exec test's child");
		return;
	}
	if (getenv("OPENBLAS_CORETYPE") && !getenv("ADALORA_BLAS_REEXEC")) {
		check_skip("OPENBLAS_CORETYPE set by the user");
		return;
	}
	/* may re-execute this test once with the better kernel */
	CHECK_INT_EQ(ada_blas_kernel_select(test_argv, msg, sizeof(msg)), 0);
	if (msg[0])
		fprintf(stderr, "%s\n", msg);
	fprintf(stderr, "kernel %s, the CPU allows %s\n", ada_blas_kernel(), expected);
	CHECK(expected[0] != '\0');
	CHECK(blas_kernel_rank(ada_blas_kernel()) >= blas_kernel_rank(expected));
}

/* The re-exec itself: this program, told OpenBLAS chose Prescott, starts
 * again once with OPENBLAS_CORETYPE set to the CPU's kernel and says so. */
static void test_reexec_once(void)
{
	char msg[256], cmd[4096];
	const char *expected = ada_blas_kernel_expected();
	real a = 1, b = 2, c = 0;

	gemm(0, 0, 1, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1);
	if (!dlsym(RTLD_DEFAULT, "openblas_get_corename")) {
		check_skip("the BLAS is not OpenBLAS");
		return;
	}
	if (blas_kernel_rank(expected) <= 1) {
		check_skip("no kernel above Prescott on this CPU");
		return;
	}
	if (!getenv("ADALORA_TEST_BLAS_CURRENT")) {
		/* the parent: run the child and look at its exit status */
		snprintf(cmd, sizeof(cmd),
			 "env -u OPENBLAS_CORETYPE -u ADALORA_BLAS_REEXEC ADALORA_TEST_BLAS_CURRENT=Prescott "
			 "ADALORA_TEST_ONLY=test_reexec_once '%s'", test_argv[0]);
		CHECK_INT_EQ(system(cmd), 0);
		return;
	}
	/* the child: the first image re-executes here, the second returns */
	CHECK_INT_EQ(ada_blas_kernel_select(test_argv, msg, sizeof(msg)), 0);
	fprintf(stderr, "child: %s\n", msg);
	CHECK(strstr(msg, "selected") != NULL);
	CHECK(getenv("OPENBLAS_CORETYPE") && !strcmp(getenv("OPENBLAS_CORETYPE"), expected));
	CHECK(getenv("ADALORA_BLAS_REEXEC") == NULL);
	CHECK_STR_EQ(ada_blas_kernel(), expected);
}

int main(int argc, char **argv)
{
	(void)argc;
	test_argv = argv;
	RUN(test_selected_not_below_cpu);
	RUN(test_reexec_once);
	RUN(test_ranks);
	RUN(test_choices);
	RUN(test_runnable);
	return check_summary();
}

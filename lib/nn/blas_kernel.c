/*
 * blas_kernel — the kernel table of blas_kernel.h, and ada_blas_kernel_*()
 * (adalora.h): the start-up check that makes OpenBLAS run the best kernel
 * the CPU has.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so the only
 * way to change its kernel is to set the variable and start the program
 * again: execv() of /proc/self/exe with the same argv, before any thread
 * exists. ADALORA_BLAS_REEXEC (set for the new image) says which kernel
 * was asked for, so a kernel OpenBLAS does not load is never asked for
 * twice: at most one re-exec per start. A user's OPENBLAS_CORETYPE is
 * never overridden. The check finds OpenBLAS by its symbol at run time
 * (dlsym), so a program linked to another BLAS is left alone.
 *
 * ADALORA_TEST_BLAS_CURRENT=name (tests only) stands for OpenBLAS's own
 * choice in the first image, so the re-exec can be tested on a machine
 * where OpenBLAS already chooses well.
 */
#define _GNU_SOURCE 1
#include "nn/blas_kernel.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "adalora.h"

static const struct {
	const char *name;
	int rank;
} kernels[] = {
	{ "Katmai", 0 }, { "Coppermine", 0 }, { "Northwood", 0 }, { "Banias", 0 }, { "Athlon", 0 },
	{ "Prescott", 1 }, { "Opteron", 1 }, { "Opteron_SSE3", 1 },
	{ "Core2", 2 }, { "Penryn", 2 }, { "Dunnington", 2 }, { "Atom", 2 }, { "Nano", 2 },
	{ "Bobcat", 2 }, { "Barcelona", 2 },
	{ "Nehalem", 3 },
	{ "Sandybridge", 4 }, { "Bulldozer", 4 }, { "Piledriver", 4 }, { "Steamroller", 4 },
	{ "Excavator", 4 },
	{ "Haswell", 5 }, { "Zen", 5 },
	{ "SkylakeX", 6 },
	{ "Cooperlake", 7 },
	{ "SapphireRapids", 8 },
};

int blas_kernel_rank(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
		if (!strcasecmp(name, kernels[i].name))
			return kernels[i].rank;
	return -1;
}

/* The kernel of a rank for this CPU's vendor ("" for none). */
static const char *kernel_of_rank(const struct cpu_features *f, int rank)
{
	const int amd = f->vendor == CPU_VENDOR_AMD || f->vendor == CPU_VENDOR_HYGON;

	switch (rank) {
	case 8: return "SapphireRapids";
	case 7: return "Cooperlake";
	case 6: return "SkylakeX";
	case 5: return amd ? "Zen" : "Haswell";
	/* Bulldozer's kernels use FMA4, which Zen dropped: only where it exists */
	case 4: return amd && f->fma4 ? (f->fma ? "Piledriver" : "Bulldozer") : "Sandybridge";
	case 3: return "Nehalem";
	case 2: return amd ? "Barcelona" : "Core2";
	case 1: return "Prescott";
	default: return "";
	}
}

static int cpu_rank(const struct cpu_features *f)
{
	if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512cd) {
		if (f->amx_tile && f->amx_bf16 && f->avx512_bf16)
			return 8;
		return f->avx512_bf16 ? 7 : 6;
	}
	if (f->avx2 && f->fma)
		return 5;
	if (f->avx)
		return 4;
	if (f->sse42)
		return 3;
	if (f->ssse3)
		return 2;
	return f->sse3 ? 1 : 0;
}

const char *blas_kernel_for_cpu(const struct cpu_features *f)
{
	return kernel_of_rank(f, cpu_rank(f));
}

int blas_kernels_runnable(const struct cpu_features *f, const char **out, int cap)
{
	const int top = cpu_rank(f);
	const int amd = f->vendor == CPU_VENDOR_AMD || f->vendor == CPU_VENDOR_HYGON;
	int n = 0;

	for (int r = 1; r <= top && n < cap; r++) {
		/* rank 5's other kernel first (Haswell's and Zen's both need
		 * AVX2 + FMA), so the vendor's own, the one chosen, comes last
		 * on a CPU whose best is rank 5 */
		if (r == 5 && n + 1 < cap)
			out[n++] = amd ? "Haswell" : "Zen";
		out[n++] = kernel_of_rank(f, r);
	}
	return n;
}

const char *blas_kernel_next(const struct cpu_features *f, const char *current,
			     const char *tried)
{
	const int cur = blas_kernel_rank(current);
	int r = cpu_rank(f);

	if (cur < 0)
		return NULL;
	if (tried) {
		const int t = blas_kernel_rank(tried);
		if (t >= 0 && t - 1 < r)
			r = t - 1;
	}
	return r > cur && r >= 1 ? kernel_of_rank(f, r) : NULL;
}

typedef char *corename_fn(void);

static corename_fn *openblas_corename(void)
{
	void *p = dlsym(RTLD_DEFAULT, "openblas_get_corename");
	corename_fn *fn;

	memcpy(&fn, &p, sizeof(fn));
	return fn;
}

const char *ada_blas_kernel(void)
{
	corename_fn *fn = openblas_corename();
	const char *name = fn ? fn() : NULL;

	return name && *name ? name : "unknown";
}

const char *ada_blas_kernel_expected(void)
{
	struct cpu_features f;

	cpu_features_detect(&f);
	return blas_kernel_for_cpu(&f);
}

#define REEXEC_VAR "ADALORA_BLAS_REEXEC"

int ada_blas_kernel_select(char **argv, char *msg, size_t msg_size)
{
	corename_fn *fn = openblas_corename();
	const char *current, *tried, *next;
	struct cpu_features f;

	if (msg_size)
		msg[0] = '\0';
	tried = getenv(REEXEC_VAR);
	if (!fn)
		return 0;   /* not OpenBLAS: nothing to choose */
	current = fn();
	if (tried) {
		/* this image is the re-exec: say what happened, once */
		if (blas_kernel_rank(current) == blas_kernel_rank(tried))
			snprintf(msg, msg_size, "blas kernel %s selected (OPENBLAS_CORETYPE=%s)",
				 current, tried);
		else
			snprintf(msg, msg_size,
				 "blas kernel %s: OpenBLAS did not load %s (OPENBLAS_CORETYPE=%s)",
				 current, tried, tried);
		unsetenv(REEXEC_VAR);
		return 0;
	}
	if (getenv("OPENBLAS_CORETYPE"))
		return 0;   /* the user's choice */
	if (getenv("ADALORA_TEST_BLAS_CURRENT"))
		current = getenv("ADALORA_TEST_BLAS_CURRENT");
	cpu_features_detect(&f);
	next = blas_kernel_next(&f, current, NULL);
	if (!next || !argv || !argv[0])
		return 0;
	if (setenv("OPENBLAS_CORETYPE", next, 1) || setenv(REEXEC_VAR, next, 1))
		goto out_fail;
	fflush(NULL);
	execv("/proc/self/exe", argv);
	/* still here: run on with OpenBLAS's choice */
	unsetenv("OPENBLAS_CORETYPE");
	unsetenv(REEXEC_VAR);
out_fail:
	snprintf(msg, msg_size, "blas kernel %s below the CPU's %s; could not restart with it",
		 current, next);
	return -1;
}

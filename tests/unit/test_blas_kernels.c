/*
 * The numerics under every OpenBLAS kernel this CPU runs (issue 11: "the
 * gradient checks, greedy match and PEFT round trip pass under each kernel
 * this machine can run"). For each kernel nn/blas_kernel.c says the CPU's
 * features allow (Prescott up to the best: here Cooperlake), the test
 * programs named on the command line run again with OPENBLAS_CORETYPE set
 * to it — "PATH" runs a program whole, "PATH:NAME" one RUN() function of it
 * (ADALORA_TEST_ONLY) — and each must pass (or skip, exit 77, as it would
 * without ../shared). A kernel OpenBLAS does not load when asked (a build
 * without it) is reported and left out; the check is that it says so.
 * Skips where OpenBLAS is not the BLAS.
 *
 * `test_blas_kernels --corename` prints the kernel this process's OpenBLAS
 * loaded: how the test learns what a forced OPENBLAS_CORETYPE gave.
 */
#include "check.h"

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adalora.h"
#include "nn/blas.h"
#include "nn/blas_kernel.h"
#include "util/cpu.h"

/* The kernel a child of this program loads with OPENBLAS_CORETYPE=kernel. */
static int loaded_kernel(const char *self, const char *kernel, char *out, size_t cap)
{
	char cmd[4500];
	FILE *p;
	int ok;

	snprintf(cmd, sizeof(cmd), "OPENBLAS_CORETYPE='%s' '%s' --corename", kernel, self);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	ok = fgets(out, (int)cap, p) != NULL;
	pclose(p);
	if (!ok)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* Run spec ("PATH" or "PATH:NAME") under kernel; its exit status. */
static int run_under(const char *spec, const char *kernel)
{
	char path[4096];
	const char *colon = strrchr(spec, ':');
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	pid = fork();
	if (pid == 0) {
		setenv("OPENBLAS_CORETYPE", kernel, 1);
		if (colon)
			setenv("ADALORA_TEST_ONLY", colon + 1, 1);
		else
			unsetenv("ADALORA_TEST_ONLY");
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static char **specs;
static int n_specs;
static const char *self;

static void test_every_kernel(void)
{
	const char *kernels[16];
	struct cpu_features f;
	int n, tried = 0;

	cpu_features_detect(&f);
	n = blas_kernels_runnable(&f, kernels, 16);
	if (n == 0) {
		check_skip("no x86 OpenBLAS kernel for this CPU");
		return;
	}
	CHECK_STR_EQ(kernels[n - 1], blas_kernel_for_cpu(&f));
	for (int k = 0; k < n; k++) {
		char loaded[128] = "";

		CHECK_OK(loaded_kernel(self, kernels[k], loaded, sizeof(loaded)) ? ADA_EIO : ADA_OK,
			 NULL);
		if (strcasecmp(loaded, kernels[k])) {
			fprintf(stderr, "%-12s OpenBLAS loaded %s instead: left out\n", kernels[k],
				loaded);
			continue;
		}
		tried++;
		for (int i = 0; i < n_specs; i++) {
			int rc = run_under(specs[i], kernels[k]);
			fprintf(stderr, "%-12s %-60s %s\n", kernels[k], specs[i],
				rc == 0 ? "ok" : rc == 77 ? "skipped" : "FAILED");
			CHECK_MSG(rc == 0 || rc == 77, "%s under OPENBLAS_CORETYPE=%s: exit %d",
				  specs[i], kernels[k], rc);
		}
	}
	/* the best kernel at least must load: it is what the start-up check asks for */
	CHECK_MSG(tried > 0, "OpenBLAS loaded none of the %d kernels asked for", n);
}

int main(int argc, char **argv)
{
	static char exe[4096];
	float a = 1, b = 2, c = 0;
	void *sym;
	ssize_t len;

	/* a product first, so the BLAS is linked and loaded (--as-needed) */
	gemm(0, 0, 1, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1);
	sym = dlsym(RTLD_DEFAULT, "openblas_get_corename");

	if (argc > 1 && !strcmp(argv[1], "--corename")) {
		puts(ada_blas_kernel());
		return 0;
	}
	if (!sym) {
		fprintf(stderr, "SKIP: the BLAS is not OpenBLAS\n");
		return 77;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return 1;
	exe[len] = '\0';
	self = exe;
	specs = argv + 1;
	n_specs = argc - 1;
	RUN(test_every_kernel);
	return check_summary();
}

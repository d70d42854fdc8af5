/* Tests of cli/cmd_schedule.c: `adalora schedule` called in-process with
 * stdout and stderr captured through temporary files. */
#include "check.h"

#include <fcntl.h>
#include <unistd.h>

#include "../../cli/commands.h"
#include "util/fileio.h"

static char *tmpdir;

struct run {
	int status;
	char out[1 << 16];
	char err[4096];
};

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Run cmd_schedule with argv = {"schedule", args..., NULL}. */
static void run_schedule(struct run *r, const char *const *args)
{
	char out_path[4200], err_path[4200];
	char *argv[32];
	int argc = 0, saved_out, saved_err, fo, fe;

	argv[argc++] = "schedule";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/out", tmpdir);
	snprintf(err_path, sizeof(err_path), "%s/err", tmpdir);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	r->status = cmd_schedule(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(fo);
	close(fe);
	slurp(out_path, r->out, sizeof(r->out));
	slurp(err_path, r->err, sizeof(r->err));
}

#define SMALL "--total-steps", "10", "--tinit", "2", "--tfinal", "3", "--delta-t", "2", \
	      "--init-r", "3", "--target-r", "1", "--n-matrices", "2"

static void test_small_schedule(void)
{
	static const char *const args[] = { SMALL, NULL };
	struct run r;

	/* b0 = 6, bT = 2, freeze at 10 - 3 = 7; the cubic over 5 steps:
	 * t = 3: 2 + 4 * 0.8^3 = 4.048, t = 4: 2 + 4 * 0.6^3 = 2.864;
	 * masks at the even steps in (2, 7) and at 7. */
	run_schedule(&r, args);
	CHECK_INT_EQ(r.status, 0);
	CHECK_STR_EQ(r.out, "{\"initial\":6,\"target\":2,\"freeze_step\":7,"
		     "\"points\":[[0,6],[1,6],[2,6],[3,4],[4,2],[5,2],[6,2],[7,2],[8,2],[9,2]],"
		     "\"mask_steps\":[4,6,7],\"n_mask_steps\":3}\n");
	CHECK_STR_EQ(r.err, "");
}

static void test_at_steps(void)
{
	static const char *const args[] = { SMALL, "--at", "0,3,7,100", NULL };
	static const char *const eq_args[] = {
		"--total-steps=85904", "--tinit=8000", "--tfinal=50000", "--delta-t=100",
		"--init-r=3", "--target-r=1", "--n-matrices=72",
		"--at=0,10000,20000,30000,35800,85904", NULL
	};
	struct run r;

	run_schedule(&r, args);
	CHECK_INT_EQ(r.status, 0);
	CHECK_STR_EQ(r.out, "{\"initial\":6,\"target\":2,\"points\":[[0,6],[3,4],[7,2],[100,2]]}\n");

	/* The paper's test vector, with --flag=value spelling. */
	run_schedule(&r, eq_args);
	CHECK_INT_EQ(r.status, 0);
	CHECK_STR_EQ(r.out, "{\"initial\":216,\"target\":72,\"points\":[[0,216],[10000,187],"
		     "[20000,98],[30000,73],[35800,72],[85904,72]]}\n");
}

/* A usage error: exit 2, nothing on stdout, one line on stderr containing want. */
static void expect_usage_error(const char *const *args, const char *want)
{
	struct run r;
	char *nl;

	run_schedule(&r, args);
	CHECK_INT_EQ(r.status, 2);
	CHECK_STR_EQ(r.out, "");
	nl = strchr(r.err, '\n');
	CHECK_MSG(nl && nl[1] == '\0', "not one line: \"%s\"", r.err);
	CHECK_MSG(strstr(r.err, want) != NULL, "\"%s\" lacks \"%s\"", r.err, want);
}

static void test_usage_errors(void)
{
	static const char *const missing[] = { "--total-steps", "10", "--tinit", "2",
		"--delta-t", "2", "--init-r", "3", "--target-r", "1", "--n-matrices", "2", NULL };
	static const char *const unknown[] = { SMALL, "--bogus", "1", NULL };
	static const char *const not_int[] = { "--total-steps", "10", "--tinit", "2x",
		"--tfinal", "3", "--delta-t", "2", "--init-r", "3", "--target-r", "1",
		"--n-matrices", "2", NULL };
	static const char *const twice[] = { SMALL, "--tinit", "3", NULL };
	static const char *const no_value[] = { SMALL, "--at", NULL };
	static const char *const stray[] = { SMALL, "extra", NULL };
	static const char *const bad_at[] = { SMALL, "--at", "1,,2", NULL };
	static const char *const neg_at[] = { SMALL, "--at", "-1", NULL };
	static const char *const too_big_r[] = { "--total-steps", "10", "--tinit", "2",
		"--tfinal", "3", "--delta-t", "2", "--init-r", "3", "--target-r", "4",
		"--n-matrices", "2", NULL };
	static const char *const short_run[] = { "--total-steps", "5", "--tinit", "2",
		"--tfinal", "3", "--delta-t", "2", "--init-r", "3", "--target-r", "1",
		"--n-matrices", "2", NULL };
	static const char *const zero_dt[] = { "--total-steps", "10", "--tinit", "2",
		"--tfinal", "3", "--delta-t", "0", "--init-r", "3", "--target-r", "1",
		"--n-matrices", "2", NULL };
	static const char *const huge[] = { SMALL, "--tfinal", "99999999999999999999", NULL };

	expect_usage_error(missing, "missing --tfinal");
	expect_usage_error(unknown, "unknown option '--bogus'");
	expect_usage_error(not_int, "--tinit: '2x' is not an integer");
	expect_usage_error(twice, "--tinit given twice");
	expect_usage_error(no_value, "--at needs a value");
	expect_usage_error(stray, "unexpected argument 'extra'");
	expect_usage_error(bad_at, "--at: '' is not a step");
	expect_usage_error(neg_at, "--at: '-1'");
	expect_usage_error(too_big_r, "--target-r: target_r (4) must not exceed init_r (3)");
	expect_usage_error(short_run, "--total-steps: total_steps (5) must exceed");
	expect_usage_error(zero_dt, "--delta-t: deltaT must be at least 1");
	expect_usage_error(huge, "--tfinal");
}

static void test_help(void)
{
	static const char *const args[] = { "--help", NULL };
	struct run r;

	run_schedule(&r, args);
	CHECK_INT_EQ(r.status, 0);
	CHECK(strncmp(r.out, "usage: adalora schedule", 23) == 0);
}

int main(void)
{
	tmpdir = check_tmpdir("cmd_schedule");
	RUN(test_small_schedule);
	RUN(test_at_steps);
	RUN(test_usage_errors);
	RUN(test_help);
	remove_tree(tmpdir, NULL);
	free(tmpdir);
	return check_summary();
}

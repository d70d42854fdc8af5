/*
 * test_daemon_options — adalorad's configuration: defaults, the --config
 * file, flags over the file, sizes and seconds, and one clear error for
 * anything wrong (naming the flag or key).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "launch.h"
#include "options.h"

static char *tmp;

static int parse(struct options *o, struct ada_err *err, int argc, ...)
{
	char *argv[32] = { "adalorad" };
	va_list ap;
	int help = 0, rc;

	va_start(ap, argc);
	for (int i = 1; i <= argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	rc = options_parse(argc + 1, argv, o, &help, err);
	return rc;
}

static char *write_config(const char *name, const char *text)
{
	char *path = malloc(4096);
	FILE *f;

	snprintf(path, 4096, "%s/%s", tmp, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	struct ada_err err = { 0 };
	struct options o;

	CHECK_OK(parse(&o, &err, 0), &err);
	CHECK_STR_EQ(o.listen, "127.0.0.1:8080");
	CHECK_STR_EQ(o.db, "adalorad.db");
	CHECK_INT_EQ(o.workers, 1);
	CHECK_INT_EQ(o.max_body_size, 1 << 20);
	CHECK_INT_EQ(o.sse_keepalive_ms, 15000);
	CHECK_INT_EQ(o.models_rescan_ms, 1000);
	CHECK_STR_EQ(o.sqlite_synchronous, "full");
	CHECK(o.api_key_file == NULL);
	CHECK_INT_EQ(o.header_timeout, 30);
	CHECK_INT_EQ(o.max_connections_per_address, 256);
	options_release(&o);
}

static void test_config_and_flags(void)
{
	struct ada_err err = { 0 };
	struct options o;
	char *cfg = write_config("c.json",
				 "{\"listen\": \"0.0.0.0:9000\", \"workers\": 3, \"max_body_size\": \"4M\","
				 " \"sse_keepalive\": 0.25, \"max_upload_size\": 1048576,"
				 " \"models_rescan_interval\": 30}");

	/* Flags win over the file, wherever --config stands. */
	CHECK_OK(parse(&o, &err, 4, "--workers=2", "--config", cfg, "--max-upload-size=2K"), &err);
	CHECK_STR_EQ(o.listen, "0.0.0.0:9000");
	CHECK_INT_EQ(o.workers, 2);
	CHECK_INT_EQ(o.max_body_size, 4 << 20);
	CHECK_INT_EQ(o.max_upload_size, 2048);
	CHECK_INT_EQ(o.sse_keepalive_ms, 250);
	CHECK_INT_EQ(o.models_rescan_ms, 30000);
	options_release(&o);
	/* 0 rescans at every ask; seconds may have decimals */
	CHECK_OK(parse(&o, &err, 3, "--config", cfg, "--models-rescan-interval=0"), &err);
	CHECK_INT_EQ(o.models_rescan_ms, 0);
	options_release(&o);
	CHECK_OK(parse(&o, &err, 2, "--models-rescan-interval", "0.05"), &err);
	CHECK_INT_EQ(o.models_rescan_ms, 50);
	options_release(&o);
	free(cfg);
}

static void expect_error(const char *what, int argc, char *a, char *b, const char *needle)
{
	struct ada_err err = { 0 };
	struct options o;
	int rc = argc == 1 ? parse(&o, &err, 1, a) : parse(&o, &err, 2, a, b);

	CHECK_MSG(rc == ADA_EINVAL, "%s: rc %d", what, rc);
	CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: \"%s\" lacks \"%s\"", what, err.msg,
		  needle);
	options_release(&o);
}

static void test_errors(void)
{
	char *unknown = write_config("u.json", "{\"colour\": 1}");
	char *typed = write_config("t.json", "{\"workers\": \"two\"}");
	char *broken = write_config("b.json", "{\"workers\": ");
	char *nested = write_config("n.json", "{\"config\": \"x.json\"}");

	expect_error("unknown flag", 1, "--colour", NULL, "--colour");
	expect_error("missing value", 1, "--db", NULL, "--db needs a value");
	expect_error("not an integer", 2, "--workers", "x", "--workers");
	expect_error("out of range", 2, "--workers", "257", "between 0 and 256");
	{
		struct ada_err err = { 0 };
		struct options o;
		int rc = parse(&o, &err, 4, "--lease-duration", "2", "--lease-heartbeat", "2");
		CHECK_INT_EQ(rc, ADA_EINVAL);
		CHECK_STR_EQ(err.param, "lease_heartbeat");
		options_release(&o);
	}
	expect_error("daemon id", 2, "--daemon-id", "a b", "--daemon-id may hold");
	expect_error("bad size", 2, "--max-body-size", "lots", "not a size");
	expect_error("negative interval", 2, "--models-rescan-interval", "-1", "not a number of seconds");
	expect_error("interval too long", 2, "--models-rescan-interval", "3601",
		     "between 0 and 3600 seconds");
	expect_error("bad level", 2, "--log-level", "loud", "--log-level");
	expect_error("bad sync", 2, "--sqlite-synchronous", "off", "full or normal");
	expect_error("unknown key", 2, "--config", unknown, "colour");
	expect_error("wrong type", 2, "--config", typed, "workers");
	expect_error("broken file", 2, "--config", broken, "line");
	expect_error("--config in a file", 2, "--config", nested, "config");
	free(unknown);
	free(nested);
	free(typed);
	free(broken);
}

/* --allowed-hosts and --allowed-origins: comma lists, origins checked. */
static void test_allowed_lists(void)
{
	struct ada_err err = { 0 };
	struct options o;
	char **v;
	size_t n;

	CHECK_OK(parse(&o, &err, 0), &err);
	CHECK(o.allowed_hosts == NULL && o.allowed_origins == NULL);
	CHECK_OK(options_list(o.allowed_hosts, &v, &n, &err), &err);
	CHECK_INT_EQ(n, 0);
	CHECK(v && v[0] == NULL);
	options_list_free(v, n);
	options_release(&o);

	CHECK_OK(parse(&o, &err, 3, "--allowed-hosts", " a.example ,, .lan,*",
		       "--allowed-origins=https://dash.example.com,http://10.0.0.2:3000/"), &err);
	CHECK_OK(options_list(o.allowed_hosts, &v, &n, &err), &err);
	CHECK_INT_EQ(n, 3);
	CHECK_STR_EQ(v[0], "a.example");
	CHECK_STR_EQ(v[1], ".lan");
	CHECK_STR_EQ(v[2], "*");
	CHECK(v[3] == NULL);
	options_list_free(v, n);
	CHECK_OK(options_list(o.allowed_origins, &v, &n, &err), &err);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[1], "http://10.0.0.2:3000/");
	options_list_free(v, n);
	options_release(&o);

	expect_error("an origin with a path", 2, "--allowed-origins", "https://a.example/app",
		     "not an origin");
	expect_error("an origin without a scheme", 2, "--allowed-origins", "a.example",
		     "not an origin");
	expect_error("a wildcard origin", 2, "--allowed-origins", "https://*.example", "not an origin");
}

/* The connection limits against slowloris. */
static void test_connection_limits(void)
{
	struct ada_err err = { 0 };
	struct options o;
	char *cfg = write_config("limits.json",
				 "{\"header_timeout\": 5, \"max_connections_per_address\": 16}");

	CHECK_OK(parse(&o, &err, 2, "--config", cfg), &err);
	CHECK_INT_EQ(o.header_timeout, 5);
	CHECK_INT_EQ(o.max_connections_per_address, 16);
	options_release(&o);
	CHECK_OK(parse(&o, &err, 2, "--header-timeout=0", "--max-connections-per-address=0"), &err);
	CHECK_INT_EQ(o.header_timeout, 0);
	CHECK_INT_EQ(o.max_connections_per_address, 0);
	options_release(&o);
	expect_error("a negative header timeout", 2, "--header-timeout", "-1", "between 0 and 3600");
	expect_error("a header timeout of days", 2, "--header-timeout", "86400", "between 0 and 3600");
	expect_error("a per-address cap that is not a number", 2, "--max-connections-per-address",
		     "many", "not an integer");
	free(cfg);
}

/* Recovery: crash loops, the reconciler, the integrity check. */
static void test_recovery_flags(void)
{
	struct ada_err err = { 0 };
	struct options o;

	CHECK_OK(parse(&o, &err, 0), &err);
	CHECK_INT_EQ(o.max_attempts, 3);
	CHECK_INT_EQ(o.reconcile_interval_ms, 30000);
	CHECK_STR_EQ(o.integrity_check, "quick");
	options_release(&o);
	CHECK_OK(parse(&o, &err, 3, "--max-attempts=0", "--reconcile-interval=0.5",
		       "--integrity-check=off"), &err);
	CHECK_INT_EQ(o.max_attempts, 0);
	CHECK_INT_EQ(o.reconcile_interval_ms, 500);
	CHECK_STR_EQ(o.integrity_check, "off");
	options_release(&o);
	CHECK_OK(parse(&o, &err, 0), &err);
	CHECK_INT_EQ(o.job_memory_limit, -1);   /* the daemon resolves it from the RAM */
	options_release(&o);
	CHECK_OK(parse(&o, &err, 2, "--job-memory-limit", "1.5G"), &err);
	CHECK_INT_EQ(o.job_memory_limit, (int64_t)3 << 29);
	options_release(&o);
	CHECK_OK(parse(&o, &err, 1, "--job-memory-limit=0"), &err);
	CHECK_INT_EQ(o.job_memory_limit, 0);
	options_release(&o);
	expect_error("a memory limit that is not a size", 2, "--job-memory-limit", "lots",
		     "not a size");
	expect_error("a negative attempt count", 2, "--max-attempts", "-1", "between 0 and 1000");
	expect_error("a reconcile interval too short", 2, "--reconcile-interval", "0.01",
		     "between 0.1 and 3600 seconds");
	expect_error("an unknown check", 2, "--integrity-check", "full", "quick or off");
}

/* Jobs across processes: the flags, and what the daemon checks of them at
 * start (launch.c): the launcher's program on PATH, adalora found. */
static void test_launch_flags(void)
{
	struct ada_err err = { 0 };
	struct launch_config lc;
	struct options o;

	CHECK_OK(parse(&o, &err, 0), &err);
	CHECK_INT_EQ(o.max_processes, 1);
	CHECK_STR_EQ(o.launcher, "mpirun -np {n}");
	CHECK(o.adalora_bin == NULL);
	CHECK_INT_EQ(o.launcher_grace_ms, 30000);
	options_release(&o);
	CHECK_OK(parse(&o, &err, 4, "--max-processes=8", "--launcher",
		       "mpirun --oversubscribe -np {n}", "--launcher-grace=2.5"), &err);
	CHECK_INT_EQ(o.max_processes, 8);
	CHECK_STR_EQ(o.launcher, "mpirun --oversubscribe -np {n}");
	CHECK_INT_EQ(o.launcher_grace_ms, 2500);
	options_release(&o);
	expect_error("a launcher without the count", 2, "--launcher", "mpirun -np 2", "{n}");
	expect_error("no process", 2, "--max-processes", "0", "between 1 and 4096");

	/* the launcher split at blanks; its program and adalora must exist */
	CHECK_OK(launch_config_init(&lc, "  env   -np={n}  x ", "/bin/true", 1000, 2, &err), &err);
	CHECK_INT_EQ(lc.n_words, 3);
	if (lc.n_words == 3) {
		CHECK_STR_EQ(lc.words[1], "-np={n}");
		CHECK(strstr(lc.launcher_path, "/env") != NULL);
		CHECK(strstr(lc.adalora, "/true") != NULL);
	}
	launch_config_release(&lc);
	CHECK_INT_EQ(launch_config_init(&lc, "no-such-launcher-here -np {n}", "/bin/true", 1000, 2,
					&err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "launcher");
	CHECK_INT_EQ(launch_config_init(&lc, "env {n}", "/no/such/adalora", 1000, 2, &err),
		     ADA_EINVAL);
	CHECK_STR_EQ(err.param, "adalora_bin");
}

int main(void)
{
	tmp = check_tmpdir("options");
	RUN(test_defaults);
	RUN(test_config_and_flags);
	RUN(test_errors);
	RUN(test_allowed_lists);
	RUN(test_connection_limits);
	RUN(test_recovery_flags);
	RUN(test_launch_flags);
	free(tmp);
	return check_summary();
}

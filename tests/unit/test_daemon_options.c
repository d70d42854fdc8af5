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
	expect_error("out of range", 2, "--workers", "0", "between 1 and 256");
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

int main(void)
{
	tmp = check_tmpdir("options");
	RUN(test_defaults);
	RUN(test_config_and_flags);
	RUN(test_errors);
	free(tmp);
	return check_summary();
}

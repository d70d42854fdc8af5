/*
 * test_mhd_log — libmicrohttpd's warnings are rate limited (api/mhd_log.c):
 * a message repeated in a loop (accept() at the descriptor limit) is
 * written once a second with the count of those dropped, distinct
 * messages are not held back, and nothing counted is lost at the flush.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "http.h"

static char lines[64][800];
static int n_lines;

static void on_log(void *ctx, enum api_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	if (n_lines < 64)
		snprintf(lines[n_lines], sizeof(lines[0]), "%s", line);
	n_lines++;
}

static void say(struct api *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mhd_log(a, fmt, ap);
	va_end(ap);
}

static void test_flood(void)
{
	struct api *a = calloc(1, sizeof(*a));

	a->cfg.hooks.log = on_log;
	CHECK_INT_EQ(mhd_log_init(a), 0);
	n_lines = 0;
	for (int i = 0; i < 200000; i++)
		say(a, "Error accepting connection: %s\n", "Too many open files");
	CHECK_INT_EQ(n_lines, 1);
	CHECK(strstr(lines[0], "detail=\"Error accepting connection: Too many open files\"") != NULL);
	CHECK(strstr(lines[0], "repeated=") == NULL);
	/* Other messages still get through at once. */
	say(a, "Server reached connection limit. Closing inbound connection.");
	CHECK_INT_EQ(n_lines, 2);
	/* After the interval the message is written again, with its count. */
	nanosleep(&(struct timespec){ 1, 100000000 }, NULL);
	say(a, "Error accepting connection: %s\n", "Too many open files");
	CHECK_INT_EQ(n_lines, 3);
	CHECK_MSG(strstr(lines[2], "repeated=199999") != NULL, "%s", lines[2]);
	/* Dropped repeats are written at the flush (shutdown). */
	for (int i = 0; i < 10; i++)
		say(a, "Error accepting connection: %s\n", "Too many open files");
	mhd_log_flush(a);
	CHECK_INT_EQ(n_lines, 4);
	CHECK_MSG(strstr(lines[3], "repeated=10") != NULL, "%s", lines[3]);
	mhd_log_flush(a);
	CHECK_INT_EQ(n_lines, 4);
	/* More distinct messages than slots: a slot's count is written when
	 * it is reused. */
	say(a, "message %d", 0);
	say(a, "message %d", 0);
	for (int i = 1; i <= MHD_LOG_SLOTS; i++)
		say(a, "message %d", i);
	CHECK_INT_EQ(n_lines, 4 + 1 + MHD_LOG_SLOTS + 1);
	{
		int found = 0;
		for (int i = 4; i < n_lines && i < 64; i++)
			found |= strstr(lines[i], "detail=\"message 0\" repeated=1") != NULL;
		CHECK(found);
	}
	mhd_log_release(a);
	free(a);
}

int main(void)
{
	RUN(test_flood);
	return check_summary();
}

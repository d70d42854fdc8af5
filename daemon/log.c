/* log — structured log lines on stderr; see log.h. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"

static enum log_level min_level = LOG_INFO;

/* Held lines (start-up, before "listening on"); only the main thread and
 * threads it starts log while held, so the lock is all they share. */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static int holding;
static struct strbuf held = STRBUF_INIT;

static const char *const names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	min_level = level;
}

int log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

void log_line(enum log_level level, const char *pairs)
{
	char line[4096];
	struct timeval tv;
	struct tm tm;
	size_t n;

	if (level < min_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ level=%s %s",
			      (int)(tv.tv_usec / 1000), names[level], pairs);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&held_lock);
	if (holding) {
		strbuf_add(&held, line, n);   /* what memory cannot hold is lost */
		pthread_mutex_unlock(&held_lock);
		return;
	}
	pthread_mutex_unlock(&held_lock);
	/* One write: lines of different threads never interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void log_hold(void)
{
	pthread_mutex_lock(&held_lock);
	holding = 1;
	pthread_mutex_unlock(&held_lock);
}

void log_release(void)
{
	pthread_mutex_lock(&held_lock);
	holding = 0;
	if (held.n && write(STDERR_FILENO, held.p, held.n) < 0)
		held.n = 0;
	strbuf_release(&held);
	pthread_mutex_unlock(&held_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char pairs[3500];
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(pairs, sizeof(pairs), fmt, ap);
	va_end(ap);
	log_line(level, pairs);
}

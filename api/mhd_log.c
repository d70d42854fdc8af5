/*
 * mhd_log — libmicrohttpd's warnings into the daemon's log, each distinct
 * message at most once a second.
 *
 * When the process runs out of descriptors libmicrohttpd retries accept()
 * in a loop and warns every time: 170,000 lines a second were seen at
 * ulimit -n 256. So each message is remembered (a few recent ones, by
 * text) with when it was last written; a repeat within the interval is
 * counted instead of written, and the next line of that message (or the
 * flush at shutdown, or its slot being reused) says how many were
 * dropped: `repeated=N`.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

#define INTERVAL_NS 1000000000ull

static void emit(struct api *a, const char *msg, uint64_t repeated)
{
	char line[700] = "", num[32];

	logfmt_append(line, sizeof(line), "msg", "libmicrohttpd");
	logfmt_append(line, sizeof(line), "detail", msg);
	if (repeated) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)repeated);
		logfmt_append(line, sizeof(line), "repeated", num);
	}
	api_log(a, API_LOG_WARN, "%s", line);
}

void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct api *a = cls;
	struct mhd_log_state *l = &a->mhd_log;
	char msg[MHD_LOG_MSG];
	char dropped[MHD_LOG_MSG] = "";
	uint64_t now = now_ns(), dropped_n = 0, repeated = 0;
	size_t n;
	int i, slot = -1, write = 1;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	pthread_mutex_lock(&l->lock);
	for (i = 0; i < MHD_LOG_SLOTS && slot < 0; i++)
		if (l->slot[i].used && !strcmp(l->slot[i].msg, msg))
			slot = i;
	if (slot >= 0) {
		if (now - l->slot[slot].last_ns < INTERVAL_NS) {
			l->slot[slot].suppressed++;
			write = 0;
		} else {
			repeated = l->slot[slot].suppressed;
			l->slot[slot].suppressed = 0;
			l->slot[slot].last_ns = now;
		}
	} else {
		slot = (int)(l->next++ % MHD_LOG_SLOTS);
		if (l->slot[slot].used && l->slot[slot].suppressed) {
			snprintf(dropped, sizeof(dropped), "%s", l->slot[slot].msg);
			dropped_n = l->slot[slot].suppressed;
		}
		snprintf(l->slot[slot].msg, sizeof(l->slot[slot].msg), "%s", msg);
		l->slot[slot].used = 1;
		l->slot[slot].suppressed = 0;
		l->slot[slot].last_ns = now;
	}
	pthread_mutex_unlock(&l->lock);
	if (dropped_n)
		emit(a, dropped, dropped_n);
	if (write)
		emit(a, msg, repeated);
}

int mhd_log_init(struct api *a)
{
	memset(&a->mhd_log, 0, sizeof(a->mhd_log));
	return pthread_mutex_init(&a->mhd_log.lock, NULL) ? -1 : 0;
}

void mhd_log_flush(struct api *a)
{
	struct mhd_log_state *l = &a->mhd_log;

	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < MHD_LOG_SLOTS; i++)
		if (l->slot[i].used && l->slot[i].suppressed) {
			emit(a, l->slot[i].msg, l->slot[i].suppressed);
			l->slot[i].suppressed = 0;
		}
	pthread_mutex_unlock(&l->lock);
}

void mhd_log_release(struct api *a)
{
	pthread_mutex_destroy(&a->mhd_log.lock);
}

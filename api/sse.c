/*
 * sse — live event streams (Server-Sent Events) of a job.
 *
 * Events are persisted before anyone hears of them; a stream only ever
 * reads the store, from its cursor on, so what it sends is exactly the
 * event log with no gaps and no duplicates, and a client resuming with
 * Last-Event-ID picks up where it left off.
 *
 * A stream with nothing to send suspends its connection (no thread waits
 * for it). Two things resume it: the store's watcher, run on the writing
 * thread right after an event of the job commits, and the keep-alive
 * thread, when the stream has been quiet for the keep-alive interval.
 * The flags that decide between "suspend" and "look again" (pending,
 * suspended) are only touched under sse_lock, so a wake-up that races
 * with a stream going to sleep is never lost.
 *
 * A client that goes away is noticed without waiting for a write to fail
 * (the first write after the peer closed still succeeds, so that took two
 * keep-alive intervals): the keep-alive thread looks at every suspended
 * stream's socket on each tick, and one whose peer has closed or reset is
 * resumed to end at once, freeing its slot (--max-sse-clients). A peer
 * that vanished without a word is caught by TCP_USER_TIMEOUT: unacknowledged
 * data for two keep-alive intervals fails the socket.
 *
 * When the job reaches a final status and its log is drained, the stream
 * sends `event: done` and ends. The final status and its event commit in
 * one transaction and the stream reads the status before the events, so
 * "final and nothing left" really is the end.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "util/alloc.h"

#define SSE_BATCH 64

struct sse_stream {
	struct api *api;
	struct MHD_Connection *conn;
	struct store_watch watch;
	int64_t cursor;             /* number of the last event formatted */
	struct strbuf buf;          /* formatted text; [off, n) not yet handed out */
	size_t off;
	int pending;                /* an event committed since the last look */
	int suspended;
	int done;                   /* the final block is in buf */
	int gone;                   /* the client closed its end */
	int fd;                     /* the connection's socket, -1 when unknown */
	uint64_t next_keepalive_ns;
	struct sse_stream *prev, *next;
};

static int buf_append(struct sse_stream *s, const char *text, size_t n)
{
	if (s->off == s->buf.n) {
		s->off = 0;
		strbuf_reset(&s->buf);
	}
	return strbuf_add(&s->buf, text, n);
}

static int format_event(struct sse_stream *s, const struct store_event *e)
{
	json_t *o = event_object(s->watch.job_id, e);
	char *text = o ? json_dumps(o, API_JSON_FLAGS) : NULL;
	char head[96];
	int rc, n;

	json_decref(o);
	if (!text)
		return -1;
	n = snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ", (long long)e->seq, e->type);
	rc = buf_append(s, head, (size_t)n) || buf_append(s, text, strlen(text)) ||
	     buf_append(s, "\n\n", 2);
	free(text);
	return rc ? -1 : 0;
}

/* Read what the store has past the cursor into buf; at the end of a
 * finished job's log, the done block. -1 on failure.
 *
 * The events first: a live job's new event needs no other read (with
 * PostgreSQL, none at all when the store heard it: store/postgresql/
 * recent.c). Only when there is none is the job's status read, and then
 * the events again, so that the done block never comes before an event
 * written before the job ended. */
static int fill(struct sse_stream *s)
{
	struct api *a = s->api;
	struct ada_err err = { 0 };
	struct store_events ev;
	struct store_job job;
	enum job_status status = JOB_RUNNING;
	int rc;

	rc = store_event_follow(a->cfg.store, s->watch.job_id, s->cursor, SSE_BATCH, &ev, &err);
	if (rc)
		goto out_fail;
	if (ev.n == 0) {
		store_events_release(&ev);
		rc = store_job_get(a->cfg.store, s->watch.job_id, &job, &err);
		if (rc)
			goto out_fail;
		status = job.status;
		store_job_release(&job);
		if (!job_status_final(status))
			return 0;
		rc = store_event_follow(a->cfg.store, s->watch.job_id, s->cursor, SSE_BATCH, &ev,
				      &err);
		if (rc)
			goto out_fail;
	}
	for (size_t i = 0; i < ev.n && !rc; i++) {
		rc = format_event(s, &ev.v[i]);
		s->cursor = ev.v[i].seq;
	}
	if (!rc && ev.n == 0 && job_status_final(status)) {
		char done[96];
		int n = snprintf(done, sizeof(done), "event: done\ndata: {\"status\":\"%s\"}\n\n",
				 job_status_name(status));
		rc = buf_append(s, done, (size_t)n);
		s->done = 1;
	}
	store_events_release(&ev);
	return rc ? -1 : 0;
out_fail:
	api_log(a, API_LOG_ERROR, "msg=\"event stream failed\" job=%s detail=\"%s\"",
		s->watch.job_id, err.msg);
	return -1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse_stream *s = cls;
	struct api *a = s->api;

	(void)pos;
	for (;;) {
		uint64_t now;
		int stop;

		if (s->off < s->buf.n) {
			size_t n = s->buf.n - s->off < max ? s->buf.n - s->off : max;
			memcpy(out, s->buf.p + s->off, n);
			s->off += n;
			return (ssize_t)n;
		}
		if (s->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&a->sse_lock);
		s->pending = 0;
		stop = a->stopping || s->gone;
		pthread_mutex_unlock(&a->sse_lock);
		if (stop || fill(s))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (s->off < s->buf.n)
			continue;
		now = now_ns();
		if (now >= s->next_keepalive_ns) {
			s->next_keepalive_ns = now + (uint64_t)a->cfg.limits.keepalive_ms * 1000000ull;
			if (buf_append(s, ": keep-alive\n\n", 14))
				return MHD_CONTENT_READER_END_OF_STREAM;
			continue;
		}
		pthread_mutex_lock(&a->sse_lock);
		if (s->pending || a->stopping) {
			pthread_mutex_unlock(&a->sse_lock);
			continue;
		}
		s->suspended = 1;
		MHD_suspend_connection(s->conn);
		pthread_mutex_unlock(&a->sse_lock);
		return 0;
	}
}

/* Caller holds sse_lock. */
static void resume_locked(struct sse_stream *s)
{
	if (!s->suspended)
		return;
	s->suspended = 0;
	MHD_resume_connection(s->conn);
}

int stream_peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (fd < 0 || poll(&p, 1, 0) <= 0)
		return 0;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* The store's watcher: an event of our job committed. */
static void sse_wake(void *ctx)
{
	struct sse_stream *s = ctx;

	pthread_mutex_lock(&s->api->sse_lock);
	s->pending = 1;
	resume_locked(s);
	pthread_mutex_unlock(&s->api->sse_lock);
}

static void sse_release(void *cls)
{
	struct sse_stream *s = cls;
	struct api *a = s->api;

	store_watch_remove(a->cfg.store, &s->watch);
	pthread_mutex_lock(&a->sse_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		a->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	a->n_streams--;
	pthread_mutex_unlock(&a->sse_lock);
	strbuf_release(&s->buf);
	free(s);
}

void sse_start(struct request *r, const char *job_id, int64_t after_seq)
{
	struct api *a = r->api;
	struct MHD_Response *resp;
	struct sse_stream *s;

	pthread_mutex_lock(&a->sse_lock);
	if (a->stopping || a->n_streams >= a->cfg.limits.max_streams) {
		int stopping = a->stopping;
		pthread_mutex_unlock(&a->sse_lock);
		if (stopping)
			reply_error(r, 503, "shutting_down", NULL, "the daemon is shutting down");
		else
			reply_error(r, 429, "too_many_streams", NULL,
				    "%u event streams are open, the limit; try again later",
				    a->cfg.limits.max_streams);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pthread_mutex_unlock(&a->sse_lock);
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	s->api = a;
	s->conn = r->conn;
	s->fd = -1;
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci) {
			unsigned ms = 2 * a->cfg.limits.keepalive_ms;
			s->fd = ci->connect_fd;
			setsockopt(s->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
		}
	}
	s->cursor = after_seq;
	s->next_keepalive_ns = now_ns() + (uint64_t)a->cfg.limits.keepalive_ms * 1000000ull;
	snprintf(s->watch.job_id, sizeof(s->watch.job_id), "%s", job_id);
	s->watch.wake = sse_wake;
	s->watch.ctx = s;
	s->next = a->streams;
	if (a->streams)
		a->streams->prev = s;
	a->streams = s;
	a->n_streams++;
	pthread_mutex_unlock(&a->sse_lock);
	store_watch_add(a->cfg.store, &s->watch);

	if (!(resp = stream_response(sse_read, s, sse_release))) {
		sse_release(s);
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	reply_response(r, 200, resp);
}

struct MHD_Response *stream_response(MHD_ContentReaderCallback read, void *cls,
				     MHD_ContentReaderFreeCallback release)
{
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read, cls, release);

	if (!resp)
		return NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return resp;
}

static void *keepalive_main(void *arg)
{
	struct api *a = arg;
	uint64_t tick_ns = (uint64_t)a->cfg.limits.keepalive_ms * 1000000ull / 4;

	if (tick_ns < 10000000ull)
		tick_ns = 10000000ull;
	if (tick_ns > 1000000000ull)
		tick_ns = 1000000000ull;
	pthread_mutex_lock(&a->sse_lock);
	while (!a->stopping) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)tick_ns;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&a->sse_cond, &a->sse_lock, &ts);
		now = now_ns();
		for (struct sse_stream *s = a->streams; s; s = s->next) {
			if (s->suspended && stream_peer_gone(s->fd)) {
				s->gone = 1;
				resume_locked(s);
			} else if (s->suspended && now >= s->next_keepalive_ns) {
				resume_locked(s);
			}
		}
	}
	pthread_mutex_unlock(&a->sse_lock);
	return NULL;
}

int sse_init(struct api *a)
{
	pthread_condattr_t ca;

	if (!a->cfg.limits.keepalive_ms)
		a->cfg.limits.keepalive_ms = 15000;
	pthread_mutex_init(&a->sse_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->sse_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&a->keepalive_thread, NULL, keepalive_main, a))
		return -1;
	a->keepalive_started = 1;
	return 0;
}

void sse_shutdown(struct api *a)
{
	pthread_mutex_lock(&a->sse_lock);
	a->stopping = 1;
	for (struct sse_stream *s = a->streams; s; s = s->next)
		resume_locked(s);
	pthread_cond_broadcast(&a->sse_cond);
	pthread_mutex_unlock(&a->sse_lock);
	if (a->keepalive_started) {
		pthread_join(a->keepalive_thread, NULL);
		a->keepalive_started = 0;
	}
}

void sse_free(struct api *a)
{
	pthread_cond_destroy(&a->sse_cond);
	pthread_mutex_destroy(&a->sse_lock);
}

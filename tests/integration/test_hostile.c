/*
 * test_hostile — malformed and hostile requests each get the documented
 * status and error object ({"error":{"message","type","param","code"}},
 * README "Errors"), and afterwards the daemon is healthy and its data
 * intact: the same files with the same bytes, the same jobs, nothing
 * written outside its data directory. Runs offline (a random tiny model).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct daemon d;
static char *dir, data_path[2200], *file_id, *busy_job;
static int n_cases;

static const char *const json_ct[] = { "Content-Type: application/json", NULL };

/* The response is an error of this status, type, param (NULL: null) and,
 * when given, code. */
static void expect(const struct http_resp *r, long status, const char *param, const char *code,
		   const char *what)
{
	json_t *e = json_object_get(r->json, "error");
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *p = json_string_value(json_object_get(e, "param"));
	const char *c = json_string_value(json_object_get(e, "code"));
	static const struct { long status; const char *type; } types[] = {
		{ 400, "invalid_request_error" }, { 401, "authentication_error" },
		{ 404, "not_found_error" }, { 405, "method_not_allowed" },
		{ 403, "permission_error" }, { 409, "conflict_error" },
		{ 413, "payload_too_large" }, { 415, "unsupported_media_type" },
		{ 429, "rate_limit_error" }, { 501, "not_implemented_error" },
	};
	const char *want_type = "?";

	n_cases++;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].status == status)
			want_type = types[i].type;
	CHECK_MSG(r->status == status, "%s: status %ld, expected %ld: %s", what, r->status, status,
		  r->body);
	CHECK_MSG(json_is_string(json_object_get(e, "message")) &&
			  json_string_length(json_object_get(e, "message")) > 0,
		  "%s: no message: %s", what, r->body);
	CHECK_MSG(type && !strcmp(type, want_type), "%s: type %s, expected %s", what,
		  type ? type : "(none)", want_type);
	if (param)
		CHECK_MSG(p && !strcmp(p, param), "%s: param %s, expected %s", what, p ? p : "null",
			  param);
	else
		CHECK_MSG(json_is_null(json_object_get(e, "param")), "%s: param %s, expected null",
			  what, p ? p : "(missing)");
	if (code)
		CHECK_MSG(c && !strcmp(c, code), "%s: code %s, expected %s", what, c ? c : "null",
			  code);
}

static void post_job_text(const char *body, long status, const char *param, const char *code,
			  const char *what)
{
	struct http_resp r;

	http(&d, "POST", "/v1/fine_tuning/jobs", json_ct, body, strlen(body), &r);
	expect(&r, status, param, code, what);
	http_resp_free(&r);
}

/* A job body: valid except for what the format string changes. */
static void post_job(const char *fmt, long status, const char *param, const char *code,
		     const char *what)
{
	char body[4096];

	snprintf(body, sizeof(body), fmt, file_id);
	post_job_text(body, status, param, code, what);
}

#define HP(x) "{\"model\":\"tiny\",\"training_file\":\"%s\",\"method\":{\"type\":\"adalora\"," \
	      "\"adalora\":{\"hyperparameters\":{" x "}}}}"

static void test_bad_bodies(void)
{
	post_job_text("{bad", 400, NULL, "invalid_json", "malformed JSON");
	post_job_text("[1,2]", 400, NULL, "invalid_json", "an array body");
	post_job_text("", 400, NULL, "invalid_json", "an empty body");
	post_job_text("{\"model\":\"ti\xffny\"}", 400, NULL, "invalid_utf8", "invalid UTF-8");
	post_job_text("{\"model\":\"a\",\"model\":\"b\"}", 400, NULL, "invalid_json",
		      "a duplicated key");
	post_job_text("{\"seed\":100000000000000000000000}", 400, NULL, "invalid_json",
		      "an integer beyond 64 bits");
	post_job("{\"model\":5,\"training_file\":\"%s\"}", 400, "model", "invalid_type",
		 "model of the wrong type");
	post_job("{\"training_file\":\"%s\"}", 400, "model", "missing_required_parameter",
		 "no model");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"colour\":\"blue\"}", 400, "colour",
		 "unknown_parameter", "an unknown field");
	post_job("{\"model\":\"no-such-model\",\"training_file\":\"%s\"}", 400, "model",
		 "model_not_found", "an unknown model");
	post_job("{\"model\":\"../models/tiny\",\"training_file\":\"%s\"}", 400, "model",
		 "model_not_found", "a model named by a path");
	post_job_text("{\"model\":\"tiny\",\"training_file\":\"file-doesnotexist\"}", 400,
		      "training_file", "file_not_found", "an unknown training file");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"validation_file\":\"file-x\"}", 400,
		 "validation_file", "file_not_found", "an unknown validation file");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"seed\":-1}", 400, "seed",
		 "invalid_value", "a negative seed");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"seed\":3000000000}", 400, "seed",
		 "invalid_value", "a huge seed");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"seed\":\"7\"}", 400, "seed",
		 "invalid_type", "a seed string");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"suffix\":\"a/b\"}", 400, "suffix",
		 "invalid_value", "a suffix with a slash");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"suffix\":"
		 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		 400, "suffix", "invalid_value", "a 65-character suffix");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"method\":{\"type\":\"magic\"}}", 400,
		 "method.type", NULL, "an unknown method");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"method\":\"adalora\"}", 400, "method",
		 NULL, "a method that is not an object");
	post_job(HP("\"colour\":1"), 400, "method.adalora.hyperparameters.colour", NULL,
		 "an unknown hyperparameter");
	post_job(HP("\"init_r\":4,\"target_r\":8"), 400, "method.adalora.hyperparameters.target_r",
		 NULL, "target_r > init_r");
	post_job(HP("\"learning_rate\":-0.1"), 400, "method.adalora.hyperparameters.learning_rate",
		 NULL, "a negative learning rate");
	post_job(HP("\"batch_size\":1000000000"), 400, "method.adalora.hyperparameters.batch_size",
		 NULL, "a huge batch");
	post_job(HP("\"n_epochs\":1.5"), 400, "method.adalora.hyperparameters.n_epochs", NULL,
		 "fractional epochs");
	post_job(HP("\"max_steps\":10,\"tinit\":5,\"tfinal\":5"), 400,
		 "method.adalora.hyperparameters.tfinal", NULL, "a schedule with no budget phase");
	post_job(HP("\"seq_len\":1024"), 400, "method.adalora.hyperparameters.seq_len", NULL,
		 "seq_len beyond the model's context");
	post_job("{\"model\":\"tiny\",\"training_file\":\"%s\",\"method\":{\"type\":\"lora\","
		 "\"lora\":{\"hyperparameters\":{\"init_r\":4}}}}",
		 400, "method.lora.hyperparameters.init_r", NULL, "an AdaLoRA field on LoRA");
}

/* T is known only once the data is tokenized: the job is accepted, then
 * fails validation with error.param naming tfinal. */
static void test_budget_phase_after_planning(void)
{
	char body[1024];
	json_t *job = NULL, *err;

	snprintf(body, sizeof(body), HP("\"n_epochs\":1,\"tinit\":100000,\"tfinal\":100000"),
		 file_id);
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", json_loads(body, 0, NULL),
			       &job), 201);
	{
		char *id = strdup(json_string_value(json_object_get(job, "id")));
		json_decref(job);
		job = wait_job(&d, id, 60);
		free(id);
	}
	n_cases++;
	CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "failed");
	err = json_object_get(job, "error");
	CHECK_STR_EQ(json_string_value(json_object_get(err, "param")),
		     "method.adalora.hyperparameters.tfinal");
	CHECK(json_string_length(json_object_get(err, "message")) > 0);
	CHECK(json_is_string(json_object_get(err, "code")));
	json_decref(job);
}

static void post_schedule(const char *body, long status, const char *param, const char *what)
{
	struct http_resp r;

	http(&d, "POST", "/v1/adalora/schedule", json_ct, body, strlen(body), &r);
	expect(&r, status, param, NULL, what);
	http_resp_free(&r);
}

static void test_schedule(void)
{
	post_schedule("{\"total_steps\":100,\"tinit\":50,\"tfinal\":50,\"n_matrices\":10}", 400,
		      "total_steps", "a preview with no budget phase");
	post_schedule("{\"total_steps\":-5,\"n_matrices\":10}", 400, "total_steps",
		      "negative total steps");
	post_schedule("{\"total_steps\":100,\"n_matrices\":10,\"model\":\"tiny\"}", 400, "n_matrices",
		      "both n_matrices and model");
	post_schedule("{\"total_steps\":100,\"model\":\"tiny\",\"target_modules\":[\"q\",\"zz\"]}", 400,
		      "target_modules[1]", "an unknown module");
	post_schedule("{\"total_steps\":100,\"n_matrices\":10,\"speed\":3}", 400, "speed",
		      "an unknown preview field");
}

static void upload_raw(const char *query, const char *ct, const void *body, size_t len,
		       int chunked, long status, const char *param, const char *code,
		       const char *what)
{
	const char *h[] = { ct, NULL };
	char path[512];
	struct http_resp r;

	snprintf(path, sizeof(path), "/v1/files?%s", query);
	if (chunked)
		http_chunked(&d, "POST", path, ct ? h : NULL, body, len, &r);
	else
		http(&d, "POST", path, ct ? h : NULL, body, len, &r);
	expect(&r, status, param, code, what);
	http_resp_free(&r);
}

/* A multipart upload of body under filename (as curl -F sends it). */
static void upload_multipart(const char *filename, const char *purpose, const char *body,
			     long status, const char *param, const char *what)
{
	char payload[8192], ct[128];
	const char *h[] = { ct, NULL };
	struct http_resp r;
	int n;

	snprintf(ct, sizeof(ct), "Content-Type: multipart/form-data; boundary=XyZ");
	n = snprintf(payload, sizeof(payload),
		     "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n%s\r\n"
		     "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
		     "Content-Type: application/octet-stream\r\n\r\n%s\r\n--XyZ--\r\n",
		     purpose, filename, body);
	http(&d, "POST", "/v1/files", h, payload, (size_t)n, &r);
	expect(&r, status, param, NULL, what);
	http_resp_free(&r);
}

static void test_uploads(void)
{
	static const char good[] = "{\"text\":\"a line\"}\n";
	static const char *const jl = "Content-Type: application/jsonl";
	char *big = malloc(200000);

	memset(big, 'x', 200000);
	upload_raw("purpose=fine-tune&filename=../../etc/passwd", jl, good, sizeof(good) - 1, 0, 400,
		   "filename", "invalid_value", "a traversal in a raw file name");
	upload_raw("purpose=fine-tune&filename=a%0Ab.jsonl", jl, good, sizeof(good) - 1, 0, 400,
		   "filename", "invalid_value", "a control character in a file name");
	upload_raw("purpose=fine-tune", jl, good, sizeof(good) - 1, 0, 400, "filename",
		   "missing_required_parameter", "a raw upload without a name");
	upload_raw("purpose=assistants&filename=x.jsonl", jl, good, sizeof(good) - 1, 0, 400,
		   "purpose", "invalid_value", "another purpose");
	upload_raw("purpose=fine-tune&filename=x.jsonl", jl,
		   "{\"text\":\"ok\"}\n{\"txt\":\"no\"}\n", 28, 0, 400, "file", "invalid_file",
		   "a JSONL line of an unknown shape");
	upload_raw("purpose=fine-tune&filename=x.jsonl", jl, "{\"text\":\"\xc3\x28\"}\n", 14, 0, 400,
		   "file", "invalid_file", "invalid UTF-8 in a file");
	upload_raw("purpose=fine-tune&filename=x.jsonl", jl, "", 0, 0, 400, "file", "invalid_file",
		   "an empty file");
	/* Any raw body is the file, whatever its type: its content decides. */
	upload_raw("purpose=fine-tune&filename=x.png", "Content-Type: image/png",
		   "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, 0, 400, "file", "invalid_file", "an image");
	upload_raw("purpose=fine-tune&filename=x.jsonl", "Content-Type: multipart/mixed; boundary=a",
		   good, sizeof(good) - 1, 0, 415, NULL, "unsupported_media_type",
		   "multipart but not a form");
	upload_raw("purpose=fine-tune&filename=big.jsonl", jl, big, 200000, 0, 413, NULL,
		   "body_too_large", "an upload over the limit (Content-Length)");
	upload_raw("purpose=fine-tune&filename=big.jsonl", jl, big, 200000, 1, 413, NULL,
		   "body_too_large", "an upload over the limit (chunked)");
	upload_multipart("../../x.jsonl", "fine-tune", good, 400, "file", "a traversal in a form");
	upload_multipart("x.jsonl", "batch", good, 400, "purpose", "a form with another purpose");
	{
		struct http_resp r;
		char *body = malloc(8000);
		const char *h[] = { "Content-Type: application/json", NULL };
		memset(body, ' ', 8000);
		body[0] = '{';
		body[7999] = '}';
		http(&d, "POST", "/v1/fine_tuning/jobs", h, body, 8000, &r);
		expect(&r, 413, NULL, "body_too_large", "a JSON body over the limit");
		http_resp_free(&r);
		http_chunked(&d, "POST", "/v1/fine_tuning/jobs", h, body, 8000, &r);
		expect(&r, 413, NULL, "body_too_large", "a chunked JSON body over the limit");
		http_resp_free(&r);
		{
			const char *x[] = { "Content-Type: text/xml", NULL };
			http(&d, "POST", "/v1/fine_tuning/jobs", x, "<a/>", 4, &r);
			expect(&r, 415, "Content-Type", "unsupported_media_type", "an XML job body");
			http_resp_free(&r);
		}
		free(body);
	}
	free(big);
}

/* A multipart body as it is (Content-Type given whole). */
static void upload_form(const char *ct, const char *payload, long status, const char *param,
			const char *code, const char *what)
{
	const char *h[] = { ct, NULL };
	struct http_resp r;

	http(&d, "POST", "/v1/files", h, payload, strlen(payload), &r);
	expect(&r, status, param, code, what);
	http_resp_free(&r);
}

/* Forms that once reached a NULL field name, or that are malformed. */
static void test_multipart(void)
{
	static const char *const xyz = "Content-Type: multipart/form-data; boundary=XyZ";

	upload_form(xyz, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XyZ--\r\n", 400,
		    NULL, "invalid_multipart", "a part without name= (killed the daemon once)");
	CHECK(daemon_alive(&d));
	upload_form(xyz, "--XyZ\r\n\r\nabc\r\n--XyZ--\r\n", 400, NULL, "invalid_multipart",
		    "a part without headers");
	upload_form(xyz, "--XyZ\r\nContent-Disposition: form-data; filename=\"x.jsonl\"\r\n\r\n"
			 "{\"text\":\"a\"}\r\n--XyZ--\r\n",
		    400, NULL, "invalid_multipart", "a file part without name=");
	upload_form(xyz, "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune",
		    400, NULL, "invalid_multipart", "a form cut before its closing boundary");
	upload_form(xyz, "--XyZ\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nx\r\n--XyZ--",
		    400, NULL, "invalid_multipart", "a part that is not form-data");
	upload_form("Content-Type: multipart/form-data; boundary=\"\"", "--\r\n", 400, NULL,
		    "invalid_multipart", "an empty boundary");
	upload_form("Content-Type: multipart/form-data; boundary=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    "--\r\n", 400, NULL, "invalid_multipart", "a 71-character boundary");
	upload_form(xyz, "--XyZ\r\nContent-Disposition: form-data; name=\"colour\"\r\n\r\nred\r\n"
			 "--XyZ--\r\n",
		    400, "colour", "unknown_parameter", "an unknown form field");
	/* Query arguments without a value reach us as NULL: as if absent. */
	upload_raw("purpose=fine-tune&filename", "Content-Type: application/jsonl", "{}\n", 3, 0, 400,
		   "filename", "missing_required_parameter", "?filename without a value");
	upload_raw("purpose&filename=x.jsonl", "Content-Type: application/jsonl", "{}\n", 3, 0, 400,
		   "purpose", "invalid_value", "?purpose without a value");
	{
		static const char *const paths[] = {
			"/v1/fine_tuning/jobs?limit&after&status", "/v1/files?purpose&after&limit",
		};
		for (size_t i = 0; i < 2; i++) {
			struct http_resp r;
			http(&d, "GET", paths[i], NULL, NULL, 0, &r);
			CHECK_MSG(r.status == 200, "%s: %ld", paths[i], r.status);
			http_resp_free(&r);
		}
	}
	CHECK(daemon_alive(&d));
}

/* Raw bytes on their own connection: the answer is this error, and the
 * connection is closed after it when close_after. */
static void raw_expect(const char *bytes, long status, const char *param, const char *code,
		       int close_after, const char *what)
{
	struct http_resp r = { 0 };
	char *text = http_raw(&d, bytes, strlen(bytes), 5, &r.status), *body = strstr(text, "\r\n\r\n");

	r.body = text;
	r.json = body ? json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	expect(&r, status, param, code, what);
	if (close_after)
		CHECK_MSG(strstr(text, "Connection: close") != NULL, "%s: not closed: %s", what, text);
	json_decref(r.json);
	free(text);
}

/* RFC 9112 section 6: an ambiguous body length is refused, and the
 * connection closed (libmicrohttpd alone took the first Content-Length). */
static void test_framing(void)
{
	raw_expect("POST /v1/adalora/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		   "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
		   400, "Content-Length", "invalid_framing", 1, "two Content-Lengths");
	raw_expect("POST /v1/adalora/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		   "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
		   400, "Content-Length", "invalid_framing", 1, "two equal Content-Lengths");
	raw_expect("POST /v1/adalora/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		   "Content-Type: application/json\r\nContent-Length: 7\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		   400, "Transfer-Encoding", "invalid_framing", 1, "Content-Length and chunked");
	raw_expect("POST /v1/adalora/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		   "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{}",
		   501, "Transfer-Encoding", "unsupported_transfer_encoding", 1,
		   "a transfer coding other than chunked");
	raw_expect("POST /v1/adalora/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		   "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		   400, "Transfer-Encoding", "invalid_framing", 1, "chunked twice");
	/* A plain chunked body still works. */
	raw_expect("POST /v1/adalora/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		   "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "2\r\n{}\r\n0\r\n\r\n",
		   400, "total_steps", "missing_required_parameter", 0, "one chunked body");
}

static void get_expect_h(const char *method, const char *path, const char *const *headers,
			 long status, const char *param, const char *code, const char *what)
{
	struct http_resp r;

	http(&d, method, path, headers, NULL, 0, &r);
	expect(&r, status, param, code, what);
	http_resp_free(&r);
}

/* Writes a web page could make, and DNS rebinding (issue 12): refused
 * with the default configuration (no API key, no --allowed-origins). */
static void test_cross_site(void)
{
	static const char good[] = "{\"text\":\"from another site\"}\n";
	char body[1024];
	struct http_resp r;

	/* A text/plain fetch() or form post needs no preflight. */
	http(&d, "POST", "/v1/files?purpose=fine-tune&filename=x.jsonl",
	     (const char *const[]){ "Content-Type: text/plain", "Origin: http://evil.example",
				    "Sec-Fetch-Site: cross-site", NULL },
	     good, sizeof(good) - 1, &r);
	expect(&r, 403, "Origin", "cross_origin", "a cross-site text/plain upload");
	http_resp_free(&r);
	snprintf(body, sizeof(body), "{\"model\":\"tiny\",\"training_file\":\"%s\"}", file_id);
	http(&d, "POST", "/v1/fine_tuning/jobs",
	     (const char *const[]){ "Content-Type: text/plain", "Origin: http://evil.example", NULL },
	     body, strlen(body), &r);
	expect(&r, 403, "Origin", "cross_origin", "a cross-origin job creation");
	http_resp_free(&r);
	http(&d, "POST", "/v1/fine_tuning/jobs", (const char *const[]){ "Content-Type:", NULL }, body,
	     strlen(body), &r);
	expect(&r, 415, "Content-Type", "unsupported_media_type", "a job body without Content-Type");
	CHECK(strstr(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
		     "Content-Type") != NULL);
	http_resp_free(&r);
	http(&d, "POST", "/v1/fine_tuning/jobs",
	     (const char *const[]){ "Content-Type: application/json", "Origin: null", NULL }, body,
	     strlen(body), &r);
	expect(&r, 403, "Origin", "cross_origin", "Origin null (a sandboxed page)");
	http_resp_free(&r);
	http(&d, "POST", "/v1/fine_tuning/jobs",
	     (const char *const[]){ "Content-Type: application/json", "Sec-Fetch-Site: cross-site",
				    NULL },
	     body, strlen(body), &r);
	expect(&r, 403, "Origin", "cross_origin", "Sec-Fetch-Site: cross-site without Origin");
	http_resp_free(&r);
	{
		char path[256];
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", busy_job);
		get_expect_h("POST", path,
			     (const char *const[]){ "Origin: http://127.0.0.1.evil.example", NULL },
			     403, "Origin", "cross_origin", "a cross-origin cancel");
		snprintf(path, sizeof(path), "/v1/files/%s", file_id);
		get_expect_h("DELETE", path,
			     (const char *const[]){ "Origin: http://localhost:1", NULL }, 403, "Origin",
			     "cross_origin", "a cross-origin delete (another port)");
	}
	get_expect_h("OPTIONS", "/v1/fine_tuning/jobs",
		     (const char *const[]){ "Origin: http://evil.example",
					    "Access-Control-Request-Method: POST", NULL },
		     403, "Origin", "cross_origin", "a preflight from an origin not allowed");
	/* DNS rebinding: a name that is not ours, on every route. */
	get_expect_h("GET", "/v1/files", (const char *const[]){ "Host: evil.example:8080", NULL },
		     403, "Host", "host_not_allowed", "a rebound name");
	get_expect_h("GET", "/", (const char *const[]){ "Host: rebind.evil.example", NULL }, 403,
		     "Host", "host_not_allowed", "the dashboard under a rebound name");
	get_expect_h("GET", "/healthz", (const char *const[]){ "Host: localhost.evil.example", NULL },
		     403, "Host", "host_not_allowed", "a name that merely starts like localhost");
}

static void get_expect(const char *method, const char *path, const char *const *headers,
		       long status, const char *param, const char *code, const char *what)
{
	struct http_resp r;

	http(&d, method, path, headers, NULL, 0, &r);
	expect(&r, status, param, code, what);
	http_resp_free(&r);
}

static void test_routes_and_queries(void)
{
	char path[512];
	struct http_resp r;

	get_expect("GET", "/v1/nothing", NULL, 404, NULL, "unknown_route", "an unknown route");
	get_expect("GET", "/v1/fine_tuning/jobs/ftjob-nope", NULL, 404, NULL, NULL,
		   "an unknown job");
	get_expect("GET", "/v1/files/file-nope/content", NULL, 404, NULL, NULL, "an unknown file");
	http(&d, "PUT", "/v1/fine_tuning/jobs", NULL, NULL, 0, &r);
	expect(&r, 405, NULL, "method_not_allowed", "PUT on jobs");
	CHECK(strstr(r.headers, "Allow: POST, GET, HEAD") != NULL);
	http_resp_free(&r);
	http(&d, "DELETE", "/v1/fine_tuning/jobs/ftjob-x", NULL, NULL, 0, &r);
	expect(&r, 405, NULL, "method_not_allowed", "DELETE on a job");
	CHECK(strstr(r.headers, "Allow: GET, HEAD") != NULL);
	http_resp_free(&r);
	get_expect("GET", "/v1/fine_tuning/jobs?limit=0", NULL, 400, "limit", NULL, "limit 0");
	get_expect("GET", "/v1/fine_tuning/jobs?limit=1000", NULL, 400, "limit", NULL, "limit 1000");
	get_expect("GET", "/v1/fine_tuning/jobs?limit=abc", NULL, 400, "limit", NULL, "limit abc");
	get_expect("GET", "/v1/fine_tuning/jobs?status=bogus", NULL, 400, "status", NULL,
		   "an unknown status");
	get_expect("GET", "/v1/fine_tuning/jobs?after=ftjob-unknown", NULL, 400, "after", NULL,
		   "paging after an unknown job");
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=garbage", busy_job);
	get_expect("GET", path, NULL, 400, "after", NULL, "paging after a foreign event id");
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events", busy_job);
	get_expect("GET", path,
		   (const char *const[]){ "Accept: text/event-stream", "Last-Event-ID: abc", NULL },
		   400, "Last-Event-ID", NULL, "a garbage Last-Event-ID");
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter", busy_job);
	get_expect("GET", path, NULL, 409, NULL, "job_not_succeeded",
		   "the adapter of an unfinished job");
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/..%%2F..%%2F..%%2Fadalorad.db",
		 busy_job);
	get_expect("GET", path, NULL, 404, NULL, NULL, "an encoded traversal after adapter/");
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/../../../../adalorad.db",
		 busy_job);
	get_expect("GET", path, NULL, 404, NULL, NULL, "a dot-dot traversal after adapter/");
	snprintf(path, sizeof(path), "/v1/files/%s", file_id);
	get_expect("DELETE", path, NULL, 409, NULL, "conflict", "deleting a file a job uses");
}

/* --max-queued-jobs: with the worker busy, the queue fills and refuses. */
static void test_queue_limit(void)
{
	char body[1024], *ids[8];
	json_t *job = NULL;
	int n = 0;
	long status;

	snprintf(body, sizeof(body), HP("\"max_steps\":100000,\"seq_len\":64"), file_id);
	for (;;) {
		status = http_json(&d, "POST", "/v1/fine_tuning/jobs", json_loads(body, 0, NULL), &job);
		if (status != 201)
			break;
		ids[n++] = strdup(json_string_value(json_object_get(job, "id")));
		json_decref(job);
		job = NULL;
		if (n == 8)
			break;
	}
	n_cases++;
	CHECK_INT_EQ(n, 4);   /* --max-queued-jobs 4 */
	CHECK_INT_EQ(status, 429);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(job, "error"), "type")),
		     "rate_limit_error");
	json_decref(job);
	for (int i = 0; i < n; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", ids[i]);
		CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
		free(ids[i]);
	}
}

/* With --api-key-file every /v1 route wants a key; the daemon goes back
 * to running without keys at the end, as the other tests expect. */
static void test_auth(void)
{
	struct http_resp r;
	const char *good[] = { "Authorization: Bearer s3cret-key-2", NULL };
	const char *other[] = { "Authorization: Bearer s3cret-key-1", NULL };

	CHECK_INT_EQ(daemon_restart_with_keys(&d, dir,
					      "# keys\ns3cret-key-1\n\n  s3cret-key-2  \n"), 0);
	get_expect("GET", "/v1/files", NULL, 401, NULL, "missing_api_key", "no key");
	get_expect("GET", "/v1/files", (const char *const[]){ "Authorization: Bearer wrong", NULL },
		   401, NULL, "invalid_api_key", "a wrong key");
	get_expect("GET", "/v1/files",
		   (const char *const[]){ "Authorization: Bearer s3cret-key-", NULL }, 401, NULL,
		   "invalid_api_key", "a prefix of a key");
	get_expect("GET", "/v1/nothing", NULL, 401, NULL, NULL, "an unknown route without a key");
	CHECK_INT_EQ(http_status(&d, "GET", "/v1/files", good), 200);
	CHECK_INT_EQ(http_status(&d, "GET", "/v1/files", other), 200);
	CHECK_INT_EQ(http_status(&d, "GET", "/healthz", NULL), 200);
	http(&d, "GET", "/metrics", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(strstr(r.body, "adalorad_http_requests_total{") != NULL);
	CHECK(strstr(r.body, "status=\"401\"") != NULL);
	http_resp_free(&r);
	CHECK_INT_EQ(daemon_restart(&d, dir, NULL), 0);
}

/* A file no job uses can be deleted: row and bytes. */
static void test_delete(void)
{
	static const char *const jl[] = { "Content-Type: application/jsonl", NULL };
	static const char body[] = "{\"text\":\"to be deleted\"}\n";
	char path[512], stored[2600];
	struct http_resp r;
	struct stat st;
	char *id;

	http(&d, "POST", "/v1/files?purpose=fine-tune&filename=gone.jsonl", jl, body,
	     sizeof(body) - 1, &r);
	CHECK_INT_EQ(r.status, 200);
	id = strdup(json_string_value(json_object_get(r.json, "id")) ?: "");
	http_resp_free(&r);
	snprintf(stored, sizeof(stored), "%s/data/files/%s", dir, id);
	CHECK(stat(stored, &st) == 0);
	snprintf(path, sizeof(path), "/v1/files/%s", id);
	http(&d, "DELETE", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(json_is_true(json_object_get(r.json, "deleted")));
	http_resp_free(&r);
	CHECK_INT_EQ(http_status(&d, "GET", path, NULL), 404);
	CHECK(stat(stored, &st) != 0);
	free(id);
}

/* Healthy, and nothing changed that should not have. */
static void test_intact(void)
{
	char path[512], files_dir[2300];
	struct http_resp r;
	size_t len, n_entries = 0;
	char *local = read_file(data_path, &len);
	struct dirent *de;
	struct stat st;
	DIR *dd;

	http(&d, "GET", "/healthz", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_STR_EQ(json_string_value(json_object_get(r.json, "status")), "ok");
	http_resp_free(&r);
	http(&d, "GET", "/v1/files", NULL, NULL, 0, &r);
	CHECK_INT_EQ(json_array_size(json_object_get(r.json, "data")), 1);
	http_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/files/%s/content", file_id);
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK(r.status == 200 && r.len == len && !memcmp(r.body, local, len));
	http_resp_free(&r);
	free(local);
	/* Only the one stored file: no temporary left, nothing named by a client. */
	snprintf(files_dir, sizeof(files_dir), "%s/data/files", dir);
	dd = opendir(files_dir);
	while (dd && (de = readdir(dd)))
		if (de->d_name[0] != '.') {
			n_entries++;
			CHECK_STR_EQ(de->d_name, file_id);
		}
	if (dd)
		closedir(dd);
	CHECK_INT_EQ(n_entries, 1);
	snprintf(path, sizeof(path), "%s/etc", dir);
	CHECK(stat(path, &st) != 0);
	CHECK(daemon_alive(&d));
}

int main(void)
{
	char body[1024];
	json_t *job = NULL;

	dir = scratch_dir("hostile");
	models_create_tiny(dir);
	snprintf(data_path, sizeof(data_path), "%s/words.jsonl", dir);
	write_jsonl(data_path, 0, 30000);
	daemon_start(&d, dir, (const char *const[]){ "--max-body-size", "4096",
						     "--max-upload-size", "64K",
						     "--max-queued-jobs", "4", NULL });
	file_id = upload(&d, data_path, "words.jsonl");
	/* A long job keeps the one worker busy (and the file in use). */
	snprintf(body, sizeof(body), HP("\"max_steps\":100000,\"seq_len\":64"), file_id);
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", json_loads(body, 0, NULL), &job),
		     201);
	busy_job = strdup(json_string_value(json_object_get(job, "id")));
	json_decref(job);
	/* Running, not waiting: the queue limit below counts waiting jobs. */
	job = wait_status(&d, busy_job, "running", 60);
	CHECK_STR_EQ(job_status(job), "running");
	json_decref(job);

	RUN(test_bad_bodies);
	RUN(test_budget_phase_after_planning);
	RUN(test_schedule);
	RUN(test_uploads);
	RUN(test_multipart);
	RUN(test_framing);
	RUN(test_cross_site);
	RUN(test_routes_and_queries);
	RUN(test_queue_limit);
	{
		char path[256];
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/cancel", busy_job);
		CHECK_INT_EQ(http_json(&d, "POST", path, NULL, NULL), 200);
		json_decref(wait_job(&d, busy_job, 120));
	}
	RUN(test_auth);
	RUN(test_delete);
	RUN(test_intact);
	fprintf(stderr, "%d hostile requests answered as documented\n", n_cases);
	if (check_running_all())
		CHECK(n_cases >= 30);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(busy_job);
	free(file_id);
	free(dir);
	return check_summary();
}
